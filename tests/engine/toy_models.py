"""Tiny registered models and an in-memory data factory for the engine tests.

Importing this module (in-process or via `pylib.bin.train --import tests.engine.toy_models`)
installs ToyFactory as the engine's data factory; its `CATALOGUE` names `toy_linear` (a
countermeasure: one score per utterance), `toy_linear_wave` (the same net as a vocoder: one
waveform per utterance) and `toy_gan` (a GanModel vocoder). `MODEL_CLASS` is the lookup the entry
points build with `--import tests.engine.toy_models`.
"""

import atexit
import dataclasses
import os

import numpy as np
import torch
from torch import nn

from pylib.contracts import Countermeasure, GanModel, LossModel, Vocoder
from pylib.engine.data import DataFactory, set_data_factory
from pylib.models.catalogue import model_lookup
from pylib.nn.norm import FeatureNorm

DIM = 4


@dataclasses.dataclass
class ToyFeat:
    name: str
    hop: int


@dataclasses.dataclass
class ToySpec:
    """Stands in for pylib.data's DataSpec: the `data:` section of a toy config (marked `toy: true`)."""

    toy: bool = True
    n_train: int = 24
    n_dev: int = 8
    frames: int = 10
    batch_size: int = 4
    vary: bool = True  # utterance lengths vary (frames + i % 3)
    sample_rate: int = 8000
    hop: int = 4
    inputs: list = dataclasses.field(default_factory=lambda: [ToyFeat("x", 4)])

    @property
    def dev(self):
        return [{"root": "dev"}] if self.n_dev else []


def make_utts(n, frames, seed, vary=True):
    g = np.random.default_rng(seed)
    w = np.arange(1, DIM + 1, dtype=np.float32) / DIM
    out = []
    for i in range(n):
        n_i = frames + (i % 3 if vary else 0)
        x = g.standard_normal((n_i, DIM)).astype(np.float32) * 2 + 1
        y = (x @ w)[:, None] + 0.05 * g.standard_normal((n_i, 1)).astype(np.float32)
        out.append((f"utt{i:03d}", x, y))
    return out


class ToyDataset(torch.utils.data.Dataset):
    def __init__(self, utts):
        self.utts = utts

    def __len__(self):
        return len(self.utts)

    def __getitem__(self, i):
        return self.utts[i]


def collate(items):
    n = max(len(x) for _, x, _ in items)
    x = torch.zeros(len(items), n, DIM)
    y = torch.zeros(len(items), n, 1)
    for b, (_, xi, yi) in enumerate(items):
        x[b, : len(xi)] = torch.from_numpy(xi)
        y[b, : len(yi)] = torch.from_numpy(yi)
    lens = torch.tensor([len(xi) for _, xi, _ in items])
    return {"utt_id": [u for u, _, _ in items], "x": x, "x_len": lens, "y": y, "y_len": lens.clone()}


class ToyBatchSampler:
    """Shuffled batches seeded by (seed, epoch), sharded by rank; resumable mid-epoch (position)."""

    def __init__(self, n, batch_size, shuffle, seed=0, rank=0, world_size=1):
        self.n, self.bs, self.shuffle, self.seed = n, batch_size, shuffle, seed
        self.rank, self.world = rank, world_size
        self.epoch, self.position = 0, 0

    def batches(self):
        idx = list(range(self.n))
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 1000 + self.epoch)
            idx = torch.randperm(self.n, generator=g).tolist()
        all_b = [idx[i : i + self.bs] for i in range(0, self.n, self.bs)]
        per = len(all_b) // self.world if self.world > 1 else len(all_b)
        return all_b[self.rank :: self.world][:per]

    def set_epoch(self, e):
        self.epoch, self.position = e, 0

    def state_dict(self):
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, d):
        self.epoch, self.position = d["epoch"], d["position"]

    def __len__(self):
        return len(self.batches())

    def __iter__(self):
        for b in self.batches()[self.position :]:
            self.position += 1
            yield b
        self.position = 0  # a finished pass starts over (the dev loader is iterated every epoch)


class ToyFactory(DataFactory):
    """In-memory data for `data: {toy: true, ...}` configs; any other config gets the real loader.

    Installed at import (also by collection in-process), so it must not change what other tests see.
    """

    def spec(self, data_cfg):
        if not (data_cfg or {}).get("toy"):
            return super().spec(data_cfg)
        return ToySpec(**data_cfg)

    def _loader(self, utts, bs, shuffle, seed=0, rank=0, world=1):
        s = ToyBatchSampler(len(utts), bs, shuffle, seed, rank, world)
        return torch.utils.data.DataLoader(ToyDataset(utts), batch_sampler=s, collate_fn=collate)

    def train_loaders(self, spec, data_dir, seed, rank, world_size):
        if not isinstance(spec, ToySpec):
            return super().train_loaders(spec, data_dir, seed, rank, world_size)
        train = self._loader(
            make_utts(spec.n_train, spec.frames, 1, spec.vary), spec.batch_size, True, seed, rank, world_size
        )
        dev = (
            self._loader(make_utts(spec.n_dev, spec.frames, 2), spec.batch_size, False)
            if spec.n_dev
            else None
        )
        return train, dev

    def feature_stats(self, spec, data_dir):
        if not isinstance(spec, ToySpec):
            return super().feature_stats(spec, data_dir)
        return {"x": (np.ones(DIM, np.float32), np.full(DIM, 2.0, np.float32))}

    def infer_loader(self, spec, data_dir, set_name):
        if not isinstance(spec, ToySpec):
            return super().infer_loader(spec, data_dir, set_name)
        return self._loader(make_utts(6, spec.frames * 3, 3), 2, False)


