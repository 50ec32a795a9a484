"""Comparing countermeasure runs: runs that differ only in their seed form a system; each system gets
EER and min t-DCF (and Cllr, min Cllr, t-EER where the runs' results.json have them) as mean and
95 % t-interval over its seeds, best-of-N and worst, and its EER per attack and per protocol
condition (mean over seeds); every pair of runs gets the Holm-Bonferroni corrected significance
test; all DET curves go on one plot.

The seed toolkit's point (03-asvspoof-mega README) is that countermeasure EERs move a lot with the
random seed, so a single run per config says little; `compare_runs` puts the spread next to the
differences. The significance test is `pylib.metrics.significance.eer_significance` (the seed's
`sandbox/eval_sig_test.py`, `sig_test_holm_bonf_method`) over all runs, each run one "system".

A run folder is stage 3's `exp/<tag>/`: `infer_<subset>/scores.txt` (stage 4), optionally
`infer_<subset>/results.json` (stage 5) and `config.yaml` (the resolved config of training).
"""

import html
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pylib.errors import DataError, UserError
from pylib.io.atomic import atomic_path, make_folder, write_text_atomic
from pylib.io.scores import read_scores
from pylib.io.text import read_utf8
from pylib.metrics.bootstrap import bootstrap_eer
from pylib.metrics.cm import det_curve
from pylib.metrics.cm_io import align, read_labels
from pylib.metrics.significance import eer_significance

# `<tag>_seed<N>`: the folder name recipes give to the runs of one config trained with seed N.
SEED_FOLDER = re.compile(r"^(?P<tag>.+)_seed(?P<seed>\d+)$")
LINE_STYLES = ("-", "--", ":", "-.")
CONFIDENCE = 0.95
OPTIONAL_METRICS = ("cllr", "min_cllr", "teer")  # in report.json where every run of a system has them


@dataclass
class Run:
    """One run folder, scored: its trials in the order of the first run's labels."""

    folder: Path
    name: str
    tag: str | None              # <tag> of a `<tag>_seed<N>` folder name, else None
    seed: int | None             # train.seed of config.yaml, else N of the folder name, else None
    config_key: str | None       # config.yaml without train.seed, canonical json; None without one
    results: dict
    utts: list
    scores: np.ndarray
    is_bona: np.ndarray
    eer_ci: dict = field(default_factory=dict)


def _config_key(folder):
    """(canonical config without train.seed, train.seed) of folder/config.yaml, or (None, None)."""
    from pylib.config import load_yaml

    path = folder / "config.yaml"
    if not path.is_file():
        return None, None
    data = load_yaml(path)
    train = dict(data.get("train") or {}) if isinstance(data.get("train"), dict) else {}
    seed = train.pop("seed", None)
    data = {**data, "train": train}
    return json.dumps(data, sort_keys=True, default=str), seed


def _labels_path(folder, results, labels):
    """The label file to read the trials of a run with: --labels, else the one its results name."""
    if labels is not None:
        return Path(labels)
    named = results.get("labels")
    if named and Path(named).exists():
        return Path(named)
    where = f"names {named}, which is not found from here" if named else "names no label file"
    raise UserError(f"{folder}: its results.json {where}; pass --labels with the label file of the "
                    f"trials the runs were scored on")


