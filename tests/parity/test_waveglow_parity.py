"""Seed parity of WaveGlow and WaveGlow-2 (issue 15): project/05-nn-vocoders/{waveglow,waveglow-2}.

The seed's Model is built through its own model.py with the WaveGlow it constructs narrowed (the
published 3 x 4 flows x 8 layers x 256 channels take minutes in float64 on two busy cores; the
code paths are the same), every weight made non-trivial (the seed zero-initialises the coupling
outputs), then moved into nnsp through the registered importer. In float64: the latents z, the
log-determinant, the loss (the sum of the seed's two returned terms) and every gradient agree to
1e-5; sampling from the seed's own noise draws gives the seed's waveform (with its spectral-
subtraction post-filter); the importer runs end to end through the CLI.
"""

import re

import numpy as np
import pytest
import torch

from pylib import load_model
from pylib.engine.export import build_from_config
from pylib.models.catalogue import get_model_class
from pylib.models.seed_import import SEED_ARCHS, convert_state_dict, detect_arch
from tests.parity.peers import load_seed_model_module, require_seed, seed_args, stand_in_config

VARIANTS = ["waveglow", "waveglow-2"]
B, N, HOP, MEL = 2, 10, 80, 80
TOY = dict(blocks=3, flows=2, layers=3, channels=8)
RTOL = 1e-5

pytestmark = pytest.mark.usefixtures("one_thread")


