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
from pylib.nn.masks import length_mask


class FrontEnd(nn.Module):
    """wave (B, T), lengths (B,) -> features (B, N, D), frame lengths (B,).

    kind: lfcc (cepstra), lfb (log10 linear filterbank energies, no DCT), spec (ln power
    spectrum through a trainable linear filterbank initialised with the triangular one) or spec2
    (the seed's `spec2-lcnn-*` front end, 03-asvspoof-mega/spec2-lcnn-*/01/model.py
    TrainableLinearFb: log10((power @ W)^2 + log_floor) with W trainable, initialised with the
    triangular filterbank; the square of the filtered power is the seed's, kept as it is).
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
        elif kind in ("spec", "spec2"):
            self.stft = stft
            self.floor = spec_floor if kind == "spec" else log_floor
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
        if self.kind == "spec":
            feat = self.fb(torch.log(power + self.floor))
        else:
            feat = torch.log10(self.fb(power).square() + self.floor)
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


def lcnn_layers(width=64):
    """The LCNN of the ASVspoof LFCC-LCNN baseline as a flat layer list (dropout excluded).

    width is the first conv's output channels (64 in the paper); the others scale with it. Four
    2x2 max-pools divide frames and feature dims by 16; the output has width // 2 channels.
    The index order is the published one (the seed's `m_transform.0.<i>`, 03-asvspoof-mega/
    lfcc-lcnn-*/01/model.py), so checkpoints of that layout map one to one. The seed ends the list
    with Dropout(0.7) (index 28, no weights); `LcnnBody` applies it separately.
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
    ]


