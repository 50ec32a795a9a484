"""The LCNN countermeasure family (model name `lcnn`): front end x back end x head, all config keys.

Reads the raw waveform `batch[input]` (B, T, 1) with `batch[input + "_len"]` (B,) and, for
training, `batch["label"]` (B,) (1 = bona fide, 0 = spoof). `infer` returns one score per
utterance, higher = more bona fide. Published systems (Wang & Yamagishi, Interspeech 2021), the
seed's 03-asvspoof-mega/{lfcc,lfb,spec2}-lcnn-{lstmsum,attention,fixed}-{sig,am,oc,p2s}:
front_end lfcc | lfb | spec2, back_end lstm | attention | fixed, head sigmoid | am_softmax |
oc_softmax | p2sgrad. `pylib.models.cm.import_project_nn.seed_config(name)` gives each one's keys.
"""

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from pylib.config import take_facts
from pylib.contracts import Countermeasure, LossModel
from pylib.errors import ConfigError
from pylib.features.lfcc import FLOAT32_EPS
from pylib.losses.cm import make_head
from pylib.models.cm.layers import AttentionBackEnd, FixedBackEnd, FrontEnd, LstmBackEnd


@dataclass
class LcnnConfig:
    input: str = "wav"  # batch key of the waveform (the data section's input name)
    sample_rate: int | None = None  # Hz: taken from the data spec (features.sample_rate); leave it out
    # spec: ln power + trainable linear filterbank; spec2: the seed's log10((power @ W)^2 + eps)
    front_end: Literal["lfcc", "lfb", "spec", "spec2"] = "lfcc"
    n_fft: int = 512
    hop: int = 160  # frame shift in samples
    win_length: int = 320  # frame length in samples
    n_filters: int = 20  # linear filters (= cepstra for lfcc)
    window: Literal["hamming", "hann", "rect"] = "hamming"
    preemphasis: float = 0.97  # 0 = off
    log_floor: float = FLOAT32_EPS  # lfcc/lfb/spec2: added before log10
    spec_floor: float = 1.0e-5  # spec: added before ln
    with_energy: bool = True  # lfcc/lfb: first coefficient = log frame energy
    deltas: bool = True  # append deltas and delta-deltas
    center: bool = True  # centred frames, N = T // hop + 1
    pad_mode: Literal["constant", "reflect"] = "constant"
    back_end: Literal["lstm", "attention", "fixed"] = "lstm"
    width: int = 64  # channels of the first LCNN conv (others scale with it)
    dropout: float = 0.7  # after the LCNN
    lstm_layers: int = 2  # lstm back end: BLSTM layers, added to their input then pooled
    lstm_pool: Literal["mean", "sum"] = "mean"  # lstm back end: over frames (seed: sum; mean with sig)
    # attention back end: seed = [weighted sum, std of weighted frames + noise] (the seed's
    # SelfWeightedPooling); mean = weighted sum only; mean_std = weighted mean and weighted std
    attn_pool: Literal["seed", "mean", "mean_std"] = "seed"
    attn_noise: float = 1.0e-5  # attn_pool seed: std of the noise added before the std (seed: 1e-5)
    fixed_frames: int = 750  # fixed back end: frames after crop / repeat-pad
    # fixed back end: seed = random crop of samples // hop frames in training and scoring alike
    # (the seed's); train = random crop in training, the start in scoring
    fixed_crop: Literal["seed", "train"] = "seed"
    fc_dim: int = 80  # fixed back end: FC output after max-feature-map (seed: 80, or 256 with am/oc)
    emb_dim: int | None = None  # optional linear projection before the head
    head: Literal["sigmoid", "am_softmax", "oc_softmax", "p2sgrad"] = "p2sgrad"
    am_scale: float = 20.0
    am_margin: float = 0.9
    oc_m_real: float = 0.9
    oc_m_fake: float = 0.2
    oc_alpha: float = 20.0
    # weight of the supervised contrastive loss on the embeddings of a multi-view batch
    # (data.views; pylib.losses.supcon.group_supcon, the seed's project 09 m_feat); 0 = off
    supcon_weight: float = 0.0
    supcon_t: float = 0.07  # its temperature (seed: 0.07)

    def __post_init__(self):
        if self.win_length > self.n_fft:
            raise ConfigError(f"model: win_length {self.win_length} is longer than n_fft {self.n_fft}")
        if self.width < 4 or self.width % 4:
            raise ConfigError(f"model.width must be a positive multiple of 4, got {self.width}")
        dim = self.n_filters * (3 if self.deltas else 1)
        if dim < 16:
            raise ConfigError(f"model: feature dim {dim} (n_filters x deltas) must be >= 16 for the LCNN")


