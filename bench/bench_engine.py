"""Engine overhead: steps/s of pylib.engine.trainer.train vs a bare hand-written loop.

Same tiny MLP, same in-memory batches through the same DataLoader, CPU, one epoch each; the engine
does everything it always does (NaN guard, stats, schedules, tqdm, one checkpoint at the epoch end).
"""

import dataclasses
import tempfile
import time

import torch
from torch import nn

from pylib.contracts import Countermeasure, LossModel
from pylib.engine.config import OptimConfig, TrainConfig
from pylib.engine.trainer import train

STEPS, B, N, D, H = 300, 16, 32, 64, 256


class Batches:
    """Batch sampler with the loader protocol over STEPS fixed batches."""

    def __init__(self):
        self.epoch = self.position = 0

    def set_epoch(self, e):
        self.epoch, self.position = e, 0

    def state_dict(self):
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, d):
        self.epoch, self.position = d["epoch"], d["position"]

    def __len__(self):
        return STEPS

    def __iter__(self):
        for i in range(self.position, STEPS):
            self.position = i + 1
            yield [i]


def make_loader():
    g = torch.Generator().manual_seed(0)
    data = [(torch.randn(B, N, D, generator=g), torch.randn(B, N, 1, generator=g)) for _ in range(STEPS)]
    return torch.utils.data.DataLoader(
        data, batch_sampler=Batches(), collate_fn=lambda items: {"x": items[0][0], "y": items[0][1]}
    )


class MLP(nn.Module, LossModel, Countermeasure):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(D, H), nn.ReLU(), nn.Linear(H, H), nn.ReLU(), nn.Linear(H, 1))

    def param_groups(self):
        return {"model": list(self.parameters())}

    def forward(self, batch, step=0):
        loss = ((self.net(batch["x"]) - batch["y"]) ** 2).mean()
        return loss, {}

    def infer(self, batch):
        return [float(v) for v in self.net(batch["x"]).mean(dim=(1, 2))]


def run_engine(loader, exp_dir):
    torch.manual_seed(0)
    model = MLP()
    tcfg = TrainConfig(
        epochs=1,
        tensorboard=False,
        curves=False,
        save_every_steps=0,
        keep_last_epochs=0,
        log_every=50,
        device="cpu",
    )
    t0 = time.perf_counter()
    train(
        model,
        loader,
        None,
        {"model": dataclasses.replace(OptimConfig(), lr=1e-3)},
        tcfg,
        exp_dir,
        {},
        torch.device("cpu"),
    )
    return STEPS / (time.perf_counter() - t0)


def run_bare(loader):
    torch.manual_seed(0)
    model = MLP()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    t0 = time.perf_counter()
    loader.batch_sampler.set_epoch(0)
    for batch in loader:
        loss, _ = model(batch, 0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss.item()  # any real loop looks at its loss
    return STEPS / (time.perf_counter() - t0)


def main():
    torch.set_num_threads(1)
    loader = make_loader()
    with tempfile.TemporaryDirectory() as tmp:
        run_bare(loader), run_engine(loader, f"{tmp}/warm")  # imports, allocator, first-call costs
        eng, bare = [], []
        for i in range(3):  # interleaved so load from other processes hits both alike
            bare.append(run_bare(loader))
            eng.append(run_engine(loader, f"{tmp}/e{i}"))
    e, b = max(eng), max(bare)
    print(f"MLP {D}-{H}-{H}-1, batch {B}x{N}, {STEPS} steps, CPU 1 thread (best of 3)")
    print(f"engine   : {e:8.1f} steps/s")
    print(f"bare loop: {b:8.1f} steps/s")
    print(f"ratio engine/bare: {e / b:.3f} (target >= 0.9)")


if __name__ == "__main__":
    main()
