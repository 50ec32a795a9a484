"""WaveNet vocoder with a 10-bit µ-law categorical output (the seed's project/05-nn-vocoders/wavenet).

It computes what the seed's WaveNet_v1 computes (project-NN-Pytorch-scripts sandbox/block_wavenet.py,
wrapped by project/05-nn-vocoders/wavenet/model.py); tests/parity/test_wavenet_parity.py checks it.

Shapes (B batch, N frames, T = N * hop samples, Q = 2 ** num_bits classes):
  mel (B, N, M) -> norm -> BLSTM + conv (tanh) over frames -> repeated hop times, two moving
     averages of one frame (zero edges) -> condition (B, T, cond_channels)
  previous µ-law sample (B, T) -> embedding (B, T, res_channels)
  -> `layers` residual layers: causal dilated conv (kernel 2, dilation 2 ** (i % cycle)) + the
     layer's LeakyReLU(Linear(condition)), gated tanh * sigmoid, residual Linear + input, skip Linear
     of the residual output; the skips are summed
  -> Linear, LeakyReLU, Linear, LeakyReLU, Linear -> logits (B, T, Q)
Training: teacher forcing (the input at t is the target at t - 1, class 0 at t = 0) and the mean
cross-entropy against the µ-law target of the pre-emphasised waveform (1 - 0.97 z^-1).
Generation: one sample per step, drawn from softmax(logits) (or argmax), fed back; µ-law decoded
and de-emphasised. The cached form (`generate`) keeps a queue of past inputs per layer, so a step
costs one update of every layer; the naive form (`generate_naive`) recomputes the whole receptive
field each step (the benchmark baseline and the test oracle).
Inference (`infer`) draws by sample position (a uniform per sample through the softmax's cumulative
distribution, seeded by infer_seed), so a long input generated in pieces, each continuing the
queues of the one before (pylib.contracts.Chunking carry), is one sample stream: that of the whole
file wherever the pieces' BLSTM condition is (to float round-off) the whole file's.
"""

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pylib.config import take_facts
from pylib.contracts import Chunking, LossModel, Vocoder
from pylib.errors import ConfigError
from pylib.models.vocoder.filters import ConditionModule
from pylib.models.vocoder.nsf import BLSTM_CONTEXT
from pylib.models.vocoder.source import positional_normal
from pylib.nn.norm import FeatureNorm

SEED = "project-NN-Pytorch-scripts sandbox/block_wavenet.py WaveNet_v1"
SAMPLING = ("sample", "argmax")

# µ-law as the seed's sandbox/util_dsp.py mulaw_encode / mulaw_decode (after torchaudio): with
# mu = Q - 1, encode x -> floor((sign(x) log(1 + mu |x|) / log(1 + mu) + 1) / 2 * mu + 0.5), decode
# the class q -> x = 2 q / mu - 1 -> sign(x) ((1 + mu) ** |x| - 1) / mu.


def mulaw_encode(x, classes):
    """Float waveform in [-1, 1] -> int64 classes in [0, classes - 1]."""
    if not x.is_floating_point():
        x = x.float()
    mu = torch.tensor(classes - 1.0, dtype=x.dtype, device=x.device)
    y = torch.sign(x) * torch.log1p(mu * x.abs()) / torch.log1p(mu)
    return ((y + 1) / 2 * mu + 0.5).long()  # >= 0.5, so truncation is the floor


def mulaw_decode(q, classes, dtype=torch.float32):
    """Classes (any int or float tensor) -> float waveform in [-1, 1] of `dtype`."""
    q = q.to(dtype)
    mu = torch.tensor(classes - 1.0, dtype=dtype, device=q.device)
    x = q / mu * 2 - 1.0
    return torch.sign(x) * (torch.exp(x.abs() * torch.log1p(mu)) - 1.0) / mu


