"""Compare countermeasure runs: EER and min t-DCF per system over seeds, significance, DET curves.

    python -m pylib.bin.compare_runs exp/lcnn_seed1 exp/lcnn_seed2 exp/rawnet_seed1 exp/rawnet_seed2 \
        [--subset eval] [--labels data/eval/utt2label] [--bootstrap 1000] --out report/

Each run folder needs infer_<subset>/scores.txt (stage 4) and infer_<subset>/results.json (stage 5;
where it is missing, --labels scores the run here). Runs that differ only in their seed (folders
named <tag>_seed<N>, and/or config.yaml equal except train.seed) form one system. Writes
report/report.json, report/report.md, report/index.html and report/det.png.
"""

from pylib.bin import _cli
from pylib.bin._cli import run
from pylib.data.protocols import ALIASES, FORMATS
from pylib.errors import UserError


def build_parser():
    p = _cli.new_parser("pylib.bin.compare_runs", __doc__)
    p.add_argument("runs", nargs="+", metavar="RUN",
                   help="experiment folders of stage 3 (exp/<tag>), all scored on the same trials")
    _cli.add_subset(p, required=False, detail="the runs' infer_NAME/ folders are compared "
                    "(default eval)")
    p.add_argument("--labels", default=None,
                   help="label file of the trials (any format of score_cm --labels); default: the "
                   "one each run's results.json names; needed to score a run without results.json")
    p.add_argument("--labels-format", choices=FORMATS + tuple(ALIASES), default=None,
                   help="format of --labels (default: detected)")
    p.add_argument("--bootstrap", type=int, default=1000, metavar="N",
                   help="bootstrap resamples for each run's EER CI where its results.json has none "
                   "(0 = none)")
    p.add_argument("--bootstrap-seed", type=int, default=0, metavar="SEED", help="seed of the resampling")
    p.add_argument("--significance-level", type=float, default=0.05, metavar="ALPHA",
                   help="family-wise level of the Holm-Bonferroni corrected pairwise EER tests")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="report folder: report.json, report.md, index.html, det.png")
    return p


def main(argv=None):
    from pylib.metrics.compare import compare, system_rows, write_report

    args = _cli.parse(build_parser(), argv)
    if args.bootstrap < 0:
        raise UserError(f"--bootstrap {args.bootstrap}: give a number of resamples (e.g. 1000), or 0 "
                        f"for none")
    if not 0.0 < args.significance_level < 1.0:
        raise UserError(f"--significance-level {args.significance_level}: give a level in (0, 1), "
                        f"e.g. 0.05")
    report, _, systems = compare(args.runs, args.subset or "eval", args.labels, args.labels_format,
                                 args.bootstrap, args.bootstrap_seed, args.significance_level)
    out = write_report(args.out, report, systems)
    for row in system_rows(report):
        print(f"{row[0]}: {row[1]} seed(s), EER {row[2]} %, best {row[3]}, worst {row[4]}")
    print(f"wrote {out / 'index.html'}, report.md, report.json, det.png")
    return 0


if __name__ == "__main__":
    run(main)
