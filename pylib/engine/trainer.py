"""The training loop: one function, readable top to bottom (after nanoGPT).

Per iteration: lr is set by the schedules -> for each active group (in the model's order) forward,
NaN guard, backward, and at the end of the accumulation window clip + step -> log -> checkpoint.
Per epoch: validation -> best/early stop -> epoch schedules -> checkpoints -> log line.
The model is only called through `forward(batch, group, step, cache)`; no model-specific branches.
"""

import contextlib
import math
import os
import time
import uuid
from pathlib import Path

import torch

from pylib.engine import checkpoint as ckpt
from pylib.engine import ddp
from pylib.engine.report import Reporter
from pylib.engine.schedule import LRSchedule
from pylib.errors import ConfigError, UserError


class NonFiniteLossError(UserError):
    """Too many non-finite losses in a row."""


def make_optimizer(params, c):
    if c.type == "adam":
        return torch.optim.Adam(params, lr=c.lr, betas=tuple(c.betas), eps=c.eps, weight_decay=c.weight_decay)
    if c.type == "adamw":
        return torch.optim.AdamW(
            params, lr=c.lr, betas=tuple(c.betas), eps=c.eps, weight_decay=c.weight_decay
        )
    return torch.optim.SGD(params, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay)


def to_device(batch, device):
    if device.type == "cpu":
        return batch
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}


def _loss_key(groups, g):
    return "loss" if len(groups) == 1 else f"{g}_loss"


@torch.no_grad()
def evaluate(model, loader, groups, step, device):
    """Mean stats of every group over `loader`, eval mode, no grad. model: the unwrapped module."""
    was_training = model.training
    model.eval()
    sums, counts = {}, {}
    for batch in loader:
        batch = to_device(batch, device)
        cache = {"active": set(groups)}
        for g in groups:
            loss, stats = model(batch, g, step, cache)
            if loss is not None:
                stats = {**stats, _loss_key(groups, g): float(loss)}
            for k, v in stats.items():
                sums[k] = sums.get(k, 0.0) + float(v)
                counts[k] = counts.get(k, 0) + 1
    model.train(was_training)
    return {k: sums[k] / counts[k] for k in sums}


def _better(value, best, mode):
    return best is None or (value < best if mode == "min" else value > best)


