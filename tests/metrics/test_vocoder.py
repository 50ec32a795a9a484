"""Vocoder metrics on hand-checkable cases."""

import math

import numpy as np
import pytest

from pylib.metrics.vocoder import (
    default_alpha,
    f0_metrics,
    freqt,
    log_mel_l1,
    mel_cepstral_distortion,
    mel_cepstrum,
    world_mel_cepstrum,
)
from tests.conftest import noise, rng, sine


def test_log_mel_l1_identical_and_offset():
    x = rng(0).normal(size=(20, 8))
    assert log_mel_l1(x, x) == 0.0
    assert log_mel_l1(x, x + 0.25) == pytest.approx(0.25)
    assert log_mel_l1(x, (x - 0.5)[:-2]) == pytest.approx(0.5)  # 2 frames shorter: within tolerance
    with pytest.raises(ValueError, match="not aligned"):
        log_mel_l1(x, x[:-3])
    with pytest.raises(ValueError, match="differ beyond the frame axis"):
        log_mel_l1(x, x[:, :4])


def test_mcd_hand_value_and_c0_ignored():
    ref = np.zeros((5, 4))
    gen = ref.copy()
    gen[:, 0] = 3.0  # gain only: not part of MCD
    assert mel_cepstral_distortion(ref, gen) == 0.0
    gen[:, 1] = 0.1
    assert mel_cepstral_distortion(ref, gen) == pytest.approx(10 / math.log(10) * math.sqrt(2 * 0.01))
    mask = np.array([True, False, False, False, False])
    assert mel_cepstral_distortion(ref, gen, frames=mask) == pytest.approx(0.6141, abs=1e-4)


def test_mel_cepstrum_of_known_envelope_without_warping():
    # log|H(w)| = c0 + c1 cos(w) + c2 cos(2w): the one-sided cepstrum is (c0, c1, c2, 0, ...)
    w = np.linspace(0, np.pi, 257)
    c_true = np.array([0.3, -0.5, 0.2])
    log_amp = c_true[0] + c_true[1] * np.cos(w) + c_true[2] * np.cos(2 * w)
    env = np.exp(2 * log_amp)[None, :].repeat(3, axis=0)
    mc = mel_cepstrum(env, order=5, alpha=0.0)
    assert mc.shape == (3, 6)
    np.testing.assert_allclose(mc[0], [0.3, -0.5, 0.2, 0, 0, 0], atol=1e-10)


def test_freqt_round_trip():
    c = np.zeros(30)
    c[:4] = [0.5, -0.4, 0.2, 0.1]
    warped = freqt(c, 60, 0.42)
    back = freqt(warped, 29, -0.42)
    np.testing.assert_allclose(back, c, atol=1e-6)
    np.testing.assert_allclose(freqt(c, 10, 0.0), c[:11])


def test_world_mel_cepstrum_identical_is_zero_and_gain_changes_only_c0():
    sr = 16000
    x = sine(200, sr=sr, seconds=0.3) + noise(seconds=0.3, sr=sr, amp=0.01)
    f0 = np.full(61, 200.0)  # 5 ms frames over 0.3 s
    mc = world_mel_cepstrum(x, f0, sr, order=24)
    assert mc.shape == (61, 25) and np.isfinite(mc).all()
    assert mel_cepstral_distortion(mc, mc) == 0.0
    mc2 = world_mel_cepstrum(2.0 * x, f0, sr, order=24)
    assert mel_cepstral_distortion(mc, mc2) < 1e-6
    np.testing.assert_allclose(mc2[:, 0] - mc[:, 0], math.log(2.0), atol=1e-6)
    assert default_alpha(sr) == 0.42


def test_f0_metrics_known_ratio_and_vuv():
    ref = np.array([0, 100, 200, 300, 0, 150.0])
    gen = ref * 2 ** (50 / 1200)  # 50 cents sharp everywhere voiced
    r = f0_metrics(ref, gen)
    assert r["f0_rmse_cents"] == pytest.approx(50.0)
    assert (r["vuv_error"], r["n_voiced_both"], r["n_frames"]) == (0.0, 4, 6)
    gen2 = np.array([100, 100, 0, 300, 0, 150.0])  # one V->UV, one UV->V
    r2 = f0_metrics(ref, gen2)
    assert r2["f0_rmse_cents"] == 0.0
    assert r2["vuv_error"] == pytest.approx(2 / 6)
    assert np.isnan(f0_metrics([0, 0], [100, 0])["f0_rmse_cents"])
    identical = f0_metrics(ref, ref)
    assert (identical["f0_rmse_cents"], identical["vuv_error"]) == (0.0, 0.0)