set_data_factory(ToyFactory())


@dataclasses.dataclass
class LinearConfig:
    hidden: int = 8
    dropout: float = 0.1
    nan_at_steps: list = dataclasses.field(default_factory=list)  # loss becomes NaN at these steps


def masked_mse(pred, y, lens):
    mask = (torch.arange(y.shape[1])[None, :] < lens[:, None]).unsqueeze(-1).float()
    return ((pred - y) ** 2 * mask).sum() / mask.sum()


def _dump_at_exit(model):
    """With TOY_DUMP_DIR set, save the weights at exit as rank<RANK>.pt (the DDP test compares ranks)."""
    folder = os.environ.get("TOY_DUMP_DIR")
    if folder:
        path = os.path.join(folder, f"rank{os.environ.get('RANK', '0')}.pt")
        atexit.register(lambda: torch.save(model.state_dict(), path))


class _ToyNet(nn.Module, LossModel):
    """x -> y per frame (MSE); the kind (what infer returns) is the subclass's."""

    Config = LinearConfig

    def __init__(self, cfg, spec):
        super().__init__()
        self.cfg = cfg
        self.hop = spec.hop
        self.norm = nn.ModuleDict({"x": FeatureNorm(DIM)})
        self.net = nn.Sequential(
            nn.Linear(DIM, cfg.hidden), nn.Tanh(), nn.Dropout(cfg.dropout), nn.Linear(cfg.hidden, 1)
        )
        _dump_at_exit(self)

    def param_groups(self):
        return {"model": list(self.parameters())}

    def forward(self, batch, step=0):
        pred = self.net(self.norm["x"](batch["x"]))
        loss = masked_mse(pred, batch["y"], batch["y_len"])
        if step in self.cfg.nan_at_steps and self.training:
            loss = loss * float("nan")
        return loss, {"mse": loss.item(), "pred_mean": pred.mean().item()}

    def _pred(self, batch):
        return self.net(self.norm["x"](batch["x"]))[..., 0]


class ToyLinear(_ToyNet, Countermeasure):
    """Scores an utterance by the mean of its frame predictions."""

    def infer(self, batch):
        pred = self._pred(batch)
        return [float(pred[b, :n].mean()) for b, n in enumerate(batch["x_len"].tolist())]


class ToyLinearWave(_ToyNet, Vocoder):
    """The same net as a vocoder: its "waveform" is each frame's prediction repeated hop times."""

    def infer(self, batch):
        pred = self._pred(batch)
        return [pred[b, :n].repeat_interleave(self.hop).numpy().astype(np.float32) * 0.1
                for b, n in enumerate(batch["x_len"].tolist())]


@dataclasses.dataclass
class GanConfig:
    hidden: int = 8


class ToyGan(nn.Module, GanModel, Vocoder):
    """Generator maps x to y; discriminator tells real y from generated (LSGAN)."""

    Config = GanConfig

    def __init__(self, cfg, spec):
        super().__init__()
        self.generator = nn.Sequential(nn.Linear(DIM, cfg.hidden), nn.Tanh(), nn.Linear(cfg.hidden, 1))
        self.discriminator = nn.Sequential(nn.Linear(1, cfg.hidden), nn.Tanh(), nn.Linear(cfg.hidden, 1))
        _dump_at_exit(self)

    def param_groups(self):
        return {
            "discriminator": list(self.discriminator.parameters()),
            "generator": list(self.generator.parameters()),
        }

    def generate(self, batch):
        return self.generator(batch["x"])

    def discriminator_loss(self, batch, step, fake):
        real_s = self.discriminator(batch["y"])
        fake_s = self.discriminator(fake.detach())
        loss = ((real_s - 1) ** 2).mean() + (fake_s**2).mean()
        return loss, {"d_loss": loss.item()}

    def generator_loss(self, batch, step, fake, adversarial):
        recon = masked_mse(fake, batch["y"], batch["y_len"])
        loss, stats = recon, {"recon": recon.item()}
        if adversarial:
            adv = ((self.discriminator(fake) - 1) ** 2).mean()
            loss = loss + 0.1 * adv
            stats["adv"] = adv.item()
        return loss, stats

    def infer(self, batch):
        y = self.generator(batch["x"])[..., 0]
        return [y[b, :n].numpy() for b, n in enumerate(batch["x_len"].tolist())]


CATALOGUE = {"toy_linear": ToyLinear, "toy_linear_wave": ToyLinearWave, "toy_gan": ToyGan}
MODEL_CLASS = model_lookup([__name__])
