"""Scoring a countermeasure end to end: files in, results dict, readable summary, DET plot."""

import json

import numpy as np

from pylib.data.protocols import Protocol, read_protocol
from pylib.errors import DataError, UserError
from pylib.io.atomic import atomic_path, write_text_atomic
from pylib.io.scores import finite_score, read_scores, text_lines
from pylib.io.tables import read_utt2spk
from pylib.metrics.bootstrap import bootstrap_eer
from pylib.metrics.cllr import cllr, min_cllr
from pylib.metrics.cm import CostModel, compute_eer, det_curve, min_tdcf, per_attack_eer, split_by_label
from pylib.metrics.cm_io import ASV_KEYS, align, read_asv_scores
from pylib.metrics.dcf import ASVSPOOF5_COSTS, actual_dcf, bayes_threshold, min_dcf
from pylib.metrics.teer import tandem_eer

# Plot range of the DET axes (probabilities), as in the usual DET plots of speaker recognition.
DET_LIMITS = (0.001, 0.5)
BOOTSTRAP_BY = ("trial", "speaker", "attack")  # score_cm --bootstrap-by: the resampling unit


def read_asv_trials(path, cm_scores):
    """Per-trial ASV scores paired with the CM scores of the same utterances (for the t-EER).

    path: lines `... UTT KEY SCORE` (at least three fields; the last three are read) with KEY in
    target | nontarget | spoof, as a SASV / ASVspoof 5 trial list with ASV scores; cm_scores:
    {utt: CM score}. -> {key: ((n,) ASV scores, (n,) CM scores)}.
    """
    pairs = {k: ([], []) for k in ASV_KEYS}
    for no, f in text_lines(path, "ASV trial score"):
        if len(f) < 3 or f[-2] not in pairs:
            raise DataError(f"{path}:{no}: expected `... UTT target|nontarget|spoof ASV-SCORE`, "
                            f"got {' '.join(f)!r}")
        if f[-3] not in cm_scores:
            raise DataError(f"{path}:{no}: utterance {f[-3]} has no CM score; the t-EER pairs each "
                            f"ASV trial with the CM score of its test utterance: score it, or "
                            f"drop the trial from {path}")
        pairs[f[-2]][0].append(finite_score(path, no, f[-1]))
        pairs[f[-2]][1].append(cm_scores[f[-3]])
    missing = [k for k, (a, _) in pairs.items() if not a]
    if missing:
        raise DataError(f"{path}: no {'/'.join(missing)} trials; the t-EER needs target, nontarget "
                        f"and spoof trials")
    return {k: (np.asarray(a, dtype=np.float64), np.asarray(c, dtype=np.float64))
            for k, (a, c) in pairs.items()}


