"""iLPCNet: LPCNet with LP coefficients predicted from the mel (the seed's project/05-nn-vocoders/ilpcnet).

It computes what the seed's LPCNetV1 computes (project-NN-Pytorch-scripts
project/05-nn-vocoders/ilpcnet/block_lpcnet.py, wrapped by its model.py; after Hwang et al., "Improving
LPCNet-based text-to-speech with linear prediction-structured mixture density network", ICASSP
2020); tests/parity/test_ilpcnet_parity.py checks it.

Shapes (B batch, N feature frames every `hop` samples, up = frame_shift / hop, F = N / up LPC frames,
T samples, P = lpc_order + 1):
  condition c = [mel, F0] (B, N, n_mels + 1) taken every `up`-th frame -> (B, F, n_mels + 1)
  condition network on the *raw* c: two conv(k=5) + tanh, a residual add, a BiGRU, Linear, tanh,
     Linear -> reflection coefficients tanh(.) (B, F, order) and gain exp(.) (B, F, 1)
  -> Levinson step-up -> LP coefficients [1, a_1, ..., a_order] (B, F, P)
  frame-rate network on [normalised c, embedding of the quantised F0 (clamp((f0 - 33) // 2))]:
     two conv(k=3) + tanh, Linear, tanh, Linear, tanh -> (B, F, hidden), repeated frame_shift times
  output network: GRU([frame feature, previous sample]) -> GRU([., previous sample]) -> weight-normed
     Linear -> excitation mean and std = exp(relu(log_std + 9) - 9)
  sample = excitation + LP prediction -sum_k a_k x[n - k] (on the pre-emphasised signal)
Training (two stages, as the seed's --temp-flag stage1 / stage2): stage 1 fits the condition
network to the reflection coefficients and gain of an LPC analysis of the natural waveform (MSE);
stage 2 fixes it and trains the rest by the Gaussian negative log-likelihood of the pre-emphasised
waveform around the LP prediction from the *predicted* coefficients, the previous natural sample
(plus noise of std 2 ** -14) fed back. With `<wav>_len` the padding is left out of both means (the
seed averages over it).
Generation: one sample per step, excitation drawn with its std scaled by 0.7, LP synthesis, then
de-emphasis. Inference (`infer`) draws the excitation by sample position (seeded by infer_seed), so
a long input generated in pieces, each continuing the GRU states and past samples of the one before
(pylib.contracts.Chunking carry), is one sample stream: that of the whole file wherever the pieces'
BiGRU condition is (to float round-off) the whole file's.
"""

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pylib.config import take_facts
from pylib.contracts import Chunking, LossModel, Vocoder
from pylib.errors import ConfigError
from pylib.models.vocoder.nsf import BLSTM_CONTEXT
from pylib.models.vocoder.source import positional_normal
from pylib.nn.norm import FeatureNorm

SEED = "project-NN-Pytorch-scripts project/05-nn-vocoders/ilpcnet/block_lpcnet.py LPCNetV1"


