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
                        "--key-subset", "eval", "--out", str(out)])
    assert rc == 0  # the scores cover the whole key: its progress trials are left out, not an error
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
    assert res["alignment"] == {"n_scored": 40, "missing_scores": 0, "unlabelled_scores": 0,
                                "other_subset": 8}


def test_key_subset_exact_and_errors(key2021, tmp_path, capsys):
    """--key-subset eval on scores of exactly the eval trials; a trial outside the key, a missing
    eval score and an unknown subset are still errors naming the file."""
    scores, key = key2021
    lines = scores.read_text().splitlines()
    scores.write_text("\n".join(lines[:40]) + "\n")  # the 40 eval trials only
    out = tmp_path / "results.json"
    base = ["--scores", str(scores), "--labels", str(key), "--key-subset", "eval", "--out", str(out)]
    assert score_cm.main(base) == 0
    res = json.loads(out.read_text())
    assert res["alignment"]["other_subset"] == 0 and res["n_bonafide"] + res["n_spoof"] == 40
    scores.write_text("\n".join(lines[:39] + ["LA_E_9999999 0.5"]) + "\n")
    with pytest.raises(SystemExit) as e:
        run(score_cm.main, base)
    err = " ".join(capsys.readouterr().err.split())
    assert e.value.code == 2 and "1 labelled utterances have no score" in err and "LA_E_9999999" in err
    with pytest.raises(SystemExit) as e:
        run(score_cm.main, base[:-2] + ["--key-subset", "hidden"])
    err = " ".join(capsys.readouterr().err.split())
    assert e.value.code == 2
    assert "no trial of subset 'hidden'; the key has subsets ['eval', 'progress']" in err


def test_dcf_hand_checked(tmp_path, capsys):
    """bona fide 2, 0.5, -1; spoof -3, 1, -0.5, -4 (by hand, accept when score >= threshold).
    c_fa 10: p_target 0.5 -> Bayes threshold log 10 = 2.303 rejects all: actual 1; min at t = 2:
    (0.5 * 2/3) / 0.5 = 2/3. p_target 0.95 -> threshold log(0.5/0.95) = -0.642: miss 1/3, fa 2/4,
    (0.95/3 + 0.05 * 10 * 0.5) / 0.5 = 17/15; min at t = -1: (0.5 * 0.5) / 0.5 = 0.5."""
    scores, labels = tmp_path / "scores.txt", tmp_path / "utt2label"
    trials = [("b1", 2.0, "bonafide"), ("b2", 0.5, "bonafide"), ("b3", -1.0, "bonafide"),
              ("s1", -3.0, "spoof"), ("s2", 1.0, "spoof"), ("s3", -0.5, "spoof"), ("s4", -4.0, "spoof")]
    scores.write_text("".join(f"{u} {v}\n" for u, v, _ in trials))
    labels.write_text("".join(f"{u} {lab} {'-' if lab == 'bonafide' else 'A1'}\n" for u, _, lab in trials))
    out = tmp_path / "results.json"
    base = ["--scores", str(scores), "--labels", str(labels), "--out", str(out)]
    assert score_cm.main(base + ["--dcf-p-target", "0.5", "0.95", "--dcf-c-fa", "10"]) == 0
    text = capsys.readouterr().out
    low, high = json.loads(out.read_text())["dcf"]
    assert (low["p_target"], low["c_miss"], low["c_fa"]) == (0.5, 1.0, 10.0)
    assert low["actual_dcf"] == pytest.approx(1.0) and low["bayes_threshold"] == pytest.approx(np.log(10))
    assert low["min_dcf"] == pytest.approx(2 / 3) and low["min_dcf_threshold"] == 2.0
    assert high["actual_dcf"] == pytest.approx(17 / 15) and high["min_dcf"] == pytest.approx(0.5)
    assert high["min_dcf_threshold"] == -1.0
    assert "DCF:       actual 1.0000, min 0.6667  (p_target 0.5, c_miss 1, c_fa 10" in text
    assert "DCF:       actual 1.1333, min 0.5000  (p_target 0.95" in text
    # the default: ASVspoof 5's costs only (p_target 0.95, c_miss 1, c_fa 10), as the second entry
    assert score_cm.main(base) == 0
    (only,) = json.loads(out.read_text())["dcf"]
    assert only == high
    for bad in (["--dcf-p-target", "1.0"], ["--dcf-c-fa", "0"]):
        with pytest.raises(SystemExit) as e:
            run(score_cm.main, base + bad)
        assert e.value.code == 2 and "priors must lie strictly between 0 and 1" in capsys.readouterr().err


