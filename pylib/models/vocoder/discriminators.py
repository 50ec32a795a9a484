"""HiFi-GAN discriminators (Kong et al. 2020): multi-period (MPD) and multi-scale (MSD).

Each discriminator maps audio y (B, 1, T) to (outputs, fmaps): `outputs` a list with one score
tensor per sub-discriminator, `fmaps` a list (per sub-discriminator) of lists of the activations
after every layer, which the feature-matching loss compares. Channel lists are config keys so
tests can build toy widths; the defaults are the published ones.
"""

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import weight_norm

LRELU_SLOPE = 0.1

MPD_CHANNELS = (32, 128, 512, 1024, 1024)
MSD_CHANNELS = (128, 128, 256, 512, 1024, 1024, 1024)
MSD_KERNELS = (15, 41, 41, 41, 41, 41, 5)
MSD_STRIDES = (1, 2, 2, 4, 4, 1, 1)
MSD_GROUPS = (1, 4, 16, 16, 16, 16, 1)


class SpectralNorm(nn.Module):
    """Parametrization weight / sigma(weight), sigma from one power iteration per training forward.

    The iteration is the order of torch's original `torch.nn.utils.spectral_norm` (v from u, then u
    from v), which jik876's and the seed's discriminators use; torch's newer parametrization
    updates u first and so gives another sigma from the same state. Buffers `_u` (C_out,) and `_v`
    (C_in * k) keep torch's parametrization names. weight (C_out, ...) -> same shape.
    """

    def __init__(self, weight, eps=1e-12):
        super().__init__()
        self.eps = eps
        w = weight.detach().flatten(1)
        self.register_buffer("_u", F.normalize(w.new_empty(w.shape[0]).normal_(0, 1), dim=0, eps=eps))
        self.register_buffer("_v", F.normalize(w.new_empty(w.shape[1]).normal_(0, 1), dim=0, eps=eps))

    def forward(self, weight):
        w = weight.flatten(1)
        if self.training:
            with torch.no_grad():
                self._v = F.normalize(torch.mv(w.t(), self._u), dim=0, eps=self.eps, out=self._v)
                self._u = F.normalize(torch.mv(w, self._v), dim=0, eps=self.eps, out=self._u)
        # clones: the in-place updates of the next forward must not touch this graph's constants
        u, v = self._u.clone(), self._v.clone()
        return weight / torch.dot(u, torch.mv(w, v))


def spectral_norm(module):
    """`module.weight` spectrally normalised with `SpectralNorm` (state-dict keys as torch's)."""
    parametrize.register_parametrization(module, "weight", SpectralNorm(module.weight))
    return module


def _groups(want, c_in, c_out):
    """Largest group count <= want dividing both channel counts (toy widths keep the layout)."""
    g = max(1, min(want, c_in, c_out))
    while c_in % g or c_out % g:
        g -= 1
    return g


