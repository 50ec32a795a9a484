"""Helpers of the reliability suite: a tiny project on disk, stage runners, and the checks every
bad-input case makes (exit 2, one paragraph naming the file and the fix, no traceback, nothing
half-written)."""

import contextlib
import importlib
import io
import os
import re
import shutil
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from tests.conftest import sine

ROOT = Path(__file__).resolve().parents[2]
SR = 16000
TINY = "tests.reliability.tiny_model"
# NNSP_RELIABILITY_SUBPROCESS=1 runs every case as `python -m pylib.bin.<stage>` in a fresh process
# (about 3 s each on 2 cores); by default the cases call the same `run(main, argv)` the entry points
# call, in this process, and one case per stage runs as a real subprocess.
ALL_SUBPROCESS = os.environ.get("NNSP_RELIABILITY_SUBPROCESS") == "1"

# the figures the suite prints at the end (see conftest.py)
TALLY = {"bad": 0, "crash": 0, "fuzz": 0}

FEATURES = {
    "sample_rate": SR,
    "resample": False,
    "extractors": {
        "mel": {"type": "logmel", "n_fft": 512, "hop": 80, "win_length": 320, "n_mels": 20, "fmax": 8000},
        "wav": {"type": "wave", "format": "wav"},
    },
}
DATA = {  # sample rate, dims and hops: from FEATURES
    "inputs": [{"name": "mel", "norm": True}],
    "outputs": [{"name": "wav"}],
    "truncate": 1600,
    "min_len": 0,
    "batch_size": 2,
    "train": [{"root": "train"}],
}
MODEL = {"name": "tiny_reg", "hidden": 8}  # its input dim: from the spec
OPTIM = {"model": {"type": "adam", "lr": 0.01}}
TRAIN = {
    "epochs": 3,
    "save_every_steps": 2,
    "log_every": 1,
    "keep_last_epochs": 1,
    "tensorboard": False,
    "curves": False,
    "seed": 0,
    "device": "cpu",
}


def config(**sections):
    cfg = {"features": FEATURES, "data": DATA, "model": MODEL, "optim": OPTIM, "train": TRAIN}
    cfg = yaml.safe_load(yaml.safe_dump(cfg))  # deep copy
    for k, v in sections.items():
        cfg[k] = v
    return cfg


def write_yaml(path, data):
    Path(path).write_text(yaml.safe_dump(data, sort_keys=False))
    return Path(path)


@dataclass
class Project:
    """A recipe folder in miniature: data/<set>/, dump/<set>/, conf.yaml."""

    root: Path

    @property
    def conf(self):
        return self.root / "conf.yaml"

    def data(self, s="train"):
        return self.root / "data" / s

    def dump(self, s="train"):
        return self.root / "dump" / s

    def wav(self, utt, s="train"):
        return self.data(s) / "wavs" / f"{utt}.wav"

    def ids(self, s="train"):
        return sorted(p.stem for p in (self.data(s) / "wavs").glob("*.wav"))


def build_project(root, n=6, sets=("train",)):
    """Sine utterances (0.3-0.55 s), tables, features, lists and statistics, built in-process."""
    from pylib.data import stats
    from pylib.data.lists import make_list
    from pylib.data.spec import spec_from_config
    from pylib.features.extract import extract_job
    from pylib.io import write_table, write_wav

    proj = Project(Path(root))
    proj.root.mkdir(parents=True, exist_ok=True)
    write_yaml(proj.conf, config())
    for s in sets:
        scp = {}
        for i in range(n):
            utt = f"spk1_{s}{i:02d}"
            path = proj.wav(utt, s)
            write_wav(path, SR, sine(150 + 40 * i, seconds=0.3 + 0.05 * i))
            scp[utt] = str(path)
        write_table(proj.data(s) / "wav.scp", scp)
        write_table(proj.data(s) / "utt2spk", {u: "spk1" for u in scp})
        write_table(
            proj.data(s) / "utt2label", {u: "bonafide" if i % 2 else "spoof A01" for i, u in enumerate(scp)}
        )
        extract_job(FEATURES, proj.data(s) / "wav.scp", proj.dump(s), progress=False)
        spec = spec_from_config(config(), proj.root / "dump")
        make_list(spec, proj.root / "dump", s, spec.features)
    spec = spec_from_config(config(), proj.root / "dump")
    stats.write_stats(spec, proj.root / "dump", stats.accumulate(spec, proj.root / "dump", spec.train))
    return proj


def copy_project(src, dst):
    """A copy of `src` at `dst` whose wav.scp files point at the copy's wavs."""
    shutil.copytree(src.root, dst, symlinks=True)
    for scp in Path(dst).glob("data/*/wav.scp"):
        scp.write_text(scp.read_text().replace(str(src.root), str(dst)))
    return Project(Path(dst))


