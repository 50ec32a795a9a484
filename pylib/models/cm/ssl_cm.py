"""Countermeasures on a self-supervised speech front end (model name `ssl_cm`): the seed's
project 07 (GF, LGF, LLGF back ends; Wang & Yamagishi, Odyssey 2022), project 09 (ID-2/4/6/7;
ICASSP 2023) and project 10 (B1-B3) models, as one class with options.

Input. Either the waveform `batch[input]` (B, T, 1) with `batch[input + "_len"]`, run through the
SSL front end of `frontend:` (a mapping handed to `pylib.models.ssl.frontend.build_ssl_frontend`,
imported when the model is built), or, with `frontend: null`, SSL features cached by stage 1
(`batch[input]` (B, N, L * D), layers major: frame n holds layer 0's D values, then layer 1's,
...; `ssl_layers` = L) with frame counts `batch[input + "_len"]`.

Network, after the front end (every variant of the seed is a choice of keys):

  [layers > 1: learned weighted sum of the layers (the seed's project 10 `m_feat_merger`, a
   Linear(L, 1) without bias), then LayerNorm without affine parameters]
  -> [frontend2: the features minus those of a second SSL model (project 10 B2)]
  -> Linear(D, proj_dim)    the seed's m_frontend (07), m_front_end_process (09), m_feat_compress (10)
  -> back end   gf:   nothing (07 *-GF: "just a place holder")
                lgf:  `lstm_layers` BLSTMs, added to their input (07 *-LGF)
                llgf: the LCNN of the LFCC-LCNN baseline (width 64, dropout 0.7), BLSTMs added
                      to their input (07 *-LLGF)
                ff:   `ff_layers` x [Linear, LeakyReLU, dropout] (09 ID-*, 10 B*, `BackEnd`)
  -> mean over the valid frames -> Linear(., 2): logits of (spoof, bona fide).

Loss: cross entropy (07: torch CrossEntropyLoss; 09 ID-2: the same; 09 ID-4/6/7 and 10: MixUpCE
with gamma 1, which is the same cross entropy), plus, optionally, the energy terms of the seed's
project 07 `_loss` (`energy_weight`, 0 in every published model): lambda * mean(relu(E - m_in)^2)
over in-distribution rows and lambda * mean(relu(m_out - E)^2) over rows with `batch["ood"]` = 1,
E = -T logsumexp(logits / T); plus, optionally, project 10 B3's distillation: `distill_weight` *
L1(student SSL features, teacher SSL features), the teacher being `teacher` (minus `teacher2`),
frozen SSL front ends kept outside the model's parameters and state, built at the first training
step (as the seed's `FrontEndTeacher`); plus, on multi-view batches (a `group` key, pylib.data.views),
`supcon_weight` x the supervised contrastive loss of project 09 ID-7 and project 10 over each group,
on the frame-level features (`supcon_frames`: projected, 09; SSL output, 10) and on the utterance
embeddings, both length-normalised (pylib.losses.supcon.group_supcon).

Score: logit(bona fide) - logit(spoof) (the seed's `_compute_score`; for the project 09/10 models
the log-odds of the bona fide probability, what the seed's `compute_llr_eps_ale` gives from one
dropout sample). Dropout is plain `nn.Dropout`: off in eval mode; MC-dropout scoring (the seed's
`DropoutForMC`, on at inference) switches it on from the inference side.

Parameter groups: "model" (everything but the SSL front ends) and, when the front end is fine-tuned
(`frontend.finetune: true`), "ssl" first, so that the engine gives it its own optimizer settings
(the seed's project 07 ft models train both with one Adam at lr 1e-6: 01_train.sh).
"""

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from pylib.config import take_facts
from pylib.contracts import Countermeasure, LossModel
from pylib.errors import ConfigError, DataError
from pylib.models.cm.layers import LstmBackEnd, masked_mean


