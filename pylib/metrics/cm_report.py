"""Scoring a countermeasure end to end: files in, results dict, readable summary, DET plot."""

import json

import numpy as np

from pylib.io.atomic import atomic_path, write_text_atomic
from pylib.io.scores import read_scores
from pylib.metrics.cm import CostModel, compute_eer, det_curve, min_tdcf, per_attack_eer, split_by_label
from pylib.metrics.cm_io import align, read_asv_scores, read_labels

# Plot range of the DET axes (probabilities), as in the usual DET plots of speaker recognition.
DET_LIMITS = (0.001, 0.5)


def score_cm_files(
    scores, labels, asv_scores=None, allow_missing=False, subset=None, legacy=True, labels_format=None
):
    """Score a CM score file against a label file (and the ASV scores for the t-DCF).

    Returns the results dict written to results.json (rates are fractions; "*_percent" copies for
    reading): n_bonafide, n_spoof, eer, eer_percent, eer_threshold, per_attack, alignment, and with
    ASV scores a "tdcf" dict (see `pylib.metrics.cm.min_tdcf`).
    """
    score_map = read_scores(scores)
    label_map = read_labels(labels, subset=subset, format=labels_format)  # format None: detected
    _, values, is_bona, attacks, report = align(
        score_map, label_map, allow_missing, scores_name=str(scores), labels_name=str(labels)
    )
    bona, spoof = split_by_label(values, is_bona)
    eer, thr = compute_eer(bona, spoof)
    results = {
        "scores": str(scores),
        "labels": str(labels),
        "n_bonafide": int(bona.size),
        "n_spoof": int(spoof.size),
        "eer": eer,
        "eer_percent": 100.0 * eer,
        "eer_threshold": thr,
        "per_attack": per_attack_eer(values, is_bona, attacks),
        "alignment": report,
    }
    for row in results["per_attack"].values():
        row["eer_percent"] = 100.0 * row["eer"]
    if asv_scores is not None:
        asv = read_asv_scores(asv_scores)
        tdcf = min_tdcf(bona, spoof, asv["target"], asv["nontarget"], asv["spoof"], CostModel(), legacy)
        tdcf["asv_scores"] = str(asv_scores)
        tdcf["asv_eer_percent"] = 100.0 * tdcf["asv_eer"]
        results["tdcf"] = tdcf
    return results, (bona, spoof)


def summary_text(results):
    """A readable summary of `score_cm_files` results (what score_cm prints)."""
    lines = [
        f"CM scores: {results['scores']}",
        f"labels:    {results['labels']}",
        f"trials:    {results['n_bonafide']} bona fide, {results['n_spoof']} spoof",
    ]
    al = results["alignment"]
    if al["missing_scores"] or al["unlabelled_scores"]:
        lines.append(
            f"left out:  {al['missing_scores']} labelled without score, "
            f"{al['unlabelled_scores']} scored without label (--allow-missing)"
        )
    lines.append(f"EER:       {results['eer_percent']:.4f} %  (threshold {results['eer_threshold']:.6g})")
    if "tdcf" in results:
        t = results["tdcf"]
        kind = "legacy ASVspoof 2019" if t["legacy"] else "revised 2020"
        lines.append(
            f"min t-DCF: {t['min_tdcf']:.6f}  ({kind} formulation, CM threshold {t['cm_threshold']:.6g})"
        )
        lines.append(
            f"ASV:       EER {t['asv_eer_percent']:.4f} %, Pfa {t['Pfa_asv']:.4f}, "
            f"Pmiss {t['Pmiss_asv']:.4f}, Pmiss_spoof {t['Pmiss_spoof_asv']:.4f} "
            f"at threshold {t['asv_threshold']:.6g}"
        )
    if results["per_attack"]:
        lines.append("")
        lines.append(f"{'attack':<12} {'n_spoof':>8} {'EER (%)':>9}")
        for attack, row in results["per_attack"].items():
            lines.append(f"{attack:<12} {row['n_spoof']:>8d} {row['eer_percent']:>9.4f}")
    return "\n".join(lines) + "\n"


def write_results_json(path, results):
    write_text_atomic(path, json.dumps(results, indent=2, sort_keys=False) + "\n")


def det_points_normal(miss, fa, limits=DET_LIMITS):
    """Probabilities -> normal deviates (probit) for DET axes. miss, fa: (K,) -> (K,), (K,)."""
    from scipy.special import ndtri

    lo = min(limits[0], 1e-6)
    return ndtri(np.clip(fa, lo, 1 - lo)), ndtri(np.clip(miss, lo, 1 - lo))


def plot_det(path, bona, spoof, title="DET", limits=DET_LIMITS):
    """Draw the DET curve of bona fide vs spoof scores to a PNG (normal-deviate axes), atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.special import ndtri

    miss, fa, _ = det_curve(bona, spoof)
    eer, _ = compute_eer(bona, spoof)
    x, y = det_points_normal(miss, fa, limits)
    ticks = np.array([0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4])
    ticks = ticks[(ticks >= limits[0]) & (ticks <= limits[1])]
    fig, ax = plt.subplots(figsize=(5, 5))
    try:
        ax.plot(x, y, lw=1.5, label=f"CM (EER {100 * eer:.2f} %)")
        e = ndtri(np.clip(eer, 1e-6, 1 - 1e-6))
        ax.plot([e], [e], "o", ms=5, color="k")
        ax.plot(ndtri(limits), ndtri(limits), ":", color="grey", lw=0.8)
        ax.set_xlim(ndtri(limits))
        ax.set_ylim(ndtri(limits))
        ax.set_xticks(ndtri(ticks), [f"{100 * t:g}" for t in ticks])
        ax.set_yticks(ndtri(ticks), [f"{100 * t:g}" for t in ticks])
        ax.set_xlabel("false alarm rate: spoof accepted (%)")
        ax.set_ylabel("miss rate: bona fide rejected (%)")
        ax.set_title(title)
        ax.grid(True, lw=0.4, alpha=0.6)
        ax.legend(loc="upper right")
        if eer < limits[0]:  # (near-)perfect separation: the curve runs outside normal-deviate axes
            msg = f"EER below {100 * limits[0]:g} %:\nthe curve lies outside these axes"
            ax.text(0.5, 0.5, msg, transform=ax.transAxes, ha="center", va="center", color="grey")
        fig.tight_layout()
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=100)
    finally:
        plt.close(fig)
