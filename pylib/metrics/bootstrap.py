"""EER with a bootstrap confidence interval, vectorised over resamples.

The resampling scheme and the percentile interval are those of the seed's
`sandbox/eval_conf_inter.py` (`get_bootstrap_indices`, `get_conf_int`, `get_eer_conf`, after
L. Ferrer's ConfidenceIntervals): a resample draws the trials with replacement; with groups
(speaker, attack, ...) it first draws the groups with replacement, then, once per distinct drawn
group, that group's trials with replacement, repeated as often as the group was drawn. The
interval is [alpha/2, 100 - alpha/2] percentiles of the resampled EERs; the seed reports its
half width.

Speed: a resample's EER depends only on how often each trial was drawn. The trials are sorted once
(same order as `pylib.metrics.cm.det_curve`: by score, bona fide first among ties); a chunk of
resamples becomes a (chunk, n) count matrix, and one cumulative sum per row gives every DET point
of every resample at once. The EER point (the first minimum of |miss - fa|) is found with exact
integer arithmetic on the counts and then evaluated in the same floating-point form as
`compute_eer`, so a resample's EER equals `compute_eer` on the expanded trial list bit for bit.
"""

import numpy as np

from pylib.errors import DataError
from pylib.metrics.cm import _scores

_CHUNK_ELEMS = 1 << 17  # count-matrix elements per chunk: small work arrays stay in cache (fastest)


def _sorted_trials(scores, is_bonafide):
    scores = _scores(scores, "CM")
    is_bona = np.asarray(is_bonafide, dtype=bool).reshape(-1)
    if is_bona.shape != scores.shape:
        raise ValueError(f"scores {scores.shape} and labels {is_bona.shape} differ in shape")
    if is_bona.all() or not is_bona.any():
        raise DataError("the EER needs both bona fide and spoof trials; one class is empty")
    order = np.lexsort((~is_bona, scores))  # by score, bona fide first among ties (stable)
    return order, is_bona[order]


