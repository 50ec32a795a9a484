"""The `data.augment` entries as dataclasses, and the per-(utterance, epoch) random generator.

Light on purpose (numpy only): the data spec parses its `augment` list with these, and nothing
heavy (scipy, ffmpeg, the folders) is touched until a training loader builds the augmentation
(pylib.data.augment.pipeline).
"""

import hashlib
from dataclasses import dataclass, field, is_dataclass
from typing import Literal

import numpy as np

from pylib.config import did_you_mean, from_dict
from pylib.errors import ConfigError

# the combinations of RawBoost's loader, by number and by name
ALGOS = {
    1: "lnl",
    2: "isd",
    3: "ssi",
    4: "lnl+isd+ssi",
    5: "lnl+isd",
    6: "lnl+ssi",
    7: "isd+ssi",
    8: "lnl|isd",
}
ALGO_NUMBERS = {name: n for n, name in ALGOS.items()}


@dataclass
class RawBoostConfig:
    """One `data.augment` entry `{type: rawboost, algo: 5, ...}`. The defaults are the seed's
    (core_scripts/data_io/wav_augmentation.py LnL_convolutive_noise, ISD_additive_noise) and, for
    the SSI noise whose seed function has no defaults, RawBoost's (main.py of
    TakHemlata/RawBoost-antispoofing: --SNRmin 10 --SNRmax 40)."""

    type: Literal["rawboost"] = "rawboost"
    algo: int | str = 5  # 1..8 or its name (lnl, isd, ssi, lnl+isd+ssi, lnl+isd, lnl+ssi, isd+ssi, lnl|isd)
    p: float = 1.0  # probability that an item is augmented by this entry
    n_bands: int = 5  # notch filters per cascade (nBands)
    min_f: float = 20.0  # Hz, lowest notch centre (minF)
    max_f: float = 8000.0  # Hz, highest notch centre (maxF)
    min_bw: float = 100.0  # Hz, narrowest notch (minBW)
    max_bw: float = 1000.0  # Hz, widest notch (maxBW)
    min_coeff: int = 10  # fewest FIR taps per notch (minCoeff; made odd)
    max_coeff: int = 100  # most FIR taps per notch (maxCoeff)
    min_g: float = 0.0  # dB, gain range of the linear component (minG)
    max_g: float = 0.0  # dB (maxG)
    min_bias_lin_nonlin: float = 5.0  # dB the orders > 1 lie below order 1, from (minBiasLinNonLin)
    max_bias_lin_nonlin: float = 20.0  # dB, to (maxBiasLinNonLin)
    n_f: int = 5  # highest order of the non-linearity; 1 = linear only (N_f)
    isd_percent: float = 10.0  # at most this % of the samples get impulsive noise (P)
    isd_gain: float = 2.0  # gain of the impulsive noise (g_sd)
    snr_min: float = 10.0  # dB, SSI noise SNR from (SNRmin)
    snr_max: float = 40.0  # dB, to (SNRmax)

    def __post_init__(self):
        self.algo = algo_name(self.algo)
        if not 0.0 <= self.p <= 1.0:
            raise ConfigError(f"rawboost.p = {self.p}: a probability in [0, 1]")
        for lo, hi in (("min_f", "max_f"), ("min_bw", "max_bw"), ("min_coeff", "max_coeff"),
                       ("snr_min", "snr_max")):
            if getattr(self, lo) > getattr(self, hi):
                raise ConfigError(f"rawboost.{lo} = {getattr(self, lo)} > rawboost.{hi} = "
                                  f"{getattr(self, hi)}: give the lower bound first")
        if self.min_f <= 0 or self.min_bw <= 0 or self.min_coeff < 1 or self.n_bands < 1 or self.n_f < 1:
            raise ConfigError("rawboost: min_f, min_bw, min_coeff, n_bands and n_f must be positive")
        if not 0 <= self.isd_percent <= 100:
            raise ConfigError(f"rawboost.isd_percent = {self.isd_percent}: a percentage in [0, 100]")

    def check_rate(self, sample_rate, where):
        """The notch centres must lie below the Nyquist frequency of the data."""
        if self.max_f > sample_rate / 2:
            raise ConfigError(
                f"{where}.max_f = {self.max_f:g} Hz is above the Nyquist frequency of the "
                f"{sample_rate} Hz data; set it to at most {sample_rate / 2:g}"
            )


