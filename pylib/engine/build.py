"""From a recipe config to a ready model and training run (what `pylib.bin.train` calls).

The model class comes from the `model_class` function the caller hands in (name -> class; the
entry points pass the model catalogue's lookup): the engine never imports model code itself.
"""

import copy
import logging
import random
from pathlib import Path

import numpy as np
import torch

from pylib.config import apply_overrides, check_sections, from_dict, load_config, save_yaml, to_dict
from pylib.contracts import check_model_class
from pylib.engine import checkpoint as ckpt
from pylib.engine import ddp
from pylib.engine.config import parse_optim, parse_train
from pylib.engine.data import get_data_factory, spec_for
from pylib.engine.lock import LOCK_NAME, lock_dir
from pylib.errors import ConfigError, UserError
from pylib.io.atomic import move_aside

log = logging.getLogger("nnsp.train")


def plain(obj):
    """Tuples -> lists, recursively (yaml.safe_dump and torch weights_only loading want plain types)."""
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    return obj


def build_model(config, spec, model_class):
    """config: the (resolved or raw) config dict -> (model, resolved `model:` section).

    model_class: name -> model class (e.g. `get_model_class` of the model catalogue); an unknown
    name is its ConfigError, which lists the known ones."""
    section = dict(config.get("model") or {})
    if "name" not in section:
        raise ConfigError("model: the section needs a `name` (a model of the catalogue, models/catalogue.py)")
    name = section.pop("name")
    cls = model_class(name)
    check_model_class(cls, name)  # a missing contract method is an error here, naming it
    mcfg = from_dict(cls.Config, section, where="model")
    return cls(mcfg, spec), {"name": name, **plain(to_dict(mcfg))}


def resolve_config(raw, model_class, overrides=(), seed=None, device=None, data_dir=None):
    """Apply overrides and check every engine section; returns (config dict, spec, model, optim, train).

    model_class: name -> model class, as for `build_model`. The data facts are derived from the
    features section and the dumps under data_dir (when given) and stored in the resolved data and
    model sections."""
    cfg = apply_overrides(copy.deepcopy(raw), overrides)
    if overrides:
        check_sections(cfg, "--set")
    for k in ("data", "model"):
        if k not in cfg:
            raise ConfigError(f"the config has no `{k}:` section (sections: {', '.join(cfg) or 'none'})")
    train_sec = dict(cfg.get("train") or {})
    if seed is not None:
        train_sec["seed"] = seed
    if device is not None:
        train_sec["device"] = device
    tcfg = parse_train(train_sec)
    spec, data = spec_for(cfg, data_dir)
    torch.manual_seed(tcfg.seed)
    model, msec = build_model(cfg, spec, model_class)
    optim = parse_optim(cfg.get("optim"), model.param_groups().keys())
    resolved = {
        **cfg,
        "data": plain(data),
        "model": msec,
        "optim": {g: plain(to_dict(c)) for g, c in optim.items()},
        "train": plain(to_dict(tcfg)),
    }
    return resolved, spec, model, optim, tcfg


def load_weights(model, path, allow_partial):
    """--init-from: weights of a checkpoint or one-file model; mismatches need allow_partial."""
    state = ckpt.read_plain(path, "checkpoint or model.pt", "; check --init-from")
    if isinstance(state, dict) and state.get("format") == ckpt.FORMAT:
        state = state["model"]
    elif isinstance(state, dict) and state.get("format") == "nnsp-model":
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise UserError(
            f"{path}: holds no model weights (not an nnsp checkpoint or model.pt); check --init-from"
        )
    own = model.state_dict()
    shaped = {k: v for k, v in state.items() if k not in own or own[k].shape == v.shape}
    wrong_shape = sorted(set(state) - set(shaped))
    missing = sorted(set(own) - set(shaped))
    unexpected = sorted(set(shaped) - set(own))
    if (missing or unexpected or wrong_shape) and not allow_partial:
        raise UserError(
            f"{path}: weights do not match the model: missing {missing[:10]}, unexpected "
            f"{unexpected[:10]}, wrong shape {wrong_shape[:10]}; "
            "pass --allow-partial to load the matching ones"
        )
    model.load_state_dict({k: v for k, v in shaped.items() if k in own}, strict=False)
    return missing, unexpected, wrong_shape


