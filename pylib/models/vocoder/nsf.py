"""Neural source-filter vocoders (Wang, Takaki & Yamagishi 2019-2020): hn_sinc_nsf, hn_nsf, cyc_noise_nsf.

They compute what the seed's models compute (project-NN-Pytorch-scripts, project/01-nsf/
hn-sinc-nsf-9, hn-sinc-nsf-10, hn-nsf, cyc-noise-nsf-4, model.py); tests/parity checks it.

Generator, shapes (B batch, N frames, T = N * hop samples):
  mel (B, N, M), f0 (B, N, 1) raw Hz
  -> condition: BLSTM + conv (or three convs) with tanh over [norm(mel), norm(f0)], repeated to
     (B, C, T) and smoothed by two moving averages of one frame
  -> source: F0 repeated to (B, T, 1); sines + harmonics merged by linear + tanh (or cyclic noise)
  -> harmonic branch (causal neural filter blocks on the source), noise branch (on Gaussian noise)
  -> merge: time-variant sinc low-pass (harmonic) + high-pass (noise) with a cut-off from the
     condition and the voicing (hn_sinc_nsf, cyc_noise_nsf), or fixed FIR filters switched by the
     voicing (hn_nsf)
  -> waveform (B, T)
Trained with the multi-resolution STFT log-power loss (pylib.losses.stft); cyc_noise_nsf adds the
sine-masked loss on its harmonic blocks' outputs.

The random draws can be injected: `generate(mel, f0, noise={...})` (keys in `noise_shapes`).

Inference (`infer`, `infer_chunk`) draws its noise by position (`source.positional_normal`, seeded
by `infer_seed`), the same for every utterance of a batch, and carries the sine phase from piece to
piece, so a long input generated in pieces (pylib.engine.longform.infer_long) equals the whole-file
output: exactly with the cnn condition module, to within the BLSTM's fading memory with blstm.
The cyclic-noise model carries the segment phase of its pulses and the mean voiced F0 of the whole
input (its burst's length and decay), computed before the first piece (`chunk_init`).
"""

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from pylib.config import take_facts
from pylib.contracts import Chunking, LossModel, Vocoder
from pylib.errors import ConfigError
from pylib.losses.stft import NSF_RESOLUTIONS, MultiResolutionSTFTLoss
from pylib.models.vocoder.filters import (
    COND_MODULES,
    PAD_MODES,
    ConditionModule,
    FilterStack,
    causal_fir,
    moving_average,
    sinc_filter_coefs,
    time_variant_fir,
)
from pylib.models.vocoder.source import (
    burst_length,
    carried_phase,
    cyclic_noise_source,
    draw,
    harmonic_sines,
    positional_normal,
    positional_sine_draws,
    segment_phase,
    sine_source,
    upsample_repeat,
    voicing,
)
from pylib.nn.norm import FeatureNorm

SEED = "project-NN-Pytorch-scripts project/01-nsf"