@pytest.fixture
def two_attacks(tmp_path):
    """Bona fide all at 0; attack A1 (4 trials) all at -10, A2 (4 trials) all at +10; utt2label with
    a speaker per trial in utt2spk next to it (two bona fide speakers, one per attack)."""
    rows = [(f"b{i}", 0.0, "bonafide", "-", f"spk{i % 2}") for i in range(4)]
    rows += [(f"x{i}", -10.0, "spoof", "A1", "spkA") for i in range(4)]
    rows += [(f"y{i}", 10.0, "spoof", "A2", "spkB") for i in range(4)]
    data = tmp_path / "data"
    data.mkdir()
    (data / "scores.txt").write_text("".join(f"{u} {v}\n" for u, v, *_ in rows))
    (data / "utt2label").write_text("".join(f"{u} {lab} {a}\n" for u, _, lab, a, _ in rows))
    (data / "utt2spk").write_text("".join(f"{u} {s}\n" for u, *_, s in rows))
    return data, rows


def test_bootstrap_by_attack_hand_checked(two_attacks, tmp_path):
    """By attack, a resample draws 2 attack groups from {A1, A2} (bona fide, one group of its own
    class, always drawn): {A1, A1} (p 1/4) puts every spoof below every bona fide trial, EER 0;
    {A2, A2} (p 1/4) every spoof above, EER 1; {A1, A2} (p 1/2) has the original scores (each group's
    trials are equal), the full EER 1/2. By trial, the spoof mix varies in steps of 1/8 instead."""
    from pylib.metrics.bootstrap import bootstrap_eer

    data, rows = two_attacks
    s = np.array([r[1] for r in rows])
    is_bona = np.array([r[2] == "bonafide" for r in rows])
    attacks = np.array([r[3] for r in rows])
    full = compute_eer(s[is_bona], s[~is_bona])[0]
    assert full == 0.5  # by hand: past the 4 spoofs at -10 and 2 bona fide trials, miss = fa = 1/2
    res = bootstrap_eer(s, is_bona, 400, groups=attacks, seed=5, stratify=True)
    vals = res["resampled"]
    assert res["n_valid"] == 400 and set(np.round(vals, 12)) == {0.0, round(full, 12), 1.0}
    frac = {v: np.mean(np.isclose(vals, v)) for v in (0.0, full, 1.0)}
    assert frac[0.0] == pytest.approx(0.25, abs=0.07) and frac[1.0] == pytest.approx(0.25, abs=0.07)
    assert frac[full] == pytest.approx(0.5, abs=0.08)
    assert (res["ci_low"], res["ci_high"]) == (0.0, 1.0)
    by_trial = bootstrap_eer(s, is_bona, 400, seed=5)["resampled"]
    assert len(set(np.round(by_trial, 12))) > 3
    # score_cm --bootstrap-by attack: the same draws (same seed), written and printed
    out = tmp_path / "results.json"
    argv = ["--scores", str(data / "scores.txt"), "--labels", str(data / "utt2label"), "--bootstrap", "400",
            "--bootstrap-seed", "5", "--bootstrap-by", "attack", "--out", str(out)]
    assert score_cm.main(argv) == 0
    ci = json.loads(out.read_text())["eer_ci"]
    assert (ci["by"], ci["n_groups"], ci["n_valid"], ci["low"], ci["high"]) == ("attack", 3, 400, 0.0, 1.0)


def test_bootstrap_by_speaker(two_attacks, tmp_path, capsys):
    """By speaker: utt2spk next to utt2label (or --utt2spk); without one, an error saying what to pass."""
    data, _ = two_attacks
    out = tmp_path / "results.json"
    argv = ["--scores", str(data / "scores.txt"), "--labels", str(data / "utt2label"), "--bootstrap", "50",
            "--bootstrap-by", "speaker", "--out", str(out)]
    assert score_cm.main(argv) == 0
    assert "50 resamples of the 4 speaker groups within each class" in capsys.readouterr().out
    ci = json.loads(out.read_text())["eer_ci"]
    assert ci["by"] == "speaker" and ci["n_groups"] == 4 and ci["n_valid"] == 50
    assert 0.0 <= ci["low"] <= ci["high"] <= 1.0
    (data / "utt2spk").rename(tmp_path / "spk")
    with pytest.raises(SystemExit) as e:
        run(score_cm.main, argv)
    err = " ".join(capsys.readouterr().err.split())
    assert e.value.code == 2 and "has no speaker column; pass --utt2spk" in err
    assert score_cm.main(argv + ["--utt2spk", str(tmp_path / "spk")]) == 0
    (tmp_path / "spk").write_text("b0 spk0\n")
    with pytest.raises(SystemExit) as e:
        run(score_cm.main, argv + ["--utt2spk", str(tmp_path / "spk")])
    err = " ".join(capsys.readouterr().err.split())  # the message is wrapped to the terminal's width
    assert e.value.code == 2 and "no speaker for 11 scored trials" in err


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
    assert "EER CI:" in text and "200 resamples of the trials, seed 3" in text
    assert "Cllr:" in text and "t-EER:" in text
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
