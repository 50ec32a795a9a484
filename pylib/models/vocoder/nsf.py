"""Neural source-filter vocoders (Wang, Takaki & Yamagishi 2019-2020): hn_sinc_nsf, hn_nsf, cyc_noise_nsf.

Generator, shapes (B batch, N frames, T = N * hop samples):
  mel (B, N, M), f0 (B, N, 1) raw Hz
  -> condition: BLSTM + conv over [norm(mel), norm(f0)], repeated to (B, C, T) and smoothed
  -> source: F0 repeated to (B, T, 1); sines + harmonics (or cyclic noise) merged by linear + tanh
  -> harmonic branch (neural filter blocks on the source) and noise branch (on Gaussian noise)
  -> merge: time-variant sinc low-pass (harmonic) + high-pass (noise) with a predicted cut-off
     (hn_sinc_nsf, cyc_noise_nsf), or a plain sum (hn_nsf)
  -> waveform (B, T)
Trained with the multi-resolution STFT log-magnitude loss (pylib.losses.stft).
"""

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from pylib.data.norm import FeatureNorm
from pylib.errors import ConfigError
from pylib.losses.stft import NSF_RESOLUTIONS, MultiResolutionSTFTLoss
from pylib.models.vocoder.filters import ConditionModule, FilterStack, sinc_filter_coefs, time_variant_fir
from pylib.models.vocoder.source import cyclic_noise_source, sine_source, upsample_repeat
from pylib.registry import register_model


@dataclass
class NsfConfig:
    """Keys shared by every NSF model; defaults are the published 16 kHz setting."""

    mel: str = "mel"  # input feature name of the spectral condition (B, N, mel_dim)
    f0: str = "f0"  # input feature name of F0 in Hz, 0 = unvoiced (B, N, 1)
    wav: str = "wav"  # output feature name of the natural waveform (B, T, 1)
    mel_dim: int = 80  # mel channels (checked against the data section when given)
    hop: int = 80  # waveform samples per frame (upsampling factor)
    sample_rate: int = 16000  # Hz (checked against the data section when given)
    # source
    num_harmonics: int = 7  # harmonics above the fundamental in the sine source
    sine_amp: float = 0.1  # amplitude of each sine (and of the cyclic-noise pulses)
    noise_std: float = 0.003  # std of the noise added in voiced regions; unvoiced get sine_amp / 3
    voiced_threshold: float = 0.0  # F0 above this (Hz) is voiced
    random_phase: bool = True  # random initial phase of the harmonics (the fundamental starts at 0)
    # condition module
    cond_lstm_units: int = 64  # BLSTM output width (both directions together; even)
    cond_channels: int = 64  # condition width fed to every filter layer (= filter_channels)
    cond_kernel: int = 3  # conv kernel over frames after the BLSTM
    cond_smooth: bool = True  # smooth the repetition-upsampled condition over one frame
    # neural filters
    filter_channels: int = 64  # hidden width of the dilated conv layers
    filter_kernel: int = 3  # conv kernel (odd)
    filter_layers: int = 10  # dilated conv layers per block, dilation dilation_base ** i
    dilation_base: int = 2  # dilation growth per layer
    harmonic_blocks: int = 5  # filter blocks in the harmonic branch
    noise_blocks: int = 1  # filter blocks in the noise branch
    # loss
    stft_resolutions: list[list[int]] = field(
        default_factory=lambda: [list(r) for r in NSF_RESOLUTIONS]
    )  # (n_fft, hop, win) per resolution: the NSF paper's three
    stft_eps: float = 1.0e-5  # floor inside log(|X|^2 + eps)
    infer_seed: int = 0  # seed of the source noise at inference (reproducible output)

    def __post_init__(self):
        if self.cond_channels != self.filter_channels:
            raise ConfigError(f"model: cond_channels ({self.cond_channels}) must equal filter_channels "
                              f"({self.filter_channels}): the condition is added to every filter layer")
        if self.filter_kernel % 2 != 1:
            raise ConfigError(f"model.filter_kernel must be odd to keep the length, got {self.filter_kernel}")
        if self.hop < 1 or self.num_harmonics < 0:
            raise ConfigError("model.hop must be >= 1 and model.num_harmonics >= 0")
        for r in self.stft_resolutions:
            if len(r) != 3:
                raise ConfigError(f"model.stft_resolutions: each entry is [n_fft, hop, win], got {r}")