@dataclass
class ILPCNetConfig:
    """Defaults are the seed's (ilpcnet/config.py options, block_lpcnet.py LPCNetV1 and its nets)."""

    mel: str = "mel"  # input feature name of the spectral condition (B, N, n_mels)
    f0: str = "f0"  # input feature name of F0 in Hz (B, N, 1), 0 when unvoiced
    wav: str = "wav"  # output feature name of the natural waveform (B, T, 1)
    # taken from the data spec (the features section): leave them out of the yaml
    n_mels: int | None = None  # mel channels: the mel feature's dim
    hop: int | None = None  # waveform samples per feature frame: the mel's hop
    sample_rate: int | None = None  # Hz: features.sample_rate
    frame_length: int = 160  # LPC analysis frame length in samples (config.py options framelength)
    frame_shift: int = 160  # LPC frame shift in samples, a multiple of hop (config.py options frameshift)
    lpc_order: int = 15  # LP order (config.py options lpc_order)
    pre_emphasis: float = 0.97  # 1 - a z^-1 before LPC analysis, de-emphasis after generation
    pitch_classes: int = 256  # quantised F0 classes (LPCNetV1 m_pitch_cat)
    pitch_emb: int = 64  # F0 embedding width (LPCNetV1 m_pitch_emb)
    frame_channels: int = 128  # frame-rate network width (FrameRateNet)
    hidden: int = 256  # frame-rate network output = first GRU input (LPCNetV1 m_hid_dim)
    gru1: int = 256  # first sample-rate GRU (OutputNet m_gru1)
    gru2: int = 16  # second sample-rate GRU (OutputNet m_gru2)
    cond_gru: int = 64  # condition network BiGRU width per direction (CondNetwork)
    cond_hidden: int = 128  # condition network Linear width (CondNetwork)
    stage1_steps: int = 0  # steps before it train the condition network (seed stage1), later ones the rest
    feedback_noise: float = 2.0**-14  # std of the noise on the fed-back sample in training (LPCNetV1.forward)
    temperature: float = 0.7  # scale of the excitation std in generation (LPCNetV1.inference)
    infer_seed: int = 0  # seed of the sampling at inference (reproducible output)

    def __post_init__(self):
        for key in ("frame_length", "frame_shift", "lpc_order", "pitch_classes", "pitch_emb",
                    "frame_channels", "hidden", "gru1", "gru2", "cond_gru", "cond_hidden"):
            if getattr(self, key) < 1:
                raise ConfigError(f"model.{key} must be >= 1, got {getattr(self, key)}")
        if self.frame_length < 2:
            raise ConfigError(f"model.frame_length must be >= 2, got {self.frame_length}")
        if self.stage1_steps < 0:
            raise ConfigError(f"model.stage1_steps must be >= 0, got {self.stage1_steps}")
        if not 0.0 <= self.pre_emphasis < 1.0:
            raise ConfigError(f"model.pre_emphasis must be in [0, 1), got {self.pre_emphasis}")
        if self.temperature < 0 or self.feedback_noise < 0:
            raise ConfigError("model.temperature and model.feedback_noise must be >= 0")
        if self.hop is not None and (self.hop < 1 or self.frame_shift % self.hop):
            raise ConfigError(f"model.frame_shift ({self.frame_shift}) must be a multiple of the mel hop "
                              f"({self.hop}), as the seed's model.py requires; set it to k * {self.hop}")


SPEC_FACTS = (("n_mels", "mel", "dim"), ("hop", "mel", "hop"), ("sample_rate", None, None),
              (None, "f0", None), (None, "wav", None))
SPEC_DEFAULTS = {"n_mels": 80, "hop": 80, "sample_rate": 16000}


# --- LPC -------------------------------------------------------------------------------------------
def pre_emphasise(x, a):
    """x (B, T) -> x[t] - a x[t - 1] (x[0] kept)."""
    return torch.cat([x[:, :1], x[:, 1:] - a * x[:, :-1]], dim=1)


def de_emphasise(x, a, prev=None):
    """x (B, T) -> y[t] = x[t] + a y[t - 1], in order as the seed; prev: (B,) y[-1] (None: 0)."""
    if not a:
        return x
    y = torch.empty_like(x)
    prev = torch.zeros_like(x[:, 0]) if prev is None else prev.to(x)
    for t in range(x.shape[1]):
        prev = x[:, t] + a * prev
        y[:, t] = prev
    return y