class PeriodDiscriminator(nn.Module):
    """Reshapes y (B, 1, T) to (B, 1, T/p, p) (reflect-padded to a multiple of p) and applies
    (5, 1) 2-D convolutions with stride 3 along time, so each column sees samples p apart."""

    def __init__(self, period, channels=MPD_CHANNELS, kernel=5, stride=3):
        super().__init__()
        self.period = period
        convs, c_in = [], 1
        for i, c in enumerate(channels):
            s = 1 if i == len(channels) - 1 else stride
            convs.append(weight_norm(nn.Conv2d(c_in, c, (kernel, 1), (s, 1), padding=((kernel - 1) // 2, 0))))
            c_in = c
        self.convs = nn.ModuleList(convs)
        self.post = weight_norm(nn.Conv2d(c_in, 1, (3, 1), 1, padding=(1, 0)))

    def forward(self, y):
        """y (B, 1, T) -> score (B, 1, T'', p), fmaps [(B, C, T', p), ...]."""
        b, c, t = y.shape
        if t % self.period:
            n_pad = self.period - t % self.period
            mode = "reflect" if n_pad < t else "constant"
            y = F.pad(y, (0, n_pad), mode=mode)
            t = t + n_pad
        x = y.view(b, c, t // self.period, self.period)
        fmaps = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), LRELU_SLOPE, inplace=True)
            fmaps.append(x)
        x = self.post(x)
        fmaps.append(x)
        return x, fmaps


class MultiPeriodDiscriminator(nn.Module):
    """One PeriodDiscriminator per period (2, 3, 5, 7, 11 by default: primes, so periods overlap little)."""

    def __init__(self, periods=(2, 3, 5, 7, 11), channels=MPD_CHANNELS):
        super().__init__()
        self.discriminators = nn.ModuleList(PeriodDiscriminator(p, channels) for p in periods)

    def forward(self, y):
        """y (B, 1, T) -> (list of K scores, list of K fmap lists)."""
        outs, fmaps = [], []
        for d in self.discriminators:
            o, f = d(y)
            outs.append(o)
            fmaps.append(f)
        return outs, fmaps


class ScaleDiscriminator(nn.Module):
    """MelGAN-style 1-D discriminator: grouped strided convolutions over the raw (or pooled) wave."""

    def __init__(self, channels=MSD_CHANNELS, kernels=MSD_KERNELS, strides=MSD_STRIDES, groups=MSD_GROUPS,
                 use_spectral_norm=False):
        super().__init__()
        if not len(channels) == len(kernels) == len(strides) == len(groups):
            raise ValueError("msd channels, kernels, strides and groups must have the same length")
        norm = spectral_norm if use_spectral_norm else weight_norm
        convs, c_in = [], 1
        for c, k, s, g in zip(channels, kernels, strides, groups, strict=True):
            convs.append(norm(nn.Conv1d(c_in, c, k, s, groups=_groups(g, c_in, c), padding=(k - 1) // 2)))
            c_in = c
        self.convs = nn.ModuleList(convs)
        self.post = norm(nn.Conv1d(c_in, 1, 3, 1, padding=1))

    def forward(self, y):
        """y (B, 1, T) -> score (B, 1, T'), fmaps [(B, C, T'), ...]."""
        x, fmaps = y, []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), LRELU_SLOPE, inplace=True)
            fmaps.append(x)
        x = self.post(x)
        fmaps.append(x)
        return x, fmaps


class MultiScaleDiscriminator(nn.Module):
    """`n_scales` ScaleDiscriminators on y, y pooled x2, x4, ... (average pooling, kernel 4, stride 2).

    The first (raw-scale) one uses spectral norm, which the paper found to stabilise training; the
    others weight norm.
    """

    def __init__(self, n_scales=3, channels=MSD_CHANNELS, kernels=MSD_KERNELS, strides=MSD_STRIDES,
                 groups=MSD_GROUPS):
        super().__init__()
        self.discriminators = nn.ModuleList(
            ScaleDiscriminator(channels, kernels, strides, groups, use_spectral_norm=(i == 0))
            for i in range(n_scales)
        )
        self.pool = nn.AvgPool1d(4, 2, padding=2)

    def forward(self, y):
        """y (B, 1, T) -> (list of n_scales scores, list of n_scales fmap lists)."""
        outs, fmaps = [], []
        for i, d in enumerate(self.discriminators):
            if i > 0:
                y = self.pool(y)
            o, f = d(y)
            outs.append(o)
            fmaps.append(f)
        return outs, fmaps


class HifiganDiscriminator(nn.Module):
    """MPD and MSD together: y (B, 1, T) -> (scores, fmaps) with the MPD's entries first."""

    def __init__(self, periods=(2, 3, 5, 7, 11), mpd_channels=MPD_CHANNELS, msd_scales=3,
                 msd_channels=MSD_CHANNELS, msd_kernels=MSD_KERNELS, msd_strides=MSD_STRIDES,
                 msd_groups=MSD_GROUPS):
        super().__init__()
        self.mpd = MultiPeriodDiscriminator(periods, mpd_channels) if periods else None
        self.msd = (MultiScaleDiscriminator(msd_scales, msd_channels, msd_kernels, msd_strides, msd_groups)
                    if msd_scales > 0 else None)
        if self.mpd is None and self.msd is None:
            raise ValueError("the discriminator needs at least one period or one scale")

    def forward(self, y):
        outs, fmaps = [], []
        for d in (self.mpd, self.msd):
            if d is not None:
                o, f = d(y)
                outs += o
                fmaps += f
        return outs, fmaps

    def real_and_fake(self, y, y_hat):
        """Scores of y and y_hat (B, 1, T) -> (real outputs, fake outputs), as two `forward` calls.

        A weight-normed sub-discriminator is stateless: it sees both in one batched pass. A
        spectral-normed one advances its power iteration per pass, so it runs real, then fake, as
        the reference trainers do.
        """
        b, real, fake = y.shape[0], [], []

        def run(d, a, c):
            if any(parametrize.is_parametrized(m, "weight") and isinstance(m.parametrizations.weight[0],
                                                                           SpectralNorm) for m in d.convs):
                real.append(d(a)[0])
                fake.append(d(c)[0])
            else:
                o = d(torch.cat([a, c]))[0]
                real.append(o[:b])
                fake.append(o[b:])

        for d in self.mpd.discriminators if self.mpd is not None else ():
            run(d, y, y_hat)
        if self.msd is not None:
            a, c = y, y_hat
            for i, d in enumerate(self.msd.discriminators):
                if i > 0:
                    a, c = self.msd.pool(a), self.msd.pool(c)
                run(d, a, c)
        return real, fake


def count_params(module):
    """Number of trainable parameters (weight norm's g and v both count, as in published figures)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
