"""CMU ARCTIC -> data/{train,dev,test}/{wav.scp,utt2spk} (stage 0 of every egs/cmu_arctic/*
recipe, through local/arctic.sh; each recipe's local/ links to this folder).

    python local/prepare_data.py --db downloads --out data --speakers slt bdl rms clb

The corpus folder holds one folder per speaker as the festvox archives unpack:
`<db>/cmu_us_<spk>_arctic/wav/arctic_a0001.wav ...`. Utterance ids are `<spk>_arctic_a0001`
(the project-NN-Pytorch-scripts naming). The split is by ARCTIC prompt id, the same for every
speaker: test = b0474-b0476 (the NSF recipes' test list), dev = b0464-b0473, train = the rest.
"""

import argparse
import re
import sys
from pathlib import Path

from pylib.bin._cli import run
from pylib.errors import DataError, UserError
from pylib.io import write_table

SPEAKERS = ("slt", "bdl", "rms", "clb")
DEV_IDS = "b0464-b0473"
TEST_IDS = "b0474-b0476"
_ID = re.compile(r"^([a-z])(\d{4})$")


def parse_ids(spec, option):
    """'b0474-b0476,a0001' -> {'arctic_b0474', 'arctic_b0475', 'arctic_b0476', 'arctic_a0001'}."""
    out = set()
    for part in filter(None, (s.strip() for s in spec.split(","))):
        lo, _, hi = part.partition("-")
        m_lo, m_hi = _ID.match(lo), _ID.match(hi or lo)
        if not m_lo or not m_hi or m_lo.group(1) != m_hi.group(1) or int(m_lo.group(2)) > int(m_hi.group(2)):
            raise UserError(f"{option} {spec!r}: write ARCTIC prompt ids or ranges such as b0474-b0476 or "
                            "a0001,a0002 (a range stays within one letter, low to high)")
        letter = m_lo.group(1)
        out.update(f"arctic_{letter}{i:04d}" for i in range(int(m_lo.group(2)), int(m_hi.group(2)) + 1))
    return out


def speaker_wavs(db, spk):
    """{arctic id: absolute wav path} of one speaker; an error names the folder that is missing."""
    wav_dir = Path(db) / f"cmu_us_{spk}_arctic" / "wav"
    if not wav_dir.is_dir():
        raise DataError(f"{wav_dir}: no such folder. --db must hold cmu_us_<spk>_arctic/wav/ for every "
                        "speaker (the festvox archives unpacked); run stage 0 without --db to download them")
    wavs = {p.stem: p.resolve() for p in sorted(wav_dir.glob("arctic_*.wav"))}
    if not wavs:
        raise DataError(f"{wav_dir}: holds no arctic_*.wav files; unpack cmu_us_{spk}_arctic again")
    return wavs


def split_corpus(db, speakers, dev_ids, test_ids):
    """-> {set: {utt_id: (path, speaker)}} for train, dev and test; empty sets are errors."""
    overlap = dev_ids & test_ids
    if overlap:
        raise UserError(f"--dev-ids and --test-ids share {len(overlap)} prompts, e.g. {sorted(overlap)[0]}")
    sets = {"train": {}, "dev": {}, "test": {}}
    for spk in speakers:
        for stem, path in speaker_wavs(db, spk).items():
            name = "test" if stem in test_ids else "dev" if stem in dev_ids else "train"
            sets[name][f"{spk}_{stem}"] = (path, spk)
    for name, utts in sets.items():
        if not utts:
            raise DataError(f"{db}: no utterance of speakers {' '.join(speakers)} falls into the {name} set; "
                            "check --dev-ids / --test-ids against the wav names (arctic_b0474.wav ...)")
    return sets


def write_sets(sets, out):
    for name, utts in sets.items():
        d = Path(out) / name
        d.mkdir(parents=True, exist_ok=True)
        write_table(d / "wav.scp", {u: str(p) for u, (p, _) in utts.items()})
        write_table(d / "utt2spk", {u: s for u, (_, s) in utts.items()})


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--db", required=True, help="folder holding cmu_us_<spk>_arctic/wav/*.wav")
    p.add_argument("--out", default="data", help="writes <out>/{train,dev,test}/wav.scp and utt2spk")
    p.add_argument("--speakers", nargs="+", default=list(SPEAKERS), help="ARCTIC speaker codes")
    p.add_argument("--dev-ids", default=DEV_IDS, help="dev prompts, per speaker (ranges, commas)")
    p.add_argument("--test-ids", default=TEST_IDS, help="test prompts, per speaker (ranges, commas)")
    args = p.parse_args(argv)
    sets = split_corpus(args.db, args.speakers, parse_ids(args.dev_ids, "--dev-ids"),
                        parse_ids(args.test_ids, "--test-ids"))
    write_sets(sets, args.out)
    counts = ", ".join(f"{name} {len(u)}" for name, u in sets.items())
    print(f"{len(args.speakers)} speakers -> {args.out}: {counts} utterances", file=sys.stderr)
    return 0


if __name__ == "__main__":
    run(main)
