"""One writer per output folder: an exclusive lock file holding the holder's pid and host.

`train` and `infer` hold `<folder>/.nnsp.lock` while they write there. The lock is an fcntl lock on
that file, so the kernel releases it whenever the holder ends, however it ends (exception, signal,
SIGKILL): a dead holder never blocks the next run. The file itself records who holds it (pid, host,
start time, command), so a second run's error names the holder; it is removed on a clean exit and
simply taken over when left behind by a killed one.
"""

import contextlib
import errno
import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path

from pylib.errors import UserError

LOCK_NAME = ".nnsp.lock"


def _holder_text(path):
    try:
        info = json.loads(Path(path).read_text(encoding="utf-8"))
        return (
            f"pid {info.get('pid')} on host {info.get('host')}, started "
            f"{info.get('started')} ({info.get('command')})"
        )
    except (OSError, ValueError, AttributeError):
        return "a process whose details are not written yet"


class DirLock:
    """Exclusive lock on `folder` (created if needed). Use as a context manager or acquire/release.

    what: what the holder does there, for the error message ("training", "inference")."""

    def __init__(self, folder, what="a run"):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.what = what
        self.fd = None

    def acquire(self):
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise UserError(
                f"{self.folder}: cannot be made a folder (it, or a folder above it, is a file); pass "
                "another output folder"
            ) from None
        for _ in range(20):  # retried only when a releasing holder removed the file under us
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                os.close(fd)
                if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise
                raise UserError(
                    f"{self.folder}: another {self.what} is writing here ({_holder_text(self.path)}; lock "
                    f"file {self.path}); wait for it to finish or stop it, or use another output folder"
                ) from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if not same:  # the previous holder removed the file after we opened it: take a fresh one
                os.close(fd)
                continue
            info = {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                "command": " ".join(sys.argv)[:300],
            }
            try:
                os.ftruncate(fd, 0)
                os.write(fd, (json.dumps(info) + "\n").encode())
            except OSError:  # e.g. a full disk: leave no lock file behind
                with contextlib.suppress(OSError):
                    os.unlink(self.path)
                os.close(fd)
                raise
            self.fd = fd
            return self
        raise UserError(f"{self.path}: could not take the lock (the file keeps changing); rerun")

    def release(self):
        if self.fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)  # still holding the lock: nobody can have taken it meanwhile
        os.close(self.fd)
        self.fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
        return False


def lock_dir(folder, what="a run", enabled=True):
    """DirLock(folder) as a context manager, or a no-op one when not `enabled` (DDP ranks > 0)."""
    return DirLock(folder, what) if enabled else contextlib.nullcontext()