def eer_from_counts(counts, is_bona_sorted):
    """EER of each row of trial multiplicities. -> (B,) float, NaN where a row lacks a class.

    counts: (B, n) int, how often each trial (in sorted order, see the module docstring) is in
    resample b; is_bona_sorted: (n,) bool. Equal to `compute_eer` on the expanded trial lists.
    """
    counts = np.asarray(counts, dtype=np.int64)
    pos = is_bona_sorted.astype(np.int64)
    n_pos = counts @ pos                                   # (B,)
    n_neg = counts.sum(axis=1) - n_pos
    ok = (n_pos > 0) & (n_neg > 0)
    p_ = np.where(ok, n_pos, 1)[:, None]
    q_ = np.where(ok, n_neg, 1)[:, None]
    pos_after = np.cumsum(counts * pos, axis=1)            # positives rejected after trial i
    all_after = np.cumsum(counts, axis=1)
    neg_after = all_after - pos_after
    # miss - fa > 0  <=>  pos/P + neg/Q - 1 > 0  <=>  pos*Q + neg*P > P*Q (exact in integers)
    crossed = pos_after * q_ + neg_after * p_ > p_ * q_
    i = np.argmax(crossed, axis=1)                         # first trial whose copies cross
    rows = np.arange(counts.shape[0])
    c = counts[rows, i]
    is_p = pos[i].astype(bool)
    pos_b = pos_after[rows, i] - np.where(is_p, c, 0)       # before trial i
    neg_b = neg_after[rows, i] - np.where(is_p, 0, c)
    p, q = p_[:, 0], q_[:, 0]
    slack = p * q - pos_b * q - neg_b * p                  # >= 0: room before crossing
    step = np.where(is_p, q, p)
    k = np.minimum(slack // step, c - 1)                   # copies of trial i at the last point <= 0
    pos_k = pos_b + np.where(is_p, k, 0)
    neg_k = neg_b + np.where(is_p, 0, k)
    miss0, fa0 = pos_k / p, (q - neg_k) / q
    miss1 = (pos_k + is_p) / p
    fa1 = (q - (neg_k + ~is_p)) / q
    take0 = np.abs(miss0 - fa0) <= np.abs(miss1 - fa1)
    eer = np.where(take0, (miss0 + fa0) / 2.0, (miss1 + fa1) / 2.0)
    return np.where(ok, eer, np.nan)


def _draw_counts(rng, b, n, group_start, group_size, group_of_sorted_pos, n_groups):
    """Count matrix (b, n) for b resamples, trials in group-sorted order (see bootstrap_eer)."""
    if group_start is None:
        draws = rng.integers(0, n, size=(b, n))
        mult = None
    else:
        gdraw = rng.integers(0, n_groups, size=(b, n_groups))
        mult = np.zeros((b, n_groups), dtype=np.int64)
        np.add.at(mult, (np.arange(b)[:, None], gdraw), 1)
        # for every trial slot of group g, draw a member of g
        u = rng.random((b, n))
        draws = group_start[group_of_sorted_pos] + (u * group_size[group_of_sorted_pos]).astype(np.int64)
    flat = (draws + (np.arange(b) * n)[:, None]).ravel()
    if mult is None:
        return np.bincount(flat, minlength=b * n).reshape(b, n)
    w = mult[:, group_of_sorted_pos].ravel()             # each draw counts as often as its group
    return np.bincount(flat, weights=w, minlength=b * n).reshape(b, n).astype(np.int64)


def bootstrap_eer(scores, is_bonafide, n_resamples=1000, groups=None, seed=0, alpha=5.0):
    """EER with a bootstrap percentile confidence interval.

    scores: (N,) CM scores (higher = bona fide); is_bonafide: (N,) bool; groups: None or (N,)
    labels (speaker, attack, ...) to resample by group first (the seed's `conditions`);
    seed: int for numpy's default_rng; alpha: percent outside the interval (5 -> 95 % CI).
    -> dict(eer, ci_low, ci_high, half_width, n_resamples, n_valid, resampled (B,) EERs).
    The scheme and percentiles are those of `get_eer_conf` in the seed's sandbox/eval_conf_inter.py
    (its random stream is sklearn's per-resample RandomState(i); nnsp draws from one seeded
    generator, so the draws differ but their distribution is the same; with `eer_from_indices`
    and the seed's own indices the EERs agree exactly). Resamples that lack a class (possible when
    resampling by group) give NaN and are left out of the percentiles (n_valid counts the rest).
    """
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    if not 0 < alpha < 100:
        raise ValueError(f"alpha is a percentage in (0, 100), got {alpha}")
    order, is_bona_sorted = _sorted_trials(scores, is_bonafide)
    n = order.size
    center = float(eer_from_counts(np.ones((1, n), dtype=np.int64), is_bona_sorted)[0])
    rng = np.random.default_rng(seed)
    g_start = g_size = g_of = None
    n_groups = 0
    if groups is not None:
        groups = np.asarray(groups).reshape(-1)
        if groups.shape != (n,):
            raise ValueError(f"groups has shape {groups.shape}, scores ({n},)")
        _, gid = np.unique(groups, return_inverse=True)
        gid = gid[order]
        n_groups = int(gid.max()) + 1
        # work in group-sorted order, then map counts back to score-sorted order
        by_group = np.argsort(gid, kind="stable")
        g_size = np.bincount(gid, minlength=n_groups)
        g_start = np.concatenate([[0], np.cumsum(g_size)[:-1]])
        g_of = gid[by_group]
    chunk = max(1, _CHUNK_ELEMS // n)
    vals = np.empty(n_resamples)
    for s in range(0, n_resamples, chunk):
        b = min(chunk, n_resamples - s)
        counts = _draw_counts(rng, b, n, g_start, g_size, g_of, n_groups)
        if groups is not None:
            back = np.empty_like(counts)
            back[:, by_group] = counts
            counts = back
        vals[s:s + b] = eer_from_counts(counts, is_bona_sorted)
    return _summary(center, vals, alpha)


def eer_from_indices(scores, is_bonafide, indices):
    """EER of each resample given as an index array (e.g. the seed's `get_bootstrap_indices`).

    indices: sequence of B int arrays into scores (any lengths) -> (B,) float, NaN where a
    resample lacks a class.
    """
    order, is_bona_sorted = _sorted_trials(scores, is_bonafide)
    n = order.size
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    counts = np.stack([np.bincount(rank[np.asarray(ix, dtype=np.int64)], minlength=n) for ix in indices])
    return eer_from_counts(counts, is_bona_sorted)


def percentile_ci(values, alpha=5.0):
    """(low, high): the alpha/2 and 100 - alpha/2 percentiles (numpy's linear interpolation) of
    the finite values, as `get_conf_int` in the seed's sandbox/eval_conf_inter.py."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        raise DataError("no bootstrap resample had both bona fide and spoof trials: "
                        "resample by a finer grouping or not by group")
    return float(np.percentile(v, alpha / 2.0)), float(np.percentile(v, 100.0 - alpha / 2.0))


def _summary(center, vals, alpha):
    low, high = percentile_ci(vals, alpha)
    return {"eer": center, "ci_low": low, "ci_high": high, "half_width": (high - low) / 2.0,
            "alpha": float(alpha), "n_resamples": int(vals.size),
            "n_valid": int(np.isfinite(vals).sum()), "resampled": vals}