def load_run(folder, subset="eval", labels=None, labels_format=None, bootstrap=1000, bootstrap_seed=0):
    """Read one run folder -> Run. UserErrors name the folder and what to run or pass."""
    from pylib.metrics.cm_report import score_cm_files

    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: no such run folder; give the experiment folders of stage 3 "
                        f"(exp/<tag>)")
    infer = folder / f"infer_{subset}"
    scores_path, results_path = infer / "scores.txt", infer / "results.json"
    if not scores_path.is_file():
        raise UserError(f"{folder}: no {scores_path.relative_to(folder)}; run stage 4 (inference) "
                        f"on the {subset} set for this run, or choose the set with --subset")
    if results_path.is_file():
        try:
            results = json.loads(read_utf8(results_path))
        except json.JSONDecodeError as e:
            raise DataError(f"{results_path}: not valid JSON ({e}); rerun stage 5 (score_cm)") from None
    elif labels is not None:
        results, _ = score_cm_files(scores_path, labels, allow_missing=True, labels_format=labels_format)
    else:
        raise UserError(f"{folder}: no {results_path.relative_to(folder)}; run stage 5 (score_cm) for "
                        f"this run, or pass --labels to score it here")
    if not isinstance(results, dict) or not isinstance(results.get("eer"), (int, float)):
        raise DataError(f"{results_path}: has no EER; rerun stage 5 (score_cm) for this run")
    label_path = _labels_path(folder, results, labels)
    label_map = read_labels(label_path, format=labels_format)
    utts, values, is_bona, _, _ = align(read_scores(scores_path), label_map, allow_missing=True,
                                        scores_name=str(scores_path), labels_name=str(label_path))
    counts = (int(is_bona.sum()), int((~is_bona).sum()))
    if (results.get("n_bonafide"), results.get("n_spoof")) != counts:
        raise UserError(f"{results_path}: scored {results.get('n_bonafide')} bona fide and "
                        f"{results.get('n_spoof')} spoof trials, but its scores and {label_path} give "
                        f"{counts[0]} and {counts[1]}; rerun stage 5 (score_cm) with these labels, or "
                        f"pass --labels with the file it was scored with")
    config_key, cfg_seed = _config_key(folder)
    m = SEED_FOLDER.match(folder.resolve().name)
    seed = cfg_seed if cfg_seed is not None else (int(m.group("seed")) if m else None)
    run = Run(folder=folder, name=folder.resolve().name, tag=m.group("tag") if m else None, seed=seed,
              config_key=config_key, results=results, utts=utts, scores=values, is_bona=is_bona)
    if "eer_ci" in results:
        c = results["eer_ci"]
        run.eer_ci = {"low": c["low"], "high": c["high"], "n_resamples": c["n_resamples"],
                      "source": "results.json"}
    elif bootstrap:
        c = bootstrap_eer(values, is_bona, int(bootstrap), seed=bootstrap_seed)
        run.eer_ci = {"low": c["ci_low"], "high": c["ci_high"], "n_resamples": c["n_resamples"],
                      "source": "computed"}
    return run


def check_same_trials(runs, show=3):
    """Every run must score the same trials with the same labels; reorders them to the first's order."""
    first = runs[0]
    ref = dict(zip(first.utts, first.is_bona.tolist()))
    for run in runs[1:]:
        mine = dict(zip(run.utts, run.is_bona.tolist()))
        only_ref = [u for u in ref if u not in mine]
        only_mine = [u for u in mine if u not in ref]
        relabelled = [u for u in ref if u in mine and mine[u] != ref[u]]
        if only_ref or only_mine or relabelled:
            parts = [f"{len(x)} trials {what} (e.g. {', '.join(x[:show])})"
                     for x, what in ((only_ref, f"only in {first.folder}"), (only_mine, "only in this run"),
                                     (relabelled, f"labelled differently from {first.folder}")) if x]
            raise UserError(f"{run.folder}: scored on a different trial set from {first.folder}: "
                            f"{'; '.join(parts)}. Runs are compared on the same trials only: score "
                            f"them all on one set (the same --subset and label file)")
        pos = {u: i for i, u in enumerate(run.utts)}
        idx = np.asarray([pos[u] for u in first.utts], dtype=np.int64)
        run.utts, run.scores, run.is_bona = list(first.utts), run.scores[idx], run.is_bona[idx]


def _same_system(a, b):
    """Runs a and b differ only in seed: their tags (where both have one) and their configs without
    train.seed (where both have one) agree, and at least one of the two says so."""
    tags = a.tag is not None and b.tag is not None
    cfgs = a.config_key is not None and b.config_key is not None
    if tags and a.tag != b.tag or cfgs and a.config_key != b.config_key:
        return False
    return tags or cfgs


def group_runs(runs):
    """Runs -> [(system name, [runs])], in the order of first appearance; a run joins the first
    system whose every run differs from it only in seed."""
    systems = []
    for run in runs:
        for _, members in systems:
            if all(_same_system(run, other) for other in members):
                members.append(run)
                break
        else:
            systems.append((run.tag or run.name, [run]))
    names = [n for n, _ in systems]
    return [(n if names.count(n) == 1 else f"{n} ({ms[0].name})", ms) for n, ms in systems]


def seed_stats(values, confidence=CONFIDENCE):
    """Mean, sample std and t-interval of the per-seed values (the interval only for >= 2 seeds)."""
    from scipy.stats import t

    v = np.asarray(values, dtype=np.float64)
    out = {"n": int(v.size), "mean": float(v.mean()), "min": float(v.min()), "max": float(v.max())}
    if v.size >= 2:
        sd = float(v.std(ddof=1))
        half = float(t.ppf(0.5 + confidence / 2.0, v.size - 1)) * sd / np.sqrt(v.size)
        out.update(std=sd, ci_low=out["mean"] - half, ci_high=out["mean"] + half, ci_half_width=half)
    return out


