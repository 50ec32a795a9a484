"""WaveGlow (Prenger, Valle & Catanzaro 2019) as the seed builds it, and its WaveGlow-2 variant.

It computes what project-NN-Pytorch-scripts' project/05-nn-vocoders/waveglow and waveglow-2
(model.py over sandbox/block_waveglow.py) compute; tests/parity/test_waveglow_parity.py checks it.

Shapes (B batch, N frames, T = N * hop samples, S = 8 samples squeezed into one group, L = T // S):
  mel (B, N, M) -> transposed convolution (kernel 5 * hop, stride hop), cut to T -> squeeze (B, L, M*S)
  wav (B, T, 1) -> squeeze (B, L, S)
  -> `blocks` flow blocks of `flows_per_block` steps: invertible 1x1 convolution (a free S' x S'
     matrix), then an affine coupling: the first half of the channels, through a WaveNet-like
     network conditioned on the squeezed mel, gives log-scale and bias for the second half:
     x2' = (x2 + bias) * exp(log_scale)
  -> after every block but the last, `early_dim` channels leave as an early latent z_k
  -> z = [z_1, ..., z_K] ~ N(0, I)
The coupling network ("coupling_net"):
  nonar  (waveglow):   1x1 expand, `wn_layers` dilated convs (dilation 2^i) with one shared 1x1
                       condition projection, gated tanh * sigmoid, res/skip 1x1 (the last layer: skip
                       only), skips summed, zero-initialised 1x1 output (the seed's WaveNetModuleForNonAR)
  legacy (waveglow-2): linear in, `wn_layers` WaveNet blocks (dilated conv + per-layer linear
                       condition, gated, residual and skip linears from the gate), skips averaged,
                       zero-initialised linear out (the seed's AffineCouplingWaveGlow_legacy)
Loss: the exact negative log-likelihood -(log N(z; 0, I) + log|det J|), each term divided by the
number of samples in the batch (B * T), in nats per sample (the seed's WaveGlow.forward).
Sampling: z ~ N(0, sigma^2 I) (sigma = 0.6: model.py inference), reversed through the flows; then
the seed's post-filter: spectral subtraction of the average magnitude spectrum of what the
same z gives from an all-zero mel (util_frontend.spectral_substraction, ratio 1), computed at the
first sampling and kept for the later ones, as the seed keeps its bg_noise (denoise_cache).
`generate` does that (the parity tests compare it). `infer` instead draws z by sample position
(seeded by infer_seed) and subtracts the spectrum of a fixed second of zero-mel output from such z,
so that a long input generated in pieces (pylib.engine.longform.infer_long, context = the receptive
field of the upsampler, the coupling networks and the post-filter) equals the whole-file output.
"""

import contextlib
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import weight_norm

from pylib.config import take_facts
from pylib.contracts import Chunking, LossModel, Vocoder
from pylib.errors import ConfigError
from pylib.models.vocoder.source import positional_normal
from pylib.nn.norm import FeatureNorm

COUPLING_NETS = ("nonar", "legacy")


