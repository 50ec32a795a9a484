"""python -m pylib.bin.fuse_scores: aligns the files, trains on dev, writes the fused eval scores
(a score file score_cm reads) and the fusion as JSON; clear errors for mismatched files."""

import json

import numpy as np
import pytest

from pylib.bin import _cli, fuse_scores
from pylib.errors import DataError
from pylib.io.scores import read_scores, write_scores
from pylib.io.tables import write_utt2label
from pylib.metrics.calibration import apply_fusion, cross_entropy_bits, train_fusion


def _set(tmp_path, name, n, seed):
    """Two systems' score files and the labels of a toy set; returns (paths, labels, utts, matrix)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3 == 0
    x = np.stack([rng.normal(1.5 * y, 1.0), 4.0 * rng.normal(1.0 * y, 1.0) - 2.0], axis=1)
    utts = [f"{name}_{i:03d}" for i in range(n)]
    paths = []
    for k, sys_name in enumerate(("a", "b")):
        p = tmp_path / f"{sys_name}_{name}.txt"
        # write_scores rounds to 6 decimals; keep the exact values for the checks below
        x[:, k] = np.round(x[:, k], 6)
        write_scores(p, dict(zip(utts, x[:, k])))
        paths.append(str(p))
    labels = tmp_path / f"utt2label_{name}"
    write_utt2label(labels, {u: ("bonafide" if t else "spoof", "-" if t else "A01") for u, t in zip(utts, y)})
    return paths, str(labels), utts, x, y


def test_fuses_two_systems(tmp_path, capsys):
    dev, dev_lab, _, xd, yd = _set(tmp_path, "dev", 90, 0)
    ev, _, eval_utts, xe, _ = _set(tmp_path, "eval", 60, 1)
    out, model = tmp_path / "fused.txt", tmp_path / "fusion.json"
    rc = fuse_scores.main(["--dev", *dev, "--dev-labels", dev_lab, "--eval", *ev, "--out", str(out),
                           "--save-model", str(model)])
    assert rc == 0
    w, b = train_fusion(xd, yd)
    fused = read_scores(out)
    assert list(fused) == eval_utts
    np.testing.assert_allclose(list(fused.values()), apply_fusion(xe, w, b), atol=2e-6)
    saved = json.loads(model.read_text())
    np.testing.assert_allclose([s["weight"] for s in saved["systems"]], w, rtol=1e-6)
    assert saved["offset"] == pytest.approx(b, rel=1e-6, abs=1e-9)
    assert [s["dev"] for s in saved["systems"]] == dev and [s["eval"] for s in saved["systems"]] == ev
    assert saved["p_target"] == 0.5 and saved["dev"]["n_trials"] == 90 and saved["dev"]["n_bonafide"] == 30
    c = saved["dev"]["cross_entropy_bits"]
    assert c == pytest.approx(cross_entropy_bits(apply_fusion(xd, w, b), yd))
    assert all(c <= s + 1e-9 for s in saved["dev"]["single_system_cross_entropy_bits"])
    text = capsys.readouterr().out
    assert "fused 2 systems on 90 dev trials (30 bona fide, 60 spoof)" in text
    assert f"wrote {out} (60 utterances)" in text


def test_calibrates_one_system_with_a_prior(tmp_path, capsys):
    dev, dev_lab, _, xd, yd = _set(tmp_path, "dev", 60, 2)
    ev, _, _, xe, _ = _set(tmp_path, "eval", 30, 3)
    out = tmp_path / "cal.txt"
    fuse_scores.main(["--dev", dev[1], "--dev-labels", dev_lab, "--eval", ev[1], "--out", str(out),
                      "--p-target", "0.1"])
    w, b = train_fusion(xd[:, 1], yd, p_target=0.1)
    np.testing.assert_allclose(list(read_scores(out).values()), apply_fusion(xe[:, 1], w, b), atol=2e-6)
    assert "calibrated 1 system" in capsys.readouterr().out


def test_missing_utterance_is_an_error_unless_allowed(tmp_path, capsys):
    dev, dev_lab, dev_utts, _, _ = _set(tmp_path, "dev", 60, 4)
    ev, _, eval_utts, _, _ = _set(tmp_path, "eval", 30, 5)
    b = read_scores(ev[1])
    del b[eval_utts[7]]
    write_scores(ev[1], b)
    out = tmp_path / "fused.txt"
    argv = ["--dev", *dev, "--dev-labels", dev_lab, "--eval", *ev, "--out", str(out)]
    with pytest.raises(DataError, match=rf"{ev[1]}: utterance '{eval_utts[7]}' \(in {ev[0]}\) has no score"):
        fuse_scores.main(argv)
    assert not out.exists()
    a = read_scores(dev[0])
    a["stray_utt"] = 0.5
    write_scores(dev[0], a)
    with pytest.raises(DataError, match=rf"{dev[0]}: utterance 'stray_utt' has no label in {dev_lab}"):
        fuse_scores.main(argv)
    capsys.readouterr()
    assert fuse_scores.main([*argv, "--allow-missing"]) == 0
    assert "left out 1 dev and 1 eval utterances" in capsys.readouterr().out
    assert len(read_scores(out)) == 29 and eval_utts[7] not in read_scores(out)


def test_argument_errors(tmp_path, capsys):
    dev, dev_lab, _, _, _ = _set(tmp_path, "dev", 30, 6)
    base = ["--dev-labels", dev_lab, "--out", str(tmp_path / "o.txt")]
    with pytest.raises(SystemExit) as e:
        fuse_scores.main(["--dev", *dev, "--eval", dev[0], *base])
    assert e.value.code == 2 and "--dev has 2 files but --eval 1" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        fuse_scores.main(["--dev", dev[0], "--eval", dev[0], "--p-target", "1", *base])
    assert e.value.code == 2 and "strictly between 0 and 1" in capsys.readouterr().err


def test_one_class_dev_exits_2_with_one_paragraph(tmp_path, capsys):
    dev, _, utts, _, _ = _set(tmp_path, "dev", 30, 7)
    lab = tmp_path / "all_spoof"
    write_utt2label(lab, {u: ("spoof", "A01") for u in utts})
    argv = ["--dev", *dev, "--dev-labels", str(lab), "--eval", *dev, "--out", str(tmp_path / "o.txt")]
    with pytest.raises(SystemExit) as e:
        _cli.run(fuse_scores.main, argv)  # what `python -m pylib.bin.fuse_scores` runs
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: dev labels: all 30 dev utterances are spoof")
    assert "Traceback" not in err and not (tmp_path / "o.txt").exists()
