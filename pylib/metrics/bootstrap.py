"""EER with a bootstrap confidence interval: one sort in all, then O(n) numpy work per resample.

The resampling scheme and the percentile interval are those of the seed's
`sandbox/eval_conf_inter.py` (`get_bootstrap_indices`, `get_conf_int`, `get_eer_conf`, after
L. Ferrer's ConfidenceIntervals): a resample draws the trials with replacement; with groups
(speaker, attack, ...) it first draws the groups with replacement, then, once per distinct drawn
group, that group's trials with replacement, repeated as often as the group was drawn. The
interval is [alpha/2, 100 - alpha/2] percentiles of the resampled EERs; the seed reports its
half width.

Speed: a resample's EER depends only on how often each trial was drawn. The trials are sorted once
(same order as `pylib.metrics.cm.det_curve`: by score, bona fide first among ties); a resample
becomes a count vector (one bincount of its draws, no sort), and one weighted cumulative sum of
it locates its EER point. That point (the first minimum of |miss - fa|) is found with exact
integer arithmetic on the counts and then evaluated in the same floating-point form as
`compute_eer`, so a resample's EER equals `compute_eer` on the expanded trial list bit for bit.
"""

import numpy as np

from pylib.errors import DataError
from pylib.metrics.cm import _scores


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
    counts = np.asarray(counts)
    is_bona_sorted = np.asarray(is_bona_sorted, dtype=bool)
    pos_idx = np.flatnonzero(is_bona_sorted)
    pos_i64 = is_bona_sorted.astype(np.int64)
    return np.array([_eer_row(np.asarray(row, dtype=np.int64), is_bona_sorted, pos_idx, pos_i64)
                     for row in counts], dtype=np.float64)