@torch.no_grad()
def lpc_analysis(wav, frame_length, frame_shift, order, pre_emphasis=0.97):
    """The seed's numpy LPC analysis (core_scripts/data_io/dsp_tools.py LPClite.analysis with a
    Blackman window), in torch over a batch: wav (B, T) -> reflection coefficients (B, F, order),
    gain (B, F, 1), LP coefficients [1, a_1, ...] (B, F, order + 1), F = (T - frame_length) //
    frame_shift + 1. Computed in float64 like numpy, returned in wav's dtype.

    The Levinson-Durbin recursion stops a frame whose error falls under 1e-7 (its later reflection
    coefficients are 0); the gain is the square root of the error of the order - 1 recursion (or,
    for a stopped frame, at its stop), 1 where that is under 1e-7 -- all as the seed."""
    if wav.shape[1] < frame_length:
        raise ValueError(f"LPC analysis needs at least {frame_length} samples, got {wav.shape[1]}")
    dtype = wav.dtype
    x = wav.double()
    if pre_emphasis:
        x = pre_emphasise(x, pre_emphasis)
    frames = x.unfold(1, frame_length, frame_shift)  # (B, F, L)
    B, nf, L = frames.shape
    n = torch.arange(L, dtype=torch.float64, device=x.device)
    win = 0.42 - 0.5 * torch.cos(2 * math.pi * n / (L - 1)) + 0.08 * torch.cos(4 * math.pi * n / (L - 1))
    fr = (frames * win).reshape(B * nf, L)
    P = order + 1
    R = torch.stack([(fr[:, : L - i] * fr[:, i:]).sum(1) for i in range(P)], dim=1)
    M = fr.shape[0]
    prev = torch.zeros(M, P, dtype=torch.float64, device=x.device)  # reversed: [..., 1]
    prev[:, 0] = 1.0
    err = torch.zeros(M, P, dtype=torch.float64, device=x.device)
    err[:, 0] = R[:, 0]
    rc = torch.zeros(M, order, dtype=torch.float64, device=x.device)
    stop = torch.full((M,), P, dtype=torch.long, device=x.device)
    for i in range(1, P):
        g = (prev[:, :i] * R[:, 1 : i + 1]).sum(1)
        ill = (err[:, i - 1] < 1e-7) | (stop < P)
        g = torch.where(ill, torch.zeros_like(g), g / torch.where(ill, torch.ones_like(g), err[:, i - 1]))
        rc[:, i - 1] = g
        stop = torch.where(ill, torch.full_like(stop, i), stop)
        cur = torch.zeros_like(prev)
        cur[:, i] = 1.0
        cur[:, 0] = -g
        if i > 1:
            cur[:, 1:i] = prev[:, : i - 1] + cur[:, :1] * prev[:, : i - 1].flip(1)
        err[:, i] = err[:, i - 1] * (1 - g * g)
        prev = cur
    lpc = prev.flip(1)
    keep = torch.arange(P, device=x.device)[None] < stop[:, None]
    lpc = lpc * keep
    gain = err.gather(1, ((stop - 2) % P)[:, None]).sqrt()
    gain = torch.where(gain < 1e-7, torch.ones_like(gain), gain)
    return (rc.reshape(B, nf, order).to(dtype), gain.reshape(B, nf, 1).to(dtype),
            lpc.reshape(B, nf, P).to(dtype))


def rc_to_lpc(rc):
    """Reflection coefficients (..., order) -> LP coefficients [1, a_1, ..., a_order] (..., order + 1),
    the step-up recursion of the seed's LPCLitePytorch.LPC_rc2lpc."""
    shape = rc.shape
    k = rc.reshape(-1, shape[-1])
    P = shape[-1] + 1
    prev = torch.zeros(k.shape[0], P, dtype=rc.dtype, device=rc.device)
    prev[:, 0] = 1.0
    for i in range(1, P):
        head = -k[:, i - 1 : i]
        parts = [head]
        if i > 1:
            parts.append(prev[:, : i - 1] + head * prev[:, : i - 1].flip(1))
        parts.append(torch.ones_like(head))
        parts.append(prev[:, i + 1 :])
        prev = torch.cat(parts, dim=1)
    return prev.flip(1).reshape(*shape[:-1], P)


# --- networks --------------------------------------------------------------------------------------
class FrameConv(nn.Conv1d):
    """Conv over frames keeping the length (zero padding, the extra one on the right) and tanh:
    (B, F, in) -> (B, F, out), as the seed's block_nn.py Conv1dKeepLength."""

    def forward(self, x):
        k = self.kernel_size[0]
        left = (k - 1) // 2
        return torch.tanh(super().forward(F.pad(x.transpose(1, 2), (left, k - 1 - left)))).transpose(1, 2)


