"""Atomic file writes: write to a temp file in the same folder, then rename over the target."""

import contextlib
import errno
import os
import tempfile
from pathlib import Path

from pylib.errors import DataError


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp creates 0600 files; outputs get the mode a plain open() would give them.
_FILE_MODE = 0o666 & ~_umask()


@contextlib.contextmanager
def atomic_path(path, suffix=""):
    """Yield a temp path next to `path`; on success it is renamed to `path`, on error removed.

    The temp name keeps `suffix` (e.g. ".wav") so libraries that pick a format from it still work.
    """
    path = Path(path)
    make_folder(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=(suffix or ".tmp"), dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if e.errno in (errno.ENOSPC, errno.EDQUOT) and e.filename in (None, tmp, str(tmp)):
            raise OSError(e.errno, os.strerror(e.errno), str(path)) from None  # name the target
        raise
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def make_folder(folder):
    """mkdir -p `folder`; a DataError naming the part of it that is a file, not a folder."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        part = next((p for p in [folder, *folder.parents] if p.exists() and not p.is_dir()), folder)
        raise DataError(
            f"{folder}: cannot create this folder because {part} is a file, not a folder; remove or "
            f"rename that file, or choose another output location"
        ) from None
    return folder


def write_bytes_atomic(path, data):
    """Write bytes `data` to `path` atomically."""
    with atomic_path(path, suffix=Path(path).suffix) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)


def move_aside(folder, entries):
    """Move `entries` (paths inside `folder`) into the first free `<folder>.N`; returns that folder.
    Nothing is deleted: an earlier run's files stay whole beside the new one."""
    n = 1
    while Path(f"{folder}.{n}").exists():
        n += 1
    dest = Path(f"{folder}.{n}")
    dest.mkdir(parents=True)
    for p in entries:
        Path(p).rename(dest / Path(p).name)
    return dest


def write_text_atomic(path, text):
    """Write `text` to `path` atomically (UTF-8)."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
