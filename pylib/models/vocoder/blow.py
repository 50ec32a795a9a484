"""Blow (Serra, Pascual & Segura, NeurIPS 2019): a single-scale, speaker-conditioned flow for raw-audio
voice conversion, as the seed builds it.

It computes what project-NN-Pytorch-scripts' project/05-nn-vocoders/blow (model.py over
sandbox/block_blow.py and sandbox/block_glow.py) computes; tests/parity/test_blow_parity.py checks it.

Shapes (B batch, T samples, E = cond_dim):
  wav (B, T, 1) -> `blocks` blocks; block b squeezes by 2 ((B, L, D) -> (B, L // 2, 2 D), the tail
  sample of an odd length dropped) and runs `flows_per_block` steps:
    invertible 1x1 (LU form W = P L (U + diag(sign * exp(log|s|))), P fixed) -> ActNorm
    ((x + bias) * scale, initialised from the first batch it sees: bias = -mean, scale =
    1 / (unbiased std + 1e-6)) -> affine coupling: the first half of the channels, through a
    grouped convolution whose kernel and bias the speaker embedding gives (a linear "adapter"),
    ReLU, 1x1 conv, ReLU, conv (zero-initialised), gives raw scale and bias of the second half:
    x2' = (x2 + bias) * scale, scale = 0.5 + 0.5 sigmoid(raw + 2)
  -> z (B, T / 2^blocks, 2^blocks) ~ N(0, I).
Speakers: an embedding table of len(speakers) + 1 rows; the last row is "unseen" (a speaker not in
the list, as the seed's VCTKSpeakerMap.get_idx). An utterance's speaker is the part of its id
before the first "_" (VCTK's p225_001 -> p225; config.py VCTKSpeakerMap.parse).
Loss: the seed's two terms, -log N(z; 0, I) and -log|det J|, each summed over the batch and divided
by the number of samples in it (B * T): nats per sample (block_blow.py Blow.forward).
Training input: every utterance goes through the seed's `wav_aug` (silence removed, one random
frame of `frame` samples, random pre-emphasis |coef| <= `aug_emphasis`, random gain in (-1, 1) of
the peak; config.py input_trans_fns), drawn from a generator seeded by (aug_seed, step, utterance);
in eval mode (the dev loss) with step 0, so every evaluation sees the same frames (the seed draws anew).
Conversion: frames of `frame` samples every `frame_shift` (no analysis window), each frame through
the flow with the source speaker and back with the target's, Hann-windowed overlap-add divided by
the mean of the summed windows, then scaled to peak 1 (model.py convert, block_blow.py
OverlapAdder(4096, 1024, False) and reverse(..., flag_scale=True)). nnsp pads the input with zeros
to whole frames and trims the output back, so the output is as long as the input (the seed drops
the tail that fills no whole frame).
"""

import zlib
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pylib.config import take_facts
from pylib.contracts import LossModel, Vocoder
from pylib.errors import ConfigError, UserError
from pylib.models.vocoder.waveglow import squeeze, unsqueeze

UNSEEN = "<unseen>"


