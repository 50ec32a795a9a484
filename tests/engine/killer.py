"""Test-only launcher of `pylib.bin.train` that SIGKILLs itself at an exact point of the run.

    python -m tests.engine.killer (--at-step N | --in-save N) -- <pylib.bin.train arguments>

--at-step N: right after optimizer step N (and the checkpoint it writes), or after the end of an
epoch when the run is at step N then (a `train(callbacks=...)` hook).
--in-save N: inside the checkpoint save of step N, after the temporary file is written and synced,
before it is renamed into place (the checkpoint module's torch.save is wrapped).
The crash tests (tests/engine/test_resume.py, tests/reliability/test_crash.py) start training
through this module; production code carries no test hook.
"""

import argparse
import os
import signal
import sys

import torch

from pylib.bin._cli import run
from pylib.engine import checkpoint as ckpt
from pylib.engine import trainer


def _die():
    os.kill(os.getpid(), signal.SIGKILL)


class KillAtStep:
    """train() callbacks: SIGKILL once the run reaches optimizer step `step`."""

    def __init__(self, step):
        self.step = step

    def on_step_end(self, state):
        if state.step == self.step:
            _die()

    on_epoch_end = on_step_end


def install_kill_at_step(step):
    real = trainer.train

    def train(*args, **kw):
        return real(*args, callbacks=KillAtStep(step), **kw)

    trainer.train = train  # pylib.engine.build imports trainer.train when the run starts


class _TorchDyingInSave:
    """The torch module as the checkpoint module sees it, with a save that dies after writing the
    checkpoint of step `step` (to the temporary file: the rename has not happened yet)."""

    def __init__(self, step):
        self.step = step

    def __getattr__(self, name):
        return getattr(torch, name)

    def save(self, obj, f, *args, **kw):
        torch.save(obj, f, *args, **kw)
        if isinstance(obj, dict) and obj.get("format") == ckpt.FORMAT and obj.get("step") == self.step:
            f.flush()
            os.fsync(f.fileno())
            _die()


def install_kill_in_save(step):
    ckpt.torch = _TorchDyingInSave(step)


def killer_args(kill_at_step=None, kill_in_save=None):
    """The command prefix of a training subprocess: `-m pylib.bin.train`, or the test launcher
    tests.engine.killer that SIGKILLs the run after step N or inside the save of step N."""
    if kill_at_step is not None:
        return ["-m", "tests.engine.killer", "--at-step", str(kill_at_step), "--"]
    if kill_in_save is not None:
        return ["-m", "tests.engine.killer", "--in-save", str(kill_in_save), "--"]
    return ["-m", "pylib.bin.train"]


def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--at-step", type=int, help="SIGKILL right after this optimizer step")
    where.add_argument("--in-save", type=int, help="SIGKILL inside the checkpoint save of this step")
    p.add_argument("train_args", nargs=argparse.REMAINDER, help="-- then the pylib.bin.train arguments")
    args = p.parse_args(argv)
    rest = args.train_args[1:] if args.train_args[:1] == ["--"] else args.train_args
    if args.at_step is not None:
        install_kill_at_step(args.at_step)
    else:
        install_kill_in_save(args.in_save)
    from pylib.bin import train as train_cli

    return train_cli.main(rest)


if __name__ == "__main__":
    run(main, sys.argv[1:])
