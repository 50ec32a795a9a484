"""Front ends and back ends of the LCNN countermeasure family, all length-aware.

Shapes: B batch, T samples, N frames, D feature dim, C channels, H hidden.
A zero-padded batch gives each utterance the same result as running it alone (in eval mode):
samples past the end are zeroed after pre-emphasis, deltas replicate the last valid frame, every
convolution sees zeros past the end (as its own zero padding would give), the BLSTMs run on packed
sequences and pooling averages valid frames only.
"""

import torch
from torch import nn

from pylib.features.lfcc import LFCC, delta, linear_filterbank, num_frames, power_spectrogram


def length_mask(lengths, n):
    """(B,) lengths -> (B, n) bool, True on valid positions."""
    return torch.arange(n, device=lengths.device)[None, :] < lengths[:, None]


class FrontEnd(nn.Module):
    """wave (B, T), lengths (B,) -> features (B, N, D), frame lengths (B,).

    kind: lfcc (cepstra), lfb (log10 linear filterbank energies, no DCT) or spec (ln power
    spectrum through a trainable linear filterbank initialised with the triangular one).
    """

    def __init__(self, kind, sample_rate, n_fft, hop, win_length, n_filters, window, preemphasis,
                 log_floor, with_energy, deltas, center, pad_mode, spec_floor):
        super().__init__()
        self.kind = kind
        self.hop, self.n_fft, self.center = hop, n_fft, center
        self.deltas = deltas
        stft = dict(n_fft=n_fft, hop=hop, win_length=win_length, window=window, center=center,
                    pad_mode=pad_mode, preemphasis=preemphasis)
        if kind in ("lfcc", "lfb"):
            self.lfcc = LFCC(sample_rate=sample_rate, n_filters=n_filters, dct=kind == "lfcc",
                             log_floor=log_floor, with_energy=with_energy, deltas=deltas, **stft)
        elif kind == "spec":
            self.stft = stft
            self.spec_floor = spec_floor
            self.fb = nn.Linear(n_fft // 2 + 1, n_filters, bias=False)
            with torch.no_grad():
                self.fb.weight.copy_(linear_filterbank(n_fft, sample_rate, n_filters).T)
        else:
            raise ValueError(f"front end {kind!r}")
        self.dim = n_filters * (3 if deltas else 1)

    def frames(self, lengths):
        return num_frames(lengths, self.hop, self.n_fft, self.center)

    def forward(self, wave, lengths):
        n = self.frames(lengths)
        if self.kind in ("lfcc", "lfb"):
            return self.lfcc(wave, lengths), n
        power = power_spectrogram(wave, lengths=lengths, **self.stft)
        feat = self.fb(torch.log(power + self.spec_floor))
        if self.deltas:
            d1 = delta(feat, n)
            feat = torch.cat([feat, d1, delta(d1, n)], dim=-1)
        return feat, n


class _MaxFeatureMapGrad(torch.autograd.Function):
    """max(a, b) of the halves of dim 1 with a cheap backward: the gradient goes to the larger half
    (to b on ties) through one saved bool mask, a product and a difference. Autograd's own
    torch.maximum backward (ties split in half: eq, div, masked_fill, where) and that of where()
    made the four full-resolution MFMs about half of a training step on CPU."""

    @staticmethod
    def forward(ctx, x):
        a, b = x.chunk(2, dim=1)
        ctx.save_for_backward(a > b)
        return torch.maximum(a, b)

    @staticmethod
    def backward(ctx, grad):
        (a_wins,) = ctx.saved_tensors
        ga = grad * a_wins.to(grad.dtype)
        return torch.cat([ga, grad - ga], dim=1)  # exact: grad - grad = 0, grad - 0 = grad


class MaxFeatureMap(nn.Module):
    """Max-feature-map: elementwise max of the two halves of dim 1. (B, 2C, ...) -> (B, C, ...)."""

    def forward(self, x):
        if torch.is_grad_enabled() and x.requires_grad:
            return _MaxFeatureMapGrad.apply(x)
        a, b = x.chunk(2, dim=1)
        return torch.maximum(a, b)


def lcnn_layers(width=64, dropout=0.7):
    """The LCNN of the ASVspoof LFCC-LCNN baseline as a flat layer list.

    width is the first conv's output channels (64 in the paper); the others scale with it. Four
    2x2 max-pools divide frames and feature dims by 16; the output has width // 2 channels.
    The index order is the published one, so checkpoints of that layout map one to one.
    """
    if width % 4:
        raise ValueError(f"lcnn width must be a multiple of 4, got {width}")
    w, h, q = width, width // 2, width * 3 // 4

    def conv(cin, cout, k):
        return nn.Conv2d(cin, cout, k, 1, padding=k // 2)

    def pool():
        return nn.MaxPool2d(2, 2)

    def bn(c):
        return nn.BatchNorm2d(c, affine=False)

    mfm = MaxFeatureMap
    return [
        conv(1, w, 5), mfm(), pool(),
        conv(h, w, 1), mfm(), bn(h), conv(h, 2 * q, 3), mfm(),
        pool(), bn(q),
        conv(q, 2 * q, 1), mfm(), bn(q), conv(q, 2 * w, 3), mfm(),
        pool(),
        conv(w, 2 * w, 1), mfm(), bn(w), conv(w, w, 3), mfm(), bn(h),
        conv(h, w, 1), mfm(), bn(h), conv(h, w, 3), mfm(), pool(),
        nn.Dropout(dropout),
    ]


class LcnnBody(nn.Module):
    """features (B, N, D), lengths (B,) -> (B, N // 16, width // 2 * (D // 16)), lengths // 16."""

    def __init__(self, in_dim, width=64, dropout=0.7):
        super().__init__()
        self.layers = nn.Sequential(*lcnn_layers(width, dropout))
        self.out_dim = (width // 2) * (in_dim // 16)
        if self.out_dim == 0:
            raise ValueError(f"lcnn: feature dim {in_dim} is below 16; the four 2x2 pools need at least 16")

    def forward(self, feat, lengths):
        # channels_last: oneDNN then convolves NHWC without reordering to its blocked layout and
        # back, and max_pool2d / max-feature-map / BatchNorm run their vectorised NHWC kernels
        # (the NCHW 2x2 pool alone was ~10x slower); values are the same, only memory order differs.
        # The permuted view has channels_last strides; .contiguous(channels_last) would leave a
        # 1-channel tensor as it is and the convs would stay NCHW all the way through.
        full = bool((lengths >= feat.shape[1]).all())
        if not full:  # the first conv's input, masked here: on (B, 1, N, D) `where` gives NCHW back
            feat = torch.where(length_mask(lengths, feat.shape[1])[:, :, None], feat, 0.0)
        x = feat.contiguous().unsqueeze(-1).permute(0, 3, 1, 2)
        for i, layer in enumerate(self.layers):
            if isinstance(layer, nn.Conv2d) and layer.kernel_size[0] > 1 and not full and i > 0:
                # zeros past each utterance's end, as the conv's own padding gives when it is alone.
                # Only convs that mix frames need this: 1x1 convs, MFM, BatchNorm (eval) and dropout
                # act per frame, and a 2x2 pool's valid outputs (< length // 2) read valid frames only.
                # (where, not a product: inf * 0 would be nan; masked_fill would drop channels_last)
                x = torch.where(length_mask(lengths, x.shape[2])[:, None, :, None], x, 0.0)
            elif isinstance(layer, nn.MaxPool2d):
                lengths = lengths // 2
            x = layer(x)
        b, c, n, d = x.shape
        return x.permute(0, 2, 1, 3).reshape(b, n, c * d), lengths


def masked_mean(x, lengths):
    """(B, N, H), (B,) -> (B, H) mean over valid frames."""
    m = length_mask(lengths, x.shape[1]).to(x.dtype)[..., None]
    return (x * m).sum(1) / m.sum(1).clamp(min=1)


class LstmBackEnd(nn.Module):
    """LCNN -> stacked BLSTMs, added to their input -> mean over time. -> (B, H)."""

    def __init__(self, in_dim, width=64, dropout=0.7, lstm_layers=2):
        super().__init__()
        self.body = LcnnBody(in_dim, width, dropout)
        hid = self.body.out_dim
        if hid % 2:
            raise ValueError(f"lstm back end: LCNN output dim {hid} must be even")
        self.lstm = nn.ModuleList(
            nn.LSTM(hid, hid // 2, bidirectional=True, batch_first=True) for _ in range(lstm_layers)
        )
        self.dim = hid

    def forward(self, feat, lengths):
        x, n = self.body(feat, lengths)
        n = n.clamp(min=1)  # a too-short utterance pools its first frame rather than crash
        h = x
        full = bool((n == x.shape[1]).all())
        for lstm in self.lstm:
            if full:
                h = lstm(h)[0]
            else:
                rnn = nn.utils.rnn
                packed = rnn.pack_padded_sequence(h, n.cpu(), batch_first=True, enforce_sorted=False)
                h = rnn.pad_packed_sequence(lstm(packed)[0], batch_first=True, total_length=x.shape[1])[0]
        return masked_mean(h + x, n)


class AttentionBackEnd(nn.Module):
    """LCNN -> self-attentive pooling over valid frames (weighted mean, optionally std). -> (B, H or 2H)."""

    def __init__(self, in_dim, width=64, dropout=0.7, attn_std=False):
        super().__init__()
        self.body = LcnnBody(in_dim, width, dropout)
        hid = self.body.out_dim
        self.att = nn.Linear(hid, 1, bias=False)
        self.attn_std = attn_std
        self.dim = hid * (2 if attn_std else 1)

    def forward(self, feat, lengths):
        x, n = self.body(feat, lengths)
        n = n.clamp(min=1)
        logits = torch.tanh(self.att(x)).squeeze(-1)
        logits = logits.masked_fill(~length_mask(n, x.shape[1]), float("-inf"))
        w = torch.softmax(logits, dim=1)[..., None]  # (B, N, 1)
        mean = (w * x).sum(1)
        if not self.attn_std:
            return mean
        var = (w * (x - mean[:, None]).square()).sum(1)
        return torch.cat([mean, var.clamp(min=1e-5).sqrt()], dim=-1)


def fit_frames(feat, lengths, size, random_crop):
    """Crop (random or from the start) or repeat-pad each utterance to `size` frames.

    feat (B, N, D), lengths (B,) -> (B, size, D); only valid frames are used.
    """
    b = feat.shape[0]
    n = lengths.clamp(min=1).to(feat.device)
    if random_crop:
        start = (torch.rand(b, device=feat.device) * (n - size + 1).clamp(min=1)).long()
    else:
        start = torch.zeros(b, dtype=torch.long, device=feat.device)
    idx = (start[:, None] + torch.arange(size, device=feat.device)[None, :]) % n[:, None]
    return torch.gather(feat, 1, idx[..., None].expand(-1, -1, feat.shape[-1]))


class FixedBackEnd(nn.Module):
    """Fixed-length LCNN: crop/repeat to `frames`, LCNN, flatten, FC with max-feature-map. -> (B, fc_dim)."""

    def __init__(self, in_dim, width=64, dropout=0.7, frames=750, fc_dim=80):
        super().__init__()
        if frames < 16:
            raise ValueError(f"fixed back end: fixed_frames must be >= 16, got {frames}")
        self.frames = frames
        self.body = LcnnBody(in_dim, width, dropout)
        self.fc = nn.Linear(self.body.out_dim * (frames // 16), 2 * fc_dim)
        self.mfm = MaxFeatureMap()
        self.dim = fc_dim

    def forward(self, feat, lengths):
        x = fit_frames(feat, lengths, self.frames, random_crop=self.training)
        full = torch.full_like(lengths, self.frames)
        x, _ = self.body(x, full)
        return self.mfm(self.fc(x.flatten(1)))
