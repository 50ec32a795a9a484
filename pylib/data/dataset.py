"""SpeechDataset: one item = one utterance or one training segment, every feature on the same region.

Item dict: `utt_id` (str), `<feature>` float32 tensor (frames, dim) (a waveform is (T, 1)),
`<feature>_len` (int frames), `start` (int, first sample of the region), and with labels `label`
(1 bona fide, 0 spoof) and `attack` (str). Only the rows a crop needs are read: `<f4` and plain
wav files with one pread at their offset (pylib.data.rawwav), other audio through a partial
soundfile read.
"""

import logging
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from pylib.data.lengths import LengthCache, align
from pylib.data.rawwav import read_rows
from pylib.data.spec import as_corpora, corpus_paths, frame_step
from pylib.errors import ConfigError, DataError
from pylib.io import read_list, read_utt2label

log = logging.getLogger(__name__)


class SpeechDataset(Dataset):
    """Utterances of merged corpora with their aligned features.

    train=True: utterances shorter than spec.min_len are left out (counted in `report`); with
    spec.truncate each item is a random crop (segments: crop) or one of the consecutive segments
    (segments: split). train=False: whole utterances. Index with `i` or `(i, epoch)`; a crop is
    drawn from (seed, epoch, i), so it does not depend on workers or on where training resumed.
    With spec.augment, a training item's inputs (waveforms) are augmented after cropping, every
    draw from (seed, utterance id, epoch, start) (pylib.data.augment.augment_rng), for the same reason
    (with data.views.augmented, pylib.data.views draws the augmented views instead).
    """

    def __init__(self, spec, data_dir, corpora, *, train, seed=0, with_outputs=True):
        self.spec = spec
        self.features = list(spec.inputs) + (list(spec.outputs) if with_outputs else [])
        self.step = frame_step(self.features)
        self.train = bool(train)
        self.seed = int(seed)
        self.truncate = spec.truncate if train else None
        self.augmentation = None  # training only: dev/eval data are never augmented
        if self.train and spec.augment:
            from pylib.data.augment.pipeline import Augmentation  # scipy, ffmpeg: only when used

            self.augmentation = Augmentation(spec.augment, spec.sample_rate, seed=self.seed)
        self.report = {"mismatch": [], "too_short": []}
        corpora = as_corpora(corpora)
        has_labels = {bool(c.labels) for c in corpora}
        if len(has_labels) > 1:
            raise ConfigError("corpora: either every merged corpus has labels: true or none does")
        self.has_labels = has_labels.pop()
        self.utt_ids, self.paths, self.samples, self.labels, self.attacks = [], [], [], [], []
        self.read_info = []
        seen = {}
        for corpus in corpora:
            self._scan(corpus, Path(data_dir), seen)
        self._index()
        if self.report["mismatch"]:
            ids = [u for u, _ in self.report["mismatch"]]
            log.warning(
                "left out %d utterance(s) with mismatched lengths (on_mismatch: skip): %s%s",
                len(ids),
                " ".join(ids[:5]),
                " ..." if len(ids) > 5 else "",
            )
        if self.report["too_short"]:
            log.info(
                "left out %d utterance(s) shorter than min_len = %d samples",
                len(self.report["too_short"]),
                spec.min_len,
            )
        if not self.utt_ids:
            raise DataError(
                f"no usable utterances in corpora {[c.root for c in corpora]} under {data_dir}; "
                f"see the report above (min_len, mismatches) and rerun stage 2"
            )

    def _scan(self, corpus, data_dir, seen):
        root, lst, dirs = corpus_paths(corpus, data_dir, self.features)
        if not lst.is_file():
            raise DataError(f"{lst}: list not found; run stage 2 (make_lists --subset {corpus.root}) first")
        ids = read_list(lst)
        labels = None
        if corpus.labels:
            labels = read_utt2label(root / "utt2label")
        cache = LengthCache(root)
        sr = self.spec.sample_rate
        for utt in ids:
            if utt in seen:
                raise DataError(
                    f"utterance {utt!r} is in both {seen[utt]} and {lst}; utterance ids must be "
                    f"unique across merged corpora"
                )
            seen[utt] = lst
            paths = [dirs[f.name] / f"{utt}{f.ext}" for f in self.features]
            infos = [cache.info(p, f, sr) for p, f in zip(paths, self.features)]
            lengths = [i[0] for i in infos]
            try:
                n = align(lengths, self.features, self.spec.length_tolerance, paths)
            except DataError as e:
                if self.spec.on_mismatch != "skip":
                    raise
                self.report["mismatch"].append((utt, str(e)))
                continue
            if n == 0 or (self.train and n < self.spec.min_len):
                self.report["too_short"].append(utt)
                continue
            if labels is not None:
                if utt not in labels:
                    raise DataError(f"{root / 'utt2label'}: no label for utterance {utt!r} listed in {lst}")
                lab, attack = labels[utt]
                self.labels.append(1 if lab == "bonafide" else 0)
                self.attacks.append(attack)
            self.utt_ids.append(utt)
            self.paths.append([str(p) for p in paths])  # str: no pathlib work per item
            # PCM needs no NaN scan; files stage 2 scanned are not scanned again
            self.read_info.append([(i[1], not (i[2] or (i[1] and i[1][3] == "<i2"))) for i in infos])
            self.samples.append(n)
        cache.save()

    def _index(self):
        """items: (utterance, start sample or -1 for a random crop, length in samples)."""
        items = []
        t, min_len = self.truncate, self.spec.min_len
        for u, n in enumerate(self.samples):
            if t is None:
                items.append((u, 0, n))
            elif self.spec.segments == "split":
                for s in range(0, n, t):
                    seg = min(t, n - s)
                    if seg == t or s == 0 or seg >= min_len:  # a short last piece only if >= min_len
                        items.append((u, s, seg))
            else:
                items.append((u, -1 if n > t else 0, min(n, t)))
        self.items = np.asarray(items, dtype=np.int64).reshape(-1, 3)
        self._rows = self.items.tolist()  # plain ints: no numpy scalar work per item

    def __len__(self):
        return len(self.items)

    def lengths(self):
        """(len,) int64 samples of every item, what the sampler buckets on."""
        return self.items[:, 2]

    def item_labels(self):
        """(len,) int64 label of every item (1 bona fide, 0 spoof), or None without labels."""
        if not self.has_labels:
            return None
        return np.asarray(self.labels, dtype=np.int64)[self.items[:, 0]]

    def crop_start(self, index, epoch):
        """First sample of item `index`'s region in `epoch` (a multiple of the frame step)."""
        u, start, length = self._rows[int(index)]
        if start >= 0:
            return start
        slots = (self.samples[u] - length) // self.step + 1
        rng = np.random.default_rng([self.seed, int(epoch), int(index)])
        return int(rng.integers(slots)) * self.step

    def __getitem__(self, key):
        index, epoch = key if isinstance(key, tuple) else (key, 0)
        index = int(index)
        u, start, length = self._rows[index]
        if start < 0:
            start = self.crop_start(index, epoch)
        out = {"utt_id": self.utt_ids[u], "start": start}
        stop = start + length
        for k, (f, path, (layout, check)) in enumerate(zip(self.features, self.paths[u], self.read_info[u])):
            a, b = start // f.hop, stop // f.hop
            rows = read_rows(path, f, a, b, layout, check)
            if self.augmentation is not None and k < len(self.spec.inputs):
                rows = self.augmentation(rows, self.utt_ids[u], epoch, start)
            out[f.name] = torch.from_numpy(rows)
            out[f"{f.name}_len"] = b - a
        if self.has_labels:
            out["label"] = self.labels[u]
            out["attack"] = self.attacks[u]
        return out
