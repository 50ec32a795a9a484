"""egs/toy/lcnn with --seeds "1 2" and --fuse-with: stages 3-5 once per seed, the compare_runs report
of the two seed runs, and stage 6 fusing them with the shared run's exp/debug.

Reuses the finished toy lcnn run of the session (tests/recipes/conftest.py) through a clone, and
reruns only stages 3-6 with the debug config.
"""

import pytest
import yaml

from pylib.io import read_utt2label
from pylib.io.scores import read_scores
from tests.recipes.conftest import QUICK, clone, is_finite, read_json, run_recipe, run_script


@pytest.mark.slow
def test_seeds_report_and_fusion(toy_lcnn_run, tmp_path):
    recipe = clone(toy_lcnn_run, tmp_path / "lcnn")
    out = run_recipe(recipe, *QUICK, "--stage", "3", "--seeds", "1 2", "--fuse-with", "exp/debug",
                     "--train-opts", "--set train.curves=false")  # no plotting: a shorter test
    exp = recipe / "exp"
    for seed in (1, 2):  # one run per seed, trained with train.seed = N and scored
        run = exp / f"debug_seed{seed}"
        assert f"Stage 3: training -> exp/debug_seed{seed}" in out
        assert yaml.safe_load((run / "config.yaml").read_text())["train"]["seed"] == seed
        assert is_finite(read_json(run / "infer_eval" / "results.json")["eer"])
    assert "-> exp/debug;" not in out  # the fixture's run is not trained again, only fused with

    report = read_json(exp / "debug_report" / "report.json")  # the two seeds are one system
    (system,) = report["systems"]
    assert system["system"] == "debug" and system["eer"]["n"] == 2
    assert [(r["name"], r["seed"]) for r in system["runs"]] == [("debug_seed1", 1), ("debug_seed2", 2)]
    assert "ci_half_width" in system["eer"] and "attack" in system["per_condition"]
    page = (exp / "debug_report" / "index.html").read_text()
    assert "<td>debug_seed2</td>" in page and (exp / "debug_report" / "det.png").stat().st_size > 1000

    fusion = exp / "fusion_debug" / "infer_eval"  # stage 6: exp/debug + the two seeds, trained on dev
    assert "Stage 6: fusion of 3 runs (trained on dev) on eval" in out
    model = read_json(fusion / "fusion.json")
    assert [s["dev"] for s in model["systems"]] == [f"{r}/infer_dev/scores.txt" for r in
                                                    ("exp/debug", "exp/debug_seed1", "exp/debug_seed2")]
    evl = read_utt2label(recipe / "data" / "eval" / "utt2label")
    assert set(read_scores(fusion / "scores.txt")) == set(evl)
    res = read_json(fusion / "results.json")
    assert is_finite(res["eer"]) and res["n_bonafide"] + res["n_spoof"] == len(evl)
    assert (fusion / "det.png").is_file()
    # a run fused with itself is refused before any stage runs
    r = run_script(recipe, "run.sh", *QUICK, "--stage", "6", "--seeds", "1 2",
                   "--fuse-with", "exp/debug_seed2", check=False)
    assert r.returncode == 2 and "exp/debug_seed2 is this run" in r.stderr
