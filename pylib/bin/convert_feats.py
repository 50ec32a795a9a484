"""Convert features between Kaldi ark/scp and nnsp `<f4` dump folders.

Kaldi/ESPnet -> nnsp:  python -m pylib.bin.convert_feats --from-scp feats.scp --to-dir dump/train/mel
nnsp -> Kaldi/ESPnet:  python -m pylib.bin.convert_feats --from-dir dump/train/mel --dim 80 --to-ark mel.ark
"""

from pathlib import Path

from pylib.bin import _cli
from pylib.bin._cli import run
from pylib.errors import UserError
from pylib.io.kaldi import f4_to_kaldi, kaldi_to_f4


def build_parser():
    p = _cli.new_parser("pylib.bin.convert_feats", __doc__)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--from-scp", metavar="SCP", help="Kaldi feats.scp to read (entries may be `cmd |` pipes)"
    )
    src.add_argument("--from-ark", metavar="ARK", help="Kaldi ark to read sequentially")
    src.add_argument("--from-dir", metavar="DIR", help="nnsp dump folder of <utt>.f4 files to export")
    p.add_argument("--to-dir", metavar="DIR", help="output dump folder (with --from-scp/--from-ark)")
    p.add_argument("--to-ark", metavar="ARK", help="output Kaldi binary ark (with --from-dir)")
    p.add_argument(
        "--to-scp", metavar="SCP", help="output scp (with --to-ark); default: the ark name with .scp"
    )
    p.add_argument(
        "--dim",
        type=int,
        help="feature dim: required with --from-dir; with --from-scp/--from-ark every matrix must have it",
    )
    p.add_argument(
        "--list",
        metavar="LST",
        help="list of utterance ids: written when importing (default <to-dir>/<to-dir name>.lst); "
        "selects what to export with --from-dir (default: utt2num_frames, else every file)",
    )
    p.add_argument("--ext", default=".f4", help="suffix of the feature files in the dump folder")
    p.add_argument("--compress", action="store_true", help="write the ark with Kaldi's lossy compression")
    p.add_argument(
        "--vectors-as-frames",
        action="store_true",
        help="read Kaldi vectors as one value per frame (frames, 1) instead of refusing them",
    )
    return p


def main(argv=None):
    args = _cli.parse(build_parser(), argv)
    if args.dim is not None and args.dim < 1:
        raise UserError(f"--dim must be >= 1, got {args.dim}")
    if args.from_dir:
        if not args.to_ark or args.to_dir:
            raise UserError("--from-dir exports to Kaldi: give --to-ark ARK (and optionally --to-scp)")
        if args.dim is None:
            raise UserError(f"--from-dir {args.from_dir}: give --dim (the feature's dim in the config)")
        frames = f4_to_kaldi(
            args.from_dir, args.dim, args.to_ark, args.to_scp, args.list, args.ext, args.compress
        )
        scp = args.to_scp or Path(args.to_ark).with_suffix(".scp")
        print(f"wrote {len(frames)} utterances (dim {args.dim}) to {args.to_ark} and {scp}")
        return 0
    if not args.to_dir or args.to_ark or args.to_scp:
        raise UserError("--from-scp/--from-ark import into nnsp: give --to-dir DIR (not --to-ark/--to-scp)")
    kind, src = ("scp", args.from_scp) if args.from_scp else ("ark", args.from_ark)
    dim, frames = kaldi_to_f4(
        src, args.to_dir, kind, args.dim, args.list, args.ext, vectors_as_frames=args.vectors_as_frames
    )
    print(f"wrote {len(frames)} utterances (dim {dim}, {sum(frames.values())} frames) to {args.to_dir}")
    return 0


if __name__ == "__main__":
    run(main)