def score_cm_files(scores, labels, asv_scores=None, allow_missing=False, subset=None, legacy=True,
                   labels_format=None, bootstrap=0, bootstrap_seed=0, asv_trials=None, teer_rho=0.5,
                   bootstrap_by="trial", utt2spk=None, dcf_costs=(ASVSPOOF5_COSTS,)):
    """Score a CM score file against a label file (and the ASV scores for the t-DCF).

    Returns the results dict written to results.json (rates are fractions; "*_percent" copies for
    reading): n_bonafide, n_spoof, eer, eer_percent, eer_threshold, cllr and min_cllr (bits; the
    scores taken as natural-log LLRs), per_attack, alignment; with ASV scores a "tdcf" dict (see
    `pylib.metrics.cm.min_tdcf`); with bootstrap > 0 an "eer_ci" dict (95 % percentile interval
    over `bootstrap` resamples of the trials, see `pylib.metrics.bootstrap.bootstrap_eer`); with
    asv_trials (per-trial ASV scores, see `read_asv_trials`) a "teer" dict (concurrent t-EER,
    `pylib.metrics.teer.tandem_eer`).

    bootstrap_by: trial | speaker | attack, what the bootstrap resamples (`bootstrap_groups`);
    utt2spk: the speakers of a protocol without a speaker column (utt2label); dcf_costs: dicts of
    p_target, c_miss, c_fa, one "dcf" entry each (actual DCF at the Bayes threshold of the scores
    taken as LLRs, and min DCF; `pylib.metrics.dcf`). subset (ASVspoof 2021 keys): the trials of
    that subset are scored; scores of trials the key puts in another subset are left out and counted
    in alignment["other_subset"] (a score file of the whole eval data needs no --allow-missing).
    """
    if bootstrap_by not in BOOTSTRAP_BY:
        raise ValueError(f"bootstrap_by must be one of {BOOTSTRAP_BY}, got {bootstrap_by!r}")
    score_map = read_scores(scores)
    proto = read_protocol(labels, format=labels_format)  # format None: detected
    other = 0
    if subset is not None:
        proto, outside = select_subset(proto, subset)
        other = sum(u in outside for u in score_map)
        score_map = {u: v for u, v in score_map.items() if u not in outside}
    utts, values, is_bona, attacks, report = align(
        score_map, proto.labels(), allow_missing, scores_name=str(scores), labels_name=str(labels)
    )
    if subset is not None:
        report["other_subset"] = other
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
        "cllr": cllr(bona, spoof),
        "min_cllr": min_cllr(bona, spoof),
        "dcf": [dcf_entry(bona, spoof, c) for c in dcf_costs],
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
    tables = condition_tables(proto, utts, values, is_bona)
    if tables:
        results["per_condition"] = tables
    if bootstrap:
        groups = bootstrap_groups(bootstrap_by, proto, utts, attacks, utt2spk, labels)
        results["eer_ci"] = eer_ci_entry(values, is_bona, int(bootstrap), bootstrap_seed, groups,
                                         bootstrap_by)
    if asv_trials is not None:
        results["teer"] = teer_entry(asv_trials, score_map, teer_rho)
    return results, (bona, spoof)


def eer_ci_entry(values, is_bona, n, seed, groups, by):
    """results.json's "eer_ci": the bootstrap interval of the EER (class-stratified with groups)."""
    ci = bootstrap_eer(values, is_bona, n, groups=groups, seed=seed, stratify=groups is not None)
    out = {
        "low": ci["ci_low"], "high": ci["ci_high"], "half_width": ci["half_width"],
        "low_percent": 100.0 * ci["ci_low"], "high_percent": 100.0 * ci["ci_high"],
        "confidence_percent": 100.0 - ci["alpha"], "n_resamples": ci["n_resamples"],
        "n_valid": ci["n_valid"], "seed": int(seed), "by": by,
    }
    if groups is not None:
        out["n_groups"] = len(set(groups.tolist()))
    return out


def teer_entry(asv_trials, score_map, rho):
    """results.json's "teer": the concurrent t-EER of the per-trial ASV scores with the CM scores."""
    pairs = read_asv_trials(asv_trials, score_map)
    te = tandem_eer(*pairs["target"], *pairs["nontarget"], *pairs["spoof"], rho=rho)
    if not np.isfinite(te["concurrent_teer"]):
        raise DataError(f"{asv_trials}: no ASV threshold reaches the t-EER condition (the ASV "
                        f"misses more targets than it accepts non-targets and spoofs at every "
                        f"threshold); check that higher ASV scores mean target")
    return {
        "concurrent_teer": te["concurrent_teer"],
        "concurrent_teer_percent": 100.0 * te["concurrent_teer"],
        "asv_threshold": float(te["concurrent_thresholds"][0]),
        "cm_threshold": float(te["concurrent_thresholds"][1]), "rho": float(rho),
        "asv_trials": str(asv_trials), **{f"n_{k}": int(pairs[k][0].size) for k in ASV_KEYS},
    }


def select_subset(proto, subset):
    """The trials of one subset of an ASVspoof 2021 key -> (Protocol of them, set of the other utts).

    DataError where the protocol has no subset column or no trial of that subset (naming those it has).
    """
    if "subset" not in proto.columns:
        raise DataError(f"{proto.path}: --key-subset {subset} given, but only ASVspoof 2021 keys have "
                        f"subsets (this is {proto.format}); drop --key-subset")
    keep = {u: t for u, t in proto.trials.items() if t.conditions.get("subset") == subset}
    if not keep:
        have = sorted({t.conditions.get("subset") for t in proto.trials.values()} - {None})
        raise DataError(f"{proto.path}: no trial of subset {subset!r}; the key has subsets {have}: "
                        f"choose one of them with --key-subset")
    outside = {u for u in proto.trials if u not in keep}
    return Protocol(proto.path, proto.format, keep, proto.columns), outside


