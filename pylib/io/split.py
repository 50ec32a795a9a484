"""Split a list or a Kaldi table (scp, utt2spk, ...) into N balanced parts, by utterance or speaker.

By utterance the parts are contiguous runs of the input in order, sizes differing by at most one
(Kaldi's split_scp.pl). By speaker, each speaker's utterances stay in one part (for per-speaker
processing); speakers go largest first to the part with the fewest utterances so far, and each
part keeps the input's line order.
"""

from pathlib import Path

from pylib.errors import DataError
from pylib.io.atomic import write_text_atomic
from pylib.io.names import check_name, check_not_input
from pylib.io.tables import read_utt2spk
from pylib.io.text import read_utf8


def read_keyed_lines(path):
    """Lines of a list or table as [(id, line)] (id = first token); duplicates are DataErrors."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    out, seen = [], {}
    for no, line in enumerate(read_utf8(path).splitlines(), 1):
        if not line.strip():
            continue
        if line[0].isspace():
            raise DataError(f"{path}:{no}: line starts with whitespace; the id must come first")
        key = check_name(line.split(maxsplit=1)[0], path, no)
        if key in seen:
            raise DataError(f"{path}:{no}: duplicate id {key!r} (first on line {seen[key]})")
        seen[key] = no
        out.append((key, line))
    if not out:
        raise DataError(f"{path}: is empty; nothing to split")
    return out


def split_even(items, n):
    """Split a sequence into n contiguous parts whose sizes differ by at most one."""
    if n < 1:
        raise ValueError(f"number of parts must be >= 1, got {n}")
    if n > len(items):
        raise DataError(f"cannot split {len(items)} utterances into {n} non-empty parts; use at most "
                        f"{len(items)} jobs (--nj)")
    size, extra = divmod(len(items), n)
    parts, start = [], 0
    for i in range(n):
        stop = start + size + (1 if i < extra else 0)
        parts.append(list(items[start:stop]))
        start = stop
    return parts


def split_by_speaker(ids, utt2spk, n, where="utt2spk"):
    """Split ids into n parts, each speaker entirely in one part; returns lists of ids in input order."""
    missing = [u for u in ids if u not in utt2spk]
    if missing:
        raise DataError(f"{where}: has no speaker for {len(missing)} utterance(s), e.g. {missing[0]!r}; "
                        f"utt2spk must cover every utterance of the list")
    by_spk = {}
    for u in ids:
        by_spk.setdefault(utt2spk[u], []).append(u)
    if n > len(by_spk):
        raise DataError(f"{where}: cannot split {len(by_spk)} speakers into {n} parts by speaker; use at "
                        f"most {len(by_spk)} jobs, or split by utterance")
    loads = [0] * n
    part_of = {}
    # Largest first into the lightest part (greedy LPT): within 4/3 of the best balance; ties by name.
    for spk, utts in sorted(by_spk.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        k = min(range(n), key=lambda i: (loads[i], i))
        loads[k] += len(utts)
        part_of[spk] = k
    parts = [[] for _ in range(n)]
    for u in ids:
        parts[part_of[utt2spk[u]]].append(u)
    return parts


def split_file(path, n, utt2spk=None):
    """Split the lines of a list/table file -> n lists of lines (by speaker when utt2spk is given)."""
    lines = read_keyed_lines(path)
    if utt2spk is None:
        return [[line for _, line in part] for part in split_even(lines, n)]
    spk = read_utt2spk(utt2spk)
    line_of = dict(lines)
    parts = split_by_speaker(list(line_of), spk, n, where=str(utt2spk))
    return [[line_of[u] for u in part] for part in parts]


def utt2spk_parts(parts, utt2spk):
    """The utt2spk lines matching each part of split_file(..., utt2spk) (for per-part data folders)."""
    spk = read_utt2spk(utt2spk)
    return [[f"{key} {spk[key]}" for key in (line.split(maxsplit=1)[0] for line in part)] for part in parts]


def part_paths(n, out_prefix=None, out_dir=None, name=None):
    """`<prefix>.1 ... <prefix>.N`, or `<dir>/1/<name> ... <dir>/N/<name>`."""
    if out_prefix:
        return [Path(f"{out_prefix}.{i}") for i in range(1, n + 1)]
    return [Path(out_dir) / str(i) / name for i in range(1, n + 1)]


def write_parts(parts, out_prefix=None, out_dir=None, name=None, inputs=()):
    """Write parts as `<prefix>.1 ... <prefix>.N`, or `<dir>/1/<name> ... <dir>/N/<name>`; returns paths.

    None of the paths may be one of `inputs` (DataError before anything is written).
    """
    paths = part_paths(len(parts), out_prefix, out_dir, name)
    check_not_input(paths, inputs, what="part")
    for path, part in zip(paths, parts):
        write_text_atomic(path, "".join(line + "\n" for line in part))
    return paths
