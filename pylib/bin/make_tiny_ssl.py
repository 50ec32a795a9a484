"""Write a tiny randomly initialised SSL model folder (transformers format: config.json +
model.safetensors) for toy recipes and tests: 2 transformer layers of width 32, frame shift 320.

python -m pylib.bin.make_tiny_ssl --out exp/ssl_tiny --kind wav2vec2 --seed 0
"""

from pylib.bin import _cli
from pylib.bin._cli import run


def build_parser():
    p = _cli.new_parser("pylib.bin.make_tiny_ssl", __doc__)
    p.add_argument("--out", required=True, help="output folder (config.json, model.safetensors)")
    p.add_argument(
        "--kind",
        default="wav2vec2",
        choices=("wav2vec2", "hubert", "wavlm"),
        help="architecture (all layer-norm-first, as XLSR)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same weights")
    _cli.add_overwrite(p, "replace an existing non-empty --out folder")
    return p


def main(argv=None):
    args = _cli.parse(build_parser(), argv)
    from pylib.models.ssl.fairseq import save_hf_folder
    from pylib.models.ssl.tiny import make_tiny_model

    out = save_hf_folder(make_tiny_model(args.kind, args.seed), args.out, overwrite=args.overwrite)
    print(f"tiny {args.kind} model (seed {args.seed}) in {out}")
    return 0


if __name__ == "__main__":
    run(main)