@dataclass
class Result:
    code: int
    out: str
    err: str


def run_stage(stage, *args, subprocess_=None, env=None, timeout=120):
    """Run entry point `pylib.bin.<stage>` with args; -> Result(exit code, stdout, stderr)."""
    args = [str(a) for a in args]
    if subprocess_ or (subprocess_ is None and ALL_SUBPROCESS):
        full_env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), **(env or {})}
        r = subprocess.run(
            [sys.executable, "-m", f"pylib.bin.{stage}", *args],
            cwd=ROOT,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return Result(r.returncode, r.stdout, r.stderr)
    from pylib.bin._cli import run

    mod = importlib.import_module(f"pylib.bin.{stage}")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            run(mod.main, args)
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except Exception:  # what the interpreter would print for a bug
            traceback.print_exc()
            code = 1
    return Result(code, out.getvalue(), err.getvalue())


# words a message uses to say how to fix the problem
FIX_WORDS = re.compile(
    r"\b(rerun|run|re-?extract|convert|drop|rename|delete|check|re-?save|sort|use|set|fix|pass|add|"
    r"remove|free|copy|give|mix|pick|resample|train|update|regenerate|expected|must|known|continue|start)\b",
    re.I,
)


def train_tiny(conf, root, exp_dir, *extra, **kw):
    """`train` of the tiny registered model on the project at `root` (its dump/), on CPU."""
    return run_stage(
        "train", "--conf", conf, "--data-dir", Path(root) / "dump", "--exp-dir", exp_dir,
        "--import", TINY, "--device", "cpu", *extra, **kw,
    )


def error_paragraph(r):
    """The `error: ...` paragraph of stderr (the entry points' one-paragraph user error)."""
    assert "error:" in r.err, (
        f"no 'error:' line (exit {r.code}):\nstdout: {r.out[-1500:]}\nstderr: {r.err[-3000:]}"
    )
    return r.err[r.err.rindex("error:") :].strip()


def assert_user_error(r, *names):
    """Exit 2, no traceback, one paragraph on stderr naming each of `names` and saying what to do."""
    assert "Traceback" not in r.err, r.err[-4000:]
    assert r.code == 2, f"exit {r.code}, expected 2:\nstdout: {r.out[-1500:]}\nstderr: {r.err[-3000:]}"
    msg = error_paragraph(r)
    assert "\n\n" not in msg, msg
    flat = " ".join(msg.split())
    for n in names:
        assert str(n) in flat, f"{n!r} not named in: {flat}"
    assert FIX_WORDS.search(flat), f"no fix in: {flat}"
    return flat


def hidden_leftovers(*dirs):
    """Temp files (`.name.XXXX.tmp` of pylib.io.atomic and the like) under `dirs`."""
    out = []
    for d in dirs:
        d = Path(d)
        if d.is_dir():
            out += [p for p in d.rglob(".*") if p.is_file() and p.name != ".lengths.json"]
    return out


def assert_outputs_valid(*dirs, dim=20, skip=()):
    """No temp files under `dirs`, and every feature, wave, table, yaml and checkpoint there reads
    (except the damaged inputs in `skip`)."""
    import torch

    from pylib.config import load_yaml
    from pylib.io import read_f4, read_list, read_table, read_wav

    assert not hidden_leftovers(*dirs), hidden_leftovers(*dirs)
    for d in dirs:
        d = Path(d)
        if not d.is_dir():
            continue
        for p in d.rglob("*"):
            if not p.is_file() or p in {Path(x) for x in skip}:
                continue
            if p.suffix == ".wav":
                read_wav(p)
            elif p.suffix == ".f4":
                read_f4(p, dim if p.parent.name == "mel" else 1)
            elif p.suffix == ".pt":
                torch.load(p, map_location="cpu", weights_only=True)
            elif p.suffix == ".yaml":
                load_yaml(p)
            elif p.suffix == ".lst":
                read_list(p, require_nonempty=False)
            elif p.name in ("utt2num_frames", "scores.txt", "wav.scp") or p.name.endswith(".txt"):
                read_table(p, allow_empty_value=True)


def wav_bytes(data=None, sr=SR, subtype="PCM_16", channels=1, fmt="WAV"):
    """Bytes of a valid audio file holding `data` (a 0.2 s sine by default)."""
    import soundfile as sf

    x = sine(330, sr=sr, seconds=0.2) if data is None else data
    if channels > 1:
        x = np.stack([x] * channels, axis=1)
    buf = io.BytesIO()
    sf.write(buf, x, sr, subtype=subtype, format=fmt)
    return buf.getvalue()
