"""NSF building blocks: sinc and fixed FIR filters, moving averages, neural filter blocks, condition module.

Legend: B batch, N frames, T samples, C channels, K filter taps.
Every filter here is causal, as in the seed (project-NN-Pytorch-scripts, project/01-nsf/*/model.py):
y[t] = sum_k h[k] x[t - k]; its group delay is part of what a trained model expects.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

PAD_MODES = ("replicate", "zeros")


def seed_hamming(order, like):
    """The seed's window over taps n = -(K-1)/2 .. (K-1)/2: 0.54 + 0.46 cos(2 pi n / K) -> (K,).

    (Note the K, not K - 1, in the denominator: the edge taps are not at the window's minimum.)
    """
    half = order // 2
    n = torch.arange(-half, half + 1, device=like.device, dtype=like.dtype)
    return 0.54 + 0.46 * torch.cos(2 * math.pi * n / order)


def sinc_filter_coefs(cutoff, order=31):
    """Windowed-sinc low- and high-pass taps per sample from a normalised cut-off.

    cutoff: (B, T), a fraction of Nyquist. Returns (low, high), each (B, T, K), K = order, tap k
    for offset n = k - (K-1)/2. low has unit gain at DC, high unit gain at Nyquist (hn-sinc-NSF,
    the seed's SincFilter).
    """
    if order % 2 != 1:
        raise ValueError(f"sinc filter order must be odd, got {order}")
    half = order // 2
    n = torch.arange(-half, half + 1, device=cutoff.device, dtype=cutoff.dtype)
    win = seed_hamming(order, cutoff)
    wc = cutoff.unsqueeze(-1)  # (B, T, 1)
    s = wc * torch.sinc(wc * n) * win  # windowed ideal low-pass, (B, T, K)
    low = s / s.sum(-1, keepdim=True)
    # High-pass = (unit impulse - low-pass) * window; the window is 1 at the centre tap.
    # Its gain at Nyquist is sum_n (-1)^n h[n] = 1 - sum_n (-1)^n s[n].
    alt = 1.0 - 2.0 * n.abs().remainder(2)  # (-1)^n
    high = -s
    high[..., half] += 1.0
    high = high / (1.0 - (s * alt).sum(-1, keepdim=True))
    return low, high


def time_variant_fir(x, coefs):
    """Causal time-variant FIR y[t] = sum_k coefs[t, k] * x[t - k]: x (B, T), coefs (B, T, K) -> (B, T).

    The K delayed copies are one strided view (unfold) of a left-padded x; only the (B, T, K)
    product is formed.
    """
    K = coefs.shape[-1]
    xs = F.pad(x, (K - 1, 0)).unfold(-1, K, 1)  # (B, T, K): xs[t, j] = x[t - (K - 1) + j]
    return torch.einsum("btk,btk->bt", xs, coefs.flip(-1))


def causal_fir(x, coef):
    """Causal time-invariant FIR y[t] = sum_k coef[k] x[t - k]: x (B, T), coef (K,) -> (B, T)."""
    K = coef.shape[-1]
    return F.conv1d(F.pad(x.unsqueeze(1), (K - 1, 0)), coef.flip(-1).view(1, 1, K))[:, 0]


def moving_average(x, win, pad="replicate"):
    """Centred moving average of width `win` over the last dim: (B, C, T) -> (B, C, T).

    The window of sample t is [t - (win-1)//2, t + win//2]; outside the signal it sees the edge
    value (`pad="replicate"`) or zeros (`pad="zeros"`), as the seed's MovingAverage layers. Done as
    a difference of running sums (O(T), not O(T * win)), accumulated in float64 so that a long
    signal loses nothing to round-off.
    """
    if pad not in PAD_MODES:
        raise ValueError(f"moving average padding must be one of {PAD_MODES}, got {pad!r}")
    if win == 1:
        return x
    left = (win - 1) // 2
    xp = F.pad(x, (left, win - 1 - left), mode="replicate" if pad == "replicate" else "constant")
    s = torch.cumsum(xp.to(torch.float64), dim=-1)
    s = F.pad(s, (1, 0))
    return ((s[..., win:] - s[..., :-win]) / win).to(x.dtype)


def upsample_smooth(c, hop, pad="replicate", passes=2):
    """Repeat each frame `hop` times, then `passes` moving averages of width `hop`:
    (B, C, N) -> (B, C, N * hop). The seed's UpSampleLayer(smoothing=True) applies two."""
    y = torch.repeat_interleave(c, hop, dim=-1)
    for _ in range(passes):
        y = moving_average(y, hop, pad)
    return y


class NeuralFilterBlock(nn.Module):
    """Causal dilated-conv filter block: x (B, 1, T), cond (B, C, T) -> (B, 1, T).

    h = tanh(W_in x); each layer adds tanh(conv(h)) and the condition; then
    tanh(W_2 (0.1 h)) and W_3 back to one channel. With `skip` (the harmonic branch and every
    hn-NSF block) W_3 is followed by tanh and the input is added, so an untrained block passes its
    source through; without it (cyclic-noise NSF's noise branch) the block outputs W_3 alone.
    """

    def __init__(self, channels, layers, kernel, dilation_base=2, bias=False, skip=True, out_scale=0.1):
        super().__init__()
        self.inp = nn.Conv1d(1, channels, 1, bias=bias)
        self.dilations = [dilation_base**i for i in range(layers)]
        self.convs = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel, dilation=d, bias=bias) for d in self.dilations
        )
        self.kernel = kernel
        self.out1 = nn.Conv1d(channels, max(1, channels // 4), 1, bias=bias)
        self.out2 = nn.Conv1d(max(1, channels // 4), 1, 1, bias=bias)
        self.skip = skip
        self.out_scale = out_scale

    def forward(self, x, cond):
        h = torch.tanh(self.inp(x))
        grad = torch.is_grad_enabled()
        for conv, d in zip(self.convs, self.dilations):
            z = conv(F.pad(h, (d * (self.kernel - 1), 0)))  # causal: left padding only
            if grad:
                h = h + torch.tanh(z) + cond
            else:  # inference: in place, no autograd to keep inputs for
                h.add_(torch.tanh_(z)).add_(cond)
        y = self.out2(torch.tanh(self.out1(h * self.out_scale)))
        return x + torch.tanh(y) if self.skip else y


class FilterStack(nn.Module):
    """`blocks` neural filter blocks in sequence: (B, 1, T), (B, C, T) -> (B, 1, T).

    `forward(..., hidden=True)` also returns every block's output (B, T) (cyclic-noise NSF's loss).
    """

    def __init__(self, blocks, channels, layers, kernel, dilation_base=2, bias=False, skip=True):
        super().__init__()
        self.blocks = nn.ModuleList(
            NeuralFilterBlock(channels, layers, kernel, dilation_base, bias, skip) for _ in range(blocks)
        )

    def forward(self, x, cond, hidden=False):
        outs = []
        for block in self.blocks:
            x = block(x, cond)
            outs.append(x[:, 0])
        return (x, outs) if hidden else x


COND_MODULES = ("blstm", "cnn")


class ConditionModule(nn.Module):
    """Frame features to a sample-rate condition: (B, N, D) -> (B, out_channels, N * hop).

    `kind="blstm"` (hn-sinc-nsf-9, hn-nsf, cyc-noise-nsf-4): a BLSTM, then one conv over frames
    with tanh. `kind="cnn"` (hn-sinc-nsf-10): `cnn_layers` convs over frames, each with tanh.
    Then repetition upsampling, smoothed by two moving averages of one frame (`smooth`).
    """

    def __init__(self, in_dim, out_channels, hop, kind="blstm", lstm_units=64, kernel=3, cnn_layers=3,
                 smooth=True, pad="replicate"):
        super().__init__()
        if kind not in COND_MODULES:
            raise ValueError(f"condition module must be one of {COND_MODULES}, got {kind!r}")
        self.kind = kind
        if kind == "blstm":
            if lstm_units % 2:
                raise ValueError(f"cond_lstm_units must be even (two directions), got {lstm_units}")
            self.lstm = nn.LSTM(in_dim, lstm_units // 2, batch_first=True, bidirectional=True)
            dims = [lstm_units, out_channels]
        else:
            dims = [in_dim] + [out_channels] * cnn_layers
        self.convs = nn.ModuleList(nn.Conv1d(a, b, kernel) for a, b in zip(dims[:-1], dims[1:]))
        self.kernel = kernel
        self.hop = hop
        self.smooth = smooth
        self.pad = pad

    def frames(self, feats):
        """(B, N, D) -> (B, out_channels, N) at frame rate."""
        h = self.lstm(feats)[0] if self.kind == "blstm" else feats
        h = h.transpose(1, 2)
        left = (self.kernel - 1) // 2
        for conv in self.convs:
            h = torch.tanh(conv(F.pad(h, (left, self.kernel - 1 - left))))
        return h

    def upsample(self, c):
        """(B, C, N) -> (B, C, N * hop), smoothed or plainly repeated."""
        if self.smooth:
            return upsample_smooth(c, self.hop, self.pad)
        return torch.repeat_interleave(c, self.hop, dim=-1)

    def forward(self, feats):
        return self.upsample(self.frames(feats))