class LayerQueues:
    """The past inputs each dilated conv needs, for generation one sample at a time.

    Layer i with dilation d and kernel k keeps a ring buffer of its last (k - 1) d inputs; a step
    reads the k - 1 taps x[t - d], ..., x[t - (k-1) d], forms the conv output with one matrix
    product, and stores x[t] over the oldest entry. Before the first (k - 1) d steps the buffer is
    zeros: the causal zero padding of the training forward.
    """

    def __init__(self, blocks, batch, dtype, device):
        self.blocks = list(blocks)
        self.t = 0
        self.bufs, self.weights, self.biases = [], [], []
        for b in self.blocks:
            w = b.conv.weight  # (out, in, k): tap j multiplies x[t - (k - 1 - j) d]
            out_ch, in_ch, k = w.shape
            self.weights.append(w.detach().permute(2, 1, 0).reshape(k * in_ch, out_ch).to(dtype).contiguous())
            bias = b.conv.bias
            self.biases.append(torch.zeros(out_ch, dtype=dtype, device=device) if bias is None
                               else bias.detach().to(dtype))
            self.bufs.append(torch.zeros(batch, b.context, in_ch, dtype=dtype, device=device))

    def step(self, i, x):
        """Layer i's conv output (B, out) for its input x (B, in) at the current step; the last
        layer's call advances the step."""
        b, buf = self.blocks[i], self.bufs[i]
        L = buf.shape[1]
        if L:
            t = self.t
            taps = [buf[:, (t - j * b.dilation) % L] for j in range(b.kernel - 1, 0, -1)]
            h = torch.addmm(self.biases[i], torch.cat(taps + [x], dim=-1), self.weights[i])
            buf[:, t % L] = x
        else:
            h = torch.addmm(self.biases[i], x, self.weights[i])
        if i == len(self.blocks) - 1:
            self.t += 1
        return h


@dataclass
class WaveNetConfig:
    """Defaults are the seed's (sandbox/block_wavenet.py WaveNet_v1, CondModule, OutputBlock)."""

    mel: str = "mel"  # input feature name of the spectral condition (B, N, n_mels)
    wav: str = "wav"  # output feature name of the natural waveform (B, T, 1)
    # taken from the data spec (the features section): leave them out of the yaml
    n_mels: int | None = None  # mel channels: the mel feature's dim
    hop: int | None = None  # waveform samples per frame (upsampling factor): the mel's hop
    sample_rate: int | None = None  # Hz: features.sample_rate
    num_bits: int = 10  # µ-law bits: 2 ** num_bits output classes
    res_channels: int = 64  # residual channels (and the sample embedding's width)
    gate_channels: int = 64  # width of tanh(.) * sigmoid(.)
    skip_channels: int = 256  # skip channels, summed over layers
    cond_channels: int = 64  # condition width after the condition module
    layers: int = 30  # residual layers
    dilation_cycle: int = 10  # dilation of layer i: 2 ** (i % dilation_cycle)
    kernel: int = 2  # causal dilated conv kernel
    cond_lstm_units: int = 64  # BLSTM width of the condition module, both directions (even)
    cond_kernel: int = 3  # conv kernel over frames in the condition module
    out_hidden: int = 512  # output layers: skip -> out_hidden / 2 -> out_hidden -> classes
    pre_emphasis: float = 0.97  # target pre-emphasis 1 - a z^-1 (de-emphasis after generation); 0: off
    sampling: str = "sample"  # generation: sample from the softmax | argmax
    infer_seed: int = 0  # seed of the sampling at inference (reproducible output)
    cached: bool = True  # inference with the per-layer queues (false: recompute the receptive field)

    def __post_init__(self):
        for key in ("num_bits", "res_channels", "gate_channels", "skip_channels", "cond_channels", "layers",
                    "dilation_cycle", "kernel", "cond_kernel"):
            if getattr(self, key) < 1:
                raise ConfigError(f"model.{key} must be >= 1, got {getattr(self, key)}")
        if self.num_bits > 16:
            raise ConfigError(f"model.num_bits must be at most 16, got {self.num_bits}")
        if self.cond_lstm_units < 2 or self.cond_lstm_units % 2:
            raise ConfigError(f"model.cond_lstm_units must be even (two directions), "
                              f"got {self.cond_lstm_units}")
        if self.out_hidden < 2:
            raise ConfigError(f"model.out_hidden must be >= 2, got {self.out_hidden}")
        if not 0.0 <= self.pre_emphasis < 1.0:
            raise ConfigError(f"model.pre_emphasis must be in [0, 1), got {self.pre_emphasis}")
        if self.sampling not in SAMPLING:
            raise ConfigError(f"model.sampling must be one of {', '.join(SAMPLING)}, got {self.sampling!r}")
        if self.hop is not None and self.hop < 1:
            raise ConfigError(f"model.hop must be >= 1, got {self.hop}")


SPEC_FACTS = (("n_mels", "mel", "dim"), ("hop", "mel", "hop"), ("sample_rate", None, None),
              (None, "wav", None))
SPEC_DEFAULTS = {"n_mels": 80, "hop": 80, "sample_rate": 16000}


