"""Countermeasure metrics: DET curve, EER, min t-DCF (ASVspoof 2019), per-attack EER.

Convention: a higher score means "more bona fide" (CM) or "more target" (ASV). Every function
takes plain 1-D numpy arrays and works in float64.

The DET points follow the ASVspoof evaluation package exactly, because published EERs and t-DCFs
depend on it: scores of both classes are sorted together with a *stable* sort, the positive class
(bona fide / target) placed first, so tied scores are stepped through one at a time with positives
first. Point k (k = 0..n) rejects the k lowest scores:

    miss[k] = #positives among them / n_pos     fa[k] = #negatives left / n_neg

and its threshold is the k-th sorted score (point 0: the lowest score minus 0.001). The EER is the
mean of miss and fa at the point where |miss - fa| is smallest (the first such point).

t-DCF (Kinnunen et al., "t-DCF: a detection cost function for the tandem assessment of spoofing
countermeasures and automatic speaker verification", Odyssey 2018; revised in IEEE/ACM TASLP 2020),
with the ASV system fixed at its own EER threshold:

legacy (ASVspoof 2019 challenge, the default here):
    C1 = Ptar (Cmiss_cm - Cmiss_asv Pmiss_asv) - Pnon Cfa_asv Pfa_asv
    C2 = Cfa_cm Pspoof (1 - Pmiss_spoof_asv)
    t-DCF(s) = (C1 Pmiss_cm(s) + C2 Pfa_cm(s)) / min(C1, C2)
revised (2020, used from ASVspoof 2021 on):
    C0 = Ptar Cmiss Pmiss_asv + Pnon Cfa Pfa_asv
    C1 = Ptar Cmiss - C0
    C2 = Pspoof Cfa_spoof (1 - Pmiss_spoof_asv)
    t-DCF(s) = (C0 + C1 Pmiss_cm(s) + C2 Pfa_cm(s)) / (C0 + min(C1, C2))

The normaliser is the cost of the better of the two default CMs (accept all, reject all), so a
min t-DCF of 1 means the CM is useless.
"""

from dataclasses import asdict, dataclass

import numpy as np

from pylib.errors import DataError

POS_FIRST_OFFSET = 0.001  # threshold of DET point 0, below the lowest score (as the ASVspoof code)


def _scores(x, what):
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    if x.size == 0:
        raise DataError(f"no {what} scores: both classes are needed to compute an error rate")
    if not np.isfinite(x).all():
        bad = int(np.flatnonzero(~np.isfinite(x))[0])
        raise DataError(f"{what} scores contain NaN or Inf (first at index {bad})")
    return x


def det_curve(positive, negative):
    """DET points for positive (bona fide / target) vs negative (spoof / nontarget) scores.

    positive: (P,), negative: (Q,) -> miss (P+Q+1,), fa (P+Q+1,), thresholds (P+Q+1,).
    miss is non-decreasing and fa non-increasing from (0, 1) to (1, 0); point k rejects the k
    lowest scores (see the module docstring for ties).
    """
    pos = _scores(positive, "positive (bona fide / target)")
    neg = _scores(negative, "negative (spoof / nontarget)")
    scores = np.concatenate([pos, neg])
    is_pos = np.concatenate([np.ones(pos.size), np.zeros(neg.size)])
    order = np.argsort(scores, kind="stable")
    is_pos = is_pos[order]
    pos_rejected = np.cumsum(is_pos)
    neg_rejected = np.arange(1, scores.size + 1) - pos_rejected
    miss = np.concatenate([[0.0], pos_rejected / pos.size])
    fa = np.concatenate([[1.0], (neg.size - neg_rejected) / neg.size])
    sorted_scores = scores[order]
    thresholds = np.concatenate([[sorted_scores[0] - POS_FIRST_OFFSET], sorted_scores])
    return miss, fa, thresholds


def compute_eer(positive, negative):
    """EER (a fraction, not %) and its threshold. positive: (P,), negative: (Q,) -> (eer, threshold)."""
    miss, fa, thresholds = det_curve(positive, negative)
    k = int(np.argmin(np.abs(miss - fa)))
    return float((miss[k] + fa[k]) / 2.0), float(thresholds[k])


def split_by_label(scores, is_bonafide):
    """scores: (N,), is_bonafide: (N,) bool -> (bona fide scores, spoof scores)."""
    scores = np.asarray(scores, dtype=np.float64)
    is_bonafide = np.asarray(is_bonafide, dtype=bool)
    if scores.shape != is_bonafide.shape:
        raise ValueError(f"scores {scores.shape} and labels {is_bonafide.shape} differ in shape")
    return scores[is_bonafide], scores[~is_bonafide]


def per_attack_eer(scores, is_bonafide, attacks):
    """EER of each attack's spoof scores against all bona fide scores.

    scores: (N,), is_bonafide: (N,) bool, attacks: (N,) str (ignored for bona fide rows) ->
    {attack: {"eer": fraction, "threshold": float, "n_spoof": int}}, attacks in sorted order.
    """
    bona, _ = split_by_label(scores, is_bonafide)
    scores = np.asarray(scores, dtype=np.float64)
    spoof_mask = ~np.asarray(is_bonafide, dtype=bool)
    attacks = np.asarray(attacks, dtype=str)
    out = {}
    for attack in sorted(set(attacks[spoof_mask].tolist())):
        sel = scores[spoof_mask & (attacks == attack)]
        eer, thr = compute_eer(bona, sel)
        out[attack] = {"eer": eer, "threshold": thr, "n_spoof": int(sel.size)}
    return out


