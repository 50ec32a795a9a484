"""compare_runs: grouping runs by seed, mean ± t-interval over seeds, the significance matrix, the
three report files and the errors, on synthetic run folders (scores from known Gaussians)."""

import json

import numpy as np
import pytest
import yaml

from pylib.bin import compare_runs
from pylib.errors import UserError
from pylib.io.scores import read_scores, write_scores
from pylib.metrics.bootstrap import bootstrap_eer
from pylib.metrics.cm_report import score_cm_files, write_results_json
from pylib.metrics.compare import compare
from pylib.metrics.significance import eer_significance

N_BONA, N_SPOOF = 40, 60
T_975_1 = 12.706204736174698  # scipy.stats.t.ppf(0.975, 1): the 95 % t quantile for 2 seeds


@pytest.fixture
def labels(tmp_path):
    path = tmp_path / "data" / "utt2label"
    path.parent.mkdir()
    lines = [f"B{i:03d} bonafide" for i in range(N_BONA)]
    lines += [f"S{i:03d} spoof A0{i % 3}" for i in range(N_SPOOF)]
    path.write_text("\n".join(lines) + "\n")
    return path


def make_run(root, name, labels, shift, seed, config=None, results=True, utts=None):
    """A run folder: scores bona ~ N(shift, 1), spoof ~ N(0, 1); results.json by score_cm_files."""
    rng = np.random.default_rng(seed)
    folder = root / "exp" / name
    infer = folder / "infer_eval"
    infer.mkdir(parents=True)
    scores = {f"B{i:03d}": shift + rng.standard_normal() for i in range(N_BONA)}
    scores.update({f"S{i:03d}": rng.standard_normal() for i in range(N_SPOOF)})
    if utts is not None:
        scores = {u: s for u, s in scores.items() if u in utts}
    write_scores(infer / "scores.txt", scores)
    if results:
        res, _ = score_cm_files(infer / "scores.txt", labels, allow_missing=utts is not None)
        write_results_json(infer / "results.json", res)
    if config is not None:
        (folder / "config.yaml").write_text(yaml.safe_dump(config))
    return folder


def results_of(folder):
    return json.loads((folder / "infer_eval" / "results.json").read_text())


def test_report_of_two_systems_by_two_seeds(tmp_path, labels, capsys):
    runs = [make_run(tmp_path, f"{tag}_seed{s}", labels, shift, 10 * k + s)
            for k, (tag, shift) in enumerate([("lcnn", 2.5), ("rawnet", 0.8)]) for s in (1, 2)]
    for folder, t in zip(runs[:2], (0.11, 0.17)):  # min t-DCF for the lcnn runs only
        res = results_of(folder)
        res["tdcf"] = {"min_tdcf": t}
        write_results_json(folder / "infer_eval" / "results.json", res)
    out = tmp_path / "report"
    assert compare_runs.main([str(f) for f in runs] + ["--bootstrap", "50", "--out", str(out)]) == 0
    assert "lcnn: 2 seed(s)" in capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    eers = [results_of(f)["eer"] for f in runs]
    assert [s["system"] for s in report["systems"]] == ["lcnn", "rawnet"]
    for s, (e1, e2) in zip(report["systems"], [eers[:2], eers[2:]]):
        assert [r["seed"] for r in s["runs"]] == [1, 2]
        st = s["eer"]
        assert st["n"] == 2 and st["mean"] == pytest.approx((e1 + e2) / 2)
        assert st["std"] == pytest.approx(abs(e1 - e2) / np.sqrt(2))
        half = T_975_1 * abs(e1 - e2) / 2  # t * s / sqrt(2) with s = |e1 - e2| / sqrt(2)
        assert st["ci_half_width"] == pytest.approx(half)
        assert st["ci_low"] == pytest.approx((e1 + e2) / 2 - half)
        assert s["best"]["eer"] == min(e1, e2) and s["worst"]["eer"] == max(e1, e2)
        assert s["best"]["name"] == s["runs"][int(np.argmin([e1, e2]))]["name"]
        for r in s["runs"]:  # each run's bootstrap CI, computed here (no eer_ci in results.json)
            values = read_scores(tmp_path / "exp" / r["name"] / "infer_eval" / "scores.txt")
            ci = bootstrap_eer(list(values.values()), [u.startswith("B") for u in values], 50, seed=0)
            assert r["eer_ci"] == {"low": ci["ci_low"], "high": ci["ci_high"], "n_resamples": 50,
                                   "source": "computed"}
    lcnn, rawnet = report["systems"]
    assert lcnn["min_tdcf"]["mean"] == pytest.approx(0.14)
    assert lcnn["min_tdcf"]["ci_half_width"] == pytest.approx(T_975_1 * 0.06 / 2)
    assert (lcnn["min_tdcf"]["best"], lcnn["min_tdcf"]["worst"]) == (0.11, 0.17)
    assert "min_tdcf" not in rawnet
    sig, z = eer_significance(np.asarray(eers).reshape(-1, 1), N_BONA, N_SPOOF)
    got = report["significance"]
    assert got["runs"] == [f.name for f in runs]
    assert (got["n_bonafide"], got["n_spoof"]) == (N_BONA, N_SPOOF)
    assert got["significant"] == sig.tolist()
    assert np.allclose(np.asarray(got["z"], dtype=float), z, equal_nan=True)
    assert sig[0, 2] and not sig[0, 1]  # lcnn vs rawnet differ; two lcnn seeds do not
    page = (out / "index.html").read_text()
    assert (out / "det.png").stat().st_size > 1000
    assert 'src="det.png"' in page and "<script" not in page and "lcnn_seed2" in page
    md = (out / "report.md").read_text()
    assert "(det.png)" in md and "| lcnn | 2 |" in md
    assert f"{100 * lcnn['eer']['mean']:.2f} ± {100 * lcnn['eer']['ci_half_width']:.2f}" in md


