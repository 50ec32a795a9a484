"""Stage 1: extract the features named in the recipe yaml for every utterance of a wav.scp.

    python -m pylib.bin.extract_features --conf conf/hifigan.yaml --wav-scp data/train/wav.scp \
        --out-dir dump/train [--job J --num-jobs N] [--overwrite] [--skip-bad]
    python -m pylib.bin.extract_features --out-dir dump/train --num-jobs N --merge
"""

import argparse

from pylib.bin._cli import config_file, run, setup_logging
from pylib.config import load_config
from pylib.errors import ConfigError, UserError


def main(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--conf", help="recipe yaml; its `features:` section is used (not needed with --merge)")
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
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="recompute every file; without it a rerun redoes only the missing, empty, partial or "
        "changed ones (sources.jsonl records each utterance's source and settings)",
    )
    p.add_argument(
        "--skip-bad",
        action="store_true",
        help="skip unreadable/empty/wrong-rate wavs and list them with the reasons in "
        "<out-dir>/bad_files.txt instead of stopping (without it, the work done so far is kept)",
    )
    p.add_argument("--no-progress", action="store_true", help="no tqdm progress bar")
    p.add_argument("--verbose", action="store_true", help="debug logging")
    args = p.parse_args(argv)
    setup_logging(args.verbose)

    import pylib.features  # noqa: F401  (registers the extractors)
    from pylib.features.extract import extract_job, merge_jobs, summary

    if args.merge:
        merge_jobs(args.out_dir, args.num_jobs)
        return 0
    if not args.conf or not args.wav_scp:
        raise UserError("--conf and --wav-scp are required (only --merge runs without them)")
    conf = load_config(args.conf)
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
