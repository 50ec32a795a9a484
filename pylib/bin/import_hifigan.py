"""Import a jik876/hifi-gan generator checkpoint as an nnsp one-file model.

  python -m pylib.bin.import_hifigan --checkpoint g_02500000 --config config_v1.json \
      [--discriminator do_02500000] --out model.pt

`--checkpoint` is a g_* file of jik876's train.py ({"generator": state dict}, e.g. the released
generator_v1), `--config` the config_v*.json it was trained with. `--discriminator` adds the MPD
and MSD of its do_* file, to continue GAN training; without it they start afresh. Files are read
with weights_only=True: nothing in them runs. The result works with `vocode`, `infer` and
`train --init-from`; it takes jik876's log-mel (meldataset.mel_spectrogram) unnormalised.
"""

from pylib.bin import _cli
from pylib.bin._cli import run


def build_parser():
    p = _cli.new_parser("pylib.bin.import_hifigan", __doc__)
    p.add_argument("--checkpoint", required=True, metavar="PT",
                   help="jik876 generator file (g_* / generator_v*)")
    p.add_argument("--config", required=True, metavar="JSON", help="the config_v*.json it was trained with")
    p.add_argument("--discriminator", default=None, metavar="PT",
                   help="jik876 do_* file: its MPD and MSD weights are carried over (default: fresh ones)")
    p.add_argument("--out", required=True, metavar="PT", help="the nnsp one-file model to write (atomically)")
    return p


def main(argv=None):
    args = _cli.parse(build_parser(), argv)
    from pylib.models.vocoder.hifigan_import import import_jik876

    model = import_jik876(args.checkpoint, args.config, args.out, discriminator=args.discriminator)
    n = sum(p.numel() for p in model.generator.parameters())
    print(f"wrote {args.out}: jik876 HiFi-GAN as nnsp model hifigan, generator {n} parameters")
    return 0


if __name__ == "__main__":
    run(main)
