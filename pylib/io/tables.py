"""Kaldi-style table files: `utt-id value` lines (wav.scp, utt2spk, utt2label, utt2num_frames) and lists.

Ids never contain whitespace; a value is the rest of the line. Where sorting is required
(Kaldi's convention for every table in data/<set>/), an unsorted file is an error with the line.
Ids become file names, so each is checked by `pylib.io.names.check_name` (no '/', '..', leading
'-' or '.', whitespace or control characters). A leading UTF-8 byte-order mark is ignored.
"""

from pathlib import Path

from pylib.errors import DataError
from pylib.io.atomic import write_text_atomic
from pylib.io.names import check_name
from pylib.io.text import read_utf8


def _lines(path):
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    for no, line in enumerate(read_utf8(path).splitlines(), 1):
        if line.strip():
            yield no, line


def read_table(path, require_sorted=False, allow_empty_value=False, check_ids=True):
    """Read `utt-id value` lines into an ordered dict {id: value}.

    Duplicate ids, (optionally) unsorted ids, missing values and (with check_ids) ids that cannot
    be file names are DataErrors naming the line.
    """
    path = Path(path)
    out = {}
    prev = None
    for no, line in _lines(path):
        if line[0].isspace():
            raise DataError(f"{path}:{no}: line starts with whitespace; ids come first: {line!r}")
        parts = line.rstrip("\r\n").split(maxsplit=1)
        key = parts[0]
        if check_ids:
            check_name(key, path, no)
        value = parts[1].strip() if len(parts) > 1 else ""
        if not value and not allow_empty_value:
            raise DataError(f"{path}:{no}: id {key!r} has no value; expected `utt-id value`")
        if key in out:
            raise DataError(f"{path}:{no}: duplicate id {key!r}; each id must appear once")
        if require_sorted and prev is not None and key < prev:
            raise DataError(
                f"{path}:{no}: id {key!r} comes after {prev!r}; the file must be sorted "
                f"(run `LC_ALL=C sort -o {path.name} {path.name}`)"
            )
        out[key] = value
        prev = key
    return out


def write_table(path, table, sort=True):
    """Write {id: value} as `id value` lines atomically (sorted by id unless sort=False)."""
    items = sorted(table.items()) if sort else list(table.items())
    lines = []
    for k, v in items:
        _check_id(k, path)
        lines.append(f"{k} {v}\n")
    write_text_atomic(path, "".join(lines))


def _check_id(key, path):
    check_name(str(key), path)


def read_list(path, require_nonempty=True):
    """Read a `.lst` file (one id a line) into a list; duplicates and ids with spaces are errors."""
    path = Path(path)
    out, seen = [], set()
    for no, line in _lines(path):
        key = line.strip()
        if any(c.isspace() for c in key):
            raise DataError(f"{path}:{no}: {key!r} contains whitespace; one id per line")
        check_name(key, path, no)
        if key in seen:
            raise DataError(f"{path}:{no}: duplicate id {key!r}")
        seen.add(key)
        out.append(key)
    if require_nonempty and not out:
        raise DataError(f"{path}: the list is empty; rerun stage 2 (lists) and check what it dropped")
    return out


def write_list(path, ids):
    """Write ids one a line, atomically."""
    for k in ids:
        _check_id(k, path)
    write_text_atomic(path, "".join(f"{k}\n" for k in ids))


def read_wav_scp(path):
    """Read a wav.scp ({utt: path or `cmd |`}); sorted and unique ids required."""
    return read_table(path, require_sorted=True)


def read_utt2spk(path):
    return read_table(path, require_sorted=True)


def read_utt2num_frames(path):
    """Read utt2num_frames into {utt: int}."""
    out = {}
    for k, v in read_table(path).items():
        try:
            out[k] = int(v)
        except ValueError:
            raise DataError(f"{path}: utterance {k!r} has frame count {v!r}, not an integer") from None
    return out


LABELS = ("bonafide", "spoof")


def read_utt2label(path):
    """Read utt2label: `utt bonafide|spoof [attack-id]` -> {utt: (label, attack)}; attack '-' if absent."""
    path = Path(path)
    out = {}
    for no, (k, v) in enumerate(read_table(path).items(), 1):
        parts = v.split()
        if parts[0] not in LABELS or len(parts) > 2:
            raise DataError(
                f"{path}: utterance {k!r}: label {v!r} is not `bonafide|spoof [attack-id]` (entry {no})"
            )
        out[k] = (parts[0], parts[1] if len(parts) > 1 else "-")
    return out


def write_utt2label(path, labels):
    """Write {utt: (label, attack)} as utt2label lines `utt bonafide|spoof attack`, sorted, atomically
    (the one writer of the format `read_utt2label` reads; attack "-" when there is none)."""
    rows = {}
    for utt, (label, attack) in labels.items():
        attack = attack or "-"
        if label not in LABELS or len(str(attack).split()) != 1:
            raise ValueError(
                f"{path}: utterance {utt!r}: ({label!r}, {attack!r}) is not (bonafide|spoof, attack-id)"
            )
        rows[utt] = f"{label} {attack}"
    write_table(path, rows)
