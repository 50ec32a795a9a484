import numpy as np
import pytest

from pylib.errors import DataError
from pylib.io import num_frames_f4, open_f4, read_f4, write_f4
from tests.conftest import rng


@pytest.mark.parametrize("dtype", ["<f4", ">f4", "<f8", ">f8", "<i2", "<i4"])
@pytest.mark.parametrize("shape", [(0, 3), (1, 1), (7, 3), (5, 80)])
def test_round_trip_dtypes_and_shapes(tmp_path, dtype, shape):
    data = (rng(1).standard_normal(shape) * 100).astype(dtype)
    path = write_f4(tmp_path / "sub" / "x.f4", data)
    assert path.stat().st_size == data.size * 4
    back = read_f4(path, shape[1])
    assert back.dtype == np.float32 and back.shape == shape
    np.testing.assert_array_equal(back, data.astype(np.float32))
    mm = open_f4(path, shape[1])
    assert mm.shape == shape
    np.testing.assert_array_equal(np.asarray(mm), back)
    assert num_frames_f4(path, shape[1]) == shape[0]


def test_bytes_are_little_endian_row_major(tmp_path):
    data = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=">f4")
    write_f4(tmp_path / "x.f4", data)
    raw = (tmp_path / "x.f4").read_bytes()
    assert raw == np.array([1, 2, 3, 4], dtype="<f4").tobytes()


def test_1d_reads_back_as_column(tmp_path):
    write_f4(tmp_path / "w.f4", np.arange(10))
    assert read_f4(tmp_path / "w.f4", 1).shape == (10, 1)


def test_size_not_multiple_of_dim(tmp_path):
    p = tmp_path / "bad.f4"
    p.write_bytes(b"\0" * 20)
    with pytest.raises(ValueError) as e:
        read_f4(p, 3)
    msg = str(e.value)
    assert "bad.f4" in msg and "20" in msg and "dim 3" in msg
    with pytest.raises(DataError):
        open_f4(p, 3)


def test_missing_file_names_it(tmp_path):
    with pytest.raises(DataError, match="nope.f4"):
        read_f4(tmp_path / "nope.f4", 2)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_inf_rejected(tmp_path, bad):
    data = np.zeros((4, 2), np.float32)
    data[2, 1] = bad
    write_f4(tmp_path / "n.f4", data)
    with pytest.raises(DataError, match=r"n\.f4.*NaN or Inf.*\(2, 1\)"):
        read_f4(tmp_path / "n.f4", 2)
    assert read_f4(tmp_path / "n.f4", 2, check_finite=False).shape == (4, 2)


def test_write_is_atomic_on_failure(tmp_path, monkeypatch):
    p = tmp_path / "x.f4"
    write_f4(p, np.ones((2, 2)))

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr("pylib.io.atomic.os.replace", boom)
    with pytest.raises(OSError):
        write_f4(p, np.zeros((9, 2)))
    monkeypatch.undo()
    np.testing.assert_array_equal(read_f4(p, 2), np.ones((2, 2)))
    assert sorted(x.name for x in tmp_path.iterdir()) == ["x.f4"]


def test_written_files_get_the_umask_mode(tmp_path):
    import os

    mask = os.umask(0o022)
    os.umask(mask)
    p = write_f4(tmp_path / "m.f4", np.ones((1, 1)))
    assert p.stat().st_mode & 0o777 == 0o666 & ~mask