def _eer_row(c, is_pos, pos_idx, pos_i64):
    """EER of one resample given as counts c (n,) of the sorted trials (see eer_from_counts).

    After the first j expanded trials, miss - fa = pos/P + neg/Q - 1 with pos + neg = j, which
    grows with j; |miss - fa| is smallest at the last point with pos*Q + neg*P <= P*Q or the next
    one. The weighted cumulative sum of c * (Q for bona fide, P for spoof) finds that trial
    exactly (in int64); the copies of it are then stepped in integer arithmetic, and miss, fa and
    the EER are formed as `compute_eer` forms them.
    """
    n_pos = int(c[pos_idx].sum())
    n_neg = int(c.sum()) - n_pos
    if n_pos == 0 or n_neg == 0:
        return np.nan
    weight = pos_i64 * (n_neg - n_pos)
    weight += n_pos                                            # Q for bona fide, P for spoof
    weight *= c
    cum = np.cumsum(weight)
    pq = n_pos * n_neg
    i = int(np.searchsorted(cum, pq, side="right"))           # first trial whose copies cross
    pos_b = int(c[pos_idx[:np.searchsorted(pos_idx, i)]].sum())
    neg_b = (int(cum[i - 1]) - pos_b * n_neg) // n_pos if i else 0
    ci, p = int(c[i]), bool(is_pos[i])
    slack = pq - pos_b * n_neg - neg_b * n_pos                # >= 0: room before crossing
    k = min(slack // (n_neg if p else n_pos), ci - 1)         # copies at the last point <= 0
    pos_k, neg_k = pos_b + (k if p else 0), neg_b + (0 if p else k)
    miss0, fa0 = pos_k / n_pos, (n_neg - neg_k) / n_neg
    miss1, fa1 = (pos_k + p) / n_pos, (n_neg - (neg_k + (not p))) / n_neg
    if abs(miss0 - fa0) <= abs(miss1 - fa1):
        return (miss0 + fa0) / 2.0
    return (miss1 + fa1) / 2.0


def bootstrap_eer(scores, is_bonafide, n_resamples=1000, groups=None, seed=0, alpha=5.0, stratify=False):
    """EER with a bootstrap percentile confidence interval.

    scores: (N,) CM scores (higher = bona fide); is_bonafide: (N,) bool; groups: None or (N,)
    labels (speaker, attack, ...) to resample by group first (the seed's `conditions`);
    seed: int for numpy's default_rng; alpha: percent outside the interval (5 -> 95 % CI).
    -> dict(eer, ci_low, ci_high, half_width, n_resamples, n_valid, resampled (B,) EERs).
    The scheme and percentiles are those of `get_eer_conf` in the seed's sandbox/eval_conf_inter.py
    (its random stream is sklearn's per-resample RandomState(i); nnsp draws from one seeded
    generator, so the draws differ; with `eer_from_indices` and the seed's own indices the EERs
    agree exactly). Ungrouped, the two schemes have the same distribution. Grouped, the seed
    restarts RandomState(i) for the group draw and again for every group's member draw, so
    groups of equal size get the same member positions within a resample; nnsp draws them
    independently. Resamples that lack a class (possible when resampling by group) give NaN and
    are left out of the percentiles (n_valid counts the rest).

    stratify (with groups): the groups are formed within each class (a speaker's bona fide and spoof
    trials are two groups) and drawn within their class, as many as the class has, so every
    resample keeps both classes; by attack, the one bona fide group ("-") is then always drawn and
    its trials resampled one by one. Not in the seed (an nnsp addition: score_cm --bootstrap-by).
    """
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    if not 0 < alpha < 100:
        raise ValueError(f"alpha is a percentage in (0, 100), got {alpha}")
    order, is_bona_sorted = _sorted_trials(scores, is_bonafide)
    n = order.size
    center = float(eer_from_counts(np.ones((1, n), dtype=np.int64), is_bona_sorted)[0])
    rng = np.random.default_rng(seed)
    pos_idx = np.flatnonzero(is_bona_sorted)
    pos_i64 = is_bona_sorted.astype(np.int64)
    vals = np.empty(n_resamples)
    if groups is None:
        for b in range(n_resamples):
            counts = np.bincount(rng.integers(0, n, n), minlength=n)
            vals[b] = _eer_row(counts, is_bona_sorted, pos_idx, pos_i64)
        return _summary(center, vals, alpha)
    groups = np.asarray(groups).reshape(-1)
    if groups.shape != (n,):
        raise ValueError(f"groups has shape {groups.shape}, scores ({n},)")
    keys = groups[order]
    if stratify:  # one group per (class, group) pair
        keys = np.char.add(np.where(is_bona_sorted, "b:", "s:"), keys.astype(str))
    _, gid = np.unique(keys, return_inverse=True)            # group of each sorted trial
    gid = gid.reshape(-1)
    n_groups = int(gid.max()) + 1
    strata = None
    if stratify:  # the groups of each class, drawn among themselves
        group_bona = np.zeros(n_groups, dtype=bool)
        group_bona[gid[is_bona_sorted]] = True
        strata = [np.flatnonzero(group_bona), np.flatnonzero(~group_bona)]
    by_group = np.argsort(gid, kind="stable")                 # sorted-trial index, grouped
    size = np.bincount(gid, minlength=n_groups)
    start = np.concatenate([[0], np.cumsum(size)[:-1]])
    slot_group = gid[by_group]                                # group of each grouped slot
    slot_start, slot_size = start[slot_group], size[slot_group]
    for b in range(n_resamples):
        # draw the groups, then for every slot of a group one member of that group; a group drawn
        # m times contributes its member draws m times (the seed's np.repeat(..., m))
        if strata is None:
            mult = np.bincount(rng.integers(0, n_groups, n_groups), minlength=n_groups)
        else:
            mult = np.zeros(n_groups, dtype=np.int64)
            for members in strata:
                np.add.at(mult, members[rng.integers(0, members.size, members.size)], 1)
        pick = (rng.random(n) * slot_size).astype(np.int64)
        np.minimum(pick, slot_size - 1, out=pick)            # u * size may round up to size
        counts = np.bincount(by_group[slot_start + pick], minlength=n) * mult[gid]
        vals[b] = _eer_row(counts, is_bona_sorted, pos_idx, pos_i64)
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
    pos_idx = np.flatnonzero(is_bona_sorted)
    pos_i64 = is_bona_sorted.astype(np.int64)
    return np.array([_eer_row(np.bincount(rank[np.asarray(ix, dtype=np.int64)], minlength=n),
                              is_bona_sorted, pos_idx, pos_i64) for ix in indices], dtype=np.float64)


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
