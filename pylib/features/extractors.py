"""The stage-1 extractors (`logmel`, `f0`, `wave`; `lfcc` in pylib.features.lfcc), their catalogue
`FEATURES` (the `type:` of an extractor -> its class) and the yaml `features:` section.

Each extractor follows docs/INTERFACES.md "Feature extractors": a `Config` dataclass (its yaml
keys minus `type`), `ext`, `dim`, `hop`, and `__call__(wave (T,)) -> (N, dim) float32`; optionally
`FACT_KEYS` ({"dim"/"hop": the Config key that sets it}, for error messages).
"""

import dataclasses
from typing import Literal

import numpy as np

from pylib.config import from_dict
from pylib.errors import ConfigError
from pylib.registry import Catalogue

# torch, the F0 tracker and scipy's resampling are imported when an extractor first runs, not here:
# stage 2 (make_lists, compute_stats) only asks what the extractors output (`describe_outputs`),
# and importing torch costs a few seconds per process.

# Every extractor type nnsp ships. A new one is a line here; code outside nnsp is named in the
# config as `type: package.module:Class`.
FEATURES = Catalogue(
    "feature",
    {
        "logmel": "pylib.features.extractors:LogMelExtractor",
        "f0": "pylib.features.extractors:F0Extractor",
        "wave": "pylib.features.extractors:WaveExtractor",
        "lfcc": "pylib.features.lfcc:LfccExtractor",
        "ssl": "pylib.features.ssl:SSLExtractor",
    },
    where="pylib/features/extractors.py",
    key="type",
)


@dataclasses.dataclass
class LogMelConfig:
    n_fft: int = 1024  # FFT size (samples)
    hop: int = 80  # frame shift (samples); also the feature's hop
    win_length: int = 320  # Hann window length (samples), <= n_fft
    n_mels: int = 80  # mel bands (the feature's dim)
    fmin: float = 0.0  # lowest filter edge (Hz)
    fmax: float | None = None  # highest filter edge (Hz); null = sample_rate / 2
    log_floor: float = 1e-5  # log(max(mel, log_floor))
    power: float = 1.0  # 1 = magnitude spectrum (vocoder convention), 2 = power spectrum


class LogMelExtractor:
    """Log-mel spectrogram: (T,) -> (T // hop + 1, n_mels)."""

    Config = LogMelConfig
    ext = ".f4"
    FACT_KEYS = {"dim": "n_mels", "hop": "hop"}

    def __init__(self, cfg, sample_rate):
        _check_positive(cfg, ("n_fft", "hop", "win_length", "n_mels"))
        if cfg.win_length > cfg.n_fft:
            raise ConfigError(f"logmel: win_length {cfg.win_length} is longer than n_fft {cfg.n_fft}")
        fmax = sample_rate / 2.0 if cfg.fmax is None else cfg.fmax
        if not 0 <= cfg.fmin < fmax <= sample_rate / 2.0:
            raise ConfigError(
                f"logmel: need 0 <= fmin < fmax <= sample_rate/2 ({sample_rate / 2:g}), "
                f"got fmin={cfg.fmin}, fmax={fmax}"
            )
        self.cfg, self.dim, self.hop = cfg, cfg.n_mels, cfg.hop
        self.sample_rate, self.fmax = sample_rate, fmax
        self._module = None

    @property
    def module(self):
        """The LogMel torch module, built on first use."""
        if self._module is None:
            from pylib.features.mel import LogMel

            c = self.cfg
            self._module = LogMel(self.sample_rate, c.n_fft, c.hop, c.win_length, c.n_mels, c.fmin, self.fmax,
                                  c.log_floor, center=True, power=c.power)
        return self._module

    def __call__(self, wave):
        import torch

        with torch.no_grad():
            return self.module(torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))).numpy()


@dataclasses.dataclass
class F0Config:
    method: Literal["yin", "harvest", "dio"] = "yin"  # yin: ours, fast; harvest/dio: WORLD via pyworld
    hop: int = 80  # frame shift (samples); set it to the mel's hop so the frame counts agree
    fmin: float = 60.0  # lowest F0 searched (Hz)
    fmax: float = 500.0  # highest F0 searched (Hz)
    voicing_threshold: float = 0.3  # yin only: a frame is voiced when its CMND minimum is below this
    stay_threshold: float | None = 0.65  # yin only: voiced runs grow into frames with a dip below this
    max_grow: int = 20  # yin only: at most this many frames of growth per side of a voiced run
    max_gap: int = 4  # yin only: unvoiced gaps up to this many frames between runs of like pitch are voiced


