"""egs/ljspeech/hifigan on a fake LJSpeech-1.1 folder: stages 0-5 with conf/debug.yaml, and the configs.

The fake corpus has the archive's layout (`LJSpeech-1.1/metadata.csv`, `wavs/LJ001-0001.wav`) with
six short toy utterances at 22.05 kHz. Nothing downloads: stage 0 gets `--db`.
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
from pylib.features.toy_corpus import make_speakers, synth_utterance
from pylib.io import read_f4, read_table, read_wav, write_wav
from tests.conftest import ROOT
from tests.recipes.conftest import QUICK, assert_stages, is_finite, read_json, run_once

RECIPE = ROOT / "egs" / "ljspeech" / "hifigan"
IDS = ["LJ001-0001", "LJ001-0002", "LJ001-0003", "LJ002-0001", "LJ002-0002", "LJ002-0003"]
SR, HOP = 22050, 256


def fake_ljspeech(parent, ids=IDS, seconds=0.6):
    """parent/LJSpeech-1.1/{metadata.csv, wavs/<id>.wav} with toy utterances -> the LJSpeech-1.1 folder."""
    root = parent / "LJSpeech-1.1"
    (root / "wavs").mkdir(parents=True)
    voice = make_speakers(4, seed=5)[3]  # the highest-voiced toy speaker
    lines = []
    for i, utt in enumerate(ids):
        wave, _ = synth_utterance(voice, seconds, seed=i, sample_rate=SR)
        write_wav(root / "wavs" / f"{utt}.wav", SR, wave)
        lines.append(f"{utt}|Text number {i}, as read.|Text number {i}, as read.\n")
    (root / "metadata.csv").write_text("".join(lines), encoding="utf-8")
    return root


def load_prepare():
    spec = importlib.util.spec_from_file_location("ljspeech_prepare", RECIPE / "local" / "prepare_data.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def ljspeech_run(tmp_path_factory):
    db = fake_ljspeech(tmp_path_factory.mktemp("ljspeech_db"))
    run = run_once(tmp_path_factory, "ljspeech/hifigan", *QUICK, "--db", str(db.parent), "--num-dev", "1",
                   "--num-test", "2", "--max-plots", "1")
    return run, db


@pytest.mark.slow
def test_ljspeech_stages_0_to_5(ljspeech_run):
    run, db = ljspeech_run
    recipe = run.recipe
    assert_stages(run.out)
    assert not (recipe / "downloads").exists()

    # stage 0: the last 2 ids are the test set, the one before them the dev set
    sets = {n: read_table(recipe / "data" / n / "wav.scp", require_sorted=True)
            for n in ("train", "dev", "test")}
    assert {n: sorted(s) for n, s in sets.items()} == {"train": IDS[:3], "dev": IDS[3:4], "test": IDS[4:]}
    assert os.path.samefile(sets["test"][IDS[4]], db / "wavs" / f"{IDS[4]}.wav")
    assert read_table(recipe / "data" / "test" / "utt2spk") == {u: "LJ" for u in IDS[4:]}
    assert read_table(recipe / "data" / "test" / "text")[IDS[5]] == "Text number 5, as read."

    # stage 1: mel (N, 80) and F0 (N, 1) at hop 256, the peak-normalised 22.05 kHz target
    for u in IDS[4:]:
        mel = read_f4(recipe / "dump" / "test" / "mel" / f"{u}.f4", 80)
        f0 = read_f4(recipe / "dump" / "test" / "f0" / f"{u}.f4", 1)
        sr, wave = read_wav(recipe / "dump" / "test" / "wav" / f"{u}.wav")
        assert sr == SR and mel.shape[0] == f0.shape[0] == len(wave) // HOP + 1
        assert np.isfinite(mel).all() and abs(np.abs(wave).max() - 0.95) < 1e-3
    assert sorted((recipe / "dump" / "test" / "test.lst").read_text().split()) == IDS[4:]
    assert read_f4(recipe / "dump" / "train" / "stats" / "mel.std", 80).shape == (1, 80)

    # stages 3-5: GAN training picks the best checkpoint by mel L1; generated wavs; scores
    exp = run.exp
    assert (exp / "checkpoint_best.pt").is_file()
    assert load_yaml(exp / "config.yaml")["train"]["best_metric"] == "mel_l1"
    infer = exp / "infer_test"
    assert sorted(p.stem for p in infer.glob("*.wav")) == IDS[4:]
    sr, gen = read_wav(infer / f"{IDS[4]}.wav")
    assert sr == SR and len(gen) % HOP == 0 and np.isfinite(gen).all()
    res = read_json(infer / "results.json")
    assert res["num_utts"] == 2 and res["sample_rate"] == SR and is_finite(res["mean"]["mel_l1"])


@pytest.mark.parametrize("name", ["hifigan_v1", "nsf_hifigan", "debug"])
def test_ljspeech_configs(name):
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
    assert resolved["train"]["best_metric"] == "mel_l1"
    # one dump serves every config: the features sections are identical
    assert raw["features"] == load_yaml(RECIPE / "conf" / "hifigan_v1.yaml")["features"]
    uncommented = [ln for ln in path.read_text().splitlines()
                   if re.match(r"^\s*[\w-][^#]*:\s*\S", ln) and "#" not in ln]
    assert not uncommented, f"{path}: keys without a comment: {uncommented}"
    if name == "hifigan_v1":
        gen = sum(p.numel() for p in model.generator.parameters())
        assert 13.8e6 < gen < 14.0e6  # the paper's 13.92 M
        assert resolved["data"]["batch_size"] == 16 and resolved["data"]["truncate"] == 8192
        assert resolved["optim"]["generator"]["betas"] == [0.8, 0.99]


def test_prepare_data_split_and_errors(tmp_path):
    prep = load_prepare()
    split = prep.split_ids(["c", "a", "b", "e", "d"], 1, 2)
    assert split == {"train": ["a", "b"], "dev": ["c"], "test": ["d", "e"]}
    with pytest.raises(UserError, match="--num-dev"):
        prep.split_ids(["a", "b", "c"], 1, 2)

    root = fake_ljspeech(tmp_path / "db", ids=IDS[:4], seconds=0.05)
    out = tmp_path / "data"
    # --db may be LJSpeech-1.1/ itself or the folder above it
    for db in (root, root.parent):
        assert prep.main(["--db", str(db), "--out", str(out), "--num-dev", "1", "--num-test", "1"]) == 0
        assert sorted(read_table(out / "train" / "wav.scp")) == IDS[:2]

    with pytest.raises(DataError, match="metadata.csv"):
        prep.main(["--db", str(tmp_path), "--out", str(out)])
    (root / "wavs" / f"{IDS[1]}.wav").unlink()
    with pytest.raises(DataError, match=f"{IDS[1]}.wav"):
        prep.main(["--db", str(root), "--out", str(out), "--num-dev", "1", "--num-test", "1"])
    (root / "metadata.csv").write_text("LJ001-0001 bad line without fields\n", encoding="utf-8")
    with pytest.raises(DataError, match="metadata.csv:1"):
        prep.main(["--db", str(root), "--out", str(out)])


def test_download_unpacks_once(tmp_path):
    """utils/download.sh with a file:// URL (nothing leaves the machine): unpacks LJSpeech-1.1/ once,
    keeps the archive, and an interrupted unpack (no .complete) is redone without downloading."""
    fake_ljspeech(tmp_path / "src", ids=IDS[:1], seconds=0.05)
    archive = tmp_path / "LJSpeech-1.1.tar.bz2"
    subprocess.run(["tar", "-cjf", str(archive), "-C", str(tmp_path / "src"), "LJSpeech-1.1"], check=True)
    dest = tmp_path / "downloads"
    cmd = [str(ROOT / "utils" / "download.sh"), str(dest), "LJSpeech-1.1", f"file://{archive}"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (dest / "LJSpeech-1.1" / "metadata.csv").is_file()
    assert (dest / "LJSpeech-1.1.tar.bz2.done").is_file()
    (dest / "LJSpeech-1.1" / ".complete").unlink()
    archive.unlink()  # a second download would fail now
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0 and "downloaded already" in r.stdout
    assert (dest / "LJSpeech-1.1" / ".complete").is_file()
    assert load_prepare().corpus_root(dest) == dest / "LJSpeech-1.1"
