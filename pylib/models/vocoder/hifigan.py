"""HiFi-GAN (Kong, Kim & Bae, 2020) and NSF-HiFi-GAN: mel -> waveform GAN vocoders.

Generator: a 7-tap input convolution, then one transposed-convolution upsampling stage per entry of
`upsample_rates`, each followed by multi-receptive-field fusion (the mean of residual blocks with
different kernel sizes and dilations), then a 7-tap output convolution and tanh. Presets V1/V2/V3
are the paper's three configurations; every hyper-parameter can be overridden.

`nsf_hifigan` adds a neural-source-filter sine excitation computed from F0 at the sample rate; a
strided convolution brings it down to the rate of every upsampling stage, where it is added. At
inference its noise and phases are drawn by sample position (seeded by `infer_seed`, as the NSF
models), so a long input generated in pieces (carrying the sine phase) equals the whole file.

Both train as GANs (pylib.contracts.GanModel): per step the trainer calls `generate` once, then
`discriminator_loss` and `generator_loss` on that audio, in `update_order`.
"""

import contextlib
import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import weight_norm

from pylib.config import take_facts
from pylib.contracts import Chunking, GanModel, Vocoder
from pylib.errors import ConfigError
from pylib.features.mel import LogMel
from pylib.losses.gan import HifiganMel, feature_matching_loss, lsgan_d_loss, lsgan_g_loss, mel_l1_loss
from pylib.losses.stft import MultiResolutionSTFTLoss
from pylib.models.vocoder.discriminators import MPD_CHANNELS, MSD_CHANNELS, HifiganDiscriminator
from pylib.models.vocoder.source import carried_phase, positional_sine_draws, sine_source
from pylib.nn.norm import FeatureNorm

LRELU_SLOPE = 0.1

# Kong et al. 2020, Table/Appendix A. V1: best quality; V2: small; V3: fast.
_V1_BLOCKS = dict(resblock=1, resblock_kernel_sizes=[3, 7, 11], resblock_dilation_sizes=[[1, 3, 5]] * 3)
PRESETS = {
    "v1": dict(upsample_rates=[8, 8, 2, 2], upsample_kernel_sizes=[16, 16, 4, 4],
               upsample_initial_channel=512, **_V1_BLOCKS),
    "v2": dict(upsample_rates=[8, 8, 2, 2], upsample_kernel_sizes=[16, 16, 4, 4],
               upsample_initial_channel=128, **_V1_BLOCKS),
    "v3": dict(upsample_rates=[8, 8, 4], upsample_kernel_sizes=[16, 16, 8], upsample_initial_channel=256,
               resblock=2, resblock_kernel_sizes=[3, 5, 7],
               resblock_dilation_sizes=[[1, 2], [2, 6], [3, 12]]),
}


def _pad(kernel, dilation=1):
    return (kernel * dilation - dilation) // 2


def _init(conv):
    # The paper's init: N(0, 0.01) weights, applied before weight norm takes g from ||v||.
    conv.weight.data.normal_(0.0, 0.01)
    return conv


class ResBlock1(nn.Module):
    """Per dilation d: x + conv_1(lrelu(conv_d(lrelu(x)))). x (B, C, T) -> (B, C, T)."""

    def __init__(self, channels, kernel, dilations):
        super().__init__()
        self.convs1 = nn.ModuleList(
            weight_norm(_init(nn.Conv1d(channels, channels, kernel, 1, dilation=d, padding=_pad(kernel, d))))
            for d in dilations)
        self.convs2 = nn.ModuleList(
            weight_norm(_init(nn.Conv1d(channels, channels, kernel, 1, padding=_pad(kernel))))
            for _ in dilations)

    def forward(self, x):
        for c1, c2 in zip(self.convs1, self.convs2, strict=True):
            # In place on fresh conv outputs (a convolution's backward does not need its output).
            x = x + c2(F.leaky_relu(c1(F.leaky_relu(x, LRELU_SLOPE)), LRELU_SLOPE, inplace=True))
        return x


