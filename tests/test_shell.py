"""Shell scripts: every *.sh parses (`bash -n`), scripts with a shebang are executable, and the
TEMPLATE vocoder recipe's plumbing (options, path.sh checks, the utils and voc.sh links) works."""

import os
import shutil
import subprocess

import pytest

from tests.conftest import ROOT

SKIP_DIRS = {".git", "venv", "__pycache__", ".pytest_cache", ".ruff_cache", "node_modules"}
TEMPLATE = ROOT / "egs" / "TEMPLATE" / "voc1"


def _walk(top):
    """Files under top, not following symlinked folders (egs/*/utils) and skipping tools/venv."""
    for d, dirs, files in os.walk(top):
        dirs[:] = [x for x in dirs if x not in SKIP_DIRS]
        for f in files:
            yield os.path.join(d, f)


SHELL_FILES = sorted(p for p in _walk(ROOT) if p.endswith(".sh"))


def test_shell_files_found():
    names = {os.path.relpath(p, ROOT) for p in SHELL_FILES}
    assert {"utils/parse_options.sh", "egs/TEMPLATE/voc1/run.sh", "egs/TEMPLATE/voc1/path.sh"} <= names


@pytest.mark.parametrize("path", SHELL_FILES, ids=lambda p: os.path.relpath(p, ROOT))
def test_bash_syntax(path):
    r = subprocess.run(["bash", "-n", path], capture_output=True, text=True)
    assert r.returncode == 0, f"{path}: {r.stderr}"


def test_scripts_with_shebang_are_executable():
    checked, bad = 0, []
    for top in (ROOT / "utils", ROOT / "egs"):
        for path in _walk(top):
            if os.path.islink(path):
                continue
            with open(path, "rb") as f:
                if f.read(2) != b"#!":
                    continue
            checked += 1
            if not os.access(path, os.X_OK):
                bad.append(os.path.relpath(path, ROOT))
    assert checked >= 3  # run.py, slurm.py, TEMPLATE/run.sh at least
    assert not bad, f"not executable (chmod +x): {bad}"


def test_launchers_use_env_python3_shebang():
    for name in ("run.py", "slurm.py"):
        assert (ROOT / "utils" / name).read_text().startswith("#!/usr/bin/env python3\n")


def test_template_layout():
    link = TEMPLATE / "utils"
    assert link.is_symlink() and os.readlink(link) == "../../../utils"
    assert (link / "parse_options.sh").is_file()
    assert (TEMPLATE / "voc.sh").is_file() and (TEMPLATE.parent / "stages.sh").is_file()
    assert len((TEMPLATE / "run.sh").read_text().splitlines()) < 150


def _run_template(*args, cwd=TEMPLATE):
    return subprocess.run(["./run.sh", *args], capture_output=True, text=True, cwd=cwd, timeout=60)


@pytest.mark.skipif(not (ROOT / "tools" / "venv" / "bin" / "python").exists(), reason="needs `make` first")
def test_template_options():
    r = _run_template("--help")
    assert r.returncode == 0 and "--stop-stage" in r.stdout
    r = _run_template("--stgae", "1")
    assert r.returncode != 0 and "unknown option --stgae" in r.stderr
    r = _run_template("--stage", "6")  # after the last stage: nothing runs, nothing fails
    assert r.returncode == 0 and r.stdout == ""


def test_path_sh_says_to_run_make(tmp_path):
    fake = tmp_path / "repo"
    (fake / "pylib").mkdir(parents=True)
    (fake / "pyproject.toml").write_text("")
    recipe = fake / "egs" / "corpus" / "model"
    recipe.mkdir(parents=True)
    for name in ("path.sh", "cmd.sh", "run.sh"):
        shutil.copy(TEMPLATE / name, recipe / name)
    os.symlink(TEMPLATE / "voc.sh", recipe / "voc.sh")
    shutil.copytree(ROOT / "utils", fake / "utils")
    os.symlink("../../../utils", recipe / "utils")
    r = _run_template("--stage", "6", cwd=recipe)
    assert r.returncode == 1
    assert "run `make` at the repository root" in r.stderr and str(fake) in r.stderr
    # with a venv in place the same copy finds the root three levels up
    (fake / "tools" / "venv" / "bin").mkdir(parents=True)
    os.symlink(shutil.which("python3"), fake / "tools" / "venv" / "bin" / "python")
    r = subprocess.run(["bash", "-c", ". ./path.sh && echo \"$NNSP_ROOT|$PYTHONPATH\""],
                       capture_output=True, text=True, cwd=recipe, env={"PATH": os.environ["PATH"]})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"{fake}|{fake}"
