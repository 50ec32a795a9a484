"""Stage 4: run a trained model over a data set; writes <out>/<utt>.wav or <out>/scores.txt (resumable)."""

import argparse
import logging

from pylib.bin._cli import run, setup_logging


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--exp-dir", default=None, help="experiment folder of stage 3 (holds the checkpoints)")
    p.add_argument(
        "--checkpoint",
        default="best",
        help="best | last | a checkpoint or model.pt path (best falls back to last)",
    )
    p.add_argument("--data-dir", default="dump", help="the recipe's dump/ folder")
    p.add_argument(
        "--set", dest="set_name", required=True, help="data set to run on (a folder of --data-dir)"
    )
    p.add_argument("--out-dir", default=None, help="output folder; default <exp-dir>/infer_<set>")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="redo every output: earlier ones in --out-dir are moved aside to <out-dir>.N (never deleted)",
    )
    p.add_argument(
        "--skip-bad",
        action="store_true",
        help="skip utterances whose input files are bad and list them with the reasons in "
        "<out-dir>/bad_files.txt (default: stop at the first, keeping the results so far)",
    )
    p.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        metavar="MODULE",
        help="import a module first: its CATALOGUE dict {name: class} adds models (it may also install "
        "a data factory)",
    )
    p.add_argument("--verbose", action="store_true", help="debug logging")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    setup_logging(args.verbose)
    from pylib.errors import UserError

    if args.exp_dir is None and args.checkpoint in ("best", "last"):
        raise UserError("--checkpoint best/last needs --exp-dir; or pass --checkpoint PATH to a model.pt")
    out_dir = args.out_dir or (f"{args.exp_dir}/infer_{args.set_name}" if args.exp_dir else None)
    if out_dir is None:
        raise UserError("--out-dir is required when --exp-dir is not given")
    from pylib.engine.infer import infer_set
    from pylib.models.catalogue import model_lookup

    res = infer_set(
        args.exp_dir,
        args.data_dir,
        args.set_name,
        out_dir,
        checkpoint=args.checkpoint,
        device=args.device,
        overwrite=args.overwrite,
        skip_bad=args.skip_bad,
        model_class=model_lookup(args.imports),
    )
    logging.getLogger("nnsp.infer").info(
        "%s: %d written, %d already there, %d skipped as bad", out_dir, res["written"], res["skipped"],
        res["bad"],
    )
    return 0


if __name__ == "__main__":
    run(main)
