"""pylib.io.scores: the one reader and writer of `utt-id score` files."""

import pytest

from pylib.errors import DataError
from pylib.io.scores import append_scores, format_scores, read_partial_scores, read_scores, write_scores


def test_write_then_read_sorted_six_decimals(tmp_path):
    p = tmp_path / "scores.txt"
    write_scores(p, {"b": -1.25, "a": 0.1234567})
    assert p.read_text() == "a 0.123457\nb -1.250000\n"
    assert read_scores(p) == {"a": 0.123457, "b": -1.25}
    assert format_scores({"x": 1 / 3}, exact=True) == f"x {1 / 3!r}\n"


def test_append_then_resume_from_a_killed_file(tmp_path):
    p = tmp_path / "scores.txt"
    with open(p, "a", encoding="utf-8") as f:
        append_scores(f, {"u2": 2.0, "u1": 1.0})  # in the order computed
        append_scores(f, {})
    assert p.read_text() == "u2 2.000000\nu1 1.000000\n"
    with open(p, "a", encoding="utf-8") as f:
        f.write("u3 3.0\ngarbage line here\nu4 nan\nu5 1.2")  # a bad line, a NaN, a line cut by a kill
    header, scores = read_partial_scores(p)
    assert header == [] and scores == {"u2": 2.0, "u1": 1.0, "u3": 3.0}
    assert read_partial_scores(tmp_path / "absent.txt") == ([], {})
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00junk")
    assert read_partial_scores(tmp_path / "bin.txt") == ([], {})


def test_header_and_exact_values_round_trip(tmp_path):
    p = tmp_path / "scores.txt.partial"
    write_scores(p, {"b": 0.1 + 0.2, "a/x": -3.0}, header=["model sha256 abc"], exact=True)
    assert p.read_text().splitlines()[0] == "# model sha256 abc"
    assert read_partial_scores(p) == (["model sha256 abc"], {"a/x": -3.0, "b": 0.1 + 0.2})


@pytest.mark.parametrize(
    "text, match",
    [
        ("u1\n", "expected `utt-id score`"),
        ("u1 1.0 extra\n", "not a number"),  # extra columns are numbers (MC-dropout confidences)
        ("u1 1.0 0.1 0.2\nu2 1.0\n", "expected 4 fields, as the first line"),
        ("u1 one\n", "not a number"),
        ("u1 inf\n", "NaN/Inf"),
        ("u1 1\nu1 2\n", "duplicate utterance"),
        ("\n\n", "empty"),
    ],
)
def test_read_scores_is_strict(tmp_path, text, match):
    p = tmp_path / "scores.txt"
    p.write_text(text)
    with pytest.raises(DataError, match=match):
        read_scores(p)


def test_read_scores_missing_file(tmp_path):
    with pytest.raises(DataError, match="score file not found"):
        read_scores(tmp_path / "nope.txt")


def test_extra_columns(tmp_path):
    from pylib.io.scores import read_score_columns

    p = tmp_path / "scores.txt"
    write_scores(p, {"b": (0.5, 0.01, 0.2), "a": (-1.0, 0.0, 0.3)})
    assert p.read_text() == "a -1.000000 0.000000 0.300000\nb 0.500000 0.010000 0.200000\n"
    assert read_scores(p) == {"a": -1.0, "b": 0.5}  # score_cm ranks the first score column
    assert read_score_columns(p) == {"a": (-1.0, 0.0, 0.3), "b": (0.5, 0.01, 0.2)}
    with open(p, "a") as f:
        f.write("c 1.0 2.0")  # cut by a kill
    assert read_partial_scores(p, columns=3)[1] == {"a": (-1.0, 0.0, 0.3), "b": (0.5, 0.01, 0.2)}
    assert read_partial_scores(p)[1] == {}  # one-column reading skips three-column lines
