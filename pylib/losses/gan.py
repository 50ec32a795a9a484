"""GAN losses for vocoders: least-squares GAN (Mao et al. 2017), feature matching, and mel L1.

Discriminator outputs come as lists, one tensor per sub-discriminator (any shape, e.g. (B, 1, T')
or (B, 1, T', P)); feature maps as a list (per sub-discriminator) of lists (per layer) of tensors.
Every loss is a sum over sub-discriminators of per-discriminator means, as in HiFi-GAN.
"""

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pylib.features.mel import hz_to_mel, log_mel, mel_to_hz
from pylib.nn.masks import frame_mask


def lsgan_d_loss(real_outs, fake_outs):
    """LSGAN discriminator loss: sum_k mean((1 - D_k(y))^2) + mean(D_k(y_hat)^2).

    real_outs, fake_outs: lists of K tensors (B, ...). Returns (loss, real_part, fake_part), each a
    scalar tensor; pass generated audio detached so the generator receives no gradient.
    """
    if len(real_outs) != len(fake_outs):
        raise ValueError(f"{len(real_outs)} real vs {len(fake_outs)} fake discriminator outputs")
    real = sum(torch.mean((1.0 - r) ** 2) for r in real_outs)
    fake = sum(torch.mean(f**2) for f in fake_outs)
    return real + fake, real, fake


def lsgan_g_loss(fake_outs):
    """LSGAN generator (adversarial) loss: sum_k mean((1 - D_k(y_hat))^2). fake_outs: K tensors (B, ...)."""
    return sum(torch.mean((1.0 - f) ** 2) for f in fake_outs)


def feature_matching_loss(real_fmaps, fake_fmaps):
    """Feature matching: sum over discriminators k and layers l of mean |F_kl(y) - F_kl(y_hat)|.

    real_fmaps, fake_fmaps: K lists of L_k tensors with matching shapes. The real features are
    detached (they are targets).
    """
    if len(real_fmaps) != len(fake_fmaps):
        raise ValueError(f"{len(real_fmaps)} real vs {len(fake_fmaps)} fake feature-map lists")
    loss = 0.0
    for rs, fs in zip(real_fmaps, fake_fmaps, strict=True):
        for r, f in zip(rs, fs, strict=True):
            loss = loss + torch.mean(torch.abs(r.detach() - f))
    return loss


def librosa_mel_fbank(sample_rate, n_fft, n_mels, fmin=0.0, fmax=None):
    """librosa.filters.mel's Slaney filterbank with its float32 rounding -> (n_mels, n_fft // 2 + 1).

    The same filters as `pylib.features.mel.mel_filterbank`, but rounded in librosa's two stages
    (each triangle to float32, then the float32 triangle times its float64 area norm, to float32),
    so HiFi-GAN's loss mel agrees with jik876's bit for bit instead of to 1 ulp.
    """
    fmax = sample_rate / 2.0 if fmax is None else float(fmax)
    freqs = np.fft.rfftfreq(n=n_fft, d=1.0 / sample_rate)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, freqs)
    weights = np.zeros((n_mels, len(freqs)), dtype=np.float32)
    for i in range(n_mels):
        weights[i] = np.maximum(0, np.minimum(-ramps[i] / fdiff[i], ramps[i + 2] / fdiff[i + 1]))
    weights *= (2.0 / (mel_f[2: n_mels + 2] - mel_f[:n_mels]))[:, None]
    return weights


