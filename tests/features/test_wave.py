import numpy as np

from pylib.features.wave import loudness_normalise, peak_normalise, resample
from tests.conftest import sine


def test_resample_keeps_a_tone_and_sets_length():
    x = sine(440.0, sr=22050, seconds=0.5)
    y = resample(x, 22050, 16000)
    assert y.dtype == np.float32 and y.shape == (8000,)
    ref = sine(440.0, sr=16000, seconds=0.5)
    assert np.max(np.abs(y[400:-400] - ref[400:-400])) < 0.01
    assert resample(x, 22050, 22050) is not None and resample(x, 22050, 22050).shape == x.shape


def test_peak_and_loudness_normalisation():
    x = sine(200.0, amp=0.1)
    assert abs(np.abs(peak_normalise(x, 0.9)).max() - 0.9) < 1e-6
    quiet = np.concatenate([np.zeros(8000, np.float32), x])
    y = loudness_normalise(quiet, -20.0)
    active = y[8000:]
    assert abs(20 * np.log10(np.sqrt(np.mean(active**2))) + 20.0) < 0.2  # silence does not count
    loud = loudness_normalise(sine(200.0, amp=0.5), 0.0)
    assert np.abs(loud).max() <= 0.999 + 1e-6  # gain capped below clipping
    assert np.all(peak_normalise(np.zeros(10, np.float32)) == 0)