def test_grouping_by_config_and_by_name(tmp_path, labels):
    base = {"model": {"name": "lcnn"}, "optim": {"lr": 1e-3}, "train": {"seed": 1, "epochs": 3}}
    other = {**base, "optim": {"lr": 3e-4}}
    third = {**base, "optim": {"lr": 1e-4}}
    folders = [
        make_run(tmp_path, "a", labels, 2.0, 1, config=base),
        make_run(tmp_path, "b", labels, 2.0, 2, config={**base, "train": {"seed": 7, "epochs": 3}}),
        make_run(tmp_path, "c", labels, 2.0, 3, config={**other, "train": {"seed": 2, "epochs": 3}}),
        make_run(tmp_path, "x_seed1", labels, 1.0, 4),
        make_run(tmp_path, "x_seed5", labels, 1.0, 5),
        # equal configs (but for the seed) under different tags: two systems, as named
        make_run(tmp_path, "p_seed1", labels, 1.0, 6, config={**third, "train": {"seed": 1}}),
        make_run(tmp_path, "q_seed2", labels, 1.0, 7, config={**third, "train": {"seed": 2}}),
    ]
    report, _, systems = compare(folders, bootstrap=0)
    groups = [(name, [r.name for r in members]) for name, members in systems]
    assert groups == [("a", ["a", "b"]), ("c", ["c"]), ("x", ["x_seed1", "x_seed5"]),
                      ("p", ["p_seed1"]), ("q", ["q_seed2"])]
    assert [r.seed for r in systems[0][1]] == [1, 7]  # train.seed of config.yaml
    assert [r.seed for r in systems[2][1]] == [1, 5]  # N of <tag>_seed<N>
    one = report["systems"][1]
    assert one["eer"]["n"] == 1 and "ci_half_width" not in one["eer"]
    assert one["runs"][0]["eer_ci"] is None  # --bootstrap 0 and none in results.json


def test_run_without_results_json(tmp_path, labels):
    a = make_run(tmp_path, "a_seed1", labels, 2.0, 1)
    b = make_run(tmp_path, "a_seed2", labels, 2.0, 2, results=False)
    with pytest.raises(UserError, match=r"a_seed2: no infer_eval/results.json; run stage 5 \(score_cm\)"):
        compare([a, b], bootstrap=0)
    report, runs, _ = compare([a, b], labels=labels, bootstrap=0)
    expected, _ = score_cm_files(b / "infer_eval" / "scores.txt", labels)
    assert runs[1].results["eer"] == expected["eer"]
    assert report["systems"][0]["runs"][1]["eer"] == expected["eer"]


