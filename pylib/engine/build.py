"""From a recipe config to a ready model and training run (what `pylib.bin.train` calls).

The model class comes from `pylib.registry.MODELS`; the caller imports `pylib.models` (or any
module that registers models) first: the engine never imports model code itself.
"""

import copy
import logging
import random
from pathlib import Path

import numpy as np
import torch

from pylib.config import apply_overrides, from_dict, load_yaml, save_yaml, to_dict
from pylib.engine import checkpoint as ckpt
from pylib.engine import ddp
from pylib.engine.config import parse_optim, parse_train
from pylib.engine.data import get_data_factory
from pylib.errors import ConfigError, UserError
from pylib.registry import MODELS

log = logging.getLogger("nnsp.train")


def plain(obj):
    """Tuples -> lists, recursively (yaml.safe_dump and torch weights_only loading want plain types)."""
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    return obj


def build_model(config, spec):
    """config: the (resolved or raw) config dict -> (model, resolved `model:` section)."""
    section = dict(config.get("model") or {})
    if "name" not in section:
        raise ConfigError(
            f"model: the section needs a `name` (one of: {', '.join(MODELS.names()) or 'none'})"
        )
    name = section.pop("name")
    cls = MODELS.get(name)
    mcfg = from_dict(cls.Config, section, where="model")
    return cls(mcfg, spec), {"name": name, **plain(to_dict(mcfg))}


def resolve_config(raw, overrides=(), seed=None, device=None):
    """Apply overrides and check every engine section; returns (config dict, spec, model, optim, train)."""
    cfg = apply_overrides(copy.deepcopy(raw), overrides)
    for k in ("data", "model"):
        if k not in cfg:
            raise ConfigError(f"the config has no `{k}:` section (sections: {', '.join(cfg) or 'none'})")
    train_sec = dict(cfg.get("train") or {})
    if seed is not None:
        train_sec["seed"] = seed
    if device is not None:
        train_sec["device"] = device
    tcfg = parse_train(train_sec)
    spec = get_data_factory().spec(cfg["data"])
    torch.manual_seed(tcfg.seed)
    model, msec = build_model(cfg, spec)
    optim = parse_optim(cfg.get("optim"), model.param_groups().keys())
    resolved = {
        **cfg,
        "model": msec,
        "optim": {g: plain(to_dict(c)) for g, c in optim.items()},
        "train": plain(to_dict(tcfg)),
    }
    return resolved, spec, model, optim, tcfg


def load_weights(model, path, allow_partial):
    """--init-from: weights of a checkpoint or one-file model; mismatches need allow_partial."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # missing, truncated or foreign: name the file
        raise UserError(
            f"{path}: not a readable checkpoint or model.pt ({type(e).__name__}: {e}); check --init-from"
        ) from None
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
):
    """The whole of stage 3. Returns the trainer's summary (None with print_config)."""
    from pylib.engine.trainer import train

    d = ddp.from_env()
    exp_dir = Path(exp_dir)
    raw = load_yaml(conf)
    resolved, spec, model, optim, tcfg = resolve_config(
        raw, overrides, seed=seed, device=None if device == "auto" else device
    )
    if print_config:
        import yaml

        print(yaml.safe_dump(resolved, sort_keys=False, default_flow_style=None))
        return None
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
        state = None
        if resume not in ("auto", "none"):
            state = ckpt.load_checkpoint(resume)
            check_resume_weights(model, state, resume, resolved["model"])
        elif resume == "auto" and (exp_dir / ckpt.LAST).is_file():
            state = ckpt.load_checkpoint(exp_dir / ckpt.LAST)
            check_resume_weights(model, state, exp_dir / ckpt.LAST, resolved["model"])
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
