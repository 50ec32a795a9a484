"""The shared stage scripts (egs/TEMPLATE/voc1/voc.sh, cm1/cm.sh) and the recipe templates.

- every setting of voc.sh / cm.sh (those of stages.sh and their own) is an option listed in --help;
- every recipe links the stage script of its family and the shared utils/;
- the templates' stage 0 names the data file that is missing;
- the worked example of docs/recipes.md, "a new vocoder recipe for corpus X", made from the template
  exactly as the page says and run through stages 0-5 with the toy debug config (the only run of
  stages 3-5 with that config), and stage 3 of it rerun alone.
"""

import re
import shutil

import pytest
import torch

from pylib.bin import make_toy_corpus
from pylib.io import read_table
from tests.conftest import ROOT
from tests.recipes.conftest import (
    assert_stages,
    clone,
    copy_recipe,
    is_finite,
    read_json,
    run_once,
    run_recipe,
    run_script,
)

TEMPLATE = ROOT / "egs" / "TEMPLATE"
FAMILIES = {"voc": TEMPLATE / "voc1" / "voc.sh", "cm": TEMPLATE / "cm1" / "cm.sh"}
RECIPES = {"toy/nsf": "voc", "toy/lcnn": "cm", "cmu_arctic/nsf": "voc", "cmu_arctic/wavenet": "voc",
           "cmu_arctic/waveglow": "voc", "cmu_arctic/ilpcnet": "voc", "ljspeech/hifigan": "voc",
           "asvspoof2019_la/lcnn": "cm"}


def settings(path):
    """Names of the settings a script declares at the top level (`name=value  # comment`)."""
    text = path.read_text()
    return [m.group(1) for m in re.finditer(r"^([a-z_]+)=\S*\s+#", text, re.M)]


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_help_lists_every_option(family):
    script = FAMILIES[family]
    names = settings(TEMPLATE / "stages.sh") + settings(script)
    assert {"stage", "stop_stage", "conf", "tag", "nj", "train_set", "dev_set", "eval_sets", "checkpoint",
            "train_opts", "num_threads"} <= set(names)
    r = run_script(script.parent, script.name, "--help")
    options = set(re.findall(r"^  (--[a-z-]+)", r.stdout, re.M))
    assert options == {"--" + n.replace("_", "-") for n in names}, r.stdout
    # a recipe's run.sh shows them too, with its own defaults
    r = run_script(ROOT / "egs" / "toy" / ("nsf" if family == "voc" else "lcnn"), "run.sh", "--help")
    assert options <= set(re.findall(r"^  (--[a-z-]+)", r.stdout, re.M))
    assert "--conf FILE        the recipe config (default: conf/" in r.stdout


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_recipe_links_the_shared_scripts(recipe):
    folder = ROOT / "egs" / recipe
    script = folder / f"{RECIPES[recipe]}.sh"
    assert script.is_symlink() and script.resolve() == FAMILIES[RECIPES[recipe]]
    assert (folder / "utils").resolve() == ROOT / "utils"
    text = (folder / "run.sh").read_text()
    assert "docs/DESIGN.md" in text and f"run_stages ./{RECIPES[recipe]}.sh" in text


@pytest.mark.parametrize("recipe", [*sorted(RECIPES), "TEMPLATE/voc1", "TEMPLATE/cm1"])
def test_run_sh_help_lists_every_setting(recipe):
    folder = ROOT / "egs" / recipe
    r = run_script(folder, "run.sh", "--help")
    options = set(re.findall(r"^  (--[a-z-]+)", r.stdout, re.M))
    assert {"--" + n.replace("_", "-") for n in settings(folder / "run.sh")} <= options, r.stdout


def test_bad_options_are_refused(tmp_path):
    recipe = copy_recipe(ROOT / "egs" / "toy" / "nsf", tmp_path / "nsf")
    r = run_script(recipe, "voc.sh", "--stage", "1", check=False)
    assert r.returncode == 2 and "--conf FILE is required" in r.stderr
    r = run_script(recipe, "run.sh", "--stage", "one", check=False)
    assert r.returncode == 2 and "whole numbers, not 'one'" in r.stderr
    r = run_script(recipe, "run.sh", "--conf", "conf/absent.yaml", check=False)
    assert r.returncode == 2 and "conf/absent.yaml: no such file" in r.stderr
    r = run_script(recipe, "voc.sh", "--conf", "conf/debug.yaml", "--stage", "1", check=False)
    assert r.returncode == 2 and "data/train/wav.scp is missing: run stage 0" in r.stderr


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_template_stage0_names_the_missing_file(family, tmp_path):
    recipe = copy_recipe(FAMILIES[family].parent, tmp_path / "x")
    (recipe / "conf").mkdir()
    shutil.copy2(ROOT / "egs" / "toy" / "nsf" / "conf" / "debug.yaml", recipe / "conf" / "model.yaml")
    r = run_script(recipe, "run.sh", "--stop-stage", "0", check=False)
    assert r.returncode == 2 and "data/train/wav.scp is missing: stage 0 of run.sh must write it" in r.stderr
    for name in ("train", "dev", "eval"):
        (recipe / "data" / name).mkdir(parents=True)
        for f in ("wav.scp", "utt2spk"):
            (recipe / "data" / name / f).write_text("a x\n")
    r = run_script(recipe, "run.sh", "--stop-stage", "0", check=False)
    if family == "cm":  # a countermeasure recipe needs the labels too
        assert r.returncode == 2 and "data/train/utt2label is missing" in r.stderr
    else:
        assert r.returncode == 0, r.stderr


