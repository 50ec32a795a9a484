"""The real entry point in subprocesses: SIGKILL at several points, then resume bit-identically."""

import torch

from tests.engine.common import make_config, train_cli, train_inproc, weights


def _assert_same(a, b):
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    for g in a["optimizers"]:
        sa, sb = a["optimizers"][g]["state"], b["optimizers"][g]["state"]
        assert sa.keys() == sb.keys()
        for i in sa:
            for k in sa[i]:
                assert torch.equal(torch.as_tensor(sa[i][k]), torch.as_tensor(sb[i][k])), (g, i, k)
    assert a["step"] == b["step"] and a["epoch"] == b["epoch"]
    assert [r["train"] for r in a["history"]] == [r["train"] for r in b["history"]]


def test_sigkill_anywhere_then_resume_is_bit_identical(tmp_path):
    # 6 steps per epoch, 3 epochs, checkpoint every 4 steps; dropout makes the RNG state matter
    conf = make_config(tmp_path, optim={"model": {"scheduler": {"type": "plateau", "patience": 0}}})
    train_inproc(conf, tmp_path / "ref")
    exp = tmp_path / "exp"
    # between checkpoints (the last one at step 4), then inside the save of step 12 (temp file written,
    # not renamed: the run must go on from step 8)
    r = train_cli(conf, exp, kill_at_step=5, check=False)
    assert r.returncode == -9, r.stderr[-2000:]
    assert weights(exp)["step"] == 4
    r = train_cli(conf, exp, kill_in_save=12, check=False)
    assert r.returncode == -9, r.stderr[-2000:]
    assert weights(exp)["step"] == 8
    assert [p for p in exp.iterdir() if p.name.startswith(".checkpoint_last")]  # the torn temp file
    train_cli(conf, exp)
    assert not [p for p in exp.iterdir() if p.name.startswith(".checkpoint")]  # cleaned on restart
    _assert_same(weights(exp), weights(tmp_path / "ref"))
    _assert_same(weights(exp, "checkpoint_best.pt"), weights(tmp_path / "ref", "checkpoint_best.pt"))
