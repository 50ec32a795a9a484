"""Import a project-NN-Pytorch-scripts countermeasure checkpoint as an nnsp one-file model.

  python -m pylib.bin.import_project_nn --checkpoint trained_network.pt \
      --arch lfcc_lcnn_lstm_sig --out model.pt

The result scores wavs like any nnsp countermeasure (higher = more bona fide), e.g. with
`python -m pylib.bin.score_wavs --model model.pt --wav-dir DIR`.
"""

import argparse

from pylib.bin._cli import run
from pylib.models.cm.import_project_nn import ARCHS, import_checkpoint


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown, and the usage example in the description kept on its own line."""


def build_parser():
    p = argparse.ArgumentParser(prog="python -m pylib.bin.import_project_nn", description=__doc__,
                                formatter_class=_Formatter)
    p.add_argument("--checkpoint", required=True, metavar="PT",
                   help="the toolkit's saved state_dict (e.g. __pretrained/trained_network.pt); "
                   "tensors saved on a GPU are fine")
    p.add_argument("--arch", default="lfcc_lcnn_lstm_sig", choices=ARCHS,
                   help="the architecture the checkpoint was trained with")
    p.add_argument("--out", required=True, metavar="PT", help="the nnsp one-file model to write (atomically)")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    model = import_checkpoint(args.checkpoint, args.out, arch=args.arch)
    n = sum(p.numel() for p in model.parameters())
    print(f"wrote {args.out}: model lcnn ({args.arch}), {n} parameters")
    return 0


if __name__ == "__main__":
    run(main)
