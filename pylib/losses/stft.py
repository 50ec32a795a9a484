"""Multi-resolution STFT log-magnitude loss: the NSF training criterion (Wang et al. 2019).

For each resolution (n_fft, hop, win) the loss is the mean over valid frames and bins of
(log(|Y_hat|^2 + eps) - log(|Y|^2 + eps))^2; resolutions are summed. Padding is masked: samples at
or beyond each utterance's length are zeroed in both signals, and only frames whose centre lies
inside the utterance count (frame k at sample k * hop, k * hop <= length: the frames the seed's
torch.stft gives for the unpadded utterance).

`sine_masked_stft_loss` is cyclic-noise NSF's extra term (the seed's
project/01-nsf/cyc-noise-nsf-4/model.py, Loss): each harmonic-branch block output is compared with
the target through a spectral mask made from sines at F0, so that the hidden signals carry the
harmonics.
"""

import torch
from torch import nn

from pylib.nn.masks import frame_mask, length_mask

# The NSF paper's three resolutions at 16 kHz as (n_fft, hop, win): shifts 80/40/640 samples,
# frame lengths 320/80/1920.
NSF_RESOLUTIONS = ((512, 80, 320), (128, 40, 80), (2048, 640, 1920))


def _power_spectrum(x, n_fft, hop, win, window):
    """(B, T) -> (B, F, N) power, centred frames (frame k at sample k * hop), zero-padded edges."""
    spec = torch.stft(x, n_fft, hop_length=hop, win_length=win, window=window, center=True,
                      pad_mode="constant", return_complex=True)
    return spec.real.square() + spec.imag.square()


def _window(windows, win, like):
    """The Hann window of `win` samples: from the `windows` cache where it holds one."""
    if windows is not None and win in windows:
        return windows[win]
    return torch.hann_window(win, device=like.device, dtype=like.dtype)


def _valid_samples(lengths, y):
    """(lengths as a tensor clamped to T, (B, T) mask of the valid samples) of the (B, T) batch y."""
    T = y.shape[-1]
    lengths = torch.as_tensor(lengths, device=y.device).clamp(max=T)
    return lengths, length_mask(lengths, T).to(y.dtype)


def _valid_frames(lengths, n_frames, hop, dtype):
    """(B, N) mask of the frames whose centre (frame k at sample k * hop) is within the lengths."""
    return frame_mask(lengths, hop, n_frames).to(dtype)


def multi_resolution_stft_loss(y_hat, y, resolutions=NSF_RESOLUTIONS, lengths=None, eps=1e-5, windows=None):
    """Sum over resolutions of the mean squared log-power difference.

    y_hat, y: (B, T) generated and natural waveforms. resolutions: list of (n_fft, hop, win).
    lengths: (B,) valid samples per utterance, or None when nothing is padded.
    windows: optional {win: (win,) tensor} cache (the module passes its buffers).
    Returns (loss, stats): a scalar tensor and {"stft_<n_fft>_<hop>_<win>": float, ...}.
    """
    if y_hat.shape != y.shape or y.dim() != 2:
        raise ValueError(f"expected two (B, T) waveforms of the same shape, got {tuple(y_hat.shape)} "
                         f"and {tuple(y.shape)}")
    if lengths is not None:
        lengths, keep = _valid_samples(lengths, y)
        y_hat, y = y_hat * keep, y * keep
    total = y.new_zeros(())
    stats = {}
    for n_fft, hop, win in resolutions:
        window = _window(windows, win, y)
        d = (torch.log(_power_spectrum(y_hat, n_fft, hop, win, window) + eps)
             - torch.log(_power_spectrum(y, n_fft, hop, win, window) + eps)).square()  # (B, F, N)
        if lengths is None:
            part = d.mean()
        else:
            mask = _valid_frames(lengths, d.shape[-1], hop, d.dtype)  # (B, N)
            part = (d * mask[:, None, :]).sum() / (mask.sum() * d.shape[1]).clamp(min=1)
        total = total + part
        stats[f"stft_{n_fft}_{hop}_{win}"] = float(part.detach())
    stats["stft"] = float(total.detach())
    return total, stats


class MultiResolutionSTFTLoss(nn.Module):
    """Module form holding the Hann windows as buffers: (y_hat, y, lengths) -> (loss, stats)."""

    def __init__(self, resolutions=NSF_RESOLUTIONS, eps=1e-5):
        super().__init__()
        self.resolutions = [tuple(int(v) for v in r) for r in resolutions]
        for n_fft, hop, win in self.resolutions:
            if not (0 < hop and 0 < win <= n_fft):
                raise ValueError(f"STFT resolution (n_fft={n_fft}, hop={hop}, win={win}): need 0 < hop and "
                                 f"0 < win <= n_fft")
        self.eps = eps
        for win in sorted({r[2] for r in self.resolutions}):
            self.register_buffer(f"win{win}", torch.hann_window(win), persistent=False)

    def _windows(self):
        return {r[2]: getattr(self, f"win{r[2]}") for r in self.resolutions}

    def forward(self, y_hat, y, lengths=None):
        return multi_resolution_stft_loss(y_hat, y, self.resolutions, lengths, self.eps, self._windows())

    def sine_masked(self, hiddens, y, sines, lengths=None):
        """`sine_masked_stft_loss` at this module's resolutions."""
        return sine_masked_stft_loss(hiddens, y, sines, self.resolutions, lengths, self.eps,
                                     windows=self._windows())


def _sine_mask(sines, n_fft, hop, win, window, threshold):
    """Per-frame mask from the power spectrum of sines: P / max_f P, 0 where the frame is silent.
    sines: (B, T) -> (B, F, N)."""
    p = _power_spectrum(sines, n_fft, hop, win, window)
    loud = p.mean(dim=1) > threshold  # (B, N)
    peak = torch.where(loud, p.amax(dim=1), torch.ones_like(p[:, 0]))
    return p * (loud.to(p.dtype) / peak).unsqueeze(1)


def sine_masked_stft_loss(hiddens, y, sines, resolutions=NSF_RESOLUTIONS, lengths=None, eps=1e-5,
                          threshold=1e-7, windows=None):
    """Sum over hidden signals and resolutions of the mean squared difference of
    log(|H|^2 m^2 + eps) and log(|Y|^2 m^2 + eps), with m the sine mask of each frame.

    hiddens: list of (B, T) signals; y: (B, T) target; sines: (B, T) the masking signal (no gradient
    flows into it or into the masked target). lengths as in `multi_resolution_stft_loss`.
    Returns a scalar tensor.
    """
    if y.dim() != 2:
        raise ValueError(f"expected a (B, T) target waveform, got {tuple(y.shape)}")
    if lengths is not None:
        lengths, keep = _valid_samples(lengths, y)
        y, sines = y * keep, sines * keep
        hiddens = [h * keep for h in hiddens]
    total = y.new_zeros(())
    for n_fft, hop, win in resolutions:
        window = _window(windows, win, y)
        with torch.no_grad():
            m2 = _sine_mask(sines, n_fft, hop, win, window, threshold).square()
            ref = torch.log(_power_spectrum(y, n_fft, hop, win, window) * m2 + eps)
        if lengths is not None:
            fmask = _valid_frames(lengths, ref.shape[-1], hop, ref.dtype)[:, None, :]  # (B, 1, N)
            denom = (fmask.sum() * ref.shape[1]).clamp(min=1)
        for h in hiddens:
            d = (torch.log(_power_spectrum(h, n_fft, hop, win, window) * m2 + eps) - ref).square()
            total = total + (d.mean() if lengths is None else (d * fmask).sum() / denom)
    return total
