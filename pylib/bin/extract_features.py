"""Stage 1: extract the features named in the recipe yaml for every utterance of a wav.scp.

    python -m pylib.bin.extract_features --conf conf/hifigan.yaml --wav-scp data/train/wav.scp \
        --out-dir dump/train [--job J --num-jobs N] [--overwrite] [--skip-bad]
    python -m pylib.bin.extract_features --out-dir dump/train --num-jobs N --merge
"""

from pylib.bin import _cli
from pylib.bin._cli import config_file, run
from pylib.config import apply_overrides, load_config
from pylib.errors import ConfigError, UserError


def build_parser():
    p = _cli.new_parser("pylib.bin.extract_features", __doc__)
    _cli.add_conf(p, required=False, detail="its features: section is used (not needed with --merge)")
    _cli.add_overrides(p)
    p.add_argument(
        "--wav-scp",
        help="data/<set>/wav.scp (`utt-id path` or `utt-id cmd |`, sorted; not needed with --merge)",
    )
    p.add_argument("--out-dir", required=True, help="dump/<set>: files go to <out-dir>/<name>/<utt><ext>")
    p.add_argument("--job", type=int, default=1, help="which job this is, 1..--num-jobs (utils/run.py JOB)")
    p.add_argument(
        "--num-jobs",
        type=int,
        default=1,
        help="jobs the sorted scp is split into (contiguous chunks); with 1 the merge runs at the end",
    )
    p.add_argument(
        "--merge",
        action="store_true",
        help="only merge the jobs' utt2num_frames.<J> (after all --num-jobs jobs finished)",
    )
    _cli.add_overwrite(
        p,
        detail="without it a rerun redoes only the missing, empty, partial or changed files "
        "(sources.jsonl records each utterance's source and settings)",
    )
    _cli.add_skip_bad(
        p,
        detail="bad = unreadable, empty or wrong-rate wavs; bad_files.txt is in --out-dir; without it the "
        "first stops the run, keeping the work done so far",
    )
    _cli.add_num_threads(p)
    _cli.add_no_progress(p)
    return p


def main(argv=None):
    args = _cli.parse(build_parser(), argv)
    import pylib.features  # noqa: F401  (registers the extractors)
    from pylib.features.extract import extract_job, merge_jobs, summary

    if args.merge:
        merge_jobs(args.out_dir, args.num_jobs)
        return 0
    if not args.conf or not args.wav_scp:
        raise UserError("--conf and --wav-scp are required (only --merge runs without them)")
    with config_file(args.conf):
        conf = apply_overrides(load_config(args.conf), args.overrides)
    if "features" not in conf:
        raise ConfigError(f"{args.conf}: no `features:` section; see docs/INTERFACES.md for its keys")
    with config_file(args.conf):
        counts = extract_job(
            conf["features"],
            args.wav_scp,
            args.out_dir,
            args.job,
            args.num_jobs,
            overwrite=args.overwrite,
            skip_bad=args.skip_bad,
            progress=not args.no_progress,
        )
    print(f"{args.out_dir}: {summary(counts, args.job, args.num_jobs)}")
    return 0


if __name__ == "__main__":
    run(main)