def _run_label(run):
    return f"seed {run.seed}" if run.seed is not None else run.name


def system_summary(name, members):
    """One system's table: EER (and min t-DCF where every run has one) over its seeds."""
    eers = [m.results["eer"] for m in members]
    best, worst = int(np.argmin(eers)), int(np.argmax(eers))
    out = {
        "system": name,
        "runs": [{"folder": str(m.folder), "name": m.name, "seed": m.seed, "eer": m.results["eer"],
                  "eer_ci": m.eer_ci or None,
                  "min_tdcf": m.results["tdcf"]["min_tdcf"] if "tdcf" in m.results else None,
                  **{k: _optional(m.results, k) for k in OPTIONAL_METRICS}}
                 for m in members],
        "eer": seed_stats(eers),
        "best": {"name": members[best].name, "eer": eers[best]},
        "worst": {"name": members[worst].name, "eer": eers[worst]},
    }
    if all("tdcf" in m.results for m in members):
        tdcf = [m.results["tdcf"]["min_tdcf"] for m in members]
        out["min_tdcf"] = seed_stats(tdcf)
        out["min_tdcf"]["best"] = float(min(tdcf))
        out["min_tdcf"]["worst"] = float(max(tdcf))
    for key in OPTIONAL_METRICS:  # where every run's results.json has it
        vals = [r[key] for r in out["runs"]]
        if all(v is not None for v in vals):
            out[key] = seed_stats(vals)
    tables = condition_means(members)
    if tables:
        out["per_condition"] = tables
    return out


def _optional(results, key):
    """Cllr, min Cllr (bits) or the concurrent t-EER of a run's results.json; None where absent."""
    if key == "teer":
        value = (results.get("teer") or {}).get("concurrent_teer")
    else:
        value = results.get(key)
    return float(value) if isinstance(value, (int, float)) else None


def condition_means(members):
    """EER per attack (results.json "per_attack") and per value of each protocol condition column
    ("per_condition", score_cm's tables), over the seeds of a system: {column: {value: seed_stats}}
    for the values every run has; {} where the runs carry neither."""
    def table(m, column):
        if column == "attack" and "per_attack" in m.results:
            return m.results["per_attack"]
        return (m.results.get("per_condition") or {}).get(column) or {}

    columns = ["attack"]
    for m in members:
        columns += [c for c in (m.results.get("per_condition") or {}) if c not in columns]
    out = {}
    for column in columns:
        rows = [table(m, column) for m in members]
        values = [v for v in rows[0] if all(v in r for r in rows[1:])]
        if values:
            out[column] = {v: seed_stats([r[v]["eer"] for r in rows]) for v in values}
    return out


def significance_matrix(runs, level=0.05):
    """The pairwise test over all runs (each a system of one run) -> dict for report.json."""
    eers = np.asarray([[r.results["eer"]] for r in runs], dtype=np.float64)
    n_bona, n_spoof = int(runs[0].is_bona.sum()), int((~runs[0].is_bona).sum())
    sig, z = eer_significance(eers, n_bona, n_spoof, level)
    return {"runs": [r.name for r in runs], "level": float(level), "n_bonafide": n_bona,
            "n_spoof": n_spoof, "significant": sig.tolist(),
            "z": [[None if not np.isfinite(x) else float(x) for x in row] for row in z]}


def compare(folders, subset="eval", labels=None, labels_format=None, bootstrap=1000,
            bootstrap_seed=0, level=0.05):
    """Load, check and group the run folders -> (report dict, runs, [(system, runs)])."""
    seen = {}
    for f in folders:
        key = Path(f).resolve()
        if key in seen:
            raise UserError(f"{f}: given twice (also as {seen[key]}); name each run folder once")
        seen[key] = f
    runs = [load_run(f, subset, labels, labels_format, bootstrap, bootstrap_seed) for f in folders]
    check_same_trials(runs)
    systems = group_runs(runs)
    report = {
        "subset": subset,
        "confidence": CONFIDENCE,
        "systems": [system_summary(name, members) for name, members in systems],
        "significance": significance_matrix(runs, level),
    }
    return report, runs, systems


