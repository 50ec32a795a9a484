"""One-file models (`model.pt`): export from an experiment folder, load anywhere.

Format (docs/INTERFACES.md): torch.save of {"format": "nnsp-model", "version": 1, "config": the
resolved recipe config (all sections, plain types), "state_dict": the weights incl. norm buffers}.
"""

import os
from pathlib import Path

import torch

from pylib.config import upgrade_legacy_config
from pylib.engine import checkpoint as ckpt
from pylib.errors import UserError
from pylib.io.atomic import atomic_path

FORMAT = "nnsp-model"
VERSION = 1


def export_model(exp_dir, out, checkpoint="best"):
    """Pack the weights and config of `exp_dir`'s checkpoint ('best' | 'last' | a path) into `out`."""
    path = ckpt.resolve_checkpoint(exp_dir, checkpoint)
    if Path(out).resolve() == Path(path).resolve():
        raise UserError(f"{out}: is the checkpoint being exported; pass another output path")
    state = ckpt.load_checkpoint(path)
    blob = {
        "format": FORMAT,
        "version": VERSION,
        "config": state["config"],
        "state_dict": state["model"],
        "source": {"checkpoint": str(path), "epoch": state["epoch"], "step": state["step"]},
    }
    ckpt.check_plain(blob, "model file")
    with atomic_path(out, suffix=".pt") as tmp:
        with open(tmp, "wb") as f:
            torch.save(blob, f)
            f.flush()
            os.fsync(f.fileno())
    return Path(out)


def read_model_file(path):
    """The dict of a one-file model; a wrong file is a UserError naming it."""
    blob = ckpt.read_plain(path, "nnsp model file")
    return check_model_file(path, blob)


def check_model_file(path, blob):
    """`blob` (read from `path`) is a one-file model of a version this nnsp reads; returns it."""
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise UserError(
            f"{path}: not an nnsp one-file model (export one with python -m pylib.bin.export_model)"
        )
    if blob.get("version", 0) > VERSION:
        raise UserError(f"{path}: model file version {blob['version']} is newer than this nnsp; update nnsp")
    if isinstance(blob.get("config"), dict):  # key names of an earlier release, e.g. model mel_dim -> n_mels
        blob["config"] = upgrade_legacy_config(blob["config"])
    return blob


def build_from_config(config, state_dict, model_class, device="cpu"):
    """Model of `config` with `state_dict` loaded, in eval mode on `device`.

    model_class: name -> model class (`get_model_class` of the model catalogue for nnsp's models);
    the caller hands it in, the engine never imports model code."""
    from pylib.engine.build import build_model
    from pylib.engine.data import spec_for

    spec, _ = spec_for(config)
    model, _ = build_model(config, spec, model_class)
    model.load_state_dict(state_dict)
    return model.to(device).eval()


def load_model(path, model_class, device="cpu"):
    """A one-file model -> ready nn.Module in eval mode on `device` (e.g. "cpu", "cuda:0").

    model_class: name -> model class (`pylib.load_model(path)` hands in nnsp's catalogue)."""
    blob = read_model_file(path)
    return build_from_config(blob["config"], blob["state_dict"], model_class, device)
