"""Stage 3: train a model from a recipe config (also under `torchrun --nproc_per_node N` for DDP)."""


from pylib.bin import _cli
from pylib.bin._cli import config_file, run


def build_parser():
    p = _cli.new_parser("pylib.bin.train", __doc__)
    _cli.add_conf(p, detail="sections data, features, model, optim, train")
    _cli.add_overrides(p)
    _cli.add_data_dir(p)
    _cli.add_exp_dir(p, required=True, detail="the output folder of this run")
    p.add_argument(
        "--resume",
        default="auto",
        help="auto: continue from <exp-dir>/checkpoint_last.pt if present; none: start afresh (refused "
        "in an exp dir holding an earlier run, unless --overwrite); or a checkpoint path",
    )
    _cli.add_overwrite(
        p,
        detail="start afresh (implies --resume none); an earlier run in --exp-dir is moved to <exp-dir>.N, "
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
    _cli.add_device(
        p, detail="auto keeps train.device, cpu/cuda override it (not cuda:N: a DDP rank takes its own)"
    )
    _cli.add_num_threads(p)
    p.add_argument("--seed", type=int, default=None, help="overrides train.seed")
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    _cli.add_imports(p)
    return p


def main(argv=None):
    args = _cli.parse(build_parser(), argv)
    if args.device.startswith("cuda:"):
        from pylib.errors import UserError

        raise UserError(
            f"--device {args.device}: train places itself (cuda:LOCAL_RANK under torchrun); give --device "
            "cuda and choose the GPU with CUDA_VISIBLE_DEVICES"
        )
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
