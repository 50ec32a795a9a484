"""SSL front end speed on CPU (2 threads): inference utterances/s of the tiny SSL model (make_tiny_ssl:
2 layers of width 32, the real CNN and frame shift) on 3-4 s utterances, one by one, against the
same-run baseline of reading the cached features of the same utterances (stage 1's raw <f4 files,
layers all), which is what frozen-SSL training reads instead of running the model.

`make bench BENCH_ARGS=ssl` runs this part alone.
"""

import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from pylib.io import read_f4, write_f4

SR = 16000


def _best(fn, rounds=3):
    fn()  # warm-up
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main():
    from pylib.models.ssl import SSLFrontendConfig, build_ssl_frontend
    from pylib.models.ssl.fairseq import save_hf_folder
    from pylib.models.ssl.tiny import make_tiny_model

    torch.set_num_threads(2)
    g = np.random.default_rng(0)
    waves = [(0.1 * g.standard_normal(int(SR * g.uniform(3.0, 4.0)))).astype(np.float32) for _ in range(16)]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        save_hf_folder(make_tiny_model("wav2vec2", seed=0), tmp / "tiny")
        fe = build_ssl_frontend(SSLFrontendConfig(path=str(tmp / "tiny"), layers="all"))
        dim = fe.out_dim * fe.n_layers

        def infer():
            return [fe(torch.from_numpy(w)[None])[0][0].reshape(-1, dim).numpy() for w in waves]

        for i, f in enumerate(infer()):
            write_f4(tmp / f"{i}.f4", f)
        paths = [tmp / f"{i}.f4" for i in range(len(waves))]
        run = _best(infer)
        read = _best(lambda: [read_f4(p, dim) for p in paths])
    secs = sum(len(w) for w in waves) / SR
    print(
        f"tiny SSL model ({sum(p.numel() for p in fe.parameters()) / 1e3:.0f}k params), 16 utts of 3-4 s "
        f"({secs:.0f} s of audio), layers all ({dim} dims per frame), CPU 2 threads, best of 3:"
    )
    print(f"  read cached <f4 features (baseline): {len(waves) / read:9.1f} utt/s")
    print(
        f"  SSL inference (one by one)         : {len(waves) / run:9.1f} utt/s   "
        f"{run / read:.0f}x the read time, {secs / run:.0f}x real time"
    )


if __name__ == "__main__":
    main()
