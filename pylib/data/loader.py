"""build_loader: dataset + bucketing batch sampler + collate as one torch DataLoader."""

from torch.utils.data import DataLoader

from pylib.data.batch import collate
from pylib.data.dataset import SpeechDataset
from pylib.data.sampler import BucketBatchSampler


class SpeechLoader(DataLoader):
    """A DataLoader that tells its batch sampler each batch it delivers.

    Workers fetch indices ahead of the training loop, so the sampler's own count runs ahead; counting
    here makes `loader.batch_sampler.state_dict()` point at the exact next batch the loop will see.
    """

    def __iter__(self):
        bs = self.batch_sampler
        if bs.position >= len(bs):
            bs.position = 0
        if self.num_workers == 0:
            # in-process: the same batches without DataLoader's per-batch machinery (profiler
            # records, fetcher), which costs as much as reading a short utterance
            batches = (self.collate_fn([self.dataset[i] for i in b]) for b in bs)
        else:
            batches = super().__iter__()
        for batch in batches:
            bs.position += 1
            yield batch


def build_loader(
    spec,
    data_dir,
    corpora,
    *,
    train,
    seed=0,
    rank=0,
    world_size=1,
    batch_size=None,
    with_outputs=True,
    num_workers=None,
):
    """DataLoader over `corpora` (list of CorpusSpec, or a set name under `data_dir`).

    train=True: crops of spec.truncate (or whole utterances if None), shuffled length-bucketed
    batches, utterances under spec.min_len left out; with spec.views, each item comes with its
    vocoded copies and augmented views (pylib.data.views, batches with `group`). train=False: whole
    utterances, longest first, the same order every time. `loader.batch_sampler` has set_epoch /
    state_dict / load_state_dict.
    """
    ds = SpeechDataset(spec, data_dir, corpora, train=train, seed=seed, with_outputs=with_outputs)
    collate_fn, lengths = collate, ds.lengths()
    if train and getattr(spec, "views", None) is not None:
        # multi-view groups (pylib.data.views): batch_size counts items; a max_samples budget
        # counts every row of their groups
        from pylib.data.views import MultiViewDataset, collate_groups

        ds = MultiViewDataset(ds, spec, data_dir, spec.views)
        collate_fn = collate_groups
        if spec.max_samples is not None:
            lengths = lengths * ds.rows_per_item()
    sampler = BucketBatchSampler(
        lengths,
        batch_size=batch_size or spec.batch_size,
        max_samples=spec.max_samples,
        shuffle=train,
        seed=seed,
        rank=rank,
        world_size=world_size,
        bucket_batches=spec.bucket_batches,
        labels=ds.item_labels(),
        balanced=bool(spec.balanced and train),
    )
    sampler.counted_outside = True
    workers = spec.num_workers if num_workers is None else num_workers
    return SpeechLoader(
        ds,
        batch_sampler=sampler,
        collate_fn=collate_fn,
        num_workers=workers,
        persistent_workers=workers > 0,  # no re-forking every epoch and every dev pass
        pin_memory=False,
    )
