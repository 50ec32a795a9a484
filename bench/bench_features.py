"""Feature extraction speed and F0 accuracy, each figure next to its baseline measured in this run.

Audio: the real speech in ../shared/data (when present) plus 20 toy utterances (seed 0).
- log-mel: ours (torch.stft, 1 thread) vs librosa melspectrogram + log, same settings.
- F0: ours (yin) vs pyworld harvest and dio: speed, gross pitch error and voicing error against
  harvest on real speech and against the toy corpus's ground truth.
- LFCC throughput, when pylib.features.lfcc is importable.
"""

import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from timing import best_time

from pylib.features.f0 import compute_f0, f0_errors, voicing_split
from pylib.features.mel import LogMel
from pylib.features.toy_corpus import make_toy_corpus
from pylib.io import read_f4, read_wav, read_wav_scp

SR = 16000
HOP = 80
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def _load_audio(tmp):
    real = []
    for f in sorted(SHARED.glob("*.wav")) + sorted(SHARED.glob("*.flac")) if SHARED.is_dir() else []:
        sr, x = read_wav(f)
        if sr == SR:
            real.append((f.name, x))
    make_toy_corpus(tmp, 20, seed=0)
    toy = [
        (u, read_wav(p)[1], read_f4(Path(tmp) / "f0" / f"{u}.f4", 1)[:, 0])
        for u, p in read_wav_scp(Path(tmp) / "wav.scp").items()
    ]
    return real, toy


def bench_logmel(waves, seconds):
    import librosa

    kw = dict(n_fft=1024, hop=80, win_length=320, n_mels=80, fmin=0.0, fmax=8000.0)
    mod = LogMel(SR, **kw)

    def ours():
        with torch.no_grad():
            for x in waves:
                mod(torch.from_numpy(x)).numpy()

    def ref():
        for x in waves:
            mel = librosa.feature.melspectrogram(
                y=x, sr=SR, n_fft=1024, hop_length=80, win_length=320, n_mels=80, fmin=0, fmax=8000, power=1.0
            )
            np.log(np.maximum(mel, 1e-5))

    ours(), ref()  # warm-up (librosa caches its filterbank, torch its FFT plans)
    t_ours, t_ref = best_time(ours), best_time(ref)
    print(f"log-mel (n_fft 1024, hop 80, 80 mels) over {seconds:.1f} s of audio, torch threads: 1")
    print(f"  ours    {seconds / t_ours:8.0f} x real time")
    print(f"  librosa {seconds / t_ref:8.0f} x real time")
    print(f"  ratio   {t_ref / t_ours:8.2f} x librosa (target >= 1.3)")


def bench_f0(real, toy):
    methods = ("yin", "harvest", "dio")
    times = dict.fromkeys(methods, 0.0)
    seconds = 0.0
    rows = {m: [] for m in methods}
    for _, x in real:
        seconds += x.size / SR
        out = {}
        for m in methods:
            t0 = time.perf_counter()
            out[m] = compute_f0(x, SR, HOP, 60.0, 500.0, method=m)
            times[m] += time.perf_counter() - t0
        for m in ("yin", "dio"):
            rows[m].append(f0_errors(out[m], out["harvest"]) + voicing_split(out[m], out["harvest"]))
    toy_rows = {m: [] for m in methods}
    for _, x, truth in toy:
        seconds += x.size / SR
        for m in methods:
            t0 = time.perf_counter()
            est = compute_f0(x, SR, HOP, 60.0, 500.0, method=m)
            times[m] += time.perf_counter() - t0
            toy_rows[m].append(f0_errors(est, truth) + voicing_split(est, truth))
    print(
        f"F0 (hop 80, 60-500 Hz) over {seconds:.1f} s of audio ({len(real)} real files, {len(toy)} toy utts)"
    )
    for m in methods:
        print(
            f"  {m:8s} {seconds / times[m]:7.1f} x real time   "
            f"speed {times['harvest'] / times[m]:6.1f} x harvest"
            + ("   (target >= 20 x for yin)" if m == "yin" else "")
        )
    if real:
        print(
            "  vs harvest on real speech (mean over files): GPE / voicing error (= only ours + only harvest)"
        )
        for m in ("yin", "dio"):
            g, v, extra, miss = np.mean(rows[m], axis=0)
            print(
                f"    {m:8s} GPE {100 * g:5.2f} %   voicing error {100 * v:5.2f} %"
                f"   (only {m} voiced {100 * extra:5.2f} %, only harvest voiced {100 * miss:5.2f} %)"
            )
    else:
        print("  (no real speech: ../shared/data is absent)")
    print("  vs toy-corpus ground truth (mean over utts): GPE / voicing error (= voiced in excess + missed)")
    for m in methods:
        g, v, extra, miss = np.mean(toy_rows[m], axis=0)
        print(
            f"    {m:8s} GPE {100 * g:5.2f} %   voicing error {100 * v:5.2f} %"
            f"   (excess {100 * extra:5.2f} %, missed {100 * miss:5.2f} %)"
            + ("   (target <= 3 % / 5 %)" if m == "yin" else "")
        )


def bench_lfcc(waves, seconds):
    try:
        import pylib.features.lfcc  # noqa: F401  (registers the lfcc extractor)
    except ImportError:
        print("lfcc: not available")
        return
    from pylib.config import from_dict
    from pylib.features.extractors import FEATURES

    cls = FEATURES.get("lfcc")
    ex = cls(from_dict(cls.Config, {}, "lfcc"), SR)
    ex(waves[0])
    t = best_time(lambda: [ex(x) for x in waves])
    print(f"lfcc (default config, dim {ex.dim}) {seconds / t:8.0f} x real time (no baseline in this run)")


def main():
    torch.set_num_threads(1)  # librosa/numpy FFTs are single-threaded: compare like with like
    with tempfile.TemporaryDirectory() as tmp:
        real, toy = _load_audio(tmp)
    waves = [x for _, x in real] + [x for _, x, _ in toy]
    seconds = sum(x.size for x in waves) / SR
    bench_logmel(waves, seconds)
    bench_f0(real, toy)
    bench_lfcc(waves, seconds)


if __name__ == "__main__":
    main()
