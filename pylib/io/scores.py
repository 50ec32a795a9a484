"""Score files: `utt-id score` lines, higher = more bona fide. The one reader and writer of the format.

- `write_scores`: the finished file, sorted by id, written atomically (stage 4, score_wavs);
- `append_scores`: lines appended to an open file and fsynced, so a killed run keeps them (stage 4
  appends per batch, then rewrites the file sorted with `write_scores`);
- `read_scores`: a finished file, strictly (stage 5 and score_cm): a bad line is a DataError;
- `read_partial_scores`: what a killed run left (resuming): a missing file is empty, a line cut by
  the kill and lines that are not `utt-id number` are dropped, `#` lines are returned apart.

Scores are written with 6 decimals (`exact=True`: Python's shortest exact repr, for the partial
files a resumed run goes on from).

Extra columns: a score may be a tuple `(score, extra, ...)`, written as `utt-id score extra ...`
(inference with MC dropout writes `utt-id score model_confidence data_confidence`, the seed's
project 09 columns). `read_scores` returns the first score column of such a file (what score_cm
ranks); `read_score_columns` returns every column; every line of a file has the same number.
"""

import math
import os
from pathlib import Path

from pylib.errors import DataError
from pylib.io.atomic import write_text_atomic
from pylib.io.names import check_name, strip_bom
from pylib.io.text import read_utf8


def _fields(value, exact=False):
    """A score or a tuple of score columns -> its text, space-separated."""
    values = value if isinstance(value, (tuple, list)) else (value,)
    if exact:
        return " ".join(repr(float(v)) for v in values)
    return " ".join(f"{v:.6f}" for v in values)


def format_scores(scores, exact=False):
    """{utt: score or (score, extra, ...)} -> the text of a score file, sorted by id."""
    return "".join(f"{u} {_fields(s, exact)}\n" for u, s in sorted(scores.items()))


def write_scores(path, scores, header=None, exact=False):
    """Write {utt: score} sorted by id, atomically; header: lines written first as `# ...` comments."""
    head = "".join(f"# {line}\n" for line in (header or ()))
    write_text_atomic(path, head + format_scores(scores, exact))


def append_scores(f, scores):
    """Append {utt: score} lines (in the dict's order) to the open text file `f`, flushed and fsynced."""
    if not scores:
        return
    f.write("".join(f"{u} {_fields(s)}\n" for u, s in scores.items()))
    f.flush()
    os.fsync(f.fileno())


def text_lines(path, what):
    """(line number, fields) of the non-blank lines of a UTF-8 text file; DataErrors name the file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: {what} file not found")
    text = read_utf8(path, fix=f"expected a text {what} file; re-save it as UTF-8")
    for no, line in enumerate(text.splitlines(), 1):
        if line.strip():
            yield no, line.split()


def finite_score(path, no, text):
    """float(text), or a DataError naming line `no` of `path` for a non-number, NaN or Inf."""
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"{path}:{no}: score {text!r} is not a number") from None
    if not math.isfinite(value):
        raise DataError(f"{path}:{no}: score is {text}; NaN/Inf scores cannot be ranked (check the model)")
    return value


def read_scores(path):
    """Read a finished score file -> {utt: float} in file order (the first score column).

    Duplicate ids, ids that are not plain names (`pylib.io.names`; `sub/stem` parts allowed), lines
    without a score or with another number of columns than the first line, non-numbers, NaN and
    Inf are DataErrors naming the line; so is an empty file. A leading byte-order mark is ignored.
    """
    return {u: v[0] for u, v in read_score_columns(path).items()}


def read_score_columns(path):
    """Read a finished score file -> {utt: (score, extra, ...)} in file order; checks as read_scores."""
    out, width = {}, None
    for no, f in text_lines(path, "score"):
        if len(f) < 2 or (width is not None and len(f) != width):
            want = "`utt-id score`" if width is None else f"{width} fields, as the first line"
            raise DataError(f"{path}:{no}: expected {want}, got {len(f)} fields: {' '.join(f)!r}")
        width = len(f)
        check_name(f[0], path, no, subpath=True)  # score_wavs ids may be `subfolder/stem`
        if f[0] in out:
            raise DataError(f"{path}:{no}: duplicate utterance {f[0]!r}; each must be scored once")
        out[f[0]] = tuple(finite_score(path, no, x) for x in f[1:])
    if not out:
        raise DataError(f"{path}: the score file is empty; rerun stage 4 (inference)")
    return out


def read_partial_scores(path, columns=1):
    """What a (possibly killed) run left in a score file -> (header comment lines, {utt: float}).

    Never raises for the content: a missing or undecodable file gives ([], {}); the last line is
    dropped when the file does not end in a newline (a kill cut it); lines that are not
    `utt-id finite-number` are skipped; `# ...` lines come back (without `# `) as the header.
    columns > 1: lines of `utt-id` and that many finite numbers, returned as tuples.
    """
    try:
        text = strip_bom(Path(path).read_text(encoding="utf-8"))
    except (FileNotFoundError, IsADirectoryError, UnicodeDecodeError):
        return [], {}
    lines = text.split("\n")
    lines = lines[:-1]  # after the last newline: "" for a whole file, the cut line for a killed one
    header, out = [], {}
    for line in lines:
        if line.startswith("#"):
            header.append(line[1:].strip())
            continue
        parts = line.split()
        if len(parts) != columns + 1:
            continue
        try:
            values = tuple(float(x) for x in parts[1:])
        except ValueError:
            continue
        if all(math.isfinite(v) for v in values):
            out[parts[0]] = values[0] if columns == 1 else values
    return header, out