class ResidualLayer(nn.Module):
    """One gated residual layer; tensors are (B, T, C) as the Linear layers want them."""

    def __init__(self, res, gate, skip, cond, dilation, kernel):
        super().__init__()
        self.conv = nn.Conv1d(res, 2 * gate, kernel, dilation=dilation)
        self.cond = nn.Linear(cond, 2 * gate)
        self.res = nn.Linear(gate, res)
        self.skip = nn.Linear(res, skip)
        self.dilation, self.kernel, self.gate = dilation, kernel, gate

    @property
    def context(self):
        """Past samples this layer's conv reaches back."""
        return self.dilation * (self.kernel - 1)

    def cond_term(self, c):
        return F.leaky_relu(self.cond(c))

    def finish(self, h, x, cond_term):
        """Gate the conv output h (+ the condition term), then the residual and skip outputs."""
        h = h + cond_term
        z = torch.tanh(h[..., : self.gate]) * torch.sigmoid(h[..., self.gate :])
        out = self.res(z) + x
        return out, self.skip(out)

    def forward(self, x, c):
        """x (B, T, res), c (B, T, cond) -> (residual (B, T, res), skip (B, T, skip)); causal."""
        h = self.conv(F.pad(x.transpose(1, 2), (self.context, 0))).transpose(1, 2)
        return self.finish(h, x, self.cond_term(c))


