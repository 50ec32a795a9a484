"""DDP: the train entry point under torchrun with 2 CPU processes (gloo)."""

import os
import socket
import subprocess
import sys

import pytest
import torch

from tests.engine.common import ROOT, make_config, weights


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


GAN = {
    "model": {"replace": {"name": "toy_gan", "hidden": 8}},
    "optim": {"replace": {"generator": {"lr": 0.01}, "discriminator": {"lr": 0.01, "start_step": 1}}},
    "train": {"epochs": 2, "best_metric": "recon", "grad_accum": 2},
}


@pytest.mark.parametrize(
    "sections, steps", [({"train": {"epochs": 2}}, 4), (GAN, 2)], ids=["loss_model", "gan_accum2"]
)
def test_ddp_two_gloo_processes_hold_identical_weights(tmp_path, sections, steps):
    """A LossModel, and a GanModel with 2 micro-batches per step (no_sync on the first; generate
    outside the wrapper, both losses through its forward; the discriminator joins at step 1, so the
    first step runs the generator alone)."""
    conf = make_config(tmp_path, data={"n_train": 16}, **sections)
    exp = tmp_path / "exp"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        str(_free_port()),
        "-m",
        "pylib.bin.train",
        "--conf",
        str(conf),
        "--exp-dir",
        str(exp),
        "--data-dir",
        "unused",
        "--import",
        "tests.engine.toy_models",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOY_DUMP_DIR": str(tmp_path)}
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-3000:]
    w0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    w1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    for k in w0:
        assert torch.equal(w0[k], w1[k]), k
    st = weights(exp)
    # 16 utterances / batch 4 = 4 batches, 2 per rank: 2 steps per epoch (1 with grad_accum 2)
    assert st["step"] == steps and st["world_size"] == 2 and len(st["per_rank"]) == 2
    assert all(torch.equal(st["model"][k], w0[k]) for k in w0)
    assert (exp / "train.log").read_text().count("\n") >= 3  # one writer (rank 0): header + 2 rows
