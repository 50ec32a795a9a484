"""DistributedDataParallel plumbing: torchrun environment, process group, wrap, rank-0 helpers.

`torchrun --nproc_per_node N` (or multi-node) sets RANK/WORLD_SIZE/LOCAL_RANK; without them
everything here is a no-op and the run is a single process.
"""

import dataclasses
import os

import torch
import torch.distributed as dist


@dataclasses.dataclass
class Dist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self):
        return self.world_size > 1

    @property
    def is_main(self):
        return self.rank == 0


def from_env():
    """Read the torchrun variables (absent -> single process)."""
    return Dist(
        rank=int(os.environ.get("RANK", 0)),
        world_size=int(os.environ.get("WORLD_SIZE", 1)),
        local_rank=int(os.environ.get("LOCAL_RANK", 0)),
    )


def pick_device(want, d):
    """'auto' | 'cpu' | 'cuda' -> torch.device; under DDP each process takes cuda:LOCAL_RANK."""
    if want == "cuda" and not torch.cuda.is_available():
        from pylib.errors import UserError

        raise UserError("--device cuda: CUDA is not available on this machine; use --device cpu or auto")
    if want == "cpu" or (want == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    torch.cuda.set_device(d.local_rank)
    return torch.device("cuda", d.local_rank)


def init(d, device):
    """Start the process group (nccl on CUDA, gloo on CPU) when running under torchrun."""
    if d.enabled and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")


def shutdown():
    if dist.is_initialized():
        dist.destroy_process_group()


def wrap(model, d, device, find_unused, ignore=()):
    """DDP-wrap `model` when distributed; the engine calls the wrapper and saves `unwrap(model)`.
    ignore: names of parameters this wrapper leaves alone (another wrapper synchronises them)."""
    if not d.enabled:
        return model
    ddp_cls = torch.nn.parallel.DistributedDataParallel
    if ignore:
        ddp_cls._set_params_and_buffers_to_ignore_for_model(model, list(ignore))
    ids = [device.index] if device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(
        model, device_ids=ids, find_unused_parameters=find_unused
    )


def unwrap(model):
    return model.module if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model


def barrier(d):
    if d.enabled:
        dist.barrier()


def all_reduce_sums(d, sums, device):
    """Sum a {key: float} dict over ranks (keys must match on every rank). Returns a new dict."""
    if not d.enabled or not sums:
        return dict(sums)
    keys = sorted(sums)
    t = torch.tensor([float(sums[k]) for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return dict(zip(keys, t.tolist()))


def all_gather_objects(d, obj):
    """[obj of rank 0, obj of rank 1, ...]; [obj] when single-process."""
    if not d.enabled:
        return [obj]
    out = [None] * d.world_size
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(d, obj):
    """Rank 0's `obj` on every rank."""
    if not d.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def all_true(d, flag, device):
    """True on every rank iff `flag` is true on every rank (so all ranks skip a NaN step together)."""
    if not d.enabled:
        return bool(flag)
    t = torch.tensor([0.0 if flag else 1.0], device=device)
    dist.all_reduce(t)
    return t.item() == 0.0
