"""Length-bucketing batch sampler: shuffled per epoch from a seed, DDP shards, exact mid-epoch resume.

It yields lists of `(index, epoch)` so the dataset draws each crop from (seed, epoch, index): the
data of a batch depends only on the seed and the position, never on workers or restarts.
"""

import numpy as np


class BucketBatchSampler:
    """Batches of item indices, similar lengths together.

    lengths: (N,) samples per item. Either a fixed `batch_size`, or `max_samples`: the most padded
    samples (batch size x longest item) per batch (an item longer than the budget is a batch alone).
    shuffle=True: each epoch permutes the items from (seed, epoch), sorts them by length inside
    buckets of `bucket_batches` batches, and shuffles the batches. shuffle=False: longest first,
    the same order every epoch. The batch list is padded by repeating its start to a multiple of
    `world_size`, and rank r takes batches r, r + world_size, ...: disjoint shards of equal count.
    balanced=True (needs `labels`, 1/0): each epoch uses every item of the smaller class and as
    many items, drawn afresh, of the larger one.
    """

    def __init__(
        self,
        lengths,
        *,
        batch_size=8,
        max_samples=None,
        shuffle=True,
        seed=0,
        rank=0,
        world_size=1,
        bucket_batches=50,
        labels=None,
        balanced=False,
    ):
        self.lengths = np.asarray(lengths, dtype=np.int64)
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in 0..{world_size - 1}")
        if balanced and labels is None:
            raise ValueError("balanced sampling needs labels (corpora with labels: true)")
        self.batch_size = int(batch_size)
        self.max_samples = max_samples
        self.shuffle = shuffle
        self.seed = int(seed)
        self.rank, self.world_size = int(rank), int(world_size)
        self.bucket_batches = max(1, int(bucket_batches))
        self.labels = None if labels is None else np.asarray(labels)
        self.balanced = balanced
        self.epoch = 0
        self.position = 0  # batches of this epoch already delivered on this rank
        self.counted_outside = False  # set by the loader, which counts batches as it delivers them
        self._cache = None

    def set_epoch(self, epoch):
        """Start `epoch`; a position restored by load_state_dict for this same epoch is kept."""
        if int(epoch) != self.epoch:
            self.epoch = int(epoch)
            self.position = 0

    def state_dict(self):
        return {
            "epoch": self.epoch,
            "position": self.position,
            "seed": self.seed,
            "num_items": int(len(self.lengths)),
            "world_size": self.world_size,
        }

    def load_state_dict(self, state):
        if (
            state.get("num_items", len(self.lengths)) != len(self.lengths)
            or state.get("world_size", self.world_size) != self.world_size
        ):
            raise ValueError(
                f"sampler state is for {state.get('num_items')} items on {state.get('world_size')} ranks, "
                f"this run has {len(self.lengths)} items on {self.world_size}: the data or the number of "
                f"processes changed, so the exact position cannot be restored"
            )
        self.epoch = int(state["epoch"])
        self.position = int(state["position"])
        self.seed = int(state.get("seed", self.seed))

    def _order(self):
        n = len(self.lengths)
        if not self.shuffle:
            return np.argsort(-self.lengths, kind="stable")
        rng = np.random.default_rng([self.seed, self.epoch])
        if self.balanced:
            pos = np.flatnonzero(self.labels == 1)
            neg = np.flatnonzero(self.labels != 1)
            k = min(len(pos), len(neg))
            idx = np.concatenate([rng.permutation(pos)[:k], rng.permutation(neg)[:k]]) if k else np.arange(n)
        else:
            idx = np.arange(n)
        return rng.permutation(idx)

    def _batches(self, order):
        out, cur, longest = [], [], 0
        for i in order:
            n = int(self.lengths[i])
            if self.max_samples is None:
                full = len(cur) == self.batch_size
            else:
                full = bool(cur) and (len(cur) + 1) * max(longest, n) > self.max_samples
            if full:
                out.append(cur)
                cur, longest = [], 0
            cur.append(int(i))
            longest = max(longest, n)
        if cur:
            out.append(cur)
        return out

    def epoch_batches(self):
        """This rank's batches of the current epoch (lists of item indices)."""
        if self._cache is not None and self._cache[0] == self.epoch:
            return self._cache[1]
        order = self._order()
        if self.shuffle:
            per = (self.batch_size if self.max_samples is None else 8) * self.bucket_batches
            batches = []
            for s in range(0, len(order), per):
                chunk = order[s : s + per]
                batches += self._batches(chunk[np.argsort(-self.lengths[chunk], kind="stable")])
            rng = np.random.default_rng([self.seed, self.epoch, 1])
            batches = [batches[i] for i in rng.permutation(len(batches))]
        else:
            batches = self._batches(order)
        if batches and len(batches) % self.world_size:
            pad = self.world_size - len(batches) % self.world_size
            batches = batches + [batches[i % len(batches)] for i in range(pad)]
        mine = batches[self.rank :: self.world_size]
        self._cache = (self.epoch, mine)
        return mine

    def __len__(self):
        return len(self.epoch_batches())

    def __iter__(self):
        batches = self.epoch_batches()
        if self.position >= len(batches):
            self.position = 0  # the epoch was finished: a new pass starts it again
        epoch = self.epoch
        for b in batches[self.position :]:
            if not self.counted_outside:
                self.position += 1
            yield [(i, epoch) for i in b]
