"""NSF building blocks: time-variant sinc filters, dilated-conv neural filters, condition module.

Legend: B batch, N frames, T samples, C channels, K filter taps (odd).
"""

import math

import torch
import torch.nn.functional as F
from torch import nn


def _hamming(order, like):
    n = torch.arange(order, device=like.device, dtype=like.dtype)
    return 0.54 - 0.46 * torch.cos(2 * math.pi * n / (order - 1))


def sinc_filter_coefs(cutoff, order=31):
    """Windowed-sinc low- and high-pass taps per sample from a normalised cut-off.

    cutoff: (B, T) in (0, 1), a fraction of Nyquist. Returns (low, high), each (B, T, K), K = order;
    low has unit gain at DC and high unit gain at Nyquist (hn-sinc-NSF, Wang et al. 2019).
    """
    if order % 2 != 1:
        raise ValueError(f"sinc filter order must be odd, got {order}")
    half = order // 2
    k = torch.arange(-half, half + 1, device=cutoff.device, dtype=cutoff.dtype)
    win = _hamming(order, cutoff)
    wc = cutoff.unsqueeze(-1)  # (B, T, 1)
    s = wc * torch.sinc(wc * k) * win  # windowed ideal low-pass, (B, T, K)
    low = s / s.sum(-1, keepdim=True)
    # High-pass = windowed unit impulse minus the low-pass; the Hamming window is 1 at the centre.
    # Its gain at Nyquist is sum_k (-1)^k h[k] = 1 - sum_k (-1)^k s[k] (the centre tap has k = 0).
    alt = 1.0 - 2.0 * (k.abs().remainder(2))  # (-1)^k
    high = -s
    high[..., half] += 1.0
    high = high / (1.0 - (s * alt).sum(-1, keepdim=True))
    return low, high


def time_variant_fir(x, coefs):
    """y[t] = sum_k coefs[t, k] * x[t + k - K // 2]: x (B, T), coefs (B, T, K) -> (B, T).

    Taps are applied as K shifted views of one padded copy of x (unfold makes a strided view,
    no per-sample window copies); only the (B, T, K) product is formed.
    """
    K = coefs.shape[-1]
    half = K // 2
    xs = F.pad(x, (half, K - 1 - half)).unfold(-1, K, 1)  # (B, T, K) view
    return torch.einsum("btk,btk->bt", xs, coefs)


class NeuralFilterBlock(nn.Module):
    """Dilated-conv filter block with a residual path: x (B, 1, T), cond (B, C, T) -> (B, 1, T).

    Each layer adds tanh(conv(h)) and the condition to the hidden signal; the output goes back
    to one channel through two 1x1 layers and is added to the input, so an untrained block
    passes its source through (NSF's neural filter block).
    """

    def __init__(self, channels, layers, kernel, dilation_base=2, out_scale=0.1):
        super().__init__()
        self.inp = nn.Conv1d(1, channels, 1)
        self.convs = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel, dilation=dilation_base**i,
                      padding=(dilation_base**i) * (kernel - 1) // 2)
            for i in range(layers)
        )
        self.out1 = nn.Conv1d(channels, max(1, channels // 4), 1)
        self.out2 = nn.Conv1d(max(1, channels // 4), 1, 1)
        self.out_scale = out_scale

    def forward(self, x, cond):
        h = torch.tanh(self.inp(x))
        if torch.is_grad_enabled():
            for conv in self.convs:
                h = h + torch.tanh(conv(h)) + cond
        else:  # inference: in place, no autograd to keep inputs for, half the memory traffic
            for conv in self.convs:
                h.add_(torch.tanh_(conv(h))).add_(cond)
        y = torch.tanh(self.out2(torch.tanh(self.out1(h * self.out_scale))))
        return x + y


class FilterStack(nn.Module):
    """`blocks` neural filter blocks in sequence: (B, 1, T), (B, C, T) -> (B, 1, T)."""

    def __init__(self, blocks, channels, layers, kernel, dilation_base=2):
        super().__init__()
        self.blocks = nn.ModuleList(
            NeuralFilterBlock(channels, layers, kernel, dilation_base) for _ in range(blocks)
        )

    def forward(self, x, cond):
        for block in self.blocks:
            x = block(x, cond)
        return x


def upsample_smooth(c, hop):
    """Repeat each frame `hop` times, then a moving average of width `hop`: (B, C, N) -> (B, C, N * hop).

    NSF smooths its repetition-upsampled condition this way. The moving average of a repeated signal
    only ever mixes a frame with one neighbour, with weights that depend on the position inside the
    frame, so it is one small matmul at frame rate ([prev, this, next] @ (3, hop)) instead of a
    width-hop average over every sample. Edges repeat the first/last frame.
    """
    B, C, N = c.shape
    left = (hop - 1) // 2  # the window [t - left, t - left + hop - 1]
    p = torch.arange(hop, device=c.device, dtype=c.dtype)
    w_prev = (left - p).clamp(min=0) / hop
    w_next = (p - left).clamp(min=0) / hop
    weights = torch.stack([w_prev, 1.0 - w_prev - w_next, w_next])  # (3, hop)
    prev = torch.cat([c[..., :1], c[..., :-1]], dim=-1)
    nxt = torch.cat([c[..., 1:], c[..., -1:]], dim=-1)
    frames = torch.stack([prev, c, nxt], dim=-1)  # (B, C, N, 3)
    return (frames @ weights).reshape(B, C, N * hop)


class ConditionModule(nn.Module):
    """Frame features to sample-rate condition: (B, N, D) -> (B, C + extra, N * hop).

    A BLSTM over frames, a conv over time, then repetition upsampling smoothed by a moving average
    of one frame (NSF's condition module). `extra` channels (the sinc cut-off) ride along and are
    split off by the caller.
    """

    def __init__(self, in_dim, lstm_units, channels, kernel, hop, extra=0, smooth=True):
        super().__init__()
        if lstm_units % 2:
            raise ValueError(f"cond_lstm_units must be even (two directions), got {lstm_units}")
        self.lstm = nn.LSTM(in_dim, lstm_units // 2, batch_first=True, bidirectional=True)
        self.conv = nn.Conv1d(lstm_units, channels + extra, kernel, padding=(kernel - 1) // 2)
        self.hop = hop
        self.smooth = smooth

    def forward(self, feats):
        h, _ = self.lstm(feats)  # (B, N, U)
        c = self.conv(h.transpose(1, 2))  # (B, C + extra, N)
        if self.smooth:
            return upsample_smooth(c, self.hop)
        return torch.repeat_interleave(c, self.hop, dim=2)
