"""Make the toy speech corpus (stage 0 of the toy recipes): wavs, wav.scp, utt2spk, true F0.

python -m pylib.bin.make_toy_corpus --out data/toy --num-utts 200 --seed 0
"""

from pylib.bin import _cli
from pylib.bin._cli import run
from pylib.errors import UserError


def build_parser():
    p = _cli.new_parser("pylib.bin.make_toy_corpus", __doc__)
    p.add_argument("--out", required=True, help="output folder (wavs/, f0/, wav.scp, utt2spk, spk2f0range)")
    p.add_argument("--num-utts", type=int, default=200, help="number of utterances")
    p.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives identical files")
    p.add_argument("--sample-rate", type=int, default=16000, help="sample rate (Hz)")
    p.add_argument("--min-dur", type=float, default=1.0, help="shortest utterance (seconds)")
    p.add_argument("--max-dur", type=float, default=3.0, help="longest utterance (seconds)")
    p.add_argument("--num-speakers", type=int, default=4, help="speakers (utterances go round-robin)")
    _cli.add_no_progress(p)
    return p


def main(argv=None):
    args = _cli.parse(build_parser(), argv)
    if args.num_utts < 1 or args.num_speakers < 1 or not 0 < args.min_dur <= args.max_dur:
        raise UserError("need --num-utts >= 1, --num-speakers >= 1 and 0 < --min-dur <= --max-dur")
    if args.sample_rate < 8000:
        raise UserError(f"--sample-rate {args.sample_rate}: use 8000 Hz or more (formants reach 5 kHz)")
    from pylib.features.toy_corpus import make_toy_corpus

    ids = make_toy_corpus(
        args.out,
        args.num_utts,
        args.seed,
        args.sample_rate,
        args.min_dur,
        args.max_dur,
        args.num_speakers,
        progress=not args.no_progress,
    )
    print(f"{len(ids)} utterances in {args.out}")
    return 0


if __name__ == "__main__":
    run(main)
