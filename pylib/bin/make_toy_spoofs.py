"""Stage 0 of the toy countermeasure recipes: a bona fide data folder -> bona fide + spoofed trials.

    python -m pylib.bin.make_toy_spoofs --src data/train_bonafide --out data/train --attacks W1 G1

Attacks (pylib.data.toy_spoof): W1 WORLD analysis-synthesis, G1 Griffin-Lim from an 80-band mel,
L1 LPC vocoder (pulse/noise excitation). Writes <out>/wavs/<utt>-<attack>.wav, wav.scp, utt2spk,
utt2label (`utt bonafide -` or `utt spoof <attack>`); finished wavs are kept on a rerun.
"""

import warnings

from pylib.bin import _cli
from pylib.bin._cli import run
from pylib.data.toy_spoof import ATTACKS, make_spoof_set


def build_parser():
    p = _cli.new_parser("pylib.bin.make_toy_spoofs", __doc__)
    p.add_argument("--src", required=True, help="bona fide data folder (wav.scp, utt2spk)")
    p.add_argument("--out", required=True, help="output data folder (bona fide + spoofed trials)")
    p.add_argument("--attacks", nargs="+", choices=ATTACKS, required=True, help="attacks to apply")
    p.add_argument("--seed", type=int, default=0, help="seed of the attacks' random parts")
    _cli.add_no_progress(p)
    return p


def main(argv=None):
    args = _cli.parse(build_parser(), argv)
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated")  # pyworld's import
    counts = make_spoof_set(args.src, args.out, args.attacks, args.seed, progress=not args.no_progress)
    attacks = " ".join(counts["attacks"])
    print(f"{args.out}: {counts['bonafide']} bona fide, {counts['spoof']} spoofed ({attacks})")
    return 0


if __name__ == "__main__":
    run(main)
