"""Stage 2: normalisation statistics (mean/std per dim) of the features with norm: true.

python -m pylib.bin.compute_stats --conf conf/x.yaml --data-dir dump
# in parallel: --job J --num-jobs N for J = 1..N, then --merge --num-jobs N
"""

import logging

from pylib.bin import _cli
from pylib.bin._cli import config_file, run
from pylib.config import apply_overrides, load_config
from pylib.data import stats
from pylib.data.spec import spec_from_config
from pylib.errors import UserError

log = logging.getLogger("compute_stats")


def build_parser():
    p = _cli.new_parser("pylib.bin.compute_stats", __doc__)
    _cli.add_conf(p, detail="its data: section names the features")
    _cli.add_overrides(p)
    _cli.add_data_dir(p)
    _cli.add_subset(p, required=False, detail="compute over its list instead of the corpora of data.train")
    p.add_argument(
        "--job", type=int, default=None, help="this job's number, 1..--num-jobs (writes a partial)"
    )
    p.add_argument("--num-jobs", type=int, default=1, help="number of parallel jobs")
    p.add_argument("--merge", action="store_true", help="merge the partials of jobs 1..--num-jobs")
    return p


def main(argv=None):
    args = _cli.parse(build_parser(), argv)
    with config_file(args.conf):
        cfg = apply_overrides(load_config(args.conf), args.overrides)
        spec = spec_from_config(cfg, args.data_dir, [args.subset] if args.subset else [])
    if not stats.norm_features(spec):
        print("no feature has norm: true; nothing to compute")
        return 0
    if args.job is not None and not 1 <= args.job <= args.num_jobs:
        raise UserError(f"--job {args.job} is not in 1..--num-jobs {args.num_jobs}")
    corpora = args.subset or spec.train
    if args.merge:
        acc = stats.merge_partials(spec, args.data_dir, args.num_jobs)
    else:
        acc = stats.accumulate(spec, args.data_dir, corpora, job=args.job, num_jobs=args.num_jobs)
        if args.job is not None:
            stats.save_partial(spec, args.data_dir, acc, args.job, args.num_jobs)
            print(
                f"job {args.job}/{args.num_jobs}: partial statistics written under "
                f"{stats.stats_dir(spec, args.data_dir) / 'partial'}"
            )
            return 0
    out = stats.write_stats(spec, args.data_dir, acc)
    folder = stats.stats_dir(spec, args.data_dir)
    for name, (mean, std) in out.items():
        print(
            f"{name}: {int(acc[name].n.max())} values per dim; mean {mean.mean():.4g}, std {std.mean():.4g} "
            f"(averaged over {mean.size} dims) -> {folder}/{name}.mean/.std"
        )
    return 0


if __name__ == "__main__":
    run(main)