class LcnnCM(nn.Module, LossModel, Countermeasure):
    Config = LcnnConfig

    def __init__(self, cfg: LcnnConfig, spec=None):
        super().__init__()
        self.cfg = cfg
        take_facts(cfg, spec, (("sample_rate", None, None), (None, "input", None)), {"sample_rate": 16000})
        self.front = FrontEnd(
            cfg.front_end, cfg.sample_rate, cfg.n_fft, cfg.hop, cfg.win_length, cfg.n_filters, cfg.window,
            cfg.preemphasis, cfg.log_floor, cfg.with_energy, cfg.deltas, cfg.center, cfg.pad_mode,
            cfg.spec_floor,
        )
        common = dict(width=cfg.width, dropout=cfg.dropout)
        if cfg.back_end == "lstm":
            self.back = LstmBackEnd(self.front.dim, lstm_layers=cfg.lstm_layers, pool=cfg.lstm_pool, **common)
        elif cfg.back_end == "attention":
            self.back = AttentionBackEnd(self.front.dim, pool=cfg.attn_pool, noise=cfg.attn_noise, **common)
        else:
            self.back = FixedBackEnd(self.front.dim, frames=cfg.fixed_frames, fc_dim=cfg.fc_dim,
                                     crop=cfg.fixed_crop, **common)
        emb = self.back.dim
        self.proj = nn.Identity() if cfg.emb_dim is None else nn.Linear(emb, cfg.emb_dim)
        self.head = make_head(
            cfg.head, cfg.emb_dim or emb, am_scale=cfg.am_scale, am_margin=cfg.am_margin,
            oc_m_real=cfg.oc_m_real, oc_m_fake=cfg.oc_m_fake, oc_alpha=cfg.oc_alpha,
        )

    def param_groups(self):
        return {"model": [p for p in self.parameters() if p.requires_grad]}

    def _wave(self, batch):
        key = self.cfg.input
        if key not in batch:
            raise ConfigError(f"model.input {key!r} is not in the batch (keys: {', '.join(sorted(batch))})")
        wav = batch[key]
        wav = wav.squeeze(-1) if wav.dim() == 3 else wav  # (B, T, 1) -> (B, T)
        lengths = batch.get(f"{key}_len")
        if lengths is None:
            lengths = torch.full((wav.shape[0],), wav.shape[1], dtype=torch.long)
        return wav, lengths.to(wav.device).long()

    # Scoring on CPU runs a batch in groups of similar-length utterances whose first LCNN conv
    # output stays under this many floats (32 MiB: 4 utterances of 4 s at width 64). As one block,
    # 16 utterances of 3-4 s stream ~100 MiB tensors through memory at every layer (and the
    # spectrogram likewise), which made batched scoring slower than one by one; groups of ~4,
    # each trimmed to its longest member, measured fastest on 2 threads (1, 2, 4, 10, 16 tried).
    chunk_floats = 8 << 20

    def embed(self, wav, lengths):
        """wave (B, T), lengths (B,) -> embedding (B, E)."""
        b, t = wav.shape
        frames = int(self.front.frames(torch.tensor(t)))
        per = max(1, self.chunk_floats // max(1, frames * self.front.dim * self.cfg.width))
        # training keeps the whole batch (BatchNorm's batch statistics); GPUs want big batches
        if self.training or wav.device.type != "cpu" or per >= b:
            return self._embed(wav, lengths)
        order = torch.argsort(lengths, descending=True, stable=True)
        out = []
        for i in range(0, b, per):
            idx = order[i : i + per]
            lens = lengths[idx]
            top = min(t, max(1, int(lens[0])))
            out.append(self._embed(wav[idx, :top], lens))
        emb = torch.cat(out)
        return torch.empty_like(emb).index_copy_(0, order, emb)

    def _embed(self, wav, lengths):
        feat, n = self.front(wav, lengths)
        if self.cfg.back_end == "fixed" and self.cfg.fixed_crop == "seed":
            n = lengths // self.cfg.hop  # the seed's frame count for its crop (samples // hop)
        return self.proj(self.back(feat, n))

    def forward(self, batch, step=0):
        """Training loss of `batch` (pylib.contracts.LossModel): cross entropy of the labels."""
        wav, lengths = self._wave(batch)
        if "label" not in batch:
            raise ConfigError("the countermeasure needs labels: set `labels: true` on the corpus (utt2label)")
        label = batch["label"].to(wav.device)
        emb = self.embed(wav, lengths)
        loss, score = self.head.loss(emb, label)
        stats = {"loss": float(loss.detach())}
        if self.cfg.supcon_weight and "group" in batch:
            from pylib.losses.supcon import group_supcon

            con = group_supcon(emb, batch, t=self.cfg.supcon_t, length_norm=True)
            stats["supcon"] = float(con.detach())
            loss = loss + self.cfg.supcon_weight * con
            stats["loss"] = float(loss.detach())
        return loss, stats

    @torch.inference_mode()
    def infer(self, batch):
        wav, lengths = self._wave(batch)
        return [float(s) for s in self.head(self.embed(wav, lengths))]
