"""The training loop (after nanoGPT), in short steps that read top to bottom.

`train()` builds a `Trainer` and runs it. Per epoch (`Trainer.run_epoch`): optimizer steps over the
training batches, then `end_of_epoch` (validation, best/early stop, epoch schedules, which
checkpoints to write and prune, the log line). Per optimizer step (`Trainer.optimizer_step`): zero
the gradients, then `train.grad_accum` micro-batches (DDP synchronises only on the last), each
running every active group's loss and backward in the model's declared order; after the last
micro-batch each group's gradients are clipped and its optimizer and schedule step.

Everything the run must remember across a kill is in `TrainState` (its fields are checkpoint keys).
The model is used only through its declared contract (pylib.contracts): a `LossModel`'s
`forward(batch, step)`, or a `GanModel`'s `generate`, `discriminator_loss`, `generator_loss` in its
`update_order`; no model-specific branches. `callbacks` (an object with any of `on_step_end(state)`
and `on_epoch_end(state)`) are called after each optimizer step (and its checkpoint) and after each
epoch's checkpoints: tests use them to stop a run at an exact point.
"""

import contextlib
import dataclasses
import functools
import itertools
import math
import time
import uuid
from pathlib import Path

import torch

from pylib.contracts import GanModel, check_model
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


@dataclasses.dataclass
class TrainState:
    """Where the run is; every field is a key of the checkpoint (so a killed run resumes exactly)."""

    epoch: int = 0  # completed epochs
    step: int = 0  # optimizer steps taken
    batch_in_epoch: int = 0  # training batches of the current epoch consumed
    best: float | None = None  # best value of train.best_metric so far
    best_epoch: int | None = None
    bad_epochs: int = 0  # epochs since the best one (early stopping)
    nan_in_row: int = 0  # consecutive steps skipped for a non-finite loss
    nan_total: int = 0
    history: list = dataclasses.field(default_factory=list)  # one row per epoch (the log line)
    sums: dict = dataclasses.field(default_factory=dict)  # running sums of this epoch's train stats
    counts: dict = dataclasses.field(default_factory=dict)
    stopped: str | None = None  # why the run stopped early
    run_id: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex)  # in every checkpoint
    own_epochs: list = dataclasses.field(default_factory=list)  # epoch checkpoints this run wrote

    def to_checkpoint(self):
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_checkpoint(cls, state):
        """The fields a checkpoint holds (an older one may lack some: they keep their defaults)."""
        return cls(**{f.name: state[f.name] for f in dataclasses.fields(cls) if f.name in state})

    def add_stats(self, stats):
        for k, v in stats.items():
            self.sums[k] = self.sums.get(k, 0.0) + float(v)
            self.counts[k] = self.counts.get(k, 0) + 1

    def summary(self):
        keys = ("epoch", "step", "best", "best_epoch", "stopped", "nan_total", "history")
        return {k: getattr(self, k) for k in keys}


class _Updates(torch.nn.Module):
    """What DDP wraps: every loss is computed inside this module's forward, so DDP sees each
    update's graph (find its unused parameters, synchronise its gradients)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, loss_fn, *args):
        return loss_fn(*args)


def _direct(loss_fn, *args):
    return loss_fn(*args)


def group_losses(model, batch, step, active=None, nets=None, amp=contextlib.nullcontext):
    """(groups to step, loss, stats, stat key) of each update of one batch, in the declared order.

    active: the groups being trained (default: all); nets: {group: call(loss_fn, *args)}, what runs
    a loss method (in training the DDP wrapper of the group; default: a plain call). The caller runs
    backward (and, at the end of an accumulation window, the optimizer step) on each update before
    asking for the next: a GAN's generator loss then sees the updated discriminator."""
    active = list(model.param_groups()) if active is None else list(active)
    nets = nets or dict.fromkeys(active, _direct)
    if not isinstance(model, GanModel):
        if active:
            with amp():
                loss, stats = nets[active[0]](model, batch, step)
            yield list(active), loss, stats, "loss"
        return
    with amp():
        fake = model.generate(batch)  # once per batch, shared by both losses
    for g in model.update_order:
        if g not in active:
            continue
        with amp():
            if g == "discriminator":
                loss, stats = nets[g](model.discriminator_loss, batch, step, fake)
            else:
                loss, stats = nets[g](model.generator_loss, batch, step, fake, "discriminator" in active)
        yield [g], loss, stats, f"{g}_loss"


