"""Seed parity of the NSF vocoders (issue 11): hn-sinc-nsf-9, hn-sinc-nsf-10, hn-nsf, cyc-noise-nsf-4.

Each test builds the seed's Model (project-NN-Pytorch-scripts project/01-nsf/<arch>/model.py) at
its published width with non-trivial input mean/std, moves its weights into nnsp through the
registered importer, records every random draw the seed makes and injects the same draws into
nnsp, then compares the waveform, the training loss (the seed's Loss class) and every parameter's
gradient, in float64. The importer is also run end to end through the CLI.
"""

import subprocess
import sys

import numpy as np
import pytest
import torch

from pylib import load_model
from pylib.engine.export import build_from_config
from pylib.models.catalogue import get_model_class
from pylib.models.seed_import import SEED_ARCHS, arch_names, convert_state_dict, detect_arch
from tests.parity.peers import ROOT, load_seed_model_module, require_seed, seed_args, stand_in_config

ARCHS = ["hn-sinc-nsf-9", "hn-sinc-nsf-10", "hn-nsf", "cyc-noise-nsf-4"]
NSF_ARCHS = set(ARCHS)
B, N, HOP, MEL = 2, 20, 80, 80
RTOL = 1e-5


pytestmark = pytest.mark.usefixtures("one_thread")


def _stft_complex_free(self, signal, fft_p, frame_shift, frame_len):
    """The seed's Loss._stft for today's torch: (B, F, N, 2) real/imag, the same frames and window."""
    spec = torch.stft(signal, fft_p, frame_shift, frame_len,
                      window=self.win(frame_len, dtype=signal.dtype, device=signal.device),
                      onesided=True, pad_mode="constant", return_complex=True)
    return torch.view_as_real(spec)


def _shrink(mod, arch, model, hidden=16, blocks=2, convs=4):
    """Rebuild the seed's condition and filter modules narrower, with the seed's own classes (the
    published 64 x 5 x 10 filters take minutes on two busy cores; the code paths are the same)."""
    args = (MEL + 1, hidden, HOP)
    if arch == "hn-nsf":
        model.m_condition = mod.CondModule(*args, cnn_kernel_s=3)
        model.m_filter = mod.FilterModuleHnNSF(1, hidden, model.fir_filters, blocks, 3, convs)
    elif arch == "cyc-noise-nsf-4":
        model.m_cond = mod.CondModuleHnSincNSF(*args, cnn_kernel_s=3)
        model.m_filter = mod.FilterModuleCycNoiseNSF(1, hidden, 31, blocks, 3, convs)
    else:
        model.m_cond = mod.CondModuleHnSincNSF(*args, cnn_kernel_s=3)
        model.m_filter = mod.FilterModuleHnSincNSF(1, hidden, 31, blocks, 3, convs)


def _seed(arch, monkeypatch, small=False):
    """The seed module and Model: trained weights and mean/std rounded to float32 values, as a checkpoint
    holds them; the fixed constants (block scale 0.1, moving-average taps) stay exact."""
    mod = load_seed_model_module(f"01-nsf/{arch}/model.py")
    monkeypatch.setattr(mod.Loss, "_stft", _stft_complex_free)
    g = np.random.default_rng(7)
    mean_std = [np.concatenate([g.normal(-3.0, 1.0, MEL), [150.0]]),
                np.concatenate([g.uniform(0.5, 2.0, MEL), [40.0]]),
                np.zeros(1), np.ones(1)]
    torch.manual_seed(3)
    model = mod.Model(MEL + 1, 1, seed_args(), stand_in_config(input_reso=[HOP, HOP], wav_samp_rate=16000),
                      mean_std=mean_std)
    if small:
        _shrink(mod, arch, model)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.requires_grad or name.startswith("input_"):
                p.copy_(p.float().double())
    return mod, model


def _inputs():
    g = np.random.default_rng(11)
    mel = torch.from_numpy(g.normal(-3.0, 1.0, (B, N, MEL)))
    f0 = torch.from_numpy(np.linspace(110.0, 230.0, N))[None, :, None].repeat(B, 1, 1)
    f0[1] *= 0.8
    f0[0, :4] = 0.0  # unvoiced start, a voiced start, and an unvoiced gap
    f0[:, 10:13] = 0.0
    wav = torch.from_numpy(0.1 * np.sin(np.arange(N * HOP) * 0.07)[None].repeat(B, 0)
                           + 0.01 * g.standard_normal((B, N * HOP)))
    return mel, f0, wav


class _Recorder:
    """Wraps torch's random functions and keeps every draw, in order."""

    def __init__(self, monkeypatch):
        self.draws = []
        for name in ("rand", "randn", "randn_like", "rand_like"):
            real = getattr(torch, name)

            def wrapped(*a, _real=real, _name=name, **kw):
                out = _real(*a, **kw)
                self.draws.append((_name, out.clone()))
                return out

            monkeypatch.setattr(torch, name, wrapped)


def _noise_from_seed_draws(arch, draws):
    """The seed's draws, in its order, as nnsp's injectable noise dict."""
    kinds = [(n, tuple(t.shape)) for n, t in draws]
    if arch == "cyc-noise-nsf-4":
        # PulseGen's SineGen: rand (B, 1), randn_like (B, T, 1) (both without effect on the pulses);
        # pulse noise; burst (1, L, 1); noise-branch noise; the loss' sine mask: rand (B, 8), randn_like.
        assert len(draws) == 7, kinds
        t = [d[1] for d in draws]
        return {"pulse": t[2][..., 0], "burst": t[3][0, :, 0], "noise": t[4][..., 0], "mask_phase": t[5]}
    assert len(draws) == 3, kinds  # SineGen: initial phases, additive noise; noise-branch source
    t = [d[1] for d in draws]
    return {"phase": t[0], "sine": t[1], "noise": t[2][..., 0]}


