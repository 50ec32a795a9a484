"""Import a project-NN-Pytorch-scripts checkpoint as an nnsp one-file model.

  python -m pylib.bin.import_project_nn --checkpoint trained_network.pt [--arch hn-sinc-nsf-9] \
      --out model.pt

Takes the seed's `trained_network.pt` (a state dict) or one of its epoch checkpoints (which wrap
it). `--arch` is the seed's project folder the model was trained in; without it the layout is
recognised from the keys and shapes. The file is read with weights_only=True: nothing in it runs.
The seed's SSL countermeasures (07-asvspoof-ssl, 09, 10) also need the SSL checkpoint they were
trained with (e.g. xlsr_53_56k.pt): it is looked up in `--ssl-dir`, else in $NNSP_SSL_DIR, else in
SSL_pretrained/. The result works with `vocode`, `score_wavs`, `infer` and `train --init-from`.
"""

from pathlib import Path

from pylib.bin import _cli
from pylib.bin._cli import run
from pylib.errors import UserError
from pylib.models.seed_import import arch_names, import_checkpoint


def build_parser():
    p = _cli.new_parser("pylib.bin.import_project_nn", __doc__)
    p.add_argument("--checkpoint", required=True, metavar="PT",
                   help="the seed's saved weights (e.g. __pretrained/trained_network.pt or an epoch "
                   "checkpoint); tensors saved on a GPU are fine")
    p.add_argument("--arch", default=None, metavar="NAME",
                   help="seed folder the checkpoint was trained in; one of: " + ", ".join(arch_names())
                   + " (default: recognised from the checkpoint)")
    p.add_argument("--ssl-dir", default=None, metavar="DIR",
                   help="folder of the SSL checkpoints (xlsr_53_56k.pt, ...) the seed's SSL countermeasures "
                   "were trained with (default: $NNSP_SSL_DIR, else SSL_pretrained/)")
    p.add_argument("--out", required=True, metavar="PT", help="the nnsp one-file model to write (atomically)")
    return p


def main(argv=None):
    args = _cli.parse(build_parser(), argv)
    if args.ssl_dir is not None and not Path(args.ssl_dir).is_dir():
        raise UserError(f"--ssl-dir {args.ssl_dir}: not a folder; name the folder that holds the seed's SSL "
                        "checkpoint (e.g. xlsr_53_56k.pt)")
    from pylib.models.cm.ssl_cm_seed import use_ssl_dir  # the SSL family's lookup (registered on use)

    with use_ssl_dir(args.ssl_dir):
        arch, model = import_checkpoint(args.checkpoint, args.out, arch=args.arch)
    n = sum(p.numel() for p in model.parameters())
    print(f"wrote {args.out}: {arch} as nnsp model {type(model).__name__}, {n} parameters")
    return 0


if __name__ == "__main__":
    run(main)