def train(model, train_loader, dev_loader, optim_cfgs, tcfg, exp_dir, config, device, dist=None, resume=None):
    """Train `model` (already on `device`, norm stats filled). Returns the final state summary.

    optim_cfgs: {group: OptimConfig} in the model's group order; tcfg: TrainConfig; config: the
    resolved config dict stored in every checkpoint; resume: a loaded checkpoint dict or None.
    """
    dist = dist or ddp.Dist()
    exp_dir = Path(exp_dir)
    groups = list(model.param_groups())
    params = model.param_groups()
    opts = {g: make_optimizer(params[g], optim_cfgs[g]) for g in groups}
    accum = tcfg.grad_accum
    n_batches = len(train_loader)
    if n_batches == 0:
        raise UserError("the training set yields no batches (empty list, or every utterance filtered out)")
    steps_per_epoch = math.ceil(n_batches / accum)
    total_steps = tcfg.max_steps or tcfg.epochs * steps_per_epoch
    scheds = {
        g: LRSchedule(
            opts[g],
            optim_cfgs[g].lr,
            optim_cfgs[g].scheduler,
            total_steps=total_steps,
            total_epochs=tcfg.epochs,
            best_metric=tcfg.best_metric,
            best_mode=tcfg.best_mode,
        )
        for g in groups
    }
    use_amp = tcfg.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    st = {
        "epoch": 0,
        "step": 0,
        "batch_in_epoch": 0,
        "best": None,
        "best_epoch": None,
        "bad_epochs": 0,
        "nan_in_row": 0,
        "nan_total": 0,
        "history": [],
        "sums": {},
        "counts": {},
        "stopped": None,
        "run_id": uuid.uuid4().hex,  # carried by every checkpoint of this run
        "own_epochs": [],  # epoch checkpoints this run wrote: the only ones pruning may remove
    }
    per_rank = None
    if resume is not None:
        model.load_state_dict(resume["model"])
        for g in groups:
            opts[g].load_state_dict(resume["optimizers"][g])
            scheds[g].load_state_dict(resume["schedules"][g])
        scaler.load_state_dict(resume["scaler"])
        st.update({k: resume.get(k, st[k]) for k in st})
        per_rank = resume["per_rank"]
        per_rank = per_rank[dist.rank] if len(per_rank) == dist.world_size else per_rank[0]
    multi = len(groups) > 1
    find_unused = tcfg.find_unused_parameters if tcfg.find_unused_parameters is not None else multi
    net = ddp.wrap(model, dist, device, find_unused)
    group_params = {g: [p for p in params[g] if p.requires_grad] for g in groups}
    sampler = train_loader.batch_sampler
    rep = Reporter(exp_dir, enabled=dist.is_main, tensorboard=tcfg.tensorboard, curves=tcfg.curves)
    if dist.is_main:  # temp files of saves cut short by a kill
        for p in exp_dir.glob(".checkpoint_*"):
            p.unlink(missing_ok=True)
    kill_at = int(os.environ.get("NNSP_DEBUG_KILL_AT_STEP", -1))  # test hook: SIGKILL after this step

    def save(names):
        state = {
            "model": model.state_dict(),
            "optimizers": {g: o.state_dict() for g, o in opts.items()},
            "schedules": {g: s.state_dict() for g, s in scheds.items()},
            "scaler": scaler.state_dict(),
            "per_rank": ddp.all_gather_objects(
                dist, {"rng": ckpt.get_rng_state(), "sampler": sampler.state_dict()}
            ),
            "world_size": dist.world_size,
            "config": config,
            **st,
        }
        if dist.is_main:
            for name in names:
                ckpt.save_checkpoint(exp_dir / name, state)

    def end_of_epoch(t0, partial):
        sums = ddp.all_reduce_sums(dist, st["sums"], device)
        counts = ddp.all_reduce_sums(dist, st["counts"], device)
        train_stats = {k: sums[k] / counts[k] for k in sums if counts[k]}
        if not train_stats and st["nan_in_row"] > 0:
            raise NonFiniteLossError(
                f"epoch {st['epoch'] + 1}: every training step had a non-finite loss ({st['nan_in_row']} "
                f"in a row), so the epoch has no statistics. The learning rate is too high for this model "
                f"({', '.join(f'optim.{g}.lr = {optim_cfgs[g].lr:g}' for g in groups)}) or the data holds "
                f"NaN/inf values: lower the learning rate (or set optim.<group>.grad_clip) and check the "
                f"features (pylib.bin.validate_data_dir). Last good checkpoint: {exp_dir / ckpt.LAST}"
            )
        dev_stats = evaluate(model, dev_loader, groups, st["step"], device) if dev_loader is not None else {}
        metrics = dev_stats or train_stats
        value = metrics.get(tcfg.best_metric)
        if value is not None and not math.isfinite(value):
            where = "dev set" if dev_stats else "training set"
            raise NonFiniteLossError(
                f"epoch {st['epoch'] + 1}: {tcfg.best_metric} on the {where} is {value} (non-finite): the "
                f"weights diverged or the {where} holds NaN/inf values; lower the learning rate "
                f"({', '.join(f'optim.{g}.lr = {optim_cfgs[g].lr:g}' for g in groups)}) and check the "
                f"features (pylib.bin.validate_data_dir). Last good checkpoint: {exp_dir / ckpt.LAST}"
            )
        if tcfg.best_metric not in metrics:
            raise ConfigError(
                f"train.best_metric: {tcfg.best_metric!r} is not among the stats "
                f"{sorted(metrics)}; set train.best_metric to one of them"
            )
        improved = _better(metrics[tcfg.best_metric], st["best"], tcfg.best_mode)
        if improved:
            st["best"], st["best_epoch"], st["bad_epochs"] = metrics[tcfg.best_metric], st["epoch"] + 1, 0
        else:
            st["bad_epochs"] += 1
        row = {
            "epoch": st["epoch"] + 1,
            "time": time.time() - t0,
            "train": train_stats,
            "dev": dev_stats,
            "lr": {g: s.lr() for g, s in scheds.items()},
            "best": improved,
            "step": st["step"],
        }
        st["history"].append(row)
        names = [ckpt.BEST] if improved else []
        if not partial:
            for s in scheds.values():
                s.epoch_end(metrics)
            st.update(epoch=st["epoch"] + 1, batch_in_epoch=0, sums={}, counts={})
            if tcfg.keep_last_epochs > 0:
                names.insert(0, ckpt.epoch_name(st["epoch"]))
                st["own_epochs"] = [e for e in st["own_epochs"] if e != st["epoch"]] + [st["epoch"]]
        if tcfg.patience is not None and st["bad_epochs"] >= tcfg.patience:
            st["stopped"] = f"early stop: no better {tcfg.best_metric} for {tcfg.patience} epochs"
        # best before last: a kill in between redoes the epoch from the previous last and rewrites best
        save(names + [ckpt.LAST])
        if dist.is_main and tcfg.keep_last_epochs > 0:
            st["own_epochs"] = ckpt.prune_epoch_checkpoints(exp_dir, tcfg.keep_last_epochs, st["own_epochs"])
        rep.end_epoch(row, st["history"])

    def done():
        return (
            st["stopped"] is not None
            or (tcfg.max_steps is not None and st["step"] >= tcfg.max_steps)
            or (tcfg.epochs is not None and st["epoch"] >= tcfg.epochs)
        )

    if done():
        rep.message(
            f"nothing to do: the run in {exp_dir} is finished (epoch {st['epoch']}, step {st['step']})"
        )
    model.train()
    while not done():
        t0 = time.time()
        sampler.set_epoch(st["epoch"])
        if st["batch_in_epoch"] > 0:
            sampler.load_state_dict(per_rank["sampler"])
        # iter() draws a seed from the torch RNG: restore it before iter() at an epoch start and after
        # it mid-epoch, so both match the uninterrupted run
        mid = st["batch_in_epoch"] > 0
        if per_rank is not None and not mid:
            ckpt.set_rng_state(per_rank["rng"])
        # a checkpoint taken after the epoch's last batch (killed before the epoch-end one) has nothing left
        it = iter(train_loader) if st["batch_in_epoch"] < n_batches else iter(())
        if per_rank is not None and mid:
            ckpt.set_rng_state(per_rank["rng"])
        per_rank = None
        rep.start_epoch(st["epoch"], n_batches, st["batch_in_epoch"])
        micro, bad, skipped, stepped, shown = 0, set(), set(), False, {}
        for batch in it:
            st["batch_in_epoch"] += 1
            step = st["step"]
            last_micro = micro + 1 == accum or st["batch_in_epoch"] == n_batches
            active = [g for g in groups if step >= optim_cfgs[g].start_step]
            if micro == 0:
                for g in active:
                    opts[g].zero_grad(set_to_none=True)
            batch = to_device(batch, device)
            cache = {"active": set(active)}
            sync = contextlib.nullcontext() if last_micro or not dist.enabled else net.no_sync()
            with sync:
                for g in active:
                    with torch.autocast(device.type, dtype=torch.float16, enabled=use_amp):
                        loss, stats = net(batch, g, step, cache)
                    if loss is None:
                        skipped.add(g)
                        continue
                    lv = float(loss.detach())
                    if not ddp.all_true(dist, math.isfinite(lv), device):
                        bad.add(g)
                        continue
                    stats = {**stats, _loss_key(groups, g): lv}
                    shown.update(stats)
                    for k, v in stats.items():
                        st["sums"][k] = st["sums"].get(k, 0.0) + float(v)
                        st["counts"][k] = st["counts"].get(k, 0) + 1
                    if multi:  # keep only this group's gradients (a generator loss reaches D's weights)
                        others = [p for h in groups if h != g for p in group_params[h]]
                        kept = [p.grad for p in others]
                        for p in others:
                            p.grad = None
                    scaler.scale(loss / accum).backward()
                    if multi:
                        for p, gr in zip(others, kept):
                            p.grad = gr
                    if last_micro and g not in bad and g not in skipped:
                        if optim_cfgs[g].grad_clip is not None:
                            scaler.unscale_(opts[g])
                            torch.nn.utils.clip_grad_norm_(group_params[g], optim_cfgs[g].grad_clip)
                        scaler.step(opts[g])
                        scheds[g].step()
                        stepped = True
            micro += 1
            if not last_micro:
                continue
            micro = 0
            if stepped:
                scaler.update()
            st["step"] += 1
            if bad:
                st["nan_in_row"] += 1
                st["nan_total"] += 1
                if st["nan_in_row"] >= tcfg.max_nan_in_row:
                    raise NonFiniteLossError(
                        f"{st['nan_in_row']} non-finite losses in a row (groups {sorted(bad)}) at step "
                        f"{st['step']}; lower the learning rate, set optim.<group>.grad_clip, check the data "
                        f"(or raise train.max_nan_in_row). Last good checkpoint: {exp_dir / ckpt.LAST}"
                    )
                rep.message(
                    f"step {st['step']}: non-finite loss in {sorted(bad)}, step skipped "
                    f"({st['nan_total']} so far)"
                )
            else:
                st["nan_in_row"] = 0
            rep.batch(
                st["step"],
                shown,
                {g: s.lr() for g, s in scheds.items()},
                st["step"] % max(tcfg.log_every, 1) == 0,
            )
            bad, skipped, stepped, shown = set(), set(), False, {}
            if tcfg.max_steps is not None and st["step"] >= tcfg.max_steps:
                break
            if tcfg.save_every_steps and st["step"] % tcfg.save_every_steps == 0:
                save([ckpt.LAST])
            if st["step"] == kill_at:
                os.kill(os.getpid(), 9)
        end_of_epoch(t0, partial=st["batch_in_epoch"] < n_batches)
        if st["step"] == kill_at:
            os.kill(os.getpid(), 9)
    if st["stopped"]:
        rep.message(st["stopped"])
    rep.message(
        f"finished: epoch {st['epoch']}, step {st['step']}, best {tcfg.best_metric} = "
        f"{st['best']} (epoch {st['best_epoch']}), {st['nan_total']} non-finite steps skipped"
    )
    rep.close()
    ddp.barrier(dist)
    return {k: st[k] for k in ("epoch", "step", "best", "best_epoch", "stopped", "nan_total", "history")}
