"""The toy NSF and toy LCNN recipes through Slurm: `cmd` and `train_cmd` set to utils/slurm.py on the
private cluster, from the stage-0 data of the local runs that tests/recipes makes once per session;
the results must be the local run's. LCNN: stages 1-5 (features byte for byte, weights equal, scores
to 1e-6). NSF: stages 1-2, as far as the session's local NSF run goes (features, lists and
statistics byte for byte); its stages 3-5 through Slurm would repeat what the LCNN run shows (the
same train/infer/score launch path) at the cost of two more trainings in the suite's time budget.
The two runs go side by side, each on one thread."""

import re
import shutil
import subprocess

import pytest
import torch

from pylib.io.scores import read_scores
from tests.recipes.conftest import (  # noqa: F401  (the session's local runs, made once: once_per_session)
    TIMEOUT_S,
    assert_stages,
    clone,
    finite_numbers,
    read_json,
    toy_lcnn_run,
    toy_nsf_run,
)

pytestmark = pytest.mark.slow

SLURM_CMD_SH = """# Written by tests/cluster/test_recipes_slurm.py: stages run on the private Slurm cluster.
cmd="utils/slurm.py --poll-interval 0.2 --status-wait 10"
train_cmd="utils/slurm.py --poll-interval 0.2 --status-wait 10"
"""
NOT_FEATURES = ("sources.jsonl", ".lengths.json")  # absolute source paths and mtimes: differ by folder


def _stage0_clone(run, dst):
    """A copy of a local run with its stage-0 data only, launching through slurm.py."""
    recipe = clone(run, dst)
    for out in ("dump", "exp"):
        shutil.rmtree(recipe / out, ignore_errors=True)
    (recipe / "cmd.sh").write_text(SLURM_CMD_SH)
    return recipe


def _start(recipe, args, env):
    return subprocess.Popen(["./run.sh", *args], cwd=recipe, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


@pytest.fixture(scope="module")
def runs(cluster, toy_nsf_run, toy_lcnn_run, tmp_path_factory):  # noqa: F811
    base = tmp_path_factory.mktemp("recipes_slurm")
    nsf_slurm = _stage0_clone(toy_nsf_run, base / "nsf_slurm")
    lcnn_slurm = _stage0_clone(toy_lcnn_run, base / "lcnn_slurm")
    to5 = ("--stop-stage", "5")
    jobs = {
        "nsf_slurm": _start(nsf_slurm, [*toy_nsf_run.args, "--stage", "1"], cluster.env),  # to its stage 2
        "lcnn_slurm": _start(lcnn_slurm, [*toy_lcnn_run.args, "--stage", "1", *to5], cluster.env),
    }
    out = {}
    try:
        for name, proc in jobs.items():
            text, _ = proc.communicate(timeout=TIMEOUT_S)
            assert proc.returncode == 0, f"{name} failed ({proc.returncode}):\n{text[-4000:]}"
            out[name] = text
    finally:
        for proc in jobs.values():
            if proc.poll() is None:
                proc.terminate()  # run.sh's death cancels its Slurm jobs (utils/env.sh)
                proc.wait(timeout=60)
    return {"nsf_slurm": (nsf_slurm, out["nsf_slurm"]), "lcnn_slurm": (lcnn_slurm, out["lcnn_slurm"])}


def _features(recipe):
    """{relative path: bytes} of what stages 1-2 wrote under dump/ (no logs, no Slurm files)."""
    dump = recipe / "dump"
    return {str(p.relative_to(dump)): p.read_bytes() for p in sorted(dump.rglob("*"))
            if p.is_file() and "log" not in p.relative_to(dump).parts and p.name not in NOT_FEATURES}


def _went_through_slurm(recipe, log):
    lines = (recipe / log).read_text().splitlines()
    assert re.match(r"# Slurm job \d+ task 1 on ", lines[2]), lines[:3]
    assert (recipe / log).parent.joinpath("q").is_dir()


def _assert_close(a, b, tol=1e-6):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert abs(x - y) <= tol * max(1.0, abs(x)), (x, y)


def _same_weights(exp_a, exp_b):
    a = torch.load(exp_a / "checkpoint_last.pt", map_location="cpu", weights_only=True)
    b = torch.load(exp_b / "checkpoint_last.pt", map_location="cpu", weights_only=True)
    assert a["step"] == b["step"]
    assert a["model"].keys() == b["model"].keys()
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k


def test_toy_nsf_through_slurm_matches_local(runs, toy_nsf_run):  # noqa: F811
    slurm, out = runs["nsf_slurm"]
    assert_stages(out, range(1, 3))
    _went_through_slurm(slurm, "dump/train/log/extract.1.log")
    _went_through_slurm(slurm, "dump/train/log/compute_stats.log")
    want = _features(toy_nsf_run.recipe)
    assert want and _features(slurm) == want  # features, lists, statistics


def test_toy_lcnn_through_slurm_matches_local(runs, toy_lcnn_run):  # noqa: F811
    slurm, out = runs["lcnn_slurm"]
    assert_stages(out, range(1, 6))
    _went_through_slurm(slurm, "dump/train/log/extract.1.log")
    want = _features(toy_lcnn_run.recipe)
    assert want and _features(slurm) == want
    _same_weights(toy_lcnn_run.exp, slurm / "exp" / "debug")
    local_scores = read_scores(toy_lcnn_run.exp / "infer_eval" / "scores.txt")
    scores = read_scores(slurm / "exp" / "debug" / "infer_eval" / "scores.txt")
    assert scores.keys() == local_scores.keys()
    _assert_close(list(local_scores.values()), list(scores.values()))
    res = [read_json(r / "infer_eval" / "results.json") for r in (toy_lcnn_run.exp, slurm / "exp" / "debug")]
    _assert_close(finite_numbers(res[0]), finite_numbers(res[1]))