@dataclass
class NsfConfig:
    """Keys shared by every NSF model; defaults are the seed's 16 kHz setting (model.py of each)."""

    RENAMED = {"mel_dim": "n_mels"}

    mel: str = "mel"  # input feature name of the spectral condition (B, N, n_mels)
    f0: str = "f0"  # input feature name of F0 in Hz, 0 = unvoiced (B, N, 1)
    wav: str = "wav"  # output feature name of the natural waveform (B, T, 1)
    # taken from the data spec (the features section): leave them out of the yaml
    n_mels: int | None = None  # mel channels: the mel feature's dim
    hop: int | None = None  # waveform samples per frame (upsampling factor): the mel's and f0's hop
    sample_rate: int | None = None  # Hz: features.sample_rate
    # source
    num_harmonics: int = 7  # harmonics above the fundamental in the sine source
    sine_amp: float = 0.1  # amplitude of each sine
    noise_std: float = 0.003  # std of the noise added in voiced regions; unvoiced get sine_amp / 3
    voiced_threshold: float = 0.0  # F0 above this (Hz) is voiced
    random_phase: bool = True  # random initial phase of the harmonics (the fundamental starts at 0)
    # condition module
    cond_module: str = "blstm"  # blstm: BLSTM + one conv (hn-sinc-nsf-9) | cnn: convs only (hn-sinc-nsf-10)
    cond_lstm_units: int = 64  # BLSTM output width (both directions together; even)
    cond_cnn_layers: int = 3  # convs of the cnn condition module
    cond_channels: int = 64  # condition width fed to every filter layer (= filter_channels)
    cond_kernel: int = 3  # conv kernel over frames
    cond_smooth: bool = True  # smooth the repetition-upsampled condition (two moving averages of one frame)
    cond_smooth_pad: str = "replicate"  # edges of the smoothing: replicate | zeros
    # neural filters
    filter_channels: int = 64  # hidden width of the dilated conv layers
    filter_kernel: int = 3  # causal conv kernel
    filter_layers: int = 10  # dilated conv layers per harmonic block, dilation dilation_base ** i
    dilation_base: int = 2  # dilation growth per layer
    harmonic_blocks: int = 5  # filter blocks in the harmonic branch
    noise_blocks: int = 1  # filter blocks in the noise branch
    noise_layers: int = 5  # dilated conv layers per noise block (the seed: filter_layers // 2)
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
        if self.filter_kernel < 1 or self.cond_kernel < 1:
            raise ConfigError("model.filter_kernel and model.cond_kernel must be >= 1")
        if (self.hop is not None and self.hop < 1) or self.num_harmonics < 0:
            raise ConfigError("model.hop must be >= 1 and model.num_harmonics >= 0")
        if self.cond_module not in COND_MODULES:
            raise ConfigError(f"model.cond_module must be one of {', '.join(COND_MODULES)}, "
                              f"got {self.cond_module!r}")
        if self.cond_smooth_pad not in PAD_MODES:
            raise ConfigError(f"model.cond_smooth_pad must be one of {', '.join(PAD_MODES)}, "
                              f"got {self.cond_smooth_pad!r}")
        if self.cond_module == "blstm" and self.cond_lstm_units % 2:
            raise ConfigError(f"model.cond_lstm_units must be even (two directions), "
                              f"got {self.cond_lstm_units}")
        for r in self.stft_resolutions:
            if len(r) != 3:
                raise ConfigError(f"model.stft_resolutions: each entry is [n_fft, hop, win], got {r}")


@dataclass
class HnNsfConfig(NsfConfig):
    cond_smooth_pad: str = "zeros"  # the seed's hn-nsf pads with zeros (its later models replicate)
    uv_merge_scale: float = 10.0  # voiced weight sigmoid(scale * (uv - 0.5)) switching the fixed filters


@dataclass
class HnSincNsfConfig(NsfConfig):
    sinc_order: int = 31  # taps of the time-variant sinc filters (odd)
    # cut-off (fraction of Nyquist) = scale * h + voiced * uv + offset, h in (-1, 1) from the condition:
    cutoff_scale: float = 0.2  # ... so unvoiced (0.1, 0.5) ...
    cutoff_voiced: float = 0.4  # ... and voiced (0.5, 0.9)
    cutoff_offset: float = 0.3
    cutoff_smooth_frames: int = 4  # moving average of the cut-off over this many frames

    def __post_init__(self):
        super().__post_init__()
        if self.sinc_order % 2 != 1:
            raise ConfigError(f"model.sinc_order must be odd, got {self.sinc_order}")
        if self.cutoff_smooth_frames < 1:
            raise ConfigError("model.cutoff_smooth_frames must be >= 1")


