"""Multi-view training items: an utterance with its vocoded copies and augmented views (data.views).

The seed's project 09 (`model-ID-7/data_augment.py wav_aug_wrapper`) trains on groups: a bona fide
utterance, its copies made by each vocoder (`pylib.bin.copy_synth`), all cropped at the same random
position (a copy shorter than the source is zero-padded to its length first), and RawBoost views
of each. Here the group of one training item (`MultiViewDataset[(index, epoch)]`) is a list of rows:

    for each system (the item, then each vocoded copy in the order of data.views.vocoded):
        view 0 (as read), views 1..K (pylib.data.augment.views(wave, row id, epoch, K))

Each row is a dataset item dict (`utt_id` is `<utt>` or `<utt>__<vocoder>`, the same `start` and
lengths) with `view` (int) and `vocoder` ("-" for the source). A copy is labelled spoof (0) with
its vocoder as the attack. `collate_groups` pads the rows of a batch together and adds `group`
(B,) (which item of the batch a row belongs to), `view` (B,) and `vocoder` (list): a loss such as
`pylib.losses.supcon.group_supcon` knows from them which rows are views of one utterance.

Copies are matched through the vocoded dump root's `utt2vocoder` (`<utt>__<vocoder> <vocoder>`,
written by copy_synth into data/<set>), or else its utt2label, whose attack column copy_synth sets
to the vocoder (stage 2 `make_lists --utt2label` copies it into the dump). Items without copies (spoofs of the
training set) form groups of their own views only. Augmented views are drawn by
`pylib.data.augment.views` from (row id, epoch), so a resumed run sees the same batches.
"""

from pathlib import Path

import numpy as np
import torch

from pylib.data.batch import collate
from pylib.data.dataset import SpeechDataset
from pylib.data.rawwav import read_rows
from pylib.data.spec import CorpusSpec
from pylib.errors import ConfigError, DataError
from pylib.io import read_table, read_utt2label

SEP = "__"  # copy id = <source utt><SEP><vocoder>, as pylib.bin.copy_synth writes them


def _augment_views(base):
    """views(wave, utt, epoch, k) -> K augmented copies, drawn by the training set's data.augment
    (each view its own draw from (seed, utt, epoch, view): pylib.data.augment.pipeline)."""
    if base.augmentation is None:
        raise ConfigError("data.views.augmented needs data.augment (what each view is drawn from)")
    return base.augmentation.views


def source_of(copy_id, vocoder, where):
    """The source utterance of vocoded copy `copy_id` made by `vocoder` (`<utt>__<vocoder>`)."""
    tail = f"{SEP}{vocoder}"
    if not copy_id.endswith(tail) or len(copy_id) == len(tail):
        raise DataError(
            f"{where}: {copy_id!r} is not `<utt>{SEP}{vocoder}`; utt2vocoder must pair each copy_synth "
            "id with the vocoder that made it (rerun pylib.bin.copy_synth)"
        )
    return copy_id[: -len(tail)]


def _vocoder_table(root):
    """(path, {copy id: vocoder}) of a vocoded dump root: its utt2vocoder, else the attack column
    of its utt2label (copy_synth writes `<id> spoof <vocoder>`; stage 2 copies it into the dump)."""
    for name in ("utt2vocoder", "utt2label"):
        path = root / name
        if path.is_file():
            if name == "utt2vocoder":
                return path, read_table(path)
            return path, {u: attack for u, (_, attack) in read_utt2label(path).items()}
    raise DataError(
        f"{root}: has neither utt2vocoder nor utt2label; data.views.vocoded names it, and its copies are "
        f"matched to their sources through one of them (written by pylib.bin.copy_synth into data/<set>/): "
        f"copy data/<set>/utt2vocoder into {root}, or run stage 2 with --utt2label"
    )


