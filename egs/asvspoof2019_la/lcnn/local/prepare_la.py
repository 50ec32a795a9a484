#!/usr/bin/env python3
"""Stage 0 of the ASVspoof 2019 LA recipe: one part of the LA folder -> data/<set>/.

    python local/prepare_la.py --db /path/to/LA --part eval --out data/eval

Writes <out>/wav.scp (`utt /abs/path/LA_E_1000147.flac`, sorted), utt2spk (the protocol's speaker),
utt2label (`utt bonafide|spoof attack`, what `python -m pylib.bin.asvspoof_labels` writes; done here
to save a process per set), cm_protocol.txt (a copy of the official CM protocol, what stage 5 scores
against) and, for dev and eval, asv_scores.txt (a copy of the official ASV scores, for the min t-DCF).
"""

import argparse
import shutil
from pathlib import Path

from pylib.bin._cli import run
from pylib.data.asvspoof import LA_PARTS, la_part_paths, protocol_to_data_dir, protocol_to_utt2label


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--db", required=True, help="the ASVspoof 2019 LA folder (with ASVspoof2019_LA_train/)")
    p.add_argument("--part", required=True, choices=sorted(LA_PARTS), help="which part of the corpus")
    p.add_argument("--out", required=True, help="data folder to write, e.g. data/train")
    args = p.parse_args(argv)
    flac, protocol, asv = la_part_paths(args.db, args.part)
    out = Path(args.out)
    info = protocol_to_data_dir(protocol, flac, out)
    labels = protocol_to_utt2label(protocol, out / "utt2label")
    shutil.copyfile(protocol, out / "cm_protocol.txt")
    if asv is not None:
        shutil.copyfile(asv, out / "asv_scores.txt")
    print(f"{out}: {info['utts']} trials ({labels['bonafide']} bona fide, {labels['spoof']} spoof: "
          f"{' '.join(labels['attacks']) or 'no attacks'}), {info['speakers']} speakers from {protocol.name}"
          f"{'; ASV scores ' + asv.name if asv else ''}")
    return 0


if __name__ == "__main__":
    run(main)