def check_resume_weights(model, state, path, model_section):
    """A checkpoint whose weights do not fit the model (another model config) is a UserError."""
    own, theirs = model.state_dict(), state.get("model") or {}
    names = set(own) | set(theirs)
    bad = sorted(k for k in names if k not in own or k not in theirs or own[k].shape != theirs[k].shape)
    if not bad:
        return
    old = (state.get("config") or {}).get("model") or {}
    keys = sorted(k for k in set(old) | set(model_section) if old.get(k) != model_section.get(k))
    raise UserError(
        f"{path}: the checkpoint was made with another model config (differing keys: "
        f"{', '.join('model.' + k for k in keys) or 'none'}; mismatching weights: {', '.join(bad[:5])}); "
        "continue it with the config it was trained with (config.yaml next to it), or start afresh "
        "with another --exp-dir or --resume none (--init-from loads only the matching weights)"
    )


# keys a continued run may change: how long it goes on, where and how it reports (not what it learns)
RESUME_MAY_CHANGE = {
    "train.epochs",
    "train.max_steps",
    "train.patience",
    "train.device",
    "train.log_every",
    "train.tensorboard",
    "train.curves",
    "train.save_every_steps",
    "train.keep_last_epochs",
    "train.max_nan_in_row",
    "data.num_workers",
}
KEPT_IN_PLACE = {"log", LOCK_NAME}  # the launchers' logs (being written) and the lock stay put


