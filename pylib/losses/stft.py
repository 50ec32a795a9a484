"""Multi-resolution STFT log-magnitude loss: the NSF training criterion (Wang et al. 2019).

For each resolution (n_fft, hop, win) the loss is the mean over valid frames and bins of
(log(|Y_hat|^2 + eps) - log(|Y|^2 + eps))^2; resolutions are summed. Padding is masked: samples at
or beyond each utterance's length are zeroed in both signals, and only frames whose centre lies
inside the utterance count.
"""

import torch
from torch import nn

# The NSF paper's three resolutions at 16 kHz as (n_fft, hop, win): shifts 80/40/640 samples,
# frame lengths 320/80/1920.
NSF_RESOLUTIONS = ((512, 80, 320), (128, 40, 80), (2048, 640, 1920))


def _power_spectrum(x, n_fft, hop, win, window):
    """(B, T) -> (B, F, N) power, centred frames (frame k at sample k * hop), zero-padded edges."""
    spec = torch.stft(x, n_fft, hop_length=hop, win_length=win, window=window, center=True,
                      pad_mode="constant", return_complex=True)
    return spec.real.square() + spec.imag.square()


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
    B, T = y.shape
    if lengths is not None:
        lengths = torch.as_tensor(lengths, device=y.device).clamp(max=T)
        keep = (torch.arange(T, device=y.device) < lengths[:, None]).to(y.dtype)
        y_hat, y = y_hat * keep, y * keep
    total = y.new_zeros(())
    stats = {}
    for n_fft, hop, win in resolutions:
        if windows is not None and win in windows:
            window = windows[win]
        else:
            window = torch.hann_window(win, device=y.device, dtype=y.dtype)
        d = (torch.log(_power_spectrum(y_hat, n_fft, hop, win, window) + eps)
             - torch.log(_power_spectrum(y, n_fft, hop, win, window) + eps)).square()  # (B, F, N)
        if lengths is None:
            part = d.mean()
        else:
            frames = torch.arange(d.shape[-1], device=y.device) * hop
            mask = (frames[None, :] < lengths[:, None]).to(d.dtype)  # (B, N)
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

    def forward(self, y_hat, y, lengths=None):
        windows = {r[2]: getattr(self, f"win{r[2]}") for r in self.resolutions}
        return multi_resolution_stft_loss(y_hat, y, self.resolutions, lengths, self.eps, windows)
