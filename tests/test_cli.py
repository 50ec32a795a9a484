"""One CLI vocabulary: every `pylib/bin/*.py` builds its parser with `pylib.bin._cli`, documents every
option, and spells the common options (--conf, --set, --subset, --device, ...) the same way with
the same meaning."""

import argparse
import importlib
import logging
import re
from pathlib import Path

import pytest

from pylib.bin import _cli

BIN = Path(__file__).resolve().parents[1] / "pylib" / "bin"
ENTRY_POINTS = sorted(p.stem for p in BIN.glob("*.py") if not p.stem.startswith("_"))

# The entry points that read a recipe yaml (--conf) and so take --set KEY=VALUE overrides, and
# those that run over a data set of the dump (--subset).
READS_CONFIG = {"compute_stats", "extract_features", "make_lists", "train"}
# those that read a trained model's config and take --set model.KEY=VALUE inference settings (only
# the model's infer_keys; pylib.engine.infer.infer_settings)
INFER_SETTINGS = {"infer", "vocode"}
TAKES_SUBSET = {"compare_runs", "compute_stats", "infer", "make_lists"}


def _reference_actions():
    """The common options as the `_cli` helpers make them, by option string."""
    p = _cli.new_parser("pylib.bin.reference", "reference")
    for add in (_cli.add_conf, _cli.add_overrides, _cli.add_subset, _cli.add_data_dir, _cli.add_exp_dir,
                _cli.add_device, _cli.add_num_threads, _cli.add_no_progress, _cli.add_imports,
                _cli.add_overwrite, _cli.add_skip_bad):
        add(p)
    return {a.option_strings[0]: a for a in p._actions if a.option_strings and a.dest != "help"}


REFERENCE = _reference_actions()


def _signature(a):
    """What makes two options mean the same: destination, action kind, type, choices, arity."""
    return (a.dest, type(a).__name__, a.type, tuple(a.choices or ()), a.nargs, a.metavar)


def _parser(name):
    mod = importlib.import_module(f"pylib.bin.{name}")
    assert callable(getattr(mod, "build_parser", None)), f"pylib.bin.{name} has no build_parser()"
    assert callable(getattr(mod, "main", None)), f"pylib.bin.{name} has no main(argv)"
    p = mod.build_parser()
    assert isinstance(p, _cli.CliParser), f"pylib.bin.{name}: parser not made by _cli.new_parser"
    return mod, p


def _options(p):
    return {s: a for a in p._actions for s in a.option_strings}


def test_reference_covers_the_help_table():
    assert set(REFERENCE) | {"--log-level"} == set(_cli.HELP)


@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_entry_point_parser(name, capsys):
    mod, p = _parser(name)
    assert p.prog == f"python -m pylib.bin.{name}"
    assert p.description and p.description.strip()
    for a in p._actions:
        what = a.option_strings or [a.dest]
        assert isinstance(a.help, str) and a.help.strip() and a.help != argparse.SUPPRESS, (
            f"pylib.bin.{name} {what}: no help text"
        )
    opts = _options(p)
    for flag, a in opts.items():
        if flag in REFERENCE:
            ref = REFERENCE[flag]
            assert _signature(a) == _signature(ref), f"pylib.bin.{name} {flag} differs from _cli's"
            assert a.help.startswith(ref.help), f"pylib.bin.{name} {flag}: help not _cli's: {a.help!r}"
    assert "--log-level" in opts
    assert not {"--verbose", "--override"} & set(opts), f"pylib.bin.{name} keeps a retired flag"
    assert ("--set" in opts) == (name in READS_CONFIG | INFER_SETTINGS), name
    assert (name in READS_CONFIG) == ("--conf" in opts), name
    assert ("--subset" in opts) == (name in TAKES_SUBSET), name
    with pytest.raises(SystemExit) as e:
        mod.main(["--help"])
    assert e.value.code == 0
    assert f"usage: python -m pylib.bin.{name}" in capsys.readouterr().out


