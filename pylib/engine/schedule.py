"""Learning-rate schedules as one small stateful class (warm-up x shape x plateau factor).

Written here rather than chaining torch schedulers so that every type steps the same way, works
with or without a dev set, and its whole state is a few numbers in the checkpoint.
"""

import math


class LRSchedule:
    """Sets `optimizer`'s lr from the counters; call `step()` after each optimizer step,
    `epoch_end(metrics)` after each epoch (metrics: the dev stats, or the train stats without dev)."""

    def __init__(
        self,
        optimizer,
        base_lr,
        cfg,
        total_steps=None,
        total_epochs=None,
        best_metric="loss",
        best_mode="min",
    ):
        self.opt = optimizer
        self.base_lr = base_lr
        self.cfg = cfg
        total = cfg.total
        if total is None:
            total = total_steps if cfg.interval == "step" else total_epochs
        self.total = total
        self.metric = cfg.metric or best_metric
        self.mode = cfg.mode or best_mode
        self.steps = 0
        self.epochs = 0
        self.plateau_factor = 1.0
        self.plateau_best = None
        self.plateau_bad = 0
        self.apply()

    def factor(self):
        c = self.cfg
        n = self.steps if c.interval == "step" else self.epochs
        f = 1.0
        if c.warmup_steps > 0 and self.steps < c.warmup_steps:
            f *= (self.steps + 1) / (c.warmup_steps + 1)
        if c.type == "step":
            f *= c.gamma ** (n // max(c.step_size, 1))
        elif c.type == "exponential":
            f *= c.gamma**n
        elif c.type == "cosine":
            if not self.total:
                raise ValueError("cosine schedule needs scheduler.total, train.max_steps or train.epochs")
            warm = c.warmup_steps if c.interval == "step" else 0
            p = min(max(n - warm, 0) / max(self.total - warm, 1), 1.0)
            f *= c.min_lr_ratio + (1 - c.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * p))
        return f * self.plateau_factor

    def lr(self):
        return self.base_lr * self.factor()

    def apply(self):
        lr = self.lr()
        for g in self.opt.param_groups:
            g["lr"] = lr

    def step(self):
        self.steps += 1
        self.apply()

    def epoch_end(self, metrics):
        self.epochs += 1
        c = self.cfg
        if c.type == "plateau":
            value = metrics.get(self.metric)
            if value is None:
                raise KeyError(self.metric)
            better = self.plateau_best is None or (
                value < self.plateau_best * (1 - c.threshold * math.copysign(1, self.plateau_best))
                if self.mode == "min"
                else value > self.plateau_best * (1 + c.threshold * math.copysign(1, self.plateau_best))
            )
            if better:
                self.plateau_best, self.plateau_bad = value, 0
            else:
                self.plateau_bad += 1
                if self.plateau_bad > c.patience:
                    floor = c.min_lr / self.base_lr if self.base_lr > 0 else 0.0
                    self.plateau_factor = max(self.plateau_factor * c.factor, floor)
                    self.plateau_bad = 0
        self.apply()

    def state_dict(self):
        return {
            k: getattr(self, k) for k in ("steps", "epochs", "plateau_factor", "plateau_best", "plateau_bad")
        }

    def load_state_dict(self, d):
        for k, v in d.items():
            setattr(self, k, v)
        self.apply()
