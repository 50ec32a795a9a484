"""egs/toy/nsf end to end with conf/debug.yaml: stages 0-5 on a small toy corpus."""

import pytest

from tests.recipes.common import copy_recipe, is_finite, read_json, run_recipe

ARGS = ["--conf", "conf/debug.yaml", "--num-utts", "12", "--num-test-utts", "4", "--nj", "1"]


@pytest.mark.slow
def test_toy_nsf_stages_0_to_5(tmp_path):
    recipe = copy_recipe("nsf", tmp_path)
    out = run_recipe(recipe, *ARGS)
    for stage in range(6):
        assert f"Stage {stage}:" in out

    eval_ids = sorted(p.stem for p in (recipe / "data" / "eval" / "wavs").glob("*.wav"))
    assert len(eval_ids) == 4
    for feat in ("mel", "f0"):
        assert all((recipe / "dump" / "eval" / feat / f"{u}.f4").is_file() for u in eval_ids)
    assert (recipe / "dump" / "train" / "stats" / "mel.mean").is_file()

    exp = recipe / "exp" / "debug"
    assert (exp / "checkpoint_best.pt").is_file() and (exp / "config.yaml").is_file()
    infer = exp / "infer_eval"
    assert sorted(p.stem for p in infer.glob("*.wav")) == eval_ids

    res = read_json(infer / "results.json")
    assert res["num_utts"] == 4 and res["sample_rate"] == 16000
    for key in ("mel_l1", "mcd_db", "f0_rmse_cents", "vuv_error"):
        assert is_finite(res["mean"][key]), (key, res["mean"])
    assert res["mean"]["mcd_db"] > 0 and 0 <= res["mean"]["vuv_error"] <= 1
    assert set(res["per_utt"]) == set(eval_ids)
    assert all((infer / "plots" / f"{u}.png").stat().st_size > 1000 for u in eval_ids)
    page = (infer / "index.html").read_text()
    assert all(f"{u}.wav" in page for u in eval_ids) and "plots/" in page

    # a stage reruns alone from its inputs: scoring again rewrites the same numbers
    run_recipe(recipe, *ARGS, "--stage", "5")
    assert read_json(infer / "results.json")["mean"] == res["mean"]
