"""LJSpeech -> data/{train,dev,test}/{wav.scp,utt2spk,text} (stage 0 of egs/ljspeech/hifigan).

    python local/prepare_data.py --db downloads/LJSpeech-1.1 --out data --num-dev 100 --num-test 100

The corpus folder is LJSpeech-1.1/ as the archive unpacks (metadata.csv and wavs/LJ001-0001.wav
...), or a folder holding it. Utterances are those of metadata.csv (`id|text|normalised text`).
The split is deterministic: sorted by id, the last --num-test utterances are the test set, the
--num-dev before them the dev set, the rest the training set (LJ050 is the last chapter, so dev and
test come from it and the end of LJ049).
"""

import argparse
import sys
from pathlib import Path

from pylib.bin._cli import run
from pylib.errors import DataError, UserError
from pylib.io import write_table

SPEAKER = "LJ"


def corpus_root(db):
    """The folder holding metadata.csv: db itself or db/LJSpeech-1.1."""
    for d in (Path(db), Path(db) / "LJSpeech-1.1"):
        if (d / "metadata.csv").is_file():
            return d
    raise DataError(f"{db}: holds neither metadata.csv nor LJSpeech-1.1/metadata.csv. --db must be the "
                    "unpacked LJSpeech-1.1 folder (or the folder above it); run stage 0 without --db to "
                    "download it")


def read_metadata(root):
    """{utt id: normalised text} from root/metadata.csv; every id must have root/wavs/<id>.wav."""
    path = root / "metadata.csv"
    out = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 ({e}); unpack LJSpeech-1.1.tar.bz2 again") from e
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        fields = line.split("|")
        utt = fields[0].strip()
        if len(fields) < 2 or not utt or any(c.isspace() or c == "/" for c in utt):
            raise DataError(f"{path}:{n}: expected `id|text|normalised text` with an id without spaces, "
                            f"got {line[:80]!r}")
        if utt in out:
            raise DataError(f"{path}:{n}: utterance {utt} is listed twice")
        out[utt] = " ".join(fields[-1].split())
    if not out:
        raise DataError(f"{path}: lists no utterances")
    missing = [u for u in out if not (root / "wavs" / f"{u}.wav").is_file()]
    if missing:
        raise DataError(f"{root / 'wavs'}: {len(missing)} wav files of metadata.csv are missing, e.g. "
                        f"{missing[0]}.wav; unpack LJSpeech-1.1.tar.bz2 again")
    return out


def split_ids(ids, num_dev, num_test):
    """Sorted ids -> {set: ids}: test = the last num_test, dev = the num_dev before them, train = the rest."""
    ids = sorted(ids)
    if num_dev < 1 or num_test < 1 or num_dev + num_test >= len(ids):
        raise UserError(f"--num-dev {num_dev} and --num-test {num_test}: each must be >= 1 and together "
                        f"fewer than the {len(ids)} utterances, leaving some to train on")
    cut = len(ids) - num_test - num_dev
    return {"train": ids[:cut], "dev": ids[cut:cut + num_dev], "test": ids[cut + num_dev:]}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--db", required=True, help="LJSpeech-1.1/ (metadata.csv, wavs/) or the folder holding it")
    p.add_argument("--out", default="data", help="writes <out>/{train,dev,test}/wav.scp, utt2spk and text")
    p.add_argument("--num-dev", type=int, default=100, help="dev utterances, just before the test set")
    p.add_argument("--num-test", type=int, default=100, help="test utterances: the last ids")
    args = p.parse_args(argv)
    root = corpus_root(args.db).resolve()
    text = read_metadata(root)
    sets = split_ids(text, args.num_dev, args.num_test)
    for name, ids in sets.items():
        d = Path(args.out) / name
        d.mkdir(parents=True, exist_ok=True)
        write_table(d / "wav.scp", {u: str(root / "wavs" / f"{u}.wav") for u in ids})
        write_table(d / "utt2spk", dict.fromkeys(ids, SPEAKER))
        write_table(d / "text", {u: text[u] for u in ids})
    counts = ", ".join(f"{name} {len(ids)}" for name, ids in sets.items())
    print(f"{root} -> {args.out}: {counts} utterances", file=sys.stderr)
    return 0


if __name__ == "__main__":
    run(main)
