"""Scoring speed at ASVspoof 2019 LA eval size (71,237 CM trials, ~100k ASV trials).

Baseline: the same DET walk in plain Python (sort, then one step per trial), which is how a
first implementation usually looks. Also: mel-cepstrum per frame, vectorised over
1000 frames vs one frame at a time.
"""

import time

import numpy as np

from pylib.metrics.cm import compute_eer, min_tdcf
from pylib.metrics.vocoder import mel_cepstrum


def _python_eer(pos, neg):
    trials = sorted([(s, 0) for s in pos] + [(s, 1) for s in neg], key=lambda t: t[0])
    best = (2.0, 0.0)
    pos_rej = neg_rej = 0
    for _, is_neg in trials:
        neg_rej += is_neg
        pos_rej += 1 - is_neg
        miss, fa = pos_rej / len(pos), 1 - neg_rej / len(neg)
        if abs(miss - fa) < best[0]:
            best = (abs(miss - fa), (miss + fa) / 2)
    return best[1]


def _time(fn, repeat=3):
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main():
    g = np.random.default_rng(0)
    bona = g.normal(2.0, 1.0, 7355)
    spoof = g.normal(-1.0, 1.5, 63882)
    tar, non, asv_spoof = g.normal(3, 1, 7355), g.normal(-2, 1, 67000), g.normal(1, 2, 63882)

    t_np, (eer, _) = _time(lambda: compute_eer(bona, spoof))
    t_py, eer_py = _time(lambda: _python_eer(bona.tolist(), spoof.tolist()), repeat=1)
    assert abs(eer - eer_py) < 1e-12
    print(f"EER, 71,237 trials:      numpy {1e3 * t_np:8.1f} ms   python loop {1e3 * t_py:8.1f} ms   "
          f"speed-up x{t_py / t_np:.1f}")
    t_tdcf, r = _time(lambda: min_tdcf(bona, spoof, tar, non, asv_spoof))
    print(f"min t-DCF incl. ASV EER: numpy {1e3 * t_tdcf:8.1f} ms   (min t-DCF {r['min_tdcf']:.4f})")

    env = np.exp(g.normal(size=(1000, 513)))
    t_vec, mc = _time(lambda: mel_cepstrum(env, 24, 0.42), repeat=1)
    # the per-frame baseline on 20 frames only (it is slow), compared per frame
    t_loop, mc_loop = _time(
        lambda: np.stack([mel_cepstrum(e[None], 24, 0.42)[0] for e in env[:20]]), repeat=1
    )
    assert np.allclose(mc[:20], mc_loop)
    per_vec, per_loop = t_vec / 1000, t_loop / 20
    print(f"mel-cepstrum per frame:  batched {1e3 * per_vec:8.3f} ms   one by one {1e3 * per_loop:8.3f} ms   "
          f"speed-up x{per_loop / per_vec:.1f}")

if __name__ == "__main__":
    main()