class MultiViewDataset(torch.utils.data.Dataset):
    """Training items of `base` (a SpeechDataset, train=True) as groups of rows (module docstring)."""

    def __init__(self, base, spec, data_dir, views_spec, augment=None):
        self.base = base
        self.spec = spec
        self.k = int(views_spec.augmented)
        self.augment = augment
        if self.k and self.augment is None:
            self.augment = _augment_views(base)
        if self.k:  # data.augment draws views 1..K; view 0 of every row is as read (the seed's groups)
            base.augmentation = None
        self.copies = {}  # source utt -> [(dataset, row, vocoder)]
        self.sources = []
        for root in views_spec.vocoded:
            self._add_copies(root, data_dir)
        self.audio = [f.name for f in spec.inputs if f.dim == 1 and f.hop == 1]  # waveforms get views

    def _add_copies(self, root, data_dir):
        table, vocoder = _vocoder_table(Path(data_dir) / root)
        ds = SpeechDataset(self.spec, data_dir, [CorpusSpec(root=root)], train=False,
                           with_outputs=len(self.base.features) > len(self.spec.inputs))
        self.sources.append(ds)
        known = set(self.base.utt_ids)
        for row, copy_id in enumerate(ds.utt_ids):
            if copy_id not in vocoder:
                raise DataError(f"{table}: no vocoder for {copy_id!r} listed in the {root} list")
            src = source_of(copy_id, vocoder[copy_id], table)
            if src in known:
                self.copies.setdefault(src, []).append((ds, row, vocoder[copy_id]))

    def __len__(self):
        return len(self.base)

    def rows_per_item(self):
        """(len,) rows each item's group holds: (1 + its copies) x (1 + augmented)."""
        n = np.array([1 + len(self.copies.get(self.base.utt_ids[u], ())) for u, _, _ in self.base._rows])
        return n * (1 + self.k)

    def lengths(self):
        return self.base.lengths()

    def item_labels(self):
        return self.base.item_labels()

    @property
    def report(self):
        return self.base.report

    def _copy_row(self, item, ds, row, vocoder):
        """The copy's features on the item's region, zero-padded where the copy is shorter."""
        start = item["start"]
        out = {"utt_id": ds.utt_ids[row], "start": start}
        for f, path, (layout, check) in zip(ds.features, ds.paths[row], ds.read_info[row]):
            a, want = start // f.hop, item[f"{f.name}_len"]
            have = max(0, min(want, ds.samples[row] // f.hop - a))
            data = np.zeros((want, f.dim), dtype=np.float32)
            if have:
                data[:have] = read_rows(path, f, a, a + have, layout, check)
            out[f.name] = torch.from_numpy(data)
            out[f"{f.name}_len"] = want
        if "label" in item:
            out["label"], out["attack"] = 0, vocoder
        return out

    def _views(self, row, epoch):
        """Row `row` (view 0) and its K augmented views."""
        out = [{**row, "view": 0}]
        if not self.k:
            return out
        made = {}
        for name in self.audio:
            wave = row[name][:, 0].numpy()
            views = list(self.augment(wave, row["utt_id"], int(epoch), self.k))
            if len(views) != self.k:
                raise ValueError(f"pylib.data.augment.views gave {len(views)} views, not {self.k}")
            made[name] = [_fit(np.asarray(v, dtype=np.float32).reshape(-1), wave.size) for v in views]
        for j in range(self.k):
            aug = {**row, "view": j + 1}
            for name in self.audio:
                aug[name] = torch.from_numpy(made[name][j][:, None])
            out.append(aug)
        return out

    def __getitem__(self, key):
        index, epoch = key if isinstance(key, tuple) else (key, 0)
        item = self.base[(index, epoch)]
        rows = [{**item, "vocoder": "-"}]
        for ds, row, vocoder in self.copies.get(item["utt_id"], ()):
            rows.append({**self._copy_row(item, ds, row, vocoder), "vocoder": vocoder})
        return [v for r in rows for v in self._views(r, epoch)]


def _fit(wave, n):
    """An augmented view at the length of its row: trimmed, or zero-padded (a codec may add samples)."""
    if wave.size >= n:
        return np.ascontiguousarray(wave[:n])
    return np.concatenate([wave, np.zeros(n - wave.size, dtype=np.float32)])


def collate_groups(groups):
    """Groups of rows (MultiViewDataset items) -> one batch of all rows (pylib.data.batch.collate)
    with `group` (B,) int64 (index of the item in the batch), `view` (B,) int64, `vocoder` list."""
    rows = [r for g in groups for r in g]
    batch = collate(rows)
    batch["group"] = torch.tensor([i for i, g in enumerate(groups) for _ in g], dtype=torch.int64)
    batch["view"] = torch.tensor([r["view"] for r in rows], dtype=torch.int64)
    batch["vocoder"] = [r["vocoder"] for r in rows]
    return batch
