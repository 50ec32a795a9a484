"""Linear logistic-regression calibration and fusion of countermeasure scores (numpy/scipy only).

A fusion of k systems maps an utterance's scores x (k,) to one natural-log likelihood ratio
    llr = weights . x + offset,
higher = more bona fide (bona fide is the "target" class). It is trained on dev scores with labels
by minimising the prior-weighted cross-entropy of BOSARIS/FoCal (Brümmer & du Preez 2006):

    C(w, b) = P/N_t  * sum_{bona fide} log(1 + exp(-(llr_i + logit P)))
            + (1-P)/N_n * sum_{spoof}  log(1 + exp(+(llr_j + logit P)))

with P = p_target, the effective target prior (0.5 by default). Weighting each class by P/N_t and
(1-P)/N_n makes the result independent of the dev set's class balance, and subtracting logit P from
the posterior log-odds makes the output a likelihood ratio, usable at any prior. C / log 2 at P = 0.5
is the Cllr (bits) of the fused scores on dev; since the fused system can copy any single system
(one weight 1, the others 0, offset 0), its trained cross-entropy is never above a single system's.

The optimiser (scipy's L-BFGS-B with the analytic gradient) runs on standardised scores (each
system's dev mean 0, standard deviation 1) and the weights are mapped back, so the result does not
depend on the scale or shift of an input (a monotone affine rescaling of a system changes only its
weight and the offset, not the fused LLRs). `l2` adds l2 * |w|^2 on the standardised weights: where
the dev scores separate the classes perfectly the unregularised weights grow without bound (the
optimiser then stops on its tolerance with large weights and overconfident LLRs); a small `l2`
(e.g. 1e-3) keeps them finite.

    weights, offset = train_fusion(dev (n, k), is_bonafide (n,), p_target=0.5)
    llr = apply_fusion(eval (m, k), weights, offset)
    llr = calibrate(dev (n,), is_bonafide (n,), eval (m,))          # k = 1
    utts, matrix, dropped = align_systems([{utt: score}, ...], ["a.txt", ...])
"""

import logging
import math

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit

from pylib.errors import DataError

log = logging.getLogger(__name__)

LOG2 = math.log(2.0)


def _check_p_target(p_target):
    p = float(p_target)
    if not 0.0 < p < 1.0:
        raise ValueError(f"p_target must be strictly between 0 and 1, got {p_target!r}")
    return p


