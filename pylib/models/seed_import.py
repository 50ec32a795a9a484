"""Import project-NN-Pytorch-scripts ("the seed") checkpoints as nnsp one-file models.

Each model family registers the seed architectures it can take in, named as the seed's folder
(`hn-sinc-nsf-9`, `lfcc-lcnn-lstmsum-p2s`, `rawnet2`, ...):

    register_seed_arch(SeedArch(name="hn-sinc-nsf-9", family="vocoder",
                                matches=fn(sd) -> bool, convert=fn(sd, where) -> (config, state_dict)))

`matches` looks only at the state dict's keys and shapes; `convert` returns the full nnsp config
(`data` and `model` sections, plain types) and the nnsp state dict. Without `--arch`, the
architecture is the single one whose `matches` is true; none or several is a named error that
lists the candidates. Files are always read with `weights_only=True`: nothing in them runs.
"""

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from pylib.errors import DataError, UserError
from pylib.io.atomic import atomic_path

FORMAT = "nnsp-model"
VERSION = 1
# old nnsp names of seed architectures -> the seed folder names used now
ALIASES = {"lfcc_lcnn_lstm_sig": "lfcc-lcnn-lstmsum-sig"}


@dataclass(frozen=True)
class SeedArch:
    name: str  # the seed's project folder name
    family: str  # "vocoder" | "cm"
    matches: Callable  # (state_dict) -> bool, from keys and shapes only
    convert: Callable  # (state_dict, where) -> (nnsp config dict, nnsp state_dict)
    description: str = ""  # one line for --help and error messages


SEED_ARCHS: dict = {}


def count_numbered(sd, prefix):
    """How many numbered submodules `<prefix>0.`, `<prefix>1.`, ... a seed state dict holds (a
    ModuleList's length, read off the keys)."""
    n = 0
    while any(k.startswith(f"{prefix}{n}.") for k in sd):
        n += 1
    return n


def check_layout(got, arch, where):
    """DataError unless a state dict's detected layout `got` (None: none known) is `arch`."""
    if got != arch:
        seen = f" (they look like {got})" if got else ""
        raise DataError(f"{where}: the keys do not match the seed's {arch} layout{seen}; "
                        f"pick the --arch it was trained in")


def register_seed_arch(arch):
    if arch.name in SEED_ARCHS and SEED_ARCHS[arch.name] is not arch:
        raise RuntimeError(f"seed architecture {arch.name!r} registered twice")
    SEED_ARCHS[arch.name] = arch
    return arch


def _fill():
    """Import every module that declares seed architectures (listed in pylib.models.catalogue)."""
    from pylib.models.catalogue import SEED_ARCH_MODULES

    for module in SEED_ARCH_MODULES:
        importlib.import_module(module)


def arch_names():
    _fill()
    return sorted(SEED_ARCHS)


def load_seed_state_dict(path):
    """The weights of a seed checkpoint: `trained_network.pt` (a state dict) or an epoch checkpoint
    that wraps it (`{"state_dict": ..., "optimizer": ...}`). Refuses pickled objects."""
    from pylib.engine.checkpoint import read_plain

    sd = read_plain(path, advice="a seed trained_network.pt or epoch checkpoint holds only tensors and "
                    "loads as it is")
    if isinstance(sd, dict) and isinstance(sd.get("state_dict"), dict):
        sd = sd["state_dict"]  # the seed trainer's epoch checkpoints wrap the weights
    if not isinstance(sd, dict) or not sd or not all(torch.is_tensor(v) for v in sd.values()):
        raise DataError(f"{path}: expected a state dict (name -> tensor) of a project-NN-Pytorch-scripts "
                        "model")
    return sd


def detect_arch(sd, where="checkpoint"):
    """The one registered architecture whose signature fits `sd`; otherwise a named error."""
    _fill()
    hits = [name for name, a in sorted(SEED_ARCHS.items()) if a.matches(sd)]
    if len(hits) == 1:
        return hits[0]
    keys = ", ".join(list(sd)[:6])
    if not hits:
        raise DataError(
            f"{where}: its keys match no known project-NN-Pytorch-scripts architecture (keys start "
            f"with: {keys}); known: {', '.join(sorted(SEED_ARCHS))}. Pass --arch if it is one of them"
        )
    raise DataError(
        f"{where}: its keys and shapes fit several architectures: {', '.join(hits)}; "
        f"pass --arch with the seed folder it was trained in"
    )


def resolve_arch(name):
    _fill()
    name = ALIASES.get(name, name)
    if name not in SEED_ARCHS:
        known = ", ".join(sorted(SEED_ARCHS))
        raise UserError(f"--arch {name!r} is not a known seed architecture; known: {known}")
    return SEED_ARCHS[name]


def convert_state_dict(sd, arch=None, where="checkpoint"):
    """(arch name, nnsp config, nnsp state dict) for a seed state dict."""
    name = resolve_arch(arch).name if arch else detect_arch(sd, where)
    config, state = SEED_ARCHS[name].convert(sd, where)
    return name, config, state


def import_checkpoint(checkpoint, out, arch=None):
    """Read a seed checkpoint, write the one-file model `out` atomically; returns (arch, model)."""
    from pylib.engine.export import build_from_config
    from pylib.models.catalogue import get_model_class

    sd = load_seed_state_dict(checkpoint)
    name, config, state = convert_state_dict(sd, arch, where=str(checkpoint))
    config = dict(config)
    config["imported_from"] = {"toolkit": "project-NN-Pytorch-scripts", "arch": name,
                               "checkpoint": str(checkpoint)}
    model = build_from_config(config, state, get_model_class)  # proves the file loads before it is written
    blob = {"format": FORMAT, "version": VERSION, "config": config, "state_dict": model.state_dict()}
    with atomic_path(Path(out), suffix=".pt") as tmp:
        torch.save(blob, str(tmp))
    return name, model
