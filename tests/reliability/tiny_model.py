"""A tiny model for the reliability tests: mel (B, N, D) -> a frame-level regression.

Loaded with `--import tests.reliability.tiny_model`; it goes through the real loader, normalises
its input with the stage-2 statistics and uses dropout, so a resume that got the RNG wrong shows.
"""

import time
from dataclasses import dataclass

from torch import nn

from pylib.config import take_facts
from pylib.contracts import Countermeasure, LossModel
from pylib.nn.norm import FeatureNorm


@dataclass
class TinyConfig:
    input: str = "mel"  # batch key of the input feature
    dim: int | None = None  # its dim: taken from the data spec
    hidden: int = 8  # width of the one hidden layer
    dropout: float = 0.2  # so the RNG state matters on resume
    infer_sleep: float = 0.0  # seconds per inference batch: gives a kill test time to strike


class TinyReg(nn.Module, LossModel, Countermeasure):
    Config = TinyConfig

    def __init__(self, cfg, spec=None):
        super().__init__()
        self.cfg = cfg
        take_facts(cfg, spec, (("dim", "input", "dim"),), {"dim": 20})
        self.norm = nn.ModuleDict({cfg.input: FeatureNorm(cfg.dim)})
        self.net = nn.Sequential(
            nn.Linear(cfg.dim, cfg.hidden), nn.Tanh(), nn.Dropout(cfg.dropout), nn.Linear(cfg.hidden, 1)
        )

    def param_groups(self):
        return {"model": list(self.parameters())}

    def _out(self, batch):
        x = self.norm[self.cfg.input](batch[self.cfg.input])  # (B, N, D)
        return self.net(x)[..., 0]  # (B, N)

    def forward(self, batch, step=0):
        x = batch[self.cfg.input]
        mask = batch[f"{self.cfg.input}_mask"].float()  # (B, N)
        target = x.mean(-1)  # (B, N): predict the frame's mean log-mel
        err = (self._out(batch) - target) ** 2 * mask
        loss = err.sum() / mask.sum().clamp(min=1)
        return loss, {}

    def infer(self, batch):
        if self.cfg.infer_sleep:
            time.sleep(self.cfg.infer_sleep)
        y = self._out(batch)
        n = batch[f"{self.cfg.input}_len"]
        return [float(y[b, : max(int(n[b]), 1)].mean()) for b in range(len(n))]


CATALOGUE = {"tiny_reg": TinyReg}  # what `--import tests.reliability.tiny_model` adds to the models