class F0Extractor:
    """F0 in Hz, 0 = unvoiced: (T,) -> (T // hop + 1, 1)."""

    Config = F0Config
    ext = ".f4"
    dim = 1
    FACT_KEYS = {"hop": "hop"}

    def __init__(self, cfg, sample_rate):
        _check_positive(cfg, ("hop",))
        if not 0 < cfg.fmin < cfg.fmax < sample_rate / 2.0:
            raise ConfigError(
                f"f0: need 0 < fmin < fmax < sample_rate/2, got fmin={cfg.fmin}, fmax={cfg.fmax}"
            )
        self.cfg, self.sample_rate, self.hop = cfg, sample_rate, cfg.hop

    def __call__(self, wave):
        from pylib.features.f0 import compute_f0

        kw = {}
        if self.cfg.method == "yin":
            c = self.cfg
            kw = dict(voicing_threshold=c.voicing_threshold, stay_threshold=c.stay_threshold,
                      max_grow=c.max_grow, max_gap=c.max_gap)
        f0 = compute_f0(
            wave, self.sample_rate, self.cfg.hop, self.cfg.fmin, self.cfg.fmax, self.cfg.method, **kw
        )
        return f0.reshape(-1, 1)


@dataclasses.dataclass
class WaveConfig:
    format: Literal["wav", "f4"] = "wav"  # wav file or headless <f4 (T, 1)
    norm: Literal["none", "peak", "loudness"] = "none"  # level normalisation
    peak: float = 0.95  # norm: peak -> max |x|
    loudness_db: float = -26.0  # norm: loudness -> RMS of the active part in dBFS (peak kept < 1)
    subtype: Literal["PCM_16", "PCM_24", "FLOAT"] = "PCM_16"  # format: wav sample format


class WaveExtractor:
    """The waveform at the recipe's rate, optionally level-normalised: (T,) -> (T, 1)."""

    Config = WaveConfig
    dim = 1
    hop = 1
    FACT_KEYS = {"ext": "format"}

    def __init__(self, cfg, sample_rate):
        self.cfg = cfg
        self.ext = ".wav" if cfg.format == "wav" else ".f4"
        self.subtype = cfg.subtype

    def __call__(self, wave):
        from pylib.features.wave import loudness_normalise, peak_normalise

        wave = np.asarray(wave, dtype=np.float32)
        if self.cfg.norm == "peak":
            wave = peak_normalise(wave, self.cfg.peak)
        elif self.cfg.norm == "loudness":
            wave = loudness_normalise(wave, self.cfg.loudness_db)
        return wave.reshape(-1, 1)


def _check_positive(cfg, keys):
    for k in keys:
        if getattr(cfg, k) < 1:
            raise ConfigError(f"{k} must be >= 1, got {getattr(cfg, k)}")


@dataclasses.dataclass
class FeaturesConfig:
    sample_rate: int = 16000  # the recipe's rate
    resample: bool = False  # resample wavs at another rate (else an error naming the file)
    extractors: dict[str, dict] = dataclasses.field(default_factory=dict)  # name -> {type: ..., keys}


def parse_features(section, where="features"):
    """Parse the `features:` yaml section -> FeaturesConfig whose extractor dicts are complete.

    Every extractor's keys are checked against its type's Config (unknown keys fail) and the
    defaults are filled in, so the saved dump settings list every value used.
    """
    if isinstance(section, FeaturesConfig):
        section = dataclasses.asdict(section)
    cfg = from_dict(FeaturesConfig, section, where)
    if cfg.sample_rate < 1:
        raise ConfigError(f"{where}.sample_rate must be a positive rate in Hz, got {cfg.sample_rate}")
    if not cfg.extractors:
        raise ConfigError(f"{where}.extractors is empty; name at least one, e.g. mel: {{type: logmel}}")
    full = {}
    for name, spec in cfg.extractors.items():
        here = f"{where}.extractors.{name}"
        if not name or "/" in name or name.startswith("."):
            raise ConfigError(f"{here}: {name!r} is not usable as a folder name")
        if not isinstance(spec, dict) or "type" not in spec:
            raise ConfigError(f"{here}: needs a `type` (one of {', '.join(FEATURES.names())})")
        rest = {k: v for k, v in spec.items() if k != "type"}
        sub = from_dict(FEATURES.get(spec["type"]).Config, rest, here)
        full[name] = {"type": spec["type"], **dataclasses.asdict(sub)}
    cfg.extractors = full
    return cfg


def build_extractors(cfg):
    """FeaturesConfig -> {name: extractor instance}, in the config's order."""
    out = {}
    for name, spec in cfg.extractors.items():
        cls = FEATURES.get(spec["type"])
        sub = from_dict(
            cls.Config, {k: v for k, v in spec.items() if k != "type"}, f"features.extractors.{name}"
        )
        try:
            out[name] = cls(sub, cfg.sample_rate)
        except ConfigError as e:
            raise ConfigError(f"features.extractors.{name}: {e}") from None
    return out


def describe_outputs(cfg):
    """What each extractor of a FeaturesConfig outputs, without running it: {name: {"dim", "hop",
    "ext", "origins": {key: the features key that declares it}}}. This is what stage 1 records in
    features.yaml and what the data spec derives its dims from."""
    out = {}
    for name, ex in build_extractors(cfg).items():
        keys = getattr(ex, "FACT_KEYS", {})
        here, kind = f"features.extractors.{name}", cfg.extractors[name]["type"]
        out[name] = {
            "dim": int(ex.dim),
            "hop": int(ex.hop),
            "ext": str(ex.ext),
            "origins": {k: f"{here}.{keys[k]}" if k in keys else f"{here} (type {kind})"
                        for k in ("dim", "hop", "ext")},
        }
    return out
