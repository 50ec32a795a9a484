"""RawBoost (Tak et al., "RawBoost: a raw data boosting and augmentation method applied to
automatic speaker verification anti-spoofing", ICASSP 2022), as the seed uses it.

Three algorithms on a waveform (float64 (T,)):

1. `lnl`: linear and non-linear convolutive noise: the sum over orders i = 1..n_f of x**i
   filtered by a random cascade of `n_bands` FIR notch filters (the orders above 1 attenuated by
   a random 5..20 dB), mean removed, peak-limited to 1.
2. `isd`: impulsive signal-dependent noise: up to `isd_percent` % of the samples, chosen at random,
   get x[t] += isd_gain * x[t] * u1 * u2 with u1, u2 ~ U(-1, 1), peak-limited to 1.
3. `ssi`: stationary signal-independent noise: white Gaussian noise coloured by a random notch
   cascade, added at a random SNR in [snr_min, snr_max] dB.

and the combinations numbered 1..8 in RawBoost's reference loader (`process_Rawboost_feature` in
TakHemlata/RawBoost-antispoofing data_utils_rawboost.py, which the seed cites):
1 lnl, 2 isd, 3 ssi, 4 lnl+isd+ssi, 5 lnl+isd, 6 lnl+ssi, 7 isd+ssi (in series), 8 lnl|isd (both
on the input, summed and peak-limited). The seed's projects 09 and 10 use 5
(core_scripts/data_io/wav_augmentation.py RawBoostWrapper12).

Every random draw goes through `rng`, an np.random.Generator (or any object with its
`random`, `permutation` and `normal` methods), in the order the seed draws them from
numpy's global state, so that the same stream gives the seed's output.
"""

import numpy as np
from scipy import signal

from pylib.data.augment.config import algo_name


def _draw(rng, lo, hi):
    """lo + (hi - lo) * U(0, 1): one draw, as the seed's randRange (legacy np.random.uniform
    computes exactly this; Generator.uniform would refuse the seed's hi < lo gain range of the
    non-linear orders, e.g. -5 .. -20 dB)."""
    return float(lo + (hi - lo) * rng.random())


def peak_limit(x, always):
    """x / max|x| if `always` or if max|x| > 1 (the seed's normWav); silence stays silence."""
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak > 0 and (always or peak > 1):
        return x / peak
    return x


def notch_cascade(rng, cfg, min_g, max_g, sample_rate):
    """FIR taps of `cfg.n_bands` random band-stop filters in cascade, scaled to a random peak
    gain in [min_g, max_g] dB (the seed's genNotchCoeffs)."""
    taps = np.ones(1)
    nyquist = sample_rate / 2
    for _ in range(cfg.n_bands):
        centre = _draw(rng, cfg.min_f, cfg.max_f)
        width = _draw(rng, cfg.min_bw, cfg.max_bw)
        n = int(_draw(rng, cfg.min_coeff, cfg.max_coeff))
        n += 1 - n % 2  # an odd number of taps: a band-stop FIR needs a centre tap
        lo, hi = centre - width / 2, centre + width / 2
        lo = 1e-3 if lo <= 0 else lo
        hi = nyquist - 1e-3 if hi >= nyquist else hi
        taps = np.convolve(signal.firwin(n, [lo, hi], window="hamming", fs=sample_rate), taps)
    gain = _draw(rng, min_g, max_g)
    _, h = signal.freqz(taps, 1, fs=sample_rate)
    return 10 ** (gain / 20) * taps / np.max(np.abs(h))


def fir_filter(x, taps):
    """x filtered by `taps`, delay-compensated to x's length (the seed's filterFIR)."""
    n = taps.shape[0] + 1
    y = signal.lfilter(taps, 1, np.pad(x, (0, n)))
    return y[n // 2: n // 2 + x.shape[0]]


def lnl(x, rng, cfg, sample_rate):
    """Linear and non-linear convolutive noise (algorithm 1)."""
    y = np.zeros(x.shape[0])
    min_g, max_g = cfg.min_g, cfg.max_g
    for order in range(1, cfg.n_f + 1):
        if order == 2:  # the non-linear orders sit below the linear one
            min_g, max_g = min_g - cfg.min_bias_lin_nonlin, max_g - cfg.max_bias_lin_nonlin
        taps = notch_cascade(rng, cfg, min_g, max_g, sample_rate)
        y = y + fir_filter(np.power(x, order), taps)
    return peak_limit(y - np.mean(y), always=False)


def isd(x, rng, cfg):
    """Impulsive signal-dependent noise (algorithm 2)."""
    share = _draw(rng, 0, cfg.isd_percent)
    n = int(x.shape[0] * (share / 100))
    where = rng.permutation(x.shape[0])[:n]
    factor = (2 * rng.random(n) - 1) * (2 * rng.random(n) - 1)
    y = np.array(x, dtype=np.float64, copy=True)
    y[where] = x[where] + cfg.isd_gain * x[where] * factor
    return peak_limit(y, always=False)


def ssi(x, rng, cfg, sample_rate):
    """Stationary signal-independent (coloured) additive noise at a random SNR (algorithm 3)."""
    noise = rng.normal(0, 1, x.shape[0])
    taps = notch_cascade(rng, cfg, cfg.min_g, cfg.max_g, sample_rate)
    noise = peak_limit(fir_filter(noise, taps), always=True)
    snr = _draw(rng, cfg.snr_min, cfg.snr_max)
    scale = np.linalg.norm(noise, 2)
    if scale == 0:
        return np.array(x, dtype=np.float64)
    return x + noise / scale * np.linalg.norm(x, 2) / 10.0 ** (0.05 * snr)


def rawboost(x, rng, cfg, sample_rate, algo=None):
    """The combination `algo` (number or name; default cfg.algo) on waveform x (T,) -> float64 (T,)."""
    name = algo_name(cfg.algo if algo is None else algo)
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    if name == "lnl|isd":
        both = lnl(x, rng, cfg, sample_rate) + isd(x, rng, cfg)
        return peak_limit(both, always=False)
    y = x
    for step in name.split("+"):
        if step == "lnl":
            y = lnl(y, rng, cfg, sample_rate)
        elif step == "isd":
            y = isd(y, rng, cfg)
        else:
            y = ssi(y, rng, cfg, sample_rate)
    return y
