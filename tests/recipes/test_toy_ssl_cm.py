"""egs/toy/ssl_cm with conf/debug.yaml: a tiny random SSL model, training spoofs vocoded by two tiny
vocoder files, cached SSL features, the seed's LLGF back end, scores and EER on unseen attacks."""

import pytest

from pylib.io import read_utt2label
from tests.recipes.conftest import QUICK, assert_stages, finite_numbers, is_finite, read_json, run_once
from tests.tiny_vocoders import write_tiny_vocoder


@pytest.fixture(scope="module")
def ssl_run(tmp_path_factory):
    def vocoders(recipe):
        (recipe / "vocoders").mkdir()
        write_tiny_vocoder(recipe / "vocoders" / "hifigan.pt", "hifigan")
        write_tiny_vocoder(recipe / "vocoders" / "nsf.pt", "hn_sinc_nsf")

    return run_once(tmp_path_factory, "toy/ssl_cm", *QUICK, "--num-utts", "4", "--num-test-utts", "2",
                    "--vocoders", "vocoders/hifigan.pt vocoders/nsf.pt", prepare=vocoders)


@pytest.mark.slow
def test_toy_ssl_cm_stages_0_to_5(ssl_run):
    recipe, out = ssl_run.recipe, ssl_run.out
    assert_stages(out)
    assert (recipe / "exp" / "ssl_model" / "config.json").is_file()  # the tiny random SSL model of stage 0

    # training spoofs: each bona fide utterance copied by both vocoders, the vocoder as the attack
    train = read_utt2label(recipe / "data" / "train" / "utt2label")
    bona = sorted(u for u, (lab, _) in train.items() if lab == "bonafide")
    assert len(bona) == 4 and len(train) == 12
    assert {u: a for u, (lab, a) in train.items() if lab == "spoof"} == {
        f"{u}__{v}": v for u in bona for v in ("hifigan", "nsf")}
    evl = read_utt2label(recipe / "data" / "eval" / "utt2label")
    assert {a for _, a in evl.values()} == {"-", "W1", "G1", "L1"}  # none of them seen in training

    # stage 1 cached the SSL model's last layer: 32 dims (make_tiny_ssl's width), one frame per 320 samples
    ssl_files = {f.stem: f.stat().st_size for f in (recipe / "dump" / "train" / "ssl").glob("*.f4")}
    assert set(ssl_files) == set(train) and all(size % (32 * 4) == 0 for size in ssl_files.values())

    exp = ssl_run.exp
    scores = [line.split() for line in (exp / "infer_eval" / "scores.txt").read_text().splitlines() if line]
    assert {s[0] for s in scores} == set(evl)
    res = read_json(exp / "infer_eval" / "results.json")
    assert all(is_finite(x) for x in finite_numbers(res)) and set(res["per_attack"]) == {"W1", "G1", "L1"}
    assert 0 <= res["eer"] <= 1 and "EER" in out
