"""pylib.data.toy_spoof: the toy CM recipe's attacks and the spoofed data folder."""

import numpy as np
import pytest

from pylib.data.toy_spoof import ATTACKS, _stft, griffin_lim, make_spoof_set, spoof
from pylib.errors import DataError
from pylib.io import read_utt2label, read_utt2spk, read_wav, read_wav_scp, write_table, write_wav
from tests.conftest import noise, sine

SR = 16000


def speechlike(seconds=0.5, seed=0):
    """A voiced tone followed by noise: both branches of every attack get exercised."""
    t = np.arange(int(SR * seconds / 2)) / SR
    tone = sum(np.sin(2 * np.pi * k * 140 * t) / k for k in range(1, 8)) * 0.05
    return np.concatenate([tone, noise(seconds / 2, SR, amp=0.02, seed=seed)]).astype(np.float32)


@pytest.mark.parametrize("attack", ATTACKS)
def test_attack_keeps_length_and_level_and_changes_the_signal(attack):
    x = speechlike()
    y = spoof(x, SR, attack, seed=1)
    assert y.dtype == np.float32 and y.shape == x.shape and np.isfinite(y).all()
    assert np.sqrt(np.mean(y**2)) == pytest.approx(np.sqrt(np.mean(x**2)), rel=1e-3)
    assert np.max(np.abs(y)) <= 0.99 + 1e-6
    assert np.mean((y - x) ** 2) > 1e-4 * np.mean(x**2)  # a resynthesis, not a copy
    np.testing.assert_array_equal(y, spoof(x, SR, attack, seed=1))  # seeded


def test_loud_output_is_limited_below_full_scale():
    x = 8 * speechlike()
    y = spoof(x, SR, "L1")
    assert np.max(np.abs(y)) == pytest.approx(0.99, abs=1e-6)
    assert np.sqrt(np.mean(y**2)) < np.sqrt(np.mean(x**2))


def test_griffin_lim_recovers_a_consistent_magnitude():
    x = sine(300.0, SR, 0.3, amp=0.5).astype(np.float64)
    win = np.hanning(513)[:-1]
    mag = np.abs(_stft(x, 512, 128, win))
    y = griffin_lim(mag, 512, 128, x.size, iterations=50)
    err = np.linalg.norm(np.abs(_stft(y, 512, 128, win)) - mag) / np.linalg.norm(mag)
    assert err < 0.1


def test_unknown_attack_is_an_error():
    with pytest.raises(ValueError, match="unknown attack 'X9'"):
        spoof(speechlike(), SR, "X9")


def _bona(tmp_path, n=2):
    src = tmp_path / "bona"
    scp = {}
    for i in range(n):
        p = src / "wavs" / f"spk1_{i}.wav"
        write_wav(p, SR, speechlike(0.3, seed=i))
        scp[f"spk1_{i}"] = str(p)
    write_table(src / "wav.scp", scp)
    write_table(src / "utt2spk", {u: "spk1" for u in scp})
    return src


def test_make_spoof_set_writes_sorted_tables_with_labels(tmp_path):
    src = _bona(tmp_path)
    counts = make_spoof_set(src, tmp_path / "out", ["W1", "L1"], progress=False)
    assert counts == {"bonafide": 2, "spoof": 4, "attacks": ["W1", "L1"]}
    labels = read_utt2label(tmp_path / "out" / "utt2label")
    assert labels["spk1_0"] == ("bonafide", "-") and labels["spk1_1-L1"] == ("spoof", "L1")
    scp = read_wav_scp(tmp_path / "out" / "wav.scp")
    assert list(scp) == sorted(scp) and set(scp) == set(labels)
    assert set(read_utt2spk(tmp_path / "out" / "utt2spk").values()) == {"spk1"}
    sr, y = read_wav(scp["spk1_0-W1"])
    assert sr == SR and y.size == read_wav(scp["spk1_0"])[1].size


def test_make_spoof_set_errors(tmp_path):
    src = _bona(tmp_path)
    with pytest.raises(DataError, match="choose one or more of W1, G1, L1"):
        make_spoof_set(src, tmp_path / "out", ["Z1"], progress=False)
    write_table(src / "utt2spk", {"spk1_0": "spk1"})
    with pytest.raises(DataError, match="utt2spk: no speaker for \\['spk1_1'\\]"):
        make_spoof_set(src, tmp_path / "out", ["W1"], progress=False)
