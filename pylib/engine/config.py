"""The `optim:` and `train:` sections of a recipe yaml, as dataclasses.

`optim` holds one OptimConfig per parameter group the model declares (`model`, or `discriminator`
and `generator` for a GAN); `train` is one TrainConfig.
"""

import dataclasses
import math
from typing import Literal

from pylib.config import from_dict
from pylib.errors import ConfigError


@dataclasses.dataclass
class SchedulerConfig:
    """Learning-rate schedule of one group; lr = base lr * warm-up * shape * plateau factor."""

    type: Literal["none", "step", "exponential", "plateau", "cosine"] = "none"
    interval: Literal["step", "epoch"] = (
        "step"  # what step/exponential/cosine count: optimizer steps or epochs
    )
    warmup_steps: int = 0  # linear warm-up from 0 over this many optimizer steps (any type)
    step_size: int = 1000  # step: multiply by gamma every step_size intervals
    gamma: float = 0.5  # step / exponential decay factor (exponential: per interval)
    total: int | None = None  # cosine: intervals to decay over; null = from train.max_steps or epochs
    min_lr_ratio: float = 0.0  # cosine: floor as a fraction of the base lr
    factor: float = 0.5  # plateau: multiply by this when the metric stalls
    patience: int = 2  # plateau: epochs without improvement before reducing
    threshold: float = 1e-4  # plateau: relative improvement that counts
    min_lr: float = 0.0  # plateau: lr floor
    metric: str | None = (
        None  # plateau: stats key to watch (dev set if any, else train); null = train.best_metric
    )
    mode: Literal["min", "max"] | None = None  # plateau: null = train.best_mode


@dataclasses.dataclass
class OptimConfig:
    """Optimizer of one parameter group."""

    type: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)  # adam/adamw
    eps: float = 1e-8  # adam/adamw
    weight_decay: float = 0.0
    momentum: float = 0.0  # sgd
    grad_clip: float | None = None  # max global grad norm of the group; null = no clipping
    start_step: int = 0  # the group steps from this global step on (GAN discriminator start)
    scheduler: SchedulerConfig = dataclasses.field(default_factory=SchedulerConfig)


@dataclasses.dataclass
class TrainConfig:
    """The loop: length, accumulation, checkpoints, best model, early stop, NaN guard."""

    epochs: int | None = 10  # null = until max_steps
    max_steps: int | None = None  # optimizer steps (iterations); null = epochs only
    grad_accum: int = 1  # micro-batches per optimizer step
    amp: bool = False  # float16 autocast + grad scaling on CUDA (ignored on CPU)
    tensorboard: bool = True  # write tensorboard events under <exp-dir>/tensorboard
    curves: bool = True  # redraw <exp-dir>/curves.png after every epoch
    log_every: int = 50  # steps between tensorboard points and tqdm postfix updates
    save_every_steps: int = 1000  # checkpoint_last.pt every N steps (also at every epoch end); 0 = epoch ends
    keep_last_epochs: int = 2  # checkpoint_epoch<N>.pt kept; 0 = none
    best_metric: str = "loss"  # stats key that picks checkpoint_best.pt (dev set, else train)
    best_mode: Literal["min", "max"] = "min"
    patience: int | None = None  # epochs without a better best_metric before stopping; null = never
    max_nan_in_row: int = 10  # non-finite losses in a row before the run stops with an error
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    find_unused_parameters: bool | None = None  # DDP; null = true when the model has several groups
    deterministic: bool = False  # torch.use_deterministic_algorithms (bit-exact resume on GPU)


SEED_LIMIT = 2**32  # numpy's seeds are 32-bit


def _at_least(cfg, where, key, low, nullable=False):
    value = getattr(cfg, key)
    if value is None and nullable:
        return
    if value is None or value < low:
        raise ConfigError(f"{where}.{key}: must be >= {low}{' or null' if nullable else ''}, got {value!r}")


def _positive_finite(value, key, what):
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(
            f"{key}: the {what} must be a finite number > 0, got {value!r}; set it to e.g. 1e-3"
        )


def parse_train(section):
    cfg = from_dict(TrainConfig, section, where="train")
    if cfg.epochs is None and cfg.max_steps is None:
        raise ConfigError("train: set epochs, max_steps or both (both are null, the run would not end)")
    for key in ("epochs", "max_steps", "patience"):
        _at_least(cfg, "train", key, 1, nullable=True)
    for key in ("grad_accum", "log_every", "max_nan_in_row"):
        _at_least(cfg, "train", key, 1)
    for key in ("save_every_steps", "keep_last_epochs"):
        _at_least(cfg, "train", key, 0)
    if not 0 <= cfg.seed < SEED_LIMIT:
        raise ConfigError(f"train.seed: must be in [0, 2^32), got {cfg.seed}; set train.seed (or --seed)")
    return cfg


def _check_optim(c, where):
    _positive_finite(c.lr, f"{where}.lr", "learning rate")
    for key in ("eps", "weight_decay", "momentum"):
        value = getattr(c, key)
        if not math.isfinite(value) or value < 0:
            raise ConfigError(f"{where}.{key}: must be a finite number >= 0, got {value!r}")
    if not all(math.isfinite(b) and 0 <= b < 1 for b in c.betas):
        raise ConfigError(f"{where}.betas: both must be in [0, 1), got {list(c.betas)}")
    if c.grad_clip is not None:
        _positive_finite(c.grad_clip, f"{where}.grad_clip", "gradient norm limit")
    _at_least(c, where, "start_step", 0)
    s, sw = c.scheduler, f"{where}.scheduler"
    for key in ("warmup_steps",):
        _at_least(s, sw, key, 0)
    for key in ("step_size", "total"):
        _at_least(s, sw, key, 1, nullable=key == "total")
    for key in ("gamma", "factor"):
        _positive_finite(getattr(s, key), f"{sw}.{key}", "decay factor")
    for key in ("min_lr_ratio", "min_lr", "threshold"):
        value = getattr(s, key)
        if not math.isfinite(value) or value < 0:
            raise ConfigError(f"{sw}.{key}: must be a finite number >= 0, got {value!r}")
    _at_least(s, sw, "patience", 0)
    return c


def parse_optim(section, groups):
    """`optim:` mapping -> {group: OptimConfig} in the model's group order.

    A single-group model may write the group's keys directly under `optim:` (no `model:` level).
    """
    if section is not None and not isinstance(section, dict):
        raise ConfigError(f"optim: expected a mapping of parameter groups to settings, got {section!r}")
    section = dict(section or {})
    groups = list(groups)
    if len(groups) == 1 and groups[0] not in section and section:
        section = {groups[0]: section}
    missing = [g for g in groups if g not in section]
    extra = [g for g in section if g not in groups]
    if missing or extra:
        raise ConfigError(
            f"optim: the model has parameter groups {groups}; the config has {list(section)}. "
            "Write one optim entry per group (e.g. optim: {generator: {...}, discriminator: {...}})"
        )
    out = {}
    for g in groups:
        out[g] = _check_optim(from_dict(OptimConfig, section[g], where=f"optim.{g}"), f"optim.{g}")
    return out