def test_errors_name_the_folder_and_the_fix(tmp_path, labels):
    a = make_run(tmp_path, "a_seed1", labels, 2.0, 1)
    empty = tmp_path / "exp" / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match=r"empty: no infer_eval/scores.txt; run stage 4"):
        compare([a, empty], bootstrap=0)
    with pytest.raises(UserError, match=r"infer_dev/scores.txt.*--subset"):
        compare([a], subset="dev", bootstrap=0)
    with pytest.raises(UserError, match="no such run folder"):
        compare([a, tmp_path / "nope"], bootstrap=0)
    with pytest.raises(UserError, match="given twice"):
        compare([a, a], bootstrap=0)
    fewer = {f"B{i:03d}" for i in range(N_BONA)} | {f"S{i:03d}" for i in range(N_SPOOF - 5)}
    b = make_run(tmp_path, "a_seed2", labels, 2.0, 2, utts=fewer)
    with pytest.raises(UserError, match=r"a_seed2: scored on a different trial set from .*a_seed1: "
                                        r"5 trials only in"):
        compare([a, b], bootstrap=0)
    fewer_labels = tmp_path / "fewer_labels"
    fewer_labels.write_text("".join(line + "\n" for line in labels.read_text().splitlines()[:-10]))
    with pytest.raises(UserError, match=r"a_seed1/infer_eval/results.json: scored 40 bona fide and 60 "
                                        r"spoof trials, but .* give 40 and 50; rerun stage 5"):
        compare([a], labels=fewer_labels, bootstrap=0)
    moved = tmp_path / "moved_labels"
    labels.rename(moved)
    with pytest.raises(UserError, match=r"a_seed1: its results.json names .*utt2label.*pass --labels"):
        compare([a], bootstrap=0)


def test_entry_point_exits_2_on_a_user_error(tmp_path, labels, capsys):
    from pylib.bin._cli import run

    with pytest.raises(SystemExit) as e:
        run(compare_runs.main, [str(tmp_path / "nope"), "--out", str(tmp_path / "r")])
    assert e.value.code == 2
    assert "no such run folder" in capsys.readouterr().err


def test_cllr_teer_and_condition_tables(tmp_path, labels):
    """Cllr, min Cllr and t-EER (where every run's results.json has them) as mean ± t-interval over
    seeds; the per-attack and per-condition EERs of a system averaged over its seeds."""
    runs = [make_run(tmp_path, f"lcnn_seed{s}", labels, 2.0, s) for s in (1, 2)]
    runs.append(make_run(tmp_path, "rawnet_seed1", labels, 1.0, 7))
    codec = {"lcnn_seed1": (0.10, 0.30), "lcnn_seed2": (0.20, 0.50), "rawnet_seed1": (0.40, 0.45)}
    for folder, teer in zip(runs, (0.05, 0.07, None)):
        res = results_of(folder)
        if teer is not None:
            res["teer"] = {"concurrent_teer": teer}
        eers = zip(("alaw", "opus"), codec[folder.name])
        res["per_condition"] = {"codec": {c: {"eer": e} for c, e in eers}}
        write_results_json(folder / "infer_eval" / "results.json", res)
    report, _, _ = compare(runs, bootstrap=0)
    lcnn, rawnet = report["systems"]
    one, two = results_of(runs[0]), results_of(runs[1])
    assert lcnn["cllr"]["mean"] == pytest.approx((one["cllr"] + two["cllr"]) / 2)
    assert lcnn["min_cllr"]["ci_half_width"] == pytest.approx(
        T_975_1 * abs(one["min_cllr"] - two["min_cllr"]) / 2)  # sd/sqrt(2) of two values = |a-b|/2
    assert lcnn["teer"]["mean"] == pytest.approx(0.06) and "teer" not in rawnet  # rawnet has none
    assert [r["teer"] for r in lcnn["runs"]] == [0.05, 0.07] and rawnet["runs"][0]["teer"] is None
    table = lcnn["per_condition"]
    assert list(table) == ["attack", "codec"]
    assert table["codec"]["alaw"]["mean"] == pytest.approx(0.15) and table["codec"]["opus"]["n"] == 2
    a01 = (one["per_attack"]["A01"]["eer"] + two["per_attack"]["A01"]["eer"]) / 2
    assert table["attack"]["A01"]["mean"] == pytest.approx(a01)
    assert set(table["attack"]) == {"A00", "A01", "A02"}
    assert rawnet["per_condition"]["codec"]["opus"] == {"n": 1, "mean": 0.45, "min": 0.45, "max": 0.45}
    out = tmp_path / "report"
    assert compare_runs.main([str(r) for r in runs] + ["--bootstrap", "0", "--out", str(out)]) == 0
    md = (out / "report.md").read_text()
    assert "t-EER (%) mean ± 95 % CI" in md and "min Cllr (bits)" in md
    assert "## EER per attack and condition" in md
    assert "| codec | lcnn: EER (%) | rawnet: EER (%) |" in md and "| alaw | 15.00 ± 63.53 | 40.00 |" in md
    assert "| lcnn_seed1 | 1 |" in md and "| 5.00 |" in md  # the run's t-EER (%)
    page = (out / "index.html").read_text()
    assert "<h2>EER per attack and condition</h2>" in page and "<th>rawnet: EER (%)</th>" in page
