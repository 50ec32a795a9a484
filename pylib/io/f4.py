"""Headless little-endian float32 feature files: row-major (frames, dim), frame count from the size."""

import os
from pathlib import Path

import numpy as np

from pylib.errors import DataError
from pylib.io.atomic import atomic_path

F4 = np.dtype("<f4")


def num_frames_f4(path, dim):
    """Frame count of a `<f4` file from its size alone; raises DataError if the size does not fit dim."""
    path = Path(path)
    if dim < 1:
        raise DataError(f"{path}: dim must be >= 1, got {dim}")
    try:
        size = os.path.getsize(path)
    except FileNotFoundError:
        raise DataError(f"{path}: feature file not found; rerun feature extraction (stage 1)") from None
    if size % (dim * 4):
        raise DataError(
            f"{path}: size {size} bytes is not a multiple of dim*4 = {dim * 4} (dim {dim}); the file is "
            f"truncated or the configured dim is wrong. Check the feature's dim in the config, or delete "
            f"the file and rerun feature extraction (stage 1)."
        )
    return size // (dim * 4)


def open_f4(path, dim):
    """Read-only memmap of a `<f4` file, shape (frames, dim). Empty files give a (0, dim) array."""
    n = num_frames_f4(path, dim)
    if n == 0:
        return np.zeros((0, dim), dtype=F4)
    return np.memmap(path, dtype=F4, mode="r", shape=(n, dim))


def read_f4(path, dim, check_finite=True):
    """Read a `<f4` file into a float32 array of shape (frames, dim) (always 2-D)."""
    n = num_frames_f4(path, dim)
    data = np.fromfile(path, dtype=F4, count=n * dim).reshape(n, dim)
    if check_finite:
        check_finite_array(data, path)
    return data.astype(np.float32, copy=False)


def check_finite_array(data, path):
    """Raise DataError naming `path` if `data` holds NaN or Inf."""
    if data.size and not np.isfinite(data).all():
        bad = np.argwhere(~np.isfinite(np.asarray(data)))[0]
        raise DataError(
            f"{path}: contains NaN or Inf (first at index {tuple(int(i) for i in bad)}); "
            f"delete the file and rerun feature extraction, or drop the utterance from the list"
        )


def write_f4(path, array):
    """Write `array` as `<f4` row-major to `path` atomically, creating parent folders.

    Any float/int dtype or byte order is converted to little-endian float32 first.
    """
    data = np.ascontiguousarray(np.asarray(array), dtype=F4)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data.tobytes())
    return Path(path)
