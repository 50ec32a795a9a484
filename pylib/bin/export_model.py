"""Pack a trained experiment into one model file (weights, config, normalisation statistics)."""

import logging

from pylib.bin import _cli
from pylib.bin._cli import run


def build_parser():
    p = _cli.new_parser("pylib.bin.export_model", __doc__)
    p.add_argument("exp_dir", help="experiment folder of stage 3")
    p.add_argument("out", help="output file, e.g. model.pt; load it with pylib.load_model(path)")
    p.add_argument("--checkpoint", default="best", help="best | last | a checkpoint path")
    return p


def main(argv=None):
    args = _cli.parse(build_parser(), argv)
    from pylib.engine.export import export_model

    out = export_model(args.exp_dir, args.out, checkpoint=args.checkpoint)
    logging.getLogger("nnsp.export").info("wrote %s", out)
    return 0


if __name__ == "__main__":
    run(main)
