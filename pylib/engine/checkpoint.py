"""Checkpoints that cannot be lost: one file with everything needed to continue bit-identically.

A checkpoint is a dict: format/version, model weights, every optimizer and schedule, the AMP
scaler, RNG states (python, numpy, torch, CUDA; one set per DDP rank), the sampler state and the
batches consumed in the current epoch, epoch/step counters, best metric, history and the resolved
config. It is written to a temp file in the same folder, fsynced, then renamed over the target, so
a kill at any moment leaves either the old or the new file.
"""

import errno
import os
import random
import re
from pathlib import Path

import numpy as np
import torch

from pylib.errors import UserError
from pylib.io.atomic import atomic_path

FORMAT = "nnsp-checkpoint"
VERSION = 1
LAST = "checkpoint_last.pt"
BEST = "checkpoint_best.pt"
_EPOCH_RE = re.compile(r"checkpoint_epoch(\d+)\.pt$")


def epoch_name(epoch):
    return f"checkpoint_epoch{epoch:04d}.pt"


def get_rng_state():
    """The RNG states of this process as plain python/torch objects."""
    np_state = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": (np_state[0], np_state[1].tolist(), *np_state[2:]),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state):
    random.setstate(state["python"])
    kind, keys, *rest = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), *rest))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path, state):
    """Write `state` atomically to `path` (temp file + fsync + rename)."""
    state = {"format": FORMAT, "version": VERSION, **state}
    try:
        with atomic_path(path, suffix=".pt") as tmp:
            with open(tmp, "wb") as f:
                torch.save(state, f)
                f.flush()
                os.fsync(f.fileno())
            kill = os.environ.get("NNSP_DEBUG_KILL_IN_SAVE")
            if kill is not None and int(kill) == state.get("step"):
                os.kill(os.getpid(), 9)  # test hook: die between writing the temp file and the rename
    except (OSError, RuntimeError) as e:  # torch.save wraps a failed write in a RuntimeError
        if _disk_full(e):  # atomic_path removed the temp file; the old checkpoint was never touched
            raise UserError(
                f"disk full while writing {path}; free space and rerun — the previous checkpoint is intact"
            ) from None
        raise
    return Path(path)


def _disk_full(e):
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    cause = e.__cause__ or e.__context__
    return cause is not None and cause is not e and _disk_full(cause) or "No space left" in str(e)


def load_checkpoint(path, map_location="cpu"):
    """Read a checkpoint written by save_checkpoint; a wrong file is a UserError naming it."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: checkpoint not found")
    try:
        state = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as e:  # a truncated or foreign file: say which one
        raise UserError(
            f"{path}: not a readable checkpoint ({type(e).__name__}: {e}); the file is truncated or of "
            "another kind: pass a checkpoint_*.pt of pylib.bin.train or a model.pt of export_model"
        ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise UserError(
            f"{path}: not an nnsp training checkpoint (no format={FORMAT!r} key); pass a checkpoint_*.pt "
            "of pylib.bin.train or a model.pt of export_model (project-NN files: import_project_nn)"
        )
    if state.get("version", 0) > VERSION:
        raise UserError(
            f"{path}: checkpoint version {state['version']} is newer than this nnsp ({VERSION}); update nnsp"
        )
    return state


def epoch_checkpoints(exp_dir):
    """[(epoch, path)] of checkpoint_epoch<N>.pt in exp_dir, oldest first."""
    out = []
    for p in Path(exp_dir).glob("checkpoint_epoch*.pt"):
        m = _EPOCH_RE.search(p.name)
        if m:
            out.append((int(m.group(1)), p))
    return sorted(out)


def prune_epoch_checkpoints(exp_dir, keep):
    for _, p in epoch_checkpoints(exp_dir)[: max(len(epoch_checkpoints(exp_dir)) - keep, 0)]:
        p.unlink(missing_ok=True)


def resolve_checkpoint(exp_dir, which):
    """'best' | 'last' | a path -> the checkpoint path; 'best' falls back to 'last' when absent."""
    exp_dir = Path(exp_dir)
    if which == "best":
        if (exp_dir / BEST).is_file():
            return exp_dir / BEST
        which = "last"
    if which == "last":
        p = exp_dir / LAST
        if not p.is_file():
            raise UserError(
                f"{p}: no checkpoint in {exp_dir}; train first (stage 3) or pass --checkpoint PATH"
            )
        return p
    return Path(which)
