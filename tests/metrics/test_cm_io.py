"""Readers of CM score files, label files and ASV score files: good and bad inputs."""

import numpy as np
import pytest

from pylib.errors import DataError
from pylib.io.scores import read_scores
from pylib.metrics.cm_io import align, read_asv_scores, read_labels


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_read_scores(tmp_path):
    p = _write(tmp_path, "scores.txt", "u2 -1.5\n\nu1 3e-2\n")
    assert read_scores(p) == {"u2": -1.5, "u1": 0.03}


@pytest.mark.parametrize(
    "text, match",
    [
        ("u1 1.0\nu1 2.0\n", r"scores.txt:2: duplicate utterance 'u1'"),
        ("u1 1.0\nu2 nan\n", r"scores.txt:2: score is nan"),
        ("u1 inf\n", r"scores.txt:1: score is inf"),
        ("u1 1.0\nu2 high\n", r"scores.txt:2: score 'high' is not a number"),
        ("u1 1.0 2.0\nu2 1.0\n", r"scores.txt:2: expected 3 fields, as the first line, got 2"),
        ("u1 1.0 sure\n", r"scores.txt:1: score 'sure' is not a number"),  # extra columns are numbers too
        ("u1\n", r"scores.txt:1: expected `utt-id score`, got 1 fields"),
        ("\n\n", r"scores.txt: the score file is empty"),
    ],
)
def test_read_scores_bad(tmp_path, text, match):
    with pytest.raises(DataError, match=match):
        read_scores(_write(tmp_path, "scores.txt", text))


def test_read_scores_missing_file(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_scores(tmp_path / "nope.txt")


def test_read_labels_all_formats(tmp_path):
    u2l = _write(tmp_path, "utt2label", "a bonafide\nb spoof A01\n")
    p19 = _write(tmp_path, "p19.txt", "LA_0079 LA_T_1 - - bonafide\nLA_0039 LA_E_2834763 - A11 spoof\n")
    k21 = _write(
        tmp_path,
        "k21.txt",
        "LA_0009 LA_E_9332881 alaw ita_tx A07 spoof notrim eval\n"
        "LA_0009 LA_E_1 alaw ita_tx bonafide bonafide notrim progress\n",
    )
    assert read_labels(u2l) == {"a": ("bonafide", "-"), "b": ("spoof", "A01")}
    assert read_labels(p19) == {"LA_T_1": ("bonafide", "-"), "LA_E_2834763": ("spoof", "A11")}
    assert read_labels(k21) == {"LA_E_9332881": ("spoof", "A07"), "LA_E_1": ("bonafide", "-")}


def test_read_asv_scores(tmp_path):
    p = _write(tmp_path, "asv.txt", "LA_0039 target 1.5\nLA_0039 nontarget -2\nLA_0040 spoof 0.25\n")
    asv = read_asv_scores(p)
    assert asv["target"].tolist() == [1.5] and asv["nontarget"].tolist() == [-2.0]
    assert asv["spoof"].dtype == np.float64 and asv["spoof"].tolist() == [0.25]


@pytest.mark.parametrize(
    "text, match",
    [
        ("a target 1\nb impostor 2\n", r"asv.txt:2: expected `... target\|nontarget\|spoof score`"),
        ("a target 1\nb nontarget x\n", r"asv.txt:2: score 'x' is not a number"),
        ("a target 1\nb nontarget 2\n", r"no spoof trials"),
    ],
)
def test_read_asv_scores_bad(tmp_path, text, match):
    with pytest.raises(DataError, match=match):
        read_asv_scores(_write(tmp_path, "asv.txt", text))


def test_align_strict_and_allow_missing():
    scores = {"a": 1.0, "b": 0.0, "x": 5.0}
    labels = {"a": ("bonafide", "-"), "b": ("spoof", "A01"), "c": ("spoof", "A02")}
    expected = r"1 labelled utterances have no score .*c.*1 scored utterances have no label .*x.*allow"
    with pytest.raises(DataError, match=expected):
        align(scores, labels)
    utts, values, is_bona, attacks, report = align(scores, labels, allow_missing=True)
    assert utts == ["a", "b"] and values.tolist() == [1.0, 0.0]
    assert is_bona.tolist() == [True, False] and attacks.tolist() == ["-", "A01"]
    assert report == {"n_scored": 2, "missing_scores": 1, "unlabelled_scores": 1}


def test_align_nothing_in_common():
    with pytest.raises(DataError, match="no utterance in common"):
        align({"a": 1.0}, {"b": ("spoof", "A01")}, allow_missing=True)