def algo_name(algo):
    """1..8 or a combination's name -> its name; anything else is a ConfigError listing both."""
    if isinstance(algo, bool):
        algo = str(algo)
    if isinstance(algo, int) and algo in ALGOS:
        return ALGOS[algo]
    if isinstance(algo, str) and algo.strip().lower() in ALGO_NUMBERS:
        return algo.strip().lower()
    known = ", ".join(f"{n} ({name})" for n, name in ALGOS.items())
    raise ConfigError(f"rawboost.algo = {algo!r}: not a RawBoost combination; use one of {known}")


# codec -> (ffmpeg encoder, container suffix)
CODECS = {"mp3": ("libmp3lame", ".mp3"), "aac": ("aac", ".m4a"), "opus": ("libopus", ".ogg")}
# kbit/s drawn from when an entry names no bitrates: the seed's (core_scripts/data_io/
# wav_augmentation.py wav_codec: mp3 16k..320k, opus 16k..256k); aac is not in the seed
DEFAULT_BITRATES = {"mp3": [16, 32, 64, 128, 256, 320], "aac": [16, 32, 64, 128, 256],
                    "opus": [16, 32, 64, 128, 256]}

@dataclass
class CodecConfig:
    """One `data.augment` entry `{type: codec, codec: mp3, bitrates: [16, 64], p: 0.3}`: each
    augmented item goes through one codec and one bit rate drawn uniformly from the lists."""

    type: Literal["codec"] = "codec"
    codec: str | list[str] = field(default_factory=lambda: ["mp3", "opus"])  # mp3/aac/opus or a list
    bitrates: list[int] | None = None  # kbit/s; default the seed's per codec (mp3 16..320, opus/aac 16..256)
    p: float = 1.0  # probability that an item is augmented by this entry

    def __post_init__(self):
        codecs = [self.codec] if isinstance(self.codec, str) else list(self.codec)
        bad = [c for c in codecs if c not in CODECS]
        if bad or not codecs:
            raise ConfigError(f"codec.codec = {self.codec!r}: use one or a list of {', '.join(CODECS)}")
        self.codec = codecs
        rates = self.bitrates
        if rates is not None and (not rates or min(rates) < 6 or max(rates) > 512):
            raise ConfigError(f"codec.bitrates = {self.bitrates!r}: a list of bit rates in kbit/s (6..512)")
        if not 0.0 <= self.p <= 1.0:
            raise ConfigError(f"codec.p = {self.p}: a probability in [0, 1]")

    def rates(self, codec):
        return list(self.bitrates) if self.bitrates is not None else DEFAULT_BITRATES[codec]


@dataclass
class NoiseConfig:
    """One `data.augment` entry `{type: noise, folder: /data/musan/noise, snr_min: 5, snr_max: 20}`."""

    type: Literal["noise"] = "noise"
    folder: str = ""  # folder of noise wav/flac files (searched recursively), at the data's sample rate
    snr_min: float = 5.0  # dB, the SNR is drawn uniformly from [snr_min, snr_max]
    snr_max: float = 20.0  # dB
    p: float = 1.0  # probability that an item is augmented by this entry

    def __post_init__(self):
        _check_common(self, "noise")
        if self.snr_min > self.snr_max:
            raise ConfigError(f"noise.snr_min = {self.snr_min} > noise.snr_max = {self.snr_max}")


@dataclass
class ReverbConfig:
    """One `data.augment` entry `{type: reverb, folder: /data/RIRS_NOISES/simulated_rirs}`."""

    type: Literal["reverb"] = "reverb"
    folder: str = ""  # folder of room impulse responses (wav/flac, recursively), at the data's sample rate
    p: float = 1.0  # probability that an item is augmented by this entry

    def __post_init__(self):
        _check_common(self, "reverb")