@torch.no_grad()
def evaluate(model, loader, groups, step, device):
    """Mean stats of every group over `loader`, eval mode, no grad. model: the unwrapped module."""
    was_training = model.training
    model.eval()
    sums, counts = {}, {}
    for batch in loader:
        batch = to_device(batch, device)
        for _, loss, stats, key in group_losses(model, batch, step, groups):
            if loss is not None:
                stats = {**stats, key: float(loss)}
            for k, v in stats.items():
                sums[k] = sums.get(k, 0.0) + float(v)
                counts[k] = counts.get(k, 0) + 1
    model.train(was_training)
    return {k: sums[k] / counts[k] for k in sums}


def _better(value, best, mode):
    return best is None or (value < best if mode == "min" else value > best)


@dataclasses.dataclass
class _Window:
    """What one optimizer step (one accumulation window) saw."""

    bad: set = dataclasses.field(default_factory=set)  # groups with a non-finite loss
    skipped: set = dataclasses.field(default_factory=set)  # groups whose loss was None
    stepped: bool = False  # some optimizer stepped (the GradScaler then updates)
    shown: dict = dataclasses.field(default_factory=dict)  # the stats logged for this step


def train(model, train_loader, dev_loader, optim_cfgs, tcfg, exp_dir, config, device, dist=None, resume=None,
          callbacks=None):
    """Train `model` (already on `device`, norm stats filled). Returns the final state summary.

    optim_cfgs: {group: OptimConfig} in the model's group order; tcfg: TrainConfig; config: the
    resolved config dict stored in every checkpoint; resume: a loaded checkpoint dict or None;
    callbacks: None or an object with any of on_step_end(state), on_epoch_end(state).
    """
    trainer = Trainer(model, train_loader, dev_loader, optim_cfgs, tcfg, exp_dir, config, device, dist,
                      callbacks)
    if resume is not None:
        trainer.restore(resume)
    return trainer.run()