def bootstrap_groups(by, proto, utts, attacks, utt2spk=None, labels="labels"):
    """The resampling unit of each scored trial for `bootstrap_eer`: None (by trial), the attack
    ids ("-" for bona fide), or the speakers (the protocol's speaker column, else `utt2spk`)."""
    if by == "trial":
        return None
    if by == "attack":
        return np.asarray(attacks, dtype=str)
    if "speaker" in proto.columns:
        return np.asarray([proto.trials[u].conditions["speaker"] for u in utts], dtype=str)
    if utt2spk is None:
        raise UserError(f"--bootstrap-by speaker: {labels} ({proto.format}) has no speaker column; "
                        f"pass --utt2spk with the set's utt2spk (a recipe's data/<set>/utt2spk)")
    spk = read_utt2spk(utt2spk)
    missing = [u for u in utts if u not in spk]
    if missing:
        raise DataError(f"{utt2spk}: no speaker for {len(missing)} scored trials (e.g. "
                        f"{', '.join(missing[:3])}); give the utt2spk of the scored set")
    return np.asarray([spk[u] for u in utts], dtype=str)


def dcf_entry(bona, spoof, costs):
    """Actual DCF (scores as natural-log LLRs, Bayes threshold) and min DCF at one cost setting."""
    p, c_miss, c_fa = float(costs["p_target"]), float(costs["c_miss"]), float(costs["c_fa"])
    mind, thr = min_dcf(bona, spoof, p, c_miss, c_fa)
    return {"p_target": p, "c_miss": c_miss, "c_fa": c_fa,
            "actual_dcf": actual_dcf(bona, spoof, p, c_miss, c_fa),
            "bayes_threshold": bayes_threshold(p, c_miss, c_fa),
            "min_dcf": mind, "min_dcf_threshold": thr}


def condition_tables(proto, utts, values, is_bona):
    """EER per value of each condition column the protocol tabulates (`Protocol.table_columns`).

    proto: the `read_protocol` result; utts, values, is_bona: the scored trials as `align` returns
    them. -> {column: {value: {"n_bonafide", "n_spoof", "eer", "eer_percent", "threshold",
    "pooled_bonafide"}}}, values sorted; {} when the protocol carries no such column. A value that
    bona fide trials share (a codec) compares the bona fide and spoof trials of that value; a value only
    spoofed trials have (an attack, a vocoder) compares them with all bona fide trials
    ("pooled_bonafide": true); a value only bona fide trials have ("-") is left out. These are the
    "both" and "spoof" factor types of the ASVspoof 2021 eval package (eval-package/config.py).
    """
    out = {}
    for column in proto.table_columns:
        col = np.asarray([proto.value(proto.trials[u], column) for u in utts], dtype=str)
        table = {}
        for value in sorted(set(col[~is_bona].tolist())):
            spoof = values[~is_bona & (col == value)]
            bona_mask = is_bona & (col == value)
            pooled = not bona_mask.any()
            bona = values[is_bona] if pooled else values[bona_mask]
            if bona.size == 0:
                continue
            eer, thr = compute_eer(bona, spoof)
            table[value] = {
                "n_bonafide": int(bona.size),
                "n_spoof": int(spoof.size),
                "eer": eer,
                "eer_percent": 100.0 * eer,
                "threshold": thr,
                "pooled_bonafide": pooled,
            }
        out[column] = table
    return out


