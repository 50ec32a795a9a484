"""nnsp `hn_sinc_nsf_hifigan` against the seed's project/01-nsf/hn-sinc-nsf-hifigan (float64).

The seed's ModelDiscriminator (MPD + MSD, loss_for_D, loss_for_G) and LossAuxGen against nnsp's
discriminator and generator losses, fed the same generated waveform, then one GAN step in
nn_manager_GAN's order (discriminator update, generator loss through the updated discriminator).
The discriminators run at narrowed widths, identical in both (the published ones hold 70 M
parameters); their forward code is the seed's, unchanged.

`test_generator_import_and_gan_step` runs the seed's generator too, imported through the seed
registry (hn-sinc-nsf-9's converter, from the nsf branch) with the seed's random draws injected.
"""

import types

import numpy as np
import pytest
import torch

from pylib.config import from_dict
from pylib.models.vocoder.hifigan_import import jik876_discriminator_state
from pylib.models.vocoder.nsf_gan import HnSincNsfHifigan, HnSincNsfHifiganConfig, aux_stft_loss
from tests.parity.peers import load_seed_model_module, seed_args, stand_in_config

B, N, HOP, MEL = 1, 8, 80, 80
TOY = {32: 4, 128: 16, 256: 16, 512: 32, 1024: 32}
TOY_MPD = [4, 16, 32, 32, 32]
TOY_MSD = [16, 16, 16, 32, 32, 32, 32]
RELPATH = "01-nsf/hn-sinc-nsf-hifigan/model.py"


# the peers build their layers with torch's deprecated hook-based weight_norm
pytestmark = pytest.mark.filterwarnings("ignore:.*torch.nn.utils.weight_norm.*:FutureWarning",
                                        "ignore:invalid escape sequence:DeprecationWarning")


@pytest.fixture(autouse=True)
def float64_two_threads():
    old, n = torch.get_default_dtype(), torch.get_num_threads()
    torch.set_default_dtype(torch.float64)  # the seed makes its buffers and draws in the default dtype
    torch.set_num_threads(2)
    yield
    torch.set_default_dtype(old)
    torch.set_num_threads(n)


def close(got, ref, what, rtol=1e-5):
    got, ref = torch.as_tensor(got).detach(), torch.as_tensor(ref).detach()
    assert got.shape == ref.shape, f"{what}: {tuple(got.shape)} vs {tuple(ref.shape)}"
    scale = float(ref.abs().max()) if ref.numel() else 0.0
    torch.testing.assert_close(got, ref.to(got.dtype), rtol=rtol, atol=rtol * max(scale, 1e-30), msg=what)


def _stft_complex_free(self, signal, fft_p, frame_shift, frame_len):
    """LossAuxGen._stft for today's torch: the same frames and window, the (..., 2) real layout."""
    window = self.win(frame_len, dtype=signal.dtype, device=signal.device)
    return torch.view_as_real(torch.stft(signal, fft_p, frame_shift, frame_len, window=window, onesided=True,
                                         pad_mode="constant", return_complex=True))


def seed_module(monkeypatch):
    mod = load_seed_model_module(RELPATH, input_reso=[HOP, HOP], wav_samp_rate=16000)
    monkeypatch.setattr(mod.LossAuxGen, "_stft", _stft_complex_free)
    return mod


def seed_discriminator(mod):
    """The seed's ModelDiscriminator with every conv width mapped through TOY."""
    def narrow(cls):
        return lambda c_in, c_out, *a, **kw: cls(TOY.get(c_in, c_in), TOY.get(c_out, c_out), *a, **kw)

    real = mod.torch_nn
    shim = types.SimpleNamespace(**{k: getattr(real, k) for k in dir(real) if not k.startswith("__")})
    shim.Conv1d, shim.Conv2d = narrow(real.Conv1d), narrow(real.Conv2d)
    mod.torch_nn = shim
    try:
        torch.manual_seed(2)
        return mod.ModelDiscriminator(MEL + 1, 1, seed_args(), stand_in_config()).train()
    finally:
        mod.torch_nn = real


def seed_d_state(d, params=False):
    """The seed discriminator's weights (or gradients) in nnsp's names, by the importer's renaming."""
    src = {n: p.grad for n, p in d.named_parameters() if p.grad is not None} if params else d.state_dict()
    mpd = {k[len("m_mpd."):]: v for k, v in src.items() if k.startswith("m_mpd.")}
    msd = {k[len("m_msd."):]: v for k, v in src.items() if k.startswith("m_msd.")}
    return {f"discriminator.{k}": v for k, v in jik876_discriminator_state(mpd, msd).items()}


