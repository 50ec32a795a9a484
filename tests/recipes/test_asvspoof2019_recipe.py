"""egs/asvspoof2019_la/lcnn end to end on a tiny fake LA folder in the official layout and formats."""

import pytest

from pylib.data.asvspoof import la_part_paths, protocol_to_data_dir
from pylib.errors import DataError
from pylib.io import read_table, read_utt2label, write_wav
from tests.conftest import ROOT, noise, rng, sine
from tests.recipes.conftest import (
    QUICK,
    assert_stages,
    copy_recipe,
    finite_numbers,
    is_finite,
    read_json,
    run_once,
    run_script,
)

RECIPE = ROOT / "egs" / "asvspoof2019_la" / "lcnn"
PARTS = {"train": ("T", "trn"), "dev": ("D", "trl"), "eval": ("E", "trl")}
ATTACKS = {"train": ["A01", "A02"], "dev": ["A01", "A02"], "eval": ["A07", "A08"]}


def make_fake_la(root, per_set=8, seed=0):
    """A tiny LA folder: `per_set` short flac trials per part (a third bona fide), the three CM
    protocols (`SPEAKER UTT - ATTACK KEY`) and dev/eval ASV scores (`SOURCE KEY SCORE`)."""
    g = rng(seed)
    la = root / "LA"
    proto_dir = la / "ASVspoof2019_LA_cm_protocols"
    asv_dir = la / "ASVspoof2019_LA_asv_scores"
    proto_dir.mkdir(parents=True)
    asv_dir.mkdir()
    for part, (letter, kind) in PARTS.items():
        flac = la / f"ASVspoof2019_LA_{part}" / "flac"
        lines = []
        for i in range(per_set):
            utt = f"LA_{letter}_{1000137 + 7919 * i}"
            spk = f"LA_00{79 + i % 3}"
            bona = i % 3 == 0
            sec = float(g.uniform(0.4, 0.8))
            wave = sine(150.0 + 20 * i, seconds=sec, amp=0.3) + noise(sec, amp=0.01 if bona else 0.05, seed=i)
            write_wav(flac / f"{utt}.flac", 16000, wave)
            attack = "-" if bona else ATTACKS[part][i % 2]
            lines.append(f"{spk} {utt} - {attack} {'bonafide' if bona else 'spoof'}\n")
        # protocols are not sorted by utterance id; reverse to make sure nothing relies on it
        (proto_dir / f"ASVspoof2019.LA.cm.{part}.{kind}.txt").write_text("".join(reversed(lines)))
        if part != "train":
            asv = [f"LA_00{79 + i % 3} target {g.normal(3.0, 1.0):.6f}\n" for i in range(20)]
            asv += [f"LA_00{79 + i % 3} nontarget {g.normal(-3.0, 1.0):.6f}\n" for i in range(20)]
            asv += [f"{ATTACKS[part][i % 2]} spoof {g.normal(0.0, 1.5):.6f}\n" for i in range(20)]
            (asv_dir / f"ASVspoof2019.LA.asv.{part}.gi.trl.scores.txt").write_text("".join(asv))
    return la


@pytest.fixture(scope="module")
def la_run(tmp_path_factory):
    return run_once(tmp_path_factory, "asvspoof2019_la/lcnn", *QUICK, "--db",
                    str(make_fake_la(tmp_path_factory.mktemp("la_db"))))


@pytest.mark.slow
def test_asvspoof2019_la_stages_0_to_5(la_run):
    recipe, out = la_run.recipe, la_run.out
    assert_stages(out)

    data = recipe / "data"
    for part in PARTS:
        wav = read_table(data / part / "wav.scp", require_sorted=True)
        assert len(wav) == 8 and all(v.endswith(f"/{u}.flac") for u, v in wav.items())
        assert set(read_table(data / part / "utt2spk")) == set(wav)
        labels = read_utt2label(data / part / "utt2label")
        assert set(labels) == set(wav)
        assert {a for lab, a in labels.values() if lab == "spoof"} == set(ATTACKS[part])
    assert (data / "eval" / "asv_scores.txt").is_file() and not (data / "train" / "asv_scores.txt").exists()

    exp = la_run.exp
    scores = dict(line.split() for line in (exp / "infer_eval" / "scores.txt").read_text().splitlines())
    assert set(scores) == set(read_utt2label(data / "eval" / "utt2label"))
    res = read_json(exp / "infer_eval" / "results.json")
    assert all(is_finite(x) for x in finite_numbers(res))
    assert 0 <= res["eer"] <= 1 and set(res["per_attack"]) == {"A07", "A08"}
    assert any("tdcf" in k for k in res), sorted(res)  # the ASV scores were used
    assert "EER" in out and (exp / "infer_eval" / "det.png").stat().st_size > 1000


def test_stage0_errors_name_what_is_missing(tmp_path):
    recipe = copy_recipe(RECIPE, tmp_path / "lcnn")

    def stage0(*args):
        return run_script(recipe, "run.sh", "--stop-stage", "0", *args, check=False)

    r = stage0()
    assert r.returncode != 0 and "needs --db" in r.stderr
    (tmp_path / "wrong").mkdir()
    r = stage0("--db", str(tmp_path / "wrong"))
    log = (recipe / "data" / "log" / "prepare_train.log").read_text()
    assert r.returncode != 0 and "ASVspoof2019_LA_train/flac is missing" in log


def test_library_checks(tmp_path):
    la = make_fake_la(tmp_path, per_set=3)
    flac, protocol, asv = la_part_paths(la, "eval")
    assert flac.name == "flac" and asv.name == "ASVspoof2019.LA.asv.eval.gi.trl.scores.txt"
    assert la_part_paths(la, "train")[2] is None
    with pytest.raises(DataError, match="not its parent"):
        la_part_paths(tmp_path, "train")  # the folder above LA
    with pytest.raises(DataError, match="not a folder"):
        la_part_paths(tmp_path / "absent", "dev")
    info = protocol_to_data_dir(protocol, flac, tmp_path / "data" / "eval")
    assert info == {"utts": 3, "speakers": 3}
    next(flac.glob("*.flac")).unlink()
    with pytest.raises(DataError, match="1 of 3 audio files are missing"):
        protocol_to_data_dir(protocol, flac, tmp_path / "data" / "eval2")
