"""Stage 5 for countermeasures: EER (with a bootstrap CI), Cllr, min t-DCF, t-EER, per-attack EERs, DET.

    python -m pylib.bin.score_cm --scores exp/lcnn/infer_eval/scores.txt \
        --labels data/eval/utt2label [--asv-scores ASVspoof2019.LA.asv.eval.gi.trl.scores.txt] \
        [--bootstrap 1000 [--bootstrap-seed 0] [--bootstrap-by trial|speaker|attack]] \
        [--dcf-p-target 0.95 [0.5 ...]] [--dcf-c-miss 1] [--dcf-c-fa 10] \
        [--key-subset eval] [--asv-trials trials_with_asv_scores.txt] \
        [--out results.json] [--det det.png] [--exp-dir exp/lcnn --checkpoint best]

With --checkpoint (best/last of --exp-dir, or a path) the scores must come from that checkpoint:
stage 4's record next to the scores (infer_source.json) is checked against the file's sha256.

--labels takes any protocol of `pylib.data.protocols` (--labels-format names it; default detected).
Protocols that carry conditions (ASVspoof 2019 PA environment/replay, 2021 LA codec/transmission/
attack, 2021 DF codec/source/attack/vocoder, 2021 PA room/mic/distances, ASVspoof 5 codec/attack)
add a per-condition table:
the EER of each value of each condition column, printed and written as "per_condition".

The actual and min DCF (normalised; "dcf" in results.json, one entry per --dcf-p-target) take the
scores as natural-log likelihood ratios for the actual DCF's Bayes threshold. --key-subset scores
one subset of an ASVspoof 2021 key: scores of the key's other subsets are left out (counted), so a
score file of the whole eval data needs no --allow-missing.
"""

from pathlib import Path

from pylib.bin import _cli
from pylib.bin._cli import check_checkpoint, run
from pylib.data.protocols import ALIASES, FORMATS
from pylib.metrics import cm_report
from pylib.metrics.cm_report import BOOTSTRAP_BY, plot_det, score_cm_files, summary_text, write_results_json
from pylib.metrics.dcf import ASVSPOOF5_COSTS


def build_parser():
    p = _cli.new_parser("pylib.bin.score_cm", __doc__)
    p.add_argument(
        "--scores", required=True, help="CM score file: `utt-id score` lines, higher = more bona fide"
    )
    p.add_argument(
        "--labels",
        required=True,
        help="labels: nnsp utt2label or a protocol (ASVspoof 2019/2021/5 protocol or key, In-the-Wild "
        "meta.csv, WaveFake folder)",
    )
    p.add_argument(
        "--labels-format",
        choices=FORMATS + tuple(ALIASES),
        default=None,
        help="format of --labels (default: detected from its first line, or wavefake for a folder)",
    )
    p.add_argument(
        "--asv-scores",
        default=None,
        help="organisers' ASV scores (`SOURCE target|nontarget|spoof SCORE`) to compute the min t-DCF",
    )
    p.add_argument(
        "--key-subset",
        default=None,
        help="ASVspoof 2021 keys only: score the trials whose subset field is this (progress|eval|hidden)",
    )
    p.add_argument(
        "--tdcf",
        choices=["legacy", "revised"],
        default="legacy",
        help="t-DCF formulation: legacy = ASVspoof 2019 challenge, revised = Kinnunen et al. 2020",
    )
    add_statistics(p)
    p.add_argument(
        "--asv-trials",
        default=None,
        help="per-trial ASV scores (`... UTT target|nontarget|spoof SCORE`) to compute the t-EER",
    )
    p.add_argument(
        "--teer-rho", type=float, default=0.5, help="spoofing prior rho of the t-EER path (0..1)"
    )
    _cli.add_exp_dir(p, detail="its --checkpoint best/last wrote the scores")
    p.add_argument(
        "--checkpoint",
        default=None,
        help="best | last (with --exp-dir) | a path: refuse scores stage 4 wrote with another checkpoint",
    )
    p.add_argument("--out", default=None, help="write the results as JSON here")
    p.add_argument("--det", default=None, help="draw the DET curve to this PNG")
    p.add_argument(
        "--allow-missing",
        action="store_true",
        help="score only utterances with both a score and a label, and report how many were left out",
    )
    return p


