"""egs/toy/lcnn through cm.sh with conf/debug.yaml: toy corpus + spoofs, training, scores, EER."""

import pytest

from pylib.io import read_utt2label
from tests.recipes.conftest import assert_stages, finite_numbers, is_finite, read_json


@pytest.mark.slow
def test_toy_lcnn_stages_0_to_5(toy_lcnn_run):
    recipe, out = toy_lcnn_run.recipe, toy_lcnn_run.out
    assert_stages(out)

    train = read_utt2label(recipe / "data" / "train" / "utt2label")
    evl = read_utt2label(recipe / "data" / "eval" / "utt2label")
    assert {a for _, a in train.values()} == {"-", "W1", "G1"}  # L1 is held out of training
    assert {a for _, a in evl.values()} == {"-", "W1", "G1", "L1"}
    assert sum(lab == "bonafide" for lab, _ in evl.values()) == 2 and len(evl) == 8  # 2 x (1 + 3 attacks)
    assert (recipe / "dump" / "train" / "utt2label").is_file()

    exp = toy_lcnn_run.exp
    scores = (exp / "infer_eval" / "scores.txt").read_text().split("\n")
    scored = {line.split()[0]: float(line.split()[1]) for line in scores if line}
    assert set(scored) == set(evl)

    res = read_json(exp / "infer_eval" / "results.json")
    nums = finite_numbers(res)
    assert nums and all(is_finite(x) for x in nums)
    assert 0 <= res["eer"] <= 1 and set(res["per_attack"]) == {"W1", "G1", "L1"}
    assert "EER" in out and (exp / "infer_eval" / "det.png").stat().st_size > 1000
    # without --seeds and --fuse-with: one run, no report, stage 6 skipped with one line
    assert "Stage 6: skipped (no --fuse-with" in out and not (recipe / "exp" / "debug_report").exists()
    assert sorted(p.name for p in (recipe / "exp").iterdir()) == ["debug"]
