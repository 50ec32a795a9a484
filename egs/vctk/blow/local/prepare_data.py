"""VCTK -> data/{train,dev,test}/{wav.scp,utt2spk} and data/train/spk.lst (stage 0 of egs/vctk/blow).

    python local/prepare_data.py --db /corpora/VCTK-Corpus --out data [--speakers p225 p226 ...]

Both releases are read as they unpack: 0.80 (`<db>/wav48/p225/p225_001.wav`) and 0.92
(`<db>/wav48_silence_trimmed/p225/p225_001_mic1.flac`; only the mic1 recordings are taken, as the
seed's preparation of Blow's data takes one microphone). Utterance ids are `p225_001`: the part before
the first "_" is the speaker, as the model reads it (blow/config.py VCTKSpeakerMap.parse). The split is
per speaker, in id order: the last --test-per-speaker utterances go to test, the --dev-per-speaker
before them to dev, the rest to train. data/train/spk.lst lists the training speakers, sorted: their
index order in the model (the seed's spk.lst).
"""

import argparse
import re
import sys
from pathlib import Path

from pylib.bin._cli import run
from pylib.errors import DataError, UserError
from pylib.io import write_table
from pylib.io.tables import write_list

LAYOUTS = (  # (folder, pattern of a file name, release)
    ("wav48", re.compile(r"^(p?[a-z]*\d+)_(\d+)\.wav$"), "0.80"),
    ("wav48_silence_trimmed", re.compile(r"^(p?[a-z]*\d+)_(\d+)_mic1\.flac$"), "0.92"),
)


def find_audio(db):
    """{speaker: {utt_id: absolute path}} from whichever release layouts `db` holds."""
    found, seen = {}, []
    for folder, pattern, release in LAYOUTS:
        root = Path(db) / folder
        if not root.is_dir():
            continue
        seen.append(f"{folder} ({release})")
        for spk_dir in sorted(p for p in root.iterdir() if p.is_dir()):
            for f in sorted(spk_dir.iterdir()):
                m = pattern.match(f.name)
                if m and m.group(1) == spk_dir.name:
                    found.setdefault(spk_dir.name, {})[f"{m.group(1)}_{m.group(2)}"] = f.resolve()
    if not found:
        where = ", ".join(seen) or "neither wav48/ (0.80) nor wav48_silence_trimmed/ (0.92)"
        raise DataError(f"{db}: found no VCTK audio (looked in {where}); --db must be the unpacked corpus "
                        "folder holding wav48/pXXX/pXXX_NNN.wav or "
                        "wav48_silence_trimmed/pXXX/pXXX_NNN_mic1.flac")
    return found


def split_corpus(found, speakers, dev_n, test_n):
    """-> {set: {utt_id: (path, speaker)}}; every speaker needs more than dev_n + test_n utterances."""
    missing = sorted(set(speakers) - set(found))
    if missing:
        raise UserError(f"--speakers {' '.join(missing)}: not in the corpus; it has "
                        f"{' '.join(sorted(found))}")
    sets = {"train": {}, "dev": {}, "test": {}}
    for spk in speakers:
        utts = sorted(found[spk].items())
        if len(utts) <= dev_n + test_n:
            raise DataError(f"speaker {spk} has {len(utts)} utterances: too few for {dev_n} dev and {test_n} "
                            "test ones plus training; lower --dev-per-speaker / --test-per-speaker")
        n_train = len(utts) - dev_n - test_n
        for i, (utt, path) in enumerate(utts):
            name = "train" if i < n_train else "dev" if i < n_train + dev_n else "test"
            sets[name][utt] = (path, spk)
    return sets


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--db", required=True, help="the unpacked VCTK folder (0.80 or 0.92 layout)")
    p.add_argument("--out", default="data", help="writes <out>/{train,dev,test}/wav.scp and utt2spk")
    p.add_argument("--speakers", nargs="*", default=None, help="speaker ids (default: every one found)")
    p.add_argument("--dev-per-speaker", type=int, default=10, help="dev utterances per speaker")
    p.add_argument("--test-per-speaker", type=int, default=10, help="test utterances per speaker")
    args = p.parse_args(argv)
    if args.dev_per_speaker < 1 or args.test_per_speaker < 1:
        raise UserError("--dev-per-speaker and --test-per-speaker must be >= 1")
    found = find_audio(args.db)
    speakers = sorted(args.speakers or found)
    sets = split_corpus(found, speakers, args.dev_per_speaker, args.test_per_speaker)
    for name, utts in sets.items():
        d = Path(args.out) / name
        d.mkdir(parents=True, exist_ok=True)
        write_table(d / "wav.scp", {u: str(path) for u, (path, _) in utts.items()})
        write_table(d / "utt2spk", {u: s for u, (_, s) in utts.items()})
    write_list(Path(args.out) / "train" / "spk.lst", speakers)
    counts = ", ".join(f"{name} {len(u)}" for name, u in sets.items())
    print(f"{len(speakers)} speakers -> {args.out}: {counts} utterances", file=sys.stderr)
    return 0


if __name__ == "__main__":
    run(main)
