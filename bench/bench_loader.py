"""Loader throughput on a synthetic dump against a plain np.fromfile loop over the same files.

500 utterances of 1-6 s: 80-dim log-mel and F0 at hop 80 (`<f4`) and the 16 kHz waveform (16-bit
wav). (a) np.fromfile of every file (the wav read raw as int16, header included: the same bytes),
(b) the loader delivering whole utterances (num_workers 0), (c) 1 s training crops in batches of 8
(num_workers 0 and 2). Target: (b)/(a) >= 0.7 in utt/s. (a') is (a) without its per-file pathlib
joins (the loader builds its paths once, at set-up): the stricter yardstick, shown for honesty.
The dump goes through stage 2 (make_lists) first, as in a recipe: files it has scanned for NaN/Inf
are not scanned again by the loader; (b') shows the loader on files it must scan itself.
"""

import os
import tempfile
import time
from pathlib import Path

import numpy as np

from pylib.data import build_loader, load_data_spec
from pylib.data.lists import make_list
from pylib.io import write_f4, write_list, write_wav

N_UTTS = 500
SR = 16000
SPEC = {
    "sample_rate": SR,
    "inputs": [
        {"name": "mel", "ext": ".f4", "dim": 80, "hop": 80},
        {"name": "f0", "ext": ".f4", "dim": 1, "hop": 80, "f0": True},
    ],
    "outputs": [{"name": "wav", "ext": ".wav", "dim": 1, "hop": 1}],
    "truncate": SR,
    "batch_size": 8,
}


def make_dump(root):
    g = np.random.default_rng(0)
    ids = [f"utt{i:04d}" for i in range(N_UTTS)]
    for utt in ids:
        T = int(g.integers(SR, 6 * SR))
        n = T // 80 + 1
        write_f4(root / "mel" / f"{utt}.f4", g.standard_normal((n, 80), dtype=np.float32))
        write_f4(root / "f0" / f"{utt}.f4", np.abs(g.standard_normal((n, 1), dtype=np.float32)) * 200)
        write_wav(root / "wav" / f"{utt}.wav", SR, 0.1 * g.standard_normal(T, dtype=np.float32))
    write_list(root / "train.lst", ids)
    return ids


def plain_loop(root, ids):
    nbytes = 0
    for utt in ids:
        nbytes += np.fromfile(root / "mel" / f"{utt}.f4", dtype="<f4").nbytes
        nbytes += np.fromfile(root / "f0" / f"{utt}.f4", dtype="<f4").nbytes
        nbytes += np.fromfile(root / "wav" / f"{utt}.wav", dtype="<i2").nbytes
    return len(ids), nbytes


def file_paths(root, ids):
    """[(path str, dtype)] of every file plain_loop reads, prepared outside the timed loop."""
    return [
        (str(root / name / f"{utt}{ext}"), dtype)
        for utt in ids
        for name, ext, dtype in (("mel", ".f4", "<f4"), ("f0", ".f4", "<f4"), ("wav", ".wav", "<i2"))
    ]


def plain_loop_prepared(files, count):
    """plain_loop without the pathlib joins (the loader prepares its paths once, at set-up)."""
    nbytes = 0
    for path, dtype in files:
        nbytes += np.fromfile(path, dtype=dtype).nbytes
    return count, nbytes


def through(loader):
    items = nbytes = 0
    for batch in loader:
        items += len(batch["utt_id"])
        nbytes += sum(batch[k].numel() * 4 for k in ("mel", "f0", "wav"))
    return items, nbytes


def timed(jobs, repeat=5):
    """[(fn, args)] -> [(utt/s, MB/s)], best of `repeat` passes taken in turn, so that load from
    other processes on a shared machine falls on every contender alike."""
    best = [None] * len(jobs)
    for _ in range(repeat):
        for k, (fn, args) in enumerate(jobs):
            t0 = time.perf_counter()
            items, nbytes = fn(*args)
            dt = time.perf_counter() - t0
            if best[k] is None or dt < best[k][0]:
                best[k] = (dt, items, nbytes)
    return [(items / dt, nbytes / dt / 1e6) for dt, items, nbytes in best]


def main():
    spec = load_data_spec(SPEC)
    with tempfile.TemporaryDirectory(prefix="bench_loader_") as tmp:
        data_dir = Path(tmp)
        t0 = time.perf_counter()
        ids = make_dump(data_dir / "train")
        size = sum(f.stat().st_size for f in (data_dir / "train").rglob("*") if f.is_file()) / 1e6
        print(f"synthetic dump: {N_UTTS} utts, {size:.0f} MB, written in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        unverified = build_loader(spec, data_dir, "train", train=False, batch_size=1, num_workers=0)
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        make_list(spec, data_dir, "train", spec.features)
        lists = time.perf_counter() - t0
        t0 = time.perf_counter()
        full = build_loader(spec, data_dir, "train", train=False, batch_size=1, num_workers=0)
        warm = time.perf_counter() - t0
        print(
            f"loader set-up: {cold:.2f} s without the length cache, {warm:.2f} s with it; "
            f"stage 2 make_lists (NaN scan included): {lists:.2f} s"
        )
        plain_loop(data_dir / "train", ids)  # warm the page cache for both
        names = [
            "(a) np.fromfile loop (baseline)",
            "(a') as (a), paths prepared before the loop",
            "(b) loader, whole utterances, workers 0",
            "(b') as (b), files not scanned by stage 2",
        ]
        jobs = [
            (plain_loop, (data_dir / "train", ids)),
            (plain_loop_prepared, (file_paths(data_dir / "train", ids), len(ids))),
            (through, (full,)),
            (through, (unverified,)),
        ]
        for workers in (0, 2):
            crops = build_loader(spec, data_dir, "train", train=True, batch_size=8, num_workers=workers)
            names.append(f"(c) loader, 1 s crops, batch 8, workers {workers}")
            jobs.append((through, (crops,)))
        rows = [(name, *fig) for name, fig in zip(names, timed(jobs))]
        for name, ups, mbs in rows:
            print(f"{name:48s} {ups:9.1f} utt/s {mbs:9.1f} MB/s")
        print("(MB/s: file bytes for (a), float32 tensor bytes delivered for (b) and (c))")
        a, a_prep, b, b_unscanned = (row[1] for row in rows[:4])
        print(
            f"ratio (b)/(a) in utt/s: {b / a:.2f} (target >= 0.7); (b')/(a): {b_unscanned / a:.2f}; "
            f"(b)/(a'): {b / a_prep:.2f}; on {os.cpu_count()} cpus"
        )


if __name__ == "__main__":
    main()