def config_diff(old, new, prefix=""):
    """Dotted keys whose values differ between two nested config dicts. A key only one side has is
    no difference: a field added to (or removed from) a config class since the run was started."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in old:
            if k in new:
                out += config_diff(old[k], new[k], f"{prefix}{k}.")
        return out
    return [] if plain(old) == plain(new) else [prefix.rstrip(".")]


def check_resume_config(state, resolved, path):
    """Continuing a run with another config (outside RESUME_MAY_CHANGE) is a UserError listing the keys."""
    old = state.get("config")
    if not isinstance(old, dict):
        return
    keys = [k for k in config_diff(old, resolved) if k not in RESUME_MAY_CHANGE]
    if keys:
        def show(cfg, key):
            node = cfg
            for part in key.split("."):
                node = node.get(part) if isinstance(node, dict) else None
            return node

        shown = "; ".join(f"{k}: {show(old, k)!r} -> {show(resolved, k)!r}" for k in keys[:10])
        raise UserError(
            f"{path}: this run was made with another config (differing keys: {shown}"
            f"{' ...' if len(keys) > 10 else ''}); continue it with the config it was trained with "
            "(config.yaml next to it), or start afresh with another --exp-dir, or with --resume none "
            "--overwrite (which moves the old run aside)"
        )


def previous_run(exp_dir):
    """The entries of exp_dir that belong to an earlier run (all but the launchers' log/ and the lock)."""
    if not exp_dir.is_dir():
        return []
    return sorted(p for p in exp_dir.iterdir() if p.name not in KEPT_IN_PLACE)


def move_run_aside(exp_dir):
    """Move the previous run's files into the first free <exp_dir>.N; returns that folder."""
    return move_aside(exp_dir, previous_run(exp_dir))


def run_training(
    conf,
    data_dir,
    exp_dir,
    overrides=(),
    resume="auto",
    init_from=None,
    allow_partial=False,
    device="auto",
    seed=None,
    print_config=False,
    overwrite=False,
    *,
    model_class,
):
    """The whole of stage 3. Returns the trainer's summary (None with print_config).

    model_class: name -> model class (the entry point hands in the model catalogue's lookup).

    The exp dir is locked for the run (one writer). --resume none in an exp dir holding an earlier
    run is refused unless `overwrite`, which moves the earlier run to <exp_dir>.N (never deletes it)."""
    d = ddp.from_env()
    exp_dir = Path(exp_dir)
    raw = load_config(conf)
    resolved, spec, model, optim, tcfg = resolve_config(
        raw, model_class, overrides, seed=seed, device=None if device == "auto" else device,
        data_dir=data_dir,
    )
    if print_config:
        import yaml

        print(yaml.safe_dump(resolved, sort_keys=False, default_flow_style=None))
        return None
    if overwrite and resume not in ("none", "auto"):
        raise UserError("--overwrite starts a new run: it goes with --resume none, not with --resume PATH")
    if overwrite:
        resume = "none"
    if exp_dir.exists() and not exp_dir.is_dir():
        raise UserError(f"{exp_dir}: --exp-dir is a file, not a folder; pass a folder path")
    with lock_dir(exp_dir, "training", enabled=d.is_main):
        return _run_locked(
            d, resolved, spec, model, optim, tcfg, data_dir, exp_dir, resume, init_from, allow_partial,
            overwrite,
        )


def _run_locked(d, resolved, spec, model, optim, tcfg, data_dir, exp_dir, resume, init_from,
                allow_partial, overwrite):
    from pylib.engine.trainer import train

    if d.is_main and resume == "none" and previous_run(exp_dir):
        if not overwrite:
            names = ", ".join(p.name for p in previous_run(exp_dir)[:5])
            raise UserError(
                f"{exp_dir}: holds an earlier run ({names}); --resume none would mix it with a new one. "
                "Pass --overwrite to move it aside to "
                f"{exp_dir}.N and start afresh, use another --exp-dir, or drop --resume none to continue it"
            )
        dest = move_run_aside(exp_dir)
        log.info("moved the earlier run in %s to %s", exp_dir, dest)
    dev = ddp.pick_device(tcfg.device, d)
    ddp.init(d, dev)
    try:
        if tcfg.deterministic:
            torch.use_deterministic_algorithms(True)
        random.seed(tcfg.seed + d.rank)
        np.random.seed(tcfg.seed + d.rank)
        fac = get_data_factory()
        train_loader, dev_loader = fac.train_loaders(spec, data_dir, tcfg.seed, d.rank, d.world_size)
        norm = getattr(model, "norm", None)
        if norm is not None and len(norm):
            stats = fac.feature_stats(spec, data_dir)
            for name, mod in norm.items():
                if name not in stats:
                    raise UserError(
                        f"no normalisation statistics for feature {name!r} under {data_dir}: give it "
                        "norm: true in the data section and run stage 2 (lists and statistics)"
                    )
                mod.set_stats(*stats[name])
        state, source = None, None
        if resume not in ("auto", "none"):
            source = Path(resume)
        elif resume == "auto" and (exp_dir / ckpt.LAST).is_file():
            source = exp_dir / ckpt.LAST
        if source is not None:
            state = ckpt.load_checkpoint(source)
            check_resume_weights(model, state, source, resolved["model"])
            check_resume_config(state, resolved, source)
            if source.parent.resolve() != exp_dir.resolve():
                state["own_epochs"] = []  # its epoch checkpoints live elsewhere: none here is this run's
        if state is None and init_from:
            missing, unexpected, shape = load_weights(model, init_from, allow_partial)
            if d.is_main and (missing or unexpected or shape):
                log.warning(
                    "--init-from %s: missing %s, unexpected %s, wrong shape %s",
                    init_from,
                    missing,
                    unexpected,
                    shape,
                )
        if d.is_main:
            if state is not None:
                log.info("resuming from epoch %d, step %d", state["epoch"], state["step"])
            save_yaml(exp_dir / "config.yaml", resolved)
        torch.manual_seed(tcfg.seed + d.rank)
        model.to(dev)
        return train(
            model, train_loader, dev_loader, optim, tcfg, exp_dir, resolved, dev, dist=d, resume=state
        )
    finally:
        ddp.shutdown()
