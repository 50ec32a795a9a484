"""egs/toy/nsf through voc.sh with conf/debug.yaml: stage 0 (the toy corpus), features and statistics.

Stages 3-5 with this config on toy-corpus wavs run once, in the worked example's recipe
(test_stage_scripts.py::test_worked_example_new_vocoder_recipe), which also reruns stage 3 alone."""

import pytest

from pylib.io import read_f4, read_table
from tests.recipes.conftest import assert_stages


@pytest.mark.slow
def test_toy_nsf_stages_0_to_2(toy_nsf_run):
    recipe = toy_nsf_run.recipe
    assert_stages(toy_nsf_run.out, range(3))

    sizes = {name: len(read_table(recipe / "data" / name / "wav.scp", require_sorted=True))
             for name in ("train", "dev", "eval")}
    assert sizes == {"train": 8, "dev": 3, "eval": 3}  # --num-utts, --num-test-utts
    assert "data/train: OK" in (recipe / "data" / "log" / "validate_train.log").read_text()
    eval_ids = sorted(p.stem for p in (recipe / "data" / "eval" / "wavs").glob("*.wav"))
    for u in eval_ids:
        mel = read_f4(recipe / "dump" / "eval" / "mel" / f"{u}.f4", 80)
        f0 = read_f4(recipe / "dump" / "eval" / "f0" / f"{u}.f4", 1)
        assert mel.shape[0] == f0.shape[0] > 0 and (recipe / "dump" / "eval" / "wav" / f"{u}.wav").is_file()
    assert sorted((recipe / "dump" / "eval" / "eval.lst").read_text().split()) == eval_ids
    assert read_f4(recipe / "dump" / "train" / "stats" / "mel.mean", 80).shape == (1, 80)
    assert not (recipe / "exp").exists()  # --stop-stage 2
