"""Shared entry-point plumbing: one parser helper and one vocabulary of common options for every
`pylib/bin/*.py`; user errors print one paragraph and exit 2; bugs keep their traceback.

Every entry point has `build_parser()` (made with `new_parser` and the `add_*` helpers below, so a
common option is spelled, typed and documented the same everywhere) and `main(argv=None)`, which
calls `parse(build_parser(), argv)` and is run by `run(main)`.

The vocabulary: `--conf` the recipe yaml; `--set KEY=VALUE` overrides a key of it (only where a
config is read); `--subset NAME` a data set folder of the dump; `--data-dir` the dump folder;
`--exp-dir` the experiment folder; `--device`, `--num-threads`, `--no-progress`, `--log-level`,
`--import`, `--overwrite`, `--skip-bad`.
"""

import argparse
import contextlib
import errno
import logging
import re
import sys
import textwrap

from pylib.errors import ConfigError, UserError

LOG_LEVELS = ("debug", "info", "warning", "error")

# Flags an earlier version had, with what replaces them: the parser names the replacement.
RETIRED = {
    "--override": "--override is now --set KEY=VALUE",
    "--verbose": "--verbose is now --log-level debug",
}


class Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown, and the usage examples of the description kept on their own lines."""


class CliParser(argparse.ArgumentParser):
    """ArgumentParser that names the replacement of a retired flag, and explains a leftover
    `--set NAME` (the data set is `--subset` now) where the entry point reads no config."""

    def parse_known_args(self, args=None, namespace=None):
        for tok in sys.argv[1:] if args is None else args:
            tok = str(tok)
            if tok == "--":
                break
            flag = tok.split("=", 1)[0]
            if not flag.startswith("--") or flag in self._option_string_actions:
                continue
            if flag == "--set":
                fix = "; the data set is --subset now" if "--subset" in self._option_string_actions else ""
                name = self.prog.split()[-1]
                self.error(f"--set KEY=VALUE overrides a config key, and {name} reads no config{fix}")
            if flag in RETIRED:
                self.error(RETIRED[flag])
        return super().parse_known_args(args, namespace)


def new_parser(module_name, doc, description=None):
    """The parser of entry point `module_name` (e.g. "pylib.bin.train"): prog is the command to
    type, the description `description` or else the module docstring `doc` (examples included),
    and `--log-level`, which every entry point has."""
    p = CliParser(
        prog=f"python -m {module_name}",
        description=description or doc,
        formatter_class=Formatter,
        allow_abbrev=False,
    )
    p.add_argument(
        "--log-level", default="info", choices=LOG_LEVELS, type=str.lower, help=HELP["--log-level"]
    )
    return p


def override(text):
    """argparse type of --set: `key.path=value`."""
    key, sep, _ = text.partition("=")
    if not sep or not re.fullmatch(r"[A-Za-z0-9_.\-]+", key.strip()):
        raise argparse.ArgumentTypeError(
            f"{text!r}: --set takes key=value (a config override, e.g. train.epochs=3); "
            f"the data set is --subset now"
        )
    return text


def device(text):
    """argparse type of --device: auto, cpu, cuda or cuda:N."""
    text = text.strip().lower()
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", text):
        raise argparse.ArgumentTypeError(f"{text!r}: give auto, cpu, cuda or cuda:N")
    return text


def resolve_device(name):
    """--device auto -> "cuda" when a GPU is visible, else "cpu"; other names unchanged."""
    if name != "auto":
        return name
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


HELP = {
    "--conf": "recipe yaml",
    "--set": "override a config key, e.g. --set train.epochs=3 (repeatable; values typed as yaml)",
    "--subset": "data set: a folder of --data-dir, e.g. train or eval",
    "--data-dir": "the recipe's dump folder (stage 1 output); the config's data paths are relative to it",
    "--exp-dir": "experiment folder of stage 3 (config.yaml, train.log, checkpoints)",
    "--device": "auto (cuda when available), cpu, cuda or cuda:N",
    "--num-threads": "torch CPU threads; 0 = torch's default",
    "--no-progress": "no progress bar",
    "--log-level": "logging level",
    "--import": "import a module first (repeatable): its CATALOGUE dict {name: class} adds models "
    "(it may also install a data factory)",
    "--overwrite": "redo outputs that already exist",
    "--skip-bad": "skip bad input files instead of stopping, and list them with the reasons in bad_files.txt",
}


def _help(flag, detail):
    return f"{HELP[flag]}; {detail}" if detail else HELP[flag]


def add_conf(p, required=True, detail=None):
    p.add_argument("--conf", required=required, metavar="YAML", help=_help("--conf", detail))


def add_overrides(p, detail=None):
    p.add_argument(
        "--set", dest="overrides", action="append", default=[], type=override, metavar="KEY=VALUE",
        help=_help("--set", detail),
    )


INFER_SET = ("here only an inference setting of the model, e.g. --set model.sigma=0.8: the keys of its "
             "infer_keys (sampling temperature, seed, ...); the others are fixed by training")


def add_infer_settings(p):
    """--set model.KEY=VALUE of the inference entry points (pylib.engine.infer.infer_settings)."""
    add_overrides(p, detail=INFER_SET)


def add_subset(p, required=True, detail=None):
    p.add_argument("--subset", required=required, metavar="NAME", help=_help("--subset", detail))


def add_data_dir(p):
    p.add_argument("--data-dir", default="dump", metavar="DIR", help=HELP["--data-dir"])


def add_exp_dir(p, required=False, detail=None):
    p.add_argument(
        "--exp-dir", required=required, default=None, metavar="DIR", help=_help("--exp-dir", detail)
    )


def add_device(p, default="auto", detail=None):
    p.add_argument("--device", default=default, type=device, help=_help("--device", detail))


def add_num_threads(p):
    p.add_argument("--num-threads", type=int, default=0, metavar="N", help=HELP["--num-threads"])


def add_no_progress(p):
    p.add_argument("--no-progress", action="store_true", help=HELP["--no-progress"])


def add_imports(p):
    p.add_argument(
        "--import", dest="imports", action="append", default=[], metavar="MODULE", help=HELP["--import"]
    )


def add_chunk_seconds(p):
    """--chunk-seconds of infer and vocode (default = pylib.engine.longform.CHUNK_SECONDS, not imported
    here: entry points start without torch)."""
    p.add_argument(
        "--chunk-seconds",
        type=float,
        default=30.0,
        metavar="S",
        help="vocoders: generate an input longer than S seconds in pieces of S seconds (overlapping by the "
        "model's receptive field, state carried: same output, bounded memory; see docs/vocoders.md, "
        "Long inputs); 0 = never",
    )


def add_overwrite(p, detail=None):
    p.add_argument("--overwrite", action="store_true", help=_help("--overwrite", detail))


def add_skip_bad(p, detail=None):
    p.add_argument("--skip-bad", action="store_true", help=_help("--skip-bad", detail))


def parse(parser, argv=None):
    """Parse argv; set the logging level and, where the entry point has --num-threads, torch's
    CPU threads."""
    args = parser.parse_args(argv)
    if getattr(args, "num_threads", 0) < 0:
        parser.error(f"--num-threads must be >= 0, got {args.num_threads}")
    setup_logging(args.log_level)
    if getattr(args, "num_threads", 0) > 0:
        import torch

        torch.set_num_threads(args.num_threads)
    return args


def run(main, argv=None):
    """Call `main(argv)` and exit with its code; UserError -> 'error: ...' on stderr and exit 2."""
    try:
        code = main(argv)
    except UserError as e:
        msg = textwrap.fill(str(e), width=100, break_long_words=False, break_on_hyphens=False)
        print(f"error: {msg}", file=sys.stderr)
        sys.exit(2)
    except OSError as e:
        if e.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        where = e.filename or "an output file"
        print(f"error: disk full while writing {where}; free space and rerun", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code or 0)


def setup_logging(level="info"):
    """Log records as `HH:MM:SS LEVEL message` at `level` (one of LOG_LEVELS)."""
    logging.basicConfig(
        level=getattr(logging, str(level).upper()),
        format="%(asctime)s %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
    )


@contextlib.contextmanager
def config_file(path):
    """Config errors raised inside name the recipe yaml `path` (a section key alone is not enough
    to find the file when a recipe has several configs)."""
    try:
        yield
    except ConfigError as e:
        if path is not None and str(path) not in str(e):
            raise ConfigError(f"{path}: {e}") from None
        raise


def check_checkpoint(exp_dir, checkpoint, out_dir, what):
    """Stage 5's check: with --exp-dir/--checkpoint given, the outputs (`what`: "scores",
    "waveforms") in out_dir must be stage 4's of that checkpoint; -> the checked record or None.
    Here, not in one scorer, so that score_vocoder does not import score_cm and its scipy.optimize."""
    if checkpoint is None:
        if exp_dir is not None:
            checkpoint = "best"
        else:
            return None
    if checkpoint in ("best", "last"):
        if exp_dir is None:
            raise UserError(f"--checkpoint {checkpoint} needs --exp-dir; or pass --checkpoint PATH")
        from pylib.engine.checkpoint import resolve_checkpoint

        checkpoint = resolve_checkpoint(exp_dir, checkpoint)
    from pylib.engine.infer import check_record

    return check_record(out_dir, checkpoint, what)