def add_statistics(p):
    """The bootstrap and DCF options."""
    p.add_argument(
        "--bootstrap",
        type=int,
        default=0,
        metavar="N",
        help="95%% confidence interval of the EER from N bootstrap resamples of the trials (0 = off)",
    )
    p.add_argument("--bootstrap-seed", type=int, default=0, metavar="SEED", help="seed of the resampling")
    p.add_argument(
        "--bootstrap-by",
        choices=BOOTSTRAP_BY,
        default="trial",
        help="what --bootstrap resamples: trials, or whole speakers / attacks (groups drawn within "
        "each class, then their trials)",
    )
    p.add_argument(
        "--utt2spk",
        default=None,
        help="--bootstrap-by speaker with labels that carry no speaker (utt2label): the set's utt2spk "
        "(default: utt2spk next to --labels, where there is one)",
    )
    p.add_argument(
        "--dcf-p-target",
        type=float,
        nargs="+",
        default=[ASVSPOOF5_COSTS["p_target"]],
        metavar="P",
        help="bona fide prior(s) of the actual and min DCF (default: ASVspoof 5's 0.95)",
    )
    p.add_argument(
        "--dcf-c-miss", type=float, default=ASVSPOOF5_COSTS["c_miss"],
        help="DCF cost of a missed bona fide trial",
    )
    p.add_argument(
        "--dcf-c-fa", type=float, default=ASVSPOOF5_COSTS["c_fa"], help="DCF cost of an accepted spoof trial"
    )


def main(argv=None):
    args = _cli.parse(build_parser(), argv)
    if args.bootstrap < 0:
        from pylib.errors import UserError

        raise UserError(f"--bootstrap {args.bootstrap}: give a number of resamples (e.g. 1000), "
                        f"or 0 for none")
    if not 0.0 <= args.teer_rho <= 1.0:
        from pylib.errors import UserError

        raise UserError(f"--teer-rho {args.teer_rho}: the spoofing prior must be in [0, 1]")
    bad = [p for p in args.dcf_p_target if not 0.0 < p < 1.0]
    if bad or args.dcf_c_miss <= 0 or args.dcf_c_fa <= 0:
        from pylib.errors import UserError

        raise UserError(f"--dcf-p-target {' '.join(map(str, args.dcf_p_target))} --dcf-c-miss "
                        f"{args.dcf_c_miss} --dcf-c-fa {args.dcf_c_fa}: priors must lie strictly "
                        f"between 0 and 1 and costs be > 0 (ASVspoof 5: 0.95, 1, 10)")
    utt2spk, beside = args.utt2spk, Path(args.labels).parent / "utt2spk"
    if utt2spk is None and args.bootstrap_by == "speaker" and beside.is_file():
        utt2spk = beside
    check_checkpoint(args.exp_dir, args.checkpoint, Path(args.scores).parent, "scores")
    results, (bona, spoof) = score_cm_files(
        args.scores,
        args.labels,
        asv_scores=args.asv_scores,
        allow_missing=args.allow_missing,
        subset=args.key_subset,
        legacy=args.tdcf == "legacy",
        labels_format=args.labels_format,
        bootstrap=args.bootstrap,
        bootstrap_seed=args.bootstrap_seed,
        asv_trials=args.asv_trials,
        teer_rho=args.teer_rho,
        bootstrap_by=args.bootstrap_by,
        utt2spk=utt2spk,
        dcf_costs=[{"p_target": p, "c_miss": args.dcf_c_miss, "c_fa": args.dcf_c_fa}
                   for p in args.dcf_p_target],
    )
    print(summary_text(results), end="")
    if "per_condition" in results:
        print(cm_report.condition_text(results["per_condition"]), end="")
    if args.out:
        write_results_json(args.out, results)
        print(f"wrote {args.out}")
    if args.det:
        plot_det(args.det, bona, spoof, title=f"DET: {args.scores}")
        print(f"wrote {args.det}")
    return 0


if __name__ == "__main__":
    run(main)
