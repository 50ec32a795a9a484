"""LFCC (linear-frequency cepstral coefficients) and LFB as used by ASVspoof countermeasures.

The defaults follow the ASVspoof baseline front end as the project-NN-Pytorch-scripts toolkit
computes it (Wang & Yamagishi, Interspeech 2021): pre-emphasis 0.97, Hamming window of 320 samples
inside a 512-point FFT, hop 160, centred frames with zero padding, power spectrum, 20 triangular
filters equally spaced in Hz, log10(x + float32 eps), orthonormal DCT-II, c0 replaced by the log
frame energy, then deltas and delta-deltas (x[t+1] - x[t-1], edges replicated; no 1/2 factor).
Each of these is a keyword, so other LFCC variants are one config change away.

Frames: with `center=True` frame k is centred on sample k*hop and N = T // hop + 1, the stage-1
convention of docs/INTERFACES.md.
"""

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import nn

from pylib.errors import ConfigError
from pylib.nn.masks import length_mask

FLOAT32_EPS = float(torch.finfo(torch.float32).eps)


def linear_filterbank(n_fft, sample_rate, n_filters, fmin=0.0, fmax=None):
    """Triangular filters with centres equally spaced in Hz -> (n_fft // 2 + 1, n_filters).

    Filter j rises from edge j to edge j+1 and falls to edge j+2 (n_filters + 2 edges from fmin to
    fmax); a bin exactly on a peak gets 1, bins on the outer edges 0.
    """
    fmax = sample_rate / 2 if fmax is None else fmax
    if not 0 <= fmin < fmax <= sample_rate / 2:
        raise ConfigError(
            f"linear filterbank: need 0 <= fmin < fmax <= {sample_rate / 2}, got {fmin}, {fmax}"
        )
    # float32 grids, as the reference builds them, so a bin that lands on an edge does so here too
    freqs = (sample_rate / 2) * torch.linspace(0, 1, n_fft // 2 + 1, dtype=torch.float32)
    edges = torch.linspace(fmin, fmax, n_filters + 2, dtype=torch.float32)
    fb = torch.zeros(n_fft // 2 + 1, n_filters)
    for j in range(n_filters):
        a, b, c = edges[j], edges[j + 1], edges[j + 2]
        rise = (freqs > a) & (freqs < b)
        fall = (freqs > b) & (freqs < c)
        fb[rise, j] = (freqs[rise] - a) / (b - a)
        fb[fall, j] = (c - freqs[fall]) / (c - b)
        fb[freqs == b, j] = 1.0
    return fb


def dct_matrix(n, norm="ortho"):
    """DCT-II as a matrix M (n_out=n, n_in=n): coefficients = x @ M.T. norm: 'ortho' or None."""
    k = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(n, dtype=torch.float64)[None, :]
    m = 2.0 * torch.cos(math.pi * k * (2 * i + 1) / (2 * n))
    if norm == "ortho":
        m[0] *= math.sqrt(1.0 / (4 * n))
        m[1:] *= math.sqrt(1.0 / (2 * n))
    elif norm is not None:
        raise ConfigError(f"dct norm {norm!r}: use 'ortho' or null")
    return m.float()


def delta(x, lengths=None):
    """x[t+1] - x[t-1] along frames, replicating the first and last valid frame.

    x: (..., N, D); lengths: optional (B,) valid frames when x is (B, N, D) -> (..., N, D).
    With lengths, frame len-1 uses itself as its right neighbour, as if the utterance were alone.
    """
    n = x.shape[-2]
    if n == 0:
        return x.clone()
    t = torch.arange(n, device=x.device)
    prev = (t - 1).clamp(min=0)
    if lengths is None:
        nxt = (t + 1).clamp(max=n - 1)
        return x[..., nxt, :] - x[..., prev, :]
    last = (lengths.to(x.device).long() - 1).clamp(min=0)[:, None]  # (B, 1)
    nxt = torch.minimum((t + 1)[None, :], last)  # (B, N)
    nxt_x = torch.gather(x, 1, nxt[:, :, None].expand(-1, -1, x.shape[-1]))
    return nxt_x - x[:, prev, :]


def num_frames(num_samples, hop, n_fft, center=True):
    """Frames torch.stft gives for `num_samples` (int or tensor)."""
    if center:
        return num_samples // hop + 1
    return (num_samples - n_fft) // hop + 1


def _window(name, win_length, device, dtype=torch.float32):
    if name == "hamming":
        return torch.hamming_window(win_length, device=device, dtype=dtype)
    if name == "hann":
        return torch.hann_window(win_length, device=device, dtype=dtype)
    if name == "rect":
        return torch.ones(win_length, device=device, dtype=dtype)
    raise ConfigError(f"window {name!r}: use hamming, hann or rect")


def power_spectrogram(
    wave,
    n_fft=512,
    hop=160,
    win_length=320,
    window="hamming",
    center=True,
    pad_mode="constant",
    preemphasis=0.97,
    lengths=None,
):
    """|STFT|^2 of the (optionally pre-emphasised) wave. wave: (..., T) -> (..., N, n_fft // 2 + 1).

    lengths: optional (B,) valid samples of a zero-padded (B, T) batch; samples past the end are
    zeroed after pre-emphasis so that padding cannot leak into the last frames.
    """
    if wave.shape[-1] == 0:
        raise ValueError("power_spectrogram: empty waveform")
    lead = wave.shape[:-1]
    x = wave.reshape(-1, wave.shape[-1])
    if not x.is_floating_point() or x.dtype == torch.float16 or x.dtype == torch.bfloat16:
        x = x.float()  # float64 stays float64 (parity checks run in double precision)
    if preemphasis:
        x = torch.cat([x[:, :1], x[:, 1:] - preemphasis * x[:, :-1]], dim=1)
    if lengths is not None:
        keep = length_mask(lengths.to(x.device), x.shape[-1])
        x = x * keep
    spec = torch.stft(
        x,
        n_fft,
        hop_length=hop,
        win_length=win_length,
        window=_window(window, win_length, x.device, x.dtype),
        center=center,
        pad_mode=pad_mode,
        onesided=True,
        return_complex=True,
    )
    power = spec.real.square() + spec.imag.square()
    return power.transpose(1, 2).reshape(*lead, power.shape[2], power.shape[1])


def lfcc(
    wave,
    *,
    sample_rate=16000,
    n_fft=512,
    hop=160,
    win_length=320,
    n_filters=20,
    n_ceps=None,
    fmin=0.0,
    fmax=None,
    window="hamming",
    center=True,
    pad_mode="constant",
    preemphasis=0.97,
    log_floor=FLOAT32_EPS,
    dct=True,
    dct_norm="ortho",
    with_energy=True,
    deltas=True,
    filterbank=None,
    dct_weight=None,
    lengths=None,
):
    """LFCC (or LFB with dct=False). wave: (..., T) -> (..., N, D).

    D = n_ceps (default n_filters), times 3 with deltas. `filterbank` (F, n_filters) and
    `dct_weight` (n_filters, n_filters) override the computed ones (e.g. loaded from a checkpoint).
    log_floor is added before log10 (not a clamp): digital silence gives log10(log_floor).
    lengths: optional (B,) valid samples when wave is a zero-padded (B, T) batch.
    """
    power = power_spectrogram(wave, n_fft, hop, win_length, window, center, pad_mode, preemphasis, lengths)
    fb = linear_filterbank(n_fft, sample_rate, n_filters, fmin, fmax) if filterbank is None else filterbank
    feat = torch.log10(power @ fb.to(power) + log_floor)
    if dct:
        m = dct_matrix(n_filters, dct_norm) if dct_weight is None else dct_weight
        feat = feat @ m.to(feat).T
        if n_ceps is not None:
            feat = feat[..., :n_ceps]
    if with_energy:
        energy = torch.log10(power.sum(-1) / n_fft + log_floor)
        feat = torch.cat([energy[..., None], feat[..., 1:]], dim=-1)
    if deltas:
        frame_len = None if lengths is None else num_frames(lengths, hop, n_fft, center)
        d1 = delta(feat, frame_len)
        d2 = delta(d1, frame_len)
        feat = torch.cat([feat, d1, d2], dim=-1)
    return feat


class LFCC(nn.Module):
    """Module around `lfcc` holding the filterbank and DCT as buffers (loadable from a checkpoint).

    forward(wave (B, T), lengths (B,) or None) -> (B, N, D).
    """

    def __init__(self, sample_rate=16000, n_filters=20, n_fft=512, dct=True, dct_norm="ortho",
                 fmin=0.0, fmax=None, **kw):
        super().__init__()
        self.kw = dict(sample_rate=sample_rate, n_fft=n_fft, n_filters=n_filters, dct=dct, **kw)
        self.register_buffer("fb", linear_filterbank(n_fft, sample_rate, n_filters, fmin, fmax))
        self.register_buffer("dct", dct_matrix(n_filters, dct_norm))

    @property
    def dim(self):
        base = self.kw.get("n_ceps") or self.kw["n_filters"]
        return base * (3 if self.kw.get("deltas", True) else 1)

    def forward(self, wave, lengths=None):
        return lfcc(wave, filterbank=self.fb, dct_weight=self.dct, lengths=lengths, **self.kw)


@dataclass
class LfccConfig:
    """Stage-1 LFCC extractor keys (`features.extractors.<name>: {type: lfcc, ...}`)."""

    n_fft: int = 512
    hop: int = 160
    win_length: int = 320
    n_filters: int = 20
    n_ceps: int | None = None  # keep the first n_ceps coefficients (default all n_filters)
    fmin: float = 0.0
    fmax: float | None = None  # default sample_rate / 2
    window: Literal["hamming", "hann", "rect"] = "hamming"
    pad_mode: Literal["constant", "reflect"] = "constant"  # edge padding of the centred frames
    preemphasis: float = 0.97  # 0 = off
    log_floor: float = FLOAT32_EPS  # added before log10
    dct: bool = True  # false: LFB (log linear filterbank energies)
    with_energy: bool = True  # replace c0 by the log frame energy
    deltas: bool = True  # append deltas and delta-deltas


class LfccExtractor:
    """Stage 1: wave (T,) float32 -> LFCC (N, dim) float32 with N = T // hop + 1."""

    Config = LfccConfig
    ext = ".f4"
    FACT_KEYS = {"hop": "hop"}

    def __init__(self, cfg: LfccConfig, sample_rate: int):
        if cfg.win_length > cfg.n_fft or cfg.hop < 1:
            raise ConfigError(
                f"lfcc: need hop >= 1 and win_length <= n_fft (got {cfg.hop}, {cfg.win_length})"
            )
        if cfg.n_ceps is not None and not 1 <= cfg.n_ceps <= cfg.n_filters:
            raise ConfigError(f"lfcc: n_ceps must be in 1..n_filters={cfg.n_filters}, got {cfg.n_ceps}")
        self.cfg = cfg
        self.sample_rate = sample_rate
        self.hop = cfg.hop
        base = (cfg.n_ceps or cfg.n_filters) if cfg.dct else cfg.n_filters
        self.dim = base * (3 if cfg.deltas else 1)
        self.fb = linear_filterbank(cfg.n_fft, sample_rate, cfg.n_filters, cfg.fmin, cfg.fmax)

    def __call__(self, wave: np.ndarray) -> np.ndarray:
        c = self.cfg
        x = torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32).reshape(-1))
        with torch.no_grad():
            out = lfcc(
                x, sample_rate=self.sample_rate, n_fft=c.n_fft, hop=c.hop, win_length=c.win_length,
                n_filters=c.n_filters, n_ceps=c.n_ceps, window=c.window, pad_mode=c.pad_mode,
                preemphasis=c.preemphasis, log_floor=c.log_floor, dct=c.dct, with_energy=c.with_energy,
                deltas=c.deltas, filterbank=self.fb,
            )
        return out.numpy().astype(np.float32, copy=False)
