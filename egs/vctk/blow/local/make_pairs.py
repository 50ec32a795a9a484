"""The conversions of stage 4: `utt_id target_speaker` lines for pylib.bin.convert --pairs.

    python local/make_pairs.py --utt2spk data/test/utt2spk --speakers data/train/spk.lst \
        (--map conf/conversion_map.txt | --target p245) --out exp/blow/convert_test/pairs.txt \
        [--wav-dir dump/test/wav]

With --map (lines `source target`, '#' comments; the seed's pairs, blow/config.py conversion_map),
each utterance of a source speaker goes to its target; with --target, every utterance goes to that
speaker. A target used must be a training speaker (data/train/spk.lst); no pair at all is an error.
With --wav-dir, a wav.scp next to the pairs names each utterance's `<wav-dir>/<utt>.wav` (the stage-1
waveform, already at the model's rate) for convert --wav-scp.
"""

import argparse
import sys
from pathlib import Path

from pylib.bin._cli import run
from pylib.errors import DataError, UserError
from pylib.io import write_table
from pylib.io.tables import read_list, read_utt2spk
from pylib.io.text import read_utf8


def read_map(path):
    out = {}
    for no, line in enumerate(read_utf8(path).splitlines(), 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if len(words) != 2:
            raise DataError(f"{path}:{no}: expected `source target`, got {line!r}")
        out[words[0]] = words[1]
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--utt2spk", required=True, help="utt2spk of the set to convert")
    p.add_argument("--speakers", required=True, help="the training speakers (data/train/spk.lst)")
    p.add_argument("--map", default=None, help="conversion map: lines `source target`")
    p.add_argument("--target", default=None, help="convert every utterance to this speaker instead")
    p.add_argument("--out", required=True, help="pairs file to write")
    p.add_argument("--wav-dir", default=None, help="folder of <utt>.wav: also write wav.scp next to --out")
    args = p.parse_args(argv)
    if bool(args.map) == bool(args.target):
        raise UserError("give exactly one of --map FILE and --target SPK")
    known = read_list(args.speakers)
    utt2spk = read_utt2spk(args.utt2spk)
    cmap = read_map(args.map) if args.map else {s: args.target for s in set(utt2spk.values())}
    pairs = {u: cmap[s] for u, s in utt2spk.items() if s in cmap}
    bad = sorted({t for t in pairs.values() if t not in known})
    if bad:
        raise UserError(f"conversion target(s) {' '.join(bad)} are not training speakers "
                        f"({' '.join(known)}); fix the map or --target")
    if not pairs:
        raise DataError(f"{args.utt2spk}: no utterance has a source speaker in {args.map}; "
                        "use --target SPK (run.sh --target) to convert every test utterance")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_table(args.out, pairs)
    if args.wav_dir:
        wavs = {u: Path(args.wav_dir).resolve() / f"{u}.wav" for u in pairs}
        missing = sorted(u for u, w in wavs.items() if not w.is_file())
        if missing:
            raise DataError(f"{args.wav_dir}: no wav of {missing[:5]}; run stage 1 first")
        write_table(Path(args.out).parent / "wav.scp", {u: str(w) for u, w in wavs.items()})
    print(f"{len(pairs)} conversions -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    run(main)
