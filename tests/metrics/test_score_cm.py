"""score_cm end to end: printed summary, exit codes, results.json contents, DET PNG."""

import json
import subprocess
import sys

import numpy as np
import pytest

from pylib.bin import score_cm
from pylib.bin._cli import run
from pylib.metrics.cm import compute_eer
from tests.conftest import ROOT, rng


@pytest.fixture
def files(tmp_path):
    """Toy CM scores (two attacks, one easy, one hard), labels as an ASVspoof 2019 protocol, ASV scores."""
    g = rng(7)
    lines_s, lines_p = [], []
    for i, s in enumerate(g.normal(2.0, 1.0, 40)):
        lines_s.append(f"B{i:03d} {s:.6f}")
        lines_p.append(f"LA_0001 B{i:03d} - - bonafide")
    for attack, mean in (("A01", -3.0), ("A02", 1.5)):
        for i, s in enumerate(g.normal(mean, 1.0, 30)):
            lines_s.append(f"{attack}_{i:03d} {s:.6f}")
            lines_p.append(f"LA_0002 {attack}_{i:03d} - {attack} spoof")
    scores = tmp_path / "scores.txt"
    scores.write_text("\n".join(lines_s) + "\n")
    protocol = tmp_path / "protocol.txt"
    protocol.write_text("\n".join(lines_p) + "\n")
    asv = tmp_path / "asv.txt"
    asv_lines = [f"LA_0001 target {s:.5f}" for s in g.normal(3, 1, 50)]
    asv_lines += [f"LA_0001 nontarget {s:.5f}" for s in g.normal(-2, 1, 50)]
    asv_lines += [f"LA_0002 spoof {s:.5f}" for s in g.normal(1, 2, 50)]
    asv.write_text("\n".join(asv_lines) + "\n")
    return scores, protocol, asv