@dataclass
class CycNoiseNsfConfig(HnSincNsfConfig):
    cyc_beta: float = 0.870  # decay of the noise burst: exp(-t f0_mean / (beta sr))
    cyc_f0_mean: str = "batch"  # batch: one burst from the batch's mean F0, as the seed | utterance: one each

    def __post_init__(self):
        super().__post_init__()
        if self.cyc_f0_mean not in ("batch", "utterance"):
            raise ConfigError(f"model.cyc_f0_mean must be batch or utterance, got {self.cyc_f0_mean!r}")
    masked_loss: bool = True  # add the sine-masked STFT loss on every harmonic block's output


# what an NSF model takes from the data spec (pylib.config.take_facts), and the seed's 16 kHz values
# for a model built by hand without one
SPEC_FACTS = (("n_mels", "mel", "dim"), ("hop", "mel", "hop"), ("hop", "f0", "hop"),
              ("sample_rate", None, None), (None, "wav", None))
SPEC_DEFAULTS = {"n_mels": 80, "hop": 80, "sample_rate": 16000}
CYC_MIN_F0 = 40.0  # Hz: cyc_noise_nsf's pieces are exact down to this mean voiced F0 (the burst's reach)
BLSTM_CONTEXT = 100  # extra frames of context either side of a piece for the BLSTM condition (inexact)


