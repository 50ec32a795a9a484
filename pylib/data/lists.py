"""Stage 2 lists: check every utterance of a dump set and keep those the loader can use.

Candidate ids are the union over the features' folders of `utt2num_frames` (or, where a folder
has none, the files present), or the ids of a table such as `data/<set>/wav.scp` when given; so an
utterance missing from one feature is reported rather than silently absent.
"""

from pathlib import Path

from tqdm import tqdm

from pylib.data.lengths import LengthCache, align
from pylib.data.rawwav import read_rows
from pylib.errors import DataError
from pylib.io import (
    check_not_input,
    name_problem,
    read_table,
    read_utt2label,
    write_list,
    write_table,
    write_utt2label,
)


def candidate_ids(set_dir, features, ids_from=None):
    """Sorted candidate utterance ids of `set_dir` (see the module docstring)."""
    if ids_from is not None:
        return sorted(read_table(ids_from))
    ids = set()
    for f in features:
        folder = Path(set_dir) / f.name
        table = folder / "utt2num_frames"
        if table.is_file():
            ids.update(read_table(table))
        elif folder.is_dir():
            names = (p.name[: -len(f.ext)] for p in folder.iterdir() if p.name.endswith(f.ext))
            ids.update(n for n in names if name_problem(n) is None)  # not temp files (.<utt>.wav.X.wav)
    if not ids:
        raise DataError(
            f"{set_dir}: no feature files for {[f.name for f in features]}; run stage 1 "
            f"(feature extraction) for this set first"
        )
    return sorted(ids)


def check_utterance(utt, features, dirs, cache, spec, check_finite=True):
    """Aligned length in samples of `utt`; DataError (naming the file) if it is unusable.

    With check_finite every float file is scanned for NaN/Inf once per version (the length cache
    remembers it, so the loader need not scan it again).
    """
    paths = [dirs[f.name] / f"{utt}{f.ext}" for f in features]
    infos = [cache.info(p, f, spec.sample_rate) for p, f in zip(paths, features)]
    n = align([i[0] for i in infos], features, spec.length_tolerance, paths)
    if n == 0:
        raise DataError(f"{paths[0]}: empty (no frames)")
    if check_finite:
        for p, f, (frames, layout, finite) in zip(paths, features, infos):
            if finite or (f.is_audio and layout is None):
                continue  # checked before; or audio that only soundfile reads: checked on loading
            read_rows(p, f, 0, frames, layout, check=True)
            cache.mark_finite(p, f)
    return n


def make_list(spec, data_dir, set_name, features, ids_from=None, utt2label=None, check_finite=True):
    """Check set `set_name` under `data_dir`; write `<set>.lst`, `<set>.dropped.txt` (and utt2label).

    Returns (kept ids, {dropped id: reason}, number of kept ids shorter than spec.min_len).
    """
    set_dir = Path(data_dir) / set_name
    name = Path(set_name).name
    outputs = [set_dir / f"{name}.lst", set_dir / f"{name}.dropped.txt"]
    if utt2label:
        outputs.append(set_dir / "utt2label")
    check_not_input(outputs, [p for p in (ids_from, utt2label) if p], what="output of make_lists")
    dirs = {f.name: set_dir / f.name for f in features}
    ids = candidate_ids(set_dir, features, ids_from)
    labels = read_utt2label(utt2label) if utt2label else None
    cache = LengthCache(set_dir)
    good, dropped, short = [], {}, 0
    for utt in tqdm(ids, desc=f"check {set_name}", unit="utt", leave=False):
        try:
            n = check_utterance(utt, features, dirs, cache, spec, check_finite)
        except DataError as e:
            dropped[utt] = " ".join(str(e).split())
            continue
        if labels is not None and utt not in labels:
            dropped[utt] = f"no label in {utt2label}"
            continue
        short += n < spec.min_len
        good.append(utt)
    cache.save()
    write_list(set_dir / f"{name}.lst", good)
    write_table(set_dir / f"{name}.dropped.txt", dropped)
    if labels is not None:
        write_utt2label(set_dir / "utt2label", {u: labels[u] for u in good})
    return good, dropped, short