@pytest.mark.parametrize("name", sorted(READS_CONFIG | (INFER_SETTINGS & TAKES_SUBSET)))
def test_leftover_set_name_in_config_readers(name, capsys):
    """`--set train` (the old data-set flag) where --set overrides config keys: the fix is named."""
    _, p = _parser(name)
    with pytest.raises(SystemExit) as e:
        p.parse_args(["--conf" if name in READS_CONFIG else "--subset", "c.yaml", "--set", "train"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "--set takes key=value" in err and "the data set is --subset now" in err


@pytest.mark.parametrize("name", sorted(TAKES_SUBSET - READS_CONFIG - INFER_SETTINGS))
def test_leftover_set_name_without_config(name, capsys):
    _, p = _parser(name)
    with pytest.raises(SystemExit) as e:
        p.parse_args(["--subset", "eval", "--set", "train"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "reads no config" in err and "the data set is --subset now" in err


def test_set_overrides_and_subset_parse():
    _, p = _parser("make_lists")
    args = p.parse_args(["--conf", "c.yaml", "--subset", "dev", "--set", "data.min_len=3",
                         "--set=data.length_tolerance=2"])
    assert args.subset == "dev"
    assert args.overrides == ["data.min_len=3", "data.length_tolerance=2"]
    _, p = _parser("compute_stats")
    assert p.parse_args(["--conf", "c.yaml"]).subset is None


@pytest.mark.parametrize("argv, fix", [
    (["--verbose"], "--log-level debug"),
    (["--override", "data.min_len=3"], "--set KEY=VALUE"),
    (["--override=data.min_len=3"], "--set KEY=VALUE"),
])
def test_retired_flags_name_their_replacement(argv, fix, capsys):
    _, p = _parser("make_lists")
    with pytest.raises(SystemExit) as e:
        p.parse_args(["--conf", "c.yaml", "--subset", "dev", *argv])
    assert e.value.code == 2
    assert fix in capsys.readouterr().err


def test_no_abbreviations(capsys):
    """`--sub dev` is not taken for --subset: a flag is spelled out, so a new option cannot change
    what an old command line means."""
    _, p = _parser("make_lists")
    with pytest.raises(SystemExit):
        p.parse_args(["--conf", "c.yaml", "--sub", "dev"])
    assert "--sub" in capsys.readouterr().err


@pytest.mark.parametrize("text, ok", [
    ("auto", True), ("cpu", True), ("cuda", True), ("cuda:1", True), ("CUDA:0", True),
    ("gpu", False), ("cuda:", False), ("cuda:x", False), ("", False),
])
def test_device_values(text, ok):
    if ok:
        assert _cli.device(text) == text.lower()
    else:
        with pytest.raises(argparse.ArgumentTypeError, match="auto, cpu, cuda or cuda:N"):
            _cli.device(text)


def test_resolve_device(monkeypatch):
    import torch

    assert _cli.resolve_device("cuda:1") == "cuda:1"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert _cli.resolve_device("auto") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert _cli.resolve_device("auto") == "cuda"


@pytest.mark.parametrize("text", ["train", "=3", "a b=1", ""])
def test_override_values_refused(text):
    with pytest.raises(argparse.ArgumentTypeError, match="--set takes key=value"):
        _cli.override(text)


def test_train_refuses_an_indexed_gpu(capsys):
    """train places itself (DDP ranks take cuda:LOCAL_RANK): cuda:N is refused before any work."""
    from pylib.bin import train
    from pylib.errors import UserError

    with pytest.raises(UserError, match="CUDA_VISIBLE_DEVICES"):
        train.main(["--conf", "c.yaml", "--exp-dir", "e", "--device", "cuda:1"])


def test_parse_sets_log_level_and_threads(monkeypatch):
    import torch

    got = {}
    monkeypatch.setattr(torch, "set_num_threads", lambda n: got.setdefault("threads", n))
    monkeypatch.setattr(_cli, "setup_logging", lambda level: got.setdefault("level", level))
    _, p = _parser("infer")
    args = _cli.parse(p, ["--subset", "eval", "--num-threads", "3", "--log-level", "DEBUG"])
    assert args.log_level == "debug" and got == {"threads": 3, "level": "debug"}
    with pytest.raises(SystemExit):
        _cli.parse(p, ["--subset", "eval", "--num-threads", "-1"])


def test_setup_logging_levels(monkeypatch):
    seen = {}
    monkeypatch.setattr(logging, "basicConfig", lambda **kw: seen.update(kw))
    for name in _cli.LOG_LEVELS:
        _cli.setup_logging(name)
        assert seen["level"] == getattr(logging, name.upper())


def test_extract_features_applies_set(tmp_path):
    """extract_features reads --conf, so --set overrides a key of it like everywhere else."""
    import yaml

    from pylib.bin import extract_features
    from pylib.errors import ConfigError
    from pylib.features.toy_corpus import make_toy_corpus

    make_toy_corpus(tmp_path / "toy", 1, seed=3, min_dur=0.2, max_dur=0.2, progress=False)
    conf = tmp_path / "conf.yaml"
    mel = {"type": "logmel", "n_fft": 256, "hop": 80, "win_length": 256, "n_mels": 20}
    conf.write_text(yaml.safe_dump({"features": {"sample_rate": 16000, "extractors": {"mel": mel}}}))
    base = ["--conf", str(conf), "--wav-scp", str(tmp_path / "toy" / "wav.scp"), "--no-progress"]
    out = tmp_path / "dump"
    rc = extract_features.main([*base, "--out-dir", str(out), "--set", "features.extractors.mel.n_mels=8"])
    assert rc == 0
    assert yaml.safe_load((out / "features.yaml").read_text())["outputs"]["mel"]["dim"] == 8
    with pytest.raises(ConfigError, match=f"{re.escape(str(conf))}.*nosuch"):
        extract_features.main([*base, "--out-dir", str(tmp_path / "d2"), "--set", "nosuch.key=1"])


def test_chunk_seconds_default_is_the_engines():
    from pylib.bin import _cli
    from pylib.engine.longform import CHUNK_SECONDS

    p = _cli.new_parser("x", "x")
    _cli.add_chunk_seconds(p)
    assert p.parse_args([]).chunk_seconds == CHUNK_SECONDS