# The worked example, as docs/recipes.md shows it: corpus X is a folder of <speaker>_<n>.wav files.
PREPARE_X = '''\
"""Corpus X: <db>/<speaker>_<number>.wav -> data/{train,dev,eval}/wav.scp and utt2spk.
Per speaker (sorted by name), the last file is eval, the one before it dev, the rest train."""

import argparse
from pathlib import Path

from pylib.bin._cli import run
from pylib.errors import DataError
from pylib.io import write_table


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--db", required=True, help="the folder of <speaker>_<number>.wav files")
    p.add_argument("--out", required=True, help="where data/<set>/ go")
    args = p.parse_args(argv)
    by_speaker = {}
    for wav in sorted(Path(args.db).glob("*_*.wav")):
        by_speaker.setdefault(wav.stem.split("_")[0], []).append(wav.resolve())
    if not by_speaker or min(len(w) for w in by_speaker.values()) < 3:
        raise DataError(f"{args.db}: each speaker needs 3 or more <speaker>_<number>.wav files")
    for name, part in (("train", slice(0, -2)), ("dev", slice(-2, -1)), ("eval", slice(-1, None))):
        scp = {w.stem: w for wavs in by_speaker.values() for w in wavs[part]}
        write_table(Path(args.out) / name / "wav.scp", scp)
        write_table(Path(args.out) / name / "utt2spk", {u: u.split("_")[0] for u in scp})
    return 0


if __name__ == "__main__":
    run(main)
'''
STAGE0_X = """\
  echo "Stage 0: data preparation from $db -> data/; log: data/log/prepare.log"
  ${cmd} data/log/prepare.log python local/prepare_data.py --db "$db" --out data
"""


def make_recipe_x(recipe):
    """The worked example's steps after copying the template: the config, local/, stage 0's line."""
    (recipe / "conf").mkdir()
    shutil.copy2(ROOT / "egs" / "toy" / "nsf" / "conf" / "debug.yaml", recipe / "conf" / "debug.yaml")
    (recipe / "local").mkdir()
    (recipe / "local" / "prepare_data.py").write_text(PREPARE_X)
    run_sh = (recipe / "run.sh").read_text()
    marker = "  require_data wav.scp utt2spk\n"
    assert marker in run_sh
    (recipe / "run.sh").write_text(run_sh.replace(marker, STAGE0_X + marker))


@pytest.fixture(scope="module")
def example_run(tmp_path_factory):
    """Corpus X from the toy generator (4 speakers x 4 files), the recipe made from the template by
    make_recipe_x, and stages 0-5 with the toy debug config."""
    corpus = tmp_path_factory.mktemp("corpus_x")
    assert make_toy_corpus.main(["--out", str(corpus / "toy"), "--num-utts", "16", "--seed", "7",
                                 "--no-progress"]) == 0
    db = corpus / "X"
    db.mkdir()
    for wav in (corpus / "toy" / "wavs").glob("*.wav"):  # the toy names are <speaker>_<number>
        shutil.copy2(wav, db / wav.name)
    return run_once(tmp_path_factory, "TEMPLATE/voc1", "--db", str(db), "--conf", "conf/debug.yaml",
                    "--nj", "1", "--num-threads", "1", "--max-plots", "1", name="x", prepare=make_recipe_x)


@pytest.mark.slow
def test_worked_example_new_vocoder_recipe(example_run):
    recipe = example_run.recipe
    assert_stages(example_run.out)
    sets = {n: read_table(recipe / "data" / n / "utt2spk") for n in ("train", "dev", "eval")}
    speakers = sorted(set(sets["train"].values()))
    assert len(speakers) == 4 and sum(len(s) for s in sets.values()) == 16
    assert sorted(sets["dev"].values()) == sorted(sets["eval"].values()) == speakers  # one each
    eval_ids = sorted(sets["eval"])
    assert (recipe / "dump" / "train" / "stats" / "mel.mean").is_file()

    exp = example_run.exp
    assert (exp / "checkpoint_best.pt").is_file() and (exp / "config.yaml").is_file()
    infer = exp / "infer_eval"
    assert sorted(p.stem for p in infer.glob("*.wav")) == eval_ids
    res = read_json(infer / "results.json")
    assert res["num_utts"] == 4 and res["sample_rate"] == 16000
    for key in ("mel_l1", "mcd_db", "f0_rmse_cents", "vuv_error"):
        assert is_finite(res["mean"][key]), (key, res["mean"])
    assert res["mean"]["mcd_db"] > 0 and 0 <= res["mean"]["vuv_error"] <= 1
    assert set(res["per_utt"]) == set(eval_ids)
    assert [p.stem for p in (infer / "plots").glob("*.png")] == eval_ids[:1]  # --max-plots 1
    assert (infer / "plots" / f"{eval_ids[0]}.png").stat().st_size > 1000
    page = (infer / "index.html").read_text()
    assert all(f"{u}.wav" in page for u in eval_ids) and "plots/" in page


def _step(path):
    return torch.load(path, map_location="cpu", weights_only=True)["step"]


@pytest.mark.slow
def test_stage_3_alone_resumes(example_run, tmp_path):
    """A middle stage reruns alone from its inputs: stage 3 continues the finished run's checkpoint
    to a higher step limit (train.max_steps may change on resume), and no other stage runs."""
    recipe = clone(example_run, tmp_path / "recipe")
    last = recipe / "exp" / "debug" / "checkpoint_last.pt"
    assert _step(last) == 6  # conf/debug.yaml: train.max_steps
    out = run_recipe(recipe, *example_run.args, "--stage", "3", "--stop-stage", "3",
                     "--train-opts", "--set train.max_steps=7")
    assert_stages(out, [3])
    assert _step(last) == 7
