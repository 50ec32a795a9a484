"""Detection cost function (DCF): actual DCF at a threshold and min DCF, normalised.

The NIST SRE / ASVspoof 5 form (NIST 2020 CTS Speaker Recognition Challenge evaluation plan,
eq. 3; ASVspoof 5 evaluation plan, Wang et al. 2024, sec. 4.1, with bona fide as the target class,
p_target = 1 - 0.05, c_miss = 1, c_fa = 10):

    DCF(t) = c_miss p_target P_miss(t) + c_fa (1 - p_target) P_fa(t)
    DCF_norm(t) = DCF(t) / min(c_miss p_target, c_fa (1 - p_target))

P_miss(t) = fraction of target scores below t, P_fa(t) = fraction of non-target scores at or above
t (a trial is accepted when its score >= t). The normaliser is the cost of the better default
system (accept all or reject all), so 1 means "no better than no system". The actual DCF takes the
scores as natural-log likelihood ratios and uses the Bayes threshold
t = log(c_fa (1 - p_target) / (c_miss p_target)); the min DCF takes the best threshold on the data.
There is no DCF function in the seed (project-NN-Pytorch-scripts); the tests check hand-computed
cases.
"""

import numpy as np

from pylib.metrics.cm import _scores

ASVSPOOF5_COSTS = {"p_target": 0.95, "c_miss": 1.0, "c_fa": 10.0}  # ASVspoof 5 evaluation plan


def _check_costs(p_target, c_miss, c_fa):
    if not 0.0 < p_target < 1.0:
        raise ValueError(f"p_target must be in (0, 1), got {p_target}")
    if c_miss <= 0 or c_fa <= 0:
        raise ValueError(f"costs must be > 0, got c_miss={c_miss}, c_fa={c_fa}")


def bayes_threshold(p_target, c_miss=1.0, c_fa=1.0):
    """Bayes decision threshold on natural-log LLRs: log(c_fa (1 - p_target) / (c_miss p_target))."""
    _check_costs(p_target, c_miss, c_fa)
    return float(np.log(c_fa * (1.0 - p_target) / (c_miss * p_target)))


def actual_dcf(target_scores, nontarget_scores, p_target, c_miss=1.0, c_fa=1.0, threshold=None):
    """Normalised DCF at `threshold` (default: the Bayes threshold for LLR scores). -> float.

    target_scores: (N,), nontarget_scores: (M,); accept when score >= threshold.
    """
    _check_costs(p_target, c_miss, c_fa)
    tar = _scores(target_scores, "target")
    non = _scores(nontarget_scores, "non-target")
    t = bayes_threshold(p_target, c_miss, c_fa) if threshold is None else float(threshold)
    p_miss = np.count_nonzero(tar < t) / tar.size
    p_fa = np.count_nonzero(non >= t) / non.size
    dcf = c_miss * p_target * p_miss + c_fa * (1.0 - p_target) * p_fa
    return float(dcf / min(c_miss * p_target, c_fa * (1.0 - p_target)))


def min_dcf(target_scores, nontarget_scores, p_target, c_miss=1.0, c_fa=1.0):
    """Normalised min DCF over all thresholds, and the threshold reaching it. -> (min_dcf, threshold).

    Only thresholds a system can actually use are tried: each distinct score (accept it and
    everything above) and +inf (reject all), so tied scores are never split.
    """
    _check_costs(p_target, c_miss, c_fa)
    tar = _scores(target_scores, "target")
    non = _scores(nontarget_scores, "non-target")
    thr = np.concatenate([np.unique(np.concatenate([tar, non])), [np.inf]])
    tar_s, non_s = np.sort(tar), np.sort(non)
    p_miss = np.searchsorted(tar_s, thr, side="left") / tar.size      # tar < t
    p_fa = 1.0 - np.searchsorted(non_s, thr, side="left") / non.size  # non >= t
    dcf = (c_miss * p_target * p_miss + c_fa * (1.0 - p_target) * p_fa) / min(
        c_miss * p_target, c_fa * (1.0 - p_target))
    k = int(np.argmin(dcf))
    return float(dcf[k]), float(thr[k])
