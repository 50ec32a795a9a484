"""Waveform augmentation for training: RawBoost, codecs through ffmpeg, additive noise and
reverberation from the user's folders, time/frequency masking (docs/data.md#augmentation).

The data spec's `augment:` list parses into the dataclasses of `config` (numpy only); a training
loader builds `pipeline.Augmentation` from it, which imports scipy and checks ffmpeg and the
folders. Every random draw of an item comes from `augment_rng(seed, utt, epoch, start, view)`.
"""

from pylib.data.augment.config import (
    ALGOS,
    KINDS,
    CodecConfig,
    MaskConfig,
    NoiseConfig,
    RawBoostConfig,
    ReverbConfig,
    algo_name,
    augment_rng,
    parse_augment,
)

__all__ = [
    "ALGOS",
    "KINDS",
    "CodecConfig",
    "MaskConfig",
    "NoiseConfig",
    "RawBoostConfig",
    "ReverbConfig",
    "algo_name",
    "augment_rng",
    "parse_augment",
]
