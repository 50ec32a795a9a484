"""nnsp's LFCC, LFB and spec2 front ends against the seed's sandbox/util_frontend.py (float64).

The seed's settings are those of 03-asvspoof-mega/{lfcc,lfb,spec2}-lcnn-*/01/model.py: frame 320,
hop 160, FFT 512, 16 kHz; LFCC 20 filters with energy as c0 and deltas; LFB 60 filters, no energy,
no deltas; spec2 the power spectrogram through TrainableLinearFb (log10((p @ W)^2 + eps)).
"""

import warnings

import pytest
import torch

from pylib.features.lfcc import lfcc as nnsp_lfcc
from pylib.models.cm.layers import FrontEnd
from tests.parity.peers import load_seed_model_module, load_seed_module, require_seed

SR, HOP, FL, FFT = 16000, 160, 320, 512


@pytest.fixture(scope="module")
def seed_frontend():
    require_seed()
    return load_seed_module("sandbox.util_frontend")


def seed_run(module, wav):
    """A seed front end in float64 on a copy of `wav` (the seed's Spectrogram pre-emphasises its
    input in place); its Hamming window buffer is made float64 too (the seed builds it float32)."""
    module = module.double()
    module.window_buf = torch.hamming_window(FL, dtype=torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # stft(return_complex=False) deprecation in the seed
        with torch.no_grad():
            return module(wav.clone())


def waves(b=2, t=8000, seed=0):
    g = torch.Generator().manual_seed(seed)
    tt = torch.arange(t, dtype=torch.float64) / SR
    tone = 0.3 * torch.sin(2 * torch.pi * 440 * tt)
    return 0.1 * torch.randn(b, t, generator=g, dtype=torch.float64) + tone


def nnsp_front(kind, n_filters, with_energy, deltas):
    fe = FrontEnd(kind, SR, FFT, HOP, FL, n_filters, "hamming", 0.97, float(torch.finfo(torch.float32).eps),
                  with_energy, deltas, True, "constant", 1e-5)
    return fe.double()


def close(a, b, rtol=1e-5, atol=1e-8):
    torch.testing.assert_close(a, b, rtol=rtol, atol=atol)


@pytest.mark.parametrize("t", [8000, 7919])
def test_lfcc_matches_seed(seed_frontend, t):
    wav = waves(t=t)
    seed = seed_frontend.LFCC(FL, HOP, FFT, SR, 20, with_energy=True)
    ref = seed_run(seed, wav)
    fe = nnsp_front("lfcc", 20, True, True)
    # nnsp builds the filterbank and DCT itself: equal to float32 round-off (the seed's are float32)
    close(fe.lfcc.fb, seed.lfcc_fb.detach(), rtol=1e-6, atol=1e-7)
    close(fe.lfcc.dct, seed.l_dct.weight.detach(), rtol=1e-6, atol=1e-7)
    free, _ = fe(wav, torch.tensor([t, t]))
    close(free, ref, rtol=1e-3, atol=1e-6)  # that round-off alone, through log10 and deltas
    # with the seed's float32 matrices (as an imported checkpoint carries them): equal to 1e-5
    fe.lfcc.fb.copy_(seed.lfcc_fb.detach())
    fe.lfcc.dct.copy_(seed.l_dct.weight.detach())
    feat, n = fe(wav, torch.tensor([t, t]))
    assert feat.shape == ref.shape == (2, t // HOP + 1, 60) and n.tolist() == [t // HOP + 1] * 2
    close(feat, ref)
    # the functional form (stage-1 extractor path) too
    close(nnsp_lfcc(wav, filterbank=fe.lfcc.fb, dct_weight=fe.lfcc.dct), ref)


def test_lfb_matches_seed(seed_frontend):
    wav = waves()
    ref = seed_run(seed_frontend.LFB(FL, HOP, FFT, SR, 60, with_energy=False, with_emphasis=True,
                                     with_delta=False), wav)
    feat, _ = nnsp_front("lfb", 60, False, False)(wav, torch.tensor([8000, 8000]))
    assert feat.shape == ref.shape == (2, 51, 60)
    close(feat, ref)


def test_spec2_matches_seed_with_gradient(seed_frontend):
    """spec2: Spectrogram (no grad) then the trainable filterbank of spec2-lcnn-*/model.py."""
    mod = load_seed_model_module("03-asvspoof-mega/spec2-lcnn-lstmsum-p2s/01/model.py")
    wav = waves()
    power = seed_run(seed_frontend.Spectrogram(FL, HOP, FFT, SR), wav)
    fb = mod.TrainableLinearFb(FFT, SR, 60).double()
    ref = fb(power)
    fe = nnsp_front("spec2", 60, False, False)
    close(fe.fb.weight.T, fb.weight.detach(), rtol=1e-6, atol=1e-7)  # same initial filterbank
    with torch.no_grad():
        fe.fb.weight.copy_(fb.weight.T)
    feat, _ = fe(wav, torch.tensor([8000, 8000]))
    assert feat.shape == ref.shape == (2, 51, 60)
    close(feat, ref)
    g = torch.randn_like(ref)
    (ref * g).sum().backward()
    (feat * g).sum().backward()
    close(fe.fb.weight.grad.T, fb.weight.grad)


def test_seed_spectrogram_edits_its_input_in_place(seed_frontend):
    """A seed quirk the tests work around: Spectrogram pre-emphasises the caller's tensor; nnsp
    leaves its input alone."""
    wav = waves()
    x = wav.clone()
    seed_frontend.Spectrogram(FL, HOP, FFT, SR).double()
    m = seed_frontend.Spectrogram(FL, HOP, FFT, SR).double()
    m.window_buf = torch.hamming_window(FL, dtype=torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m(x)
    assert not torch.equal(x, wav)
    y = wav.clone()
    nnsp_front("spec2", 60, False, False)(y, torch.tensor([8000, 8000]))
    assert torch.equal(y, wav)
    require_seed()
