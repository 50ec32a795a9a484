"""Checkpoints that cannot be lost: one file with everything needed to continue bit-identically.

A checkpoint is a dict: format/version, model weights, every optimizer and schedule, the AMP
scaler, RNG states (python, numpy, torch, CUDA; one set per DDP rank), the sampler state and the
batches consumed in the current epoch, epoch/step counters, best metric, history and the resolved
config. It is written to a temp file in the same folder, fsynced, then renamed over the target, so
a kill at any moment leaves either the old or the new file.
"""

import errno
import hashlib
import io
import os
import pickle
import random
import re
from pathlib import Path

import numpy as np
import torch

from pylib.config import upgrade_legacy_config
from pylib.errors import DataError, UserError
from pylib.io.atomic import atomic_path

FORMAT = "nnsp-checkpoint"
VERSION = 1
LAST = "checkpoint_last.pt"
BEST = "checkpoint_best.pt"
_EPOCH_RE = re.compile(r"checkpoint_epoch(\d+)\.pt$")


def epoch_name(epoch):
    return f"checkpoint_epoch{epoch:04d}.pt"


def get_rng_state():
    """The RNG states of this process as tensors and plain python values (loadable weights-only)."""
    np_state = np.random.get_state()
    version, mt, gauss = random.getstate()
    state = {
        "python": [int(version), torch.tensor(mt, dtype=torch.int64), gauss],
        "numpy": [
            str(np_state[0]),
            torch.from_numpy(np_state[1].astype(np.int64)),
            *map(_plain_number, np_state[2:]),
        ],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _plain_number(x):
    return x.item() if isinstance(x, np.generic) else x


def set_rng_state(state):
    version, mt, gauss = state["python"]
    random.setstate((int(version), tuple(int(v) for v in torch.as_tensor(mt).tolist()), gauss))
    kind, keys, *rest = state["numpy"]
    np.random.set_state((kind, np.asarray(torch.as_tensor(keys).tolist(), dtype=np.uint32), *rest))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


_PLAIN = (str, int, float, bool, type(None))


def check_plain(obj, where="checkpoint"):
    """Raise TypeError unless `obj` is tensors and plain values (dict, list, tuple, str, numbers,
    None) all the way down: what torch.load(weights_only=True) reads back without running code."""
    if isinstance(obj, _PLAIN) or torch.is_tensor(obj):
        return
    if isinstance(obj, dict):
        for k, v in obj.items():
            if not isinstance(k, _PLAIN):
                raise TypeError(f"{where}: key {k!r} of type {type(k).__name__} is not a plain value")
            check_plain(v, f"{where}.{k}")
        return
    if isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            check_plain(v, f"{where}[{i}]")
        return
    raise TypeError(f"{where}: {type(obj).__module__}.{type(obj).__name__} is not a tensor or plain value")


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _refused_global(text):
    m = re.search(r"GLOBAL ([\w.]+)", text)
    return f" ({m.group(1)})" if m else ""


NNSP_FILES = ("use a checkpoint_*.pt written by pylib.bin.train or a model.pt of export_model (a project-NN "
              "checkpoint: convert it with pylib.bin.import_project_nn)")


def read_plain(path, what="checkpoint", hint="", map_location="cpu", with_hash=False, advice=NNSP_FILES):
    """torch.load of `path` with weights_only=True: tensors and plain values only, nothing in the file
    runs. A file holding pickled objects is refused with a DataError saying so (and `advice` on what
    to use instead); a truncated or foreign one is a DataError naming it. A missing file is a
    UserError. with_hash: (obj, sha256 of the exact bytes read)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: {what} not found{hint}")
    raw = path.read_bytes()
    try:
        obj = torch.load(io.BytesIO(raw), map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        text = str(e)
        if re.search(r"GLOBAL|global", text):
            raise DataError(
                f"{path}: refused: the file holds pickled Python objects{_refused_global(text)}, not only "
                f"tensors and plain values, and nnsp never runs code from a data file; {advice}{hint}"
            ) from None
        raise DataError(
            f"{path}: not a readable {what}: the file is truncated, of another kind, or a pickle that is "
            f"not only tensors and plain values (nnsp runs no code from files, so it was not loaded){hint}"
        ) from None
    except Exception as e:  # truncated, text, zip damage...
        raise DataError(
            f"{path}: not a readable {what} ({type(e).__name__}: {_first_line(e)}); the file is truncated "
            f"or of another kind{hint}"
        ) from None
    return (obj, hashlib.sha256(raw).hexdigest()) if with_hash else obj


def _first_line(e):
    text = str(e).strip().splitlines()
    return text[0][:200] if text else ""


def save_checkpoint(path, state):
    """Write `state` atomically to `path` (temp file + fsync + rename)."""
    state = {"format": FORMAT, "version": VERSION, **state}
    check_plain(state)
    try:
        with atomic_path(path, suffix=".pt") as tmp:
            with open(tmp, "wb") as f:
                torch.save(state, f)
                f.flush()
                os.fsync(f.fileno())
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


def load_checkpoint(path, map_location="cpu", state=None):
    """Read a checkpoint written by save_checkpoint; a wrong file is a UserError naming it.

    state: the object already read from `path` (read_plain), to check it without reading again."""
    path = Path(path)
    if state is None:
        state = read_plain(
            path,
            "checkpoint",
            "; pass a checkpoint_*.pt of pylib.bin.train or a model.pt of export_model",
            map_location,
        )
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise UserError(
            f"{path}: not an nnsp training checkpoint (no format={FORMAT!r} key); pass a checkpoint_*.pt "
            "of pylib.bin.train or a model.pt of export_model (project-NN files: import_project_nn)"
        )
    if state.get("version", 0) > VERSION:
        raise UserError(
            f"{path}: checkpoint version {state['version']} is newer than this nnsp ({VERSION}); update nnsp"
        )
    if isinstance(state.get("config"), dict):  # key names of an earlier release, e.g. data reso -> hop
        state["config"] = upgrade_legacy_config(state["config"])
    return state


def epoch_checkpoints(exp_dir):
    """[(epoch, path)] of checkpoint_epoch<N>.pt in exp_dir, oldest first."""
    out = []
    for p in Path(exp_dir).glob("checkpoint_epoch*.pt"):
        m = _EPOCH_RE.search(p.name)
        if m:
            out.append((int(m.group(1)), p))
    return sorted(out)


def prune_epoch_checkpoints(exp_dir, keep, own):
    """Remove all but the newest `keep` of the epoch checkpoints in `own` (the epochs this run wrote;
    any other checkpoint_epoch*.pt in exp_dir is left alone). Returns the epochs kept."""
    own = sorted(set(own))
    drop, kept = own[: max(len(own) - keep, 0)], own[max(len(own) - keep, 0) :]
    for epoch in drop:
        (Path(exp_dir) / epoch_name(epoch)).unlink(missing_ok=True)
    return kept


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
