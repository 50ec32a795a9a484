"""Shared fixtures: seeded synthetic signals that leave the global RNG alone, and paths to shared data."""

from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


def rng(seed=0):
    """A private generator: tests never touch numpy's global RNG."""
    return np.random.default_rng(seed)


def sine(freq=220.0, sr=16000, seconds=0.5, amp=0.5, phase=0.0):
    """A float32 sine wave (T,)."""
    t = np.arange(int(sr * seconds)) / sr
    return (amp * np.sin(2 * np.pi * freq * t + phase)).astype(np.float32)


def noise(seconds=0.5, sr=16000, amp=0.1, seed=0):
    """Seeded float32 white noise (T,)."""
    return (amp * rng(seed).standard_normal(int(sr * seconds))).astype(np.float32)


@pytest.fixture
def shared_data():
    """Path to ../shared/data, or skip with a message when it is absent (a user's clone)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is absent: real-speech tests need the project's shared data folder")
    return SHARED_DATA


@pytest.fixture
def float64():
    """float64 as torch's default dtype for the test (parity tests: the reference code makes its
    buffers, windows and draws in the default dtype), restored after it."""
    import torch

    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


@pytest.fixture
def one_thread():
    """Toy-width tensors gain nothing from a second thread; on a busy 2-core machine the OpenMP
    barriers only cost time. Modules opt in with `pytestmark = pytest.mark.usefixtures("one_thread")`."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# Parallel runs (`make test` runs pytest-xdist with --dist loadgroup): every test goes to the group of
# its file, so a module-scoped fixture (a recipe run, a trained toy model) is built once; the files
# that share the session's toy recipe runs form one group, so those are built once too, on one
# worker; the other Slurm tests form another (that worker starts its own private cluster).
SHARED_RUN_FILES = {
    "tests/recipes/test_toy_lcnn.py",
    "tests/recipes/test_toy_nsf.py",
    "tests/recipes/test_seeds_fusion.py",
    "tests/cluster/test_recipes_slurm.py",
}


# The groups that take longest in `make test` (the slowest-durations list of a CI run), longest first.
HEAVIEST_FIRST = (
    "shared-runs",
    "cluster",
    "tests/recipes/test_cmu_arctic_vocoders.py",
    "tests/recipes/test_toy_ssl_cm.py",
    "tests/recipes/test_stage_scripts.py",
    "tests/parity/test_hifigan_parity.py",
    "tests/test_bench_seed.py",
    "tests/recipes/test_vctk_blow.py",
    "tests/recipes/test_ljspeech_recipe.py",
    "tests/recipes/test_cmu_arctic_recipe.py",
    "tests/recipes/test_asvspoof2019_recipe.py",
)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("xdist_group"):
            continue
        path = item.nodeid.split("::", 1)[0]
        group = path
        if path in SHARED_RUN_FILES:
            group = "shared-runs"
        elif path.startswith("tests/cluster/"):
            group = "cluster"
        item.add_marker(pytest.mark.xdist_group(group))
    # xdist hands the groups out in collection order as workers come free: the longest first, so that
    # no long group starts last while the other worker idles (stable: a group keeps its own order).
    rank = {g: i for i, g in enumerate(HEAVIEST_FIRST)}
    items.sort(key=lambda it: rank.get(_group_of(it), len(rank)))


def _group_of(item):
    mark = item.get_closest_marker("xdist_group")
    return (mark.args[0] if mark.args else mark.kwargs.get("name")) if mark else None