def _seed(variant, monkeypatch):
    """The seed module and its Model (toy-width WaveGlow inside), weights randomised (seeded)."""
    conf = dict(input_reso=[HOP], input_dims=[MEL], wav_samp_rate=16000)
    mod = load_seed_model_module(f"05-nn-vocoders/{variant}/model.py", **conf)
    wg = mod.nii_waveglow
    real = wg.WaveGlow

    def narrow(cond_dim, up, n_blocks, n_flows, n_layers, channels, kernel, affine, early, legacy):
        assert (n_blocks, n_flows, n_layers, channels, kernel, early) == (3, 4, 8, 256, 3, 2)  # published
        wg.WaveGlow = real  # its __init__ calls super(WaveGlow, self) by the module's name
        return real(cond_dim, up, TOY["blocks"], TOY["flows"], TOY["layers"], TOY["channels"], kernel, affine,
                    early, legacy)

    monkeypatch.setattr(wg, "WaveGlow", narrow)
    monkeypatch.setattr(wg.nii_io_conf, "d_dtype", torch.get_default_dtype())  # get_z_noises' dtype
    g = np.random.default_rng(7)
    mean_std = [g.normal(-3.0, 1.0, MEL), g.uniform(0.5, 2.0, MEL), np.zeros(1), np.ones(1)]
    model = mod.Model(MEL, 1, seed_args(), stand_in_config(**conf), mean_std=mean_std)
    model = model.to(torch.get_default_dtype())
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if not p.requires_grad or name.endswith("weight_inv"):
                continue
            p.add_(0.1 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
            p.copy_(p.float().to(p.dtype))  # float32 values, as a checkpoint holds them
    return mod, model


def _inputs():
    g = np.random.default_rng(11)
    mel = torch.from_numpy(g.normal(-3.0, 1.0, (B, N, MEL)))
    wav = torch.from_numpy(0.1 * np.sin(np.arange(N * HOP) * 0.07)[None].repeat(B, 0)
                           + 0.01 * g.standard_normal((B, N * HOP)))[..., None]
    return mel, wav


def _nnsp(seed):
    _, config, state = convert_state_dict(seed.state_dict())
    model = build_from_config(config, state, get_model_class).to(torch.get_default_dtype())
    return config, model


@pytest.mark.parametrize("variant", VARIANTS)
def test_likelihood_and_gradients_match_the_seed(variant, monkeypatch, float64):
    _, seed = _seed(variant, monkeypatch)
    assert detect_arch(seed.state_dict()) == variant
    config, model = _nnsp(seed)
    assert config["model"]["coupling_net"] == ("nonar" if variant == "waveglow" else "legacy")
    assert config["data"]["inputs"][0]["norm"] is False  # the seed never normalises its mel
    mel, wav = _inputs()

    z_ref, neg_logp, logp_z, log_det = seed.m_waveglow(wav, mel)
    (terms, _flags) = seed(mel, wav)
    loss_ref = terms[0] + terms[1]  # what the seed trains on (nn_manager_tools.f_process_loss)
    loss_ref.backward()
    torch.testing.assert_close(loss_ref, neg_logp, rtol=RTOL, atol=0)

    zs, _, _ = model.latents(wav, mel)
    for z, zr in zip(zs, z_ref, strict=True):
        torch.testing.assert_close(z, zr, rtol=RTOL, atol=RTOL)
    loss, stats = model({"mel": mel, "wav": wav})
    torch.testing.assert_close(loss, loss_ref, rtol=RTOL, atol=0)
    assert stats["neg_log_pz"] == pytest.approx(float(-logp_z), rel=RTOL)
    assert stats["neg_log_det"] == pytest.approx(float(-log_det), rel=RTOL)
    loss.backward()

    grads = {n: p.grad for n, p in seed.named_parameters() if p.grad is not None}
    grads.update(input_mean=seed.input_mean, input_std=seed.input_std)
    _, _, ref = convert_state_dict(grads, variant)
    got = dict(model.named_parameters())
    checked = 0
    for name, g in ref.items():
        if name.startswith("norm."):
            continue
        torch.testing.assert_close(got[name].grad, g, rtol=RTOL, atol=RTOL * float(g.abs().max()), msg=name)
        checked += 1
    # waveglow-2: the last WaveNet block's residual linear feeds nothing (no gradient in either)
    unused = {n for n in got if n not in ref}
    assert checked + len(unused) == len(got)
    assert all(".res." in n and got[n].grad is None for n in unused), sorted(unused)
    assert bool(unused) == (variant == "waveglow-2")


@pytest.mark.parametrize("variant", VARIANTS)
def test_sampling_matches_the_seed_and_inverts(variant, monkeypatch, float64):
    _, seed = _seed(variant, monkeypatch)
    _, model = _nnsp(seed)
    mel, wav = _inputs()
    draws = []
    real = torch.randn

    def record(*a, **kw):
        out = real(*a, **kw)
        draws.append(out.clone())
        return out

    monkeypatch.setattr(torch, "randn", record)
    with torch.no_grad():
        y_ref = seed.inference(mel)
    monkeypatch.setattr(torch, "randn", real)
    shapes = [s for s in model.z_shapes(B, N) if s is not None]
    assert [tuple(d.shape) for d in draws] == shapes
    z = [d * 0.6 for d in draws]  # model.py inference: noise_std=0.6
    with torch.no_grad():
        y = model.generate(mel, z=z)
        torch.testing.assert_close(y, y_ref[..., 0], rtol=RTOL, atol=RTOL * float(y_ref.abs().max()))
        # invertibility: x -> z -> x
        zs, _, _ = model.latents(wav, mel)
        back = model.reverse(zs, mel)
    torch.testing.assert_close(back, wav[..., 0], rtol=0, atol=1e-6)


def test_importer_cli_writes_a_model_that_samples_like_the_seed(monkeypatch, tmp_path, capsys, float64):
    require_seed()
    from pylib.bin import import_project_nn

    variant = "waveglow-2"
    _, seed = _seed(variant, monkeypatch)
    ckpt = tmp_path / "trained_network.pt"
    torch.save({k: v.float() for k, v in seed.state_dict().items()}, ckpt)
    out = tmp_path / "model.pt"
    # in process (tests/parity/test_nsf_parity.py runs the same entry point as a subprocess)
    assert import_project_nn.main(["--checkpoint", str(ckpt), "--out", str(out)]) == 0
    assert variant in capsys.readouterr().out
    model = load_model(out).double()
    assert model.cfg.coupling_net == "legacy" and model.cfg.hop == HOP
    assert model.cfg.wn_layers == TOY["layers"]
    mel, _ = _inputs()
    z = model.draw_z(B, N, generator=torch.Generator().manual_seed(1), like=mel)
    with torch.no_grad():
        y = model.generate(mel, z=z)
        y_ref = seed.m_waveglow.reverse(z, mel)[..., 0]
        bias = seed.m_waveglow.reverse(z, mel * 0)
        y_ref = seed_frontend().spectral_substraction(y_ref[..., None], bias, 1.0)[..., 0]
    torch.testing.assert_close(y, y_ref, rtol=1e-5, atol=1e-5 * float(y_ref.abs().max()))


def seed_frontend():
    from tests.parity.peers import load_seed_module

    return load_seed_module("sandbox.util_frontend")


def test_architectures_are_told_apart_and_a_wrong_arch_is_refused(monkeypatch, float64):
    from pylib.errors import DataError

    sds = {v: _seed(v, monkeypatch)[1].state_dict() for v in VARIANTS}
    for v, sd in sds.items():
        assert {n for n, a in SEED_ARCHS.items() if a.matches(sd)} == {v}
        assert not SEED_ARCHS[v].matches({**sd, "m_disc.weight": torch.zeros(1)})
    with pytest.raises(DataError, match=re.escape("waveglow layout (they look like waveglow-2)")):
        convert_state_dict(sds["waveglow-2"], "waveglow")
