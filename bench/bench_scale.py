"""Scale of the data stages: time at 10 k and 100 k utterances, and the 100k/10k ratio (<= 15).

Stages timed on a synthetic corpus of short utterances (every wav.scp entry names the same 0.05 s
wav, so the corpus costs one file; the dump holds one small `<f4` file per utterance, written
directly with records that make stage 1 find it up to date):

- stage 1 listing: `extract_job` on an already extracted set (read wav.scp, check every record
  against its source and outputs, write utt2num_frames and the merged records);
- `make_list` (stage 2 lists, `--ids-from wav.scp`, NaN/Inf scan of every file);
- `compute_stats` (accumulate + write);
- `validate_data_dir` (tables and every wav header);
- `score_wavs` discovery (`find_audio` over a folder tree of empty .wav files).

Each must grow at most like n log n (sorting the ids is allowed, a search per utterance is not): the
ratio large/small may be at most 20 % above what n log n gives, i.e. above 1.2 x 10 x log(100k) /
log(10k) = 15 for 10x the data (7.5 for 600 -> 3 000) fails the benchmark. A stage that does a
linear search per utterance (quadratic) shows 100 (25), far above either limit. (A strictly linear
limit of 1.2 x the size ratio flagged `score_wavs` discovery, whose sorted directory listing is
n log n, at 6.1 for 5x: not a defect.)

A stage is timed in a few rounds in which the two sizes take turns; the ratio is the median of
the rounds' ratios and the times shown are the best of each size. Each time is the CPU time of the
stage's call alone (no garbage collection, progress bar or reset inside the clock), over a window
of at least 0.1 s (a shorter call is repeated and averaged).

    python bench/bench_scale.py            # 10 k and 100 k (a few minutes, ~0.5 GB of small files)
    python bench/bench_scale.py --quick    # 600 and 3 k (~10 s; what the test suite runs)

The corpus goes to a temporary folder (`--workdir` to choose where; the test suite uses /dev/shm
where there is one, since creating thousands of files on a slow or networked disk takes seconds
and its directory lookups can grow with the folder, which is the disk's scaling, not the code's).
"""

import argparse
import contextlib
import functools
import gc
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SIZES = (10_000, 100_000)
QUICK_SIZES = (600, 3_000)
SLACK = 1.2  # allowed growth beyond n log n of the time per utterance from the small to the large size
REPEATS = 3  # rounds per stage (both sizes in turn); the median of the rounds' ratios counts
MIN_TIME = 0.1  # s: a call shorter than this is repeated and averaged over a window this long
SR = 16000
HOP = 160
DIM = 4
SECONDS = 0.05
FILES_PER_FOLDER = 1000
FEATURES = {
    "sample_rate": SR,
    "resample": False,
    "extractors": {
        "mel": {"type": "logmel", "n_fft": 512, "hop": HOP, "win_length": 400, "n_mels": DIM},
    },
}
DATA = {
    "sample_rate": SR,
    "inputs": [{"name": "mel", "ext": ".f4", "dim": DIM, "hop": HOP, "norm": True}],
    "outputs": [],
    "min_len": 0,
    "batch_size": 2,
    "train": [{"root": "train"}],
}
STAGES = ("stage 1 listing", "make_lists", "compute_stats", "validate_data_dir", "score_wavs discovery")


