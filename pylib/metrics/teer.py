"""Tandem equal error rate (t-EER) of a countermeasure (CM) and a speaker verifier (ASV).

Kinnunen, Lee, Tak, Evans, Nautsch, "t-EER: Parameter-free tandem evaluation of countermeasures
and biometric comparators", IEEE TPAMI 2023 (doi 10.1109/TPAMI.2023.3313648). Matches
`compute_t_eer` in the seed's `sandbox/eval_biometric_teer.py` (a wrapper of H. Tak's T-EER code):
for every ASV threshold (the DET points of the ASV scores of all trials), the CM threshold where
the tandem miss rate equals the rho-weighted tandem false-alarm rate

    P_miss_tdm = P_miss_asv + P_miss_cm - P_miss_asv P_miss_cm
    P_fa_tdm   = (1 - rho) P_fa_asv(non-target) (1 - P_miss_cm) + rho P_fa_asv(spoof) P_fa_cm

and the t-EER there, (P_miss_tdm + P_fa_tdm) / 2; ASV thresholds where
(1 - rho) P_fa_asv(non) + rho P_fa_asv(spoof) < P_miss_asv have no such point (NaN). The
concurrent t-EER is the point of the path where the two false-alarm terms are closest,
P_fa_asv(non) (1 - P_miss_cm) ~ P_fa_asv(spoof) P_fa_cm.

The seed searches every CM threshold for every ASV threshold (quadratic); the tandem miss minus
false-alarm rate is non-decreasing in the CM threshold, so nnsp finds the same point by a binary
search vectorised over all ASV thresholds (O(n log n)).
"""

import numpy as np

from pylib.metrics.cm import POS_FIRST_OFFSET, _scores, det_curve


def _asv_curves(tar, non, spf):
    """As the seed's compute_Pmiss_Pfa_Pspoof_curves: stable sort, ties ordered target, non, spoof."""
    scores = np.concatenate([tar, non, spf])
    cls = np.concatenate([np.full(tar.size, 1), np.full(non.size, 0), np.full(spf.size, -1)])
    order = np.argsort(scores, kind="stable")
    cls = cls[order]
    p_miss = np.concatenate([[0.0], np.cumsum(cls == 1) / tar.size])
    p_fa_non = np.concatenate([[1.0], 1 - np.cumsum(cls == 0) / non.size])
    p_fa_spf = np.concatenate([[1.0], 1 - np.cumsum(cls == -1) / spf.size])
    s = scores[order]
    return p_miss, p_fa_non, p_fa_spf, np.concatenate([[s[0] - POS_FIRST_OFFSET], s])


def _first_at_least(fn, target, n_rows, n_cols):
    """Per row r: first column k in [0, n_cols] with fn(rows, k) >= target[r] (fn non-decreasing in k)."""
    lo = np.zeros(n_rows, dtype=np.int64)
    hi = np.full(n_rows, n_cols, dtype=np.int64)
    rows = np.arange(n_rows)
    while True:
        act = lo < hi
        if not act.any():
            return lo
        r = rows[act]
        mid = (lo[act] + hi[act]) // 2
        ok = fn(r, mid) >= target[act]
        hi[r] = np.where(ok, mid, hi[r])
        lo[r] = np.where(ok, lo[r], mid + 1)


def tandem_eer(asv_target, cm_target, asv_nontarget, cm_nontarget, asv_spoof, cm_spoof, rho=0.5):
    """t-EER path and concurrent t-EER.

    asv_target/cm_target: (Lt,) ASV and CM scores of the bona fide target trials; likewise
    (Ln,) for bona fide non-target and (Ls,) for spoofed trials; rho: spoofing prior in [0, 1].
    Higher scores mean target (ASV) / bona fide (CM).
    -> dict(path (L+1, 2) [ASV threshold, CM threshold] or NaN, values (L+1,) t-EER or NaN,
            concurrent_teer float, concurrent_thresholds (2,)), L = Lt + Ln + Ls, as the four
    outputs of the seed's `compute_t_eer`. One difference: the seed reports NaN for the concurrent
    t-EER whenever its ASV or CM threshold index is 0 (a truthiness test on the indices); nnsp
    reports the point found.
    """
    if not 0.0 <= rho <= 1.0:
        raise ValueError(f"rho must be in [0, 1], got {rho}")
    tar_a, tar_c = _scores(asv_target, "ASV target"), _scores(cm_target, "CM target")
    non_a, non_c = _scores(asv_nontarget, "ASV non-target"), _scores(cm_nontarget, "CM non-target")
    spf_a, spf_c = _scores(asv_spoof, "ASV spoof"), _scores(cm_spoof, "CM spoof")
    for what, a, c in (("target", tar_a, tar_c), ("non-target", non_a, non_c), ("spoof", spf_a, spf_c)):
        if a.shape != c.shape:
            raise ValueError(f"{what}: {a.size} ASV scores but {c.size} CM scores (one pair per trial)")
    pm_a, pfn_a, pfs_a, tau_a = _asv_curves(tar_a, non_a, spf_a)
    pm_c, pf_c, tau_c = det_curve(np.concatenate([tar_c, non_c]), spf_c)

    n_a, n_c = tau_a.size, tau_c.size
    check = (1.0 - rho) * pfn_a + rho * pfs_a
    valid = ~(check < pm_a)
    rows = np.flatnonzero(valid)
    pm, pfn, pfs = pm_a[rows], pfn_a[rows], pfs_a[rows]

    def miss(r, k):
        return pm[r] + pm_c[k] - pm[r] * pm_c[k]

    def fa(r, k):
        return (1.0 - rho) * pfn[r] * (1.0 - pm_c[k]) + rho * pfs[r] * pf_c[k]

    def gap(r, k):
        return miss(r, k) - fa(r, k)

    nr = rows.size
    r_all = np.arange(nr)
    k = _first_at_least(gap, np.zeros(nr), nr, n_c)   # first CM point with miss >= fa
    k_lo = np.maximum(k - 1, 0)
    k_hi = np.minimum(k, n_c - 1)
    v_lo = np.where(k > 0, np.abs(gap(r_all, k_lo)), np.inf)
    v_hi = np.where(k < n_c, np.abs(gap(r_all, k_hi)), np.inf)
    use_lo = v_lo <= v_hi
    # first occurrence of the minimum (np.argmin): start of the run of equal values ending at k-1
    first_lo = _first_at_least(gap, gap(r_all, k_lo), nr, n_c)
    best = np.where(use_lo, np.minimum(first_lo, k_lo), k_hi)

    values = np.full(n_a, np.nan)
    path = np.full((n_a, 2), np.nan)
    values[rows] = (miss(r_all, best) + fa(r_all, best)) / 2.0
    path[rows, 0] = tau_a[rows]
    path[rows, 1] = tau_c[best]
    con, con_tau = np.nan, np.array([np.nan, np.nan])
    if nr:
        fa_gap = np.abs(pfn * (1.0 - pm_c[best]) - pfs * pf_c[best])
        j = int(np.argmin(fa_gap))
        con, con_tau = float(values[rows[j]]), path[rows[j]].copy()
    return {"path": path, "values": values, "concurrent_teer": con, "concurrent_thresholds": con_tau}
