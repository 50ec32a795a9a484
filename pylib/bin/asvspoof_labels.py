"""Stage 0 helper: a protocol (ASVspoof 2019/2021/5 protocol or key, In-the-Wild meta.csv, WaveFake
folder) -> data/<set>/utt2label (`utt label attack`).

    python -m pylib.bin.asvspoof_labels --protocol ASVspoof2019.LA.cm.train.trn.txt --out data/train/utt2label
    python -m pylib.bin.asvspoof_labels --protocol release_in_the_wild/meta.csv --format in_the_wild \
        --out data/itw/utt2label
"""

from pylib.bin import _cli
from pylib.bin._cli import run
from pylib.data.asvspoof import protocol_to_utt2label
from pylib.data.protocols import ALIASES, FORMATS


def build_parser():
    p = _cli.new_parser("pylib.bin.asvspoof_labels", __doc__)
    p.add_argument(
        "--protocol", required=True, help="protocol or key file, or the WaveFake folder"
    )
    p.add_argument(
        "--format",
        choices=FORMATS + tuple(ALIASES),
        default=None,
        help="protocol format (default: detected from the first line, or wavefake for a folder)",
    )
    p.add_argument("--out", required=True, help="utt2label to write (sorted, atomically)")
    p.add_argument(
        "--key-subset",
        default=None,
        help="ASVspoof 2021 keys only: keep the trials whose subset field is this (progress|eval|hidden)",
    )
    return p


def main(argv=None):
    args = _cli.parse(build_parser(), argv)
    info = protocol_to_utt2label(args.protocol, args.out, subset=args.key_subset, format=args.format)
    print(
        f"wrote {args.out}: {info['bonafide']} bona fide, {info['spoof']} spoof, "
        f"attacks {' '.join(info['attacks']) or '(none)'}"
    )
    return 0


if __name__ == "__main__":
    run(main)
