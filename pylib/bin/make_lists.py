"""Stage 2: check a dump set against the data spec and write `<set>.lst` and `<set>.dropped.txt`.

python -m pylib.bin.make_lists --conf conf/hn_sinc_nsf.yaml --data-dir dump --subset train
"""

import argparse
import logging
from pathlib import Path

from pylib.bin import _cli
from pylib.bin._cli import config_file, run
from pylib.config import apply_overrides, load_config
from pylib.data.lists import make_list
from pylib.data.spec import spec_from_config
from pylib.errors import DataError

log = logging.getLogger("make_lists")


def build_parser():
    p = _cli.new_parser("pylib.bin.make_lists", __doc__)
    _cli.add_conf(p, detail="its data: section names the features")
    _cli.add_overrides(p)
    _cli.add_data_dir(p)
    _cli.add_subset(p)
    p.add_argument(
        "--with-outputs",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also require the outputs (natural waveforms); --no-with-outputs for inference sets",
    )
    p.add_argument(
        "--inputs-only",
        dest="with_outputs",
        action="store_false",
        default=argparse.SUPPRESS,
        help="same as --no-with-outputs",
    )
    p.add_argument(
        "--ids-from",
        default=None,
        help="take candidate ids from this table (e.g. data/<set>/wav.scp) instead of the "
        "feature folders, so utterances with no features at all are reported too",
    )
    p.add_argument(
        "--utt2label",
        default=None,
        help="data/<set>/utt2label: copy the labels of the kept utterances to the set folder "
        "and drop utterances without a label",
    )
    p.add_argument(
        "--check-finite",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="scan every float feature file (once per version) and drop utterances holding NaN/Inf",
    )
    return p


def main(argv=None):
    args = _cli.parse(build_parser(), argv)
    with config_file(args.conf):
        cfg = apply_overrides(load_config(args.conf), args.overrides)
        spec = spec_from_config(cfg, args.data_dir, [args.subset] if args.subset else [])
    feats = spec.features if args.with_outputs else list(spec.inputs)
    good, dropped, short = make_list(
        spec,
        args.data_dir,
        args.subset,
        feats,
        ids_from=args.ids_from,
        utt2label=args.utt2label,
        check_finite=args.check_finite,
    )
    set_dir = Path(args.data_dir) / args.subset
    name = Path(args.subset).name
    total = len(good) + len(dropped)
    print(f"{args.subset}: kept {len(good)} of {total} utterances -> {set_dir / (name + '.lst')}")
    if dropped:
        print(f"  dropped {len(dropped)} (reasons in {set_dir / (name + '.dropped.txt')}), e.g.:")
        for utt, why in list(dropped.items())[:5]:
            print(f"    {utt}: {why}")
    if short:
        print(
            f"  {short} kept utterance(s) are shorter than data.min_len = {spec.min_len} samples: "
            f"the training loader leaves them out"
        )
    if not good:
        first = next(iter(dropped.items()), None)
        example = f" e.g. {first[0]}: {first[1]};" if first else ""
        raise DataError(
            f"{set_dir / (name + '.dropped.txt')}: no utterance of {args.subset} passed the checks "
            f"({len(dropped)} dropped);{example} fix the cause (a wrong dim or hop in the features section, "
            f"missing or damaged features: rerun stage 1) and rerun stage 2"
        )
    return 0


if __name__ == "__main__":
    run(main)
