"""Combine data folders into one (as Kaldi's utils/combine_data.sh): the union of their trials.

  python -m pylib.bin.combine_data --out data/train data/train_bonafide data/train_vocoded

Combined: `wav.scp` (required in every source) and every `utt2*` / `spk2*` table that each source
has. A table that only some sources have is an error naming the sources without it, because the
result would hold trials it does not cover (`--drop-partial` leaves such tables out instead).
`spk2*` tables (e.g. spk2f0range) may repeat a speaker only with the same value. Paths in wav.scp
are copied as written. An utterance id in two sources is an error naming both. Every table is
written sorted, atomically; the output folder must be none of the sources.
"""

from pathlib import Path

from pylib.bin import _cli
from pylib.bin._cli import run
from pylib.errors import DataError, UserError
from pylib.io import read_table, write_table
from pylib.io.names import check_not_input, check_out_dir

REQUIRED = "wav.scp"


def _tables(folder):
    folder = Path(folder)
    if not (folder / REQUIRED).is_file():
        raise DataError(f"{folder}: no {REQUIRED}; each source must be a data folder (wav.scp, utt2spk, ...)")
    wanted = (REQUIRED, "utt2", "spk2")
    return {p.name for p in folder.iterdir() if p.is_file() and p.name.startswith(wanted)}


def _merge(name, sources):
    """{id: value} of table `name` over the sources; ids seen twice are errors (spk2* allow equal values)."""
    out, where = {}, {}
    keyed_by_utt = name.startswith("utt2") or name == REQUIRED
    for src in sources:
        path = Path(src) / name
        for key, value in read_table(path, allow_empty_value=name.startswith("spk2")).items():
            if key in out:
                if name.startswith("spk2") and out[key] == value:
                    continue
                raise DataError(
                    f"{path}: id {key!r} is also in {where[key]}"
                    + ("" if keyed_by_utt else f" with another value ({out[key]!r})")
                    + "; the combined folder needs each utterance once: rename the trials of one source"
                )
            out[key], where[key] = value, path
    return out


def combine(sources, out_dir, drop_partial=False):
    """Write the combined folder; returns {table name: number of entries} of what was written."""
    if not sources:
        raise UserError("combine_data: give at least one source folder")
    have = {src: _tables(src) for src in sources}
    names = sorted(set().union(*have.values()), key=lambda n: (n != REQUIRED, n))  # wav.scp first
    keep = []
    for name in names:
        missing = [str(src) for src, t in have.items() if name not in t]
        if not missing:
            keep.append(name)
        elif not drop_partial:
            raise DataError(
                f"{missing[0]}: has no {name}, which "
                f"{', '.join(str(s) for s, t in have.items() if name in t)} has; the combined {name} would "
                f"miss its trials. Add the file to every source, or pass --drop-partial to leave {name} out"
            )
    out_dir = check_out_dir(out_dir, "--out")
    check_not_input([out_dir / n for n in keep], [Path(s) / n for s in sources for n in have[s]], "table")
    merged = {name: _merge(name, sources) for name in keep}
    utts = set(merged[REQUIRED])
    for name in keep:
        if name.startswith("utt2") and set(merged[name]) != utts:
            extra = sorted(set(merged[name]) ^ utts)[:3]
            raise DataError(f"{name} of the sources and wav.scp disagree on utterances (e.g. {extra}); "
                            "run python -m pylib.bin.validate_data_dir on each source")
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in keep:
        write_table(out_dir / name, merged[name])
    return {name: len(merged[name]) for name in keep}


def build_parser():
    p = _cli.new_parser("pylib.bin.combine_data", __doc__)
    p.add_argument("sources", nargs="+", help="data folders to combine (each with wav.scp)")
    p.add_argument("--out", required=True, metavar="DIR", help="combined data folder (none of the sources)")
    p.add_argument("--drop-partial", action="store_true",
                   help="leave out tables that only some sources have (default: an error)")
    return p


def main(argv=None):
    args = _cli.parse(build_parser(), argv)
    counts = combine(args.sources, args.out, args.drop_partial)
    tables = ", ".join(f"{n} ({c})" for n, c in counts.items())
    print(f"{args.out}: {counts[REQUIRED]} utterances from {len(args.sources)} folders; {tables}")
    return 0


if __name__ == "__main__":
    run(main)
