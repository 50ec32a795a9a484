"""Run a toy recipe end to end in a copy under tmp_path (the repository's recipe folder stays clean).

The copy holds run.sh, path.sh, cmd.sh, conf/ and local/; its `utils` link points at the real
utils/, through which path.sh finds the repository.
"""

import json
import math
import os
import shutil
import subprocess

from tests.conftest import ROOT

TIMEOUT_S = 600  # a hung stage fails the test instead of the suite


def copy_recipe(name, tmp_path):
    """egs/toy/<name> -> tmp_path/<name> without data/, dump/, exp/ -> the copy's path."""
    src = ROOT / "egs" / "toy" / name
    dst = tmp_path / name
    dst.mkdir()
    for f in ("run.sh", "path.sh", "cmd.sh"):
        shutil.copy2(src / f, dst / f)
    for d in ("conf", "local"):
        if (src / d).is_dir():
            shutil.copytree(src / d, dst / d)
    os.symlink(ROOT / "utils", dst / "utils")
    return dst


def run_recipe(recipe, *args):
    """./run.sh args in `recipe`, one thread per job; fails with the end of the output."""
    env = dict(os.environ)
    r = subprocess.run(["./run.sh", *args], cwd=recipe, env=env, capture_output=True, text=True,
                       timeout=TIMEOUT_S)
    tail = f"{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    assert r.returncode == 0, f"run.sh {' '.join(args)} failed ({r.returncode}):\n{tail}"
    return r.stdout


def finite_numbers(obj):
    """Every int/float leaf of a JSON object (None leaves are skipped), as a flat list."""
    if isinstance(obj, dict):
        return [x for v in obj.values() for x in finite_numbers(v)]
    if isinstance(obj, list):
        return [x for v in obj for x in finite_numbers(v)]
    if isinstance(obj, (int, float)) and not isinstance(obj, bool):
        return [obj]
    return []


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def is_finite(x):
    return isinstance(x, (int, float)) and math.isfinite(x)
