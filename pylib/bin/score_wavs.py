"""Score every wav/flac under a folder with a one-file countermeasure model.

  python -m pylib.bin.score_wavs --model model.pt --wav-dir DIR [--out scores.txt]

Writes `utt-id score` lines (higher = more bona fide), sorted by id; the id is the file stem, or the
path relative to DIR without the extension where two files share a stem. Files at another sample
rate are resampled to the model's rate. The model is an nnsp one-file model (export_model, or
import_project_nn for the project-NN-Pytorch-scripts checkpoints). A bad file stops the run but
keeps the scores computed before it (in <out>.partial, with the model's hash; a rerun with the
same model resumes); --skip-bad skips such files and lists them in bad_files.txt.
"""

import sys
from pathlib import Path

from pylib.bin import _cli
from pylib.bin._cli import run
from pylib.engine.score_folder import ScoringStopped, score_folder
from pylib.io.atomic import make_folder
from pylib.io.scores import format_scores
from pylib.models.catalogue import get_model_class


def build_parser():
    p = _cli.new_parser("pylib.bin.score_wavs", __doc__)
    p.add_argument("--model", required=True, metavar="PT", help="nnsp one-file countermeasure (model.pt)")
    p.add_argument("--wav-dir", required=True, metavar="DIR",
                   help="folder searched recursively for .wav and .flac files")
    p.add_argument("--out", default=None, metavar="FILE",
                   help="scores file to write (atomically); default: print the lines on stdout")
    p.add_argument("--batch-size", type=int, default=16,
                   help="files per batch (files of similar length are batched together)")
    _cli.add_device(p, default="cpu")
    _cli.add_num_threads(p)
    _cli.add_skip_bad(p, detail="bad_files.txt is next to --out (on stderr without --out)")
    p.add_argument("--bad-files", default=None, metavar="FILE",
                   help="where --skip-bad lists the skipped files; default: bad_files.txt next to --out")
    _cli.add_no_progress(p)
    return p


def main(argv=None):
    args = _cli.parse(build_parser(), argv)
    if args.out is not None:
        make_folder(Path(args.out).parent)
    try:
        scores = score_folder(args.model, args.wav_dir, out=args.out, batch_size=args.batch_size,
                              device=_cli.resolve_device(args.device), progress=not args.no_progress,
                              skip_bad=args.skip_bad, bad_files=args.bad_files,
                              model_class=get_model_class)
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
