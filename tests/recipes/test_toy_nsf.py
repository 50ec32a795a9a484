"""egs/toy/nsf through voc.sh with conf/debug.yaml: stages 0-5 once on a small toy corpus, then a
resumed stage 3 alone in a clone of the finished run."""

import pytest
import torch

from tests.recipes.conftest import assert_stages, clone, is_finite, read_json, run_recipe


@pytest.mark.slow
def test_toy_nsf_stages_0_to_5(toy_nsf_run):
    recipe, out = toy_nsf_run.recipe, toy_nsf_run.out
    assert_stages(out)

    eval_ids = sorted(p.stem for p in (recipe / "data" / "eval" / "wavs").glob("*.wav"))
    assert len(eval_ids) == 3
    for feat in ("mel", "f0"):
        assert all((recipe / "dump" / "eval" / feat / f"{u}.f4").is_file() for u in eval_ids)
    assert (recipe / "dump" / "train" / "stats" / "mel.mean").is_file()
    assert "data/train: OK" in (recipe / "data" / "log" / "validate_train.log").read_text()

    exp = toy_nsf_run.exp
    assert (exp / "checkpoint_best.pt").is_file() and (exp / "config.yaml").is_file()
    infer = exp / "infer_eval"
    assert sorted(p.stem for p in infer.glob("*.wav")) == eval_ids

    res = read_json(infer / "results.json")
    assert res["num_utts"] == 3 and res["sample_rate"] == 16000
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
def test_toy_nsf_stage_3_alone_resumes(toy_nsf_run, tmp_path):
    """A middle stage reruns alone from its inputs: stage 3 continues the finished run's checkpoint
    to a higher step limit, and no other stage runs."""
    recipe = clone(toy_nsf_run, tmp_path / "recipe")
    last = recipe / "exp" / "debug" / "checkpoint_last.pt"
    assert _step(last) == 6  # conf/debug.yaml: train.max_steps
    out = run_recipe(recipe, *toy_nsf_run.args, "--stage", "3", "--stop-stage", "3",
                     "--train-opts", "--set train.max_steps=8")
    assert_stages(out, [3])
    assert _step(last) == 8
