"""Score files: `utt-id score` lines, higher = more bona fide. The one reader and writer of the format.

- `write_scores`: the finished file, sorted by id, written atomically (stage 4, score_wavs);
- `append_scores`: lines appended to an open file and fsynced, so a killed run keeps them (stage 4
  appends per batch, then rewrites the file sorted with `write_scores`);
- `read_scores`: a finished file, strictly (stage 5 and score_cm): a bad line is a DataError;
- `read_partial_scores`: what a killed run left (resuming): a missing file is empty, a line cut by
  the kill and lines that are not `utt-id number` are dropped, `#` lines are returned apart.

Scores are written with 6 decimals (`exact=True`: Python's shortest exact repr, for the partial
files a resumed run goes on from).
"""

import math
import os
from pathlib import Path

from pylib.errors import DataError
from pylib.io.atomic import write_text_atomic
from pylib.io.names import check_name, strip_bom
from pylib.io.text import read_utf8


def format_scores(scores, exact=False):
    """{utt: score} -> the text of a score file, sorted by id."""
    if exact:
        return "".join(f"{u} {float(s)!r}\n" for u, s in sorted(scores.items()))
    return "".join(f"{u} {s:.6f}\n" for u, s in sorted(scores.items()))


def write_scores(path, scores, header=None, exact=False):
    """Write {utt: score} sorted by id, atomically; header: lines written first as `# ...` comments."""
    head = "".join(f"# {line}\n" for line in (header or ()))
    write_text_atomic(path, head + format_scores(scores, exact))


def append_scores(f, scores):
    """Append {utt: score} lines (in the dict's order) to the open text file `f`, flushed and fsynced."""
    if not scores:
        return
    f.write("".join(f"{u} {s:.6f}\n" for u, s in scores.items()))
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
    """Read a finished score file -> {utt: float} in file order.

    Duplicate ids, ids that are not plain names (`pylib.io.names`; `sub/stem` parts allowed), lines
    without exactly two fields, non-numbers, NaN and Inf are DataErrors naming the line; so is an
    empty file. A leading byte-order mark is ignored.
    """
    out = {}
    for no, f in text_lines(path, "score"):
        if len(f) != 2:
            raise DataError(f"{path}:{no}: expected `utt-id score`, got {len(f)} fields: {' '.join(f)!r}")
        check_name(f[0], path, no, subpath=True)  # score_wavs ids may be `subfolder/stem`
        if f[0] in out:
            raise DataError(f"{path}:{no}: duplicate utterance {f[0]!r}; each must be scored once")
        out[f[0]] = finite_score(path, no, f[1])
    if not out:
        raise DataError(f"{path}: the score file is empty; rerun stage 4 (inference)")
    return out


def read_partial_scores(path):
    """What a (possibly killed) run left in a score file -> (header comment lines, {utt: float}).

    Never raises for the content: a missing or undecodable file gives ([], {}); the last line is
    dropped when the file does not end in a newline (a kill cut it); lines that are not
    `utt-id finite-number` are skipped; `# ...` lines come back (without `# `) as the header.
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
        if len(parts) != 2:
            continue
        try:
            value = float(parts[1])
        except ValueError:
            continue
        if math.isfinite(value):
            out[parts[0]] = value
    return header, out
