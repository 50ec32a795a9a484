import numpy as np
import pytest
import torch

from pylib.features.f0 import compute_f0, f0_errors, num_frames
from pylib.features.mel import log_mel
from pylib.features.toy_corpus import make_speakers, synth_utterance, truth_frames
from tests.conftest import noise, sine


@pytest.fixture(scope="module")
def toy_utts():
    speakers = make_speakers(4, seed=7)
    return [synth_utterance(speakers[i % 4], 1.5, [7, i]) for i in range(8)]


def test_yin_gpe_on_toy_utterances_with_known_f0(toy_utts):
    gpes, vdes = [], []
    for wave, f0_samples in toy_utts:
        est = compute_f0(wave, 16000, 80, method="yin")
        gpe, vde = f0_errors(est, truth_frames(f0_samples, 80))
        gpes.append(gpe)
        vdes.append(vde)
    assert np.mean(gpes) <= 0.03, gpes
    assert np.mean(vdes) <= 0.08, vdes


def test_yin_on_sine_is_accurate_and_silence_unvoiced():
    x = np.concatenate([np.zeros(4000, np.float32), sine(150.0, seconds=0.5), np.zeros(4000, np.float32)])
    f0 = compute_f0(x, 16000, 80, method="yin")
    mid = f0[60:140]
    assert np.all(np.abs(mid - 150.0) < 1.0)
    assert np.all(f0[:40] == 0) and np.all(f0[-40:] == 0)


def test_yin_white_noise_is_mostly_unvoiced():
    f0 = compute_f0(noise(seconds=1.0, amp=0.3, seed=5), 16000, 80, method="yin")
    assert np.mean(f0 > 0) < 0.1


@pytest.mark.parametrize("method", ["yin", "harvest", "dio"])
@pytest.mark.parametrize("length", [3201, 4799, 555])
def test_f0_frame_count_equals_mel(method, length):
    x = sine(200.0, seconds=0.4)[:length]
    f0 = compute_f0(x, 16000, 80, method=method)
    mel = log_mel(torch.from_numpy(x), 16000, 1024, 80, 320, 80)
    assert f0.shape == (mel.shape[0],) == (num_frames(length, 80),)
    assert f0.dtype == np.float32 and np.all(f0 >= 0)


@pytest.mark.parametrize("method", ["harvest", "dio"])
def test_world_methods_track_toy_pitch(toy_utts, method):
    wave, f0_samples = toy_utts[1]
    gpe, _ = f0_errors(compute_f0(wave, 16000, 80, method=method), truth_frames(f0_samples, 80))
    assert gpe <= 0.05


def test_f0_errors_hand_computed():
    ref = np.array([0, 100, 100, 100, 200, 0], np.float32)
    est = np.array([0, 100, 130, 0, 210, 150], np.float32)
    gpe, vde = f0_errors(est, ref)
    assert gpe == pytest.approx(1 / 3)  # voiced in both: 100, 130 (>20 % off), 210
    assert vde == pytest.approx(2 / 6)


def test_unknown_method_is_an_error():
    with pytest.raises(ValueError, match="unknown F0 method"):
        compute_f0(sine(), 16000, 80, method="crepe")