def hifigan_log_mel(wave, n_fft, hop, win_length, fbank, window, log_floor=1e-5, mag_eps=1e-9):
    """HiFi-GAN's loss mel (meldataset.py `mel_spectrogram`): wave (B, T) -> (B, N, M), N = T // hop
    for T a multiple of hop.

    Unlike `log_mel` the frames are not centred: the wave is reflect-padded by (n_fft - hop) / 2 on
    both sides and framed from there, so frame k covers samples k*hop - (n_fft - hop)/2 onwards; the
    magnitude is sqrt(re^2 + im^2 + mag_eps), which keeps its gradient finite at zero.
    fbank: (M, n_fft // 2 + 1); window: (win_length,).
    """
    pad = (n_fft - hop) // 2
    if wave.shape[-1] <= pad:
        raise ValueError(f"a {wave.shape[-1]}-sample wave is too short for the HiFi-GAN mel (reflect "
                         f"padding of {pad} needs more samples)")
    x = F.pad(wave[:, None], (pad, pad), mode="reflect")[:, 0]
    spec = torch.stft(x, n_fft, hop_length=hop, win_length=win_length, window=window, center=False,
                      return_complex=True)  # (B, F, N)
    mag = torch.sqrt(spec.real.square() + spec.imag.square() + mag_eps)
    return torch.log(torch.clamp(torch.matmul(fbank, mag), min=log_floor)).transpose(1, 2)


class HifiganMel(nn.Module):
    """Module form of `hifigan_log_mel`, filterbank (`librosa_mel_fbank`) and Hann window as buffers.

    forward: wave (B, T) -> (B, N, M).
    """

    def __init__(self, sample_rate, n_fft, hop, win_length, n_mels, fmin=0.0, fmax=None, log_floor=1e-5):
        super().__init__()
        if (n_fft - hop) % 2:
            raise ValueError(f"HiFi-GAN mel framing needs n_fft - hop even, got n_fft {n_fft}, hop {hop}")
        self.n_fft, self.hop, self.win_length, self.log_floor = n_fft, hop, win_length, log_floor
        fbank = torch.from_numpy(librosa_mel_fbank(sample_rate, n_fft, n_mels, fmin, fmax))
        self.register_buffer("fbank", fbank, persistent=False)
        self.register_buffer("window", torch.hann_window(win_length), persistent=False)

    def frame_mask(self, lengths, n_frames):
        """lengths (B,) samples -> (B, n_frames) bool: frames whose centre k*hop + hop/2 lies inside."""
        centre = torch.arange(n_frames, device=lengths.device) * self.hop + self.hop // 2
        return centre[None, :] < lengths[:, None]

    def forward(self, wave):
        return hifigan_log_mel(wave, self.n_fft, self.hop, self.win_length, self.fbank.to(wave.dtype),
                               self.window.to(wave.dtype), self.log_floor)


def mel_l1_loss(y_hat, y, lengths=None, mel_fn=None, **mel_kwargs):
    """L1 distance between log-mel spectrograms: y_hat, y (B, T) -> scalar.

    The mel comes from `mel_fn(wave (B, T)) -> (B, N, M)` (e.g. a `pylib.features.mel.LogMel`), else
    from `log_mel(wave, **mel_kwargs)` (sample_rate, n_fft, hop, win_length, n_mels, fmin, fmax).
    With `lengths` (B,) in samples, only frames inside each utterance count: `mel_fn.frame_mask`
    decides where the mel has one, else centred frames of hop `mel_fn.hop` or mel_kwargs["hop"].
    """
    if y_hat.shape != y.shape:
        raise ValueError(f"y_hat {tuple(y_hat.shape)} and y {tuple(y.shape)} differ in shape")
    if mel_fn is None:
        def mel_fn(w):
            return log_mel(w, **mel_kwargs)
    m_hat, m = mel_fn(y_hat), mel_fn(y)
    diff = torch.abs(m_hat - m)  # (B, N, M)
    if lengths is None:
        return diff.mean()
    lengths = lengths.to(diff.device)
    if hasattr(mel_fn, "frame_mask"):
        mask = mel_fn.frame_mask(lengths, diff.shape[1]).to(diff.dtype)  # (B, N)
    else:
        hop = getattr(mel_fn, "hop", None) or mel_kwargs["hop"]
        mask = frame_mask(lengths, hop, diff.shape[1]).to(diff.dtype)
    return (diff * mask[..., None]).sum() / (mask.sum() * diff.shape[-1]).clamp(min=1.0)
