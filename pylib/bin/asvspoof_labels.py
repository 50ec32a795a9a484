"""Stage 0 helper: an ASVspoof protocol or key file -> data/<set>/utt2label (`utt label attack`).

    python -m pylib.bin.asvspoof_labels --protocol ASVspoof2019.LA.cm.train.trn.txt --out data/train/utt2label
"""

import argparse

from pylib.bin._cli import run
from pylib.data.asvspoof import protocol_to_utt2label


def build_parser():
    p = argparse.ArgumentParser(
        prog="python -m pylib.bin.asvspoof_labels",
        description="Convert an ASVspoof 2019 protocol or 2021 LA/DF key file into an nnsp utt2label.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--protocol", required=True, help="protocol or key file (format detected from the first line)"
    )
    p.add_argument("--out", required=True, help="utt2label to write (sorted, atomically)")
    p.add_argument(
        "--subset", default=None, help="ASVspoof 2021 keys only: keep this subset (progress|eval|...)"
    )
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    info = protocol_to_utt2label(args.protocol, args.out, subset=args.subset)
    print(
        f"wrote {args.out}: {info['bonafide']} bona fide, {info['spoof']} spoof, "
        f"attacks {' '.join(info['attacks']) or '(none)'}"
    )
    return 0


if __name__ == "__main__":
    run(main)