def _check_common(cfg, kind):
    if not cfg.folder:
        raise ConfigError(f"{kind}.folder: required: the folder of {kind} wav/flac files")
    if not 0.0 <= cfg.p <= 1.0:
        raise ConfigError(f"{kind}.p = {cfg.p}: a probability in [0, 1]")


@dataclass
class MaskConfig:
    """One `data.augment` entry `{type: mask, time_spans: 1, freq_bands: 1}`."""

    type: Literal["mask"] = "mask"
    time_spans: int = 1  # spans set to zero per item (0: no time masking)
    max_time_width: float = 0.2  # seconds, widest span (wav_time_mask: 0.2 * wav_samp_rate)
    freq_bands: int = 1  # bands removed per item (0: no frequency masking)
    max_freq_width: float = 0.2  # widest band as a share of 0..Nyquist (wav_freq_mask max_band_witdh)
    min_freq_width: float = 0.05  # a drawn band narrower than this is not removed (wav_freq_mask)
    p: float = 1.0  # probability that an item is augmented by this entry

    def __post_init__(self):
        if self.time_spans < 0 or self.freq_bands < 0 or self.time_spans + self.freq_bands == 0:
            raise ConfigError("mask: time_spans and freq_bands are counts >= 0, and one must be > 0")
        if self.max_time_width < 0:
            raise ConfigError(f"mask.max_time_width = {self.max_time_width}: seconds >= 0")
        if not 0 <= self.min_freq_width <= self.max_freq_width <= 1:
            raise ConfigError(
                f"mask: need 0 <= min_freq_width ({self.min_freq_width}) <= max_freq_width "
                f"({self.max_freq_width}) <= 1 (shares of the band 0..Nyquist)"
            )
        if not 0.0 <= self.p <= 1.0:
            raise ConfigError(f"mask.p = {self.p}: a probability in [0, 1]")




KINDS = {"rawboost": RawBoostConfig, "codec": CodecConfig, "noise": NoiseConfig, "reverb": ReverbConfig,
         "mask": MaskConfig}
AUGMENT_TAG = 0x61756720  # keeps the augmentation's stream apart from the crop's (seed, epoch, index)


def parse_entry(entry, where):
    """One `data.augment` entry (a mapping with `type`, or a built config) -> its dataclass."""
    if is_dataclass(entry) and type(entry) in KINDS.values():
        return entry
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected a mapping such as {{type: rawboost, algo: 5}}, got {entry!r}")
    kind = entry.get("type")
    if kind not in KINDS:
        raise ConfigError(
            f"{where}.type = {kind!r}: {'required; ' if kind is None else ''}use one of "
            f"{', '.join(KINDS)}{did_you_mean(kind, KINDS) if isinstance(kind, str) else ''}"
        )
    try:
        return from_dict(KINDS[kind], entry, where)
    except ConfigError as e:
        if str(e).startswith(where):
            raise
        raise ConfigError(f"{where}: {e}") from None


def parse_augment(entries, where="data.augment"):
    """The `data.augment` list -> [config dataclass, ...] (ConfigErrors name the entry and key)."""
    if entries is None:
        return []
    if not isinstance(entries, (list, tuple)):
        raise ConfigError(
            f"{where}: expected a list of entries such as [{{type: rawboost, algo: 5}}], got {entries!r}"
        )
    return [parse_entry(e, f"{where}[{i}]") for i, e in enumerate(entries)]


def augment_rng(seed, utt, epoch, start=0, view=0):
    """The np.random.Generator of one augmentation: a function of (run seed, utterance id, epoch,
    first sample of the region, view) only, so it is the same whatever the worker count, the
    order of the list or where training resumed. view 0 is the loader's; 1..K are `views`'."""
    digest = int.from_bytes(hashlib.blake2b(str(utt).encode("utf-8"), digest_size=8).digest(), "little")
    words = [AUGMENT_TAG, int(seed) % 2**64, digest & 0xFFFFFFFF, digest >> 32]
    words += [int(epoch), int(start), int(view)]
    if min(words) < 0:
        raise ValueError(f"augment_rng: epoch, start and view must be >= 0, got {epoch}, {start}, {view}")
    return np.random.default_rng(words)
