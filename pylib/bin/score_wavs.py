"""Score every wav/flac under a folder with a one-file countermeasure model.

  python -m pylib.bin.score_wavs --model model.pt --wav-dir DIR [--out scores.txt]

Writes `utt-id score` lines (higher = more bona fide), sorted by id; the id is the file stem, or the
path relative to DIR without the extension where two files share a stem. Files at another sample
rate are resampled to the model's rate. The model is an nnsp one-file model (export_model, or
import_project_nn for the project-NN-Pytorch-scripts checkpoints). A bad file stops the run but
keeps the scores computed before it (in <out>.partial, with the model's hash; a rerun with the
same model resumes); --skip-bad skips such files and lists them in bad_files.txt.
"""

import argparse
import sys
from pathlib import Path

import torch

from pylib.bin._cli import run, setup_logging
from pylib.engine.score_folder import ScoringStopped, score_folder
from pylib.io.atomic import make_folder
from pylib.io.scores import format_scores
from pylib.models.catalogue import get_model_class


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown, and the usage example in the description kept on its own line."""


def build_parser():
    p = argparse.ArgumentParser(prog="python -m pylib.bin.score_wavs", description=__doc__,
                                formatter_class=_Formatter)
    p.add_argument("--model", required=True, metavar="PT", help="nnsp one-file countermeasure (model.pt)")
    p.add_argument("--wav-dir", required=True, metavar="DIR",
                   help="folder searched recursively for .wav and .flac files")
    p.add_argument("--out", default=None, metavar="FILE",
                   help="scores file to write (atomically); default: print the lines on stdout")
    p.add_argument("--batch-size", type=int, default=16,
                   help="files per batch (files of similar length are batched together)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    p.add_argument("--num-threads", type=int, default=0, help="torch CPU threads; 0 = torch's default")
    p.add_argument("--skip-bad", action="store_true",
                   help="skip unreadable files and list them with their reasons in bad_files.txt next "
                        "to --out (on stderr without --out) instead of stopping")
    p.add_argument("--bad-files", default=None, metavar="FILE",
                   help="where --skip-bad lists the skipped files; default: bad_files.txt next to --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.num_threads > 0:
        torch.set_num_threads(args.num_threads)
    setup_logging()
    if args.out is not None:
        make_folder(Path(args.out).parent)
    try:
        scores = score_folder(args.model, args.wav_dir, out=args.out, batch_size=args.batch_size,
                              device=args.device, progress=not args.no_progress,
                              skip_bad=args.skip_bad, bad_files=args.bad_files, model_class=get_model_class)
    except ScoringStopped as e:
        if args.out is None:  # keep what was computed: print it, then report the bad file
            sys.stdout.write(format_scores(e.scores))
        raise
    if args.out is None:
        sys.stdout.write(format_scores(scores))
    else:
        print(f"wrote {args.out}: {len(scores)} scores", file=sys.stderr)
    return 0


if __name__ == "__main__":
    run(main)