def test_end_to_end(files, tmp_path, capsys):
    scores, protocol, asv = files
    out, det = tmp_path / "res" / "results.json", tmp_path / "det.png"
    rc = score_cm.main(["--scores", str(scores), "--labels", str(protocol), "--asv-scores", str(asv),
                        "--out", str(out), "--det", str(det)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "EER:" in text and "min t-DCF:" in text and "A01" in text and "A02" in text
    res = json.loads(out.read_text())
    assert (res["n_bonafide"], res["n_spoof"]) == (40, 60)
    values = dict(line.split() for line in scores.read_text().splitlines())
    bona = [float(v) for k, v in values.items() if k.startswith("B")]
    spoof = [float(v) for k, v in values.items() if not k.startswith("B")]
    assert res["eer"] == pytest.approx(compute_eer(bona, spoof)[0])
    assert res["eer_percent"] == pytest.approx(100 * res["eer"])
    assert set(res["per_attack"]) == {"A01", "A02"}
    assert res["per_attack"]["A01"]["eer"] < res["per_attack"]["A02"]["eer"]
    assert 0 < res["tdcf"]["min_tdcf"] <= 1.0 and res["tdcf"]["legacy"] is True
    assert res["alignment"] == {"n_scored": 100, "missing_scores": 0, "unlabelled_scores": 0}
    assert "per_condition" not in res and "codec" not in text  # a 2019 LA protocol carries no conditions
    assert det.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob(".*.tmp")) and not list(out.parent.glob(".*"))


def test_missing_scores_exit_2_then_allow_missing(files, tmp_path, capsys):
    scores, protocol, _ = files
    lines = scores.read_text().splitlines()
    scores.write_text("\n".join(lines[3:] + ["EXTRA_1 0.5"]) + "\n")
    with pytest.raises(SystemExit) as e:
        run(score_cm.main, ["--scores", str(scores), "--labels", str(protocol)])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "3 labelled utterances have no score" in err and "B000" in err and "EXTRA_1" in err
    out = tmp_path / "r.json"
    argv = ["--scores", str(scores), "--labels", str(protocol), "--allow-missing", "--out", str(out)]
    rc = score_cm.main(argv)
    assert rc == 0
    assert "left out:  3 labelled without score, 1 scored without label" in capsys.readouterr().out
    res = json.loads(out.read_text())
    assert res["alignment"] == {"n_scored": 97, "missing_scores": 3, "unlabelled_scores": 1}
    assert "tdcf" not in res


def test_bad_score_line_exit_2(files, capsys):
    scores, protocol, _ = files
    scores.write_text(scores.read_text() + "B999 nan\n")
    with pytest.raises(SystemExit) as e:
        run(score_cm.main, ["--scores", str(scores), "--labels", str(protocol)])
    assert e.value.code == 2
    assert f"{scores}:101: score is nan" in capsys.readouterr().err


def test_module_entry_point(files):
    scores, protocol, _ = files
    p = subprocess.run([sys.executable, "-m", "pylib.bin.score_cm", "--scores", str(scores), "--labels",
                        str(protocol) + ".missing"], cwd=ROOT, capture_output=True, text=True)
    assert p.returncode == 2
    # the error is one paragraph wrapped to the terminal width: where it breaks depends on the path
    assert "label file not found" in " ".join(p.stderr.split()) and "Traceback" not in p.stderr


def test_det_normal_deviates_monotone():
    from pylib.metrics.cm import det_curve
    from pylib.metrics.cm_report import det_points_normal

    g = rng(2)
    miss, fa, _ = det_curve(g.normal(1, 1, 30), g.normal(0, 1, 30))
    x, y = det_points_normal(miss, fa)
    assert np.all(np.isfinite(x)) and np.all(np.diff(x) <= 0) and np.all(np.diff(y) >= 0)


@pytest.fixture
def key2021(tmp_path):
    """Toy ASVspoof 2021 LA key: two codecs (alaw easy, opus hard), two transmissions, two attacks."""
    g = rng(11)
    lines_s, lines_k = [], []
    for i in range(48):
        codec, trans = ("alaw", "opus")[i % 2], ("ita_tx", "loc_tx")[(i // 2) % 2]
        bona = i % 3 != 0
        mean = 2.0 if bona else (-3.0 if codec == "alaw" else 1.0)
        attack = "bonafide" if bona else ("A07", "A19")[(i // 3) % 2]
        lines_s.append(f"LA_E_{i:07d} {g.normal(mean, 1.0):.6f}")
        subset = "eval" if i < 40 else "progress"
        lines_k.append(f"LA_0009 LA_E_{i:07d} {codec} {trans} {attack} {'bonafide' if bona else 'spoof'} "
                       f"notrim {subset}")
    scores = tmp_path / "scores.txt"
    scores.write_text("\n".join(lines_s) + "\n")
    key = tmp_path / "trial_metadata.txt"
    key.write_text("\n".join(lines_k) + "\n")
    return scores, key


def test_per_condition_tables(key2021, tmp_path, capsys):
    scores, key = key2021
    out = tmp_path / "results.json"
    rc = score_cm.main(["--scores", str(scores), "--labels", str(key), "--labels-format", "asvspoof2021_la",
                        "--key-subset", "eval", "--allow-missing", "--out", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    res = json.loads(out.read_text())
    tables = res["per_condition"]
    assert list(tables) == ["codec", "transmission", "attack"]
    assert set(tables["codec"]) == {"alaw", "opus"} and set(tables["attack"]) == {"A07", "A19"}
    # by hand: the eval trials of each codec, bona fide and spoof of that codec
    s = {u: float(v) for u, v in (line.split() for line in scores.read_text().splitlines())}
    rows = [line.split() for line in key.read_text().splitlines()]
    rows = [r for r in rows if r[7] == "eval"]
    for codec in ("alaw", "opus"):
        bona = [s[r[1]] for r in rows if r[2] == codec and r[5] == "bonafide"]
        spoof = [s[r[1]] for r in rows if r[2] == codec and r[5] == "spoof"]
        row = tables["codec"][codec]
        assert (row["n_bonafide"], row["n_spoof"]) == (len(bona), len(spoof))
        assert row["eer"] == pytest.approx(compute_eer(bona, spoof)[0]) and row["pooled_bonafide"] is False
    assert tables["codec"]["alaw"]["eer"] < tables["codec"]["opus"]["eer"]
    # an attack occurs in spoofed trials only: its EER is against every bona fide trial (= per_attack)
    all_bona = [s[r[1]] for r in rows if r[5] == "bonafide"]
    a07 = tables["attack"]["A07"]
    assert a07["pooled_bonafide"] is True and a07["n_bonafide"] == len(all_bona)
    assert a07["eer"] == pytest.approx(res["per_attack"]["A07"]["eer"])
    assert "codec" in text and "transmission" in text and "loc_tx" in text and "all bona fide trials" in text
    assert res["n_bonafide"] + res["n_spoof"] == 40


def test_labels_format_mismatch_exit_2(key2021, capsys):
    scores, key = key2021
    with pytest.raises(SystemExit) as e:
        run(score_cm.main, ["--scores", str(scores), "--labels", str(key), "--labels-format", "asvspoof5"])
    assert e.value.code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "trial_metadata.txt:1: expected 10 fields (asvspoof5), got 8" in err


def _asv_trials(tmp_path, scores, seed=3):
    """Per-trial ASV scores: every bona fide utterance once as target and once as non-target
    trial, every spoof utterance as a spoof trial (`SPEAKER UTT KEY SCORE`)."""
    g = rng(seed)
    utts = [line.split()[0] for line in scores.read_text().splitlines()]
    lines = []
    for u in utts:
        if u.startswith("B"):
            lines.append(f"LA_0001 {u} target {g.normal(3, 1):.5f}")
            lines.append(f"LA_0009 {u} nontarget {g.normal(-2, 1):.5f}")
        else:
            lines.append(f"LA_0001 {u} spoof {g.normal(1, 2):.5f}")
    path = tmp_path / "asv_trials.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_bootstrap_cllr_and_teer(files, tmp_path, capsys):
    from pylib.metrics.bootstrap import bootstrap_eer
    from pylib.metrics.cllr import cllr, min_cllr
    from pylib.metrics.teer import tandem_eer

    scores, protocol, _ = files
    trials = _asv_trials(tmp_path, scores)
    out = tmp_path / "results.json"
    argv = ["--scores", str(scores), "--labels", str(protocol), "--bootstrap", "200", "--bootstrap-seed", "3",
            "--asv-trials", str(trials), "--out", str(out)]
    assert score_cm.main(argv) == 0
    text = capsys.readouterr().out
    assert "EER CI:" in text and "200 resamples, seed 3" in text and "Cllr:" in text and "t-EER:" in text
    res = json.loads(out.read_text())
    values = dict(line.split() for line in scores.read_text().splitlines())
    utts = list(values)
    s = np.array([float(values[u]) for u in utts])
    is_bona = np.array([u.startswith("B") for u in utts])
    assert res["cllr"] == pytest.approx(cllr(s[is_bona], s[~is_bona]))
    assert res["min_cllr"] == pytest.approx(min_cllr(s[is_bona], s[~is_bona]))
    assert res["min_cllr"] <= res["cllr"]
    ci = res["eer_ci"]
    assert ci["low"] <= res["eer"] <= ci["high"] and ci["n_resamples"] == 200 and ci["seed"] == 3
    # the resampling does not depend on the trial order in the files, only on the seed
    ref = bootstrap_eer(s, is_bona, 200, seed=3)
    assert (ci["low"], ci["high"]) == pytest.approx((ref["ci_low"], ref["ci_high"]))
    rows = [line.split() for line in trials.read_text().splitlines()]
    pair = {k: (np.array([float(r[3]) for r in rows if r[2] == k]),
                np.array([float(values[r[1]]) for r in rows if r[2] == k]))
            for k in ("target", "nontarget", "spoof")}
    te = tandem_eer(*pair["target"], *pair["nontarget"], *pair["spoof"], rho=0.5)
    assert res["teer"]["concurrent_teer"] == pytest.approx(te["concurrent_teer"])
    assert (res["teer"]["n_target"], res["teer"]["n_nontarget"], res["teer"]["n_spoof"]) == (40, 40, 60)
    # without the options: no CI, no t-EER, but Cllr
    assert score_cm.main(["--scores", str(scores), "--labels", str(protocol), "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert "eer_ci" not in res and "teer" not in res and "cllr" in res


def test_bootstrap_and_teer_bad_input_exit_2(files, tmp_path, capsys):
    scores, protocol, _ = files
    base = ["--scores", str(scores), "--labels", str(protocol)]
    with pytest.raises(SystemExit) as e:
        run(score_cm.main, base + ["--bootstrap", "-5"])
    assert e.value.code == 2 and "--bootstrap -5" in capsys.readouterr().err
    trials = _asv_trials(tmp_path, scores)
    trials.write_text(trials.read_text() + "LA_0001 NOT_SCORED spoof 0.1\n")
    with pytest.raises(SystemExit) as e:
        run(score_cm.main, base + ["--asv-trials", str(trials)])
    err = " ".join(capsys.readouterr().err.split())  # the message is wrapped as one paragraph
    assert e.value.code == 2 and f"{trials}:141: utterance NOT_SCORED has no CM score" in err
    trials.write_text("LA_0001 B000 target\n")
    with pytest.raises(SystemExit) as e:
        run(score_cm.main, base + ["--asv-trials", str(trials)])
    err = " ".join(capsys.readouterr().err.split())
    assert e.value.code == 2 and "expected `... UTT target|nontarget|spoof ASV-SCORE`" in err