class _Nsf(nn.Module, LossModel, Vocoder):
    """Shared NSF generator; subclasses pick the condition split, the source and the merge."""

    Config = NsfConfig
    infer_keys = ("infer_seed",)  # inference-only config keys (pylib.contracts.Vocoder.infer_keys)
    filter_bias = False  # biases in the neural filter blocks
    noise_skip = True  # the noise blocks add their input back (tanh + skip)

    def __init__(self, cfg, spec=None):
        super().__init__()
        take_facts(cfg, spec, SPEC_FACTS, SPEC_DEFAULTS)
        self.cfg = cfg
        self.norm = nn.ModuleDict({cfg.mel: FeatureNorm(cfg.n_mels), cfg.f0: FeatureNorm(1)})
        self.cond = ConditionModule(cfg.n_mels + 1, self._cond_channels(), cfg.hop, cfg.cond_module,
                                    cfg.cond_lstm_units, cfg.cond_kernel, cfg.cond_cnn_layers,
                                    cfg.cond_smooth, cfg.cond_smooth_pad)
        self._build_source()
        C, k, base = cfg.filter_channels, cfg.filter_kernel, cfg.dilation_base
        self.harmonic = FilterStack(cfg.harmonic_blocks, C, cfg.filter_layers, k, base, self.filter_bias)
        self.noise = FilterStack(cfg.noise_blocks, C, cfg.noise_layers, k, base, self.filter_bias,
                                 skip=self.noise_skip)
        self.loss = MultiResolutionSTFTLoss(cfg.stft_resolutions, cfg.stft_eps)

    # --- parts the subclasses choose -----------------------------------------------------------
    def _cond_channels(self):
        return self.cfg.cond_channels

    def _context(self, c, feats):
        """(B, C_out, T) condition, (B, N, D) normalised features -> (context (B, C, T), extra or None)."""
        return c, None

    def _build_source(self):
        self.merge = nn.Linear(self.cfg.num_harmonics + 1, 1)

    def _source(self, f0_up, noise, generator, phase0=None):
        """-> (harmonic source (B, 1, T), uv (B, T, 1)); phase0: see source.harmonic_sines."""
        c = self.cfg
        src, _, uv = sine_source(f0_up, c.sample_rate, c.num_harmonics, c.sine_amp, c.noise_std,
                                 c.voiced_threshold, c.random_phase, noise.get("phase"), noise.get("sine"),
                                 generator, phase0)
        return torch.tanh(self.merge(src)).transpose(1, 2), uv

    def _noise_amp(self):
        return self.cfg.sine_amp / 3.0

    def _merge(self, harm, noise, uv, extra):
        raise NotImplementedError

    # --- the generator ---------------------------------------------------------------------------
    def noise_shapes(self, B, N, f0=None):
        """Shapes of the injectable standard draws for B utterances of N frames (f0: (B, N, 1) Hz,
        needed only where a shape depends on it). "phase" entries are uniform [0, 1), the rest N(0, 1)."""
        T, H = N * self.cfg.hop, self.cfg.num_harmonics + 1
        return {"phase": (B, H), "sine": (B, T, H), "noise": (B, T)}

    def param_groups(self):
        return {"model": [p for p in self.parameters() if p.requires_grad]}

    def synthesize(self, mel, f0, noise=None, generator=None, phase0=None):
        """mel (B, N, M), f0 (B, N, 1) raw Hz -> (waveform (B, N * hop), {"hidden", "uv", "f0_up"}).

        noise: optional dict of standard draws (see `noise_shapes`); what is missing is drawn from
        `generator` (None: the global RNG). phase0: (B,) cycles of F0 before the first frame.
        """
        c = self.cfg
        if mel.shape[:2] != f0.shape[:2]:
            raise ValueError(f"mel {tuple(mel.shape)} and f0 {tuple(f0.shape)} differ in batch or frames")
        noise = dict(noise or {})
        feats = torch.cat([self.norm[c.mel](mel), self.norm[c.f0](f0)], dim=-1)
        context, extra = self._context(self.cond(feats), feats)  # (B, C, T)
        f0_up = upsample_repeat(f0, c.hop)  # (B, T, 1), raw Hz for the source
        harm_src, uv = self._source(f0_up, noise, generator, phase0)
        B, _, T = harm_src.shape
        noise_src = self._noise_amp() * draw(noise.get("noise"), (B, T), harm_src, generator).unsqueeze(1)
        harm, hidden = self.harmonic(harm_src, context, hidden=True)
        noi = self.noise(noise_src, context)
        return self._merge(harm[:, 0], noi[:, 0], uv, extra), {"hidden": hidden, "uv": uv, "f0_up": f0_up}

    def generate(self, mel, f0, noise=None, generator=None):
        """mel (B, N, M), f0 (B, N, 1) raw Hz -> waveform (B, N * hop). The pure generator."""
        return self.synthesize(mel, f0, noise, generator)[0]

    def _extra_loss(self, loss, stats, extras, wav, lengths, noise):
        return loss, stats

    def forward(self, batch, step=0, noise=None):
        """Training loss of `batch` (pylib.contracts.LossModel); noise: injected draws (`noise_shapes`)."""
        c = self.cfg
        wav = batch[c.wav][..., 0]  # (B, T)
        y_hat, extras = self.synthesize(batch[c.mel], batch[c.f0], noise)
        T = min(wav.shape[1], y_hat.shape[1])
        lengths = batch.get(f"{c.wav}_len")
        loss, stats = self.loss(y_hat[:, :T], wav[:, :T], lengths)
        extras = {k: v[:, :T] if torch.is_tensor(v) else [h[:, :T] for h in v] for k, v in extras.items()}
        return self._extra_loss(loss, stats, extras, wav[:, :T], lengths, dict(noise or {}))

    # --- inference, whole or in pieces -----------------------------------------------------------
    def context_frames(self):
        """Frames either side of a piece that its centre depends on (the receptive field, rounded up)."""
        c = self.cfg
        cond = c.cond_cnn_layers * (c.cond_kernel - 1) if c.cond_module == "cnn" else c.cond_kernel
        if c.cond_module == "blstm":
            cond += BLSTM_CONTEXT
        stacks = ((c.harmonic_blocks, c.filter_layers), (c.noise_blocks, c.noise_layers))
        causal = max(blocks * (c.filter_kernel - 1) * sum(c.dilation_base**i for i in range(layers))
                     for blocks, layers in stacks)
        causal += getattr(c, "sinc_order", 11)  # the merge filters (hn-nsf's longest FIR has 11 taps)
        smooth = 2 + getattr(c, "cutoff_smooth_frames", 0)  # condition and cut-off moving averages
        return cond + smooth + math.ceil(causal / c.hop) + 1

    def chunking(self):
        """Pieces of `context_frames` context; the sine phase is carried (see the module docstring)."""
        c = self.cfg
        return Chunking(inputs=(c.mel, c.f0), hop=c.hop, context=self.context_frames(),
                        exact=c.cond_module != "blstm", state=True)

    def _infer_draws(self, B, start, T, like):
        """Inference noise of samples [start, start + T): by position, seeded by infer_seed."""
        c = self.cfg
        noise = positional_normal(c.infer_seed, 2, start, T, 1, like)[:, 0]
        return {**positional_sine_draws(c.infer_seed, B, start, T, c.num_harmonics + 1, like),
                "noise": noise.expand(B, T)}

    @torch.no_grad()
    def infer(self, batch):
        """One float32 numpy waveform (frames_len * hop,) per utterance, padding trimmed."""
        return self.infer_chunk(batch, 0, 0, self.chunk_init(batch))[0]

    def chunk_init(self, batch):
        """The state before the first piece (pylib.contracts.Vocoder.chunk_init): None, phase 0."""
        return None

    @torch.no_grad()
    def infer_chunk(self, batch, start, advance, state=None):
        """`infer` of frames [start, start + N) of the inputs (pylib.contracts.Vocoder.infer_chunk);
        state: cycles of F0 before frame `start` (None: 0) -> (waveforms, those before start + advance)."""
        c = self.cfg
        mel, f0 = batch[c.mel], batch[c.f0]
        B, N = mel.shape[:2]
        phase0 = torch.zeros(B, dtype=torch.float64) if state is None else state
        y = self.synthesize(mel, f0, self._infer_draws(B, start * c.hop, N * c.hop, mel), phase0=phase0)[0]
        return self._trim(batch, y), carried_phase(phase0, f0, advance, c.hop, c.sample_rate)

    def _trim(self, batch, y):
        c = self.cfg
        mel = batch[c.mel]
        lens = batch.get(f"{c.mel}_len")
        if lens is None:
            lens = torch.full((mel.shape[0],), mel.shape[1])
        return [np.asarray(y[i, : int(n) * c.hop].float().cpu().numpy(), dtype=np.float32)
                for i, n in enumerate(lens)]