def plot_det_overlay(path, systems, title="DET"):
    """All runs' DET curves on normal-deviate axes: one colour per system, one line style per seed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pylib.metrics.cm_report import det_points_normal, style_det_axes

    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fig, ax = plt.subplots(figsize=(6, 6))
    try:
        for s, (name, members) in enumerate(systems):
            for k, run in enumerate(members):
                miss, fa, _ = det_curve(run.scores[run.is_bona], run.scores[~run.is_bona])
                x, y = det_points_normal(miss, fa)
                ax.plot(x, y, lw=1.3, color=colours[s % len(colours)],
                        ls=LINE_STYLES[k % len(LINE_STYLES)],
                        label=f"{name if name == run.name else f'{name}, {_run_label(run)}'} "
                              f"(EER {100 * run.results['eer']:.2f} %)")
        style_det_axes(ax, title)
        ax.legend(loc="lower left", fontsize="small")
        fig.tight_layout()
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=100)
    finally:
        plt.close(fig)


def _pct(x):
    return "–" if x is None else f"{100 * x:.2f}"


def _stat_cell(st, scale=100.0, digits=2):
    """'mean ± half' (t-interval over seeds) or just the value for one seed."""
    if "ci_half_width" in st:
        return f"{scale * st['mean']:.{digits}f} ± {scale * st['ci_half_width']:.{digits}f}"
    return f"{scale * st['mean']:.{digits}f}"


# The optional columns: (key in a system / run entry, head, scale, digits); a column is shown
# where some system has the metric.
OPTIONAL_COLUMNS = (("cllr", "Cllr (bits)", 1.0, 3), ("min_cllr", "min Cllr (bits)", 1.0, 3),
                    ("teer", "t-EER (%)", 100.0, 2))


def _shown(report):
    return [c for c in OPTIONAL_COLUMNS if any(c[0] in s for s in report["systems"])]


def system_head(report):
    ci = " ± 95 % CI" if any(s["eer"]["n"] > 1 for s in report["systems"]) else ""
    return SYSTEM_HEAD + [f"{head} mean{ci}" for _, head, _, _ in _shown(report)]


def system_rows(report):
    """Rows of the summary table: system, seeds, EER mean ± CI, best, worst, min t-DCF cells, then
    Cllr, min Cllr and t-EER where some system has them."""
    rows = []
    shown = _shown(report)
    for s in report["systems"]:
        t = s.get("min_tdcf")
        rows.append([
            s["system"], str(s["eer"]["n"]), _stat_cell(s["eer"]),
            f"{_pct(s['best']['eer'])} ({s['best']['name']})",
            f"{_pct(s['worst']['eer'])} ({s['worst']['name']})",
            _stat_cell(t, 1.0, 4) if t else "–",
            f"{t['best']:.4f} / {t['worst']:.4f}" if t else "–",
        ] + [_stat_cell(s[key], scale, digits) if key in s else "–" for key, _, scale, digits in shown])
    return rows


SYSTEM_HEAD = ["system", "seeds", "EER (%) mean ± 95 % CI", "best EER (%)", "worst EER (%)",
               "min t-DCF mean ± 95 % CI", "min t-DCF best / worst"]
RUN_HEAD = ["run", "seed", "EER (%)", "bootstrap 95 % CI of EER (%)", "min t-DCF"]


def run_head(report):
    return RUN_HEAD + [head for _, head, _, _ in _shown(report)]


def run_rows(system, report=None):
    shown = _shown(report) if report is not None else []
    rows = []
    for r in system["runs"]:
        ci = r["eer_ci"]
        rows.append([r["name"], "–" if r["seed"] is None else str(r["seed"]), _pct(r["eer"]),
                     f"{_pct(ci['low'])} – {_pct(ci['high'])}" if ci else "–",
                     "–" if r["min_tdcf"] is None else f"{r['min_tdcf']:.4f}"]
                    + ["–" if r.get(key) is None else f"{scale * r[key]:.{digits}f}"
                       for key, _, scale, digits in shown])
    return rows


def condition_head_rows(report):
    """[(column, head, rows)]: per condition column (attack first), one row per value and one cell
    per system, the EER (%) mean over its seeds (± 95 % t-interval half width for 2 or more)."""
    systems = report["systems"]
    columns = []
    for s in systems:
        columns += [c for c in s.get("per_condition", {}) if c not in columns]
    out = []
    for column in columns:
        values = []
        for s in systems:
            values += [v for v in s.get("per_condition", {}).get(column, {}) if v not in values]
        values.sort()
        cells = [s.get("per_condition", {}).get(column, {}) for s in systems]
        rows = [[v] + [_stat_cell(c[v]) if v in c else "–" for c in cells] for v in values]
        out.append((column, [column] + [f"{s['system']}: EER (%)" for s in systems], rows))
    return out


def matrix_rows(report):
    sig = report["significance"]
    names = sig["runs"]
    rows = []
    for i, name in enumerate(names):
        cells = []
        for j in range(len(names)):
            z = sig["z"][i][j]
            mark = "**yes**" if sig["significant"][i][j] else "no"
            cells.append("–" if i == j else f"{mark} (z {z:.2f})" if z is not None else mark)
        rows.append([name] + cells)
    return ["run"] + names, rows


def _md_table(head, rows):
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _notes(report):
    sig = report["significance"]
    return (f"Trials: {sig['n_bonafide']} bona fide, {sig['n_spoof']} spoof (set {report['subset']}). "
            f"Mean ± half width of the 95 % t-interval over the seeds of a system (shown for 2 or "
            f"more seeds); best and worst are over the seeds. Significance: the EER test of the "
            f"seed's sandbox/eval_sig_test.py between every pair of runs, Holm–Bonferroni "
            f"corrected over the whole matrix at level {sig['level']:g}; yes = the EERs differ.")


CONDITION_NOTE = ("EER (%) of each attack (its spoofed trials against all bona fide trials) and of "
                  "each value of the protocol's condition columns, mean over the seeds of a system "
                  "(± half width of the 95 % t-interval for 2 or more seeds).")


def report_markdown(report):
    parts = ["# Comparing runs", "", _notes(report), "", "## Systems", "",
             _md_table(system_head(report), system_rows(report))]
    for s in report["systems"]:
        parts += ["", f"### {s['system']}", "", _md_table(run_head(report), run_rows(s, report))]
    tables = condition_head_rows(report)
    if tables:
        parts += ["", "## EER per attack and condition", "", CONDITION_NOTE]
        parts += [x for _, head, rows in tables for x in ("", _md_table(head, rows))]
    head, rows = matrix_rows(report)
    parts += ["", "## Pairwise significance", "", _md_table(head, rows), "", "## DET curves", "",
              "![DET curves of all runs](det.png)", ""]
    return "\n".join(parts)


def _html_table(head, rows):
    esc = html.escape
    out = ["<table>", "<tr>" + "".join(f"<th>{esc(h)}</th>" for h in head) + "</tr>"]
    for row in rows:
        cells = "".join(f"<td>{esc(c).replace('**yes**', '<b>yes</b>')}</td>" for c in row)
        out.append(f"<tr>{cells}</tr>")
    out.append("</table>")
    return "\n".join(out)


def report_html(report):
    esc = html.escape
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             "<title>Comparing runs</title>",
             "<style>body{font-family:sans-serif;max-width:70em;margin:1em auto}"
             "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #bbb;"
             "padding:.2em .5em;text-align:left}th{background:#eee}</style></head><body>",
             "<h1>Comparing runs</h1>", f"<p>{esc(_notes(report))}</p>", "<h2>Systems</h2>",
             _html_table(system_head(report), system_rows(report))]
    for s in report["systems"]:
        parts += [f"<h3>{esc(s['system'])}</h3>", _html_table(run_head(report), run_rows(s, report))]
    parts += ["<h2>DET curves</h2>",
              '<p><img src="det.png" alt="DET curves of all runs" width="600"></p>']
    tables = condition_head_rows(report)
    if tables:
        parts += ["<h2>EER per attack and condition</h2>", f"<p>{esc(CONDITION_NOTE)}</p>"]
        parts += [_html_table(head, rows) for _, head, rows in tables]
    head, rows = matrix_rows(report)
    parts += ["<h2>Pairwise significance</h2>", _html_table(head, rows),
              '<p>Also: <a href="report.json">report.json</a>, <a href="report.md">report.md</a></p>',
              "</body></html>", ""]
    return "\n".join(parts)


def write_report(out, report, systems):
    """report.json, report.md, index.html and det.png into folder `out` (each written atomically)."""
    out = make_folder(out)
    plot_det_overlay(out / "det.png", systems, title=f"DET, {report['subset']} set")
    write_text_atomic(out / "report.json", json.dumps(report, indent=2) + "\n")
    write_text_atomic(out / "report.md", report_markdown(report))
    write_text_atomic(out / "index.html", report_html(report))
    return out
