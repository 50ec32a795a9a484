"""egs/cmu_arctic/nsf on a fake corpus with the festvox layout: stages 0-5 with conf/debug.yaml.

The fake corpus holds 4 speakers x 3 short toy utterances named as in the real archives
(`cmu_us_<spk>_arctic/wav/arctic_<id>.wav`), one per set of the recipe's split. Nothing downloads:
stage 0 gets `--db`.
"""

import importlib.util
import os
import re
import subprocess

import numpy as np
import pytest

from pylib.config import load_yaml
from pylib.errors import DataError, UserError
from pylib.features.extractors import build_extractors, parse_features
from pylib.io import read_f4, read_table, read_wav
from tests.conftest import ROOT
from tests.recipes.conftest import (
    ARCTIC_SPEAKERS,
    QUICK,
    assert_stages,
    fake_arctic,
    is_finite,
    read_json,
    run_once,
)

RECIPE = ROOT / "egs" / "cmu_arctic" / "nsf"
SPEAKERS = ARCTIC_SPEAKERS
PROMPTS = {"train": "arctic_a0001", "dev": "arctic_b0464", "test": "arctic_b0474"}  # one per set
SR = 16000


def load_prepare():
    spec = importlib.util.spec_from_file_location("arctic_prepare", RECIPE / "local" / "prepare_data.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def arctic_run(tmp_path_factory):
    db = fake_arctic(tmp_path_factory.mktemp("arctic_db"))
    return run_once(tmp_path_factory, "cmu_arctic/nsf", *QUICK, "--db", str(db), "--max-plots", "1"), db


@pytest.mark.slow
def test_cmu_arctic_stages_0_to_5(arctic_run):
    run, db = arctic_run
    recipe = run.recipe
    assert_stages(run.out)
    assert not (recipe / "downloads").exists()  # --db: nothing downloaded

    # stage 0: the split and the ids, sorted tables pointing at the corpus
    for name, prompt in PROMPTS.items():
        scp = read_table(recipe / "data" / name / "wav.scp", require_sorted=True)
        assert sorted(scp) == sorted(f"{s}_{prompt}" for s in SPEAKERS)
        assert all(os.path.samefile(scp[f"{s}_{prompt}"], db / f"cmu_us_{s}_arctic/wav/{prompt}.wav")
                   for s in SPEAKERS)
        assert read_table(recipe / "data" / name / "utt2spk") == {f"{s}_{prompt}": s for s in SPEAKERS}

    # stage 1: mel (N, 80) and F0 (N, 1) on the same 5 ms frames; the level-normalised wav target
    test_ids = sorted(f"{s}_{PROMPTS['test']}" for s in SPEAKERS)
    voiced = 0
    for u in test_ids:
        mel = read_f4(recipe / "dump" / "test" / "mel" / f"{u}.f4", 80)
        f0 = read_f4(recipe / "dump" / "test" / "f0" / f"{u}.f4", 1)
        sr, wave = read_wav(recipe / "dump" / "test" / "wav" / f"{u}.wav")
        assert sr == SR and mel.shape[0] == f0.shape[0] == len(wave) // 80 + 1
        assert np.isfinite(mel).all() and ((f0 == 0) | ((f0 >= 60) & (f0 <= 500))).all()
        voiced += int((f0 > 0).sum())
    assert voiced > 0
    # stage 2: lists and statistics
    assert sorted((recipe / "dump" / "test" / "test.lst").read_text().split()) == test_ids
    assert read_f4(recipe / "dump" / "train" / "stats" / "mel.mean", 80).shape == (1, 80)

    # stages 3-5: a checkpoint, one generated wav per test utterance, scores
    exp = run.exp
    assert (exp / "checkpoint_best.pt").is_file() and (exp / "config.yaml").is_file()
    infer = exp / "infer_test"
    assert sorted(p.stem for p in infer.glob("*.wav")) == test_ids
    sr, gen = read_wav(infer / f"{test_ids[0]}.wav")
    assert sr == SR and len(gen) > 0 and np.isfinite(gen).all()
    res = read_json(infer / "results.json")
    assert res["num_utts"] == 4 and res["sample_rate"] == SR
    assert all(is_finite(res["mean"][k]) for k in ("mel_l1", "mcd_db"))
    assert (infer / "index.html").is_file()


@pytest.mark.parametrize("name", ["hn_sinc_nsf", "hn_sinc_nsf_10", "hn_nsf", "cyc_noise_nsf", "debug"])
def test_cmu_arctic_configs(name):
    """Every shipped config builds its model; features agree with the data section; keys are commented."""
    from pylib.engine.build import resolve_config
    from pylib.models.catalogue import get_model_class

    path = RECIPE / "conf" / f"{name}.yaml"
    raw = load_yaml(path)
    extractors = build_extractors(parse_features(raw["features"]))
    resolved, spec, model, _, _ = resolve_config(raw, get_model_class)
    for f in spec.inputs + spec.outputs:
        assert (extractors[f.name].dim, extractors[f.name].hop) == (f.dim, f.hop), f.name
    assert spec.sample_rate == raw["features"]["sample_rate"] == SR
    # the debug run's dump is the full run's dump: the features sections are identical
    assert raw["features"] == load_yaml(RECIPE / "conf" / "hn_sinc_nsf.yaml")["features"]
    uncommented = [ln for ln in path.read_text().splitlines()
                   if re.match(r"^\s*[\w-][^#]*:\s*\S", ln) and "#" not in ln]
    assert not uncommented, f"{path}: keys without a comment: {uncommented}"
    if name == "hn_sinc_nsf":  # the published setting
        assert resolved["model"]["name"] == "hn_sinc_nsf" and resolved["model"]["hop"] == 80
        assert resolved["data"]["truncate"] == 48000 and resolved["data"]["batch_size"] == 1
        # the seed's hn-sinc-nsf-9: 00_demo.sh --lr 0.00003 --epochs 100, arg_parse.py --no-best-epochs 5
        assert resolved["optim"]["model"]["lr"] == 3.0e-5
        assert resolved["train"]["epochs"] == 100 and resolved["train"]["patience"] == 5
        assert sum(p.numel() for p in model.parameters()) == 724265  # = the seed's trainable parameters


def test_prepare_data_split_and_ranges(tmp_path):
    prep = load_prepare()
    assert prep.parse_ids("b0474-b0476", "--test-ids") == {"arctic_b0474", "arctic_b0475", "arctic_b0476"}
    assert prep.parse_ids("a0001,b0010", "--dev-ids") == {"arctic_a0001", "arctic_b0010"}
    for bad in ("b0476-b0474", "a0001-b0002", "x12", "b474"):
        with pytest.raises(UserError, match="--test-ids"):
            prep.parse_ids(bad, "--test-ids")

    db = fake_arctic(tmp_path / "db", speakers=("slt", "bdl"),
                     prompts=("arctic_a0001", "arctic_a0002", "arctic_b0465", "arctic_b0475"), seconds=0.1)
    assert prep.main(["--db", str(db), "--out", str(tmp_path / "data"), "--speakers", "slt", "bdl"]) == 0
    sets = {n: sorted(read_table(tmp_path / "data" / n / "utt2spk")) for n in ("train", "dev", "test")}
    assert sets == {
        "train": ["bdl_arctic_a0001", "bdl_arctic_a0002", "slt_arctic_a0001", "slt_arctic_a0002"],
        "dev": ["bdl_arctic_b0465", "slt_arctic_b0465"],
        "test": ["bdl_arctic_b0475", "slt_arctic_b0475"],
    }


def test_prepare_data_errors_name_the_folder(tmp_path):
    prep = load_prepare()
    db = fake_arctic(tmp_path / "db", speakers=("slt",), prompts=("arctic_a0001", "arctic_b0474"),
                     seconds=0.1)
    out = str(tmp_path / "data")
    # a speaker that is not in --db
    with pytest.raises(DataError, match="cmu_us_bdl_arctic"):
        prep.main(["--db", str(db), "--out", out, "--speakers", "slt", "bdl"])
    # no prompt falls into the dev set
    with pytest.raises(DataError, match="dev set"):
        prep.main(["--db", str(db), "--out", out, "--speakers", "slt"])
    # overlapping dev and test prompts
    with pytest.raises(UserError, match="share"):
        prep.main(["--db", str(db), "--out", out, "--speakers", "slt", "--dev-ids", "b0470-b0480"])
    # an empty wav folder
    (tmp_path / "db2" / "cmu_us_slt_arctic" / "wav").mkdir(parents=True)
    with pytest.raises(DataError, match="no arctic_"):
        prep.main(["--db", str(tmp_path / "db2"), "--out", out, "--speakers", "slt"])
    assert not (tmp_path / "data").exists()


def test_download_falls_back_and_skips(tmp_path):
    """utils/download.sh with file:// URLs (nothing leaves the machine): the 0.95 release name is
    missing, so the current name is used; a second call finds the unpacked folder and does nothing."""
    fake_arctic(tmp_path / "src", speakers=("slt",), prompts=("arctic_a0001",), seconds=0.05)
    packed = tmp_path / "packed"
    packed.mkdir()
    subprocess.run(["tar", "-cjf", str(packed / "cmu_us_slt_arctic.tar.bz2"), "-C", str(tmp_path / "src"),
                    "cmu_us_slt_arctic"], check=True)
    urls = [f"file://{packed}/cmu_us_slt_arctic-0.95-release.tar.bz2", f"file://{packed}/cmu_us_slt_arctic.tar.bz2"]
    dest = tmp_path / "downloads"
    cmd = [str(ROOT / "utils" / "download.sh"), str(dest), "cmu_us_slt_arctic", *urls]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (dest / "cmu_us_slt_arctic" / "wav" / "arctic_a0001.wav").is_file()
    assert (dest / "cmu_us_slt_arctic" / ".complete").is_file()
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0 and "already there" in r.stdout
    # no URL works: a clear message and a failure, never a half-made folder
    r = subprocess.run([*cmd[:2], "cmu_us_bdl_arctic", f"file://{packed}/missing.tar.bz2"],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "--db" in r.stderr and not (dest / "cmu_us_bdl_arctic").exists()
