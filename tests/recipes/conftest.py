"""Shared fixtures of the recipe tests: a recipe copied under a temporary folder, run once per session.

Each end-to-end fixture runs one recipe's stages 0-5 once (session scope) in a copy of its folder
(the repository's recipe folder stays clean), and the tests of that recipe inspect the result. A
test that reruns a stage works on a `clone` of the finished copy, so the shared run stays as the
fixture left it. The copy holds run.sh, path.sh, cmd.sh, conf/ and local/; its links (utils, voc.sh
or cm.sh) point at the repository's files, through which path.sh finds the repository.
"""

import json
import math
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT

TIMEOUT_S = 600  # a hung stage fails the test instead of the suite
RUN_DIRS = ("data", "dump", "exp", "downloads")  # what a run writes: never copied from the repository
STAGE_SCRIPTS = ("voc.sh", "cm.sh")  # egs/TEMPLATE/{voc1,cm1}/: every recipe links them


@dataclass
class RecipeRun:
    """A finished run: the recipe copy, the arguments given to run.sh and what it printed."""

    recipe: Path
    args: tuple
    out: str

    @property
    def exp(self):
        return self.recipe / "exp" / "debug"


def copy_recipe(src, dst):
    """The recipe folder `src` (a Path below egs/) -> `dst` without data/, dump/, exp/ and downloads/;
    links are made again to what they point at, so a copy anywhere finds utils/ and the stage scripts
    (a copy of a template links its voc.sh or cm.sh, as a new recipe does)."""
    dst.mkdir(parents=True)
    for entry in sorted(src.iterdir()):
        if entry.name in RUN_DIRS:
            continue
        if entry.is_symlink() or entry.name in STAGE_SCRIPTS:  # a template's own script is linked too
            os.symlink(entry.resolve(), dst / entry.name)
        elif entry.is_dir():
            shutil.copytree(entry, dst / entry.name, symlinks=True)
        else:
            shutil.copy2(entry, dst / entry.name)
    return dst


def clone(run, dst):
    """A copy of a finished run's folder, outputs included, for a test that reruns a stage."""
    shutil.copytree(run.recipe, dst, symlinks=True)
    return dst


def run_script(recipe, script, *args, check=True):
    """./<script> args in `recipe` -> CompletedProcess; with check, fails with the end of the output."""
    r = subprocess.run([f"./{script}", *args], cwd=recipe, env=dict(os.environ), capture_output=True,
                       text=True, timeout=TIMEOUT_S)
    if check:
        tail = f"{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
        assert r.returncode == 0, f"{script} {' '.join(args)} failed ({r.returncode}):\n{tail}"
    return r


def run_recipe(recipe, *args):
    """./run.sh args in `recipe` -> its standard output; fails with the end of the output."""
    return run_script(recipe, "run.sh", *args).stdout


def run_once(tmp_path_factory, src, *args, name=None, prepare=None):
    """Copies egs/<src> to a fresh folder, lets `prepare(folder)` add to it, runs ./run.sh args once."""
    base = tmp_path_factory.mktemp(name or src.replace("/", "_"))
    recipe = copy_recipe(ROOT / "egs" / src, base / "recipe")
    if prepare is not None:
        prepare(recipe)
    return RecipeRun(recipe, args, run_recipe(recipe, *args))


def assert_stages(out, stages=range(6)):
    """Each stage announced itself, and no other stage ran."""
    for stage in range(6):
        assert (f"Stage {stage}:" in out) == (stage in stages), (stage, out[-2000:])


def finite_numbers(obj):
    """Every int/float leaf of a JSON object (None leaves are skipped), as a flat list."""
    if isinstance(obj, dict):
        return [x for v in obj.values() for x in finite_numbers(v)]
    if isinstance(obj, list):
        return [x for v in obj for x in finite_numbers(v)]
    if isinstance(obj, (int, float)) and not isinstance(obj, bool):
        return [obj]
    return []


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def is_finite(x):
    return isinstance(x, (int, float)) and math.isfinite(x)


# A fake CMU ARCTIC corpus with the festvox layout, for the egs/cmu_arctic recipes: one prompt per
# set of their split (train a0001, dev b0464, test b0474).
ARCTIC_SPEAKERS = ("slt", "bdl", "rms", "clb")
ARCTIC_PROMPTS = ("arctic_a0001", "arctic_b0464", "arctic_b0474")


def fake_arctic(root, speakers=ARCTIC_SPEAKERS, prompts=ARCTIC_PROMPTS, seconds=0.6):
    """root/cmu_us_<spk>_arctic/wav/<prompt>.wav toy utterances at 16 kHz -> root; seconds: one
    length for all, or {prompt: length} (a short test set keeps sample-by-sample generation cheap)."""
    from pylib.features.toy_corpus import make_speakers, synth_utterance
    from pylib.io import write_wav

    voices = make_speakers(len(speakers), seed=3)
    for i, spk in enumerate(speakers):
        wav_dir = root / f"cmu_us_{spk}_arctic" / "wav"
        wav_dir.mkdir(parents=True)
        for j, prompt in enumerate(prompts):
            length = seconds[prompt] if isinstance(seconds, dict) else seconds
            wave, _ = synth_utterance(voices[i], length, seed=100 * i + j, sample_rate=16000)
            write_wav(wav_dir / f"{prompt}.wav", 16000, wave)
    return root


# The end-to-end runs, one per recipe; every one uses the recipe's conf/debug.yaml and one job per set.
# Small corpora and one spectrogram plot keep them short; what each test checks is in its module.
QUICK = ("--conf", "conf/debug.yaml", "--nj", "1", "--num-threads", "1")
_SESSION_RUNS = {}


def once_per_session(key, make):
    """make() the first time `key` is asked for, its result after that: tests/cluster imports the
    fixtures below to run the same recipes through Slurm, pytest then holds one fixture per importing
    module, and the recipe must still run once."""
    if key not in _SESSION_RUNS:
        _SESSION_RUNS[key] = make()
    return _SESSION_RUNS[key]


@pytest.fixture(scope="session")
def toy_nsf_run(tmp_path_factory):
    """Stages 0-2 only: stages 3-5 with this config on toy wavs are the worked example's run
    (test_stage_scripts.py), so they are not run twice."""
    return once_per_session("toy_nsf", lambda: run_once(
        tmp_path_factory, "toy/nsf", *QUICK, "--num-utts", "8", "--num-test-utts", "3", "--stop-stage", "2"))


@pytest.fixture(scope="session")
def toy_lcnn_run(tmp_path_factory):
    return once_per_session("toy_lcnn", lambda: run_once(
        tmp_path_factory, "toy/lcnn", *QUICK, "--num-utts", "4", "--num-test-utts", "2"))