@dataclass
class SslCmConfig:
    input: str = "wav"  # batch key: the waveform (with `frontend`) or the cached SSL features
    frontend: dict | None = None  # SSL front end settings (build_ssl_frontend); null: cached features
    frontend2: dict | None = None  # project 10 B2: a second SSL model whose features are subtracted
    ssl_dim: int | None = None  # cached features: dim of one layer (taken from the data spec / L)
    ssl_layers: int = 1  # cached features: layers stacked per frame (L; the dim is L * ssl_dim)
    proj_dim: int = 128  # Linear(D, proj_dim) after the SSL features (seed: v_feat_dim = 128)
    back_end: Literal["gf", "lgf", "llgf", "ff"] = "llgf"
    lstm_layers: int = 2  # lgf / llgf: BLSTM layers (seed: 2)
    lcnn_width: int = 64  # llgf: channels of the first LCNN conv (seed: 64)
    lcnn_dropout: float = 0.7  # llgf: dropout after the LCNN (seed: 0.7)
    ff_layers: int = 3  # ff: Linear-LeakyReLU-dropout blocks (seed: 3)
    ff_dim: int = 128  # ff: output width of the last block (seed: v_emd_dim = 128)
    ff_dropout: float = 0.5  # ff: dropout rate (seed: m_mcdp_rate = 0.5)
    ff_slope: float = 0.01  # ff: LeakyReLU negative slope (torch default, as the seed)
    energy_weight: float = 0.0  # project 07 _loss m_lambda (0 in every published model)
    energy_temp: float = 1.0  # m_temp
    energy_margin_in: float = -25.0  # m_e_m_in
    energy_margin_out: float = -7.0  # m_e_m_out
    teacher: dict | None = None  # project 10 B3: SSL front end of the distillation teacher
    teacher2: dict | None = None  # B3: second teacher SSL, subtracted from the first
    distill_weight: float = 0.0  # B3: weight of the L1 distillation loss (seed: m_feat_dis = 100)
    # 09 ID-7, 10 B1-B3: weight of the supervised contrastive loss on multi-view batches (seed:
    # m_feat = 1.0), on the frame-level features and on the utterance embeddings (before the output layer)
    supcon_weight: float = 0.0
    supcon_frames: Literal["proj", "ssl"] = "proj"  # frame-level features: projected (09) or SSL (10)

    def __post_init__(self):
        for name in ("proj_dim", "ssl_layers", "ff_layers", "ff_dim"):
            if getattr(self, name) < 1:
                raise ConfigError(f"model.{name} must be >= 1, got {getattr(self, name)}")
        if self.back_end in ("lgf", "llgf") and self.lstm_layers < 0:
            raise ConfigError(f"model.lstm_layers must be >= 0, got {self.lstm_layers}")
        if self.back_end == "lgf" and self.proj_dim % 2:
            raise ConfigError(f"model.proj_dim {self.proj_dim} must be even for the lgf back end's BLSTMs")
        if self.back_end == "llgf" and self.proj_dim < 16:
            raise ConfigError(f"model.proj_dim {self.proj_dim} must be >= 16 for the llgf back end's LCNN")
        for name in ("lcnn_dropout", "ff_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(f"model.{name} must be in [0, 1), got {getattr(self, name)}")
        if self.frontend2 is not None and self.frontend is None:
            raise ConfigError("model.frontend2 needs model.frontend (it is subtracted from its features)")
        if self.distill_weight and self.teacher is None:
            raise ConfigError("model.distill_weight needs model.teacher (the SSL front end to distil from)")
        if self.teacher2 is not None and self.teacher is None:
            raise ConfigError("model.teacher2 needs model.teacher (it is subtracted from its features)")
        if self.energy_temp <= 0:
            raise ConfigError(f"model.energy_temp must be > 0, got {self.energy_temp}")


def build_frontend(cfg):
    """The SSL front end of a `frontend:` mapping (pylib.models.ssl.frontend, imported on use)."""
    from pylib.models.ssl.frontend import build_ssl_frontend

    return build_ssl_frontend(dict(cfg))


def blstm_stack(lstms, x, lengths):
    """x (B, N, H) through each bidirectional LSTM in turn (padded frames kept out when lengths
    differ) -> (B, N, H)."""
    h = x
    full = bool((lengths >= x.shape[1]).all())
    for lstm in lstms:
        if full:
            h = lstm(h)[0]
        else:
            rnn = nn.utils.rnn
            packed = rnn.pack_padded_sequence(h, lengths.clamp(min=1).cpu(), batch_first=True,
                                              enforce_sorted=False)
            h = rnn.pad_packed_sequence(lstm(packed)[0], batch_first=True, total_length=x.shape[1])[0]
    return h


class SslCM(nn.Module, LossModel, Countermeasure):
    Config = SslCmConfig

    def __init__(self, cfg: SslCmConfig, spec=None):
        super().__init__()
        self.cfg = cfg
        self.frontend = self.frontend2 = None
        if cfg.frontend is not None:
            take_facts(cfg, spec, ((None, "input", None),), {})
            self.frontend = build_frontend(cfg.frontend)
            self.frontend2 = None if cfg.frontend2 is None else build_frontend(cfg.frontend2)
            dim, layers = self._frontend_shape()
        else:
            if spec is not None:
                full = SslCmConfig(input=cfg.input, ssl_dim=None)
                take_facts(full, spec, (("ssl_dim", "input", "dim"),), {})
                if full.ssl_dim % cfg.ssl_layers:
                    raise ConfigError(
                        f"model: input {cfg.input!r} has dim {full.ssl_dim}, not a multiple of "
                        f"model.ssl_layers = {cfg.ssl_layers}; set ssl_layers to the layers cached per frame"
                    )
                per = full.ssl_dim // cfg.ssl_layers
                if cfg.ssl_dim is not None and cfg.ssl_dim != per:
                    raise ConfigError(
                        f"model.ssl_dim = {cfg.ssl_dim}, but input {cfg.input!r} has {full.ssl_dim} = "
                        f"{cfg.ssl_layers} layers x {per}; leave ssl_dim out (it is taken from the data)"
                    )
                cfg.ssl_dim = per
            if cfg.ssl_dim is None:
                raise ConfigError("model.ssl_dim: the dim of the cached SSL features is unknown; set it")
            dim, layers = cfg.ssl_dim, cfg.ssl_layers
        self.ssl_dim, self.n_layers = dim, layers
        # weights of the layers, as the seed's Linear(L, 1, bias=False) (same initial distribution)
        self.layer_weights = None
        if layers > 1:
            bound = 1.0 / layers**0.5
            self.layer_weights = nn.Parameter(torch.empty(layers).uniform_(-bound, bound))
        self.proj = nn.Linear(dim, cfg.proj_dim)
        self.back, self.lstm, self.ff = None, None, None
        if cfg.back_end == "lgf":
            self.lstm = nn.ModuleList(
                nn.LSTM(cfg.proj_dim, cfg.proj_dim // 2, bidirectional=True, batch_first=True)
                for _ in range(cfg.lstm_layers)
            )
            emb = cfg.proj_dim
        elif cfg.back_end == "llgf":
            self.back = LstmBackEnd(cfg.proj_dim, width=cfg.lcnn_width, dropout=cfg.lcnn_dropout,
                                    lstm_layers=cfg.lstm_layers, pool="mean")
            emb = self.back.dim
        elif cfg.back_end == "ff":
            dims = [cfg.proj_dim] * cfg.ff_layers + [cfg.ff_dim]
            blocks = []
            for a, b in zip(dims[:-1], dims[1:]):
                blocks += [nn.Linear(a, b), nn.LeakyReLU(cfg.ff_slope), nn.Dropout(cfg.ff_dropout)]
            self.ff = nn.Sequential(*blocks)
            emb = cfg.ff_dim
        else:
            emb = cfg.proj_dim
        self.out = nn.Linear(emb, 2)  # logits of (spoof, bona fide)
        self._teacher = None  # (front end, second front end or None): built at the first training step

    def _frontend_shape(self):
        fe, fe2 = self.frontend, self.frontend2
        dim, layers = int(fe.out_dim), int(getattr(fe, "n_layers", 1))
        all_layers = str(self.cfg.frontend.get("layers", "last")) == "all"
        layers = layers if all_layers else 1
        if fe2 is not None:
            all2 = str(self.cfg.frontend2.get("layers", "last")) == "all"
            shape2 = (int(fe2.out_dim), int(getattr(fe2, "n_layers", 1)) if all2 else 1)
            if shape2 != (dim, layers):
                raise ConfigError(
                    f"model.frontend2 gives {shape2[1]} layer(s) of dim {shape2[0]}, model.frontend "
                    f"{layers} of dim {dim}: the difference needs the same shapes (choose matching models)"
                )
        return dim, layers

    def param_groups(self):
        ssl = []
        for fe in (self.frontend, self.frontend2):
            if fe is not None and getattr(fe, "finetune", False):
                ssl += [p for p in fe.parameters() if p.requires_grad]
        ssl_ids = {id(p) for fe in (self.frontend, self.frontend2) if fe is not None for p in fe.parameters()}
        model = [p for p in self.parameters() if p.requires_grad and id(p) not in ssl_ids]
        return {"ssl": ssl, "model": model} if ssl else {"model": model}

    # ---- features --------------------------------------------------------------------------------

    def _input(self, batch):
        key = self.cfg.input
        if key not in batch:
            raise ConfigError(f"model.input {key!r} is not in the batch (keys: {', '.join(sorted(batch))})")
        x = batch[key]
        lengths = batch.get(f"{key}_len")
        if self.frontend is not None:
            if x.dim() == 3:
                if x.shape[2] != 1:
                    raise ConfigError(
                        f"ssl_cm with a front end reads a mono waveform (B, T, 1); batch[{key!r}] has "
                        f"{x.shape[2]} channels: use a data input with dim: 1"
                    )
                x = x[..., 0]
        elif x.dim() != 3 or x.shape[2] != self.n_layers * self.ssl_dim:
            raise ConfigError(
                f"ssl_cm reads cached SSL features (B, N, {self.n_layers} x {self.ssl_dim}) from "
                f"batch[{key!r}], got shape {tuple(x.shape)}: set model.ssl_layers / the data input to "
                f"the SSL features stage 1 wrote, or give model.frontend to run the SSL model"
            )
        if lengths is None:
            lengths = torch.full((x.shape[0],), x.shape[1], dtype=torch.long)
        return x, lengths.to(x.device).long()

    @staticmethod
    def _run_frontend(fe, wav, lengths):
        if getattr(fe, "finetune", False) and torch.is_grad_enabled():
            return fe(wav, lengths)
        with torch.no_grad():
            return fe(wav, lengths)

    def ssl_features(self, batch):
        """SSL features (B, N, L, D) (L = 1 unless every layer is used) and frame counts (B,)."""
        x, lengths = self._input(batch)
        if self.frontend is None:
            b, n, _ = x.shape
            return x.reshape(b, n, self.n_layers, self.ssl_dim), lengths
        feats, frames = self._run_frontend(self.frontend, x, lengths)
        if self.frontend2 is not None:  # project 10 B2: the difference of two SSL models
            feats2, _ = self._run_frontend(self.frontend2, x, lengths)
            feats = feats - feats2
        if feats.dim() == 3:
            feats = feats.unsqueeze(2)
        frames = torch.full((x.shape[0],), feats.shape[1], dtype=torch.long) if frames is None else frames
        return feats, frames.to(feats.device).long().clamp(max=feats.shape[1])

    def merge_layers(self, feats):
        """(B, N, L, D) -> (B, N, D): the only layer, or the weighted sum then LayerNorm."""
        if self.layer_weights is None:
            return feats[:, :, 0]
        merged = torch.einsum("bnld,l->bnd", feats, self.layer_weights.to(feats.dtype))
        return F.layer_norm(merged, merged.shape[-1:])

    # ---- network ---------------------------------------------------------------------------------

    def embed_features(self, feats, frames):
        """(B, N, L, D) SSL features, frame counts (B,) -> utterance embedding (B, E), and the
        projected frames (B, N, proj_dim)."""
        x = self.proj(self.merge_layers(feats))
        frames = frames.clamp(min=1)
        if self.cfg.back_end == "llgf":
            return self.back(x, frames), x
        if self.cfg.back_end == "lgf":
            return masked_mean(blstm_stack(self.lstm, x, frames) + x, frames), x
        return masked_mean(self.ff(x) if self.cfg.back_end == "ff" else x, frames), x

    def logits(self, batch, parts=None):
        """(B, 2) logits of (spoof, bona fide), and the SSL features they came from. parts: a dict
        that receives the projected frames ("proj") and the utterance embeddings ("emb")."""
        feats, frames = self.ssl_features(batch)
        emb, x = self.embed_features(feats, frames)
        if parts is not None:
            parts.update(proj=x, emb=emb)
        return self.out(emb), feats

    def _supcon(self, batch, feats, parts):
        """The seed's project 09/10 contrastive terms: supcon over each multi-view group of the
        frame-level features and of the utterance embeddings, both length-normalised
        (pylib.losses.supcon.group_supcon, imported on use)."""
        from pylib.losses.supcon import group_supcon

        frames = parts["proj"] if self.cfg.supcon_frames == "proj" else feats[:, :, -1]
        return self.cfg.supcon_weight * (group_supcon(frames, batch, length_norm=True)
                                         + group_supcon(parts["emb"], batch, length_norm=True))

    def energy(self, logits):
        """The seed's energy -T logsumexp(logits / T) per row."""
        t = self.cfg.energy_temp
        return -t * torch.logsumexp(logits / t, dim=1)

    def _energy_loss(self, logits, batch):
        cfg = self.cfg
        e = self.energy(logits)
        ood = batch.get("ood")
        ood = torch.zeros_like(e, dtype=torch.bool) if ood is None else ood.to(e.device).bool()
        loss = e.new_zeros(())
        if (~ood).any():
            loss = loss + cfg.energy_weight * F.relu(e[~ood] - cfg.energy_margin_in).pow(2).mean()
        if ood.any():
            loss = loss + cfg.energy_weight * F.relu(cfg.energy_margin_out - e[ood]).pow(2).mean()
        return loss

    def _teacher_features(self, batch):
        if self._teacher is None:  # not a submodule: outside param_groups() and the state dict
            first = build_frontend(self.cfg.teacher)
            second = None if self.cfg.teacher2 is None else build_frontend(self.cfg.teacher2)
            self._teacher = tuple(m.requires_grad_(False).eval() if m is not None else None
                                  for m in (first, second))
        x, lengths = self._input(batch)
        device = next(self.proj.parameters())
        with torch.no_grad():
            out = []
            for fe in self._teacher:
                if fe is not None:
                    fe.to(device.device, dtype=device.dtype).eval()
                    out.append(fe(x, lengths)[0])
        return out[0] - out[1] if len(out) == 2 else out[0]

    def forward(self, batch, step=0):
        """Training loss of `batch` (pylib.contracts.LossModel) and its terms."""
        if "label" not in batch:
            raise ConfigError("the countermeasure needs labels: set `labels: true` on the corpus (utt2label)")
        parts = {}
        logits, feats = self.logits(batch, parts)
        label = batch["label"].to(logits.device).long()
        ce = F.cross_entropy(logits, label)
        stats = {"ce": float(ce.detach())}
        loss = ce
        if self.cfg.energy_weight:
            term = self._energy_loss(logits, batch)
            stats["energy"] = float(term.detach())
            loss = loss + term
        if self.cfg.distill_weight and self.training:
            if self.frontend is None:
                raise ConfigError("model.distill_weight: distillation needs model.frontend (the student SSL)")
            teacher = self._teacher_features(batch)
            student = feats[:, :, -1]
            if teacher.shape != student.shape:
                raise DataError(
                    f"distillation: teacher features {tuple(teacher.shape)} and student features "
                    f"{tuple(student.shape)} differ in shape; choose a teacher of the student's kind"
                )
            term = self.cfg.distill_weight * F.l1_loss(student, teacher)
            stats["distill"] = float(term.detach())
            loss = loss + term
        if self.cfg.supcon_weight and self.training and "group" in batch:
            term = self._supcon(batch, feats, parts)
            stats["supcon"] = float(term.detach())
            loss = loss + term
        stats["loss"] = float(loss.detach())
        return loss, stats

    @torch.inference_mode()
    def infer(self, batch):
        logits, _ = self.logits(batch)
        return [float(s) for s in logits[:, 1] - logits[:, 0]]

