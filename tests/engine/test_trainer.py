import math

import pytest
import torch

from pylib.engine.trainer import NonFiniteLossError
from pylib.errors import ConfigError, UserError
from tests.engine.common import make_config, train_inproc, weights


def test_train_writes_everything_and_learns(tmp_path):
    conf = make_config(tmp_path, train={"tensorboard": True, "curves": True})
    exp = tmp_path / "exp"
    out = train_inproc(conf, exp)
    assert out["epoch"] == 3 and out["step"] == 18
    names = sorted(p.name for p in exp.iterdir())
    assert {
        "config.yaml",
        "train.log",
        "curves.png",
        "tensorboard",
        "checkpoint_last.pt",
        "checkpoint_best.pt",
    } <= set(names)
    assert [n for n in names if n.startswith("checkpoint_epoch")] == [
        "checkpoint_epoch0002.pt",
        "checkpoint_epoch0003.pt",
    ]
    log = (exp / "train.log").read_text()
    assert "dev/loss" in log.splitlines()[0] and len([ln for ln in log.splitlines() if ln[:1] != "#"]) == 4
    hist = out["history"]
    assert hist[-1]["dev"]["loss"] < hist[0]["dev"]["loss"]
    assert hist[-1]["train"]["loss"] < hist[0]["train"]["loss"]
    # rerunning a finished run does nothing and keeps the weights
    before = weights(exp)["model"]
    again = train_inproc(conf, exp)
    assert again["step"] == 18
    assert all(torch.equal(before[k], v) for k, v in weights(exp)["model"].items())


def test_early_stop(tmp_path):
    conf = make_config(
        tmp_path, optim={"model": {"type": "sgd", "lr": 1e-30}}, train={"epochs": 10, "patience": 2}
    )
    out = train_inproc(conf, tmp_path / "exp")
    assert out["epoch"] == 3 and out["best_epoch"] == 1
    assert out["stopped"].startswith("early stop")
    assert "early stop" in (tmp_path / "exp" / "train.log").read_text()


def _final_lr(exp):
    return weights(exp)["optimizers"]["model"]["param_groups"][0]["lr"]


# 24 utterances / batch 4 = 6 steps per epoch; 2 epochs = 12 steps, lr 0.01
SCHEDULES = {
    "none": ({}, 0.01),
    "step": ({"step_size": 5, "gamma": 0.5}, 0.01 * 0.5**2),
    "exponential": ({"gamma": 0.9, "interval": "epoch"}, 0.01 * 0.9**2),
    "cosine": ({"warmup_steps": 2, "min_lr_ratio": 0.1}, 0.001),
    "plateau": ({"patience": 0, "threshold": 10.0, "factor": 0.5}, 0.005),
}


@pytest.mark.parametrize("dev", [8, 0], ids=["dev", "nodev"])
@pytest.mark.parametrize("kind", list(SCHEDULES))
def test_lr_schedules(tmp_path, kind, dev):
    extra, want = SCHEDULES[kind]
    conf = make_config(
        tmp_path,
        data={"n_dev": dev},
        optim={"model": {"lr": 0.01, "scheduler": {"type": kind, **extra}}},
        train={"epochs": 2},
    )
    out = train_inproc(conf, tmp_path / "exp")
    assert out["step"] == 12
    assert bool(out["history"][0]["dev"]) == bool(dev)
    assert _final_lr(tmp_path / "exp") == pytest.approx(want, rel=1e-6)


def test_warmup_ramps_up():
    from pylib.engine.config import SchedulerConfig
    from pylib.engine.schedule import LRSchedule

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    s = LRSchedule(opt, 1.0, SchedulerConfig(type="cosine", warmup_steps=4, total=14))
    lrs = []
    for _ in range(14):
        lrs.append(opt.param_groups[0]["lr"])
        s.step()
    assert lrs[:5] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert all(a >= b for a, b in zip(lrs[4:], lrs[5:])) and opt.param_groups[0]["lr"] == pytest.approx(0.0)


def test_grad_accum_equals_larger_batch(tmp_path):
    common = dict(model={"dropout": 0.0}, optim={"model": {"type": "sgd", "lr": 0.05, "momentum": 0.9}})
    a = make_config(
        tmp_path,
        "a.yaml",
        data={"batch_size": 4, "vary": False},
        train={"grad_accum": 2, "epochs": 2},
        **common,
    )
    b = make_config(
        tmp_path,
        "b.yaml",
        data={"batch_size": 8, "vary": False},
        train={"grad_accum": 1, "epochs": 2},
        **common,
    )
    ra, rb = train_inproc(a, tmp_path / "a"), train_inproc(b, tmp_path / "b")
    assert ra["step"] == rb["step"] == 6
    wa, wb = weights(tmp_path / "a")["model"], weights(tmp_path / "b")["model"]
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=1e-5, atol=1e-6)


