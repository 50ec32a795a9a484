"""The set-up itself: pinned dependencies import, pyworld works, a second `make` is a no-op."""

import subprocess
import sys
import warnings

import numpy as np

from tests.conftest import ROOT, sine


def test_pyworld_imports_and_runs():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pyworld
    x = sine(freq=200.0, seconds=0.3).astype(np.float64)
    f0, _ = pyworld.dio(x, 16000, frame_period=5.0)
    assert len(f0) > 0


def test_torch_is_the_pinned_cpu_build():
    import torch

    assert torch.__version__.split("+")[0] == "2.13.0"


def test_setup_is_idempotent():
    venv_python = ROOT / "tools" / "venv" / "bin" / "python"
    if not venv_python.exists() or not sys.executable.startswith(str(ROOT / "tools" / "venv")):
        import pytest

        pytest.skip("not running from tools/venv")
    out = subprocess.run(["bash", str(ROOT / "tools" / "setup_venv.sh")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "" and out.stderr == ""
