"""Helpers shared by the engine tests: toy configs and in-process / subprocess training runs."""

import copy
import os
import subprocess
import sys
from pathlib import Path

import torch
import yaml

from pylib.engine.build import run_training
from tests.engine.killer import killer_args
from tests.engine.toy_models import MODEL_CLASS  # the toy models (and the in-memory data factory)

ROOT = Path(__file__).resolve().parents[2]

BASE = {
    "data": {"toy": True, "n_train": 24, "n_dev": 8, "batch_size": 4},
    "model": {"name": "toy_linear", "hidden": 8, "dropout": 0.1},
    "optim": {"model": {"type": "adam", "lr": 0.01}},
    "train": {
        "epochs": 3,
        "save_every_steps": 4,
        "log_every": 2,
        "keep_last_epochs": 2,
        "seed": 3,
        "device": "cpu",
        "tensorboard": False,
        "curves": False,
    },
}


def make_config(tmp_path, name="conf.yaml", **sections):
    """BASE with each section given as keyword replaced/updated (a dict updates, None removes)."""
    cfg = copy.deepcopy(BASE)
    for k, v in sections.items():
        if v is None:
            cfg.pop(k, None)
        elif k in ("model", "optim") and isinstance(v, dict) and "replace" in v:
            cfg[k] = v["replace"]
        else:
            cfg.setdefault(k, {}).update(v)
    path = Path(tmp_path) / name
    path.write_text(yaml.safe_dump(cfg))
    return path


def train_inproc(conf, exp_dir, **kw):
    return run_training(conf, "unused", exp_dir, model_class=MODEL_CLASS, **kw)


def weights(exp_dir, name="checkpoint_last.pt"):
    return torch.load(Path(exp_dir) / name, map_location="cpu", weights_only=True)


def train_cli(conf, exp_dir, *extra, env=None, check=True, kill_at_step=None, kill_in_save=None):
    """Run training in a subprocess (see killer_args); returns the CompletedProcess."""
    cmd = [
        sys.executable,
        *killer_args(kill_at_step, kill_in_save),
        "--conf",
        str(conf),
        "--exp-dir",
        str(exp_dir),
        "--data-dir",
        "unused",
        "--import",
        "tests.engine.toy_models",
        *extra,
    ]
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    r = subprocess.run(cmd, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=120)
    if check and r.returncode != 0:
        raise AssertionError(f"train failed ({r.returncode}):\n{r.stderr[-3000:]}")
    return r