def _as_matrix(scores, what):
    """(n,) or (n, k) finite float64 -> (n, k); a DataError for NaN/Inf or no utterance."""
    x = np.asarray(scores, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ValueError(f"{what}: expected an (n,) or (n, k) array of scores, got shape {x.shape}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise DataError(f"{what}: no scores (shape {x.shape})")
    bad = ~np.isfinite(x)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise DataError(
            f"{what}: {int(bad.sum())} scores are NaN or Inf (first: utterance {row}, system {col}); "
            f"NaN/Inf scores cannot be fused (check the model that wrote them)"
        )
    return x


def _as_labels(labels, n, what="dev labels"):
    """is_bonafide (n,) bool, or a DataError where one class is absent."""
    y = np.asarray(labels)
    if y.ndim != 1 or y.shape[0] != n:
        raise ValueError(f"{what}: expected {n} labels (one per dev utterance), got shape {y.shape}")
    if y.dtype != bool:
        if not np.isin(y, (0, 1)).all():
            raise ValueError(
                f"{what}: expected booleans or 0/1 (1 = bona fide), got values {np.unique(y)[:5]}"
            )
        y = y.astype(bool)
    n_bona = int(y.sum())
    if n_bona == 0 or n_bona == n:
        have = "bona fide" if n_bona else "spoof"
        raise DataError(
            f"{what}: all {n} dev utterances are {have}; calibration and fusion need both bona fide "
            f"and spoof trials on dev (check the dev label file)"
        )
    return y


def cross_entropy_bits(llr, is_bonafide, p_target=0.5):
    """Prior-weighted cross-entropy (bits) of natural-log LLRs: Cllr at p_target = 0.5.

    C(P) / log 2 of the module docstring: LLRs that are all 0 score the prior's entropy H(P) bits
    (1 bit at P = 0.5).
    """
    p = _check_p_target(p_target)
    s = _as_matrix(llr, "llr")
    if s.shape[1] != 1:
        raise ValueError(f"llr: expected one score per utterance, got shape {np.shape(llr)}")
    y = _as_labels(is_bonafide, s.shape[0], "labels")
    y_ = s[:, 0] + math.log(p / (1.0 - p))
    c_tar = np.logaddexp(0.0, -y_[y]).mean()
    c_non = np.logaddexp(0.0, y_[~y]).mean()
    return float((p * c_tar + (1.0 - p) * c_non) / LOG2)


def _objective(theta, z, y, q, logit_p, l2):
    """Prior-weighted cross-entropy (nats) and its gradient at theta = (v (k,), c) on standardised z."""
    v, c = theta[:-1], theta[-1]
    a = z @ v + c + logit_p
    # Per-trial loss: softplus(-a) for bona fide, softplus(a) for spoof; weights q = P/N_t or (1-P)/N_n.
    loss = np.where(y, np.logaddexp(0.0, -a), np.logaddexp(0.0, a))
    g = q * (expit(a) - y)  # d loss_i / d a_i, weighted
    value = float(q @ loss + l2 * (v @ v))
    grad = np.empty_like(theta)
    grad[:-1] = z.T @ g + 2.0 * l2 * v
    grad[-1] = g.sum()
    return value, grad


def train_fusion(dev_scores, labels, p_target=0.5, l2=0.0, max_iter=1000):
    """Train a linear fusion on dev: dev_scores (n,) or (n, k), labels (n,) bool or 0/1 (1 = bona fide).

    Returns (weights (k,) float64, offset float): the fused natural-log LLR of scores x is
    weights . x + offset. Errors: DataError for NaN/Inf scores, a dev set with one class only, or a
    system that gives every dev utterance the same score (its weight is undetermined).
    """
    p = _check_p_target(p_target)
    if l2 < 0:
        raise ValueError(f"l2 must be >= 0, got {l2!r}")
    x = _as_matrix(dev_scores, "dev scores")
    n, k = x.shape
    y = _as_labels(labels, n)
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    const = np.flatnonzero(std <= 1e-12 * np.maximum(1.0, np.abs(mean)))
    if const.size:
        raise DataError(
            f"dev scores: system {int(const[0])} gives every dev utterance the same score "
            f"({x[0, const[0]]:g}); its weight cannot be trained (drop that system)"
        )
    z = (x - mean) / std
    n_bona = int(y.sum())
    q = np.where(y, p / n_bona, (1.0 - p) / (n - n_bona))
    logit_p = math.log(p / (1.0 - p))
    # Start from equal weights on the standardised systems and offset 0: a fair guess for scores
    # where higher = more bona fide.
    theta0 = np.concatenate([np.full(k, 1.0 / k), [0.0]])
    res = minimize(
        _objective,
        theta0,
        args=(z, y.astype(np.float64), q, logit_p, float(l2)),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": int(max_iter), "gtol": 1e-10, "ftol": 1e-15},
    )
    if not np.all(np.isfinite(res.x)):
        raise RuntimeError(f"fusion training diverged: {res.message}")
    v, c = res.x[:-1], float(res.x[-1])
    weights = v / std
    offset = c - float(weights @ mean)
    fused = x @ weights + offset
    separable = l2 == 0 and fused[y].min() > fused[~y].max()
    # L-BFGS-B may stop on its line search at round-off level ("ABNORMAL"); judge by the gradient.
    grad = _objective(res.x, z, y.astype(np.float64), q, logit_p, float(l2))[1]
    if np.abs(grad).max() > 1e-6 and not separable:
        log.warning("fusion training stopped before converging (%s, gradient %.2g); the weights may be off",
                    res.message, np.abs(grad).max())
    if separable:
        log.warning(
            "the dev scores separate bona fide and spoof perfectly: the fusion weights (%s) grow "
            "without bound and the LLRs are overconfident; a small l2 (e.g. 1e-3) keeps them finite",
            ", ".join(f"{w:.3g}" for w in weights),
        )
    return weights, offset


def apply_fusion(scores, weights, offset):
    """Fused natural-log LLRs (m,) of scores (m,) or (m, k) with train_fusion's (weights, offset)."""
    w = np.atleast_1d(np.asarray(weights, dtype=np.float64))
    x = _as_matrix(scores, "eval scores")
    if x.shape[1] != w.shape[0]:
        raise ValueError(f"eval scores: {x.shape[1]} systems, but the fusion has {w.shape[0]} weights")
    return x @ w + float(offset)


def calibrate(dev_scores, labels, eval_scores, p_target=0.5, l2=0.0):
    """One system (k = 1): train scale and offset on dev, return the calibrated eval LLRs (m,)."""
    dev = np.asarray(dev_scores, dtype=np.float64)
    ev = np.asarray(eval_scores, dtype=np.float64)
    if dev.ndim != 1 or ev.ndim != 1:
        raise ValueError(f"calibrate takes one system: 1-d scores, got shapes {dev.shape} and {ev.shape}")
    weights, offset = train_fusion(dev, labels, p_target=p_target, l2=l2)
    return apply_fusion(ev, weights, offset)


def align_systems(systems, names, labels=None, labels_name="labels", allow_missing=False):
    """Line up k score dicts [{utt: score}, ...] (files `names`) on common utterances.

    Without labels the utterances are those of the first system, in its order; with labels
    ({utt: anything}) those of the label file. An utterance missing from one file (or, with labels,
    an utterance one file scores that has no label) is a DataError naming the utterance and the
    file, unless allow_missing: then only utterances every file scores (and that are labelled) are
    kept. Returns (utts list, scores (n, k) float64, dropped: number of utterances left out).
    """
    if len(systems) != len(names) or not systems:
        raise ValueError(f"align_systems: {len(systems)} score sets for {len(names)} names")
    universe = list(labels) if labels is not None else list(systems[0])
    union = dict.fromkeys(universe)
    for s in systems:
        union.update(dict.fromkeys(s))
    if not allow_missing:
        where = labels_name if labels is not None else names[0]
        for scores, name in zip(systems, names):
            missing = [u for u in universe if u not in scores]
            if missing:
                more = f", nor do {len(missing) - 1} more" if len(missing) > 1 else ""
                raise DataError(
                    f"{name}: utterance {missing[0]!r} (in {where}) has no score{more}; score the same "
                    f"utterances with every system, or pass --allow-missing to fuse only those every "
                    f"file scores"
                )
            known = labels if labels is not None else systems[0]
            extra = [u for u in scores if u not in known]
            if extra:
                what = f"has no label in {labels_name}" if labels is not None else f"is not scored in {where}"
                more = f" ({len(extra)} such utterances)" if len(extra) > 1 else ""
                raise DataError(
                    f"{name}: utterance {extra[0]!r} {what}{more}; check that all files are of the same "
                    f"set, or pass --allow-missing"
                )
    utts = [u for u in universe if all(u in s for s in systems)]
    if not utts:
        raise DataError(f"{', '.join(map(str, names))}: no utterance is scored in every file"
                        + (f" and labelled in {labels_name}" if labels is not None else ""))
    matrix = np.asarray([[s[u] for s in systems] for u in utts], dtype=np.float64)
    return utts, matrix, len(union) - len(utts)
