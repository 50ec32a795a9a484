import time

import numpy as np
import pytest

from pylib.bin import make_toy_corpus as cli
from pylib.errors import UserError
from pylib.features.toy_corpus import make_toy_corpus
from pylib.io import read_f4, read_table, read_wav, read_wav_scp


def _all_bytes(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_bytes(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    make_toy_corpus(a, 6, seed=3, max_dur=1.5)
    make_toy_corpus(b, 6, seed=3, max_dur=1.5)
    make_toy_corpus(c, 6, seed=4, max_dur=1.5)
    fa, fb, fc = _all_bytes(a), _all_bytes(b), _all_bytes(c)
    # wav.scp holds absolute paths, which differ by folder; everything else must be byte-identical
    fa.pop("wav.scp"), fb.pop("wav.scp"), fc.pop("wav.scp")
    assert fa == fb
    assert fa["wavs/spk01_0001.wav"] != fc["wavs/spk01_0001.wav"]


def test_layout_tables_and_truth(tmp_path):
    ids = make_toy_corpus(tmp_path, 8, seed=0, num_speakers=2, min_dur=1.0, max_dur=2.0)
    scp = read_wav_scp(tmp_path / "wav.scp")  # also checks it is sorted
    utt2spk = read_table(tmp_path / "utt2spk", require_sorted=True)
    assert list(scp) == list(utt2spk) == ids == sorted(ids)
    assert all(u.startswith(s + "_") for u, s in utt2spk.items())
    assert set(read_table(tmp_path / "spk2f0range")) == {"spk01", "spk02"}
    for utt, path in scp.items():
        sr, wave = read_wav(path)
        assert sr == 16000 and 1.0 <= wave.size / sr <= 2.0
        assert 0.3 < np.abs(wave).max() <= 0.71
        f0 = read_f4(tmp_path / "f0" / f"{utt}.f4", 1)[:, 0]
        assert f0.shape == (wave.size // 80 + 1,)
        voiced = f0 > 0
        assert 0.2 < voiced.mean() < 0.95
        lo, hi = map(float, read_table(tmp_path / "spk2f0range")[utt2spk[utt]].split())
        assert np.all(f0[voiced] > lo * 0.9) and np.all(f0[voiced] < hi * 1.1)


def test_two_hundred_utterances_take_seconds(tmp_path):
    t0 = time.perf_counter()
    make_toy_corpus(tmp_path, 20, seed=1)
    per_utt = (time.perf_counter() - t0) / 20
    assert per_utt * 200 < 30.0  # 200 utts of 1-3 s: seconds, with margin for a busy machine


def test_cli_writes_corpus_and_rejects_bad_args(tmp_path):
    assert cli.main(["--out", str(tmp_path / "t"), "--num-utts", "2", "--seed", "5", "--no-progress"]) == 0
    assert len(read_wav_scp(tmp_path / "t" / "wav.scp")) == 2
    with pytest.raises(UserError, match="min-dur"):
        cli.main(["--out", str(tmp_path / "u"), "--min-dur", "3", "--max-dur", "1"])
