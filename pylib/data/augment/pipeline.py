"""Augmentation: the `data.augment` entries applied in order to a waveform, each with its
probability, every draw from the item's own generator (`augment_rng`)."""

import numpy as np

from pylib.data.augment.codec import apply_codec, require_ffmpeg
from pylib.data.augment.config import (
    CodecConfig,
    MaskConfig,
    NoiseConfig,
    RawBoostConfig,
    ReverbConfig,
    augment_rng,
    parse_augment,
)
from pylib.data.augment.folders import AudioFolder, add_noise, reverberate
from pylib.data.augment.mask import apply_mask
from pylib.data.augment.rawboost import rawboost
from pylib.errors import DataError


class Augmentation:
    """Built once per training dataset: checks the entries against the data (sample rate, ffmpeg,
    folders) up front, so that a problem stops the run before the first batch."""

    def __init__(self, entries, sample_rate, seed=0, where="data.augment"):
        self.entries = parse_augment(entries, where)
        self.sample_rate = int(sample_rate)
        self.seed = int(seed)
        self.folders = {}
        for i, cfg in enumerate(self.entries):
            here = f"{where}[{i}]"
            if isinstance(cfg, RawBoostConfig):
                cfg.check_rate(self.sample_rate, here)
            elif isinstance(cfg, CodecConfig):
                require_ffmpeg(tuple(cfg.codec))
            elif isinstance(cfg, (NoiseConfig, ReverbConfig)):
                self.folders[i] = AudioFolder(cfg.folder, self.sample_rate, here)

    def __bool__(self):
        return bool(self.entries)

    def apply(self, wave, rng):
        """wave (T,) or (T, 1) -> the augmented float32 waveform of the same shape."""
        shape = np.shape(wave)
        x = np.asarray(wave, dtype=np.float64).reshape(-1)
        for i, cfg in enumerate(self.entries):
            if rng.random() >= cfg.p or x.shape[0] == 0:
                continue
            x = self._one(i, cfg, x, rng)
        if not np.isfinite(x).all():
            raise DataError(f"augmentation {self.entries} gave NaN/Inf samples; check its settings")
        return x.astype(np.float32).reshape(shape)

    def _one(self, i, cfg, x, rng):
        sr = self.sample_rate
        if isinstance(cfg, RawBoostConfig):
            return rawboost(x, rng, cfg, sr)
        if isinstance(cfg, CodecConfig):
            return apply_codec(x, rng, cfg, sr)
        if isinstance(cfg, NoiseConfig):
            return add_noise(x, rng, cfg, self.folders[i])
        if isinstance(cfg, ReverbConfig):
            return reverberate(x, rng, self.folders[i])
        if isinstance(cfg, MaskConfig):
            return apply_mask(x, rng, cfg, sr)
        raise TypeError(f"unknown augmentation entry {cfg!r}")

    def __call__(self, wave, utt, epoch, start=0, view=0):
        """The item's augmentation, drawn from augment_rng(seed, utt, epoch, start, view)."""
        return self.apply(wave, augment_rng(self.seed, utt, epoch, start, view))

    def views(self, wave, utt, epoch, k, start=0):
        """K augmented copies of one waveform (views 1..K, each its own draw; multi-view batches)."""
        if int(k) < 1:
            raise ValueError(f"views: k = {k}, need at least one view")
        return [self(wave, utt, epoch, start, view=v) for v in range(1, int(k) + 1)]