def nnsp_model(seed_d):
    cfg = from_dict(HnSincNsfHifiganConfig, {"mpd_channels": TOY_MPD, "msd_channels": TOY_MSD}, where="model")
    model = HnSincNsfHifigan(cfg).train()
    state = model.state_dict()
    state.update(seed_d_state(seed_d))
    model.load_state_dict(state)
    return model


def waves(seed=3):
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(N * HOP) / 16000
    y = 0.3 * torch.sin(2 * np.pi * 180 * t)[None].repeat(B, 1) + 0.02 * torch.randn(B, N * HOP, generator=g)
    y_hat = 0.2 * torch.sin(2 * np.pi * 185 * t + 0.3)[None].repeat(B, 1) + 0.05 * torch.randn(
        B, N * HOP, generator=g)
    return y, y_hat


def d_grads(model):
    return {n: p.grad.detach().clone() for n, p in model.named_parameters()
            if n.startswith("discriminator.") and p.grad is not None}


def test_aux_stft_loss_is_loss_aux_gen(monkeypatch):
    mod = seed_module(monkeypatch)
    y, y_hat = waves()
    y_hat.requires_grad_(True)
    ref = mod.LossAuxGen().compute(y_hat[..., None], y[..., None])
    (g_ref,) = torch.autograd.grad(ref, y_hat)
    ours = 45.0 * aux_stft_loss(y_hat, y)
    (g_ours,) = torch.autograd.grad(ours, y_hat)
    close(ours, ref, "45 x STFT L1")
    close(g_ours, g_ref, "gradient of 45 x STFT L1")
    # full lengths through the masked path give the same number
    close(45.0 * aux_stft_loss(y_hat, y, lengths=torch.full((B,), N * HOP)), ref, "with full lengths")


def seed_gan_step(mod, seed_d, y, y_hat, lr=1e-4):
    """nn_manager_GAN.f_run_one_epoch_GAN on a given generated waveform: loss_for_D on the detached
    output, backward, Adam step (main.py's --lr, default betas); then loss_for_G + loss_aux."""
    opt_d = torch.optim.Adam(seed_d.parameters(), lr=lr)
    nat, gen = y[..., None], y_hat[..., None]
    seed_d.zero_grad()
    err_d = seed_d.loss_for_D(nat, gen.detach(), None)
    err_d.backward()
    grads_d = seed_state_grads = seed_d_state(seed_d, params=True)
    opt_d.step()
    seed_d.zero_grad()
    err_g = seed_d.loss_for_G(nat, gen, None) + mod.LossAuxGen().compute(gen, nat)
    return err_d.detach(), grads_d, err_g, seed_state_grads


def nnsp_gan_step(model, batch, fake, lr=1e-4):
    """The engine's order (pylib.contracts.GanModel): discriminator loss and step, then the
    generator loss through the updated discriminator, both on the one generated `fake`."""
    groups = model.param_groups()
    assert model.update_order == ("discriminator", "generator") and list(groups) == list(model.update_order)
    opt_d = torch.optim.Adam(groups["discriminator"], lr=lr)
    loss_d, stats_d = model.discriminator_loss(batch, 0, fake)
    loss_d.backward()
    grads = d_grads(model)
    opt_d.step()
    model.zero_grad()
    loss_g, stats_g = model.generator_loss(batch, 0, fake, adversarial=True)
    return loss_d.detach(), grads, loss_g, {**stats_d, **stats_g}


def test_discriminator_losses_and_gan_step_on_the_same_generated_wave(monkeypatch):
    mod = seed_module(monkeypatch)
    seed_d = seed_discriminator(mod)
    model = nnsp_model(seed_d)
    y, y_hat = waves()
    y_hat_seed = y_hat.clone().requires_grad_(True)
    y_hat_ours = y_hat.clone().requires_grad_(True)

    err_d, grads_ref, err_g, _ = seed_gan_step(mod, seed_d, y, y_hat_seed)
    (g_ref,) = torch.autograd.grad(err_g, y_hat_seed)

    batch = {"wav": y[..., None], "wav_len": torch.full((B,), N * HOP)}
    loss_d, grads, loss_g, stats = nnsp_gan_step(model, batch, y_hat_ours)
    (g_ours,) = torch.autograd.grad(loss_g, y_hat_ours)

    close(loss_d, err_d, "discriminator loss (loss_for_D)")
    assert set(grads) == set(grads_ref)
    for k in grads_ref:
        close(grads[k], grads_ref[k], f"discriminator gradient of {k}")
    # after the discriminator update both hold the same weights (spectral-norm vectors included)
    after = seed_d_state(seed_d)
    own = model.state_dict()
    for k, v in after.items():
        close(own[k], v, f"discriminator {k} after the update")
    close(loss_g, err_g, "generator loss (loss_for_G + loss_aux)")
    close(g_ours, g_ref, "generator loss gradient reaching the generated wave")
    assert set(stats) >= {"d_loss", "g_loss", "adv", "fm", "stft_l1"}