@dataclass
class BlowConfig:
    """Defaults: the seed's blow/model.py and config.py (VCTK at 16 kHz)."""

    wav: str = "wav"  # input feature name of the waveform (B, T, 1)
    sample_rate: int | None = None  # Hz: features.sample_rate (taken from the data spec)
    speakers: list[str] = field(default_factory=list)  # training speakers in index order (the seed's spk.lst)
    cond_dim: int = 128  # speaker embedding size (model.py cond_dim)
    blocks: int = 8  # flow blocks, each squeezing by 2 (model.py num_block)
    flows_per_block: int = 12  # flow steps per block (model.py num_flow_steps_perblock)
    channels: int = 512  # coupling conv channels (model.py num_conv_channel_size)
    kernel: int = 3  # coupling conv kernel, odd (model.py num_conv_conv_kernel)
    frame: int = 4096  # samples per frame: training frame (config.py wav_aug) and conversion frame
    frame_shift: int = 1024  # conversion hop (model.py OverlapAdder(4096, 4096 // 4))
    augment: bool = True  # wav_aug on every training/dev utterance (config.py input_trans_fns)
    aug_emphasis: float = 0.2  # max |pre-emphasis coefficient| of wav_aug (config.py: 0.2)
    aug_seed: int = 0  # seed of wav_aug's draws (with the step and the utterance id)
    conversion_map: dict[str, str] = field(default_factory=dict)  # source -> target speaker for `infer`
    convert_frames: int = 32  # frames run through the flow at once when converting (memory only)

    def __post_init__(self):
        for key in ("cond_dim", "blocks", "flows_per_block", "channels", "kernel", "frame", "frame_shift",
                    "convert_frames"):
            if getattr(self, key) < 1:
                raise ConfigError(f"model.{key} must be >= 1, got {getattr(self, key)}")
        if self.kernel % 2 != 1:
            raise ConfigError(f"model.kernel must be odd (the convolutions keep the length), "
                              f"got {self.kernel}")
        if not self.speakers:
            raise ConfigError("model.speakers is empty: list the training speakers in index order (the "
                              "recipe's stage 3 passes them from data/train/utt2spk, e.g. "
                              "--set 'model.speakers=[p225, p226]')")
        self.speakers = [str(s) for s in self.speakers]
        dup = sorted({s for s in self.speakers if self.speakers.count(s) > 1})
        if dup:
            raise ConfigError(f"model.speakers lists {dup} more than once")
        half_widths = [2 ** b for b in range(self.blocks)]  # half of block b's squeezed width 2^(b+1)
        if self.channels < half_widths[-1]:
            raise ConfigError(f"model.channels = {self.channels} is below the last block's coupling input "
                              f"({half_widths[-1]} channels); use at least {half_widths[-1]}")
        if self.frame % 2 ** self.blocks or self.frame < self.frame_shift:
            raise ConfigError(f"model.frame = {self.frame} must be a multiple of 2^blocks = "
                              f"{2 ** self.blocks} and >= model.frame_shift ({self.frame_shift})")
        unknown = sorted(t for t in self.conversion_map.values() if t not in self.speakers)
        if unknown:
            raise ConfigError(f"model.conversion_map targets {unknown} that are not in model.speakers")


SPEC_FACTS = (("sample_rate", None, None), (None, "wav", None))
SPEC_DEFAULTS = {"sample_rate": 16000}


# ---------------------------------------------------------------- data augmentation (numpy)