class _SincMerge:
    """Time-variant sinc low-pass on the harmonic branch and high-pass on the noise branch."""

    def cutoff(self, hidden, uv):
        """Normalised cut-off (B, T) from the condition's cut-off channel (B, 1, T) and voicing (B, T, 1):
        scale * h + voiced * uv + offset, smoothed over cutoff_smooth_frames frames (the seed's
        CondModuleHnSincNSF.get_cut_f and l_cut_f_smooth)."""
        c = self.cfg
        raw = c.cutoff_scale * hidden + c.cutoff_voiced * uv.transpose(1, 2) + c.cutoff_offset
        return moving_average(raw, c.cutoff_smooth_frames * c.hop, "replicate")[:, 0]

    def _merge(self, harm, noise, uv, extra):
        low, high = sinc_filter_coefs(self.cutoff(extra, uv), self.cfg.sinc_order)
        return time_variant_fir(harm, low) + time_variant_fir(noise, high)


class HnSincNsf(_SincMerge, _Nsf):
    """Harmonic-plus-noise NSF with trainable maximum voiced frequency (the seed's hn-sinc-nsf-9/-10).

    The condition's last channel drives the cut-off; in its place the filters see the smoothed,
    normalised F0.
    """

    Config = HnSincNsfConfig

    def _context(self, c, feats):
        f0_up = self.cond.upsample(feats[..., -1:].transpose(1, 2))  # (B, 1, T) normalised F0
        return torch.cat([c[:, :-1], f0_up], dim=1), c[:, -1:]