def build_corpus(root, n):
    """data/train (wav.scp, utt2spk, utt2label), dump/train (features, records), wavs/ tree."""
    import pylib.features  # noqa: F401  (registers the extractors)
    from pylib.features.extract import (
        SETTINGS_FILE,
        SOURCES_FILE,
        settings_dict,
        settings_hash,
        source_of,
    )
    from pylib.features.extractors import build_extractors, parse_features
    from pylib.io import write_wav

    root = Path(root)
    wav = write_wav(root / "corpus" / "one.wav", SR, 0.1 * np.sin(np.arange(int(SR * SECONDS)) * 0.05))
    ids = [f"utt{i:07d}" for i in range(n)]
    data = root / "data" / "train"
    data.mkdir(parents=True)
    (data / "wav.scp").write_text("".join(f"{u} {wav}\n" for u in ids))
    (data / "utt2spk").write_text("".join(f"{u} spk{i % 50:02d}\n" for i, u in enumerate(ids)))
    (data / "utt2label").write_text(
        "".join(f"{u} {'bonafide' if i % 2 else 'spoof A01'}\n" for i, u in enumerate(ids))
    )

    cfg = parse_features(FEATURES)
    extractors = build_extractors(cfg)
    settings = settings_dict(cfg, extractors)
    dump = root / "dump" / "train"
    (dump / "mel").mkdir(parents=True)
    from pylib.config import save_yaml

    save_yaml(dump / SETTINGS_FILE, settings)
    frames = int(SR * SECONDS) // HOP + 1
    rng = np.random.default_rng(0)
    feat = rng.standard_normal((frames, DIM)).astype("<f4")
    blob = feat.tobytes()
    source, _ = source_of(str(wav))
    digest = settings_hash(settings)
    records = []
    for u in ids:
        with open(dump / "mel" / f"{u}.f4", "wb") as f:
            f.write(blob)
        out = {"mel": {"bytes": len(blob), "frames": frames}}
        records.append(json.dumps({"utt": u, "source": source, "config": digest, "outputs": out},
                                  sort_keys=True) + "\n")
    (dump / SOURCES_FILE).write_text("".join(records))
    (dump / "mel" / "utt2num_frames").write_text("".join(f"{u} {frames}\n" for u in ids))

    wavs = root / "wavs"
    for start in range(0, n, FILES_PER_FOLDER):
        folder = wavs / f"part{start // FILES_PER_FOLDER:04d}"
        folder.mkdir(parents=True)
        for u in ids[start : start + FILES_PER_FOLDER]:
            (folder / f"{u}.wav").touch()
    return root


def _timed(fn, reset=None, min_time=MIN_TIME):
    """CPU time (user + system, this process) of one call of `fn`, measured over a window of at
    least `min_time` s: a call shorter than that is repeated and the window averaged, so that a
    stage of a few milliseconds is measured, not the clock's jitter.

    Only the work is timed: `reset` runs outside the clock, and the garbage collector is off
    during each call (as `timeit` does), so a collection triggered by earlier garbage does not land
    in one size's window. CPU time, since on a shared machine the wall clock mostly measures the
    neighbours; the ratio is about how the work grows."""
    total, calls = 0.0, 0
    while calls == 0 or total < min_time:
        if reset is not None:
            reset()
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            t0 = time.process_time()
            fn()
            total += time.process_time() - t0
        finally:
            if was_enabled:
                gc.enable()
        calls += 1
    return total / calls


def time_stage(calls, repeats):
    """(best small time, best large time, ratio) of a stage over `repeats` rounds.

    `calls` holds (function, reset) for the small and the large corpus. In each round the two
    sizes are timed one after the other, so that both meet about the same load of a shared
    machine, and the round's ratio large/small is taken; the stage's ratio is the median of the
    rounds' ratios. (The ratio of the two best times is not used: a shared machine's quiet spells
    come and go in seconds, and the short small-corpus call catches one more often than the long
    large-corpus call, which biases that ratio upwards.)"""
    best = [float("inf")] * len(calls)
    ratios = []
    for _ in range(repeats):
        times = [_timed(fn, reset) for fn, reset in calls]
        best = [min(b, t) for b, t in zip(best, times)]
        ratios.append(times[1] / max(times[0], 1e-9))
    return best[0], best[1], statistics.median(ratios)


@contextlib.contextmanager
def _quiet():
    """No progress bars and no info logging while timing (output is not the stage's work). Every
    tqdm bar is disabled by wrapping tqdm's constructor: its TQDM_DISABLE variable is read once, when
    tqdm is imported, so it cannot switch bars off in a process that has them already (pytest's)."""
    import logging

    import tqdm

    log = logging.getLogger("pylib")
    level, init = log.level, tqdm.tqdm.__init__

    @functools.wraps(init)
    def disabled(self, *args, **kwargs):
        init(self, *args, **{**kwargs, "disable": True})

    log.setLevel(logging.WARNING)
    tqdm.tqdm.__init__ = disabled
    try:
        yield
    finally:
        tqdm.tqdm.__init__ = init
        log.setLevel(level)


