"""Normalisation statistics (stage 2): streaming float64 mean/std per dim, mergeable over jobs.

Files: `<data-dir>/<stats>/<feat>.mean` and `.std`, `<f4` with one value per dim; job partials in
`<stats>/partial/<feat>.<job>.npz`. F0-like features (`f0: true`) count voiced values (> 0) only.
"""

import io
import logging
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pylib.data.spec import as_corpora, corpus_paths
from pylib.errors import DataError
from pylib.io import atomic_path, read_f4, read_list, read_wav, write_f4

log = logging.getLogger(__name__)
ZERO_STD = 1e-8


class RunningStats:
    """Per-dim count, mean and sum of squared deviations (Chan et al.'s parallel update), float64."""

    def __init__(self, dim):
        self.n = np.zeros(dim)
        self.mean = np.zeros(dim)
        self.m2 = np.zeros(dim)

    def update(self, x, mask=None):
        """x: (N, D); mask: (N, D) bool of the values to count (default all)."""
        x = np.asarray(x, dtype=np.float64)
        if mask is None:
            nb = np.full(x.shape[1], float(x.shape[0]))
            mb = x.mean(0) if x.shape[0] else np.zeros(x.shape[1])
            m2b = ((x - mb) ** 2).sum(0)
        else:
            nb = mask.sum(0).astype(np.float64)
            mb = np.where(mask, x, 0.0).sum(0) / np.maximum(nb, 1.0)
            m2b = np.where(mask, (x - mb) ** 2, 0.0).sum(0)
        self._combine(nb, mb, m2b)

    def merge(self, other):
        self._combine(other.n, other.mean, other.m2)

    def _combine(self, nb, mb, m2b):
        n = self.n + nb
        safe = np.maximum(n, 1.0)
        delta = mb - self.mean
        self.mean = self.mean + delta * nb / safe
        self.m2 = self.m2 + m2b + delta**2 * self.n * nb / safe
        self.n = n

    def finalize(self, name="feature"):
        """-> (mean, std) float64 (D,); zero-variance dims warn and get std 1; empty dims are an error."""
        if (self.n == 0).any():
            raise DataError(
                f"{name}: no values for dim(s) {np.flatnonzero(self.n == 0).tolist()} "
                f"(an empty training set, or an F0 feature with no voiced frame)"
            )
        std = np.sqrt(self.m2 / self.n)
        flat = std < ZERO_STD
        if flat.any():
            log.warning(
                "%s: dim(s) %s have zero variance over the training data; their std is set to 1",
                name,
                np.flatnonzero(flat).tolist(),
            )
            std = np.where(flat, 1.0, std)
        return self.mean.copy(), std

    def to_bytes(self):
        buf = io.BytesIO()
        np.savez(buf, n=self.n, mean=self.mean, m2=self.m2)
        return buf.getvalue()

    @classmethod
    def from_file(cls, path):
        with np.load(path) as z:
            out = cls(len(z["n"]))
            out.n, out.mean, out.m2 = z["n"], z["mean"], z["m2"]
        return out


def norm_features(spec):
    return [f for f in spec.features if f.norm]


def stats_dir(spec, data_dir):
    return Path(data_dir) / spec.stats


def _utterances(spec, data_dir, corpora, feats):
    out = []
    for c in as_corpora(corpora):
        _, lst, dirs = corpus_paths(c, data_dir, feats)
        if not lst.is_file():
            raise DataError(f"{lst}: list not found; run stage 2 (make_lists --subset {c.root}) first")
        out += [(utt, dirs) for utt in read_list(lst)]
    return out


def accumulate(spec, data_dir, corpora, job=None, num_jobs=1):
    """{feature: RunningStats} over whole files of the listed utterances (job J of N: every Nth)."""
    feats = norm_features(spec)
    if not feats:
        return {}
    utts = _utterances(spec, data_dir, corpora, feats)
    if job is not None:
        utts = utts[job - 1 :: num_jobs]
    acc = {f.name: RunningStats(f.dim) for f in feats}
    for utt, dirs in tqdm(utts, desc="stats", unit="utt", leave=False):
        for f in feats:
            path = dirs[f.name] / f"{utt}{f.ext}"
            x = read_wav(path)[1][:, None] if f.is_audio else read_f4(path, f.dim)
            acc[f.name].update(x, x > 0 if f.f0 else None)
    return acc


def save_partial(spec, data_dir, acc, job, num_jobs):
    folder = stats_dir(spec, data_dir) / "partial"
    for name, st in acc.items():
        with atomic_path(folder / f"{name}.{job}-of-{num_jobs}.npz") as tmp:
            tmp.write_bytes(st.to_bytes())


def merge_partials(spec, data_dir, num_jobs):
    """Merge the partials of jobs 1..num_jobs; a missing job is a DataError naming its file."""
    folder = stats_dir(spec, data_dir) / "partial"
    acc = {}
    for f in norm_features(spec):
        total = RunningStats(f.dim)
        for j in range(1, num_jobs + 1):
            path = folder / f"{f.name}.{j}-of-{num_jobs}.npz"
            if not path.is_file():
                raise DataError(
                    f"{path}: partial statistics of job {j} missing; rerun compute_stats "
                    f"--job {j} --num-jobs {num_jobs}"
                )
            total.merge(RunningStats.from_file(path))
        acc[f.name] = total
    return acc


def write_stats(spec, data_dir, acc):
    """Write <stats>/<feat>.mean/.std; returns {feature: (mean, std)}."""
    folder = stats_dir(spec, data_dir)
    out = {}
    for name, st in acc.items():
        mean, std = st.finalize(name)
        write_f4(folder / f"{name}.mean", mean)
        write_f4(folder / f"{name}.std", std)
        out[name] = (mean.astype(np.float32), std.astype(np.float32))
    return out


def load_feature_stats(spec, data_dir):
    """{name: (mean (D,), std (D,)) float32} for every feature with norm: true."""
    folder = stats_dir(spec, data_dir)
    out = {}
    for f in norm_features(spec):
        pair = []
        for kind in ("mean", "std"):
            path = folder / f"{f.name}.{kind}"
            if not path.is_file():
                raise DataError(
                    f"{path}: normalisation statistics not found; run stage 2 "
                    f"(python -m pylib.bin.compute_stats) first"
                )
            v = read_f4(path, 1).reshape(-1)
            if v.size != f.dim:
                raise DataError(
                    f"{path}: holds {v.size} values but feature {f.name!r} has dim {f.dim}; "
                    f"rerun stage 2 (compute_stats)"
                )
            pair.append(v)
        if (pair[1] <= 0).any():
            raise DataError(
                f"{folder / (f.name + '.std')}: has non-positive values; rerun stage 2 (compute_stats)"
            )
        out[f.name] = tuple(pair)
    return out
