"""Pack a trained experiment into one model file (weights, config, normalisation statistics)."""

import argparse
import logging

from pylib.bin._cli import run, setup_logging


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("exp_dir", help="experiment folder of stage 3")
    p.add_argument("out", help="output file, e.g. model.pt; load it with pylib.load_model(path)")
    p.add_argument("--checkpoint", default="best", help="best | last | a checkpoint path")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    setup_logging()
    from pylib.engine.export import export_model

    out = export_model(args.exp_dir, args.out, checkpoint=args.checkpoint)
    logging.getLogger("nnsp.export").info("wrote %s", out)
    return 0


if __name__ == "__main__":
    run(main)