def stage_functions(root, n):
    """{stage: (function, reset or None)} on the corpus at `root` of `n` utterances."""
    from pylib.data import stats
    from pylib.data.lists import make_list
    from pylib.data.spec import load_data_spec
    from pylib.data.validate import validate_data_dir
    from pylib.engine.score_folder import find_audio
    from pylib.features.extract import extract_job

    root = Path(root)
    spec = load_data_spec(DATA)
    scp = root / "data" / "train" / "wav.scp"
    cache = root / "dump" / "train" / ".lengths.json"

    def listing():
        counts = extract_job(FEATURES, scp, root / "dump" / "train", progress=False)
        assert counts["skipped"] == n and counts["extracted"] == 0, counts

    def lists():
        good, dropped, _ = make_list(spec, root / "dump", "train", spec.features, ids_from=scp)
        assert len(good) == n and not dropped, (len(good), list(dropped.items())[:3])

    def compute():
        stats.write_stats(spec, root / "dump", stats.accumulate(spec, root / "dump", spec.train))

    def validate():
        report = validate_data_dir(root / "data" / "train", SR, require_labels=True)
        assert not report.problems and report.num_utts == n, report.problems[:3]

    def discover():
        assert len(find_audio(root / "wavs")) == n

    def fresh_cache():  # make_lists on a set it has not seen (its length cache would skip the scan)
        if cache.exists():
            cache.unlink()

    return dict(zip(STAGES, [(listing, None), (lists, fresh_cache), (compute, None), (validate, None),
                             (discover, None)]))


def limit_for(sizes):
    """Highest allowed ratio large/small: SLACK times the n log n ratio (15 for 10 k -> 100 k,
    7.5 for 600 -> 3 000); quadratic growth gives 100 and 25."""
    small, large = sizes
    return SLACK * large * math.log(large) / (small * math.log(small))


def run(sizes=SIZES, repeats=REPEATS, workdir=None, verbose=True, retries=0):
    """{stage: (t_small, t_large, ratio)} for the two corpus sizes: the best time of each size and
    the median ratio of `repeats` rounds (see `time_stage`).
    retries: a stage whose ratio is above `limit_for(sizes)` is timed again (another `repeats`
    rounds) up to this many times and keeps its best ratio (on a busy machine one measurement can be
    disturbed; a stage that really grows faster than linearly stays above the limit every time).
    """
    small, large = sizes
    limit = limit_for(sizes)
    with tempfile.TemporaryDirectory(prefix="nnsp_bench_scale_", dir=workdir) as tmp, _quiet():
        stages = []
        for n in sizes:
            t0 = time.perf_counter()
            root = build_corpus(Path(tmp) / f"n{n}", n)
            if verbose:
                print(f"built a corpus of {n} utterances in {time.perf_counter() - t0:.1f} s", flush=True)
            stages.append(stage_functions(root, n))
        result = {}
        for stage in STAGES:
            for _ in range(retries + 1):
                a, b, r = time_stage([funcs[stage] for funcs in stages], repeats)
                if stage not in result or r < result[stage][2]:
                    result[stage] = (a, b, r)
                if result[stage][2] <= limit:
                    break
            if verbose:
                a, b, r = result[stage]
                print(f"  {stage}: {a:.3f} s at {small}, {b:.3f} s at {large}", flush=True)
    if verbose:
        print(f"CPU seconds per stage ({os.cpu_count()} cores; the wall clock depends on the load)")
        print(f"{'stage':24s} {small:>9d} utt {large:>9d} utt   ratio (<= {limit:g} for {large / small:g}x)")
        for stage, (a, b, r) in result.items():
            flag = "ok" if r <= limit else "NOT LINEAR"
            print(f"{stage:24s} {a:11.3f} s {b:11.3f} s {r:7.1f}  {flag}")
    return result


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help=f"sizes {QUICK_SIZES} instead of {SIZES}")
    p.add_argument("--sizes", type=int, nargs=2, default=None, metavar=("SMALL", "LARGE"),
                   help="the two corpus sizes (the limit scales with LARGE/SMALL)")
    p.add_argument("--repeats", type=int, default=REPEATS,
                   help="rounds of measurements per stage (both sizes in turn); the median ratio is kept")
    p.add_argument("--retries", type=int, default=1,
                   help="time a stage whose ratio is above the limit again, up to this many times")
    p.add_argument("--workdir", default=None,
                   help="folder for the temporary corpora (default: the system's temporary folder)")
    args = p.parse_args([] if argv is None and __name__ != "__main__" else argv)
    sizes = tuple(args.sizes) if args.sizes else (QUICK_SIZES if args.quick else SIZES)
    if not 0 < sizes[0] < sizes[1]:
        p.error(f"--sizes: SMALL must be positive and below LARGE, got {sizes[0]} {sizes[1]}")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    result = run(sizes, args.repeats, workdir=args.workdir, retries=args.retries)
    limit = limit_for(sizes)
    bad = [s for s, (_, _, r) in result.items() if r > limit]
    if bad:
        raise AssertionError(f"not linear (ratio > {limit:g}): {', '.join(bad)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
