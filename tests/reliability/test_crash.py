"""Crashes: SIGKILL during training, feature extraction and inference, then the same command again;
and a full disk while a checkpoint is written.

Training goes through the real loader (features, lists, statistics of a tiny dump) with a tiny
model registered by tests.reliability.tiny_model; kills land at steps drawn from a seeded generator.
"""

import errno
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from pylib.io import read_f4, read_table, read_wav
from tests.conftest import rng
from tests.engine.killer import killer_args
from tests.reliability.common import (
    ROOT,
    TALLY,
    TINY,
    assert_outputs_valid,
    assert_user_error,
    build_project,
    copy_project,
    hidden_leftovers,
    run_stage,
    train_tiny,
)

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def _train_cmd(proj, exp, *extra, **kill):
    return [
        sys.executable,
        *killer_args(**kill),
        "--conf",
        str(proj.conf),
        "--data-dir",
        str(proj.root / "dump"),
        "--exp-dir",
        str(exp),
        "--import",
        TINY,
        "--device",
        "cpu",
        *extra,
    ]


def _same(a, b):
    assert a["step"] == b["step"] and a["epoch"] == b["epoch"]
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    sa, sb = a["optimizers"]["model"]["state"], b["optimizers"]["model"]["state"]
    for i in sa:
        for k in sa[i]:
            assert torch.equal(torch.as_tensor(sa[i][k]), torch.as_tensor(sb[i][k])), (i, k)
    assert [r["train"] for r in a["history"]] == [r["train"] for r in b["history"]]


def _load(p):
    return torch.load(p, map_location="cpu", weights_only=True)


def test_sigkill_training_at_random_steps_resumes_bit_identical(base_project, tmp_path):
    # 6 utterances, batch 2: 3 steps an epoch, 3 epochs, a checkpoint every 2 steps and at epoch ends
    proj = copy_project(base_project, tmp_path / "proj")
    ref = tmp_path / "ref"
    r = train_tiny(proj.conf, proj.root, ref)
    assert r.code == 0, r.err[-3000:]
    total = _load(ref / "checkpoint_last.pt")["step"]
    g = rng(8)
    kills = sorted(g.choice(np.arange(1, total - 1), size=2, replace=False).tolist())
    in_save = int(g.choice([s for s in range(kills[-1] + 1, total + 1) if s % 2 == 0 or s % 3 == 0]))
    exp = tmp_path / "exp"
    points = [("kill_at_step", k) for k in kills] + [("kill_in_save", in_save)]
    for var, step in points:
        p = subprocess.run(
            _train_cmd(proj, exp, **{var: step}),
            cwd=ROOT,
            env=ENV,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert p.returncode == -signal.SIGKILL, (var, step, p.stderr[-3000:])
        TALLY["crash"] += 1
        assert (exp / "checkpoint_last.pt").is_file() or step <= 2
    p = subprocess.run(_train_cmd(proj, exp), cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-3000:]
    assert not hidden_leftovers(exp)
    _same(_load(exp / "checkpoint_last.pt"), _load(ref / "checkpoint_last.pt"))
    _same(_load(exp / "checkpoint_best.pt"), _load(ref / "checkpoint_best.pt"))


def _wait_and_kill(proc, ready, timeout=60):
    """SIGKILL `proc` as soon as ready() holds; -> True if it was killed mid-run."""
    t0 = time.time()
    while proc.poll() is None and time.time() - t0 < timeout:
        if ready():
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.02)
    proc.wait()
    return False


@pytest.fixture(scope="module")
def slow_project(tmp_path_factory):
    """12 utterances whose wav.scp entries are `sleep 0.15; cat x.wav |` pipes: extraction is slow
    enough to be killed mid-run."""
    proj = build_project(tmp_path_factory.mktemp("slow") / "proj", n=12)
    scp = proj.data() / "wav.scp"
    lines = [ln.split(maxsplit=1) for ln in scp.read_text().splitlines()]
    scp.write_text("".join(f"{u} sleep 0.15; cat {p} |\n" for u, p in lines))
    return proj


def test_sigkill_feature_extraction_then_rerun(slow_project, tmp_path):
    proj = slow_project
    out = tmp_path / "dump"
    cmd = [
        sys.executable,
        "-m",
        "pylib.bin.extract_features",
        "--conf",
        str(proj.conf),
        "--wav-scp",
        str(proj.data() / "wav.scp"),
        "--out-dir",
        str(out),
        "--no-progress",
    ]
    killed = 0
    for want in (4,):  # after a few utterances
        proc = subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if _wait_and_kill(proc, lambda w=want: len(list((out / "wav").glob("*.wav"))) >= w):
            killed += 1
            TALLY["crash"] += 1
    assert killed, "extraction finished before it could be killed"
    # what a kill inside a write leaves: a torn temp file next to the outputs
    (out / "mel" / f".{proj.ids()[-1]}.f4.x7k2.tmp").write_bytes(b"\0" * 10)
    r = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    ids = proj.ids()
    assert sorted(read_table(out / "mel" / "utt2num_frames")) == ids
    assert_outputs_valid(out)
    for u in ids:  # every file complete and equal to the uninterrupted extraction of base_project
        np.testing.assert_array_equal(
            read_f4(out / "mel" / f"{u}.f4", 20), read_f4(proj.dump() / "mel" / f"{u}.f4", 20)
        )
        np.testing.assert_array_equal(
            read_wav(out / "wav" / f"{u}.wav")[1], read_wav(proj.dump() / "wav" / f"{u}.wav")[1]
        )


