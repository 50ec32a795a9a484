"""Waveform preparation: resampling to the recipe's rate and optional level normalisation."""

from math import gcd

import numpy as np


def resample(wave, sr_in, sr_out):
    """Polyphase resampling (scipy's Kaiser-windowed FIR): wave (T,) -> (round(T * sr_out / sr_in),)."""
    wave = np.asarray(wave, dtype=np.float32)
    if sr_in == sr_out:
        return wave
    from scipy.signal import resample_poly  # ~1.5 s of import: only a run that resamples pays it

    g = gcd(int(sr_in), int(sr_out))
    out = resample_poly(wave.astype(np.float64), int(sr_out) // g, int(sr_in) // g)
    return out.astype(np.float32)


def peak_normalise(wave, peak=0.95):
    """Scale so max |x| = peak (silence is returned unchanged)."""
    wave = np.asarray(wave, dtype=np.float32)
    m = float(np.abs(wave).max(initial=0.0))
    return wave if m == 0.0 else (wave * (peak / m)).astype(np.float32)


def loudness_normalise(wave, target_db=-26.0, max_peak=0.999):
    """Scale so the RMS of the active part is `target_db` dBFS, but never past `max_peak`.

    "Active" = samples in 10 ms blocks within 40 dB of the loudest block, so leading and trailing
    silence do not change the gain (a simple stand-in for ITU-T P.56 active speech level).
    """
    wave = np.asarray(wave, dtype=np.float32)
    block = 160
    n = wave.size // block * block
    if n == 0:
        return wave
    power = np.mean(wave[:n].reshape(-1, block).astype(np.float64) ** 2, axis=1)
    if power.max() == 0.0:
        return wave
    active = power[power > power.max() * 1e-4]
    gain = 10.0 ** (target_db / 20.0) / np.sqrt(active.mean())
    peak = float(np.abs(wave).max())
    gain = min(gain, max_peak / peak)
    return (wave * gain).astype(np.float32)


def resample_keep_silence(wave, sr_in, sr_out):
    """`resample`, but output samples inside runs of exact zeros stay exactly 0: wave (T,) -> (T',).

    An output sample is forced to 0 when the input samples around its position (the two nearest
    and one more on each side) are all exactly 0, so digital silence survives resampling (the LFCC
    front end takes the log of the frame energy: a filter's ringing into silence, 1e-9 instead of
    0, would change a countermeasure's score).
    """
    wave = np.asarray(wave, dtype=np.float32)
    out = resample(wave, sr_in, sr_out)
    if sr_in == sr_out or out.size == 0:
        return out
    zero = wave == 0.0
    if not zero.any():
        return out
    padded = np.concatenate([[False], zero, [False]])  # all-zero neighbourhood of each input sample
    quiet = padded[:-2] & padded[1:-1] & padded[2:]
    pos = np.arange(out.size, dtype=np.float64) * (sr_in / sr_out)
    lo = np.clip(np.floor(pos).astype(np.int64), 0, wave.size - 1)
    hi = np.clip(lo + 1, 0, wave.size - 1)
    out[quiet[lo] & quiet[hi]] = 0.0
    return out


def load_wave(entry, sample_rate, allow_resample=True):
    """The one waveform loader: a wav.scp value (a path, or a `cmd |` pipe) -> mono float32 (T,) at
    `sample_rate`. Audio at another rate is resampled (`resample_keep_silence`) when allow_resample
    (the features section's `resample: true`), else a DataError naming the file and the fix.

    Stage-1 extraction, `score_wavs` and `vocode` all read audio through it (`ModelWave` for the
    latter two), so a model sees audio prepared as its training data was.
    """
    from pylib.errors import DataError
    from pylib.io.audio import read_wav_entry

    sr, wave = read_wav_entry(entry, sample_rate=None if allow_resample else sample_rate)
    if sr != sample_rate:
        wave = resample_keep_silence(wave, sr, sample_rate)
        if wave.size == 0:
            raise DataError(f"{entry}: too short to resample from {sr} to {sample_rate} Hz")
    return wave


class ModelWave:
    """Audio for a model whose input is a stage-1 waveform, prepared as stage 1 prepared it.

    config: a one-file model's config. With a `features:` section, the rate is its `sample_rate`,
    and the input's extractor (type `wave`) applies its level normalisation and its storage
    precision (a PCM_16 dump holds 16-bit samples: so do these). Without one (a model imported from
    another toolkit), the rate is `data.sample_rate`. Audio at another rate is resampled as stage 1
    resamples (`resample_keep_silence`): the recipes' `resample: false` states that their corpus is
    at one rate, while score_wavs and vocode take audio from anywhere; strict_rate=True applies the
    section's `resample` policy instead. `name`: the model's waveform input.
    """

    def __init__(self, config, name, where="model", strict_rate=False):
        from pylib.errors import UserError
        from pylib.features.extractors import build_extractors, parse_features

        self.name = name
        self.extractor = None
        features = config.get("features")
        if features:
            fcfg = parse_features(features, where=f"{where}: features")
            self.sample_rate = fcfg.sample_rate
            self.allow_resample = fcfg.resample or not strict_rate
            spec = fcfg.extractors.get(name)
            if spec is None or spec["type"] != "wave":
                raise UserError(f"{where}: the model's input {name!r} is not a `wave` extractor of its "
                                f"features section (extractors: {', '.join(fcfg.extractors)})")
            self.extractor = build_extractors(fcfg)[name]
        else:
            self.sample_rate = int((config.get("data") or {}).get("sample_rate", 16000))
            self.allow_resample = True

    def __call__(self, entry):
        """wav.scp value or path -> (T,) float32, the samples stage 1 would have stored."""
        wave = load_wave(entry, self.sample_rate, self.allow_resample)
        ex = self.extractor
        if ex is None:
            return wave
        wave = ex(wave)[:, 0]
        if ex.ext == ".wav" and ex.subtype != "FLOAT":
            from pylib.io.audio import encode_wav, read_wav_bytes

            _, wave = read_wav_bytes(encode_wav(wave, self.sample_rate, ex.subtype), str(entry))
        return wave
