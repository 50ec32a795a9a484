"""--infer-opts (egs/TEMPLATE/stages.sh): every call of pylib.bin.infer that cm.sh makes (stage 4
of each seed run, stage 6's dev and missing eval scores) gets the options. The launchers are
replaced by one that records the command lines instead of running them (no Python runs)."""

import stat

from tests.conftest import ROOT
from tests.recipes.conftest import copy_recipe, run_script

RECORD = """#!/usr/bin/env bash
# stands in for utils/run.py: [JOB=1:N] LOG command... -> the command line appended to calls.txt
[[ "$1" == JOB=* ]] && shift
mkdir -p "$(dirname "$1")" && echo "recorded" > "$1"
shift
echo "$*" >> calls.txt
"""


def test_infer_opts_reach_every_infer_call(tmp_path):
    recipe = copy_recipe(ROOT / "egs" / "toy" / "ssl_cm", tmp_path / "r")
    record = recipe / "record.sh"
    record.write_text(RECORD)
    record.chmod(record.stat().st_mode | stat.S_IXUSR)
    (recipe / "cmd.sh").write_text("cmd=./record.sh\ntrain_cmd=./record.sh\n")
    (recipe / "exp" / "other").mkdir(parents=True)  # a run to fuse with, without scores
    run_script(recipe, "cm.sh", "--conf", "conf/ssl_fix_llgf.yaml", "--stage", "4", "--stop-stage", "6",
               "--seeds", "1 2", "--eval-sets", "eval", "--fuse-with", "exp/other",
               "--infer-opts", "--mc-dropout 3 --num-threads 1")
    calls = (recipe / "calls.txt").read_text().splitlines()
    infer = [c for c in calls if c.startswith("python -m pylib.bin.infer ")]
    runs = {c.split("--exp-dir ")[1].split()[0] + " " + c.split("--subset ")[1].split()[0] for c in infer}
    assert runs == {f"exp/{r} {s}" for r in ("ssl_fix_llgf_seed1", "ssl_fix_llgf_seed2", "other")
                    for s in ("dev", "eval")}, infer
    assert all(c.endswith(" --mc-dropout 3 --num-threads 1") for c in infer), infer
    assert any("pylib.bin.fuse_scores" in c for c in calls)