class ResBlock2(nn.Module):
    """Per dilation d: x + conv_d(lrelu(x)) (V3's lighter block). x (B, C, T) -> (B, C, T)."""

    def __init__(self, channels, kernel, dilations):
        super().__init__()
        self.convs = nn.ModuleList(
            weight_norm(_init(nn.Conv1d(channels, channels, kernel, 1, dilation=d, padding=_pad(kernel, d))))
            for d in dilations)

    def forward(self, x):
        for c in self.convs:
            x = x + c(F.leaky_relu(x, LRELU_SLOPE))
        return x


class HifiganGenerator(nn.Module):
    """mel (B, N, M) [, excitation (B, 1, N*hop)] -> wave (B, N*hop), hop = prod(upsample_rates).

    With `source=True` it holds one convolution per stage taking the sample-rate excitation down to
    that stage's rate (stride = product of the later stages' rates), added after the upsampling.
    """

    def __init__(self, in_channels, upsample_rates, upsample_kernel_sizes, upsample_initial_channel, resblock,
                 resblock_kernel_sizes, resblock_dilation_sizes, source=False):
        super().__init__()
        if len(upsample_rates) != len(upsample_kernel_sizes):
            raise ConfigError("model: upsample_rates and upsample_kernel_sizes must have the same length")
        if len(resblock_kernel_sizes) != len(resblock_dilation_sizes):
            raise ConfigError("model: resblock_kernel_sizes and resblock_dilation_sizes must have the same "
                              "length")
        for u, k in zip(upsample_rates, upsample_kernel_sizes, strict=True):
            if k < u or (k - u) % 2:
                raise ConfigError(f"model: upsample kernel {k} for rate {u} must be >= the rate with an even "
                                  "difference, so a stage outputs exactly rate x its input length")
        if not resblock_kernel_sizes or not all(resblock_dilation_sizes):
            raise ConfigError("model: resblock_kernel_sizes and each list in resblock_dilation_sizes "
                              "must be non-empty")
        if resblock not in (1, 2):
            raise ConfigError(f"model.resblock: {resblock!r} is not 1 or 2")
        block = ResBlock1 if resblock == 1 else ResBlock2
        self.upsample_rates = list(upsample_rates)
        self.hop = math.prod(upsample_rates)
        self.n_kernels = len(resblock_kernel_sizes)
        self.conv_pre = weight_norm(nn.Conv1d(in_channels, upsample_initial_channel, 7, 1, padding=3))
        self.ups, self.blocks, self.source_convs = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        ch = upsample_initial_channel
        for i, (u, k) in enumerate(zip(upsample_rates, upsample_kernel_sizes, strict=True)):
            c_out = upsample_initial_channel // 2 ** (i + 1)
            if c_out < 1:
                raise ConfigError(f"model.upsample_initial_channel {upsample_initial_channel} is too small "
                                  f"for {len(upsample_rates)} stages (channels halve at each)")
            self.ups.append(weight_norm(_init(nn.ConvTranspose1d(ch, c_out, k, u, padding=(k - u) // 2))))
            ch = c_out
            for ks, ds in zip(resblock_kernel_sizes, resblock_dilation_sizes, strict=True):
                self.blocks.append(block(ch, ks, ds))
            if source:
                stride = math.prod(upsample_rates[i + 1:])
                if stride == 1:
                    self.source_convs.append(nn.Conv1d(1, ch, 1))
                else:
                    # kernel 2s (+1 if s is odd) with padding (k - s) / 2 gives exactly T / s outputs.
                    kk = 2 * stride + stride % 2
                    self.source_convs.append(nn.Conv1d(1, ch, kk, stride, padding=(kk - stride) // 2))
        self.conv_post = weight_norm(_init(nn.Conv1d(ch, 1, 7, 1, padding=3)))

    def forward(self, mel, excitation=None):
        if (excitation is not None) != (len(self.source_convs) > 0):
            raise ValueError("pass an excitation exactly when the generator was built with source=True")
        x = self.conv_pre(mel.transpose(1, 2))  # (B, C, N)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, LRELU_SLOPE, inplace=True))
            if excitation is not None:
                x = x + self.source_convs[i](excitation)
            blocks = self.blocks[i * self.n_kernels:(i + 1) * self.n_kernels]
            acc = blocks[0](x)
            for b in blocks[1:]:
                acc += b(x)
            x = acc.mul_(1.0 / self.n_kernels)
        # Slope 0.01 (torch's default) before the output conv, as in the reference implementation.
        x = self.conv_post(F.leaky_relu(x, inplace=True))
        return torch.tanh(x)[:, 0]

    def context_frames(self):
        """Input frames either side that an output sample depends on (the receptive field, rounded
        up): every conv's reach, each at the resolution of its stage."""
        def reach(module):  # samples either side through a chain of (dilated) convs
            return sum((m.kernel_size[0] - 1) * m.dilation[0] / 2 for m in module.modules()
                       if isinstance(m, nn.Conv1d))
        frames, rate = reach(self.conv_pre), 1
        for i, (up, u) in enumerate(zip(self.ups, self.upsample_rates, strict=True)):
            frames += math.ceil(up.kernel_size[0] / u) / rate  # inputs a transposed conv output sees
            rate *= u
            blocks = self.blocks[i * self.n_kernels:(i + 1) * self.n_kernels]
            frames += max(reach(b) for b in blocks) / rate
        return math.ceil(frames + reach(self.conv_post) / rate) + 1

    def remove_weight_norm(self):
        """Fold weight norm into plain weights (inference only; outputs stay the same)."""
        for m in self.modules():
            if parametrize.is_parametrized(m, "weight"):
                parametrize.remove_parametrizations(m, "weight", leave_parametrized=True)


@dataclass
class HifiganConfig:
    preset: Literal["v1", "v2", "v3"] = "v1"  # the paper's generator; keys below set to null take it
    upsample_rates: list[int] | None = None  # product must equal hop
    upsample_kernel_sizes: list[int] | None = None
    upsample_initial_channel: int | None = None  # channels halve at each upsampling stage
    resblock: int | None = None  # 1 (two convs per dilation) or 2 (one)
    resblock_kernel_sizes: list[int] | None = None
    resblock_dilation_sizes: list[list[int]] | None = None
    mpd_periods: list[int] = field(default_factory=lambda: [2, 3, 5, 7, 11])
    mpd_channels: list[int] = field(default_factory=lambda: list(MPD_CHANNELS))
    msd_scales: int = 3
    msd_channels: list[int] = field(default_factory=lambda: list(MSD_CHANNELS))
    mel: str = "mel"  # input feature name (B, N, n_mels), normalised inside the model
    wav: str = "wav"  # target waveform name (B, T, 1)
    # taken from the data spec (the features section): leave them out of the yaml
    sample_rate: int | None = None  # Hz: features.sample_rate
    hop: int | None = None  # samples per mel frame: the mel's hop (= the product of upsample_rates)
    n_mels: int | None = None  # mel bands: the mel's dim
    loss_n_fft: int = 1024  # the mel of the L1 loss
    loss_win_length: int = 1024
    loss_n_mels: int = 80
    loss_fmin: float = 0.0
    loss_fmax: float | None = None  # null: sample_rate / 2 (HiFi-GAN's fmax_for_loss: null)
    loss_log_floor: float = 1.0e-5
    # "hifigan": jik876's meldataset framing (reflect pad (n_fft - hop) / 2, N = T / hop frames,
    # sqrt(|X|^2 + 1e-9)); "centred": nnsp's LogMel (zero-padded centred frames, N = T / hop + 1)
    loss_mel_framing: Literal["hifigan", "centred"] = "hifigan"
    lambda_mel: float = 45.0
    lambda_adv: float = 1.0
    lambda_fm: float = 2.0
    lambda_stft: float = 0.0  # > 0 adds the multi-resolution STFT loss (usable without a discriminator)
    stft_resolutions: list[list[int]] = field(
        default_factory=lambda: [[1024, 120, 600], [2048, 240, 1200], [512, 50, 240]])  # [n_fft, hop, win]

    def generator_kwargs(self):
        """The preset with every non-null override applied."""
        out = dict(PRESETS[self.preset])
        for k in out:
            v = getattr(self, k)
            if v is not None:
                out[k] = v
        return out


@contextlib.contextmanager
def _frozen(params):
    """Parameters excluded from autograd for the block (the generator step through the discriminator)."""
    flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, f in zip(params, flags, strict=True):
            p.requires_grad_(f)


def discriminator_step(discriminator, y, y_hat):
    """LSGAN discriminator loss on y, y_hat (B, T): (loss, stats); y_hat is detached here.

    As the reference trainers (jik876's train.py, the seed's loss_for_D), each spectral-normed
    sub-discriminator sees real, then generated, in two passes: its power iteration advances once
    per pass, and one concatenated pass would weigh the generated half differently from theirs.
    The stateless weight-normed ones take both in one batched pass (`real_and_fake`).
    """
    real, fake = discriminator.real_and_fake(y[:, None], y_hat.detach()[:, None])
    loss, r, f = lsgan_d_loss(real, fake)
    return loss, {"d_loss": loss.item(), "d_real": r.item(), "d_fake": f.item()}


def adversarial_terms(discriminator, y, y_hat):
    """Generator-side (adv, fm): LSGAN adversarial loss of y_hat (B, T) and feature matching against y.

    Real first (as the references, for the same power-iteration order), without a graph: its
    features are targets. The generated pass runs with the discriminator frozen, so the backward
    computes no discriminator weight gradients (the trainer would discard them).
    """
    with torch.no_grad():
        _, real_maps = discriminator(y[:, None])
    with _frozen(list(discriminator.parameters())):
        fake, fake_maps = discriminator(y_hat[:, None])
    return lsgan_g_loss(fake), feature_matching_loss(real_maps, fake_maps)


# what a HiFi-GAN takes from the data spec (pylib.config.take_facts), and HiFi-GAN V1's 22.05 kHz
# values for a model built by hand without one
SPEC_FACTS = (("sample_rate", None, None), ("n_mels", "mel", "dim"), ("hop", "mel", "hop"),
              (None, "wav", None))
SPEC_DEFAULTS = {"sample_rate": 22050, "hop": 256, "n_mels": 80}


class Hifigan(nn.Module, GanModel, Vocoder):
    """HiFi-GAN: groups "discriminator" (MPD + MSD) then "generator"; see the module docstring."""

    Config = HifiganConfig
    SPEC_FACTS = SPEC_FACTS
    uses_source = False

    def __init__(self, cfg, spec=None):
        super().__init__()
        self.cfg = cfg
        take_facts(cfg, spec, self.SPEC_FACTS, SPEC_DEFAULTS)
        gk = cfg.generator_kwargs()
        if math.prod(gk["upsample_rates"]) != cfg.hop:
            raise ConfigError(f"model.upsample_rates {gk['upsample_rates']} multiply to "
                              f"{math.prod(gk['upsample_rates'])}, not the mel's hop {cfg.hop}; choose "
                              "upsample rates whose product is the hop of features.extractors.<mel>")
        self.norm = nn.ModuleDict({cfg.mel: FeatureNorm(cfg.n_mels)})
        self.generator = HifiganGenerator(cfg.n_mels, **gk, source=self.uses_source)
        self.discriminator = HifiganDiscriminator(cfg.mpd_periods, cfg.mpd_channels, cfg.msd_scales,
                                                  cfg.msd_channels)
        mel_cls = HifiganMel if cfg.loss_mel_framing == "hifigan" else LogMel
        if cfg.loss_mel_framing not in ("hifigan", "centred"):
            raise ConfigError(f"model.loss_mel_framing: {cfg.loss_mel_framing!r} is not hifigan or centred")
        self.loss_mel = mel_cls(cfg.sample_rate, cfg.loss_n_fft, cfg.hop, cfg.loss_win_length,
                                cfg.loss_n_mels, cfg.loss_fmin, cfg.loss_fmax, cfg.loss_log_floor)
        self.stft_loss = MultiResolutionSTFTLoss(cfg.stft_resolutions) if cfg.lambda_stft > 0 else None

    def param_groups(self):
        gen = [p for n, p in self.named_parameters() if not n.startswith("discriminator.")]
        return {"discriminator": list(self.discriminator.parameters()), "generator": gen}

    def generate(self, batch):
        """batch -> wave (B, N*hop) from the (normalised) mel."""
        return self.generator(self.norm[self.cfg.mel](batch[self.cfg.mel]))

    def _pair(self, batch, fake):
        """(y_hat, y, lengths): generated and natural (B, T) on a common length, padding zeroed in both."""
        y = batch[self.cfg.wav][..., 0]
        t = min(y.shape[1], fake.shape[1])
        y_hat, y = fake[:, :t], y[:, :t]
        lengths = batch.get(f"{self.cfg.wav}_len")
        if lengths is not None:
            lengths = lengths.to(y.device).clamp(max=t)
            if bool((lengths < t).any()):
                y_hat = y_hat * (torch.arange(t, device=y.device)[None] < lengths[:, None])
        return y_hat, y, lengths

    def discriminator_loss(self, batch, step, fake):
        y_hat, y, _ = self._pair(batch, fake)
        return discriminator_step(self.discriminator, y, y_hat)

    def generator_loss(self, batch, step, fake, adversarial):
        y_hat, y, lengths = self._pair(batch, fake)
        cfg = self.cfg
        mel = mel_l1_loss(y_hat, y, lengths, mel_fn=self.loss_mel)
        loss = cfg.lambda_mel * mel
        stats = {"mel_l1": mel.item()}
        if self.stft_loss is not None:
            stft, stft_stats = self.stft_loss(y_hat, y, lengths)
            loss = loss + cfg.lambda_stft * stft
            stats.update(stft_stats)
        if adversarial:
            adv, fm = adversarial_terms(self.discriminator, y, y_hat)
            loss = loss + cfg.lambda_adv * adv + cfg.lambda_fm * fm
            stats.update(adv=adv.item(), fm=fm.item())
        stats["g_loss"] = loss.item()
        return loss, stats

    def forward(self, batch):
        """batch -> generated wave (B, N*hop) (as `generate`)."""
        return self.generate(batch)

    def chunking(self):
        """Convolutional: pieces with the receptive field as context are exact (pylib.contracts.Chunking)."""
        return Chunking(inputs=(self.cfg.mel,), hop=self.cfg.hop, context=self.generator.context_frames())

    @torch.no_grad()
    def infer(self, batch):
        """One float32 numpy waveform per utterance, mel_len * hop samples long."""
        with parametrize.cached():  # weight-normed weights computed once per call, not per use
            wave = self.generate(batch)
        return self._waves(batch, wave)

    def _waves(self, batch, wave):
        """(B, T) -> one float32 numpy waveform per utterance, mel_len * hop samples long."""
        lens = batch.get(f"{self.cfg.mel}_len")
        n = [wave.shape[1]] * wave.shape[0] if lens is None else [int(v) * self.cfg.hop for v in lens]
        return [wave[i, : n[i]].float().cpu().numpy().astype(np.float32) for i in range(wave.shape[0])]

    def remove_weight_norm(self):
        """Fold the generator's weight norm (for export/inference; training can't resume afterwards)."""
        self.generator.remove_weight_norm()


@dataclass
class NsfHifiganConfig(HifiganConfig):
    f0: str = "f0"  # input F0 feature (B, N, 1), raw Hz, 0 = unvoiced (not normalised)
    num_harmonics: int = 8  # overtones above F0 in the sine source
    sine_amp: float = 0.1  # amplitude of each sine
    noise_std: float = 0.003  # noise added to voiced samples; unvoiced noise is sine_amp / 3
    voiced_threshold: float = 0.0  # F0 above this (Hz) is voiced
    infer_seed: int = 0  # seed of the source's phases and noise at inference (drawn by sample position)


class NsfHifigan(Hifigan):
    """HiFi-GAN generator driven by an NSF sine excitation as well as the mel (extra input `f0`)."""

    Config = NsfHifiganConfig
    infer_keys = ("infer_seed",)  # inference-only config keys (pylib.contracts.Vocoder.infer_keys)
    SPEC_FACTS = SPEC_FACTS + (("hop", "f0", "hop"),)
    uses_source = True

    def __init__(self, cfg, spec=None):
        super().__init__(cfg, spec)
        # NSF's merge: a linear mix of the fundamental and its harmonics, squashed by tanh.
        self.source_merge = nn.Linear(cfg.num_harmonics + 1, 1)

    def excitation(self, f0, generator=None, noise=None, phase0=None):
        """f0 (B, N, 1) Hz -> merged excitation (B, 1, N*hop); `generator` seeds the source's noise
        unless `noise` gives the draws ({"phase": (B, H) uniform, "sine": (B, T, H) normal});
        phase0: (B,) cycles of F0 before the first sample (source.harmonic_sines)."""
        cfg = self.cfg
        noise = noise or {}
        f0_up = torch.repeat_interleave(f0, cfg.hop, dim=1)  # (B, T, 1)
        sines, _, _ = sine_source(f0_up, cfg.sample_rate, cfg.num_harmonics, cfg.sine_amp, cfg.noise_std,
                                  cfg.voiced_threshold, phase=noise.get("phase"), noise=noise.get("sine"),
                                  generator=generator, phase0=phase0)  # (B, T, H)
        return torch.tanh(self.source_merge(sines)).transpose(1, 2)

    def generate(self, batch):
        f0 = batch[self.cfg.f0]
        return self.generator(self.norm[self.cfg.mel](batch[self.cfg.mel]), self.excitation(f0))

    def chunking(self):
        """Pieces with the generator's receptive field, and the source convolutions', as context; the
        sine phase is carried (`infer_chunk`)."""
        cfg = self.cfg
        source = max(math.ceil(conv.kernel_size[0] / 2 / cfg.hop) for conv in self.generator.source_convs)
        context = self.generator.context_frames() + source
        return Chunking(inputs=(cfg.mel, cfg.f0), hop=cfg.hop, context=context, state=True)

    def _infer_draws(self, B, start, T, like):
        """The source's draws for samples [start, start + T) at inference: by position, seeded by
        infer_seed (pylib.models.vocoder.source.positional_normal), the same for every utterance."""
        return positional_sine_draws(self.cfg.infer_seed, B, start, T, self.cfg.num_harmonics + 1, like)

    @torch.no_grad()
    def infer(self, batch):
        """One float32 numpy waveform per utterance, mel_len * hop samples long; the source's noise
        drawn by sample position (seeded by infer_seed), not from the global generator."""
        return self.infer_chunk(batch, 0, 0)[0]

    @torch.no_grad()
    def infer_chunk(self, batch, start, advance, state=None):
        """`infer` of frames [start, start + N) of the inputs (pylib.contracts.Vocoder.infer_chunk);
        state: cycles of F0 before frame `start` (None: 0) -> (waveforms, those before start + advance)."""
        cfg = self.cfg
        mel, f0 = batch[cfg.mel], batch[cfg.f0]
        B, N = mel.shape[:2]
        phase0 = torch.zeros(B, dtype=torch.float64) if state is None else state
        with parametrize.cached():
            draws = self._infer_draws(B, start * cfg.hop, N * cfg.hop, mel)
            exc = self.excitation(f0, noise=draws, phase0=phase0)
            wave = self.generator(self.norm[cfg.mel](mel), exc)
        return self._waves(batch, wave), carried_phase(phase0, f0, advance, cfg.hop, cfg.sample_rate)
