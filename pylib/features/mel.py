"""Log-mel spectrogram: Slaney mel filterbank (as librosa's default) and a differentiable torch front end.

Frame convention (docs/INTERFACES.md): centred frames, frame k centred on sample k*hop, so a
wave of T samples gives N = T // hop + 1 frames.
"""

import numpy as np
import torch
from torch import nn

# Slaney's auditory-toolbox mel scale: linear below 1 kHz (3 mels per 200 Hz), logarithmic above.
_F_SP = 200.0 / 3.0
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = np.log(6.4) / 27.0


def hz_to_mel(hz):
    """Hz -> Slaney mel (array in, array out)."""
    hz = np.asarray(hz, dtype=np.float64)
    lin = hz / _F_SP
    log = _MIN_LOG_MEL + np.log(np.maximum(hz, _MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOGSTEP
    return np.where(hz >= _MIN_LOG_HZ, log, lin)


def mel_to_hz(mel):
    """Slaney mel -> Hz."""
    mel = np.asarray(mel, dtype=np.float64)
    lin = mel * _F_SP
    log = _MIN_LOG_HZ * np.exp(_LOGSTEP * (np.maximum(mel, _MIN_LOG_MEL) - _MIN_LOG_MEL))
    return np.where(mel >= _MIN_LOG_MEL, log, lin)


def mel_filterbank(sample_rate, n_fft, n_mels, fmin=0.0, fmax=None):
    """Triangular mel filters with Slaney area normalisation -> (n_mels, n_fft // 2 + 1) float32.

    Filter i rises from mel point i to i+1 and falls to i+2 (n_mels + 2 points evenly spaced in
    mel between fmin and fmax), scaled by 2 / (f[i+2] - f[i]) so each has unit area in Hz.
    """
    if fmax is None:
        fmax = sample_rate / 2.0
    if not 0 <= fmin < fmax <= sample_rate / 2.0 + 1e-9:
        raise ValueError(
            f"need 0 <= fmin < fmax <= sample_rate/2, got fmin={fmin}, fmax={fmax}, sr={sample_rate}"
        )
    bins = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    pts = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    widths = np.diff(pts)
    dist = pts[:, None] - bins[None, :]  # (n_mels + 2, F)
    rising = -dist[:-2] / widths[:-1, None]
    falling = dist[2:] / widths[1:, None]
    fb = np.maximum(0.0, np.minimum(rising, falling))
    fb *= (2.0 / (pts[2:] - pts[:-2]))[:, None]
    return fb.astype(np.float32)


def log_mel(
    wave,
    sample_rate,
    n_fft,
    hop,
    win_length,
    n_mels,
    fmin=0.0,
    fmax=None,
    log_floor=1e-5,
    center=True,
    power=1.0,
    fbank=None,
    window=None,
):
    """Log mel spectrogram, differentiable and batched: wave (..., T) -> (..., N, n_mels).

    N = T // hop + 1 with center=True (zero padding of n_fft // 2 on both sides, as librosa).
    The magnitude spectrum (power=1) or power spectrum (power=2) of a periodic Hann window of
    win_length (centred in n_fft) goes through the Slaney filterbank, then log(max(mel, log_floor)).
    `fbank` (n_mels, F) and `window` (win_length,) may be passed in to reuse precomputed tensors.
    """
    wave = torch.as_tensor(wave)
    if not wave.is_floating_point():
        wave = wave.float()
    if fbank is None:
        fbank = torch.from_numpy(mel_filterbank(sample_rate, n_fft, n_mels, fmin, fmax))
    if window is None:
        window = torch.hann_window(win_length, periodic=True)
    fbank = fbank.to(device=wave.device, dtype=wave.dtype)
    window = window.to(device=wave.device, dtype=wave.dtype)
    shape = wave.shape
    flat = wave.reshape(-1, shape[-1])
    spec = torch.stft(
        flat,
        n_fft,
        hop_length=hop,
        win_length=win_length,
        window=window,
        center=center,
        pad_mode="constant",
        return_complex=True,
    )  # (B, F, N)
    if power == 1.0:
        mag = spec.abs()
    elif power == 2.0:
        mag = spec.real.square() + spec.imag.square()
    else:
        mag = spec.abs().pow(power)
    mel = torch.matmul(fbank, mag)  # (B, n_mels, N)
    out = torch.log(torch.clamp(mel, min=log_floor)).transpose(1, 2)
    return out.reshape(*shape[:-1], out.shape[-2], n_mels)


class LogMel(nn.Module):
    """nn.Module around `log_mel` holding the filterbank and window as buffers (they follow .to()).

    forward: wave (..., T) -> (..., N, n_mels).
    """

    def __init__(
        self,
        sample_rate,
        n_fft,
        hop,
        win_length,
        n_mels,
        fmin=0.0,
        fmax=None,
        log_floor=1e-5,
        center=True,
        power=1.0,
    ):
        super().__init__()
        self.sample_rate, self.n_fft, self.hop, self.win_length = sample_rate, n_fft, hop, win_length
        self.n_mels, self.fmin, self.fmax = n_mels, fmin, fmax
        self.log_floor, self.center, self.power = log_floor, center, power
        self.register_buffer(
            "fbank",
            torch.from_numpy(mel_filterbank(sample_rate, n_fft, n_mels, fmin, fmax)),
            persistent=False,
        )
        self.register_buffer("window", torch.hann_window(win_length, periodic=True), persistent=False)

    def forward(self, wave):
        return log_mel(
            wave,
            self.sample_rate,
            self.n_fft,
            self.hop,
            self.win_length,
            self.n_mels,
            self.fmin,
            self.fmax,
            self.log_floor,
            self.center,
            self.power,
            fbank=self.fbank,
            window=self.window,
        )