class LcnnBody(nn.Module):
    """features (B, N, D), lengths (B,) -> (B, N // 16, width // 2 * (D // 16)), lengths // 16.

    With flat=False the output stays (B, C, N // 16, D // 16) (the fixed back end flattens it in
    that C, N, D order, as the seed does). Dropout runs on the NCHW-contiguous output, so that its
    mask is drawn in the same element order as the seed's and a seeded run matches it exactly.
    """

    def __init__(self, in_dim, width=64, dropout=0.7):
        super().__init__()
        self.layers = nn.Sequential(*lcnn_layers(width))
        self.dropout = nn.Dropout(dropout)
        self.channels = width // 2
        self.out_dim = (width // 2) * (in_dim // 16)
        if self.out_dim == 0:
            raise ValueError(f"lcnn: feature dim {in_dim} is below 16; the four 2x2 pools need at least 16")

    def forward(self, feat, lengths, flat=True):
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
        x = x.contiguous()
        if self.dropout.training and self.dropout.p > 0:  # the layer's own mode: MC dropout turns it on
            x = self.dropout(x)
        if not flat:
            return x, lengths
        b, c, n, d = x.shape
        return x.permute(0, 2, 1, 3).reshape(b, n, c * d), lengths


def masked_mean(x, lengths):
    """(B, N, H), (B,) -> (B, H) mean over valid frames."""
    m = length_mask(lengths, x.shape[1]).to(x.dtype)[..., None]
    return (x * m).sum(1) / m.sum(1).clamp(min=1)


def masked_sum(x, lengths):
    """(B, N, H), (B,) -> (B, H) sum over valid frames."""
    if bool((lengths >= x.shape[1]).all()):
        return x.sum(1)
    return torch.where(length_mask(lengths, x.shape[1])[..., None], x, 0.0).sum(1)


class LstmBackEnd(nn.Module):
    """LCNN -> stacked BLSTMs, added to their input -> sum or mean over time. -> (B, H).

    pool: the seed's lstmsum models sum over frames with the angular heads (am/oc/p2s) and average
    with the sigmoid head (03-asvspoof-mega/lfcc-lcnn-lstmsum-{p2s,sig}/01/model.py).
    """

    def __init__(self, in_dim, width=64, dropout=0.7, lstm_layers=2, pool="mean"):
        super().__init__()
        if pool not in ("mean", "sum"):
            raise ValueError(f"lstm back end: pool {pool!r}: use mean or sum")
        self.body = LcnnBody(in_dim, width, dropout)
        hid = self.body.out_dim
        if hid % 2:
            raise ValueError(f"lstm back end: LCNN output dim {hid} must be even")
        self.lstm = nn.ModuleList(
            nn.LSTM(hid, hid // 2, bidirectional=True, batch_first=True) for _ in range(lstm_layers)
        )
        self.pool = pool
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
        return (masked_sum if self.pool == "sum" else masked_mean)(h + x, n)


class AttentionBackEnd(nn.Module):
    """LCNN -> self-attentive pooling over valid frames. -> (B, H) or (B, 2H).

    Attention weights a_t = softmax_t(tanh(w . x_t)) over the valid frames, then by `pool`:
      seed: [sum_t a_t x_t, std_t(a_t x_t + noise)], the seed's SelfWeightedPooling with
            mean_only=False (sandbox/block_nn.py): the std is the unbiased std over frames of the
            weighted vectors plus N(0, noise^2) noise (noise 1e-5 there, drawn in eval too);
      mean: sum_t a_t x_t only;
      mean_std: weighted mean and weighted std sqrt(sum_t a_t (x_t - mean)^2) (deterministic).
    """

    def __init__(self, in_dim, width=64, dropout=0.7, pool="seed", noise=1e-5):
        super().__init__()
        if pool not in ("seed", "mean", "mean_std"):
            raise ValueError(f"attention back end: pool {pool!r}: use seed, mean or mean_std")
        self.body = LcnnBody(in_dim, width, dropout)
        hid = self.body.out_dim
        self.att = nn.Linear(hid, 1, bias=False)
        self.pool = pool
        self.noise = noise
        self.dim = hid * (1 if pool == "mean" else 2)

    def forward(self, feat, lengths):
        x, n = self.body(feat, lengths)
        n = n.clamp(min=1)
        full = bool((n >= x.shape[1]).all())
        logits = torch.tanh(self.att(x)).squeeze(-1)
        if not full:
            logits = logits.masked_fill(~length_mask(n, x.shape[1]), float("-inf"))
        w = torch.softmax(logits, dim=1)[..., None]  # (B, N, 1), zero past the end
        weighted = x * w
        mean = weighted.sum(1)
        if self.pool == "mean":
            return mean
        if self.pool == "mean_std":
            var = (w * (x - mean[:, None]).square()).sum(1)
            return torch.cat([mean, var.clamp(min=1e-5).sqrt()], dim=-1)
        v = weighted
        if self.noise:
            v = v + self.noise * torch.randn(v.shape, dtype=v.dtype, device=v.device)
        if full and x.shape[1] > 1:
            std = v.std(1)
        else:
            # an utterance of one pooled frame: std 0 (the seed's torch.std gives nan there); the
            # floor keeps the gradient of the square root finite at 0
            keep = length_mask(n, x.shape[1])[..., None]
            cnt = n.to(x.dtype)[:, None]
            mu = torch.where(keep, v, 0.0).sum(1) / cnt
            var = torch.where(keep, (v - mu[:, None]).square(), 0.0).sum(1) / (cnt - 1).clamp(min=1)
            std = var.clamp(min=1e-30).sqrt()
        return torch.cat([mean, std], dim=-1)


def fit_frames(feat, lengths, size, crop):
    """Crop or repeat-pad each utterance's first `lengths` frames to `size` frames.

    feat (B, N, D), lengths (B,) valid frames -> (B, size, D). Longer utterances are cropped at
    start s, shorter ones tiled from their start (frames 0..len-1, 0..len-1, ...). crop:
      "seed": s = floor(u * (len - size)), u ~ U(0, 1) from one torch.rand call over the long
              utterances in batch order (the seed draws one torch.rand([1]) per long utterance in
              that order, in training and in scoring alike: 03-asvspoof-mega/*-lcnn-fixed-*/01/
              model.py _front_end);
      "random": s uniform in 0..len - size (training);
      "start": s = 0 (deterministic scoring).
    """
    b = feat.shape[0]
    n = lengths.clamp(min=1).to(feat.device)
    start = torch.zeros(b, dtype=torch.long, device=feat.device)
    if crop == "seed":
        long = n > size
        k = int(long.sum())
        if k:
            u = torch.rand(k).to(feat.device)
            start[long] = torch.floor(u * (n[long] - size).to(u.dtype)).long()
    elif crop == "random":
        start = (torch.rand(b, device=feat.device) * (n - size + 1).clamp(min=1)).long()
    elif crop != "start":
        raise ValueError(f"fit_frames: crop {crop!r}: use seed, random or start")
    idx = (start[:, None] + torch.arange(size, device=feat.device)[None, :]) % n[:, None]
    return torch.gather(feat, 1, idx[..., None].expand(-1, -1, feat.shape[-1]))


class FixedBackEnd(nn.Module):
    """Fixed-length LCNN: crop/repeat to `frames`, LCNN, dropout, flatten (C, N, D order), FC with
    max-feature-map. -> (B, fc_dim).

    crop: "seed" (the seed's random crop of len = samples // hop frames, in training and scoring)
    or "train" (random crop of all frames in training, the start in scoring).
    """

    def __init__(self, in_dim, width=64, dropout=0.7, frames=750, fc_dim=80, crop="seed"):
        super().__init__()
        if frames < 16:
            raise ValueError(f"fixed back end: fixed_frames must be >= 16, got {frames}")
        if crop not in ("seed", "train"):
            raise ValueError(f"fixed back end: crop {crop!r}: use seed or train")
        self.frames = frames
        self.crop = crop
        self.body = LcnnBody(in_dim, width, dropout)
        self.fc = nn.Linear(self.body.out_dim * (frames // 16), 2 * fc_dim)
        self.mfm = MaxFeatureMap()
        self.dim = fc_dim

    def forward(self, feat, lengths):
        mode = "seed" if self.crop == "seed" else ("random" if self.training else "start")
        x = fit_frames(feat, lengths, self.frames, mode)
        full = torch.full_like(lengths, self.frames)
        x, _ = self.body(x, full, flat=False)
        return self.mfm(self.fc(x.flatten(1)))
