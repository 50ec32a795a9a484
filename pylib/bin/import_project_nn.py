"""Import a project-NN-Pytorch-scripts checkpoint as an nnsp one-file model.

  python -m pylib.bin.import_project_nn --checkpoint trained_network.pt [--arch hn-sinc-nsf-9] \
      --out model.pt

Takes the seed's `trained_network.pt` (a state dict) or one of its epoch checkpoints (which wrap
it). `--arch` is the seed's project folder the model was trained in; without it the layout is
recognised from the keys and shapes. The file is read with weights_only=True: nothing in it runs.
The seed's SSL countermeasures (07-asvspoof-ssl, 09, 10) also need the SSL checkpoint they were
trained with (e.g. xlsr_53_56k.pt): it is looked up in `--ssl-dir`, else in $NNSP_SSL_DIR, else in
SSL_pretrained/. A Blow model's speaker names are in the seed's config (spk.lst), not in its checkpoint:
`--speakers spk.lst` gives them (one per line, in the seed's order), else they are spk0 .. spk{N-1}.
The result works with `vocode`, `score_wavs`, `infer` and `train --init-from` (Blow: `convert`).
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
    p.add_argument("--speakers", default=None, metavar="FILE",
                   help="Blow: the seed's spk.lst (one speaker id per line, in its order); "
                   "default spk0 .. spk{N-1}")
    p.add_argument("--out", required=True, metavar="PT", help="the nnsp one-file model to write (atomically)")
    return p


def _speakers(path):
    """The speaker ids of a seed spk.lst (one per line), or None."""
    if path is None:
        return None
    from pylib.io.text import read_utf8

    if not Path(path).is_file():
        raise UserError(f"--speakers {path}: file not found; pass the seed's spk.lst (one speaker id per "
                        "line)")
    names = [line.strip() for line in read_utf8(path).splitlines() if line.strip()]
    if not names or any(len(n.split()) != 1 for n in names):
        raise UserError(f"--speakers {path}: expected one speaker id per line (the seed's spk.lst)")
    return names


def main(argv=None):
    args = _cli.parse(build_parser(), argv)
    if args.ssl_dir is not None and not Path(args.ssl_dir).is_dir():
        raise UserError(f"--ssl-dir {args.ssl_dir}: not a folder; name the folder that holds the seed's SSL "
                        "checkpoint (e.g. xlsr_53_56k.pt)")
    from pylib.models.cm.ssl_cm_seed import use_ssl_dir  # the SSL family's lookup (registered on use)
    from pylib.models.vocoder.seed_blow import DEFAULT_NOTE, use_speakers

    speakers = _speakers(args.speakers)
    with use_ssl_dir(args.ssl_dir), use_speakers(speakers):
        arch, model = import_checkpoint(args.checkpoint, args.out, arch=args.arch)
    n = sum(p.numel() for p in model.parameters())
    print(f"wrote {args.out}: {arch} as nnsp model {type(model).__name__}, {n} parameters")
    if arch == "blow" and speakers is None:
        print("note: " + DEFAULT_NOTE.format(n=len(model.cfg.speakers) - 1))
    return 0


if __name__ == "__main__":
    run(main)