# The seed's hn-nsf fixed filters (project/01-nsf/hn-nsf/model.py, designed with the Parks-McClellan
# algorithm for 16 kHz): low-pass 0-5 kHz (voiced) and 0-1 kHz (unvoiced) for the harmonic branch,
# high-pass 7-8 kHz (voiced) and 3-8 kHz (unvoiced) for the noise branch.
HN_NSF_FIR = {
    "lp_v": [0.08538414199291068, 0.04920229475534168, -0.1470178606967731, 0.24737764593887432,
             0.7103067853166558, 0.24737764593887432, -0.1470178606967731, 0.04920229475534168,
             0.08538414199291068],
    "lp_u": [0.00936455546502, 0.0416254862901, 0.0878313219556, 0.146086321198, 0.192602581136,
             0.211221591449, 0.192602581136, 0.146086321198, 0.0878313219556, 0.0416254862901,
             0.00936455546502],
    "hp_v": [-0.00936455546502148, 0.04162548629009957, -0.08783132195564508, 0.1460863211980122,
             -0.19260258113649556, 0.21122159144894015, -0.19260258113649556, 0.1460863211980122,
             -0.08783132195564508, 0.04162548629009957, -0.00936455546502148],
    "hp_u": [0.0853841419929, -0.0492022947553, -0.147017860697, -0.247377645939, 0.710306785317,
             -0.247377645939, -0.147017860697, -0.0492022947553, 0.0853841419929],
}


class HnNsf(_Nsf):
    """Harmonic-plus-noise NSF (the seed's hn-nsf): fixed FIR filters, switched by the voicing."""

    Config = HnNsfConfig

    def __init__(self, cfg, spec=None):
        super().__init__(cfg, spec)
        for name, coef in HN_NSF_FIR.items():
            self.register_buffer(f"fir_{name}", torch.tensor(coef))

    def _merge(self, harm, noise, uv, extra):
        w = torch.sigmoid((uv[..., 0] - 0.5) * self.cfg.uv_merge_scale)  # (B, T), ~1 voiced
        voiced = causal_fir(harm, self.fir_lp_v) + causal_fir(noise, self.fir_hp_v)
        unvoiced = causal_fir(harm, self.fir_lp_u) + causal_fir(noise, self.fir_hp_u)
        return voiced * w + unvoiced * (1.0 - w)