@dataclass
class HnSincNsfConfig(NsfConfig):
    sinc_order: int = 31  # taps of the time-variant sinc filters (odd)
    cutoff_voiced_min: float = 0.1  # voiced cut-off range as a fraction of Nyquist: min ...
    cutoff_voiced_max: float = 1.0  # ... and max; the network picks a point in between
    cutoff_unvoiced: float = 0.1  # fixed cut-off in unvoiced regions (mostly the noise branch)

    def __post_init__(self):
        super().__post_init__()
        if self.sinc_order % 2 != 1:
            raise ConfigError(f"model.sinc_order must be odd, got {self.sinc_order}")
        if not 0 < self.cutoff_voiced_min <= self.cutoff_voiced_max <= 1 or not 0 < self.cutoff_unvoiced <= 1:
            raise ConfigError("model: cut-offs must satisfy 0 < cutoff_voiced_min <= cutoff_voiced_max <= 1 "
                              "and 0 < cutoff_unvoiced <= 1")


@dataclass
class CycNoiseNsfConfig(HnSincNsfConfig):
    cyc_kernel_len: int = 320  # samples of the decaying noise burst convolved with the pulse train
    cyc_decay_ms: float = 1.0  # time constant of the burst's exponential decay (ms)


def _check_spec(cfg, spec):
    """Cross-check the model keys with the data section, when the engine passes one."""
    if spec is None:
        return
    feats = {f.name: f for f in list(getattr(spec, "inputs", [])) + list(getattr(spec, "outputs", []))}
    for name in (cfg.mel, cfg.f0, cfg.wav):
        if feats and name not in feats:
            raise ConfigError(f"model: feature {name!r} is not in the data section (has {sorted(feats)}); "
                              f"set model.mel/f0/wav to the data feature names")
    if cfg.mel in feats and feats[cfg.mel].dim != cfg.mel_dim:
        raise ConfigError(f"model.mel_dim is {cfg.mel_dim} but data feature {cfg.mel!r} has dim "
                          f"{feats[cfg.mel].dim}")
    for name in (cfg.mel, cfg.f0):
        if name in feats and feats[name].reso != cfg.hop:
            raise ConfigError(f"model.hop is {cfg.hop} but data feature {name!r} has reso {feats[name].reso}")
    rate = getattr(spec, "sample_rate", cfg.sample_rate)
    if rate != cfg.sample_rate:
        raise ConfigError(f"model.sample_rate is {cfg.sample_rate} but data.sample_rate is {rate}")