def _frames(x, fl, fs):
    """The seed's wav_tools.buffering(x, fl, fl - fs, 'nodelay'): frame k = x[k fs : k fs + fl],
    zero-padded at the end; one frame, then one more per fs samples started before the end."""
    n = 1 + max(0, -(-(len(x) - fl) // fs))
    padded = np.zeros(((n - 1) * fs + fl,), dtype=x.dtype)
    padded[: len(x)] = x
    idx = np.arange(n)[:, None] * fs + np.arange(fl)[None]
    return padded[idx]


def _drop_short(tag, min_len):
    """Runs of 1 in `tag` shorter than `min_len` frames set to 0 (wav_tools ignore_short_seg)."""
    out = tag.copy()
    bound = np.diff(np.concatenate(([0], tag, [0])))
    for s, e in zip(np.flatnonzero(bound == 1), np.flatnonzero(bound == -1), strict=True):
        if e - s < min_len:
            out[s:e] = 0
    return out


def remove_silence(x, sr, fl=320, fs=80, below_max=30.0, floor_db=-55.0, shortest_ms=50):
    """x (T,) -> the speech frames of x, overlap-added (Hann window, normalised by the summed
    window): the seed's wav_tools.silence_handler(flag_output=1) with its defaults. A frame is speech
    where its level 20 log10(std) is within `below_max` dB of the loudest and above `floor_db`; runs
    of silence, then of speech, shorter than `shortest_ms` are merged into their surroundings. A
    signal shorter than one frame is returned as it is (the seed fails on it)."""
    x = np.asarray(x)
    if len(x) < fl:
        return x.copy()
    frames = _frames(x, fl, fs)
    win = np.hanning(fl).astype(x.dtype)
    level = 20 * np.log10(np.std(frames, axis=1) + np.finfo(np.float32).eps)
    tag = ((level > level.max() - below_max) & (level > floor_db)).astype(np.int64)
    min_len = shortest_ms * sr / 1000 / fs
    tag = _drop_short(1 - _drop_short(1 - tag, min_len), min_len)
    keep = np.flatnonzero(tag)
    out = np.zeros((len(keep) * fs + fl,), dtype=x.dtype)
    wsum = np.zeros_like(out)
    for k, f in enumerate(keep):
        out[k * fs: k * fs + fl] += frames[f] * win
        wsum[k * fs: k * fs + fl] += win
    wsum[wsum < 0.0001] = 1.0
    return out / wsum


def wav_aug(x, frame, coef, sr, rng):
    """The seed's block_blow.wav_aug: x (T,) or (T, 1) -> (n,) or (n, 1), n = min(frame, speech length):
    silence removed, a random frame (start ceil(u (len - n))), random pre-emphasis y[t] = x[t] - c x[t-1]
    with c = (2u - 1) coef, then scaled by (2u - 1) / (max|y| + 1e-7). rng: a numpy Generator; its three
    draws `rng.random()` come in the seed's order (frame, emphasis, gain)."""
    x = np.asarray(x)
    column = x.ndim == 2
    y = remove_silence(x[:, 0] if column else x, sr)
    n = min(frame, len(y))
    start = int(np.ceil(rng.random() * (len(y) - n)))
    y = y[start: start + n]
    c = (2 * rng.random() - 1) * coef
    y = np.concatenate([y[:1], y[1:] - c * y[:-1]]).astype(y.dtype, copy=False)
    y = ((2 * rng.random() - 1) * y / (np.max(np.abs(y)) + 1e-07)).astype(y.dtype, copy=False)
    return y[:, None] if column else y


def aug_rng(seed, step, utt_id):
    """The generator of one utterance's wav_aug draws: from (seed, step, crc32 of the id)."""
    return np.random.default_rng([int(seed), int(step), zlib.crc32(str(utt_id).encode("utf-8"))])


# ---------------------------------------------------------------- overlap-add framing

def frame_wav(x, fl, fs, window=None):
    """x (B, T) -> (B, (T - fl) // fs + 1, fl) frames every fs samples, times `window` if given
    (block_blow.py OverlapAdder.forward)."""
    frames = x.unfold(1, fl, fs)
    return frames if window is None else frames * window


def overlap_add(frames, fs, window, synthesis_window=True, scale=False):
    """(B, N, fl) -> (B, (N - 1) fs + fl): frames (times `window` with synthesis_window) summed at
    their places, divided by the mean over the whole output of the summed windows; with `scale`, then
    each row divided by its peak |y| (block_blow.py OverlapAdder.reverse, which divides by the peak of
    the whole batch: the same for the one utterance at a time that the seed converts)."""
    B, N, fl = frames.shape
    length = (N - 1) * fs + fl
    x = frames * window if synthesis_window else frames
    y = F.fold(x.transpose(1, 2), (1, length), (1, fl), stride=(1, fs)).reshape(B, length)
    wsum = F.fold(window.expand(1, N, fl).transpose(1, 2), (1, length), (1, fl), stride=(1, fs))
    y = y / wsum.mean()
    if scale:
        y = y / y.abs().amax(dim=1, keepdim=True)
    return y


# ---------------------------------------------------------------- the flow

class InvertibleLU(nn.Module):
    """x W with W = P L (U + diag(sign exp(log_abs_diag))): P a fixed permutation, L unit lower,
    U strictly upper (block_glow.py InvertibleTrans). log|det W| = sum(log_abs_diag) per position."""

    def __init__(self, dim, generator=None):
        super().__init__()
        q, _ = torch.linalg.qr(torch.randn(dim, dim, generator=generator, dtype=torch.float64))
        p, lower, upper = torch.linalg.lu(q)
        diag = upper.diagonal()
        self.register_buffer("permute", p.float())
        self.register_buffer("sign", torch.sign(diag).float())
        self.lower = nn.Parameter(lower.float())
        self.upper = nn.Parameter(upper.float())
        self.log_abs_diag = nn.Parameter(diag.abs().log().float())

    def weight(self):
        eye = torch.eye(self.lower.shape[0], dtype=self.lower.dtype, device=self.lower.device)
        u = torch.diag(self.sign * torch.exp(self.log_abs_diag)) + torch.triu(self.upper, 1)
        return self.permute @ ((torch.tril(self.lower, -1) + eye) @ u)

    def forward(self, y):
        """-> (y W, log|det W| of one position)."""
        return y @ self.weight(), self.log_abs_diag.sum()

    def reverse(self, x):
        return x @ torch.inverse(self.weight())


class ActNorm(nn.Module):
    """(y + bias) * scale per channel, initialised from the first input it sees (block_glow.py ActNorm).
    Under torch.distributed every rank then takes rank 0's values, so the replicas stay equal (the seed
    trains in one process)."""

    def __init__(self, dim):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))
        self.register_buffer("initialized", torch.zeros(1))

    def forward(self, y):
        """-> ((y + bias) * scale, log|det| of one position)."""
        if self.initialized.item() < 1:
            with torch.no_grad():
                flat = y.reshape(-1, y.shape[-1])
                self.scale.data = 1 / (flat.std(dim=0) + 1e-6)
                self.bias.data = -flat.mean(dim=0)
                if torch.distributed.is_available() and torch.distributed.is_initialized():
                    torch.distributed.broadcast(self.scale.data, 0)
                    torch.distributed.broadcast(self.bias.data, 0)
                self.initialized += 1
        return (y + self.bias) * self.scale, torch.log(self.scale.abs()).sum()

    def reverse(self, x):
        return x / self.scale - self.bias