@dataclass(frozen=True)
class CostModel:
    """Priors and costs of the t-DCF; the defaults are the ASVspoof 2019 cost model."""

    Pspoof: float = 0.05  # prior of a spoofing attack
    Ptar: float = (1 - 0.05) * 0.99  # prior of a target speaker
    Pnon: float = (1 - 0.05) * 0.01  # prior of a nontarget (zero-effort impostor)
    Cmiss: float = 1.0  # revised: tandem system rejects a target
    Cfa: float = 10.0  # revised: tandem system accepts a nontarget
    Cfa_spoof: float = 10.0  # revised: tandem system accepts a spoof
    Cmiss_asv: float = 1.0  # legacy: ASV rejects a target
    Cfa_asv: float = 10.0  # legacy: ASV accepts a nontarget
    Cmiss_cm: float = 1.0  # legacy: CM rejects bona fide speech
    Cfa_cm: float = 10.0  # legacy: CM accepts a spoof


def asv_error_rates(target, nontarget, spoof, threshold):
    """ASV rates at `threshold` (accept when score >= threshold).

    target: (T,), nontarget: (U,), spoof: (S,) -> (Pfa_asv, Pmiss_asv, Pmiss_spoof_asv).
    """
    target = _scores(target, "ASV target")
    nontarget = _scores(nontarget, "ASV nontarget")
    spoof = _scores(spoof, "ASV spoof")
    pfa = float(np.mean(nontarget >= threshold))
    pmiss = float(np.mean(target < threshold))
    pmiss_spoof = float(np.mean(spoof < threshold))
    return pfa, pmiss, pmiss_spoof


def tdcf_weights(pfa_asv, pmiss_asv, pmiss_spoof_asv, cost=None, legacy=True):
    """(C0, C1, C2, normaliser) of the t-DCF for a fixed ASV operating point (C0 = 0 if legacy)."""
    c = cost or CostModel()
    if legacy:
        c0 = 0.0
        c1 = c.Ptar * (c.Cmiss_cm - c.Cmiss_asv * pmiss_asv) - c.Pnon * c.Cfa_asv * pfa_asv
        c2 = c.Cfa_cm * c.Pspoof * (1.0 - pmiss_spoof_asv)
        norm = min(c1, c2)
    else:
        c0 = c.Ptar * c.Cmiss * pmiss_asv + c.Pnon * c.Cfa * pfa_asv
        c1 = c.Ptar * c.Cmiss - c0
        c2 = c.Pspoof * c.Cfa_spoof * (1.0 - pmiss_spoof_asv)
        norm = c0 + min(c1, c2)
    if c0 < 0 or c1 < 0 or c2 < 0 or norm <= 0:
        raise DataError(
            f"t-DCF weights are not positive (C0={c0:.4g}, C1={c1:.4g}, C2={c2:.4g}): the ASV system "
            f"is worse than chance at its EER threshold or accepts no spoof; check the ASV score file "
            f"(higher must mean more target)"
        )
    return c0, c1, c2, norm


def tdcf_curve(bonafide_cm, spoof_cm, pfa_asv, pmiss_asv, pmiss_spoof_asv, cost=None, legacy=True):
    """Normalised t-DCF at every CM threshold of the DET curve.

    bonafide_cm: (P,), spoof_cm: (Q,) -> tdcf (P+Q+1,), thresholds (P+Q+1,).
    """
    c0, c1, c2, norm = tdcf_weights(pfa_asv, pmiss_asv, pmiss_spoof_asv, cost, legacy)
    miss, fa, thresholds = det_curve(bonafide_cm, spoof_cm)
    return (c0 + c1 * miss + c2 * fa) / norm, thresholds


def min_tdcf(bonafide_cm, spoof_cm, target_asv, nontarget_asv, spoof_asv, cost=None, legacy=True):
    """Min normalised t-DCF of a CM in tandem with an ASV system fixed at its EER threshold.

    bonafide_cm: (P,), spoof_cm: (Q,) CM scores; target_asv, nontarget_asv, spoof_asv: ASV scores.
    Returns a dict: min_tdcf, cm_threshold, asv_eer, asv_threshold, Pfa_asv, Pmiss_asv,
    Pmiss_spoof_asv, C0, C1, C2, legacy, cost (the cost model as a dict).
    """
    cost = cost or CostModel()
    asv_eer, asv_thr = compute_eer(target_asv, nontarget_asv)
    pfa, pmiss, pmiss_spoof = asv_error_rates(target_asv, nontarget_asv, spoof_asv, asv_thr)
    c0, c1, c2, _ = tdcf_weights(pfa, pmiss, pmiss_spoof, cost, legacy)
    curve, thresholds = tdcf_curve(bonafide_cm, spoof_cm, pfa, pmiss, pmiss_spoof, cost, legacy)
    k = int(np.argmin(curve))
    return {
        "min_tdcf": float(curve[k]),
        "cm_threshold": float(thresholds[k]),
        "asv_eer": asv_eer,
        "asv_threshold": asv_thr,
        "Pfa_asv": pfa,
        "Pmiss_asv": pmiss,
        "Pmiss_spoof_asv": pmiss_spoof,
        "C0": c0,
        "C1": c1,
        "C2": c2,
        "legacy": bool(legacy),
        "cost": asdict(cost),
    }
