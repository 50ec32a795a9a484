"""Scoring speed at ASVspoof 2019 LA eval size (71,237 CM trials, ~100k ASV trials).

Baseline: the same DET walk in plain Python (sort, then one step per trial), which is how a
first implementation usually looks. Also: mel-cepstrum per frame, vectorised over
1000 frames vs one frame at a time. Bootstrap EER CI (issue 14, target < 5 s for 1000 resamples):
vectorised over resamples vs the plain loop of 1000 `compute_eer` calls on resampled trials (timed
on 50 resamples, scaled), same run. Also Cllr / min Cllr and the t-EER at full size.
"""

import time

import numpy as np

from pylib.metrics.bootstrap import bootstrap_eer, eer_from_indices
from pylib.metrics.cllr import cllr, min_cllr
from pylib.metrics.cm import compute_eer, min_tdcf
from pylib.metrics.teer import tandem_eer
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

    _bench_stats(g, bona, spoof, tar, non, asv_spoof)

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


def _bench_stats(g, bona, spoof, tar, non, asv_spoof):
    scores = np.concatenate([bona, spoof])
    is_bona = np.arange(scores.size) < bona.size
    n_boot, n_loop = 1000, 50
    t_vec, r = _time(lambda: bootstrap_eer(scores, is_bona, n_boot, seed=0), repeat=1)
    idx = [g.integers(0, scores.size, scores.size) for _ in range(n_loop)]

    def loop():
        return np.array([compute_eer(scores[i][is_bona[i]], scores[i][~is_bona[i]])[0] for i in idx])

    t_loop, eers = _time(loop, repeat=1)
    assert np.array_equal(eers, eer_from_indices(scores, is_bona, idx))  # same EERs, exactly
    t_loop_full = t_loop * n_boot / n_loop
    print(f"bootstrap EER 95% CI, {scores.size:,} trials x {n_boot} resamples: "
          f"counts {t_vec:6.2f} s   loop of compute_eer {t_loop_full:6.2f} s ({n_loop} timed, scaled)   "
          f"speed-up x{t_loop_full / t_vec:.1f}   (EER {100 * r['eer']:.2f} %, "
          f"CI {100 * r['ci_low']:.2f}-{100 * r['ci_high']:.2f} %, target < 5 s: "
          f"{'met' if t_vec < 5 else 'MISSED'})")
    t_c, c = _time(lambda: (cllr(bona, spoof), min_cllr(bona, spoof)))
    print(f"Cllr + min Cllr (PAV):   numpy {1e3 * t_c:8.1f} ms   (Cllr {c[0]:.3f}, min Cllr {c[1]:.3f} bits)")
    # t-EER: one ASV and one CM score per trial, ASVspoof 2019 LA eval class sizes
    cm = [g.normal(2, 1, tar.size), g.normal(2, 1, non.size), g.normal(-1, 1.5, asv_spoof.size)]
    n_t = tar.size + non.size + asv_spoof.size
    t_t, te = _time(lambda: tandem_eer(tar, cm[0], non, cm[1], asv_spoof, cm[2], rho=0.05), repeat=1)
    print(f"t-EER, {n_t:,} trials:   numpy {1e3 * t_t:8.1f} ms   (concurrent t-EER "
          f"{100 * te['concurrent_teer']:.2f} %; the seed's loop is quadratic)")

if __name__ == "__main__":
    main()