@dataclass
class WaveGlowConfig:
    """Defaults: the seed's waveglow/model.py (16 kHz, 80-band mel every 5 ms)."""

    mel: str = "mel"  # input feature name of the mel spectrogram (B, N, n_mels)
    wav: str = "wav"  # output feature name of the natural waveform (B, T, 1)
    # taken from the data spec: leave them out of the yaml
    n_mels: int | None = None  # mel channels: the mel feature's dim
    hop: int | None = None  # waveform samples per frame: the mel's hop
    sample_rate: int | None = None  # Hz: features.sample_rate
    squeeze: int = 8  # samples per group (block_waveglow.py SqueezeForWaveGlow mode 1)
    upsample_window: int = 5  # transposed-conv kernel = upsample_window * hop (upsampleByTransConv)
    blocks: int = 3  # flow blocks (model.py num_waveglow_blocks)
    flows_per_block: int = 4  # flow steps per block (model.py num_flow_steps_perblock)
    wn_layers: int = 8  # dilated conv layers in each coupling network (model.py num_wn_blocks_perflow)
    wn_channels: int = 256  # residual/skip width of the coupling network (model.py num_wn_channel_size)
    wn_kernel: int = 3  # dilated conv kernel (model.py num_wn_conv_kernel)
    affine: bool = True  # affine coupling; false: additive (scale 1) (model.py flag_affine)
    early_dim: int = 2  # channels leaving as early latent after each block but the last (early_z_feature_dim)
    coupling_net: str = "nonar"  # nonar: waveglow | legacy: waveglow-2 (flag_affine_legacy_implementation)
    sigma: float = 0.6  # std of z when sampling (model.py inference noise_std)
    denoise: bool = True  # spectral subtraction of the zero-mel output after sampling (model.py inference)
    denoise_ratio: float = 1.0  # weight of the subtracted noise spectrum (model.py: 1.0)
    denoise_cache: bool = True  # the first sampling's zero-mel spectrum serves later ones (model.py bg_noise)
    infer_seed: int = 0  # seed of z at inference (reproducible output)

    def __post_init__(self):
        if self.coupling_net not in COUPLING_NETS:
            raise ConfigError(f"model.coupling_net must be one of {', '.join(COUPLING_NETS)}, "
                              f"got {self.coupling_net!r}")
        for key in ("squeeze", "blocks", "flows_per_block", "wn_layers", "wn_channels", "wn_kernel",
                    "upsample_window"):
            if getattr(self, key) < 1:
                raise ConfigError(f"model.{key} must be >= 1, got {getattr(self, key)}")
        if self.wn_kernel % 2 != 1:
            raise ConfigError(f"model.wn_kernel must be odd (the convolutions keep the length), "
                              f"got {self.wn_kernel}")
        if self.early_dim < 0 or self.sigma < 0:
            raise ConfigError("model.early_dim and model.sigma must be >= 0")
        dims = self.block_dims()
        if any(d < 2 or d % 2 for d in dims):
            raise ConfigError(
                f"model: squeeze {self.squeeze} with early_dim {self.early_dim} gives block widths "
                f"{dims}; each must be even and >= 2 (the coupling splits it in halves): choose "
                f"squeeze >= early_dim * (blocks - 1) + 2 with both even")

    def block_dims(self):
        """Channel count entering each flow block."""
        return [self.squeeze - i * self.early_dim for i in range(self.blocks)]


SPEC_FACTS = (("n_mels", "mel", "dim"), ("hop", "mel", "hop"), ("sample_rate", None, None),
              (None, "wav", None))
SPEC_DEFAULTS = {"n_mels": 80, "hop": 80, "sample_rate": 16000}


def squeeze(x, s):
    """(B, T, D) -> (B, T // s, D * s), channel d * s + k holding sample k of the group (the tail
    beyond a whole group is dropped)."""
    B, T, D = x.shape
    L = T // s
    return x[:, : L * s].reshape(B, L, s, D).transpose(2, 3).reshape(B, L, D * s)