class CycNoiseNsf(_SincMerge, _Nsf):
    """Cyclic-noise NSF (Wang & Yamagishi 2020; the seed's cyc-noise-nsf-4).

    The harmonic branch filters cyclic noise (no merge layer); its blocks have biases; the noise
    block outputs its last linear layer without tanh or skip. The condition has one extra channel
    for the cut-off. Training adds the sine-masked loss on every harmonic block's output.
    """

    Config = CycNoiseNsfConfig
    filter_bias = True
    noise_skip = False

    def _cond_channels(self):
        return self.cfg.cond_channels + 1

    def _context(self, c, feats):
        return c[:, :-1], c[:, -1:]

    def _build_source(self):
        pass

    def _source(self, f0_up, noise, generator, phase0=None):
        """phase0: None, or the inference state of `chunk_init` / `infer_chunk` ({"f0_mean": the whole
        input's mean voiced F0, "phase": (B,) cycles of the voiced segment before the first sample})."""
        c = self.cfg
        state = phase0 or {}
        with torch.no_grad():
            src, uv = cyclic_noise_source(f0_up, c.sample_rate, c.cyc_beta, c.noise_std, c.voiced_threshold,
                                          noise.get("pulse"), noise.get("burst"), generator,
                                          per_utterance=c.cyc_f0_mean == "utterance",
                                          f0_mean=state.get("f0_mean"), phase0=state.get("phase"))
        return src.transpose(1, 2), uv

    def _noise_amp(self):
        return self.cfg.noise_std / 3.0

    def context_frames(self):
        """`_Nsf.context_frames` plus the noise burst's length at a mean voiced F0 of CYC_MIN_F0."""
        c = self.cfg
        burst = burst_length(torch.tensor(CYC_MIN_F0), c.sample_rate)
        return super().context_frames() + math.ceil(burst / c.hop)

    def chunk_init(self, batch):
        """{"f0_mean", "phase"}: the mean voiced F0 of all the input (frame rate; one for the batch, or a
        list of one per utterance with cyc_f0_mean: utterance; None without voiced frames), so that
        every piece of a long input has the whole input's burst, and segment phase 0."""
        c = self.cfg
        f0 = batch[c.f0]
        thr = c.voiced_threshold

        def mean(x):
            return x[x > thr].mean() if bool((x > thr).any()) else None

        f0_mean = mean(f0) if c.cyc_f0_mean == "batch" else [mean(u) for u in f0]
        return {"f0_mean": f0_mean, "phase": torch.zeros(f0.shape[0], dtype=torch.float64)}

    def _burst(self, f0_mean, like):
        """The burst's standard draws (burst_length,) by position (seeded by infer_seed); None unvoiced."""
        if f0_mean is None:
            return None
        length = burst_length(f0_mean, self.cfg.sample_rate)
        return positional_normal(self.cfg.infer_seed, 3, 0, length, 1, like)[:, 0]

    @torch.no_grad()
    def infer_chunk(self, batch, start, advance, state=None):
        """`infer` of frames [start, start + N) (pylib.contracts.Vocoder.infer_chunk). state: that of
        `chunk_init` of the whole input, then the segment phase carried from piece to piece. The
        noise (pulses, burst, noise branch) is drawn by position, seeded by infer_seed."""
        c = self.cfg
        mel, f0 = batch[c.mel], batch[c.f0]
        B, N = mel.shape[:2]
        state = self.chunk_init(batch) if state is None else state
        s0, T = start * c.hop, N * c.hop
        means = state["f0_mean"]
        noise = {"pulse": positional_normal(c.infer_seed, 4, s0, T, 1, mel)[:, 0].expand(B, T),
                 "noise": positional_normal(c.infer_seed, 2, s0, T, 1, mel)[:, 0].expand(B, T),
                 "burst": [self._burst(m, mel) for m in means] if isinstance(means, list)
                 else self._burst(means, mel)}
        y = self.synthesize(mel, f0, noise, phase0=state)[0]
        phase = state["phase"]
        if advance > 0:
            seg = segment_phase(upsample_repeat(f0, c.hop), c.sample_rate, c.voiced_threshold, phase)
            phase = torch.remainder(seg[:, advance * c.hop - 1].cpu(), 1.0)
        return self._trim(batch, y), {**state, "phase": phase}

    def noise_shapes(self, B, N, f0=None):
        """As `_Nsf.noise_shapes`; the burst length follows the mean voiced F0 (B, N, 1) when given
        (with cyc_f0_mean: utterance, "burst" is a list of shapes, one per utterance)."""
        T, H = N * self.cfg.hop, self.cfg.num_harmonics + 1
        shapes = {"pulse": (B, T), "noise": (B, T), "mask_phase": (B, H)}
        if f0 is None:
            return shapes
        thr, sr = self.cfg.voiced_threshold, self.cfg.sample_rate
        if self.cfg.cyc_f0_mean == "batch":
            if bool((f0 > thr).any()):
                shapes["burst"] = (burst_length(f0[f0 > thr].mean(), sr),)
        elif all(bool((u > thr).any()) for u in f0):
            shapes["burst"] = [(burst_length(u[u > thr].mean(), sr),) for u in f0]  # one per utterance
        return shapes

    def _extra_loss(self, loss, stats, extras, wav, lengths, noise):
        c = self.cfg
        if not c.masked_loss:
            return loss, stats
        with torch.no_grad():
            sines = harmonic_sines(extras["f0_up"], c.sample_rate, c.num_harmonics, c.sine_amp,
                                   noise.get("mask_phase"))
            mask_signal = (sines * voicing(extras["f0_up"], c.voiced_threshold)).mean(-1)  # (B, T)
        masked = self.loss.sine_masked(extras["hidden"], wav, mask_signal, lengths)
        stats = dict(stats, stft_masked=float(masked.detach()))
        return loss + masked, stats
