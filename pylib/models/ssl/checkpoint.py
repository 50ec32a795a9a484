"""Where an SSL checkpoint is and what it holds, without importing torch or transformers: the
checks and the error a missing checkpoint gets, its dims for stage 2, the `layers` setting."""

import json
import math
from pathlib import Path

from pylib.errors import ConfigError, UserError


def missing_checkpoint_message(path, where):
    return (
        f"{where}: SSL checkpoint {path} not found. nnsp downloads nothing: get a checkpoint and point "
        f"{where} at it. A fairseq checkpoint (the seed's project/07-asvspoof-ssl/01_download_ssl.sh lists "
        f"them, e.g. https://dl.fbaipublicfiles.com/fairseq/wav2vec/xlsr_53_56k.pt) is used as it is or "
        f"converted once with `python -m pylib.bin.convert_ssl --checkpoint xlsr_53_56k.pt --out DIR`; a "
        f"Hugging Face model folder (config.json + weights) is fetched beforehand, e.g. `huggingface-cli "
        f"download facebook/wav2vec2-xls-r-300m --local-dir DIR`; a tiny random model for toy runs comes "
        f"from `python -m pylib.bin.make_tiny_ssl --out DIR`. See docs/ssl.md"
    )


def resolve_kind(path, kind="auto", where="ssl.path"):
    """'hf' or 'fairseq' for a checkpoint path; a UserError when it is missing or of the wrong kind."""
    if not str(path):
        raise ConfigError(f"{where} is empty; " + missing_checkpoint_message("''", where).split(". ", 1)[1])
    p = Path(path)
    if not p.exists():
        raise UserError(missing_checkpoint_message(p, where))
    if kind == "auto":
        kind = "hf" if p.is_dir() else "fairseq"
    if kind == "hf" and not (p / "config.json").is_file():
        raise UserError(
            f"{where}: {p} is not a Hugging Face model folder (no config.json in it); give the folder that "
            f"save_pretrained or `huggingface-cli download --local-dir` wrote, or a fairseq .pt"
        )
    if kind == "fairseq" and not p.is_file():
        raise UserError(f"{where}: {p} is a folder, not a fairseq checkpoint file; use kind: hf or auto")
    if kind not in ("hf", "fairseq"):
        raise ConfigError(f"{where}: kind must be auto, hf or fairseq, got {kind!r}")
    return kind


def ssl_dims(path, kind="auto", where="ssl.path"):
    """(hidden size D, hidden states L = transformer layers + 1, frame shift in samples) of a local
    checkpoint, read from its config.json or fairseq settings without importing transformers."""
    kind = resolve_kind(path, kind, where)
    if kind == "fairseq":
        from pylib.models.ssl.fairseq import fairseq_settings

        _, conf = fairseq_settings(path)
    else:
        try:
            conf = json.loads((Path(path) / "config.json").read_text(encoding="utf-8"))
            conf = {k: conf[k] for k in ("hidden_size", "num_hidden_layers", "conv_stride")}
        except (ValueError, KeyError) as e:
            raise UserError(f"{where}: {path}/config.json is not a usable model config ({e!r})") from None
    return int(conf["hidden_size"]), int(conf["num_hidden_layers"]) + 1, int(math.prod(conf["conv_stride"]))


def parse_layers(layers, n_layers, where):
    """'last' | 'all' | an index (negative from the end) -> 'last', 'all' or a non-negative int."""
    if layers in ("last", "all"):
        return layers
    if isinstance(layers, str):
        try:
            layers = int(layers)
        except ValueError:
            raise ConfigError(f"{where}.layers must be last, all or a layer index, got {layers!r}") from None
    if isinstance(layers, bool) or not -n_layers <= layers < n_layers:
        raise ConfigError(
            f"{where}.layers: {layers!r} is out of range; this model has {n_layers} hidden states "
            f"(0 = the CNN projection, {n_layers - 1} = the last transformer layer)"
        )
    return layers % n_layers