class CondNet(nn.Module):
    """Raw condition (B, F, D) -> reflection coefficients (B, F, order), gain (B, F, 1)."""

    def __init__(self, dim, order, gru, hidden):
        super().__init__()
        self.conv1 = FrameConv(dim, dim, 5)
        self.conv2 = FrameConv(dim, dim, 5)
        self.gru = nn.GRU(dim, gru, batch_first=True, bidirectional=True)
        self.fc1 = nn.Linear(2 * gru, hidden)
        self.fc2 = nn.Linear(hidden, order + 1)

    def forward(self, x):
        h = self.gru(self.conv2(self.conv1(x)) + x)[0]
        y = self.fc2(torch.tanh(self.fc1(h)))
        return torch.tanh(y[..., :-1]), torch.exp(y[..., -1:])


class FrameRateNet(nn.Module):
    def __init__(self, dim, channels, out):
        super().__init__()
        self.conv1 = FrameConv(dim, channels, 3)
        self.conv2 = FrameConv(channels, channels, 3)
        self.fc1 = nn.Linear(channels, channels)
        self.fc2 = nn.Linear(channels, out)

    def forward(self, x):
        return torch.tanh(self.fc2(torch.tanh(self.fc1(self.conv2(self.conv1(x))))))


class ILPCNet(nn.Module, LossModel, Vocoder):
    """The seed's iLPCNet (project/05-nn-vocoders/ilpcnet, block_lpcnet.py LPCNetV1)."""

    Config = ILPCNetConfig
    infer_keys = ("temperature", "infer_seed")  # inference-only config keys (Vocoder.infer_keys)

    def __init__(self, cfg, spec=None):
        super().__init__()
        take_facts(cfg, spec, SPEC_FACTS, SPEC_DEFAULTS)
        cfg.__post_init__()  # the hop is known now: check frame_shift against it
        self.cfg = cfg
        self.up = cfg.frame_shift // cfg.hop
        dim = cfg.n_mels + 1
        self.norm = nn.ModuleDict({cfg.mel: FeatureNorm(cfg.n_mels), cfg.f0: FeatureNorm(1)})
        self.cond_net = CondNet(dim, cfg.lpc_order, cfg.cond_gru, cfg.cond_hidden)
        self.pitch_embed = nn.Embedding(cfg.pitch_classes, cfg.pitch_emb)
        self.frame_net = FrameRateNet(dim + cfg.pitch_emb, cfg.frame_channels, cfg.hidden)
        self.gru1 = nn.GRU(cfg.hidden + 1, cfg.gru1, batch_first=True)
        self.gru2 = nn.GRU(cfg.gru1 + 1, cfg.gru2, batch_first=True)
        # the output Linear(gru2, 2, bias=False) under weight norm: weight = g * v / |v| per row
        self.out_g = nn.Parameter(torch.ones(2, 1))
        self.out_v = nn.Parameter(torch.empty(2, cfg.gru2))
        nn.init.kaiming_uniform_(self.out_v, a=math.sqrt(5))
        with torch.no_grad():
            self.out_g.copy_(self.out_v.norm(dim=1, keepdim=True))

    def stage(self, step):
        """1: train the condition network; 2: the frame-rate and sample-rate networks."""
        return 1 if step < self.cfg.stage1_steps else 2

    def param_groups(self):
        return {"model": [p for p in self.parameters() if p.requires_grad]}

    # --- pieces ------------------------------------------------------------------------------------
    def out_weight(self):
        return self.out_g * self.out_v / self.out_v.norm(dim=1, keepdim=True)

    def conditions(self, mel, f0):
        """Raw (B, N, M), (B, N, 1) -> raw and normalised [mel, F0] every `up`-th frame (B, F, M + 1)."""
        c = self.cfg
        raw = torch.cat([mel, f0], dim=-1)[:, :: self.up]
        normed = torch.cat([self.norm[c.mel](mel), self.norm[c.f0](f0)], dim=-1)[:, :: self.up]
        return raw, normed

    def pitch(self, f0):
        """F0 in Hz (any shape) -> classes clamp((f0 - 33) // 2, 0, classes - 1)."""
        return torch.clamp(torch.div(f0 - 33, 2, rounding_mode="floor"), 0, self.cfg.pitch_classes - 1).long()

    def frame_features(self, raw, normed):
        """(B, F, hidden): the frame-rate network on the normalised condition and the F0 embedding."""
        return self.frame_net(torch.cat([normed, self.pitch_embed(self.pitch(raw[..., -1]))], dim=-1))

    def excitation(self, feat, feedback):
        """Teacher-forced excitation mean and std (B, T, 1) from sample-rate features (B, T, hidden)
        and the fed-back samples (B, T, 1)."""
        h = self.gru1(torch.cat([feat, feedback], dim=-1))[0]
        h = self.gru2(torch.cat([h, feedback], dim=-1))[0]
        mean, log_std = F.linear(h, self.out_weight()).chunk(2, dim=-1)
        return mean, torch.exp(F.relu(log_std + 9) - 9)

    def lp_analysis(self, wav, lpc):
        """The seed's LPCLitePytorch.LPCAnalysisPytorch: pre-emphasis (x[0] := x[1]), a rising half
        Hann window over the first frame_length / 2 samples, then the LP prediction. wav (B, T),
        lpc (B, F, P) -> prediction (B, T2), processed wav (B, T2)."""
        c = self.cfg
        x = wav
        if c.pre_emphasis:
            x = pre_emphasise(wav, c.pre_emphasis)
            x = torch.cat([x[:, 1:2], x[:, 1:]], dim=1)
        half = c.frame_length // 2
        win = torch.hann_window(c.frame_length, dtype=x.dtype, device=x.device)[:half]
        x = torch.cat([x[:, :half] * win, x[:, half:]], dim=1)
        T2 = min((wav.shape[1] - c.frame_length) // c.frame_shift + 1, lpc.shape[1]) * c.frame_shift
        P = lpc.shape[-1]
        past = F.pad(x, (P - 1, 0)).unfold(1, P, 1)[:, :T2].flip(-1)  # [x[n], x[n-1], ..., x[n-order]]
        excit = (past * lpc.repeat_interleave(c.frame_shift, dim=1)[:, :T2]).sum(-1)
        return x[:, :T2] - excit, x[:, :T2]

    def losses(self, mel, f0, wav, stage, lengths=None):
        """(condition MSE, waveform NLL) for raw mel (B, N, M), F0 (B, N, 1), wav (B, T); the
        loss of the stage not trained is zero (the seed multiplies it by 0). lengths (B,): the
        utterances' true sample counts; the padding is then left out of the means (LPC frames that
        reach into it, samples in it)."""
        c = self.cfg
        raw, normed = self.conditions(mel, f0)
        rc, gain, _ = lpc_analysis(wav, c.frame_length, c.frame_shift, c.lpc_order, c.pre_emphasis)
        n = min(rc.shape[1], raw.shape[1])
        rc, gain, raw, normed = rc[:, :n], gain[:, :n], raw[:, :n], normed[:, :n]
        zero = wav.new_zeros(())
        if stage == 1:
            rc_pre, gain_pre = self.cond_net(raw)
            if lengths is None:
                return F.mse_loss(rc_pre, rc) + F.mse_loss(gain_pre, gain), zero
            ends = torch.arange(n, device=wav.device) * c.frame_shift + c.frame_length
            keep = (ends[None] <= lengths.to(wav.device)[:, None]).to(wav.dtype)[..., None]  # (B, n, 1)
            count = keep.sum().clamp(min=1)
            mse = (((rc_pre - rc) ** 2 * keep).sum() / (count * rc.shape[-1])
                   + ((gain_pre - gain) ** 2 * keep).sum() / count)
            return mse, zero
        with torch.no_grad():
            rc_pre, _ = self.cond_net(raw)
            pred, x = self.lp_analysis(wav, rc_to_lpc(rc_pre))
        feat = self.frame_features(raw, normed).repeat_interleave(c.frame_shift, dim=1)
        T = min(x.shape[1], feat.shape[1])
        x, pred = x[:, :T], pred[:, :T]
        noise = torch.randn(x.shape[0], T, 1, dtype=x.dtype, device=x.device)  # as the seed: global RNG
        fb = F.pad(x[:, :-1], (1, 0))[..., None] + noise * c.feedback_noise
        mean, std = self.excitation(feat[:, :T], fb)
        z = (x[..., None] - mean - pred[..., None]) / std
        nll = 0.5 * math.log(2 * math.pi) + torch.log(std) + 0.5 * z**2  # (B, T, 1)
        if lengths is None:
            return zero, nll.mean()
        keep = (torch.arange(T, device=wav.device)[None] < lengths.to(wav.device)[:, None]).to(nll.dtype)
        return zero, (nll[..., 0] * keep).sum() / keep.sum().clamp(min=1)

    def forward(self, batch, step=0):
        """Stage 1: the condition network's MSE; stage 2: the waveform NLL (pylib.contracts.LossModel);
        with `<wav>_len` the padding is left out of the means (the seed averages over it)."""
        c = self.cfg
        stage = self.stage(step)
        cond, nll = self.losses(batch[c.mel], batch[c.f0], batch[c.wav][..., 0], stage,
                                batch.get(f"{c.wav}_len"))
        loss = cond if stage == 1 else nll
        return loss, {"cond": float(cond.detach()), "nll": float(nll.detach()), "stage": float(stage)}

    # --- generation --------------------------------------------------------------------------------
    def _frames(self, mel, f0):
        """Raw mel (B, N, M), F0 (B, N, 1) -> LP coefficients (B, F, P), frame features (B, F, hidden)."""
        raw, normed = self.conditions(mel, f0)
        return rc_to_lpc(self.cond_net(raw)[0]), self.frame_features(raw, normed)

    def _start_state(self, B, like):
        """The generator's state before the first sample: GRU states, past samples, previous sample."""
        c = self.cfg
        return {"h1": like.new_zeros(B, c.gru1), "h2": like.new_zeros(B, c.gru2),
                "past": like.new_zeros(B, c.lpc_order), "prev": like.new_zeros(B, 1)}

    def _run(self, lpc, feat, lo, hi, state, noise):
        """Samples [lo, hi) of the frames' LP coefficients (B, F, P) and features (B, F, hidden) (on the
        pre-emphasised signal), continuing `state` (`_start_state`); noise(i) -> (B, 1) standard
        normal draws of sample lo + i. The first GRU's input projection of the frame feature is
        computed once per frame. -> (samples (B, hi - lo), the state after them)."""
        c = self.cfg
        B, _, P = lpc.shape
        w1, u1, b1, c1 = (self.gru1.weight_ih_l0, self.gru1.weight_hh_l0, self.gru1.bias_ih_l0,
                          self.gru1.bias_hh_l0)
        w2, u2, b2, c2 = (self.gru2.weight_ih_l0, self.gru2.weight_hh_l0, self.gru2.bias_ih_l0,
                          self.gru2.bias_hh_l0)
        gi_frames = F.linear(feat, w1[:, :-1], b1)  # (B, F, 3 gru1)
        w1_fb, w2_h, w2_fb = w1[:, -1], w2[:, :-1].t().contiguous(), w2[:, -1]
        u1t, u2t = u1.t().contiguous(), u2.t().contiguous()
        wout = self.out_weight().t().contiguous()
        neg_a = -lpc[..., 1:].flip(-1)  # (B, F, order) against [x[n-order], ..., x[n-1]]
        order = P - 1
        h1, h2, prev = state["h1"], state["h2"], state["prev"]
        buf = torch.cat([state["past"], feat.new_zeros(B, hi - lo)], dim=1)  # [past samples, generated]

        def cell(gi, h, ut, bh):
            gh = torch.addmm(bh, h, ut)
            n = h.shape[1]
            rz = torch.sigmoid(gi[:, : 2 * n] + gh[:, : 2 * n])
            z = rz[:, n:]
            return torch.lerp(torch.tanh(torch.addcmul(gi[:, 2 * n :], rz[:, :n], gh[:, 2 * n :])), h, z)

        for i in range(hi - lo):
            f = (lo + i) // c.frame_shift
            pred = (buf[:, i : i + order] * neg_a[:, f]).sum(1, keepdim=True)
            h1 = cell(torch.addcmul(gi_frames[:, f], prev, w1_fb), h1, u1t, c1)
            h2 = cell(torch.addmm(b2, h1, w2_h).addcmul_(prev, w2_fb), h2, u2t, c2)
            mean, log_std = (h2 @ wout).chunk(2, dim=1)
            std = torch.exp(F.relu(log_std + 9) - 9)
            prev = noise(i) * std * c.temperature + mean + pred
            buf[:, order + i] = prev[:, 0]
        return buf[:, order:], {"h1": h1, "h2": h2, "past": buf[:, buf.shape[1] - order :], "prev": prev}

    @torch.no_grad()
    def generate(self, mel, f0, generator=None):
        """Raw mel (B, N, M), F0 (B, N, 1) -> waveform (B, F * frame_shift), F = ceil(N / up).

        generator: the excitation sampling's RNG (None: torch's global one, as the seed)."""
        c = self.cfg
        lpc, feat = self._frames(mel, f0)
        B, nf, _ = lpc.shape

        def noise(i):
            return torch.randn(B, 1, 1, dtype=feat.dtype, device=feat.device, generator=generator)[:, 0]

        out, _ = self._run(lpc, feat, 0, nf * c.frame_shift, self._start_state(B, feat), noise)
        return de_emphasise(out, c.pre_emphasis)

    # --- inference, whole or in pieces ---------------------------------------------------------------
    def context_frames(self):
        """Feature frames of input either side of a piece for its LP coefficients and frame features:
        the condition network's BiGRU (BLSTM_CONTEXT LPC frames; not exact: it sees the whole input)
        and two 5-tap convs, the frame-rate network's two 3-tap convs, in LPC frames of `up`."""
        return (BLSTM_CONTEXT + 4 + 2 + 1) * self.up

    def chunking(self):
        """One continuous sample stream (carry): each piece generates its centre, continuing the GRU
        states, the past samples of the LP synthesis and the de-emphasis; pieces start on LPC frames
        (align = up); the condition sees `context_frames` either side (not exact: the BiGRU)."""
        c = self.cfg
        return Chunking(inputs=(c.mel, c.f0), hop=c.hop, context=self.context_frames(), exact=False,
                        state=True, align=self.up, carry=True)

    @torch.no_grad()
    def infer(self, batch):
        """One float32 numpy waveform (mel_len * hop,) per utterance, padding trimmed; the excitation
        drawn by sample position (source.positional_normal, seeded by infer_seed)."""
        mel = batch[self.cfg.mel]
        return self.infer_chunk(batch, 0, mel.shape[1])[0]

    @torch.no_grad()
    def infer_chunk(self, batch, start, advance, state=None):
        """Frames [start, start + N) of the input (pylib.contracts.Chunking carry): generates frames
        [state's frame, start + advance) only (from frame start without state) and returns those
        samples, with the state at frame start + advance (GRU states, past samples, de-emphasis)."""
        c = self.cfg
        mel = batch[c.mel]
        lpc, feat = self._frames(mel, batch[c.f0])
        B, first = mel.shape[0], start if state is None else state["frame"]
        lo, hi = (first - start) * c.hop, advance * c.hop
        gen = self._start_state(B, feat) if state is None else state["gen"]
        draws = positional_normal(c.infer_seed, 1, first * c.hop, hi - lo, 1, feat)

        def noise(i):
            return draws[i].expand(B, 1)

        out, gen = self._run(lpc, feat, lo, hi, gen, noise)
        y = de_emphasise(out, c.pre_emphasis, None if state is None else state["emph"])
        emph = y[:, -1] if y.shape[1] else (None if state is None else state["emph"])
        lens = batch.get(f"{c.mel}_len")
        if lens is None:
            lens = torch.full((B,), mel.shape[1])
        waves = [np.asarray(y[i, : max(0, int(n) * c.hop - lo)].float().cpu().numpy(), dtype=np.float32)
                 for i, n in enumerate(lens)]
        return waves, {"frame": start + advance, "gen": gen, "emph": emph}