def unsqueeze(x, s):
    """Inverse of `squeeze`: (B, L, D * s) -> (B, L * s, D)."""
    B, L, C = x.shape
    return x.reshape(B, L, C // s, s).transpose(2, 3).reshape(B, L * s, C // s)


def _wn(module):
    return weight_norm(module)


class Invertible1x1(nn.Module):
    """z = y W with a free square W (initialised random orthogonal, det +1); log|det| per group."""

    def __init__(self, dim, generator=None):
        super().__init__()
        q, _ = torch.linalg.qr(torch.randn(dim, dim, generator=generator))
        if torch.det(q) < 0:
            q[:, 0] = -q[:, 0]
        self.weight = nn.Parameter(q.T.contiguous())

    def forward(self, y):
        """y (B, L, D) -> (y W, log det W for one group)."""
        return y @ self.weight, torch.logdet(self.weight)

    def reverse(self, z):
        return z @ torch.linalg.inv(self.weight)


class NonArWaveNet(nn.Module):
    """The coupling network of waveglow: (B, L, d_in) -> (B, L, d_out), conditioned on (B, L, c)."""

    def __init__(self, d_in, cond_dim, d_out, layers, channels, kernel):
        super().__init__()
        self.channels, self.layers = channels, layers
        self.start = _wn(nn.Conv1d(d_in, channels, 1))
        self.cond = _wn(nn.Conv1d(cond_dim, 2 * channels * layers, 1))
        self.dilated = nn.ModuleList(
            _wn(nn.Conv1d(channels, 2 * channels, kernel, dilation=2 ** i,
                          padding=(kernel - 1) * 2 ** i // 2))
            for i in range(layers))
        self.res_skip = nn.ModuleList(
            _wn(nn.Conv1d(channels, 2 * channels if i < layers - 1 else channels, 1)) for i in range(layers))
        self.end = nn.Conv1d(channels, d_out, 1)
        nn.init.zeros_(self.end.weight)
        nn.init.zeros_(self.end.bias)

    def forward(self, x, cond):
        C = self.channels
        h = self.start(x.transpose(1, 2))
        c = self.cond(cond.transpose(1, 2))
        skip = 0
        for i, (conv, rs) in enumerate(zip(self.dilated, self.res_skip, strict=True)):
            a = conv(h) + c[:, 2 * C * i: 2 * C * (i + 1)]
            out = rs(torch.tanh(a[:, :C]) * torch.sigmoid(a[:, C:]))
            if i < self.layers - 1:
                h = h + out[:, :C]
                skip = skip + out[:, C:]
            else:
                skip = skip + out
        return self.end(skip).transpose(1, 2)


class LegacyLayer(nn.Module):
    """One WaveNet block of waveglow-2: gated dilated conv + linear condition; residual and skip
    linears both from the gate output."""

    def __init__(self, channels, cond_dim, dilation, kernel):
        super().__init__()
        self.channels = channels
        self.pad = (kernel - 1) * dilation // 2
        self.conv = _wn(nn.Conv1d(channels, 2 * channels, kernel, dilation=dilation, padding=self.pad))
        self.cond = _wn(nn.Linear(cond_dim, 2 * channels))
        self.res = _wn(nn.Linear(channels, channels))
        self.skip = _wn(nn.Linear(channels, channels))

    def forward(self, x, cond):
        C = self.channels
        a = self.conv(x.transpose(1, 2)).transpose(1, 2) + self.cond(cond)
        g = torch.tanh(a[..., :C]) * torch.sigmoid(a[..., C:])
        return self.res(g) + x, self.skip(g)


class LegacyWaveNet(nn.Module):
    """The coupling network of waveglow-2: (B, L, d_in) -> (B, L, d_out)."""

    def __init__(self, d_in, cond_dim, d_out, layers, channels, kernel):
        super().__init__()
        self.pre = _wn(nn.Linear(d_in, channels))
        self.layers = nn.ModuleList(LegacyLayer(channels, cond_dim, 2 ** i, kernel) for i in range(layers))
        self.post = nn.Linear(channels, d_out)
        nn.init.zeros_(self.post.weight)
        nn.init.zeros_(self.post.bias)

    def forward(self, x, cond):
        h = self.pre(x)
        skip = 0
        for layer in self.layers:
            h, s = layer(h, cond)
            skip = skip + s / len(self.layers)
        return self.post(skip)


class Coupling(nn.Module):
    """[y1, y2] -> [y1, (y2 + bias) * exp(log_scale)], (log_scale, bias) = net(y1, cond)."""

    def __init__(self, dim, cond_dim, cfg):
        super().__init__()
        self.affine = cfg.affine
        net = NonArWaveNet if cfg.coupling_net == "nonar" else LegacyWaveNet
        self.net = net(dim // 2, cond_dim, dim if cfg.affine else dim // 2, cfg.wn_layers, cfg.wn_channels,
                       cfg.wn_kernel)

    def _scale_bias(self, y1, cond):
        h = self.net(y1, cond)
        if self.affine:
            log_scale, bias = h.chunk(2, -1)
            return log_scale, bias
        return torch.zeros_like(y1), h

    def forward(self, y, cond):
        """-> (x, sum of log_scale per utterance (B,))."""
        y1, y2 = y.chunk(2, -1)
        log_scale, bias = self._scale_bias(y1, cond)
        x = torch.cat([y1, (y2 + bias) * torch.exp(log_scale)], dim=-1)
        return x, log_scale.sum(dim=(1, 2))

    def reverse(self, x, cond):
        x1, x2 = x.chunk(2, -1)
        log_scale, bias = self._scale_bias(x1, cond)
        return torch.cat([x1, x2 / torch.exp(log_scale) - bias], dim=-1)


class FlowStep(nn.Module):
    def __init__(self, dim, cond_dim, cfg, generator=None):
        super().__init__()
        self.inv = Invertible1x1(dim, generator)
        self.coupling = Coupling(dim, cond_dim, cfg)


class FlowBlock(nn.Module):
    def __init__(self, dim, cond_dim, cfg, generator=None):
        super().__init__()
        self.steps = nn.ModuleList(FlowStep(dim, cond_dim, cfg, generator)
                                   for _ in range(cfg.flows_per_block))


_STFT = dict(n_fft=512, hop=256, win=512)  # util_frontend.spectral_substraction's defaults
DENOISE_SECONDS = 1.0  # inference: the denoising spectrum is that of this much zero-mel output


def _stft(x, n_fft, hop, win):
    window = torch.hamming_window(win, dtype=x.dtype, device=x.device)
    if x.shape[1] < n_fft:  # shorter than one FFT (where the seed's istft fails): zero-padded
        x = F.pad(x, (0, n_fft - x.shape[1]))
    return torch.stft(x, n_fft, hop, win, window=window, onesided=True, pad_mode="constant",
                      return_complex=True), window


def noise_spectrum(noise, n_fft=512, hop=256, win=512):
    """noise (B, T') -> its magnitude spectrum averaged over frames (B, n_fft // 2 + 1, 1)."""
    return _stft(noise, n_fft, hop, win)[0].abs().mean(-1, keepdim=True)


def spectral_subtraction(wav, noise, ratio=1.0, n_fft=512, hop=256, win=512):
    """wav (B, T), noise (B, T') or its `noise_spectrum` (B or 1, F, 1) -> wav with `ratio` times the
    noise's time-averaged magnitude spectrum taken off its own (floor 1e-8, phase kept), Hamming
    window, back to T samples (the istft's missing tail is zero), as the seed's
    util_frontend.spectral_substraction."""
    T = wav.shape[1]
    spec, window = _stft(wav, n_fft, hop, win)
    noise_mag = noise if noise.dim() == 3 else noise_spectrum(noise, n_fft, hop, win)
    mag = (spec.abs() - noise_mag * ratio).clamp(min=1e-8)
    out = torch.istft(torch.polar(mag, spec.angle()), n_fft, hop, win, window=window, onesided=True)
    n = min(T, out.shape[1])
    return F.pad(out[:, :n], (0, T - n))


class WaveGlow(nn.Module, LossModel, Vocoder):
    """WaveGlow / WaveGlow-2 (coupling_net: nonar / legacy); see the module docstring."""

    Config = WaveGlowConfig
    infer_keys = ("sigma", "denoise", "denoise_ratio", "denoise_cache", "infer_seed")  # Vocoder.infer_keys

    def __init__(self, cfg, spec=None):
        super().__init__()
        take_facts(cfg, spec, SPEC_FACTS, SPEC_DEFAULTS)
        self.cfg = cfg
        if cfg.hop % cfg.squeeze:
            raise ConfigError(f"model.squeeze ({cfg.squeeze}) must divide the mel's hop ({cfg.hop}) so that "
                              "every frame fills whole groups")
        # the mel is normalised only where the data section says norm: true (the seed's recipes say
        # false: it trains on the raw mel); the engine fills the statistics of what is here
        feats = {f.name: f for f in getattr(spec, "inputs", [])}
        norm = cfg.mel in feats and getattr(feats[cfg.mel], "norm", False)
        self.norm = nn.ModuleDict({cfg.mel: FeatureNorm(cfg.n_mels)} if norm else {})
        self.upsample = nn.ConvTranspose1d(cfg.n_mels, cfg.n_mels, cfg.upsample_window * cfg.hop,
                                           stride=cfg.hop)
        gen = torch.Generator().manual_seed(100)  # the 1x1 initialisation, without touching the global RNG
        cond_dim = cfg.n_mels * cfg.squeeze
        self.blocks = nn.ModuleList(FlowBlock(d, cond_dim, cfg, gen) for d in cfg.block_dims())
        self._denoise_mag = None  # with denoise_cache: the zero-mel spectrum of the first sampling
        self._infer_mag = None  # inference's fixed denoising spectrum (infer_noise_spectrum)

    def param_groups(self):
        return {"model": [p for p in self.parameters() if p.requires_grad]}

    def train(self, mode=True):
        self._denoise_mag = self._infer_mag = None  # the weights may change: recompute the spectra
        return super().train(mode)

    def _normed(self, mel):
        norm = self.norm[self.cfg.mel] if self.cfg.mel in self.norm else None
        return mel if norm is None else norm(mel)

    def condition(self, mel):
        """mel (B, N, M), normalised -> squeezed, up-sampled condition (B, N * hop // S, M * S)."""
        T = mel.shape[1] * self.cfg.hop
        up = self.upsample(mel.transpose(1, 2))[:, :, :T].transpose(1, 2)
        return squeeze(up, self.cfg.squeeze)

    def latents(self, wav, mel):
        """wav (B, T, 1) or (B, T), mel (B, N, M) raw -> (list of z per block, log N(z) (B,),
        log|det J| (B,)), both log terms summed over the utterance (not divided)."""
        c = self.cfg
        if wav.dim() == 2:
            wav = wav.unsqueeze(-1)
        cond = self.condition(self._normed(mel))
        x = squeeze(wav, c.squeeze)
        if x.shape[1] != cond.shape[1]:
            raise ValueError(f"wav of {wav.shape[1]} samples and mel of {mel.shape[1]} frames (x hop "
                             f"{c.hop}) give {x.shape[1]} and {cond.shape[1]} groups; they must agree")
        zs, log_pz, log_det = [], 0.0, 0.0
        L = x.shape[1]
        for b, block in enumerate(self.blocks):
            for step in block.steps:
                x, ld_w = step.inv(x)
                x, ld_c = step.coupling(x, cond)
                log_det = log_det + L * ld_w + ld_c
            if b < len(self.blocks) - 1 and c.early_dim > 0:
                z, x = x[..., : c.early_dim], x[..., c.early_dim:]
            elif b == len(self.blocks) - 1:
                z = x
            else:
                z = None
            zs.append(z)
            if z is not None:
                log_pz = log_pz + (-0.5 * math.log(2 * math.pi) - 0.5 * z ** 2).sum(dim=(1, 2))
        return zs, log_pz, log_det

    def z_shapes(self, B, N):
        """Shapes of the latents for B utterances of N frames (None: a block that outputs none)."""
        c = self.cfg
        L = N * c.hop // c.squeeze
        dims = [c.early_dim if c.early_dim > 0 else 0] * (c.blocks - 1) + [c.block_dims()[-1]]
        return [(B, L, d) if d > 0 else None for d in dims]

    def reverse(self, zs, mel):
        """List of z per block (`z_shapes`), mel (B, N, M) raw -> waveform (B, T)."""
        cond = self.condition(self._normed(mel))
        return self._reverse(zs, cond)

    def _reverse(self, zs, cond):
        c = self.cfg
        y = None
        for b in reversed(range(len(self.blocks))):
            z = zs[b]
            y = z if y is None else (y if z is None else torch.cat([z, y], dim=-1))
            for step in reversed(self.blocks[b].steps):
                y = step.inv.reverse(step.coupling.reverse(y, cond))
        return unsqueeze(y, c.squeeze)[..., 0]

    def draw_z(self, B, N, sigma=None, generator=None, like=None):
        """z ~ N(0, sigma^2 I) in `z_shapes(B, N)`, in the block order the seed draws them."""
        sigma = self.cfg.sigma if sigma is None else sigma
        ref = like if like is not None else next(self.parameters())
        return [None if s is None else
                torch.randn(s, generator=generator, dtype=ref.dtype, device=ref.device) * sigma
                for s in self.z_shapes(B, N)]

    def generate(self, mel, z=None, sigma=None, generator=None, denoise=None):
        """mel (B, N, M) raw -> waveform (B, N * hop). z: the latents (`z_shapes`; default drawn with
        std sigma from `generator`); denoise: the seed's spectral-subtraction post-filter."""
        c = self.cfg
        if z is None:
            z = self.draw_z(mel.shape[0], mel.shape[1], sigma, generator, like=mel)
        feats = self._normed(mel)
        cache = parametrize.cached() if not torch.is_grad_enabled() else contextlib.nullcontext()
        with cache:  # without autograd, each weight-normed weight is computed once per call
            y = self._reverse(z, self.condition(feats))
            if not (c.denoise if denoise is None else denoise):
                return y
            mag = self._denoise_mag if c.denoise_cache else None
            if mag is None:
                mag = noise_spectrum(self._reverse(z, self.condition(feats * 0)), **_STFT)
                if c.denoise_cache and not torch.is_grad_enabled():
                    self._denoise_mag = mag
        if mag.shape[0] not in (1, y.shape[0]):
            mag = mag.mean(0, keepdim=True)
        return spectral_subtraction(y, mag.to(y), c.denoise_ratio, **_STFT)

    def forward(self, batch, step=0):
        """The exact negative log-likelihood per sample (pylib.contracts.LossModel); padding counts
        as data, as in the seed (train on equal-length segments)."""
        c = self.cfg
        wav, mel = batch[c.wav], batch[c.mel]
        N = min(mel.shape[1], wav.shape[1] // c.hop)  # whole frames of both
        wav, mel = wav[:, : N * c.hop], mel[:, :N]
        factor = wav.shape[0] * wav.shape[1]
        _, log_pz, log_det = self.latents(wav, mel)
        log_pz, log_det = log_pz.sum() / factor, log_det.sum() / factor
        loss = -(log_pz + log_det)
        return loss, {"nll": float(loss.detach()), "neg_log_pz": float(-log_pz.detach()),
                      "neg_log_det": float(-log_det.detach())}

    # --- inference, whole or in pieces -----------------------------------------------------------
    def positional_z(self, B, start, N, like):
        """Latents of frames [start, start + N) (`z_shapes(B, N)`), std sigma, drawn by position
        (source.positional_normal, seeded by infer_seed, block b's latents as stream 10 + b), the same
        for every utterance: a piece draws what the whole input draws there."""
        c = self.cfg
        g0 = start * c.hop // c.squeeze
        return [None if sh is None else
                positional_normal(c.infer_seed, 10 + b, g0, sh[1], sh[2], like).expand(sh) * c.sigma
                for b, sh in enumerate(self.z_shapes(B, N))]

    def infer_noise_spectrum(self, like):
        """Inference's denoising spectrum: that of the zero-mel output of one second of positional
        latents (DENOISE_SECONDS), computed once per mode (`train` forgets it). Fixed, so that a
        piece of a long input is denoised as the whole input is."""
        if self._infer_mag is None:
            c = self.cfg
            n = math.ceil(DENOISE_SECONDS * c.sample_rate / c.hop)
            mel = torch.zeros(1, n, c.n_mels, dtype=like.dtype, device=like.device)
            with parametrize.cached():
                zero = self._reverse(self.positional_z(1, 0, n, mel), self.condition(mel))
            self._infer_mag = noise_spectrum(zero, **_STFT)
        return self._infer_mag

    def context_frames(self):
        """Frames either side that an output sample depends on: the mel upsampler's window, every
        coupling network's reach (in groups of `squeeze` samples, summed over the flow steps run in
        turn) and the denoising STFT's (n_fft samples), rounded up."""
        c = self.cfg
        reach = (c.wn_kernel - 1) // 2 * (2**c.wn_layers - 1) * c.blocks * c.flows_per_block * c.squeeze
        return c.upsample_window + math.ceil((reach + (_STFT["n_fft"] if c.denoise else 0)) / c.hop) + 1

    def chunking(self):
        """Pieces with `context_frames` context, exact; with denoise each piece starts on a frame of the
        post-filter's STFT grid (align: a multiple of its hop in samples)."""
        c = self.cfg
        align = _STFT["hop"] // math.gcd(_STFT["hop"], c.hop) if c.denoise else 1
        return Chunking(inputs=(c.mel,), hop=c.hop, context=self.context_frames(), align=align)

    @torch.no_grad()
    def infer(self, batch):
        """One float32 numpy waveform (frames_len * hop,) per utterance, padding trimmed: latents drawn
        by position (`positional_z`), denoised with `infer_noise_spectrum`."""
        return self.infer_chunk(batch, 0, 0)[0]

    @torch.no_grad()
    def infer_chunk(self, batch, start, advance, state=None):
        """`infer` of frames [start, start + N) of the input (pylib.contracts.Vocoder.infer_chunk);
        no state."""
        c = self.cfg
        mel = batch[c.mel]
        z = self.positional_z(mel.shape[0], start, mel.shape[1], mel)
        with parametrize.cached():
            y = self._reverse(z, self.condition(self._normed(mel)))
            if c.denoise:
                y = spectral_subtraction(y, self.infer_noise_spectrum(mel).to(y), c.denoise_ratio, **_STFT)
        lens = batch.get(f"{c.mel}_len")
        if lens is None:
            lens = torch.full((mel.shape[0],), mel.shape[1])
        return [np.asarray(y[i, : int(n) * c.hop].float().cpu().numpy(), dtype=np.float32)
                for i, n in enumerate(lens)], None
