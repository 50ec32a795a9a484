"""Stage 4: run a trained model over a data set; writes <out>/<utt>.wav or <out>/scores.txt (resumable)."""

import logging

from pylib.bin import _cli
from pylib.bin._cli import run


def build_parser():
    p = _cli.new_parser("pylib.bin.infer", __doc__)
    _cli.add_exp_dir(p, detail="where --checkpoint best/last are found")
    p.add_argument(
        "--checkpoint",
        default="best",
        help="best | last | a checkpoint or model.pt path (best falls back to last)",
    )
    _cli.add_data_dir(p)
    _cli.add_subset(p, detail="the set to run on")
    p.add_argument("--out-dir", default=None, help="output folder; default <exp-dir>/infer_<subset>")
    _cli.add_device(p, default="cpu")
    _cli.add_num_threads(p)
    _cli.add_overwrite(
        p, detail="earlier ones in --out-dir are moved aside to <out-dir>.N (never deleted)"
    )
    _cli.add_skip_bad(
        p, detail="bad_files.txt is in --out-dir; without it the first bad file stops the run, keeping the "
        "results so far",
    )
    p.add_argument(
        "--mc-dropout",
        type=int,
        default=0,
        metavar="N",
        help="countermeasures: score each utterance with N passes with dropout on (BatchNorm in eval) and "
        "write the columns `utt-id score model_confidence data_confidence` (the seed's project 09); 0 = off",
    )
    p.add_argument(
        "--seed", type=int, default=0, help="--mc-dropout: seed of the dropout masks (drawn per utterance)"
    )
    _cli.add_chunk_seconds(p)
    _cli.add_infer_settings(p)
    _cli.add_imports(p)
    return p


def main(argv=None):
    args = _cli.parse(build_parser(), argv)
    from pylib.errors import UserError

    if args.exp_dir is None and args.checkpoint in ("best", "last"):
        raise UserError("--checkpoint best/last needs --exp-dir; or pass --checkpoint PATH to a model.pt")
    out_dir = args.out_dir or (f"{args.exp_dir}/infer_{args.subset}" if args.exp_dir else None)
    if out_dir is None:
        raise UserError("--out-dir is required when --exp-dir is not given")
    from pylib.engine.infer import infer_set
    from pylib.models.catalogue import model_lookup

    res = infer_set(
        args.exp_dir,
        args.data_dir,
        args.subset,
        out_dir,
        checkpoint=args.checkpoint,
        device=_cli.resolve_device(args.device),
        overwrite=args.overwrite,
        skip_bad=args.skip_bad,
        model_class=model_lookup(args.imports),
        mc_dropout=args.mc_dropout,
        seed=args.seed,
        chunk_seconds=args.chunk_seconds,
        settings=args.overrides,
    )
    logging.getLogger("nnsp.infer").info(
        "%s: %d written, %d already there, %d skipped as bad", out_dir, res["written"], res["skipped"],
        res["bad"],
    )
    return 0


if __name__ == "__main__":
    run(main)
