"""Stage 3: train a model from a recipe config (also under `torchrun --nproc_per_node N` for DDP)."""

import argparse

from pylib.bin._cli import config_file, run, setup_logging


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--conf", required=True, help="recipe yaml (sections data, features, model, optim, train)")
    p.add_argument(
        "--data-dir", default="dump", help="the recipe's dump/ folder; data paths are relative to it"
    )
    p.add_argument(
        "--exp-dir", required=True, help="output folder: config.yaml, train.log, checkpoints, curves"
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set train.epochs=3 (repeatable; values typed as yaml)",
    )
    p.add_argument(
        "--resume",
        default="auto",
        help="auto: continue from <exp-dir>/checkpoint_last.pt if present; none: start afresh (refused "
        "in an exp dir holding an earlier run, unless --overwrite); or a checkpoint path",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="start afresh (implies --resume none); an earlier run in --exp-dir is moved to <exp-dir>.N, "
        "never deleted",
    )
    p.add_argument(
        "--init-from",
        default=None,
        help="initialise weights from a checkpoint or model.pt (fine-tuning; optimizer not loaded)",
    )
    p.add_argument(
        "--allow-partial",
        action="store_true",
        help="with --init-from: load the matching weights and list the missing/unexpected ones",
    )
    p.add_argument(
        "--device",
        default="auto",
        choices=["auto", "cpu", "cuda"],
        help="auto = cuda when available (overrides train.device)",
    )
    p.add_argument("--seed", type=int, default=None, help="overrides train.seed")
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    p.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        metavar="MODULE",
        help="import a module first: its CATALOGUE dict {name: class} adds models (it may also install "
        "a data factory)",
    )
    p.add_argument("--verbose", action="store_true", help="debug logging")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    setup_logging(args.verbose)
    from pylib.engine.build import run_training
    from pylib.models.catalogue import model_lookup

    with config_file(args.conf):
        summary = run_training(
            args.conf,
            args.data_dir,
            args.exp_dir,
            overrides=args.overrides,
            resume=args.resume,
            init_from=args.init_from,
            allow_partial=args.allow_partial,
            device=args.device,
            seed=args.seed,
            print_config=args.print_config,
            overwrite=args.overwrite,
            model_class=model_lookup(args.imports),
        )
    return 0 if summary is None or not summary.get("error") else 1


if __name__ == "__main__":
    run(main)