def test_nan_guard_skips_and_counts(tmp_path):
    conf = make_config(tmp_path, model={"nan_at_steps": [2, 3, 7]}, train={"epochs": 2})
    out = train_inproc(conf, tmp_path / "exp")
    assert out["nan_total"] == 3 and out["step"] == 12
    assert all(torch.isfinite(v).all() for v in weights(tmp_path / "exp")["model"].values())
    assert "non-finite loss" in (tmp_path / "exp" / "train.log").read_text()
    assert all(math.isfinite(v) for r in out["history"] for v in r["train"].values())


def test_nan_guard_stops_with_clear_error(tmp_path):
    conf = make_config(tmp_path, model={"nan_at_steps": list(range(3, 100))}, train={"max_nan_in_row": 4})
    with pytest.raises(NonFiniteLossError, match="4 non-finite losses in a row.*grad_clip"):
        train_inproc(conf, tmp_path / "exp")


def test_gan_discriminator_start_and_checkpoint_round_trip(tmp_path):
    gan = {"replace": {"name": "toy_gan", "hidden": 8}}
    optim = {
        "replace": {
            "generator": {"lr": 0.01, "grad_clip": 1.0},
            "discriminator": {"lr": 0.01, "start_step": 4, "scheduler": {"type": "step", "step_size": 2}},
        }
    }
    conf = make_config(
        tmp_path, model=gan, optim=optim, train={"epochs": None, "max_steps": 3, "best_metric": "recon"}
    )
    train_inproc(conf, tmp_path / "a")
    st = weights(tmp_path / "a")
    assert st["optimizers"]["discriminator"]["state"] == {}  # D has not stepped before start_step
    assert st["optimizers"]["generator"]["state"][0]["step"] == 3
    assert "d_loss" not in st["history"][-1]["train"] and "adv" not in st["history"][-1]["train"]
    # continue the same run to 10 steps and compare with an uninterrupted 10-step run
    train_inproc(conf, tmp_path / "a", overrides=["train.max_steps=10"])
    train_inproc(conf, tmp_path / "b", overrides=["train.max_steps=10"])
    a, b = weights(tmp_path / "a"), weights(tmp_path / "b")
    assert a["optimizers"]["discriminator"]["state"][0]["step"] == 6
    assert a["schedules"]["discriminator"]["steps"] == 6
    for k in b["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    assert "d_loss" in a["history"][-1]["train"] and "adv" in a["history"][-1]["train"]


def test_gan_needs_one_optim_entry_per_group(tmp_path):
    conf = make_config(tmp_path, model={"replace": {"name": "toy_gan"}})
    with pytest.raises(ConfigError, match="parameter groups"):
        train_inproc(conf, tmp_path / "exp")


def test_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="train: unknown key.*'epoch'"):
        train_inproc(make_config(tmp_path, train={"epoch": 3}), tmp_path / "e1")
    with pytest.raises(ConfigError, match="best_metric.*'eer'.*mse"):
        train_inproc(make_config(tmp_path, train={"best_metric": "eer"}), tmp_path / "e2")
    with pytest.raises(ConfigError, match="unknown model 'nope'"):
        train_inproc(make_config(tmp_path, model={"replace": {"name": "nope"}}), tmp_path / "e3")


def test_init_from_partial(tmp_path):
    train_inproc(make_config(tmp_path, "a.yaml", train={"epochs": 1}), tmp_path / "a")
    bigger = make_config(tmp_path, "b.yaml", model={"hidden": 16}, train={"epochs": 1})
    src = tmp_path / "a" / "checkpoint_last.pt"
    with pytest.raises(UserError, match="wrong shape.*--allow-partial"):
        train_inproc(bigger, tmp_path / "b", init_from=src)
    train_inproc(bigger, tmp_path / "c", init_from=src, allow_partial=True)
    same = make_config(tmp_path, "c.yaml", optim={"model": {"lr": 1e-30, "type": "sgd"}}, train={"epochs": 1})
    train_inproc(same, tmp_path / "d", init_from=src)
    a, d = weights(tmp_path / "a")["model"], weights(tmp_path / "d")["model"]
    assert all(torch.equal(a[k], d[k]) for k in a)