class Trainer:
    """One training run: the model, its optimizers and schedules, and the TrainState."""

    def __init__(self, model, train_loader, dev_loader, optim_cfgs, tcfg, exp_dir, config, device, dist=None,
                 callbacks=None):
        check_model(model)
        self.model, self.train_loader, self.dev_loader = model, train_loader, dev_loader
        self.optim_cfgs, self.tcfg, self.config, self.device = optim_cfgs, tcfg, config, device
        self.exp_dir, self.dist, self.callbacks = Path(exp_dir), dist or ddp.Dist(), callbacks
        self.n_batches = len(train_loader)
        if self.n_batches == 0:
            raise UserError(
                "the training set yields no batches (empty list, or every utterance filtered out)"
            )
        params = model.param_groups()
        self.groups = list(params)
        self.group_params = {g: [p for p in params[g] if p.requires_grad] for g in self.groups}
        self._build_optimizers(params)
        self.use_amp = tcfg.amp and device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.state = TrainState()
        self.per_rank = None  # this rank's RNG and sampler state of the checkpoint resumed from
        self.nets = self._wrap()
        self.sampler = train_loader.batch_sampler
        self.rep = Reporter(self.exp_dir, enabled=self.dist.is_main, tensorboard=tcfg.tensorboard,
                            curves=tcfg.curves)
        if self.dist.is_main:  # temp files of saves cut short by a kill
            for p in self.exp_dir.glob(".checkpoint_*"):
                p.unlink(missing_ok=True)

    def _wrap(self):
        """{group: DDP-wrapped _Updates}: one wrapper for a LossModel; for a GanModel one per group,
        each synchronising only its group's parameters (the updates alternate, and a generator loss
        may reach the discriminator's weights, whose gradients it discards)."""
        tcfg, model = self.tcfg, self.model
        multi = len(self.groups) > 1
        find_unused = tcfg.find_unused_parameters if tcfg.find_unused_parameters is not None else multi
        if not isinstance(model, GanModel) or not self.dist.enabled:
            net = ddp.wrap(_Updates(model), self.dist, self.device, find_unused)
            return dict.fromkeys(self.groups, net)
        nets = {}
        for g in self.groups:
            mine = {id(p) for p in self.group_params[g]}
            ignore = [f"model.{n}" for n, p in model.named_parameters() if id(p) not in mine]
            nets[g] = ddp.wrap(_Updates(model), self.dist, self.device, find_unused, ignore=ignore)
        return nets

    def _build_optimizers(self, params):
        tcfg, cfgs = self.tcfg, self.optim_cfgs
        self.opts = {g: make_optimizer(params[g], cfgs[g]) for g in self.groups}
        total_steps = tcfg.max_steps or tcfg.epochs * math.ceil(self.n_batches / tcfg.grad_accum)
        self.scheds = {
            g: LRSchedule(self.opts[g], cfgs[g].lr, cfgs[g].scheduler, total_steps=total_steps,
                          total_epochs=tcfg.epochs, best_metric=tcfg.best_metric, best_mode=tcfg.best_mode)
            for g in self.groups
        }

    def restore(self, resume):
        """Weights, optimizers, schedules, scaler, TrainState and this rank's RNG/sampler state."""
        self.model.load_state_dict(resume["model"])
        for g in self.groups:
            self.opts[g].load_state_dict(resume["optimizers"][g])
            self.scheds[g].load_state_dict(resume["schedules"][g])
        self.scaler.load_state_dict(resume["scaler"])
        self.state = TrainState.from_checkpoint(resume)
        per_rank = resume["per_rank"]
        self.per_rank = per_rank[self.dist.rank] if len(per_rank) == self.dist.world_size else per_rank[0]

    def done(self):
        st, tcfg = self.state, self.tcfg
        return (
            st.stopped is not None
            or (tcfg.max_steps is not None and st.step >= tcfg.max_steps)
            or (tcfg.epochs is not None and st.epoch >= tcfg.epochs)
        )

    def run(self):
        st = self.state
        if self.done():
            self.rep.message(
                f"nothing to do: the run in {self.exp_dir} is finished (epoch {st.epoch}, step {st.step})"
            )
        self.model.train()
        while not self.done():
            self.run_epoch()
        if st.stopped:
            self.rep.message(st.stopped)
        self.rep.message(
            f"finished: epoch {st.epoch}, step {st.step}, best {self.tcfg.best_metric} = "
            f"{st.best} (epoch {st.best_epoch}), {st.nan_total} non-finite steps skipped"
        )
        self.rep.close()
        ddp.barrier(self.dist)
        return st.summary()

    def _callback(self, name):
        fn = getattr(self.callbacks, name, None)
        if fn is not None:
            fn(self.state)

    def _epoch_batches(self):
        """The iterator over this epoch's remaining training batches, sampler and RNG as resumed."""
        st, per_rank = self.state, self.per_rank
        self.per_rank = None
        self.sampler.set_epoch(st.epoch)
        mid = st.batch_in_epoch > 0
        if mid:
            self.sampler.load_state_dict(per_rank["sampler"])
        # iter() draws a seed from the torch RNG: restore it before iter() at an epoch start and after
        # it mid-epoch, so both match the uninterrupted run
        if per_rank is not None and not mid:
            ckpt.set_rng_state(per_rank["rng"])
        # a checkpoint taken after the epoch's last batch (killed before the epoch-end one) has nothing left
        it = iter(self.train_loader) if st.batch_in_epoch < self.n_batches else iter(())
        if per_rank is not None and mid:
            ckpt.set_rng_state(per_rank["rng"])
        return it

    def run_epoch(self):
        """Optimizer steps over the epoch's batches (or up to train.max_steps), then end_of_epoch."""
        st, tcfg = self.state, self.tcfg
        t0 = time.time()
        it = self._epoch_batches()
        self.rep.start_epoch(st.epoch, self.n_batches, st.batch_in_epoch)
        while st.batch_in_epoch < self.n_batches:
            window = min(tcfg.grad_accum, self.n_batches - st.batch_in_epoch)
            if not self.optimizer_step(itertools.islice(it, window), window):
                break  # the loader ran out before its length (no step taken)
            if tcfg.max_steps is not None and st.step >= tcfg.max_steps:
                break
            if tcfg.save_every_steps and st.step % tcfg.save_every_steps == 0:
                self.save([ckpt.LAST])
            self._callback("on_step_end")
        self.end_of_epoch(t0, partial=st.batch_in_epoch < self.n_batches)
        self._callback("on_epoch_end")

    def optimizer_step(self, micro_batches, window):
        """One optimizer step over `window` micro-batches: zero grads, forward/backward each (DDP
        synchronises only the last), then clip + step + schedule per group. False: the loader ended
        before the window did (nothing stepped)."""
        st = self.state
        step = st.step
        active = [g for g in self.groups if step >= self.optim_cfgs[g].start_step]
        for g in self.groups:
            self.opts[g].zero_grad(set_to_none=True)
        win = _Window()
        seen = 0
        for seen, batch in enumerate(micro_batches, start=1):
            st.batch_in_epoch += 1
            last = seen == window
            with contextlib.ExitStack() as sync:
                if not last and self.dist.enabled:  # accumulate locally; synchronise on the last
                    for net in {id(n): n for n in self.nets.values()}.values():
                        sync.enter_context(net.no_sync())
                self._micro_step(to_device(batch, self.device), step, active, last, win)
        if seen < window:
            return False
        if win.stepped:
            self.scaler.update()
        st.step += 1
        self._count_nan(win.bad)
        self.rep.batch(st.step, win.shown, {g: s.lr() for g, s in self.scheds.items()},
                       st.step % max(self.tcfg.log_every, 1) == 0)
        return True

    def _micro_step(self, batch, step, active, last, win):
        """Every active update of one micro-batch: loss, NaN guard, backward (and at the end of the
        window the optimizer step of each group whose losses were all finite)."""
        amp = functools.partial(torch.autocast, self.device.type, dtype=torch.float16, enabled=self.use_amp)
        for groups, loss, stats, key in group_losses(self.model, batch, step, active, self.nets, amp):
            if loss is None:
                win.skipped.update(groups)
                continue
            value = float(loss.detach())
            if not ddp.all_true(self.dist, math.isfinite(value), self.device):
                win.bad.update(groups)
                continue
            stats = {**stats, key: value}
            win.shown.update(stats)
            self.state.add_stats(stats)
            self._backward(loss, groups)
            if last:
                for g in groups:
                    if g not in win.bad and g not in win.skipped:
                        self._step_group(g)
                        win.stepped = True

    def _backward(self, loss, groups):
        """Backward of `loss` keeping only `groups`' gradients (a generator loss reaches D's weights)."""
        others = [p for h in self.groups if h not in groups for p in self.group_params[h]]
        kept = [p.grad for p in others]
        for p in others:
            p.grad = None
        self.scaler.scale(loss / self.tcfg.grad_accum).backward()
        for p, grad in zip(others, kept):
            p.grad = grad

    def _step_group(self, g):
        clip = self.optim_cfgs[g].grad_clip
        if clip is not None:
            self.scaler.unscale_(self.opts[g])
            torch.nn.utils.clip_grad_norm_(self.group_params[g], clip)
        self.scaler.step(self.opts[g])
        self.scheds[g].step()

    def _lr_advice(self):
        return ", ".join(f"optim.{g}.lr = {self.optim_cfgs[g].lr:g}" for g in self.groups)

    def _count_nan(self, bad):
        st = self.state
        if not bad:
            st.nan_in_row = 0
            return
        st.nan_in_row += 1
        st.nan_total += 1
        if st.nan_in_row >= self.tcfg.max_nan_in_row:
            raise NonFiniteLossError(
                f"{st.nan_in_row} non-finite losses in a row (groups {sorted(bad)}) at step "
                f"{st.step}; lower the learning rate, set optim.<group>.grad_clip, check the data "
                f"(or raise train.max_nan_in_row). Last good checkpoint: {self.exp_dir / ckpt.LAST}"
            )
        self.rep.message(
            f"step {st.step}: non-finite loss in {sorted(bad)}, step skipped ({st.nan_total} so far)"
        )

    def epoch_metrics(self):
        """(train stats over all ranks, dev stats): the metrics the best/early-stop policy reads."""
        st, dist = self.state, self.dist
        sums = ddp.all_reduce_sums(dist, st.sums, self.device)
        counts = ddp.all_reduce_sums(dist, st.counts, self.device)
        train_stats = {k: sums[k] / counts[k] for k in sums if counts[k]}
        if not train_stats and st.nan_in_row > 0:
            raise NonFiniteLossError(
                f"epoch {st.epoch + 1}: every training step had a non-finite loss ({st.nan_in_row} "
                f"in a row), so the epoch has no statistics. The learning rate is too high for this model "
                f"({self._lr_advice()}) or the data holds "
                f"NaN/inf values: lower the learning rate (or set optim.<group>.grad_clip) and check the "
                f"features (pylib.bin.validate_data_dir). Last good checkpoint: {self.exp_dir / ckpt.LAST}"
            )
        dev_stats = {}
        if self.dev_loader is not None:
            dev_stats = evaluate(self.model, self.dev_loader, self.groups, st.step, self.device)
        return train_stats, dev_stats

    def _best_value(self, metrics, on_dev):
        name = self.tcfg.best_metric
        value = metrics.get(name)
        if value is not None and not math.isfinite(value):
            where = "dev set" if on_dev else "training set"
            raise NonFiniteLossError(
                f"epoch {self.state.epoch + 1}: {name} on the {where} is {value} (non-finite): the "
                f"weights diverged or the {where} holds NaN/inf values; lower the learning rate "
                f"({self._lr_advice()}) and check the "
                f"features (pylib.bin.validate_data_dir). Last good checkpoint: {self.exp_dir / ckpt.LAST}"
            )
        if name not in metrics:
            raise ConfigError(
                f"train.best_metric: {name!r} is not among the stats {sorted(metrics)}; set "
                "train.best_metric to one of them"
            )
        return value

    def end_of_epoch(self, t0, partial):
        """Validation, best / early stop, epoch schedules, checkpoints (best before last) and pruning.

        partial: the epoch was cut short by train.max_steps (it is not counted as done)."""
        st, tcfg = self.state, self.tcfg
        train_stats, dev_stats = self.epoch_metrics()
        metrics = dev_stats or train_stats
        value = self._best_value(metrics, bool(dev_stats))
        improved = _better(value, st.best, tcfg.best_mode)
        if improved:
            st.best, st.best_epoch, st.bad_epochs = value, st.epoch + 1, 0
        else:
            st.bad_epochs += 1
        row = {"epoch": st.epoch + 1, "time": time.time() - t0, "train": train_stats, "dev": dev_stats,
               "lr": {g: s.lr() for g, s in self.scheds.items()}, "best": improved, "step": st.step}
        st.history.append(row)
        names = [ckpt.BEST] if improved else []
        if not partial:
            for s in self.scheds.values():
                s.epoch_end(metrics)
            st.epoch, st.batch_in_epoch, st.sums, st.counts = st.epoch + 1, 0, {}, {}
            if tcfg.keep_last_epochs > 0:
                names.insert(0, ckpt.epoch_name(st.epoch))
                st.own_epochs = [e for e in st.own_epochs if e != st.epoch] + [st.epoch]
        if tcfg.patience is not None and st.bad_epochs >= tcfg.patience:
            st.stopped = f"early stop: no better {tcfg.best_metric} for {tcfg.patience} epochs"
        # best before last: a kill in between redoes the epoch from the previous last and rewrites best
        self.save(names + [ckpt.LAST])
        if self.dist.is_main and tcfg.keep_last_epochs > 0:
            st.own_epochs = ckpt.prune_epoch_checkpoints(self.exp_dir, tcfg.keep_last_epochs, st.own_epochs)
        self.rep.end_epoch(row, st.history)

    def save(self, names):
        """Write the full training state to each of `names` in the exp dir (rank 0; all ranks gather)."""
        state = {
            "model": self.model.state_dict(),
            "optimizers": {g: o.state_dict() for g, o in self.opts.items()},
            "schedules": {g: s.state_dict() for g, s in self.scheds.items()},
            "scaler": self.scaler.state_dict(),
            "per_rank": ddp.all_gather_objects(
                self.dist, {"rng": ckpt.get_rng_state(), "sampler": self.sampler.state_dict()}
            ),
            "world_size": self.dist.world_size,
            "config": self.config,
            **self.state.to_checkpoint(),
        }
        if self.dist.is_main:
            for name in names:
                ckpt.save_checkpoint(self.exp_dir / name, state)
