"""Files of countermeasure scoring: CM score files, label files, the official ASV score files.

- CM scores: `utt-id score` lines, higher = more bona fide (what stage 4 writes), read by
  `pylib.io.scores.read_scores`.
- Labels: any format of `pylib.data.asvspoof.read_labels` (nnsp utt2label, ASVspoof 2019
  protocol, ASVspoof 2021 LA/DF key).
- ASV scores (the organisers' `ASVspoof2019.LA.asv.{dev,eval}.gi.trl.scores.txt`): three fields
  `SOURCE KEY SCORE` with KEY in target | nontarget | spoof. Only the last two fields are read
  (key, then score), so a line with more leading fields (e.g. `SPEAKER UTT KEY SCORE`) reads too.
"""

import numpy as np

from pylib.data.asvspoof import read_labels
from pylib.errors import DataError
from pylib.io.scores import finite_score, text_lines

ASV_KEYS = ("target", "nontarget", "spoof")

__all__ = ["ASV_KEYS", "align", "read_asv_scores", "read_labels"]


def read_asv_scores(path):
    """Read an ASV score file -> {"target": (T,), "nontarget": (U,), "spoof": (S,)} float64 arrays."""
    groups = {k: [] for k in ASV_KEYS}
    for no, f in text_lines(path, "ASV score"):
        if len(f) < 2 or f[-2] not in groups:
            raise DataError(
                f"{path}:{no}: expected `... target|nontarget|spoof score` (the ASVspoof 2019 ASV score "
                f"format), got {' '.join(f)!r}"
            )
        groups[f[-2]].append(finite_score(path, no, f[-1]))
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
