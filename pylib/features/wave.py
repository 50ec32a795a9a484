"""Waveform preparation: resampling to the recipe's rate and optional level normalisation."""

from math import gcd

import numpy as np
from scipy.signal import resample_poly


def resample(wave, sr_in, sr_out):
    """Polyphase resampling (scipy's Kaiser-windowed FIR): wave (T,) -> (round(T * sr_out / sr_in),)."""
    wave = np.asarray(wave, dtype=np.float32)
    if sr_in == sr_out:
        return wave
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