def condition_text(tables):
    """The per-condition tables as text (one table per column; '*' marks pooled bona fide)."""
    lines = []
    for column, table in tables.items():
        width = max([len(column)] + [len(v) for v in table])
        lines += ["", f"{column:<{width}} {'n_bona':>8} {'n_spoof':>8} {'EER (%)':>9}"]
        for value, row in table.items():
            star = "*" if row["pooled_bonafide"] else " "
            n_bona, n_spoof = row["n_bonafide"], row["n_spoof"]
            lines.append(f"{value:<{width}} {n_bona:>8d}{star}{n_spoof:>8d} {row['eer_percent']:>9.4f}")
    if lines:
        lines = ["", "EER per condition (the trials of each value of each protocol column):"] + lines
        lines.append("(* all bona fide trials: the value occurs in spoofed trials only)")
    return "\n".join(lines) + "\n" if lines else ""


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
    if al.get("other_subset"):
        lines.append(f"subset:    {al['other_subset']} scored trials of other subsets of the key left out")
    lines.append(f"EER:       {results['eer_percent']:.4f} %  (threshold {results['eer_threshold']:.6g})")
    if "eer_ci" in results:
        c = results["eer_ci"]
        by = c.get("by", "trial")
        unit = "trials" if by == "trial" else f"{c['n_groups']} {by} groups within each class"
        lines.append(f"EER CI:    {c['low_percent']:.4f} - {c['high_percent']:.4f} %  "
                     f"({c['confidence_percent']:g} % bootstrap, {c['n_resamples']} resamples of the "
                     f"{unit}, seed {c['seed']})")
    if "cllr" in results:
        lines.append(f"Cllr:      {results['cllr']:.4f} bits, min Cllr {results['min_cllr']:.4f} bits "
                     f"(scores taken as LLRs)")
    for d in results.get("dcf", ()):
        lines.append(f"DCF:       actual {d['actual_dcf']:.4f}, min {d['min_dcf']:.4f}  (p_target "
                     f"{d['p_target']:g}, c_miss {d['c_miss']:g}, c_fa {d['c_fa']:g}; normalised; actual "
                     f"at the Bayes threshold {d['bayes_threshold']:.4g} of LLR scores)")
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
    if "teer" in results:
        t = results["teer"]
        lines.append(f"t-EER:     {t['concurrent_teer_percent']:.4f} %  (concurrent; ASV threshold "
                     f"{t['asv_threshold']:.6g}, CM threshold {t['cm_threshold']:.6g}, rho {t['rho']:g})")
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


def style_det_axes(ax, title, limits=DET_LIMITS):
    """Normal-deviate DET axes between `limits` (probabilities): diagonal, percent ticks, labels, grid."""
    from scipy.special import ndtri

    ticks = np.array([0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4])
    ticks = ticks[(ticks >= limits[0]) & (ticks <= limits[1])]
    lim = ndtri(np.asarray(limits, dtype=float))
    ax.plot(lim, lim, ":", color="grey", lw=0.8)
    ax.set_xlim(lim)
    ax.set_ylim(lim)
    ax.set_xticks(ndtri(ticks), [f"{100 * t:g}" for t in ticks])
    ax.set_yticks(ndtri(ticks), [f"{100 * t:g}" for t in ticks])
    ax.set_xlabel("false alarm rate: spoof accepted (%)")
    ax.set_ylabel("miss rate: bona fide rejected (%)")
    ax.set_title(title)
    ax.grid(True, lw=0.4, alpha=0.6)


def plot_det(path, bona, spoof, title="DET", limits=DET_LIMITS):
    """Draw the DET curve of bona fide vs spoof scores to a PNG (normal-deviate axes), atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.special import ndtri

    miss, fa, _ = det_curve(bona, spoof)
    eer, _ = compute_eer(bona, spoof)
    x, y = det_points_normal(miss, fa, limits)
    fig, ax = plt.subplots(figsize=(5, 5))
    try:
        ax.plot(x, y, lw=1.5, label=f"CM (EER {100 * eer:.2f} %)")
        e = ndtri(np.clip(eer, 1e-6, 1 - 1e-6))
        ax.plot([e], [e], "o", ms=5, color="k")
        style_det_axes(ax, title, limits)
        ax.legend(loc="upper right")
        if eer < limits[0]:  # (near-)perfect separation: the curve runs outside normal-deviate axes
            msg = f"EER below {100 * limits[0]:g} %:\nthe curve lies outside these axes"
            ax.text(0.5, 0.5, msg, transform=ax.transAxes, ha="center", va="center", color="grey")
        fig.tight_layout()
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=100)
    finally:
        plt.close(fig)
