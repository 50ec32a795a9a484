"""Multi-node training on one machine: two `torchrun --nnodes 2` agents (one process each, gloo, c10d
rendezvous on 127.0.0.1) training the engine's toy model, and the same through the private Slurm
cluster with the README's `srun torchrun` batch script adapted to one host."""

import os
import subprocess
import sys
import time

import pytest
import torch

from tests.cluster.conftest import free_port
from tests.engine.common import ROOT, make_config, weights

pytestmark = pytest.mark.slow

TIMEOUT_S = 180
# 16 utterances, batch 4: 2 batches per rank and epoch, so 2 optimizer steps an epoch, 6 in all;
# a checkpoint every 2 steps, and the killed run dies right after step 3 (between two checkpoints).
SECTIONS = {"data": {"n_train": 16, "n_dev": 4}, "train": {"epochs": 3, "save_every_steps": 2}}
KILL_AT_STEP = 3


def _env(dump=None, base=None):
    env = {**(os.environ if base is None else base), "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo",
           "PYTHONPATH": str(ROOT)}
    if dump is not None:
        env["TOY_DUMP_DIR"] = str(dump)
    return env


def _train_args(conf, exp):
    return ["--conf", str(conf), "--exp-dir", str(exp), "--data-dir", "unused",
            "--import", "tests.engine.toy_models"]


def _torchrun(node, port, run_id, module_args, env, cwd):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--node-rank", str(node),
           "--nproc-per-node", "1", "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}",
           "--rdzv-id", run_id, "--local-addr", "127.0.0.1", "--max-restarts", "0", *module_args]
    return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def two_nodes(module_args, exp_dirs, dumps, run_id, cwd=ROOT):
    """Starts node 0 and node 1 (each its own exp dir and dump dir); returns [(returncode, output)]."""
    port = free_port()
    procs = [_torchrun(n, port, run_id, module_args(exp_dirs[n]), _env(dumps[n]), cwd) for n in (0, 1)]
    out = []
    try:
        for p in procs:
            text, _ = p.communicate(timeout=TIMEOUT_S)
            out.append((p.returncode, text))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return out


SBATCH_SCRIPT = """#!/bin/bash
#SBATCH --nodes=1 --ntasks=2 --job-name=ddp --time=5
# The README's multi-node script on one host: one task per "node"; SLURM_PROCID is the node rank,
# the rendezvous endpoint is this host on a free port.
head=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
srun --kill-on-bad-exit=1 bash -c 'exec {python} -m torch.distributed.run --nnodes 2 \\
    --node-rank "$SLURM_PROCID" --nproc-per-node 1 --rdzv-id "$SLURM_JOB_ID" --rdzv-backend c10d \\
    --rdzv-endpoint 127.0.0.1:{port} --local-addr 127.0.0.1 -m pylib.bin.train {args}'
echo "head node: $head"
"""


def test_two_nodes_through_slurm(cluster, tmp_path):
    """`sbatch --nodes=1 --ntasks=2`: srun starts torchrun twice, the two train as one 2-rank job."""
    conf = make_config(tmp_path, **SECTIONS)
    exp = tmp_path / "exp"
    args = " ".join(_train_args(conf, exp))
    script = tmp_path / "ddp.sbatch"
    script.write_text(SBATCH_SCRIPT.format(python=sys.executable, port=free_port(), args=args))
    env = _env(base=cluster.env)
    cmd = ["sbatch", "--parsable", f"--output={tmp_path}/ddp.out", f"--chdir={ROOT}", str(script)]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    job = r.stdout.strip().split(";")[0]
    deadline = time.monotonic() + TIMEOUT_S
    while job in cluster.queue():
        assert time.monotonic() < deadline, "the DDP job did not finish"
        time.sleep(0.5)
    out = (tmp_path / "ddp.out").read_text()
    state = cluster.run("scontrol", "-o", "show", "job", job).stdout
    assert "JobState=COMPLETED" in state, out[-3000:]
    assert f"head node: {cluster.node}" in out
    st = weights(exp)
    assert st["step"] == 6 and st["world_size"] == 2 and len(st["per_rank"]) == 2


def _files(folder):
    if not folder.exists():
        return []
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """One 2-node run to the end: each node has its own exp dir, so what rank 1's node wrote shows."""
    base = tmp_path_factory.mktemp("multinode")
    conf = make_config(base, **SECTIONS)
    exps = [base / "node0" / "exp", base / "node1" / "exp"]
    dumps = [base / "node0", base / "node1"]
    for d in dumps:
        d.mkdir(exist_ok=True)
    res = two_nodes(lambda exp: ["-m", "pylib.bin.train", *_train_args(conf, exp)], exps, dumps, "full")
    for rc, text in res:
        assert rc == 0, text[-3000:]
    return base, conf, exps, dumps


def test_two_nodes_identical_weights_and_one_writer(uninterrupted):
    base, conf, exps, dumps = uninterrupted
    # which node got rank 0 is the rendezvous' choice: its dump folder says
    rank_of = [0 if (d / "rank0.pt").exists() else 1 for d in dumps]
    assert sorted(rank_of) == [0, 1], [_files(d) for d in dumps]
    main, other = (0, 1) if rank_of[0] == 0 else (1, 0)
    w0 = torch.load(dumps[main] / "rank0.pt", weights_only=True)
    w1 = torch.load(dumps[other] / "rank1.pt", weights_only=True)
    assert w0.keys() == w1.keys()
    for k in w0:
        assert torch.equal(w0[k], w1[k]), k
    assert _files(exps[other]) == []  # rank 1 wrote nothing
    st = weights(exps[main])
    assert st["step"] == 6 and st["world_size"] == 2 and len(st["per_rank"]) == 2
    for k in w0:
        assert torch.equal(st["model"][k], w0[k]), k


def test_killed_then_restarted_resumes_bit_identically(uninterrupted, tmp_path):
    """Both nodes die (SIGKILL) right after step 3; the same command again resumes from the step-2
    checkpoint and ends with the uninterrupted run's weights, bit for bit."""
    base, conf, exps, dumps = uninterrupted
    exp = tmp_path / "exp"  # one shared folder, as on a cluster's shared file system
    killer = ["-m", "tests.engine.killer", "--at-step", str(KILL_AT_STEP), "--"]
    res = two_nodes(lambda e: [*killer, *_train_args(conf, e)], [exp, exp], [None, None], "killed")
    assert all(rc != 0 for rc, _ in res), [t[-1500:] for _, t in res]
    assert weights(exp)["step"] == 2
    train = ["-m", "pylib.bin.train", *_train_args(conf, exp)]
    res = two_nodes(lambda e: train, [exp, exp], [None, None], "resumed")
    for rc, text in res:
        assert rc == 0, text[-3000:]
    main = 0 if (dumps[0] / "rank0.pt").exists() else 1
    want, got = weights(exps[main]), weights(exp)
    assert got["step"] == want["step"] == 6
    for k in want["model"]:
        assert torch.equal(got["model"][k], want["model"][k]), k
