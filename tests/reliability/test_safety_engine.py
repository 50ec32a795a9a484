"""Issue 12, engine side: no code from data files, inference provenance, one writer per folder,
strict configs, partial failure in inference, non-UTF-8 yaml.

Each case runs the entry points on a copy of the tiny recipe folder (or the shared one, read-only)
and checks the named error (exit 2, one paragraph) or the kept results.
"""

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch
import yaml

from pylib.errors import UserError
from tests.reliability.common import (
    ROOT,
    TINY,
    assert_user_error,
    config,
    copy_project,
    run_stage,
    train_tiny,
    write_yaml,
)

LOCK_NAME = ".nnsp.lock"  # pylib.engine.lock.LOCK_NAME (imported in the tests, so that each one
# fails on its own where the module is missing)


class Payload:
    """Pickled, it calls exec on code that creates `marker`: what a planted checkpoint could run."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').close()",))


@pytest.fixture(scope="module")
def trained(base_project, tmp_path_factory):
    """A finished 1-epoch run of the tiny model on the shared project, and its model.pt."""
    exp = tmp_path_factory.mktemp("safe") / "exp"
    r = train_tiny(base_project.conf, base_project.root, exp, "--set", "train.epochs=1")
    assert r.code == 0, r.err[-3000:]
    r = run_stage("export_model", exp, exp / "model.pt")
    assert r.code == 0, r.err[-3000:]
    return exp


def _infer(proj_root, out, *extra, checkpoint=None, exp=None):
    args = ["--data-dir", proj_root / "dump", "--subset", "train", "--out-dir", out, "--import", TINY]
    if exp is not None:
        args += ["--exp-dir", exp]
    if checkpoint is not None:
        args += ["--checkpoint", checkpoint]
    return run_stage("infer", *args, *extra)


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------- 1. no code from data files


def _evil_copy(src, dst, marker):
    blob = torch.load(src, map_location="cpu", weights_only=True)
    blob["notes"] = Payload(marker)
    torch.save(blob, dst)
    return dst


def test_the_payload_is_live(trained, tmp_path):
    """The planted file does run its code under a plain torch.load (so the cases below mean something)."""
    marker = tmp_path / "ran"
    evil = _evil_copy(trained / "checkpoint_last.pt", tmp_path / "evil.pt", marker)
    torch.load(evil, map_location="cpu", weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize(
    "how",
    ["init_from", "resume_path", "resume_auto", "infer", "infer_model_pt", "export_model", "load_model"],
)
def test_pickled_payload_never_runs(base_project, trained, tmp_path, how):
    marker = tmp_path / "ran"
    src = trained / ("model.pt" if how in ("infer_model_pt", "load_model") else "checkpoint_last.pt")
    exp = tmp_path / "exp"
    evil = _evil_copy(src, tmp_path / "evil.pt", marker)
    root = base_project.root
    if how == "init_from":
        r = train_tiny(base_project.conf, root, exp, "--init-from", evil)
    elif how == "resume_path":
        r = train_tiny(base_project.conf, root, exp, "--resume", evil)
    elif how == "resume_auto":  # planted as checkpoint_last.pt of the exp dir
        exp.mkdir()
        evil = _evil_copy(src, exp / "checkpoint_last.pt", marker)
        r = train_tiny(base_project.conf, root, exp)
    elif how in ("infer", "infer_model_pt"):
        r = _infer(root, tmp_path / "out", checkpoint=evil)
    elif how == "export_model":
        r = run_stage("export_model", tmp_path, tmp_path / "model.pt", "--checkpoint", evil)
    else:
        import pylib

        with pytest.raises(UserError, match="refused") as e:
            pylib.load_model(evil)
        assert "weights_only" not in str(e.value)
        assert not marker.exists()
        return
    msg = assert_user_error(r, evil, "refused", "pickled")
    assert "weights_only" not in msg  # never a hint to turn the protection off
    assert not marker.exists()
    assert not (tmp_path / "model.pt").exists()


def test_nnsp_files_hold_tensors_and_plain_values_only(trained):
    from pylib.engine.checkpoint import check_plain

    for p in sorted(trained.glob("*.pt")):
        check_plain(torch.load(p, map_location="cpu", weights_only=True), p.name)
    with pytest.raises(TypeError, match="not a tensor or plain value"):
        check_plain({"rng": [1, {"x": object()}]})


def test_export_refuses_to_overwrite_its_checkpoint(trained, tmp_path):
    exp = tmp_path / "exp"
    exp.mkdir()
    ck = exp / "checkpoint_last.pt"
    ck.write_bytes((trained / "checkpoint_last.pt").read_bytes())
    before = _sha(ck)
    r = run_stage("export_model", exp, ck, "--checkpoint", "last")
    assert_user_error(r, ck)
    assert _sha(ck) == before


# ---------------------------------------------------------------- 3. inference provenance


def test_infer_records_the_checkpoint(base_project, trained, tmp_path):
    out = tmp_path / "out"
    r = _infer(base_project.root, out, exp=trained)
    assert r.code == 0, r.err[-3000:]
    rec = json.loads((out / "infer_source.json").read_text())
    assert rec["sha256"] == _sha(trained / "checkpoint_best.pt") and rec["set"] == "train"
    assert not (out / LOCK_NAME).exists()  # released


def test_infer_redoes_outputs_of_another_checkpoint(base_project, trained, tmp_path):
    out = tmp_path / "out"
    assert _infer(base_project.root, out, exp=trained).code == 0
    scores = (out / "scores.txt").read_text().splitlines()
    first = scores[0].split()[0]
    (out / "scores.txt").write_text("\n".join([f"{first} 999.0"] + scores[1:]) + "\n")  # a stale result
    r = _infer(base_project.root, out, checkpoint=trained / "model.pt")  # another checkpoint file
    assert r.code == 0, r.err[-3000:]
    new = dict(line.split() for line in (out / "scores.txt").read_text().splitlines())
    assert len(new) == len(scores) and float(new[first]) != 999.0  # every output redone
    assert json.loads((out / "infer_source.json").read_text())["sha256"] == _sha(trained / "model.pt")


def test_infer_refuses_unrecorded_outputs_unless_overwrite(base_project, trained, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "scores.txt").write_text("spk1_train00 0.5\n")  # written by someone, from something
    r = _infer(base_project.root, out, exp=trained)
    assert_user_error(r, out, "--overwrite")
    assert (out / "scores.txt").read_text() == "spk1_train00 0.5\n"
    r = _infer(base_project.root, out, "--overwrite", exp=trained)
    assert r.code == 0, r.err[-3000:]
    assert (tmp_path / "out.1" / "scores.txt").read_text() == "spk1_train00 0.5\n"  # moved, not deleted
    assert len((out / "scores.txt").read_text().splitlines()) == 6


@pytest.mark.parametrize("where", ["input_set", "checkpoint_folder"])
def test_infer_never_writes_into_its_inputs(base_project, trained, tmp_path, where):
    if where == "input_set":
        out, exp = base_project.dump("train") / "mel", trained
    else:
        exp = out = _copy_run(trained, tmp_path / "exp")
    before = {p.name: _sha(p) for p in out.iterdir()}
    r = _infer(base_project.root, out, "--overwrite", exp=exp)
    assert_user_error(r, out, "--out-dir")
    assert {p.name: _sha(p) for p in out.iterdir()} == before


@pytest.mark.parametrize("stage", ["score_cm", "score_vocoder"])
def test_stage5_refuses_outputs_of_another_checkpoint(base_project, trained, tmp_path, stage):
    out = tmp_path / "out"
    assert _infer(base_project.root, out, checkpoint=trained / "model.pt").code == 0
    if stage == "score_cm":
        args = ["--scores", out / "scores.txt", "--labels", base_project.data() / "utt2label"]
    else:
        args = ["--gen-dir", out, "--ref-dir", base_project.dump() / "wav", "--no-progress"]
    r = run_stage(stage, *args, "--exp-dir", trained, "--checkpoint", "best")
    assert_user_error(r, "model.pt", "checkpoint_best.pt", "stage 4")
    if stage == "score_cm":  # the checkpoint that did write them is accepted
        r = run_stage(stage, *args, "--checkpoint", trained / "model.pt")
        assert r.code == 0, r.err[-3000:]
        assert "EER" in r.out


# ---------------------------------------------------------------- 4. one writer per folder


def _hold_lock_in_subprocess(folder, then="sleep"):
    """A python process that takes the lock on `folder`; then sleeps (kill it) or SIGKILLs itself."""
    code = (
        "import os, sys, time\n"
        "from pylib.engine.lock import DirLock\n"
        f"DirLock({str(folder)!r}, 'training').acquire()\n"
        "print('held', flush=True)\n"
        + ("os.kill(os.getpid(), 9)\n" if then == "die" else "time.sleep(60)\n")
    )
    p = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert p.stdout.readline().strip() == "held"
    return p


@pytest.mark.parametrize("stage", ["train", "infer"])
def test_second_writer_gets_a_named_error(base_project, trained, tmp_path, stage):
    folder = tmp_path / "busy"
    holder = _hold_lock_in_subprocess(folder)
    try:
        if stage == "train":
            r = train_tiny(base_project.conf, base_project.root, folder)
        else:
            r = _infer(base_project.root, folder, exp=trained)
        assert_user_error(r, folder, f"pid {holder.pid}", socket.gethostname())
        assert sorted(p.name for p in folder.iterdir()) == [LOCK_NAME]  # nothing written
    finally:
        holder.kill()
        holder.wait()


def test_lock_of_a_dead_holder_is_broken(tmp_path):
    from pylib.engine.lock import DirLock

    holder = _hold_lock_in_subprocess(tmp_path / "d", then="die")
    holder.wait()
    assert holder.returncode == -signal.SIGKILL
    assert (tmp_path / "d" / LOCK_NAME).exists()  # left behind by the killed holder
    with DirLock(tmp_path / "d", "training"):
        info = json.loads((tmp_path / "d" / LOCK_NAME).read_text())
        assert info["pid"] == os.getpid() and info["host"] == socket.gethostname()
        with pytest.raises(UserError, match=f"pid {os.getpid()}"):  # a second taker in this process
            DirLock(tmp_path / "d", "inference").acquire()
    assert not (tmp_path / "d" / LOCK_NAME).exists()  # released on exit


def test_lock_released_when_the_run_fails(base_project, tmp_path):
    from pylib.engine.lock import DirLock

    exp = tmp_path / "exp"
    conf = write_yaml(tmp_path / "c.yaml", config())
    r = train_tiny(conf, base_project.root, exp, "--init-from", tmp_path / "missing.pt")  # fails locked
    assert_user_error(r, "missing.pt")
    assert not (exp / LOCK_NAME).exists()
    DirLock(exp, "training").acquire().release()  # free for the next run


def _copy_run(trained, dst):
    dst.mkdir(parents=True)
    for p in trained.iterdir():
        if p.is_file() and p.suffix in (".pt", ".yaml") and p.name != "model.pt":
            (dst / p.name).write_bytes(p.read_bytes())
    return dst


def test_rerun_with_another_config_prints_the_differing_keys(base_project, trained, tmp_path):
    exp = _copy_run(trained, tmp_path / "exp")
    before = (exp / "config.yaml").read_text()
    r = train_tiny(base_project.conf, base_project.root, exp, "--set", "train.epochs=1",
                   "--set", "optim.model.lr=0.02", "--set", "data.batch_size=3")
    msg = assert_user_error(r, exp / "checkpoint_last.pt", "optim.model.lr", "data.batch_size")
    assert "0.01" in msg and "0.02" in msg
    assert (exp / "config.yaml").read_text() == before
    # how long it runs may change: one more epoch continues the run
    r = train_tiny(base_project.conf, base_project.root, exp, "--set", "train.epochs=2")
    assert r.code == 0, r.err[-3000:]
    assert torch.load(exp / "checkpoint_last.pt", weights_only=True)["epoch"] == 2


def test_resume_none_refused_then_overwrite_moves_the_old_run_aside(base_project, trained, tmp_path):
    exp = _copy_run(trained, tmp_path / "exp")
    (exp / "log").mkdir()
    (exp / "log" / "train.log").write_text("launcher log\n")
    old = {p.name: _sha(p) for p in exp.glob("*.pt")}
    r = train_tiny(base_project.conf, base_project.root, exp, "--set", "train.epochs=1", "--resume", "none")
    assert_user_error(r, exp, "--overwrite")
    assert {p.name: _sha(p) for p in exp.glob("*.pt")} == old
    r = train_tiny(base_project.conf, base_project.root, exp, "--set", "train.epochs=1", "--overwrite")
    assert r.code == 0, r.err[-3000:]
    assert {p.name: _sha(p) for p in (tmp_path / "exp.1").glob("*.pt")} == old  # kept, whole
    assert (exp / "log" / "train.log").read_text() == "launcher log\n"  # the launcher's log stays
    assert (exp / "checkpoint_last.pt").is_file()


def test_pruning_removes_only_this_runs_checkpoints(base_project, trained, tmp_path):
    exp = tmp_path / "exp"
    exp.mkdir()
    foreign = exp / "checkpoint_epoch0005.pt"  # an earlier run's, newer by number
    foreign.write_bytes((trained / "checkpoint_last.pt").read_bytes())
    r = train_tiny(base_project.conf, base_project.root, exp, "--set", "train.epochs=2",
                   "--set", "train.keep_last_epochs=1")
    assert r.code == 0, r.err[-3000:]
    assert sorted(p.name for p in exp.glob("checkpoint_epoch*")) == [
        "checkpoint_epoch0002.pt",
        "checkpoint_epoch0005.pt",
    ]
    assert _sha(foreign) == _sha(trained / "checkpoint_last.pt")


# ---------------------------------------------------------------- 6. strict configs, 10. non-UTF-8


def _conf_text(tmp_path, text):
    p = tmp_path / "conf.yaml"
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return p


def _good_yaml():
    return yaml.safe_dump(config(), sort_keys=False)


BAD_TEXT = {
    "misspelt_section": (lambda t: t.replace("train:", "trian:"), ["trian", "did you mean 'train'"]),
    "unknown_section": (lambda t: t + "scoring: {x: 1}\n", ["scoring", "data, features, model"]),
    "duplicated_section": (lambda t: t + "train: {epochs: 1}\n", ["'train' is written twice"]),
    "duplicated_key": (
        lambda t: t.replace("  epochs: 3\n", "  epochs: 3\n  epochs: 4\n"),
        ["'epochs' is written twice", "lines"],
    ),
    "misspelt_key": (lambda t: t.replace("  epochs: 3\n", "  epocs: 3\n"), ["did you mean 'epochs'"]),
    "not_utf8": (lambda t: t.encode() + "# caf\xe9\n".encode("latin-1"), ["not UTF-8", "line"]),
}


@pytest.mark.parametrize("case", sorted(BAD_TEXT))
def test_config_text_is_strict(base_project, tmp_path, case):
    edit, words = BAD_TEXT[case]
    conf = _conf_text(tmp_path, edit(_good_yaml()))
    r = train_tiny(conf, base_project.root, tmp_path / "exp")
    assert_user_error(r, conf, *words)
    assert not (tmp_path / "exp").exists() or not list((tmp_path / "exp").iterdir())


BAD_VALUES = {
    "lr_overflow": ("optim.model.lr=1e999", "optim.model.lr"),
    "lr_nan": ("optim.model.lr=.nan", "optim.model.lr"),
    "lr_zero": ("optim.model.lr=0", "optim.model.lr"),
    "lr_negative": ("optim.model.lr=-0.1", "optim.model.lr"),
    "seed_negative": ("train.seed=-1", "train.seed"),
    "seed_too_big": ("train.seed=4294967296", "train.seed"),
    "epochs_zero": ("train.epochs=0", "train.epochs"),
    "max_steps_negative": ("train.max_steps=-5", "train.max_steps"),
    "grad_accum_zero": ("train.grad_accum=0", "train.grad_accum"),
    "momentum_negative": ("optim.model.momentum=-1", "optim.model.momentum"),
    "override_adds_a_section": ("trian=3", "did you mean 'train'"),
}


@pytest.mark.parametrize("case", sorted(BAD_VALUES))
def test_bad_values_name_the_key(base_project, tmp_path, case):
    override, key = BAD_VALUES[case]
    conf = write_yaml(tmp_path / "conf.yaml", config())
    r = train_tiny(conf, base_project.root, tmp_path / "exp", "--set", override)
    assert_user_error(r, key)
    assert not list((tmp_path / "exp").glob("*.pt")) if (tmp_path / "exp").exists() else True


def test_a_wholly_non_finite_epoch_blames_the_lr_and_the_data(tmp_path):
    from tests.engine.common import make_config, train_inproc

    conf = make_config(
        tmp_path,
        model={"nan_at_steps": list(range(20))},
        train={"epochs": 2, "max_nan_in_row": 100},
    )
    with pytest.raises(UserError) as e:
        train_inproc(conf, tmp_path / "exp")
    msg = str(e.value)
    assert "non-finite" in msg and "learning rate" in msg and "optim.model.lr" in msg and "data" in msg
    assert "best_metric" not in msg


# ---------------------------------------------------------------- 7. partial failure in inference


def _break_feature(proj, utt):
    """NaN values in one feature file (same size: only reading it finds out)."""
    import numpy as np

    path = proj.dump() / "mel" / f"{utt}.f4"
    x = np.fromfile(path, dtype="<f4")
    x[len(x) // 2] = np.nan
    x.tofile(path)
    return path


def test_infer_keeps_results_before_a_bad_file_and_skip_bad_lists_it(base_project, trained, tmp_path):
    proj = copy_project(base_project, tmp_path / "proj")
    bad_utt = proj.ids()[0]  # the shortest: read last (inference goes longest first)
    bad_path = _break_feature(proj, bad_utt)
    out = tmp_path / "out"
    r = _infer(proj.root, out, exp=trained)
    assert_user_error(r, bad_path, "--skip-bad")
    kept = dict(line.split() for line in (out / "scores.txt").read_text().splitlines())
    assert len(kept) == 5 and bad_utt not in kept  # every other utterance, its batch-mate included
    r = _infer(proj.root, out, "--skip-bad", exp=trained)
    assert r.code == 0, r.err[-3000:]
    after = dict(line.split() for line in (out / "scores.txt").read_text().splitlines())
    assert after == kept  # resumed: nothing redone
    lines = (out / "bad_files.txt").read_text().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{bad_utt} ") and str(bad_path) in lines[0]


def test_lock_waits_for_nobody_after_a_kill(base_project, trained, tmp_path):
    """A killed inference leaves its lock file; the rerun takes it over and finishes."""
    out = tmp_path / "out"
    out.mkdir()
    holder = _hold_lock_in_subprocess(out, then="die")
    holder.wait()
    t0 = time.time()
    r = _infer(base_project.root, out, exp=trained)
    assert r.code == 0, r.err[-3000:]
    assert time.time() - t0 < 60 and not (out / LOCK_NAME).exists()


@pytest.mark.parametrize("stage", ["extract_features", "make_lists", "compute_stats"])
def test_data_stages_refuse_a_misspelt_section_too(base_project, tmp_path, stage):
    """Stages 1-2 read the same recipe yaml as train: a misspelt section is an error there as well."""
    conf = _conf_text(tmp_path, _good_yaml().replace("train:", "trian:"))
    args = {
        "extract_features": ["--wav-scp", base_project.data("train") / "wav.scp",
                             "--out-dir", tmp_path / "out"],
        "make_lists": ["--data-dir", base_project.root / "dump", "--subset", "train"],
        "compute_stats": ["--data-dir", base_project.root / "dump"],
    }[stage]
    r = run_stage(stage, "--conf", conf, *args)
    assert_user_error(r, conf, "trian", "did you mean 'train'")
    assert not (tmp_path / "out").exists()