def _seed_grads_as_nnsp(arch, seed_model):
    """The seed's gradients renamed and reshaped by the importer itself (frozen tensors keep their value)."""
    sd = {}
    for k, v in seed_model.state_dict().items():
        p = dict(seed_model.named_parameters()).get(k)
        sd[k] = p.grad if p is not None and p.grad is not None else v
    return convert_state_dict(sd, arch)[2]


def _close(got, ref, what):
    scale = float(ref.abs().max())
    torch.testing.assert_close(got, ref, rtol=RTOL, atol=RTOL * max(scale, 1e-12),
                               msg=lambda m: f"{what}: {m}")


@pytest.mark.parametrize("arch", ARCHS)
def test_forward_loss_and_gradients_match_the_seed(arch, monkeypatch, float64):
    mod, seed = _seed(arch, monkeypatch, small=True)
    name, config, state = convert_state_dict(seed.state_dict(), arch)
    assert name == arch
    model = build_from_config(config, state, get_model_class).double().train()
    mel, f0, wav = _inputs()

    seed.train()
    rec = _Recorder(monkeypatch)
    outputs = seed(torch.cat([mel, f0], dim=-1))
    loss_ref = mod.Loss(seed_args()).compute(outputs, wav.clone())
    loss_ref.backward()
    monkeypatch.undo()
    noise = _noise_from_seed_draws(arch, rec.draws)
    y_ref = (outputs[0] if isinstance(outputs, list) else outputs).detach()

    with torch.no_grad():
        y = model.generate(mel, f0, noise=noise)
    _close(y, y_ref, f"{arch} waveform")

    batch = {"mel": mel, "f0": f0, "wav": wav[..., None], "wav_len": torch.full((B,), N * HOP)}
    loss, stats = model(batch, noise=noise)
    _close(loss.detach(), loss_ref.detach(), f"{arch} loss")
    loss.backward()

    ref_grads = _seed_grads_as_nnsp(arch, seed)
    params = dict(model.named_parameters())
    buffers = set(dict(model.named_buffers()))
    assert set(params) == set(ref_grads) - buffers, sorted(set(params) ^ (set(ref_grads) - buffers))
    for pname, p in params.items():
        assert p.grad is not None, pname
        _close(p.grad, ref_grads[pname].to(p.grad.dtype), f"{arch} grad {pname}")


def test_layouts_are_told_apart(monkeypatch, float64):
    """Each seed NSF layout is recognised as itself and as nothing else among the NSF layouts."""
    arch_names()  # every declared architecture registered, whatever ran before this test
    for arch in ARCHS:
        _, seed = _seed(arch, monkeypatch)
        sd = seed.state_dict()
        hits = {n for n, a in SEED_ARCHS.items() if a.matches(sd)}
        assert hits & NSF_ARCHS == {arch}, (arch, hits)
        # Unknown extra keys (a GAN's discriminator, say) are not taken for a plain NSF model.
        assert not SEED_ARCHS[arch].matches({**sd, "m_disc.weight": torch.zeros(1)})


def test_importer_cli_writes_a_model_that_vocodes_like_the_seed(monkeypatch, tmp_path):
    require_seed()
    from pylib.bin import import_project_nn

    arch = "hn-sinc-nsf-9"
    _, seed = _seed(arch, monkeypatch)
    seed = seed.float().eval()
    ckpt = tmp_path / "trained_network.pt"
    torch.save(seed.state_dict(), ckpt)
    g = np.random.default_rng(5)
    mel = torch.from_numpy(g.normal(-3.0, 1.0, (1, 12, MEL)).astype(np.float32))
    f0 = torch.full((1, 12, 1), 140.0)
    f0[:, :3] = 0.0
    T = 12 * HOP
    noise = {"phase": torch.rand(1, 8), "sine": torch.randn(1, T, 8), "noise": torch.randn(1, T)}
    queue = [noise["phase"], noise["sine"], noise["noise"][..., None]]
    monkeypatch.setattr(torch, "rand", lambda *a, **kw: queue.pop(0).clone())
    monkeypatch.setattr(torch, "randn_like", lambda x, **kw: queue.pop(0).clone())
    with torch.no_grad():
        y_ref = seed(torch.cat([mel, f0], dim=-1))
    monkeypatch.undo()
    assert not queue
    assert detect_arch(seed.state_dict()) == arch

    for argv in ([], ["--arch", arch]):
        out = tmp_path / f"model{len(argv)}.pt"
        args = ["--checkpoint", str(ckpt), "--out", str(out), *argv]
        if argv:
            assert import_project_nn.main(args) == 0
        else:  # the command line itself, once
            run = subprocess.run([sys.executable, "-m", "pylib.bin.import_project_nn", *args],
                                 capture_output=True, text=True, cwd=ROOT)
            assert run.returncode == 0 and f"{arch} as nnsp model HnSincNsf" in run.stdout, run.stderr
        model = load_model(out)
        with torch.no_grad():
            y = model.generate(mel, f0, noise=noise)
        torch.testing.assert_close(y, y_ref, rtol=1e-4, atol=1e-4 * float(y_ref.abs().max()))
        assert model.cfg.cond_module == "blstm" and model.cfg.hop == HOP
        torch.testing.assert_close(model.norm["f0"].mean, torch.tensor([150.0]))


def test_importer_refuses_a_wrong_arch(monkeypatch, tmp_path, float64):
    from pylib.errors import DataError

    _, seed = _seed("hn-nsf", monkeypatch)
    with pytest.raises(DataError, match="hn-sinc-nsf-9 layout.*look like hn-nsf"):
        convert_state_dict(seed.state_dict(), "hn-sinc-nsf-9")
