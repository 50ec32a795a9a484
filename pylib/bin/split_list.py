"""Split a list (.lst) or a Kaldi table (wav.scp, feats.scp, ...) into N balanced parts.

  python -m pylib.bin.split_list data/train/wav.scp 4 --out data/train/wav.scp.split
      -> data/train/wav.scp.split.1 ... .4 (contiguous, sizes differ by at most one)
  python -m pylib.bin.split_list data/train/wav.scp 4 --out-dir data/train/split4 --utt2spk data/train/utt2spk
      -> data/train/split4/1/wav.scp (+ utt2spk) ... 4/, each speaker whole in one part
"""

from pathlib import Path

from pylib.bin import _cli
from pylib.bin._cli import run
from pylib.errors import UserError
from pylib.io.names import check_not_input
from pylib.io.split import part_paths, split_file, utt2spk_parts, write_parts


def build_parser():
    p = _cli.new_parser("pylib.bin.split_list", __doc__)
    p.add_argument("input", help="list (one id a line) or table (`id value` lines) to split")
    p.add_argument("num_parts", type=int, help="number of parts N")
    out = p.add_mutually_exclusive_group(required=True)
    out.add_argument("--out", metavar="PREFIX", help="write PREFIX.1 ... PREFIX.N")
    out.add_argument("--out-dir", metavar="DIR", help="write DIR/1/<input name> ... DIR/N/<input name>")
    p.add_argument(
        "--utt2spk",
        metavar="FILE",
        help="split by speaker: every speaker's utterances stay in one part; with --out-dir the "
        "matching utt2spk is written into each part too",
    )
    return p


def main(argv=None):
    args = _cli.parse(build_parser(), argv)
    if args.num_parts < 1:
        raise UserError(f"the number of parts must be >= 1, got {args.num_parts}")
    parts = split_file(args.input, args.num_parts, args.utt2spk)
    name = Path(args.input).name
    inputs = [args.input] + ([args.utt2spk] if args.utt2spk else [])
    if args.utt2spk and args.out_dir and name != "utt2spk":  # checked before anything is written
        check_not_input(part_paths(len(parts), out_dir=args.out_dir, name="utt2spk"), inputs, "part")
    paths = write_parts(parts, args.out, args.out_dir, name, inputs=inputs)
    if args.utt2spk and args.out_dir and name != "utt2spk":
        write_parts(utt2spk_parts(parts, args.utt2spk), out_dir=args.out_dir, name="utt2spk", inputs=inputs)
    sizes = " ".join(str(len(p)) for p in parts)
    print(f"split {args.input} into {len(parts)} parts ({sizes} lines): {paths[0]} ... {paths[-1]}")
    return 0


if __name__ == "__main__":
    run(main)
