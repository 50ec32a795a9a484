import numpy as np
import pytest
import torch

from pylib.features.f0 import compute_f0, f0_errors, num_frames, voicing_split
from pylib.features.mel import log_mel
from pylib.features.toy_corpus import make_speakers, synth_utterance, truth_frames
from tests.conftest import noise, rng, sine


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


def test_voicing_split_adds_up_to_voicing_error():
    ref = np.array([0, 100, 100, 100, 200, 0], np.float32)
    est = np.array([0, 100, 130, 0, 210, 150], np.float32)
    extra, miss = voicing_split(est, ref)
    assert (extra, miss) == (pytest.approx(1 / 6), pytest.approx(1 / 6))
    assert extra + miss == pytest.approx(f0_errors(est, ref)[1])


def _decaying_tone(f0=140.0, seconds=0.6, sr=16000):
    """A harmonic tone whose amplitude dies away exponentially over its second half, then silence:
    the offset keeps its period while its periodicity (CMND dip) weakens."""
    t = np.arange(int(seconds * sr)) / sr
    tone = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in (1, 2, 3))
    env = np.where(t < seconds / 2, 1.0, np.exp(-(t - seconds / 2) / 0.03))
    x = 0.3 * tone * env + 0.003 * rng(3).standard_normal(t.size)
    return np.concatenate([x, 0.003 * rng(4).standard_normal(4000)]).astype(np.float32)


def test_hysteresis_keeps_offsets_voiced_at_the_right_pitch():
    x = _decaying_tone()
    plain = compute_f0(x, 16000, 80, method="yin", stay_threshold=None, max_gap=0)
    hyst = compute_f0(x, 16000, 80, method="yin")
    grown = (hyst > 0) & (plain == 0)
    assert np.sum(grown) >= 3  # the decaying tail stays voiced for longer
    assert np.all(plain[hyst == 0] == 0)  # growing never unvoices a frame
    assert np.all(np.abs(hyst[grown] - 140.0) < 0.05 * 140.0)  # and follows the right period
    assert np.all(hyst[-20:] == 0)  # while the trailing noise stays unvoiced


def test_short_gap_inside_voicing_is_bridged_and_long_pause_is_not():
    tone = sine(180.0, seconds=0.3, amp=0.5)
    hole = lambda n: 1e-4 * rng(1).standard_normal(n).astype(np.float32)  # noqa: E731
    short = np.concatenate([tone, hole(240), tone])  # 15 ms hole: 3 unvoiced frames without bridging
    long_ = np.concatenate([tone, hole(960), tone])  # 60 ms: longer than max_gap
    kw = dict(method="yin", silence_db=-30.0, max_grow=0)  # the hole is "silence"
    mid = slice(tone.size // 80 - 4, (tone.size + 240) // 80 + 5)
    assert np.any(compute_f0(short, 16000, 80, max_gap=0, **kw)[mid] == 0)
    bridged = compute_f0(short, 16000, 80, max_gap=4, **kw)[mid]
    assert np.all(np.abs(bridged - 180.0) < 2.0)
    pause = slice((tone.size + 240) // 80, (tone.size + 720) // 80)
    assert np.all(compute_f0(long_, 16000, 80, max_gap=4, **kw)[pause] == 0)


def test_harvest_agreement_on_real_speech_does_not_regress(shared_data):
    """Real speech: voicing hysteresis must keep GPE against harvest low and cut the voicing
    disagreement below what the plain (single-threshold) decision gives."""
    from pylib.io import read_wav

    sr, x = read_wav(shared_data / "cmu_arctic_a0007.wav")
    ref = compute_f0(x, sr, 80, method="harvest")
    gpe, vde = f0_errors(compute_f0(x, sr, 80, method="yin"), ref)
    _, vde_plain = f0_errors(
        compute_f0(x, sr, 80, method="yin", voicing_threshold=0.35, stay_threshold=None, max_gap=0), ref
    )
    assert gpe <= 0.03 and vde < vde_plain, (gpe, vde, vde_plain)
