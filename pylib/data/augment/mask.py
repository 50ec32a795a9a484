"""Time and frequency masking on the waveform, after the seed's wav_time_mask and wav_freq_mask
(core_scripts/data_io/wav_augmentation.py).

time: `time_spans` spans, each of a random width in [0, max_time_width) seconds at a random place,
are set to zero (the seed: one span under 0.2 s).
frequency: `freq_bands` bands, each of a random width in [0, max_freq_width) of the band 0..Nyquist
at a random place, are removed by zeroing their FFT bins; a band narrower than `min_freq_width`
is left alone (the seed: one band under 0.2, none if under 0.05; the seed removes it with a
10th-order Butterworth band-stop filter, nnsp with an FFT, which removes exactly the band).
"""

import numpy as np


def time_mask(x, rng, spans, max_width):
    """x with `spans` random spans of under `max_width` samples set to zero."""
    y = np.array(x, dtype=np.float64, copy=True)
    n = y.shape[0]
    for _ in range(spans):
        width = min(int(rng.random() * max_width), n)
        start = int(rng.random() * (n - width))
        y[start:start + width] = 0.0
    return y


def freq_mask(x, rng, bands, max_width, min_width):
    """x with `bands` random frequency bands (shares of 0..Nyquist) removed through its FFT."""
    n = x.shape[0]
    spec = np.fft.rfft(np.asarray(x, dtype=np.float64))
    bins = spec.shape[0]
    touched = False
    for _ in range(bands):
        width = rng.random() * max_width
        if width < min_width or width == 0:
            continue
        start = rng.random() * (1 - width)
        lo, hi = int(np.floor(start * (bins - 1))), int(np.ceil((start + width) * (bins - 1)))
        spec[lo:hi + 1] = 0
        touched = True
    return np.fft.irfft(spec, n=n) if touched else np.array(x, dtype=np.float64)


def apply_mask(x, rng, cfg, sample_rate):
    y = time_mask(x, rng, cfg.time_spans, cfg.max_time_width * sample_rate)
    return freq_mask(y, rng, cfg.freq_bands, cfg.max_freq_width, cfg.min_freq_width)
