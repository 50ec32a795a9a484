"""The `data:` section of a recipe yaml as dataclasses (see docs/INTERFACES.md).

Units: `reso` is waveform samples per frame (1 for a waveform); `truncate` and `min_len` are in
samples; `length_tolerance` is in frames of the coarsest feature (the largest reso).
"""

import math
from dataclasses import dataclass, field
from typing import Literal

from pylib.config import from_dict
from pylib.errors import ConfigError

AUDIO_EXTS = (".wav", ".flac")


@dataclass
class FeatureSpec:
    """One feature: files `<data-dir>/<root>/<name>/<utt><ext>`, shape (frames, dim)."""

    name: str
    ext: str = ".f4"  # .f4 (raw <f4) or .wav/.flac (waveforms, dim 1, reso 1)
    dim: int = 1
    reso: int = 1  # waveform samples per frame
    norm: bool = False  # the model normalises it with <stats>/<name>.mean/.std
    f0: bool = False  # statistics over voiced frames (value > 0) only

    def __post_init__(self):
        if not self.name or "/" in self.name or self.name.endswith("_len") or self.name.endswith("_mask"):
            raise ConfigError(f"feature name {self.name!r}: must be a plain name not ending in _len/_mask")
        if self.ext and not self.ext.startswith("."):
            self.ext = "." + self.ext
        if self.dim < 1 or self.reso < 1:
            raise ConfigError(
                f"feature {self.name!r}: dim and reso must be >= 1 (got {self.dim}, {self.reso})"
            )
        if self.is_audio and (self.dim != 1 or self.reso != 1):
            raise ConfigError(f"feature {self.name!r}: a {self.ext} waveform has dim 1 and reso 1")

    @property
    def is_audio(self):
        return self.ext.lower() in AUDIO_EXTS


@dataclass
class CorpusSpec:
    """One corpus: a dump folder (relative to --data-dir), its list, optional labels and folders."""

    root: str
    list: str | None = None  # default <root>/<root-name>.lst; relative to --data-dir
    labels: bool = False  # read <root>/utt2label (bonafide/spoof [attack])
    dirs: dict[str, str] = field(default_factory=dict)  # {feature: folder} relative to --data-dir


@dataclass
class DataSpec:
    """The loader's configuration; parse it with `load_data_spec(section)`."""

    sample_rate: int = 16000
    inputs: list[FeatureSpec] = field(default_factory=list)
    outputs: list[FeatureSpec] = field(default_factory=list)
    truncate: int | None = None  # training segment in samples; None = whole utterances
    min_len: int = 0  # training utterances shorter than this (samples) are left out and counted
    length_tolerance: int = 2  # frames (of the coarsest feature) trimmed silently
    on_mismatch: Literal["error", "skip"] = "error"
    segments: Literal["crop", "split"] = "crop"  # crop: one random crop per utterance and epoch;
    # split: NII-style consecutive segments of `truncate`, the last kept if >= min_len
    batch_size: int = 8
    max_frames: int | None = None  # budget in padded samples per batch (replaces batch_size)
    bucket_batches: int = 50  # batches per length bucket when shuffling (bigger = less padding)
    balanced: bool = False  # training epochs draw as many spoof as bona fide utterances
    num_workers: int = 0
    stats: str = "train/stats"  # folder of <feat>.mean/.std relative to --data-dir
    train: list[CorpusSpec] = field(default_factory=list)
    dev: list[CorpusSpec] = field(default_factory=list)

    def __post_init__(self):
        names = [f.name for f in self.inputs + self.outputs]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ConfigError(f"data: feature name(s) {dup} appear more than once in inputs/outputs")
        if not self.inputs:
            raise ConfigError("data.inputs: at least one input feature is required")
        if self.batch_size < 1:
            raise ConfigError(f"data.batch_size: must be >= 1, got {self.batch_size}")
        if self.truncate is not None:
            step = frame_step(self.inputs + self.outputs)
            if self.truncate <= 0 or self.truncate % step:
                raise ConfigError(
                    f"data.truncate: {self.truncate} samples is not a positive multiple of {step} "
                    f"(the least common multiple of the features' reso); use e.g. "
                    f"{max(step, self.truncate // step * step)}"
                )
        if self.segments == "split" and self.truncate is None:
            raise ConfigError("data.segments: 'split' needs data.truncate (the segment length in samples)")

    @property
    def features(self):
        return self.inputs + self.outputs

    def feature(self, name):
        for f in self.features:
            if f.name == name:
                return f
        raise ConfigError(f"data: no feature named {name!r}; known: {[f.name for f in self.features]}")


def frame_step(features):
    """Samples between common frame boundaries of `features`: the lcm of their reso."""
    step = 1
    for f in features:
        step = step * f.reso // math.gcd(step, f.reso)
    return step


def load_data_spec(section):
    """The `data:` mapping -> DataSpec; unknown keys and bad values are ConfigErrors naming the key."""
    return from_dict(DataSpec, section, where="data")


def as_corpora(corpora):
    """A list of CorpusSpec/dicts, one CorpusSpec, or a set name -> list[CorpusSpec]."""
    if isinstance(corpora, str):
        return [CorpusSpec(root=corpora)]
    if isinstance(corpora, CorpusSpec):
        return [corpora]
    out = []
    for i, c in enumerate(corpora):
        out.append(c if isinstance(c, CorpusSpec) else from_dict(CorpusSpec, c, where=f"corpora[{i}]"))
    if not out:
        raise ConfigError("no corpora given: set data.train / data.dev in the config or pass a set name")
    return out