class CouplingNet(nn.Module):
    """y1 (B, L, H), speaker embedding (B, E) -> scale, bias, log scale (B, L, H)
    (block_blow.py AffineCouplingBlow_core)."""

    def __init__(self, half, cond_dim, channels, kernel):
        super().__init__()
        self.half, self.kernel = half, kernel
        self.channels = channels // half * half  # the seed rounds down to a multiple of the input width
        self.adapter = nn.Linear(cond_dim, (kernel + 1) * self.channels)
        self.conv_in = nn.Conv1d(self.channels, self.channels, 1)
        self.conv_out = nn.Conv1d(self.channels, 2 * half, kernel, padding=(kernel - 1) // 2)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, y1, emb):
        B, L, H = y1.shape
        k = self.kernel
        wb = self.adapter(emb).reshape(B * self.channels, k + 1)
        h = F.conv1d(y1.transpose(1, 2).reshape(1, B * H, L), wb[:, :k].unsqueeze(1), wb[:, k],
                     padding=(k - 1) // 2, groups=B * H).reshape(B, self.channels, L)
        h = self.conv_out(torch.relu(self.conv_in(torch.relu(h))))
        raw, bias = h.chunk(2, dim=1)
        scale = torch.sigmoid(raw + 2).transpose(1, 2) * 0.5 + 0.5
        return scale, bias.transpose(1, 2), torch.log(scale)


class FlowStep(nn.Module):
    """1x1 -> ActNorm -> affine coupling (block_blow.py FlowStepBlow)."""

    def __init__(self, dim, cfg, generator=None):
        super().__init__()
        self.inv = InvertibleLU(dim, generator)
        self.actnorm = ActNorm(dim)
        self.coupling = CouplingNet(dim // 2, cfg.cond_dim, cfg.channels, cfg.kernel)

    def forward(self, y, emb):
        """-> (x, log|det J| (B,), summed over positions)."""
        L = y.shape[1]
        x, ld_w = self.inv(y)
        x, ld_a = self.actnorm(x)
        x1, x2 = x.chunk(2, -1)
        scale, bias, log_scale = self.coupling(x1, emb)
        x = torch.cat([x1, (x2 + bias) * scale], dim=-1)
        return x, L * (ld_w + ld_a) + log_scale.sum(dim=(1, 2))

    def reverse(self, x, emb):
        x1, x2 = x.chunk(2, -1)
        scale, bias, _ = self.coupling(x1, emb)
        y = torch.cat([x1, x2 / scale - bias], dim=-1)
        return self.inv.reverse(self.actnorm.reverse(y))


class FlowBlock(nn.Module):
    def __init__(self, dim, cfg, generator=None):
        super().__init__()
        self.steps = nn.ModuleList(FlowStep(dim, cfg, generator) for _ in range(cfg.flows_per_block))


class Blow(nn.Module, LossModel, Vocoder):
    """Blow voice conversion (see the module docstring). `infer` converts along model.conversion_map
    (or to batch["target"]); `convert` is the entry point's call (pylib.bin.convert)."""

    Config = BlowConfig
    infer_keys = ("conversion_map", "convert_frames")  # inference-only config keys (Vocoder.infer_keys)

    def __init__(self, cfg, spec=None):
        super().__init__()
        take_facts(cfg, spec, SPEC_FACTS, SPEC_DEFAULTS)
        self.cfg = cfg
        self.embed = nn.Embedding(len(cfg.speakers) + 1, cfg.cond_dim)
        gen = torch.Generator().manual_seed(100)  # the 1x1 initialisation, without touching the global RNG
        self.blocks = nn.ModuleList(FlowBlock(2 ** (b + 1), cfg, gen) for b in range(cfg.blocks))
        self.register_buffer("window", torch.hann_window(cfg.frame))  # OverlapAdder m_win
        self._index = {s: i for i, s in enumerate(cfg.speakers)}

    def param_groups(self):
        return {"model": [p for p in self.parameters() if p.requires_grad]}

    # ------------------------------------------------------------ speakers
    @staticmethod
    def speaker_of(utt_id):
        """The speaker of an utterance id: the part before the first "_" (config.py VCTKSpeakerMap.parse)."""
        return str(utt_id).split("_")[0]

    def speaker_index(self, speaker):
        """Index of a speaker name; the "unseen" index len(speakers) for any other name (as the seed)."""
        return self._index.get(str(speaker), len(self.cfg.speakers))

    def target_index(self, speaker):
        """Index of a conversion target; a speaker the model was not trained on is a UserError."""
        if str(speaker) not in self._index:
            raise UserError(f"target speaker {speaker!r} is not one the model was trained on; it knows "
                            f"{', '.join(self.cfg.speakers)}")
        return self._index[str(speaker)]

    def embedding(self, indices, device=None):
        idx = torch.as_tensor(indices, dtype=torch.long, device=device or self.embed.weight.device)
        return self.embed(idx)

    # ------------------------------------------------------------ flow
    def latents(self, wav, emb):
        """wav (B, T, 1) or (B, T), emb (B, E) -> (z (B, T / 2^blocks, 2^blocks), log N(z) (B,),
        log|det J| (B,)), both summed over the utterance (not divided)."""
        x = wav.unsqueeze(-1) if wav.dim() == 2 else wav
        log_det = 0.0
        for block in self.blocks:
            x = squeeze(x, 2)
            for step in block.steps:
                x, ld = step(x, emb)
                log_det = log_det + ld
        log_pz = (-0.5 * np.log(2 * np.pi) - 0.5 * x ** 2).sum(dim=(1, 2))
        return x, log_pz, log_det

    def reverse(self, z, emb):
        """z (B, L, 2^blocks), emb (B, E) -> waveform (B, L * 2^blocks)."""
        y = z
        for block in reversed(self.blocks):
            for step in reversed(block.steps):
                y = step.reverse(y, emb)
            y = unsqueeze(y, 2)
        return y[..., 0]

    def nll_terms(self, wav, speakers):
        """wav (B, T, 1), speaker indices (B,) -> (-log N(z), -log|det J|), each summed over the
        batch and divided by B * T (the seed's model.py forward: its two returned losses)."""
        factor = wav.shape[0] * wav.shape[1]
        _, log_pz, log_det = self.latents(wav, self.embedding(speakers, wav.device))
        return -log_pz.sum() / factor, -log_det.sum() / factor

    def _augmented(self, batch, step):
        """The batch's waveforms through wav_aug (zero-padded to the longest when an utterance yields
        less than one frame of speech), as (B, n, 1); eval mode draws as at step 0."""
        c = self.cfg
        step = step if self.training else 0
        wav = batch[c.wav]
        lens = batch.get(f"{c.wav}_len")
        outs = []
        for b, utt in enumerate(batch["utt_id"]):
            n = int(lens[b]) if lens is not None else wav.shape[1]
            x = wav[b, :n, 0].detach().cpu().numpy()
            outs.append(wav_aug(x, c.frame, c.aug_emphasis, c.sample_rate, aug_rng(c.aug_seed, step, utt)))
        n = max(len(o) for o in outs)
        out = np.zeros((len(outs), n, 1), dtype=np.float32)
        for b, o in enumerate(outs):
            out[b, : len(o), 0] = o
        return torch.from_numpy(out).to(device=wav.device, dtype=wav.dtype)

    def forward(self, batch, step=0):
        """The seed's training loss (pylib.contracts.LossModel): -log N(z) - log|det J| per sample."""
        c = self.cfg
        wav = self._augmented(batch, step) if c.augment else batch[c.wav]
        speakers = [self.speaker_index(self.speaker_of(u)) for u in batch["utt_id"]]
        neg_pz, neg_det = self.nll_terms(wav, speakers)
        loss = neg_pz + neg_det
        return loss, {"nll": float(loss.detach()), "neg_log_pz": float(neg_pz.detach()),
                      "neg_log_det": float(neg_det.detach())}

    # ------------------------------------------------------------ conversion
    def convert_frames(self, frames, src, tgt):
        """frames (M, fl) -> the frames through the flow with speaker index `src` and back with `tgt`
        (`convert_frames` at a time; each frame is independent of the others)."""
        out = []
        for a in range(0, frames.shape[0], self.cfg.convert_frames):
            chunk = frames[a: a + self.cfg.convert_frames]
            m = chunk.shape[0]
            z, _, _ = self.latents(chunk, self.embedding([src] * m, chunk.device))
            out.append(self.reverse(z, self.embedding([tgt] * m, chunk.device)))
        return torch.cat(out)

    def convert(self, wav, src, tgt, pad=True):
        """wav (T,) or (B, T) -> converted waveform of the same shape, peak 1 (see the module
        docstring). src, tgt: speaker indices. pad=False: the seed's framing exactly (the output is
        (N - 1) frame_shift + frame samples, the tail dropped; the input must hold one frame)."""
        c = self.cfg
        one = wav.dim() == 1
        x = wav[None] if one else wav
        T = x.shape[1]
        if pad:
            n = 1 + max(0, -(-(T - c.frame) // c.frame_shift))
            x = F.pad(x, (0, (n - 1) * c.frame_shift + c.frame - T))
        elif T < c.frame:
            raise ValueError(f"{T} samples hold no whole frame of {c.frame}")
        window = self.window.to(x)
        frames = frame_wav(x, c.frame, c.frame_shift)
        B, N, fl = frames.shape
        out = self.convert_frames(frames.reshape(B * N, fl), src, tgt).reshape(B, N, fl)
        y = overlap_add(out, c.frame_shift, window, synthesis_window=True, scale=True)
        if pad:
            y = y[:, :T]
        return y[0] if one else y

    @torch.no_grad()
    def infer(self, batch):
        """Each utterance converted from its speaker (its id's prefix) to batch["target"][i] or, without
        it, to model.conversion_map[speaker]; float32 numpy (T,) each."""
        c = self.cfg
        wav = batch[c.wav]
        lens = batch.get(f"{c.wav}_len")
        targets = batch.get("target")
        out = []
        for i, utt in enumerate(batch["utt_id"]):
            spk = self.speaker_of(utt)
            tgt = targets[i] if targets is not None else c.conversion_map.get(spk)
            if tgt is None:
                raise ConfigError(f"utterance {utt!r}: speaker {spk!r} has no entry in model.conversion_map; "
                                  "add one, or convert with python -m pylib.bin.convert --target SPK")
            n = int(lens[i]) if lens is not None else wav.shape[1]
            y = self.convert(wav[i, :n, 0], self.speaker_index(spk), self.target_index(tgt))
            out.append(np.asarray(y.float().cpu().numpy(), dtype=np.float32))
        return out