class _Nsf(nn.Module):
    """Shared NSF generator; subclasses pick the source (`_source`) and the merge (`sinc`)."""

    Config = NsfConfig
    sinc = False

    def __init__(self, cfg, spec=None):
        super().__init__()
        _check_spec(cfg, spec)
        self.cfg = cfg
        self.norm = nn.ModuleDict({cfg.mel: FeatureNorm(cfg.mel_dim), cfg.f0: FeatureNorm(1)})
        self.cond = ConditionModule(cfg.mel_dim + 1, cfg.cond_lstm_units, cfg.cond_channels, cfg.cond_kernel,
                                    cfg.hop, extra=1 if self.sinc else 0, smooth=cfg.cond_smooth)
        self.merge = nn.Linear(self._source_dim(), 1)
        args = (cfg.filter_channels, cfg.filter_layers, cfg.filter_kernel, cfg.dilation_base)
        self.harmonic = FilterStack(cfg.harmonic_blocks, *args)
        self.noise = FilterStack(cfg.noise_blocks, *args)
        self.loss = MultiResolutionSTFTLoss(cfg.stft_resolutions, cfg.stft_eps)

    def _source_dim(self):
        return self.cfg.num_harmonics + 1

    def _source(self, f0_up, generator):
        c = self.cfg
        return sine_source(f0_up, c.sample_rate, c.num_harmonics, c.sine_amp, c.noise_std, c.voiced_threshold,
                           c.random_phase, generator)

    def param_groups(self):
        return {"model": [p for p in self.parameters() if p.requires_grad]}

    def generate(self, mel, f0, generator=None):
        """mel (B, N, M), f0 (B, N, 1) raw Hz -> waveform (B, N * hop)."""
        c = self.cfg
        if mel.shape[:2] != f0.shape[:2]:
            raise ValueError(f"mel {tuple(mel.shape)} and f0 {tuple(f0.shape)} differ in batch or frames")
        feats = torch.cat([self.norm[c.mel](mel), self.norm[c.f0](f0)], dim=-1)
        cond = self.cond(feats)  # (B, C [+1], T)
        f0_up = upsample_repeat(f0, c.hop)  # (B, T, 1), raw Hz for the source
        source, _, uv = self._source(f0_up, generator)
        harm_src = torch.tanh(self.merge(source)).transpose(1, 2)  # (B, 1, T)
        noise_src = (c.sine_amp / 3.0) * torch.randn(harm_src.shape, generator=generator,
                                                     device=harm_src.device, dtype=harm_src.dtype)
        h_cond = cond[:, : c.cond_channels]
        harm = self.harmonic(harm_src, h_cond)[:, 0]  # (B, T)
        noise = self.noise(noise_src, h_cond)[:, 0]
        if not self.sinc:
            return harm + noise
        cutoff = self.cutoff(cond[:, c.cond_channels], uv[..., 0])
        low, high = sinc_filter_coefs(cutoff, c.sinc_order)
        return time_variant_fir(harm, low) + time_variant_fir(noise, high)

    def cutoff(self, hidden, uv):
        """Normalised cut-off (B, T) from the condition's extra channel (B, T) and voicing (B, T)."""
        c = self.cfg
        voiced = c.cutoff_voiced_min + (c.cutoff_voiced_max - c.cutoff_voiced_min) * torch.sigmoid(hidden)
        return uv * voiced + (1.0 - uv) * c.cutoff_unvoiced

    def forward(self, batch, group="model", step=0, cache=None):
        c = self.cfg
        wav = batch[c.wav][..., 0]  # (B, T)
        y_hat = self.generate(batch[c.mel], batch[c.f0])
        T = min(wav.shape[1], y_hat.shape[1])
        lengths = batch.get(f"{c.wav}_len")
        loss, stats = self.loss(y_hat[:, :T], wav[:, :T], lengths)
        return loss, stats

    @torch.no_grad()
    def infer(self, batch):
        """One float32 numpy waveform (frames_len * hop,) per utterance, padding trimmed."""
        c = self.cfg
        mel = batch[c.mel]
        gen = torch.Generator(device=mel.device).manual_seed(c.infer_seed)
        y = self.generate(mel, batch[c.f0], generator=gen)
        lens = batch.get(f"{c.mel}_len")
        if lens is None:
            lens = torch.full((mel.shape[0],), mel.shape[1])
        return [np.asarray(y[i, : int(n) * c.hop].float().cpu().numpy(), dtype=np.float32)
                for i, n in enumerate(lens)]


@register_model("hn_sinc_nsf")
class HnSincNsf(_Nsf):
    """Harmonic-plus-noise NSF with trainable maximum voiced frequency (sinc filters)."""

    Config = HnSincNsfConfig
    sinc = True


@register_model("hn_nsf")
class HnNsf(_Nsf):
    """Harmonic-plus-noise NSF: the two branches are summed."""

    Config = NsfConfig
    sinc = False


@register_model("cyc_noise_nsf")
class CycNoiseNsf(_Nsf):
    """hn-sinc-NSF with the cyclic-noise source (Wang & Yamagishi 2020)."""

    Config = CycNoiseNsfConfig
    sinc = True

    def _source_dim(self):
        return 1

    def _source(self, f0_up, generator):
        c = self.cfg
        return cyclic_noise_source(f0_up, c.sample_rate, c.sine_amp, c.noise_std, c.voiced_threshold,
                                   c.cyc_kernel_len, c.cyc_decay_ms, generator)
