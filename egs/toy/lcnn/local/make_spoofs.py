#!/usr/bin/env python3
"""Stage 0 of the toy CM recipe: a bona fide data folder -> bona fide + spoofed trials with labels.

    python local/make_spoofs.py --src data/train_bonafide --out data/train --attacks W1 G1

Attacks (pylib.data.toy_spoof): W1 WORLD analysis-synthesis, G1 Griffin-Lim from an 80-band mel,
L1 LPC vocoder (pulse/noise excitation). Writes <out>/wavs/<utt>-<attack>.wav, wav.scp, utt2spk,
utt2label (`utt bonafide -` or `utt spoof <attack>`); finished wavs are kept on a rerun.
"""

import argparse
import warnings

from pylib.bin._cli import run
from pylib.data.toy_spoof import ATTACKS, make_spoof_set


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--src", required=True, help="bona fide data folder (wav.scp, utt2spk)")
    p.add_argument("--out", required=True, help="output data folder (bona fide + spoofed trials)")
    p.add_argument("--attacks", nargs="+", choices=ATTACKS, required=True, help="attacks to apply")
    p.add_argument("--seed", type=int, default=0, help="seed of the attacks' random parts")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated")  # pyworld's import
    counts = make_spoof_set(args.src, args.out, args.attacks, args.seed, progress=not args.no_progress)
    attacks = " ".join(counts["attacks"])
    print(f"{args.out}: {counts['bonafide']} bona fide, {counts['spoof']} spoofed ({attacks})")
    return 0


if __name__ == "__main__":
    run(main)
