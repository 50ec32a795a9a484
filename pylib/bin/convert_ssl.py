"""Convert a fairseq wav2vec 2.0 / XLSR or HuBERT checkpoint to a transformers model folder
(config.json + model.safetensors), without fairseq; the checkpoint is read with weights_only=True.

python -m pylib.bin.convert_ssl --checkpoint xlsr_53_56k.pt --out ssl/xlsr_53_56k

Front ends also take the .pt directly (converted in memory at every start); a folder loads faster.
"""

import logging

from pylib.bin import _cli
from pylib.bin._cli import run


def build_parser():
    p = _cli.new_parser("pylib.bin.convert_ssl", __doc__)
    p.add_argument("--checkpoint", required=True, help="fairseq checkpoint (.pt), e.g. xlsr_53_56k.pt")
    p.add_argument("--out", required=True, help="output folder for the transformers model")
    _cli.add_overwrite(p, "replace an existing non-empty --out folder")
    return p


def main(argv=None):
    args = _cli.parse(build_parser(), argv)
    from pylib.models.ssl.fairseq import build_model, convert_fairseq, save_hf_folder
    from pylib.models.ssl.frontend import resolve_kind

    resolve_kind(args.checkpoint, "fairseq", "--checkpoint")
    config, state = convert_fairseq(args.checkpoint)
    out = save_hf_folder(build_model(config, state), args.out, overwrite=args.overwrite)
    logging.getLogger("nnsp.convert_ssl").info(
        "wrote %s: %s, %d layers of width %d",
        out,
        config.model_type,
        config.num_hidden_layers,
        config.hidden_size,
    )
    return 0


if __name__ == "__main__":
    run(main)
