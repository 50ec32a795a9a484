"""egs/cmu_arctic/{wavenet,waveglow,ilpcnet} on a fake corpus with the festvox layout: stages 0-5 of
each recipe with its conf/debug.yaml, and for WaveNet stage 3 rerun alone (it resumes).

The fake corpus is the NSF recipe test's (tests/recipes/conftest.py fake_arctic) cut down to 2
speakers, with a 0.2 s test utterance each: WaveNet and iLPCNet generate one sample at a time, so
the test set's length is what stage 4 costs. Train and dev stay at 0.6 s, where the toy voice of
slt has voiced frames (iLPCNet normalises F0 with voiced-frame statistics). Nothing downloads:
stage 0 gets `--db`.
"""

import numpy as np
import pytest

from pylib.config import load_yaml
from pylib.engine.checkpoint import load_checkpoint
from pylib.engine.export import export_model, load_model
from pylib.io import read_f4, read_table, read_wav
from pylib.models.catalogue import get_model_class
from tests.recipes.conftest import (
    ARCTIC_PROMPTS,
    QUICK,
    assert_stages,
    clone,
    fake_arctic,
    is_finite,
    read_json,
    run_once,
    run_recipe,
)

RECIPES = ("wavenet", "waveglow", "ilpcnet")
SPEAKERS = ("slt", "bdl")
SETS = dict(zip(("train", "dev", "test"), ARCTIC_PROMPTS))  # one prompt per set
SECONDS = {SETS["train"]: 0.6, SETS["dev"]: 0.6, SETS["test"]: 0.2}
SR, HOP, N_MELS = 16000, 80, 80


def ids(set_name):
    return sorted(f"{s}_{SETS[set_name]}" for s in SPEAKERS)


@pytest.fixture(scope="module")
def arctic_db(tmp_path_factory):
    return fake_arctic(tmp_path_factory.mktemp("arctic_voc_db"), speakers=SPEAKERS, seconds=SECONDS)


@pytest.fixture(scope="module", params=RECIPES)
def voc_run(request, arctic_db, tmp_path_factory):
    """One recipe's stages 0-5 (no spectrogram plots: the listening page is still written)."""
    return run_once(tmp_path_factory, f"cmu_arctic/{request.param}", *QUICK, "--db", str(arctic_db),
                    "--speakers", " ".join(SPEAKERS), "--max-plots", "0", name=f"arctic_{request.param}")


@pytest.mark.slow
def test_stages_0_to_5(voc_run, tmp_path):
    recipe, exp = voc_run.recipe, voc_run.exp
    conf = load_yaml(recipe / "conf" / "debug.yaml")
    assert_stages(voc_run.out)
    assert not (recipe / "downloads").exists()  # --db: nothing downloaded

    # stage 0: the split of the shared local/prepare_data.py
    for name in SETS:
        assert sorted(read_table(recipe / "data" / name / "wav.scp", require_sorted=True)) == ids(name)

    # stage 1: every feature of the conf, for every utterance; mel and F0 on the same 5 ms frames
    features = set(conf["features"]["extractors"])
    assert {"mel", "wav"} <= features and ("f0" in features) == (conf["model"]["name"] == "ilpcnet")
    frames = {}
    for name in SETS:
        for u in ids(name):
            mel = read_f4(recipe / "dump" / name / "mel" / f"{u}.f4", N_MELS)
            sr, wave = read_wav(recipe / "dump" / name / "wav" / f"{u}.wav")
            assert sr == SR and mel.shape[0] == len(wave) // HOP + 1 and np.isfinite(mel).all()
            if "f0" in features:
                assert read_f4(recipe / "dump" / name / "f0" / f"{u}.f4", 1).shape == mel.shape[:1] + (1,)
            frames[u] = mel.shape[0]
    # stage 2: lists and the training set's statistics
    for name in SETS:
        assert sorted((recipe / "dump" / name / f"{name}.lst").read_text().split()) == ids(name)
    normalised = sorted(f["name"] for f in conf["data"]["inputs"] if f["norm"])  # WaveGlow: none (raw mel)
    assert sorted(p.stem for p in (recipe / "dump" / "train" / "stats").glob("*.mean")) == normalised
    if normalised:
        assert read_f4(recipe / "dump" / "train" / "stats" / "mel.mean", N_MELS).shape == (1, N_MELS)

    # stage 3: a trained model that exports to one file and loads back as the conf's model
    assert (exp / "checkpoint_best.pt").is_file()
    assert load_checkpoint(exp / "checkpoint_last.pt")["step"] == conf["train"]["max_steps"]
    model = load_model(export_model(exp, tmp_path / "model.pt"), get_model_class)
    assert type(model) is get_model_class(conf["model"]["name"]) and not model.training

    # stage 4: one wav per test utterance, at 16 kHz, one hop per mel frame, finite
    infer = exp / "infer_test"
    assert sorted(p.stem for p in infer.glob("*.wav")) == ids("test")
    for u in ids("test"):
        sr, gen = read_wav(infer / f"{u}.wav")
        assert sr == SR and len(gen) == frames[u] * HOP and np.isfinite(gen).all() and np.abs(gen).max() > 0

    # stage 5: scores against the natural waveforms and the listening page naming every file
    res = read_json(infer / "results.json")
    assert res["num_utts"] == len(SPEAKERS) and res["sample_rate"] == SR
    assert all(is_finite(res["mean"][k]) for k in ("mel_l1", "mcd_db"))
    page = (infer / "index.html").read_text(encoding="utf-8")
    assert all(f"{u}.wav" in page for u in ids("test"))
    assert f"Listening page: {exp.relative_to(recipe)}/infer_test/index.html" in voc_run.out


@pytest.mark.slow
@pytest.mark.parametrize("voc_run", ["wavenet"], indirect=True)  # the same run as test_stages_0_to_5's
def test_wavenet_stage3_rerun_resumes(voc_run, tmp_path):
    """Stage 3 again on a copy of the finished run: it resumes from the last checkpoint, has nothing
    left to do, and leaves the checkpoint as it was."""
    recipe = clone(voc_run, tmp_path / "rerun")
    last = (recipe / "exp" / "debug" / "checkpoint_last.pt").read_bytes()
    out = run_recipe(recipe, *QUICK, "--stage", "3", "--stop-stage", "3")
    assert_stages(out, stages=[3])
    log = (recipe / "exp" / "debug" / "log" / "train.log").read_text()
    assert "resuming from epoch 2, step 4" in log and "nothing to do" in log
    assert (recipe / "exp" / "debug" / "checkpoint_last.pt").read_bytes() == last
