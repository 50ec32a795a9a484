import numpy as np
import pytest
import torch

from pylib.data import BucketBatchSampler, build_loader
from tests.conftest import rng
from tests.data.synth import make_set, make_spec

LENS = rng(5).integers(100, 5000, size=103)


def flat(batches):
    return [i for b in batches for i in b]


def test_deterministic_per_seed_and_epoch():
    a = BucketBatchSampler(LENS, batch_size=4, seed=1)
    b = BucketBatchSampler(LENS, batch_size=4, seed=1)
    assert a.epoch_batches() == b.epoch_batches()
    assert sorted(flat(a.epoch_batches())) == list(range(len(LENS)))
    first = a.epoch_batches()
    a.set_epoch(1)
    assert a.epoch_batches() != first
    assert BucketBatchSampler(LENS, batch_size=4, seed=2).epoch_batches() != first
    assert [len(b) for b in first].count(4) == len(first) - 1


def test_buckets_reduce_padding():
    s = BucketBatchSampler(LENS, batch_size=4, seed=0, bucket_batches=100)
    pad = sum(len(b) * LENS[b].max() - LENS[b].sum() for b in s.epoch_batches())
    order = np.random.default_rng(0).permutation(len(LENS))
    naive = sum(4 * LENS[c].max() - LENS[c].sum() for c in np.array_split(order, len(order) // 4))
    assert pad < naive / 3


@pytest.mark.parametrize("world", [1, 2, 3, 4])
def test_ddp_shards_are_disjoint_and_equal(world):
    shards = [BucketBatchSampler(LENS, batch_size=5, seed=7, rank=r, world_size=world) for r in range(world)]
    for s in shards:
        s.set_epoch(3)
    lens = {len(s) for s in shards}
    assert len(lens) == 1
    all_batches = [b for s in shards for b in s.epoch_batches()]
    one = BucketBatchSampler(LENS, batch_size=5, seed=7)
    one.set_epoch(3)
    full = one.epoch_batches()
    pad = len(all_batches) - len(full)
    assert 0 <= pad < world
    # apart from the padding batches (repeats), every item is on exactly one rank
    assert sorted(flat(all_batches)) == sorted(flat(full) + flat(full[:pad]))


def test_max_samples_budget():
    s = BucketBatchSampler(LENS, max_samples=12000, seed=0)
    for b in s.epoch_batches():
        assert len(b) == 1 or len(b) * LENS[b].max() <= 12000
    assert sorted(flat(s.epoch_batches())) == list(range(len(LENS)))
    assert BucketBatchSampler([20000, 5], max_samples=1000, shuffle=False).epoch_batches() == [[0], [1]]


def test_eval_order_is_fixed_longest_first():
    s = BucketBatchSampler(LENS, batch_size=4, shuffle=False)
    b0 = s.epoch_batches()
    s.set_epoch(5)
    assert s.epoch_batches() == b0 and list(LENS[flat(b0)]) == sorted(LENS, reverse=True)


def test_balanced_epochs():
    labels = np.array([1] * 10 + [0] * 93)
    s = BucketBatchSampler(LENS, batch_size=4, seed=0, labels=labels, balanced=True)
    idx = flat(s.epoch_batches())
    assert len(idx) == 20 and labels[idx].sum() == 10
    s.set_epoch(1)
    assert set(flat(s.epoch_batches())) != set(idx)


def test_standalone_sampler_resume():
    def fresh(seed=9):
        s = BucketBatchSampler(LENS, batch_size=4, seed=seed)
        s.set_epoch(2)
        return s

    reference = list(fresh())
    s = fresh()
    it = iter(s)
    head = [next(it) for _ in range(5)]
    state = s.state_dict()
    assert state["position"] == 5
    t = BucketBatchSampler(LENS, batch_size=4, seed=0)
    t.load_state_dict(state)
    t.set_epoch(2)  # the trainer's loop calls it again on resume: the position is kept
    assert len(t) == len(reference)
    assert head + list(t) == reference
    with pytest.raises(ValueError, match="cannot be restored"):
        BucketBatchSampler(LENS[:50]).load_state_dict(state)


def _run(loader, epochs, stop=None):
    """Batches as comparable tuples; stop=(epoch, k): break after k batches of that epoch."""
    out = []
    for epoch in epochs:
        loader.batch_sampler.set_epoch(epoch)
        for k, b in enumerate(loader):
            out.append((epoch, tuple(b["utt_id"]), tuple(b["start"].tolist()), float(b["wav"].sum())))
            if stop == (epoch, k + 1):
                return out
    return out


@pytest.mark.parametrize("workers", [0, 2])
def test_loader_resumes_mid_epoch_exactly(tmp_path, workers):
    lengths = {f"u{i:02d}": int(n) for i, n in enumerate(rng(2).integers(1000, 6000, size=14))}
    make_set(tmp_path, "train", lengths)
    spec = make_spec(batch_size=3, min_len=0)

    def new():
        return build_loader(spec, tmp_path, "train", train=True, seed=11, num_workers=workers)

    reference = _run(new(), [0, 1])
    loader = new()
    assert len(loader) == 5
    head = _run(loader, [0, 1], stop=(1, 2))
    state = loader.batch_sampler.state_dict()
    assert state["epoch"] == 1 and state["position"] == 2  # delivered, not prefetched
    resumed = new()
    resumed.batch_sampler.load_state_dict(state)
    tail = _run(resumed, [1])
    assert head + tail == reference
    # after a finished epoch, another pass of the same epoch gives it whole again
    assert _run(resumed, [1]) == reference[5:]
    torch.manual_seed(0)  # the loader must not depend on torch's global RNG either
    assert _run(new(), [0, 1]) == reference