class WaveNet(nn.Module, LossModel, Vocoder):
    """The seed's WaveNet vocoder (sandbox/block_wavenet.py WaveNet_v1 with WaveNetBlock)."""

    Config = WaveNetConfig
    infer_keys = ("sampling", "infer_seed", "cached")  # inference-only config keys (Vocoder.infer_keys)

    def __init__(self, cfg, spec=None):
        super().__init__()
        take_facts(cfg, spec, SPEC_FACTS, SPEC_DEFAULTS)
        self.cfg = cfg
        self.classes = 2**cfg.num_bits
        self.norm = nn.ModuleDict({cfg.mel: FeatureNorm(cfg.n_mels)})
        # the seed's CondModule: BLSTM, conv + tanh, UpSampleLayer(smoothing=True) whose moving
        # averages pad with zeros (block_nn.py Conv1dKeepLength pad_mode="constant")
        self.cond = ConditionModule(cfg.n_mels, cfg.cond_channels, cfg.hop, "blstm", cfg.cond_lstm_units,
                                    cfg.cond_kernel, smooth=True, pad="zeros")
        self.embed = nn.Embedding(self.classes, cfg.res_channels)
        self.dilations = [2 ** (i % cfg.dilation_cycle) for i in range(cfg.layers)]
        self.blocks = nn.ModuleList(
            ResidualLayer(cfg.res_channels, cfg.gate_channels, cfg.skip_channels, cfg.cond_channels, d,
                          cfg.kernel) for d in self.dilations
        )
        h = cfg.out_hidden
        self.out = nn.Sequential(nn.Linear(cfg.skip_channels, h // 2), nn.LeakyReLU(), nn.Linear(h // 2, h),
                                 nn.LeakyReLU(), nn.Linear(h, self.classes))

    @property
    def receptive_field(self):
        """Samples one output sees: the current one and every layer's context."""
        return 1 + sum(b.context for b in self.blocks)

    def param_groups(self):
        return {"model": [p for p in self.parameters() if p.requires_grad]}

    # --- pieces ------------------------------------------------------------------------------------
    def condition(self, mel):
        """mel (B, N, M) raw -> (B, N * hop, cond_channels)."""
        return self.cond(self.norm[self.cfg.mel](mel)).transpose(1, 2)

    def encode(self, wav):
        """Raw waveform (B, T) in (-1, 1) -> µ-law classes (B, T) of the pre-emphasised, clamped signal."""
        a = self.cfg.pre_emphasis
        if a:
            wav = torch.cat([wav[:, :1], wav[:, 1:] - a * wav[:, :-1]], dim=1).clamp(-1.0, 1.0)
        return mulaw_encode(wav, self.classes)

    def stack(self, x, c):
        """Embedded inputs (B, T, res), condition (B, T, cond) -> logits (B, T, classes)."""
        skips = None
        for block in self.blocks:
            x, s = block(x, c)
            skips = s if skips is None else skips + s
        return self.out(skips)

    def logits(self, mel, wav):
        """Teacher-forced logits (B, T, classes) and targets (B, T); T = min(len(wav), N * hop)."""
        c = self.condition(mel)
        T = min(c.shape[1], wav.shape[1])
        with torch.no_grad():
            target = self.encode(wav[:, :T])
            fb = F.pad(target[:, :-1], (1, 0))  # class 0 before the first sample, as the seed
        return self.stack(self.embed(fb), c[:, :T]), target

    def forward(self, batch, step=0):
        """Mean cross-entropy of the teacher-forced logits (pylib.contracts.LossModel); with
        `<wav>_len` the padding is left out of the mean."""
        c = self.cfg
        logits, target = self.logits(batch[c.mel], batch[c.wav][..., 0])
        ce = F.cross_entropy(logits.transpose(1, 2), target, reduction="none")  # (B, T)
        lengths = batch.get(f"{c.wav}_len")
        if lengths is None:
            loss = ce.mean()
        else:
            mask = torch.arange(ce.shape[1], device=ce.device)[None] < lengths.to(ce.device)[:, None]
            loss = (ce * mask).sum() / mask.sum().clamp(min=1)
        return loss, {"ce": float(loss.detach())}

    # --- generation --------------------------------------------------------------------------------
    def draw(self, logits, generator=None):
        """One class per row of logits (B, classes) -> (B,): the seed's Categorical(softmax).sample()
        (one multinomial draw per row from `generator`, None: the global RNG), or argmax."""
        if self.cfg.sampling == "argmax":
            return logits.argmax(-1)
        p = torch.softmax(logits, dim=-1)
        p = p / p.sum(-1, keepdim=True)  # torch.distributions.Categorical normalises again
        return torch.multinomial(p, 1, True, generator=generator)[:, 0]

    def decode(self, classes, prev=None):
        """µ-law classes (B, T) -> de-emphasised waveform (B, T); prev: (B,) the de-emphasised sample
        before the first (a piece of a long input continues the filter; None: 0)."""
        x = mulaw_decode(classes, self.classes, self.embed.weight.dtype)
        a = self.cfg.pre_emphasis
        if a:
            y = torch.empty_like(x)
            prev = torch.zeros_like(x[:, 0]) if prev is None else prev.to(x)
            for t in range(x.shape[1]):  # y[t] = x[t] + a y[t - 1], in order like the seed
                prev = x[:, t] + a * prev
                y[:, t] = prev
            x = y
        return x

    def cond_terms(self, c):
        """Every layer's condition term at once: (B, T, cond) -> (B, T, layers, 2 * gate)."""
        w = torch.cat([b.cond.weight for b in self.blocks], dim=0)
        bias = torch.cat([b.cond.bias for b in self.blocks], dim=0)
        return F.leaky_relu(F.linear(c, w, bias)).unflatten(-1, (len(self.blocks), -1))

    def _steps(self, c, queues, prev, pick, chunk=1024):
        """Generate c.shape[1] samples from the layers' queues and the class before the first, prev (B,):
        one layer update per layer and step; pick(logits (B, classes), t) -> classes (B,). The layers'
        condition terms are computed `chunk` steps at a time. -> (classes (B, T), the last class)."""
        B, T = c.shape[:2]
        classes = torch.zeros(B, T, dtype=torch.long, device=c.device)
        for t in range(T):
            if t % chunk == 0:
                terms = self.cond_terms(c[:, t : t + chunk])
            ct = terms[:, t % chunk]  # (B, layers, 2 * gate)
            x = self.embed(prev)  # (B, res)
            skips = None
            for i, block in enumerate(self.blocks):
                x, s = block.finish(queues.step(i, x), x, ct[:, i])
                skips = s if skips is None else skips + s
            prev = pick(self.out(skips), t)
            classes[:, t] = prev
        return classes, prev

    @torch.no_grad()
    def generate(self, mel, generator=None, steps=None, return_classes=False, chunk=1024):
        """mel (B, N, M) raw -> waveform (B, steps or N * hop), one layer update per layer and step.

        generator: the sampling's RNG (None: torch's global one, as the seed). The layers' condition
        terms are computed `chunk` steps at a time."""
        c = self.condition(mel)
        T = c.shape[1] if steps is None else min(steps, c.shape[1])
        B = c.shape[0]
        queues = LayerQueues(self.blocks, B, c.dtype, c.device)
        prev = torch.zeros(B, dtype=torch.long, device=c.device)
        pick = lambda logits, t: self.draw(logits, generator)  # noqa: E731
        classes, _ = self._steps(c[:, :T], queues, prev, pick, chunk)
        return classes if return_classes else self.decode(classes)

    @torch.no_grad()
    def generate_naive(self, mel, generator=None, steps=None, return_classes=False, pick=None):
        """As `generate`, but every step runs the whole stack over the receptive field ending at it.
        pick(logits, t) -> classes: the draw (default: `draw` from `generator`)."""
        pick = pick or (lambda logits, t: self.draw(logits, generator))
        c = self.condition(mel)
        T = c.shape[1] if steps is None else min(steps, c.shape[1])
        B, R = c.shape[0], self.receptive_field
        fb = torch.zeros(B, T + 1, dtype=torch.long, device=c.device)  # fb[:, t]: the input at step t
        for t in range(T):
            lo = max(0, t + 1 - R)
            logits = self.stack(self.embed(fb[:, lo : t + 1]), c[:, lo : t + 1])[:, -1]
            fb[:, t + 1] = pick(logits, t)
        classes = fb[:, 1:]
        return classes if return_classes else self.decode(classes)

    # --- inference, whole or in pieces -------------------------------------------------------------
    def positional_pick(self, start, T, like):
        """pick(logits, t) for samples [start, start + T): the class where a uniform draw falls in the
        softmax's cumulative distribution (argmax with sampling: argmax), the uniforms drawn by
        position (source.positional_normal through the normal CDF, seeded by infer_seed), the same
        for every utterance: a piece of a long input draws what the whole input draws there."""
        u = torch.special.ndtr(positional_normal(self.cfg.infer_seed, 1, start, T, 1, like)[:, 0])

        def pick(logits, t):
            if self.cfg.sampling == "argmax":
                return logits.argmax(-1)
            cdf = torch.cumsum(torch.softmax(logits, dim=-1), dim=-1)
            q = (u[t] * cdf[:, -1:]).contiguous()
            return torch.searchsorted(cdf, q)[:, 0].clamp(max=self.classes - 1)

        return pick

    def context_frames(self):
        """Frames of input either side of a piece for its condition: the BLSTM's BLSTM_CONTEXT (not
        exact: it sees the whole input), the conv's kernel and the two moving averages."""
        return BLSTM_CONTEXT + self.cfg.cond_kernel + 2 + 1

    def chunking(self):
        """One continuous sample stream (carry): each piece generates its centre, continuing the
        layers' queues, the last class and the de-emphasis from the piece before; its condition sees
        `context_frames` either side (not exact: the BLSTM). Only with the cached form."""
        c = self.cfg
        if not c.cached:
            return None
        return Chunking(inputs=(c.mel,), hop=c.hop, context=self.context_frames(), exact=False, state=True,
                        carry=True)

    @torch.no_grad()
    def infer(self, batch):
        """One float32 numpy waveform (mel_len * hop,) per utterance, padding trimmed; the draws by
        sample position (`positional_pick`)."""
        c = self.cfg
        mel = batch[c.mel]
        if c.cached:
            return self.infer_chunk(batch, 0, mel.shape[1])[0]
        y = self.generate_naive(mel, pick=self.positional_pick(0, mel.shape[1] * c.hop, mel))
        return self._trim(batch, y, 0)

    @torch.no_grad()
    def infer_chunk(self, batch, start, advance, state=None):
        """Frames [start, start + N) of the input (pylib.contracts.Chunking carry): generates frames
        [state's frame, start + advance) only (from frame start without state) and returns those
        samples, with the state at frame start + advance: {"frame", "queues", "prev", "emph"}."""
        c = self.cfg
        mel = batch[c.mel]
        cond = self.condition(mel)
        B, first = cond.shape[0], start if state is None else state["frame"]
        lo, hi = (first - start) * c.hop, advance * c.hop
        if state is None:
            state = {"queues": LayerQueues(self.blocks, B, cond.dtype, cond.device), "emph": None,
                     "prev": torch.zeros(B, dtype=torch.long, device=cond.device)}
        pick = self.positional_pick(first * c.hop, hi - lo, mel)
        classes, prev = self._steps(cond[:, lo:hi], state["queues"], state["prev"], pick)
        y = self.decode(classes, state["emph"])
        emph = y[:, -1] if y.shape[1] else state["emph"]
        state = {**state, "frame": start + advance, "prev": prev, "emph": emph}
        return self._trim(batch, y, lo), state

    def _trim(self, batch, y, lo):
        """Rows of y (B, T), which starts at sample lo of the input, cut to each utterance's length."""
        c = self.cfg
        lens = batch.get(f"{c.mel}_len")
        if lens is None:
            lens = torch.full((y.shape[0],), batch[c.mel].shape[1])
        return [np.asarray(y[i, : max(0, int(n) * c.hop - lo)].float().cpu().numpy(), dtype=np.float32)
                for i, n in enumerate(lens)]
