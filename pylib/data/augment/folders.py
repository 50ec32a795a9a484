"""Additive noise at a random SNR and reverberation with a room impulse response, both drawn from
a folder of the user's wav/flac files (searched recursively, e.g. MUSAN's noise/ or the RIRS_NOISES
simulated RIRs), which must be mono and at the data's sample rate.

Only the headers are read when the augmentation is built (to check rate and channels and to know
the lengths); an item reads the one file (noise: only the stretch it needs) that it draws.
"""

from pathlib import Path

import numpy as np
import soundfile as sf
from scipy import signal

from pylib.errors import ConfigError, DataError

AUDIO_SUFFIXES = (".wav", ".flac")


class AudioFolder:
    """The mono wav/flac files under `folder` at `sample_rate`: paths and lengths (headers only)."""

    def __init__(self, folder, sample_rate, where):
        root = Path(folder).expanduser()
        if not root.is_dir():
            raise ConfigError(
                f"{where}.folder: {root} is not a folder; give the folder that holds the wav/flac files"
            )
        paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
        if not paths:
            raise ConfigError(f"{where}.folder: {root} holds no .wav or .flac file (searched recursively)")
        self.paths, self.frames = [], []
        for p in paths:
            try:
                info = sf.info(str(p))
            except Exception as e:
                raise DataError(f"{p}: not readable audio ({str(e).strip()}); remove it from {root}") \
                    from None
            if info.samplerate != sample_rate:
                raise DataError(
                    f"{p}: {info.samplerate} Hz, but the data are at {sample_rate} Hz; resample the "
                    f"folder's files (e.g. `sox in.wav -r {sample_rate} out.wav`) or remove this one"
                )
            if info.channels != 1:
                raise DataError(
                    f"{p}: {info.channels} channels; {where} needs mono files "
                    f"(e.g. `sox in.wav out.wav remix 1`)"
                )
            if info.frames == 0:
                raise DataError(f"{p}: holds no samples; remove it from {root}")
            self.paths.append(str(p))
            self.frames.append(int(info.frames))

    def __len__(self):
        return len(self.paths)

    def read(self, i, start=0, frames=-1):
        data, _ = sf.read(self.paths[i], start=start, frames=frames, dtype="float64", always_2d=True)
        return data[:, 0]


def scale_to_snr(x, noise, snr_db):
    """noise scaled so that 10 log10(|x|^2 / |noise|^2) = snr_db (x unchanged if either is silent)."""
    px, pn = float(np.dot(x, x)), float(np.dot(noise, noise))
    if px == 0 or pn == 0:
        return np.zeros_like(x)
    return noise * np.sqrt(px / (pn * 10 ** (snr_db / 10)))


def add_noise(x, rng, cfg, folder):
    """x plus a stretch of a random noise file (looped if shorter) at a random SNR."""
    i = int(rng.integers(len(folder)))
    n, m = x.shape[0], folder.frames[i]
    if m >= n:
        noise = folder.read(i, int(rng.integers(m - n + 1)), n)
    else:
        noise = np.tile(folder.read(i), -(-n // m))[:n]
    snr = float(rng.uniform(cfg.snr_min, cfg.snr_max))
    return x + scale_to_snr(x, noise, snr)


def reverberate(x, rng, folder):
    """x convolved with a random RIR, the RIR's peak (direct path) at time 0 so that the output stays
    aligned with x, rescaled to x's peak amplitude (as the seed's wav_reverb)."""
    rir = folder.read(int(rng.integers(len(folder))))
    rir = rir[int(np.argmax(np.abs(rir))):]
    y = signal.fftconvolve(x, rir)[: x.shape[0]]
    peak, new = float(np.max(np.abs(x))), float(np.max(np.abs(y)))
    return y * (peak / new) if new > 0 else y
