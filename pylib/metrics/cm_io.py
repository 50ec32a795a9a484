"""Files of countermeasure scoring: CM score files, label files, the official ASV score files.

- CM scores: `utt-id score` lines, higher = more bona fide (what stage 4 writes).
- Labels: any format of `pylib.data.asvspoof.read_labels` (nnsp utt2label, ASVspoof 2019
  protocol, ASVspoof 2021 LA/DF key).
- ASV scores (the organisers' `ASVspoof2019.LA.asv.{dev,eval}.gi.trl.scores.txt`): three fields
  `SOURCE KEY SCORE` with KEY in target | nontarget | spoof. Only the last two fields are read
  (key, then score), so a line with more leading fields (e.g. `SPEAKER UTT KEY SCORE`) reads too.
"""

import math
from pathlib import Path

import numpy as np

from pylib.data.asvspoof import read_labels
from pylib.errors import DataError
from pylib.io.names import check_name
from pylib.io.text import read_utf8

ASV_KEYS = ("target", "nontarget", "spoof")

__all__ = ["ASV_KEYS", "align", "read_asv_scores", "read_labels", "read_scores"]


def _text_lines(path, what):
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: {what} file not found")
    text = read_utf8(path, fix=f"expected a text {what} file; re-save it as UTF-8")
    for no, line in enumerate(text.splitlines(), 1):
        if line.strip():
            yield no, line.split()


def _finite(path, no, text):
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"{path}:{no}: score {text!r} is not a number") from None
    if not math.isfinite(value):
        raise DataError(f"{path}:{no}: score is {text}; NaN/Inf scores cannot be ranked (check the model)")
    return value


def read_scores(path):
    """Read `utt-id score` lines -> {utt: float} in file order.

    Duplicate ids, ids that are not plain names (`pylib.io.names`; `sub/stem` parts allowed), lines
    without exactly two fields, non-numbers, NaN and Inf are DataErrors naming the line. A leading
    byte-order mark is ignored.
    """
    out = {}
    for no, f in _text_lines(path, "score"):
        if len(f) != 2:
            raise DataError(f"{path}:{no}: expected `utt-id score`, got {len(f)} fields: {' '.join(f)!r}")
        check_name(f[0], path, no, subpath=True)  # score_wavs ids may be `subfolder/stem`
        if f[0] in out:
            raise DataError(f"{path}:{no}: duplicate utterance {f[0]!r}; each must be scored once")
        out[f[0]] = _finite(path, no, f[1])
    if not out:
        raise DataError(f"{path}: the score file is empty; rerun stage 4 (inference)")
    return out


def read_asv_scores(path):
    """Read an ASV score file -> {"target": (T,), "nontarget": (U,), "spoof": (S,)} float64 arrays."""
    groups = {k: [] for k in ASV_KEYS}
    for no, f in _text_lines(path, "ASV score"):
        if len(f) < 2 or f[-2] not in groups:
            raise DataError(
                f"{path}:{no}: expected `... target|nontarget|spoof score` (the ASVspoof 2019 ASV score "
                f"format), got {' '.join(f)!r}"
            )
        groups[f[-2]].append(_finite(path, no, f[-1]))
    missing = [k for k, v in groups.items() if not v]
    if missing:
        raise DataError(f"{path}: no {'/'.join(missing)} trials; the t-DCF needs target, nontarget and spoof")
    return {k: np.asarray(v, dtype=np.float64) for k, v in groups.items()}


def align(scores, labels, allow_missing=False, scores_name="scores", labels_name="labels", show=5):
    """Match scores {utt: float} with labels {utt: (label, attack)}.

    Returns (utts (N,) list, scores (N,) float64, is_bonafide (N,) bool, attacks (N,) str, report)
    in label-file order; report = {"n_scored", "missing_scores", "unlabelled_scores"} (counts).
    Without allow_missing, any labelled utterance without a score or any score without a label is a
    DataError with the counts and a few ids.
    """
    missing = [u for u in labels if u not in scores]
    extra = [u for u in scores if u not in labels]
    if (missing or extra) and not allow_missing:
        parts = []
        if missing:
            parts.append(f"{len(missing)} labelled utterances have no score in {scores_name} (e.g. "
                         f"{', '.join(missing[:show])})")
        if extra:
            parts.append(f"{len(extra)} scored utterances have no label in {labels_name} (e.g. "
                         f"{', '.join(extra[:show])})")
        raise DataError(
            "; ".join(parts) + ". Check that the score and label files are of the same set, or pass "
            "--allow-missing to score the utterances in both"
        )
    utts = [u for u in labels if u in scores]
    if not utts:
        raise DataError(f"{scores_name} and {labels_name} have no utterance in common")
    values = np.asarray([scores[u] for u in utts], dtype=np.float64)
    is_bona = np.asarray([labels[u][0] == "bonafide" for u in utts], dtype=bool)
    attacks = np.asarray([labels[u][1] for u in utts], dtype=str)
    report = {"n_scored": len(utts), "missing_scores": len(missing), "unlabelled_scores": len(extra)}
    return utts, values, is_bona, attacks, report