def test_sigkill_inference_then_rerun(slow_project, tmp_path):
    proj = copy_project(slow_project, tmp_path / "proj")
    exp = tmp_path / "exp"
    r = train_tiny(proj.conf, proj.root, exp, "--set", "train.max_steps=2")
    assert r.code == 0, r.err[-3000:]
    r = run_stage("export_model", exp, exp / "model.pt", subprocess_=False)
    assert r.code == 0, r.err[-3000:]
    ref = tmp_path / "ref"
    r = run_stage(
        "infer",
        "--checkpoint",
        exp / "model.pt",
        "--data-dir",
        proj.root / "dump",
        "--subset",
        "train",
        "--out-dir",
        ref,
        "--import",
        TINY,
    )
    assert r.code == 0, r.err[-3000:]
    blob = _load(exp / "model.pt")
    blob["config"]["model"]["infer_sleep"] = 0.3  # same weights, slow batches
    torch.save(blob, tmp_path / "slow.pt")
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-m",
        "pylib.bin.infer",
        "--checkpoint",
        str(tmp_path / "slow.pt"),
        "--data-dir",
        str(proj.root / "dump"),
        "--subset",
        "train",
        "--out-dir",
        str(out),
        "--import",
        TINY,
    ]
    scores = out / "scores.txt"
    proc = subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert _wait_and_kill(proc, lambda: scores.is_file() and scores.read_text().count("\n") >= 2)
    TALLY["crash"] += 1
    with open(scores, "a") as f:  # a line cut by the kill
        f.write(f"{proj.ids()[-1]} 0.12")
    r = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    assert_outputs_valid(out)
    got, want = read_table(scores), read_table(ref / "scores.txt")
    assert sorted(got) == proj.ids() and got == want


# ---------------------------------------------------------------- a full disk


def _ckpt_state(p):
    s = _load(p)
    return s["step"], {k: v.clone() for k, v in s["model"].items()}


def test_disk_full_during_checkpoint_save_mocked(base_project, tmp_path, monkeypatch):
    proj = copy_project(base_project, tmp_path / "proj")
    exp = tmp_path / "exp"
    r = train_tiny(proj.conf, proj.root, exp, "--set", "train.max_steps=2")
    assert r.code == 0, r.err[-3000:]
    last = exp / "checkpoint_last.pt"
    step, weights = _ckpt_state(last)
    real_save = torch.save

    def full(obj, f, *a, **kw):
        f.write(b"PK\x03\x04 partial")  # some bytes reach the temp file before the disk fills up
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    r = train_tiny(proj.conf, proj.root, exp, "--set", "train.max_steps=4")
    monkeypatch.setattr(torch, "save", real_save)
    msg = assert_user_error(r, "disk full while writing", exp / "checkpoint_")
    assert "free space and rerun" in msg and "previous checkpoint is intact" in msg
    TALLY["crash"] += 1
    assert not hidden_leftovers(exp)
    step2, weights2 = _ckpt_state(last)
    assert step2 == step and all(torch.equal(weights[k], weights2[k]) for k in weights)
    # free space (here: the mock is gone) and rerun: training continues from that checkpoint
    r = train_tiny(proj.conf, proj.root, exp, "--set", "train.max_steps=4")
    assert r.code == 0 and _load(last)["step"] == 4, r.err[-3000:]


def test_disk_full_on_a_small_tmpfs(base_project, tmp_path):
    """A real full file system: a tmpfs mounted for the test (needs root; skipped otherwise)."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    m = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True, text=True
    )
    if m.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({m.stderr.strip()[:100]}); the mocked test covers it")
    try:
        proj = copy_project(base_project, tmp_path / "proj")
        exp = mnt / "exp"
        args = [
            "--conf",
            proj.conf,
            "--data-dir",
            proj.root / "dump",
            "--exp-dir",
            exp,
            "--import",
            TINY,
            "--device",
            "cpu",
        ]
        r = run_stage("train", *args, "--set", "train.max_steps=2")
        assert r.code == 0, r.err[-3000:]
        last = exp / "checkpoint_last.pt"
        step, weights = _ckpt_state(last)
        fd = os.open(mnt / "filler", os.O_WRONLY | os.O_CREAT)
        try:  # fill the file system to the last byte
            while os.write(fd, b"\0" * 4096):
                pass
        except OSError as e:
            assert e.errno == errno.ENOSPC
        finally:
            os.close(fd)
        r = run_stage("train", *args, "--set", "train.max_steps=4")
        msg = assert_user_error(r, "disk full while writing")
        assert "previous checkpoint is intact" in msg or "free space and rerun" in msg
        TALLY["crash"] += 1
        assert not hidden_leftovers(exp)
        step2, weights2 = _ckpt_state(last)
        assert step2 == step and all(torch.equal(weights[k], weights2[k]) for k in weights)
        (mnt / "filler").unlink()
        r = run_stage("train", *args, "--set", "train.max_steps=4")
        assert r.code == 0 and _load(last)["step"] == 4, r.err[-3000:]
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)

