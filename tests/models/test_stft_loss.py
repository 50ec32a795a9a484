"""Multi-resolution STFT log-magnitude loss (pylib.losses.stft)."""

import numpy as np
import pytest
import torch

from pylib.losses.stft import (
    NSF_RESOLUTIONS,
    MultiResolutionSTFTLoss,
    multi_resolution_stft_loss,
    sine_masked_stft_loss,
)
from tests.conftest import noise, rng, sine

RES = [(64, 16, 32), (32, 8, 16)]


def _pair(T=1000, seed=0):
    g = rng(seed)
    return (torch.from_numpy(g.standard_normal((2, T)).astype(np.float32)),
            torch.from_numpy(g.standard_normal((2, T)).astype(np.float32)))


def test_zero_for_identical_inputs_and_positive_otherwise():
    x = torch.from_numpy(sine(220.0, seconds=0.2))[None]
    loss, stats = multi_resolution_stft_loss(x, x.clone(), NSF_RESOLUTIONS)
    assert float(loss) == 0.0 and stats["stft"] == 0.0
    assert set(stats) == {"stft", "stft_512_80_320", "stft_128_40_80", "stft_2048_640_1920"}
    y = torch.from_numpy(noise(seconds=0.2))[None]
    loss2, stats2 = multi_resolution_stft_loss(x, y, NSF_RESOLUTIONS)
    assert float(loss2) > 0 and abs(stats2["stft"] - sum(v for k, v in stats2.items() if k != "stft")) < 1e-3


def test_padding_is_masked():
    a, b = _pair()
    lengths = torch.tensor([700, 1000])
    loss, _ = multi_resolution_stft_loss(a, b, RES, lengths)
    a2, b2 = a.clone(), b.clone()
    a2[0, 700:] = 9.0
    b2[0, 700:] = -3.0
    loss2, _ = multi_resolution_stft_loss(a2, b2, RES, lengths)
    assert torch.allclose(loss, loss2)
    # Utterance 0 alone, trimmed to its length, sees the same frames.
    l0, _ = multi_resolution_stft_loss(a[:1, :700], b[:1, :700], RES, torch.tensor([700]))
    l0_pad, _ = multi_resolution_stft_loss(a2[:1], b2[:1], RES, torch.tensor([700]))
    assert torch.allclose(l0, l0_pad, rtol=1e-5)
    # Without lengths, padding garbage changes the loss.
    garbage, _ = multi_resolution_stft_loss(a2, b2, RES)
    assert not torch.allclose(multi_resolution_stft_loss(a, b, RES)[0], garbage)


def test_sine_masked_loss_ignores_padding_and_unvoiced_frames():
    y, h = _pair(seed=2)
    sines = torch.from_numpy(np.stack([sine(300.0, seconds=1000 / 16000)] * 2))
    lengths = torch.tensor([700, 1000])
    loss = sine_masked_stft_loss([h], y, sines, RES, lengths)
    y2, h2, s2 = y.clone(), h.clone(), sines.clone()
    y2[0, 700:], h2[0, 700:], s2[0, 700:] = 9.0, -3.0, 0.5  # garbage past the length
    assert float(loss) > 0 and torch.allclose(sine_masked_stft_loss([h2], y2, s2, RES, lengths), loss)
    unmasked = sine_masked_stft_loss([h2], y2, s2, RES)  # without lengths the garbage counts
    assert not torch.allclose(unmasked, sine_masked_stft_loss([h], y, sines, RES))
    silent = torch.zeros_like(sines)  # no voiced frame: everything is masked, the loss is 0
    assert float(sine_masked_stft_loss([h], y, silent, RES, lengths)) == 0.0


def test_module_matches_function_and_has_gradients():
    a, b = _pair(T=640, seed=1)
    a.requires_grad_(True)
    module = MultiResolutionSTFTLoss(RES)
    loss_m, _ = module(a, b, torch.tensor([640, 500]))
    loss_f, _ = multi_resolution_stft_loss(a, b, RES, torch.tensor([640, 500]))
    assert torch.allclose(loss_m, loss_f)
    loss_m.backward()
    assert a.grad is not None and float(a.grad[1, 500:].abs().sum()) == 0.0  # no gradient into padding
    assert float(a.grad[1, :500].abs().sum()) > 0


def test_log_power_difference_of_a_gain():
    x = torch.from_numpy(noise(seconds=0.25, amp=0.5, seed=4))[None]
    loss, _ = multi_resolution_stft_loss(2 * x, x, [(512, 128, 512)], eps=1e-12)
    # A gain of 2 is log(4) in log power in every bin (white noise dominates eps everywhere).
    assert float(loss) == pytest.approx(np.log(4.0) ** 2, rel=0.05)


def test_bad_shapes_and_resolutions():
    with pytest.raises(ValueError, match="same shape"):
        multi_resolution_stft_loss(torch.zeros(1, 100), torch.zeros(1, 90), RES)
    with pytest.raises(ValueError, match="win <= n_fft"):
        MultiResolutionSTFTLoss([(64, 16, 128)])
