"""LFCC/LFB: shapes, frame convention, a numpy reference, deltas, the stage-1 extractor."""

import numpy as np
import pytest
import scipy.fft
import scipy.signal
import torch

from pylib.config import from_dict
from pylib.errors import ConfigError
from pylib.features.extractors import FEATURES
from pylib.features.lfcc import FLOAT32_EPS, LFCC, dct_matrix, delta, lfcc, linear_filterbank
from tests.conftest import noise, sine


def numpy_lfcc(x, n_fft=512, hop=160, win=320, n_filters=20):
    """Independent reference: pre-emphasis, zero-padded centred frames, Hamming, |rfft|^2,
    triangular filters, log10(+eps), DCT-II ortho, c0 := log energy, x[t+1]-x[t-1] deltas."""
    x = x.astype(np.float64)
    x = np.concatenate([x[:1], x[1:] - 0.97 * x[:-1]])
    x = np.pad(x, n_fft // 2)
    w = np.zeros(n_fft)
    off = (n_fft - win) // 2
    w[off : off + win] = scipy.signal.get_window("hamming", win, fftbins=True)
    n = (len(x) - n_fft) // hop + 1
    frames = np.stack([x[i * hop : i * hop + n_fft] for i in range(n)]) * w
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    fb = linear_filterbank(n_fft, 16000, n_filters).double().numpy()
    c = scipy.fft.dct(np.log10(power @ fb + FLOAT32_EPS), type=2, norm="ortho", axis=1)
    c[:, 0] = np.log10(power.sum(1) / n_fft + FLOAT32_EPS)
    p = np.pad(c, ((1, 1), (0, 0)), mode="edge")
    d1 = p[2:] - p[:-2]
    p = np.pad(d1, ((1, 1), (0, 0)), mode="edge")
    return np.concatenate([c, d1, p[2:] - p[:-2]], axis=1)


@pytest.mark.parametrize("t", [160 * 50, 160 * 50 + 77, 1000])
def test_shape_and_frame_convention(t):
    x = torch.from_numpy(noise(seconds=t / 16000))
    assert lfcc(x).shape == (t // 160 + 1, 60)
    assert lfcc(x[None].repeat(3, 1)).shape == (3, t // 160 + 1, 60)
    assert lfcc(x, deltas=False, n_ceps=13).shape == (t // 160 + 1, 13)
    assert lfcc(x, dct=False, with_energy=False, deltas=False).shape == (t // 160 + 1, 20)
    assert lfcc(x, center=False).shape == ((t - 512) // 160 + 1, 60)


def test_matches_numpy_reference():
    x = sine(300, seconds=0.4) + noise(seconds=0.4, amp=0.05)
    x[1000:3000] = 0.0  # digital silence: the log floor, not -inf
    ours = lfcc(torch.from_numpy(x)).double().numpy()
    ref = numpy_lfcc(x)
    assert np.isfinite(ours).all()
    np.testing.assert_allclose(ours, ref, atol=2e-3, rtol=1e-4)
    silent = ours[1000 // 160 + 3, 0]  # a frame well inside the silence
    assert silent == pytest.approx(np.log10(FLOAT32_EPS), abs=1e-5)


def test_filterbank_and_dct():
    fb = linear_filterbank(512, 16000, 20)
    assert fb.shape == (257, 20) and float(fb.min()) == 0.0 and 0.9 < float(fb.max()) <= 1.0
    assert (fb.sum(0) > 0).all()
    m = dct_matrix(20)
    np.testing.assert_allclose((m @ m.T).numpy(), np.eye(20), atol=1e-5)
    with pytest.raises(ConfigError, match="fmin"):
        linear_filterbank(512, 16000, 20, fmin=9000)


def test_delta_ramp_and_lengths():
    x = torch.arange(6.0)[None, :, None].repeat(2, 1, 2)  # ramp: slope 1
    d = delta(x)
    assert d[0, 1:-1, 0].tolist() == [2.0] * 4 and d[0, 0, 0] == 1.0 and d[0, -1, 0] == 1.0
    # with lengths, the last valid frame is replicated as if the utterance stopped there
    dl = delta(x, torch.tensor([6, 4]))
    assert torch.equal(dl[0], d[0])
    assert torch.equal(dl[1, :4], delta(x[1:, :4])[0])


def test_padded_batch_equals_alone():
    a = torch.from_numpy(noise(seconds=0.3, seed=1))
    b = torch.from_numpy(noise(seconds=0.2, seed=2))
    batch = torch.zeros(2, a.numel())
    batch[0], batch[1, : b.numel()] = a, b
    out = lfcc(batch, lengths=torch.tensor([a.numel(), b.numel()]))
    nb = b.numel() // 160 + 1
    torch.testing.assert_close(out[1, :nb], lfcc(b), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(out[0], lfcc(a), atol=1e-4, rtol=1e-4)


def test_module_and_extractor():
    x = noise(seconds=0.25)
    mod = LFCC()
    assert mod.dim == 60 and mod(torch.from_numpy(x)[None]).shape == (1, 25 + 1, 60)
    cls = FEATURES.get("lfcc")
    ext = cls(from_dict(cls.Config, {"n_filters": 30, "hop": 80, "win_length": 200}), 16000)
    out = ext(x)
    assert ext.ext == ".f4" and ext.hop == 80 and ext.dim == 90
    assert out.dtype == np.float32 and out.shape == (len(x) // 80 + 1, 90)
    with pytest.raises(ConfigError, match="unknown key"):
        from_dict(cls.Config, {"n_mels": 20})
    with pytest.raises(ConfigError, match="win_length"):
        cls(from_dict(cls.Config, {"win_length": 1024}), 16000)
