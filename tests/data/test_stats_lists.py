import logging
import os

import numpy as np
import pytest
import yaml

from pylib.bin import compute_stats, make_lists
from pylib.data import load_feature_stats
from pylib.data.stats import RunningStats
from pylib.errors import DataError
from pylib.io import read_f4, read_list, read_table, write_f4, write_table
from tests.conftest import rng
from tests.data.synth import MEL_DIM, make_set, make_spec, mel_of, spec_dict, write_utt


def write_conf(tmp_path, **kw):
    path = tmp_path / "conf.yaml"
    path.write_text(yaml.safe_dump({"data": spec_dict(**kw), "model": {"name": "x"}}))
    return str(path)


def random_set(tmp_path, n=6, seed=0):
    """A set with random mel, F0 with unvoiced (0) frames, and one constant mel dim."""
    g = rng(seed)
    mels, f0s = [], []
    names = {}
    for i in range(n):
        T = int(g.integers(1000, 4000))
        mel = (g.standard_normal((T // 80 + 1, MEL_DIM)) * [1, 2, 3, 0] + [0, 5, -1, 7]).astype(np.float32)
        f0 = np.abs(g.normal(200, 30, (T // 160 + 1, 1))).astype(np.float32)
        f0[g.random(f0.shape) < 0.4] = 0
        write_utt(tmp_path / "train", f"s{i}", T, mel=mel, f0=f0)
        mels.append(mel)
        f0s.append(f0)
        names[f"s{i}"] = T
    (tmp_path / "train" / "train.lst").write_text("".join(f"{u}\n" for u in names))
    return np.concatenate(mels).astype(np.float64), np.concatenate(f0s).astype(np.float64)


def test_running_stats_merge_matches_numpy():
    x = rng(1).standard_normal((1000, 3)) * [1, 10, 0.1] + [3, -2, 1e4]
    a, b, whole = RunningStats(3), RunningStats(3), RunningStats(3)
    for chunk in np.array_split(x[:300], 7):
        a.update(chunk)
    b.update(x[300:])
    whole.update(x)
    a.merge(b)
    for st in (a, whole):
        mean, std = st.finalize()
        np.testing.assert_allclose(mean, x.mean(0), rtol=1e-12)
        np.testing.assert_allclose(std, x.std(0), rtol=1e-9)


def test_compute_stats_against_numpy_voiced_only(tmp_path, caplog):
    mel, f0 = random_set(tmp_path)
    conf = write_conf(tmp_path)
    with caplog.at_level(logging.WARNING):
        assert compute_stats.main(["--conf", conf, "--data-dir", str(tmp_path)]) == 0
    assert "zero variance" in caplog.text and "[3]" in caplog.text
    stats = load_feature_stats(make_spec(), tmp_path)
    mean, std = stats["mel"]
    np.testing.assert_allclose(mean, mel.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(std[:3], mel.std(0)[:3], rtol=1e-5)
    assert std[3] == 1.0  # zero-variance dim
    voiced = f0[f0 > 0]
    np.testing.assert_allclose(stats["f0"][0], [voiced.mean()], rtol=1e-6)
    np.testing.assert_allclose(stats["f0"][1], [voiced.std()], rtol=1e-5)
    assert read_f4(tmp_path / "train" / "stats" / "mel.mean", 1).shape == (MEL_DIM, 1)


def test_compute_stats_jobs_merge_to_the_same(tmp_path):
    random_set(tmp_path, n=7, seed=3)
    conf = write_conf(tmp_path)
    d = str(tmp_path)
    compute_stats.main(["--conf", conf, "--data-dir", d])
    whole = load_feature_stats(make_spec(), tmp_path)
    for j in (1, 2, 3):
        compute_stats.main(["--conf", conf, "--data-dir", d, "--job", str(j), "--num-jobs", "3"])
    os.remove(tmp_path / "train" / "stats" / "mel.mean")
    compute_stats.main(["--conf", conf, "--data-dir", d, "--merge", "--num-jobs", "3"])
    merged = load_feature_stats(make_spec(), tmp_path)
    for k in whole:
        np.testing.assert_allclose(merged[k][0], whole[k][0], rtol=1e-6)
        np.testing.assert_allclose(merged[k][1], whole[k][1], rtol=1e-6)
    compute_stats.main(["--conf", conf, "--data-dir", d, "--job", "1", "--num-jobs", "4"])
    with pytest.raises(DataError, match=r"mel\.2-of-4\.npz: partial statistics of job 2 missing"):
        compute_stats.main(["--conf", conf, "--data-dir", d, "--merge", "--num-jobs", "4"])


def test_missing_stats_and_bad_files_are_named(tmp_path):
    make_set(tmp_path, "train", {"a": 2000})
    with pytest.raises(DataError, match=r"stats/mel\.mean: normalisation statistics not found; run stage 2"):
        load_feature_stats(make_spec(), tmp_path)
    mel = mel_of(2000)
    mel[3, 1] = np.inf
    write_utt(tmp_path / "train", "a", 2000, mel=mel)
    with pytest.raises(DataError, match=r"mel/a\.f4: contains NaN or Inf"):
        compute_stats.main(["--conf", write_conf(tmp_path), "--data-dir", str(tmp_path)])
    write_f4(tmp_path / "train" / "stats" / "mel.mean", np.zeros(3))
    with pytest.raises(DataError, match=r"mel\.mean: holds 3 values but feature 'mel' has dim 4"):
        load_feature_stats(make_spec(), tmp_path)


def test_make_lists_drops_and_reports(tmp_path, capsys):
    root = make_set(tmp_path, "dev", {f"u{i}": 2000 + 160 * i for i in range(6)}, write_lst=False)
    os.remove(root / "f0" / "u1.f4")  # missing feature
    with open(root / "mel" / "u2.f4", "ab") as f:
        f.write(b"\0" * 8)  # wrong size for dim 4
    mel = mel_of(2320)
    mel[0, 0] = np.nan
    write_utt(root, "u3", 2320, mel=mel)  # NaN
    write_utt(root, "u4", 2640, mel=mel_of(4000))  # length mismatch
    write_f4(root / "wav" / "u9.f4", np.zeros(100))  # only a waveform
    conf = write_conf(tmp_path, min_len=2500)
    assert make_lists.main(["--conf", conf, "--data-dir", str(tmp_path), "--subset", "dev"]) == 0
    out = capsys.readouterr().out
    assert "kept 2 of 7" in out and "1 kept utterance(s) are shorter" in out
    assert read_list(root / "dev.lst") == ["u0", "u5"]
    dropped = read_table(root / "dev.dropped.txt")
    assert set(dropped) == {"u1", "u2", "u3", "u4", "u9"}
    assert "f0/u1.f4: feature file not found" in dropped["u1"]
    assert "mel/u2.f4" in dropped["u2"] and "multiple of dim" in dropped["u2"]
    assert "mel/u3.f4: contains NaN" in dropped["u3"]
    assert "length mismatch" in dropped["u4"] and "mel/u4.f4" in dropped["u4"]
    # inputs only: the waveform is not needed (u9 has no input features at all, so it is no candidate)
    args = ["--conf", conf, "--data-dir", str(tmp_path), "--subset", "dev", "--inputs-only"]
    assert make_lists.main(args) == 0
    assert read_list(root / "dev.lst") == ["u0", "u5"]
    assert set(read_table(root / "dev.dropped.txt")) == {"u1", "u2", "u3", "u4"}


def test_make_lists_ids_from_table_and_labels(tmp_path, capsys):
    root = make_set(tmp_path, "eval", {"a": 2000, "b": 2400}, write_lst=False)
    write_table(tmp_path / "wav.scp", {"a": "/x/a.wav", "b": "/x/b.wav", "c": "/x/c.wav"})
    write_table(tmp_path / "utt2label", {"a": "bonafide", "c": "spoof A01"})
    args = ["--conf", write_conf(tmp_path), "--data-dir", str(tmp_path), "--subset", "eval"]
    make_lists.main(
        args + ["--ids-from", str(tmp_path / "wav.scp"), "--utt2label", str(tmp_path / "utt2label")]
    )
    assert read_list(root / "eval.lst") == ["a"]
    dropped = read_table(root / "eval.dropped.txt")
    assert "no label" in dropped["b"] and "c.f4: feature file not found" in dropped["c"]
    assert read_table(root / "utt2label") == {"a": "bonafide -"}


def test_stage2_scan_is_remembered_and_a_changed_file_scanned_again(tmp_path):
    from pylib.data import SpeechDataset
    from pylib.data.lengths import LengthCache

    root = make_set(tmp_path, "train", {"a": 2000, "b": 2400}, write_lst=False)
    conf = write_conf(tmp_path)
    make_lists.main(["--conf", conf, "--data-dir", str(tmp_path), "--subset", "train"])
    spec = make_spec()
    cache = LengthCache(root)
    assert all(cache.info(root / f.name / f"a{f.ext}", f)[2] for f in spec.features)
    ds = SpeechDataset(spec, tmp_path, "train", train=False)
    assert not any(check for info in ds.read_info for _, check in info)  # nothing to scan again
    mel = mel_of(2400)
    mel[5, 0] = np.nan
    write_utt(root, "b", 2400, mel=mel)  # a new version: not marked, so the loader scans it
    ds = SpeechDataset(spec, tmp_path, "train", train=False)
    with pytest.raises(DataError, match=r"mel/b\.f4: contains NaN"):
        ds[ds.utt_ids.index("b")]
