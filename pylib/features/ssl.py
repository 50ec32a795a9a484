"""The `ssl` feature extractor: frames of a frozen self-supervised model (wav2vec 2.0 / XLSR, HuBERT,
WavLM), cached by stage 1 like any other `<f4` feature so that a back end trains on them many
times without running the SSL model (docs/ssl.md "Caching").

Output: (N, D) frames for `layers: last` or an index, (N, L * D) for `layers: all`, layer-major
(a frame holds hidden state 0's D values, then hidden state 1's, ...; reshape to (N, L, D)); the
hop is the model's frame shift (320 samples for every supported model). The checkpoint's content
hash goes into features.yaml (`outputs.<name>.checkpoint`), so a changed checkpoint makes stage 1
refuse the old dump (rerun with --overwrite), as a changed setting does.

This is the one extractor that reaches up into pylib.models (the front end), lazily: dims and
hop come from the checkpoint's config without importing torch or transformers.
"""

import dataclasses
import hashlib
import os
import re
from pathlib import Path
from typing import Literal

import numpy as np

from pylib.errors import ConfigError

_HASHES = {}  # (path, size, mtime_ns) -> sha256, so that one process hashes a checkpoint once


@dataclasses.dataclass
class SSLFeatureConfig:
    path: str = ""  # local HF folder (config.json + weights) or fairseq .pt; nothing is downloaded
    kind: Literal["auto", "hf", "fairseq"] = "auto"  # auto: a folder is hf, a file is fairseq
    layers: str | int = "last"  # last | all (L * D per frame, layer-major) | a hidden-state index
    normalize: bool = False  # true: each utterance to zero mean, unit variance first; false: raw (seed)
    device: str = "cpu"  # cpu | cuda | cuda:N: where the SSL model runs during extraction


def _file_hash(path):
    st = os.stat(path)
    key = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)
    if key not in _HASHES:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                h.update(block)
        _HASHES[key] = h.hexdigest()
    return _HASHES[key]


def checkpoint_hash(path):
    """sha256 (first 16 hex digits) over a checkpoint's files: the .pt itself, or a folder's
    config.json and weight files (*.safetensors, *.bin, *.pt, *.pth), by name."""
    p = Path(path)
    files = (
        [p]
        if p.is_file()
        else sorted(
            f
            for f in p.iterdir()
            if f.is_file()
            and (f.name == "config.json" or f.suffix in (".safetensors", ".bin", ".pt", ".pth"))
        )
    )
    h = hashlib.sha256()
    for f in files:
        h.update(f"{f.name}\0{_file_hash(f)}\0".encode())
    return h.hexdigest()[:16]


class SSLExtractor:
    """SSL model frames: (T,) -> (T // frame_shift (about), D or L * D)."""

    Config = SSLFeatureConfig
    ext = ".f4"
    FACT_KEYS = {"dim": "layers", "hop": "path"}

    def __init__(self, cfg, sample_rate):
        from pylib.models.ssl.checkpoint import parse_layers, ssl_dims

        if sample_rate != 16000:
            raise ConfigError(
                f"ssl: the supported SSL models take 16 kHz audio, the features section says sample_rate "
                f"{sample_rate}; set features.sample_rate: 16000 (and resample: true if the corpus differs)"
            )
        where = "features.extractors.<ssl>"
        if not re.fullmatch(r"cpu|cuda(:\d+)?|mps", str(cfg.device)):
            raise ConfigError(f"{where}.device must be cpu, cuda, cuda:N or mps, got {cfg.device!r}")
        self.cfg = cfg
        width, self.n_layers, self.hop = ssl_dims(cfg.path, cfg.kind, f"{where}.path")
        self.layers = parse_layers(cfg.layers, self.n_layers, where)
        self.dim = width * (self.n_layers if self.layers == "all" else 1)
        self._frontend = None

    def provenance(self):
        """What features.yaml records beside dim/hop/ext: the checkpoint's content hash."""
        return {"checkpoint": checkpoint_hash(self.cfg.path)}

    @property
    def frontend(self):
        """The frozen front end, built on first use."""
        if self._frontend is None:
            from pylib.models.ssl.frontend import SSLFrontendConfig, build_ssl_frontend

            c = self.cfg
            fe_cfg = SSLFrontendConfig(
                path=c.path, kind=c.kind, layers=c.layers, finetune=False, normalize=c.normalize
            )
            self._frontend = build_ssl_frontend(fe_cfg, "features.extractors.<ssl>").to(c.device)
        return self._frontend

    def __call__(self, wave):
        import torch

        fe = self.frontend
        x = torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))[None, :]
        feats, _ = fe(x)
        return feats[0].reshape(feats.shape[1], -1).float().cpu().numpy()
