"""Calibrate or fuse countermeasure scores: logistic regression trained on dev, applied to eval.

    python -m pylib.bin.fuse_scores --dev exp/a/infer_dev/scores.txt exp/b/infer_dev/scores.txt \
        --dev-labels data/dev/utt2label \
        --eval exp/a/infer_eval/scores.txt exp/b/infer_eval/scores.txt \
        --out exp/fusion/scores_eval.txt [--p-target 0.5] [--save-model exp/fusion/fusion.json]

The i-th --eval file is scored by the same system as the i-th --dev file. One system calibrates its
scores (a scale and an offset). The output is a score file of natural-log likelihood ratios (higher =
more bona fide) that score_cm reads like any other. Every file must score the same utterances (and
the dev files exactly those of --dev-labels): a missing one is an error naming it and the file,
unless --allow-missing, which keeps the utterances every file scores and says how many were left out.
"""

import argparse
import json

from pylib.bin import _cli
from pylib.bin._cli import run
from pylib.io.atomic import write_text_atomic
from pylib.io.scores import read_scores, write_scores
from pylib.io.tables import read_utt2label


def probability(text):
    """argparse type of --p-target: a float strictly between 0 and 1."""
    try:
        p = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 < p < 1.0:
        raise argparse.ArgumentTypeError(f"{text}: the target prior must be strictly between 0 and 1")
    return p


def non_negative(text):
    """argparse type of --l2: a float >= 0."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not v >= 0.0:
        raise argparse.ArgumentTypeError(f"{text}: must be >= 0")
    return v


def build_parser():
    p = _cli.new_parser("pylib.bin.fuse_scores", __doc__)
    p.add_argument(
        "--dev", nargs="+", required=True, metavar="SCORES",
        help="dev score files, one per system: `utt-id score` lines, higher = more bona fide",
    )
    p.add_argument(
        "--dev-labels", required=True, metavar="UTT2LABEL",
        help="utt2label of the dev set (`utt bonafide|spoof [attack]`); both classes needed",
    )
    p.add_argument(
        "--eval", nargs="+", required=True, metavar="SCORES",
        help="eval score files, the same systems in the same order as --dev",
    )
    p.add_argument("--out", required=True, help="write the fused eval LLRs (natural log) here")
    p.add_argument(
        "--p-target", type=probability, default=0.5,
        help="effective prior of bona fide the fusion is trained for (BOSARIS/FoCal p_target)",
    )
    p.add_argument(
        "--l2", type=non_negative, default=0.0,
        help="l2 penalty on the (standardised) weights; e.g. 1e-3 where dev separates the classes perfectly",
    )
    p.add_argument(
        "--save-model", default=None, metavar="JSON",
        help="write the weights, offset and dev Cllr as JSON here",
    )
    p.add_argument(
        "--allow-missing", action="store_true",
        help="fuse only the utterances every file scores (and, on dev, that are labelled); report the count",
    )
    return p


def main(argv=None):
    parser = build_parser()
    args = _cli.parse(parser, argv)
    if len(args.dev) != len(args.eval):
        parser.error(
            f"--dev has {len(args.dev)} files but --eval {len(args.eval)}; give one of each per system"
        )

    from pylib.metrics.calibration import align_systems, apply_fusion, cross_entropy_bits, train_fusion

    labels = read_utt2label(args.dev_labels)
    dev_utts, dev, dev_dropped = align_systems(
        [read_scores(f) for f in args.dev], args.dev, labels=labels, labels_name=args.dev_labels,
        allow_missing=args.allow_missing,
    )
    eval_utts, ev, eval_dropped = align_systems(
        [read_scores(f) for f in args.eval], args.eval, allow_missing=args.allow_missing
    )
    if dev_dropped or eval_dropped:
        print(f"--allow-missing: left out {dev_dropped} dev and {eval_dropped} eval utterances "
              f"not scored by every file (or, on dev, unlabelled)")
    is_bona = [labels[u][0] == "bonafide" for u in dev_utts]
    weights, offset = train_fusion(dev, is_bona, p_target=args.p_target, l2=args.l2)
    fused_dev = apply_fusion(dev, weights, offset)
    cllr = cross_entropy_bits(fused_dev, is_bona, args.p_target)
    singles = []
    if len(args.dev) > 1:
        for i in range(dev.shape[1]):
            w, b = train_fusion(dev[:, i], is_bona, p_target=args.p_target, l2=args.l2)
            singles.append(cross_entropy_bits(apply_fusion(dev[:, i], w, b), is_bona, args.p_target))

    fused = apply_fusion(ev, weights, offset)
    write_scores(args.out, dict(zip(eval_utts, fused.tolist())))

    n_bona = sum(is_bona)
    what = "calibrated 1 system" if len(args.dev) == 1 else f"fused {len(args.dev)} systems"
    print(f"{what} on {len(dev_utts)} dev trials ({n_bona} bona fide, {len(dev_utts) - n_bona} spoof), "
          f"p_target {args.p_target:g}")
    for i, (d, w) in enumerate(zip(args.dev, weights)):
        single = f"  (alone, calibrated: {singles[i]:.4f} bits)" if singles else ""
        print(f"  weight {w:+.6g}  {d}{single}")
    print(f"  offset {offset:+.6g}")
    print(f"dev cross-entropy of the output: {cllr:.4f} bits" + (" (Cllr)" if args.p_target == 0.5 else ""))
    print(f"wrote {args.out} ({len(eval_utts)} utterances)")
    if args.save_model:
        model = {
            "kind": "linear logistic-regression fusion",
            "output": "natural-log likelihood ratio, higher = more bona fide: sum(weight * score) + offset",
            "p_target": args.p_target,
            "l2": args.l2,
            "systems": [
                {"dev": d, "eval": e, "weight": float(w)} for d, e, w in zip(args.dev, args.eval, weights)
            ],
            "offset": float(offset),
            "dev": {
                "labels": args.dev_labels,
                "n_trials": len(dev_utts),
                "n_bonafide": int(n_bona),
                "cross_entropy_bits": cllr,
                "single_system_cross_entropy_bits": singles or None,
                "left_out": dev_dropped,
            },
            "eval": {"n_trials": len(eval_utts), "left_out": eval_dropped},
        }
        write_text_atomic(args.save_model, json.dumps(model, indent=2) + "\n")
        print(f"wrote {args.save_model}")
    return 0


if __name__ == "__main__":
    run(main)