def _seed_generator(mod):
    g = np.random.default_rng(7)
    mean_std = [np.concatenate([g.normal(-3.0, 1.0, MEL), [150.0]]),
                np.concatenate([g.uniform(0.5, 2.0, MEL), [40.0]]), np.zeros(1), np.ones(1)]
    torch.manual_seed(3)
    conf = stand_in_config(input_reso=[HOP, HOP], wav_samp_rate=16000)
    return mod.ModelGenerator(MEL + 1, 1, seed_args(), conf, mean_std=mean_std)


def test_generator_import_and_gan_step(monkeypatch):
    """The seed's generator imports as hn-sinc-nsf-9 (importer, noise injection), then GAN-steps alike."""
    from pylib.models.seed_import import SEED_ARCHS, arch_names, convert_state_dict, detect_arch

    assert "hn-sinc-nsf-9" in arch_names(), "every declared seed architecture registers, whatever ran before"
    mod = seed_module(monkeypatch)
    seed_g, seed_d = _seed_generator(mod).train(), seed_discriminator(mod)
    merged = {**seed_g.state_dict(), **seed_d.state_dict()}
    assert detect_arch(merged) == "hn-sinc-nsf-hifigan"
    name, config, state = convert_state_dict(merged)
    config["model"].update(mpd_channels=TOY_MPD, msd_channels=TOY_MSD)
    from pylib.engine.export import build_from_config
    from pylib.models.catalogue import get_model_class

    model = build_from_config(config, state, get_model_class).double().train()
    # its generator alone is recognised too: its noise block scales by 1/5, hn-sinc-nsf-9's by 0.1
    assert SEED_ARCHS["hn-sinc-nsf-hifigan"].matches(seed_g.state_dict())
    assert detect_arch(seed_g.state_dict()) == "hn-sinc-nsf-hifigan"  # and by nothing else
    g_only = convert_state_dict(seed_g.state_dict(), "hn-sinc-nsf-hifigan")[2]
    assert set(g_only) == set(convert_state_dict(merged)[2])  # a fresh discriminator fills in

    g = np.random.default_rng(11)
    mel = torch.from_numpy(g.normal(-3.0, 1.0, (B, N, MEL)))
    f0 = torch.linspace(110.0, 200.0, N)[None, :, None].repeat(B, 1, 1)
    f0[:, :2] = 0.0
    y, _ = waves()

    draws = []
    for fn in ("rand", "randn", "randn_like"):
        real = getattr(torch, fn)

        def wrapped(*a, _real=real, **kw):
            out = _real(*a, **kw)
            draws.append(out.clone())
            return out

        monkeypatch.setattr(torch, fn, wrapped)
    y_hat_seed = seed_g(torch.cat([mel, f0], dim=-1))  # (B, T, 1)
    monkeypatch.undo()
    monkeypatch.setattr(mod.LossAuxGen, "_stft", _stft_complex_free)
    assert len(draws) == 3, [tuple(t.shape) for t in draws]  # phases, sine noise, noise-branch source
    noise = {"phase": draws[0], "sine": draws[1], "noise": draws[2][..., 0]}
    y_hat = model.generator.generate(mel, f0, noise=noise)
    close(y_hat, y_hat_seed[..., 0], "generated waveform")

    err_d, grads_ref, err_g, _ = seed_gan_step(mod, seed_d, y, y_hat_seed[..., 0])
    seed_g.zero_grad()
    err_g.backward()
    batch = {"mel": mel, "f0": f0, "wav": y[..., None], "wav_len": torch.full((B,), N * HOP)}
    loss_d, grads, loss_g, _ = nnsp_gan_step(model, batch, y_hat)
    loss_g.backward()
    close(loss_d, err_d, "discriminator loss")
    for k in grads_ref:
        close(grads[k], grads_ref[k], f"discriminator gradient of {k}")
    close(loss_g, err_g, "generator loss")
    sd = {k: (p.grad if p.grad is not None else p) for k, p in seed_g.named_parameters()}
    sd.update({k: v for k, v in seed_g.state_dict().items() if k not in sd})
    sd = {k: (torch.full_like(v, 0.1) if k.endswith(".scale") else v) for k, v in sd.items()}  # constants
    ref_grads = {f"generator.{k}": v for k, v in convert_state_dict(sd, "hn-sinc-nsf-9")[2].items()}
    for k, p in model.generator.named_parameters():
        if p.requires_grad:
            close(p.grad, ref_grads[f"generator.{k}"], f"generator gradient of {k}")
