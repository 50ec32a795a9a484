"""Scale of the data stages: time at 10 k and 100 k utterances, and the 100k/10k ratio (<= 12).

Stages timed on a synthetic corpus of short utterances (every wav.scp entry names the same 0.05 s
wav, so the corpus costs one file; the dump holds one small `<f4` file per utterance, written
directly with records that make stage 1 find it up to date):

- stage 1 listing: `extract_job` on an already extracted set (read wav.scp, check every record
  against its source and outputs, write utt2num_frames and the merged records);
- `make_list` (stage 2 lists, `--ids-from wav.scp`, NaN/Inf scan of every file);
- `compute_stats` (accumulate + write);
- `validate_data_dir` (tables and every wav header);
- `score_wavs` discovery (`find_audio` over a folder tree of empty .wav files).

Each must grow at most linearly: a ratio above 12 for 10x the data fails the benchmark.

    python bench/bench_scale.py            # 10 k and 100 k (a few minutes, ~0.5 GB of small files)
    python bench/bench_scale.py --quick    # 300 and 3 k (seconds; what the test suite runs)
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SIZES = (10_000, 100_000)
QUICK_SIZES = (300, 3_000)
LIMIT = 12.0
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


def _timed(fn, repeats, reset=None, min_time=0.05):
    """Best CPU time (user + system, this process) of one call, over `repeats` measurements of at
    least `min_time` s each (short calls are repeated and averaged, so that a stage of a few
    milliseconds is measured, not the clock's jitter). CPU time, since on a shared machine the
    wall clock mostly measures the neighbours; the ratio is about how the work grows."""
    best = float("inf")
    for _ in range(repeats):
        total, calls = 0.0, 0
        while calls == 0 or total < min_time:
            if reset is not None:
                reset()
            t0 = time.process_time()
            fn()
            total += time.process_time() - t0
            calls += 1
        best = min(best, total / calls)
    return best


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


def run(sizes=SIZES, repeats=1, workdir=None, verbose=True, retries=0):
    """{stage: (t_small, t_large, ratio)} for the two corpus sizes.

    retries: a stage whose ratio is above LIMIT is timed again at both sizes up to this many times
    and keeps its best ratio (on a busy machine one measurement can be disturbed; a stage that
    really grows faster than linearly stays above the limit every time).
    """
    import logging

    logging.getLogger("pylib").setLevel(logging.WARNING)
    small, large = sizes
    with tempfile.TemporaryDirectory(prefix="nnsp_bench_scale_", dir=workdir) as tmp:
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
                a, b = (_timed(funcs[stage][0], repeats, reset=funcs[stage][1]) for funcs in stages)
                if stage not in result or b / max(a, 1e-9) < result[stage][2]:
                    result[stage] = (a, b, b / max(a, 1e-9))
                if result[stage][2] <= LIMIT:
                    break
            if verbose:
                a, b, r = result[stage]
                print(f"  {stage}: {a:.3f} s at {small}, {b:.3f} s at {large}", flush=True)
    if verbose:
        print(f"CPU seconds per stage ({os.cpu_count()} cores; the wall clock depends on the load)")
        print(f"{'stage':24s} {small:>9d} utt {large:>9d} utt   ratio (<= {LIMIT:g} for {large // small}x)")
        for stage, (a, b, r) in result.items():
            flag = "ok" if r <= LIMIT else "NOT LINEAR"
            print(f"{stage:24s} {a:11.3f} s {b:11.3f} s {r:7.1f}  {flag}")
    return result


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help=f"sizes {QUICK_SIZES} instead of {SIZES}")
    p.add_argument("--sizes", type=int, nargs=2, default=None, metavar=("SMALL", "LARGE"))
    p.add_argument("--repeats", type=int, default=1, help="time each stage this many times, keep the best")
    p.add_argument("--retries", type=int, default=1,
                   help="time a stage whose ratio is above the limit again, up to this many times")
    args = p.parse_args([] if argv is None and __name__ != "__main__" else argv)
    sizes = tuple(args.sizes) if args.sizes else (QUICK_SIZES if args.quick else SIZES)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")
    result = run(sizes, args.repeats, retries=args.retries)
    bad = [s for s, (_, _, r) in result.items() if r > LIMIT]
    if bad:
        raise AssertionError(f"not linear (ratio > {LIMIT:g}): {', '.join(bad)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
