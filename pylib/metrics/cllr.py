"""Log-likelihood-ratio cost: Cllr and min Cllr (in bits), min Cllr by pool-adjacent-violators.

Brümmer & du Preez, "Application-independent evaluation of speaker detection", Computer Speech
and Language 20 (2006). Matches the seed's `sandbox/eval_biometric_cllr.py` (`compute_cllr`,
`compute_min_cllr`, after A. Nautsch's reference code); see each function for the one place where
nnsp differs (overflow of very large LLRs).

    Cllr = 1/2 [ mean_tar log2(1 + e^-llr) + mean_non log2(1 + e^llr) ]

Scores are taken as natural-log likelihood ratios, target (bona fide) against non-target (spoof);
a higher score means "more target". Cllr = 1 bit is the cost of an uninformative system
(llr = 0 everywhere); min Cllr is the Cllr after the best monotone recalibration on the same data,
so Cllr - min Cllr is the calibration loss.
"""

import numpy as np
from scipy.optimize import isotonic_regression

from pylib.metrics.cm import _scores

MONOTONICITY_EPSILON = 1e-6  # seed's default ramp that keeps PAV-calibrated LLRs strictly ordered


def cllr(target_llrs, nontarget_llrs):
    """Cllr in bits. target_llrs: (N,), nontarget_llrs: (M,) natural-log LLRs -> float.

    As `compute_cllr` in the seed's sandbox/eval_biometric_cllr.py, computed as log(1 + e^-x) with
    np.logaddexp, so it stays finite and exact where the seed's -log(sigmoid(x)) rounds the
    posterior to 0 and returns inf (|llr| above ~745). Infinite LLRs of the wrong sign give inf.
    """
    tar = np.asarray(target_llrs, dtype=np.float64).reshape(-1)
    non = np.asarray(nontarget_llrs, dtype=np.float64).reshape(-1)
    if tar.size == 0 or non.size == 0:
        raise ValueError("Cllr needs at least one target and one non-target LLR")
    c_tar = np.logaddexp(0.0, -tar).mean()
    c_non = np.logaddexp(0.0, non).mean()
    return float((c_tar + c_non) / (2.0 * np.log(2.0)))


def pav_llrs(target_scores, nontarget_scores, monotonicity_epsilon=MONOTONICITY_EPSILON):
    """Optimally calibrated LLRs of the given scores by PAV (isotonic regression of the labels).

    target_scores: (N,), nontarget_scores: (M,) -> (target LLRs (N,), non-target LLRs (M,)).
    As `optimal_llr` (laplace=False) in the seed's sandbox/eval_biometric_cllr.py: the scores are
    sorted with a stable sort of [non-targets, targets] (ties: non-targets first), the 0/1 labels
    are fitted by a non-decreasing step function (scipy's PAV, O(n)), the fitted posterior is
    turned into log odds minus the log prior odds log(N/M), and a ramp
    arange(N+M) * epsilon / (N+M) keeps equal bins strictly ordered.
    """
    tar = _scores(target_scores, "target")
    non = _scores(nontarget_scores, "non-target")
    scores = np.concatenate([non, tar])
    order = np.argsort(scores, kind="stable")
    labels = np.concatenate([np.zeros(non.size), np.ones(tar.size)])[order]
    posterior = isotonic_regression(labels, increasing=True).x
    with np.errstate(divide="ignore"):
        log_odds = np.log(posterior) - np.log1p(-posterior)
    n = scores.size
    llrs = log_odds - np.log(tar.size / non.size) + np.arange(n) * monotonicity_epsilon / n
    out = np.empty(n)
    out[order] = llrs
    return out[non.size:], out[:non.size]


def min_cllr(target_scores, nontarget_scores, monotonicity_epsilon=MONOTONICITY_EPSILON):
    """min Cllr in bits: the Cllr of the PAV-calibrated scores (see `pav_llrs`). -> float.

    As `compute_min_cllr` in the seed's sandbox/eval_biometric_cllr.py (which returns NaN for an
    empty class; nnsp raises a DataError naming the empty class instead).
    """
    tar, non = pav_llrs(target_scores, nontarget_scores, monotonicity_epsilon)
    return cllr(tar, non)
