"""Check a data folder (data/<set>/: wav.scp, utt2spk, utt2label) before feature extraction.

Prints every problem found with how to fix it and exits 2 if there is any; otherwise prints a
summary (utterances, speakers, sample rate, hours) and exits 0.
"""

from pylib.bin import _cli
from pylib.bin._cli import run
from pylib.data.validate import format_report, validate_data_dir


def build_parser():
    p = _cli.new_parser("pylib.bin.validate_data_dir", __doc__)
    p.add_argument("data_dir", help="the data folder, e.g. data/train")
    p.add_argument(
        "--sample-rate", type=int, help="every wav must have this rate; unset: all wavs must share one rate"
    )
    p.add_argument("--require-labels", action="store_true", help="utt2label must exist (countermeasures)")
    p.add_argument("--no-audio", action="store_true", help="check the tables only, do not open the wavs")
    p.add_argument("--max-per-kind", type=int, default=20, help="problems of one kind to print in full")
    return p


def main(argv=None):
    args = _cli.parse(build_parser(), argv)
    report = validate_data_dir(args.data_dir, args.sample_rate, args.require_labels, not args.no_audio)
    print(format_report(report, args.max_per_kind))
    return 2 if report.problems else 0


if __name__ == "__main__":
    run(main)
