"""nnsp `hifigan` V1/V2/V3 against jik876/hifi-gan (models.py, meldataset.py, config_v*.json).

The peer's modules are built from its configs, their weights moved into nnsp through
`jik876_state` (the importer's conversion), and both run in float64 on the same input: generator
output and gradients, MPD/MSD scores and feature maps, the loss functions, and one whole GAN step
(discriminator update, then generator update through the updated discriminator, as train.py).
Segments are 2 mel frames (512 samples); V2/V3 generators keep the published widths, V1's and the
discriminators' are narrowed identically in both models (see CHANNELS and TOY).
"""

import itertools
import json
import types

import librosa
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pylib.config import from_dict
from pylib.losses.gan import feature_matching_loss, lsgan_d_loss, lsgan_g_loss, mel_l1_loss
from pylib.models.vocoder.hifigan import Hifigan, HifiganConfig
from pylib.models.vocoder.hifigan_import import (
    jik876_config,
    jik876_discriminator_state,
    jik876_generator_state,
    jik876_state,
)
from tests.parity.peers import HIFIGAN_DIR, load_hifigan_meldataset, load_hifigan_models, require_hifigan

N_FRAMES = 2
VERSIONS = ["v1", "v2", "v3"]


# the peers build their layers with torch's deprecated hook-based weight_norm
pytestmark = pytest.mark.filterwarnings("ignore:.*torch.nn.utils.weight_norm.*:FutureWarning",
                                        "ignore:invalid escape sequence:DeprecationWarning")


@pytest.fixture(autouse=True)
def _threads():
    n = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(n)


def close(a, b, what, rtol=1e-5):
    """a ~ b elementwise within rtol, relative to b's largest magnitude for near-zero entries."""
    a, b = torch.as_tensor(a).detach(), torch.as_tensor(b).detach()
    assert a.shape == b.shape, f"{what}: shape {tuple(a.shape)} vs {tuple(b.shape)}"
    scale = float(b.abs().max()) if b.numel() else 0.0
    torch.testing.assert_close(a, b.to(a.dtype), rtol=rtol, atol=rtol * scale + 1e-30, msg=what)


# V1's 512 initial channels (14 M parameters) are slow on a shared 2-core machine: V1 runs with 64
# in both models (its layout otherwise unchanged); V2 and V3 keep the published widths.
CHANNELS = {"v1": 64}


def peer_config(version):
    raw = json.loads((HIFIGAN_DIR / f"config_{version}.json").read_text())
    raw["upsample_initial_channel"] = CHANNELS.get(version, raw["upsample_initial_channel"])
    return load_hifigan_models()["env"].AttrDict(raw), raw


# Toy discriminator widths for the GAN-step tests (the published MPD/MSD hold 70 M parameters:
# float64 copies, gradients and Adam states of both would need gigabytes). The peer's layers are
# built through a width map; its forward code runs unchanged. Every group count still divides.
TOY = {32: 4, 128: 16, 256: 16, 512: 32, 1024: 32}
TOY_MPD = [4, 16, 32, 32, 32]
TOY_MSD = [16, 16, 16, 32, 32, 32, 32]


class _Narrow:
    """Stand-in for a torch conv class in the peer's namespace: channel counts through TOY."""

    def __init__(self, cls):
        self.cls = cls

    def __call__(self, c_in, c_out, *args, **kw):
        return self.cls(TOY.get(c_in, c_in), TOY.get(c_out, c_out), *args, **kw)


def build_pair(version, seed=0, full_width_d=False, generator=True):
    """(peer namespace with G/mpd/msd/h, nnsp Hifigan) with the same weights, float64, training mode."""
    require_hifigan()
    pm = load_hifigan_models()["models"]
    h, raw = peer_config(version)
    torch.manual_seed(seed)
    peer = types.SimpleNamespace(G=pm.Generator(h) if generator else None, h=h)
    saved = pm.Conv1d, pm.Conv2d
    if not full_width_d:
        pm.Conv1d, pm.Conv2d = _Narrow(torch.nn.Conv1d), _Narrow(torch.nn.Conv2d)
    try:
        peer.mpd, peer.msd = pm.MultiPeriodDiscriminator(), pm.MultiScaleDiscriminator()
    finally:
        pm.Conv1d, pm.Conv2d = saved
    section = dict(jik876_config(raw)["model"])
    section.pop("name")
    if not full_width_d:
        section.update(mpd_channels=TOY_MPD, msd_channels=TOY_MSD)
    model = Hifigan(from_dict(HifiganConfig, section, where="model"))
    g_sd = peer.G.state_dict() if generator else None
    model.load_state_dict(jik876_state(model, g_sd, peer.mpd.state_dict(), peer.msd.state_dict()))
    for m in (peer.G, peer.mpd, peer.msd, model):
        if m is not None:
            m.double().train()
    return peer, model


def inputs(seed=1, batch=1):
    """mel (B, 80, N) as the peer takes it, wave y (B, N * 256) in (-1, 1)."""
    g = torch.Generator().manual_seed(seed)
    mel = torch.randn(batch, 80, N_FRAMES, generator=g, dtype=torch.float64)
    t = torch.arange(N_FRAMES * 256, dtype=torch.float64) / 22050
    y = 0.4 * torch.sin(2 * np.pi * 220 * t)[None] + 0.05 * torch.randn(batch, t.numel(), generator=g,
                                                                        dtype=torch.float64)
    return mel, y


def grads(named, mapping=None):
    out = {n: p.grad.detach().clone() for n, p in named if p.grad is not None}
    return mapping(out) if mapping else out


@pytest.fixture
def peer_mel(monkeypatch):
    return patched_peer_mel(monkeypatch)


def patched_peer_mel(monkeypatch):
    """meldataset.mel_spectrogram runnable today: librosa's mel() takes keywords since 0.10, and
    torch.stft needs return_complex (the peer wants the real (..., 2) layout); float64 kept."""
    md = load_hifigan_meldataset()
    shim = types.SimpleNamespace(**{k: getattr(torch, k) for k in dir(torch) if not k.startswith("__")})

    def stft(x, *args, window=None, **kw):
        return torch.view_as_real(torch.stft(x, *args, window=window.to(x.dtype), return_complex=True, **kw))

    shim.stft = stft
    shim.matmul = lambda a, b: torch.matmul(a.to(b.dtype), b)  # the peer's float32 filterbank
    monkeypatch.setattr(md, "torch", shim)
    monkeypatch.setattr(md, "librosa_mel_fn", lambda sr, n_fft, n_mels, fmin, fmax: librosa.filters.mel(
        sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax))

    def mel(y, h, fmax):
        return md.mel_spectrogram(y, h.n_fft, h.num_mels, h.sampling_rate, h.hop_size, h.win_size, h.fmin,
                                  fmax)

    return mel


def g_map(d):
    return {f"generator.{k}": v for k, v in jik876_generator_state(d).items()}


def d_map(mpd, msd):
    return {f"discriminator.{k}": v for k, v in jik876_discriminator_state(mpd, msd).items()}


@pytest.mark.parametrize("version", VERSIONS)
def test_generator_output_and_gradients(version):
    peer, model = build_pair(version)
    mel, _ = inputs()
    w = torch.randn(1, N_FRAMES * 256, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    ref = peer.G(mel)  # (B, 1, T)
    (ref[:, 0] * w).sum().backward()
    out = model.generate({"mel": mel.transpose(1, 2)})  # (B, T)
    (out * w).sum().backward()
    close(out, ref[:, 0], f"{version} generator output")
    want = grads(peer.G.named_parameters(), g_map)
    got = grads(model.generator.named_parameters(), lambda d: {f"generator.{k}": v for k, v in d.items()})
    assert set(got) == set(want)
    for k in want:
        close(got[k], want[k], f"{version} gradient of {k}")


def test_discriminator_scores_and_feature_maps():
    peer, model = build_pair("v1", generator=False)
    _, y = inputs(seed=2)
    _, y_hat = inputs(seed=3)
    f_r, f_g, fm_fr, fm_fg = peer.mpd(y[:, None], y_hat[:, None])
    s_r, s_g, fm_sr, fm_sg = peer.msd(y[:, None], y_hat[:, None])
    outs_r, maps_r = model.discriminator(y[:, None])
    outs_g, maps_g = model.discriminator(y_hat[:, None])
    assert len(outs_r) == len(f_r) + len(s_r) == 8
    for ours, theirs, maps, their_maps, what in ((outs_r, f_r + s_r, maps_r, fm_fr + fm_sr, "real"),
                                                  (outs_g, f_g + s_g, maps_g, fm_fg + fm_sg, "generated")):
        for k, (o, t) in enumerate(zip(ours, theirs, strict=True)):
            close(o.flatten(1), t, f"{what} score of sub-discriminator {k}")
        for k, (ms, ts) in enumerate(zip(maps, their_maps, strict=True)):
            assert len(ms) == len(ts)
            for j, (m, t) in enumerate(zip(ms, ts, strict=True)):
                close(m, t, f"{what} feature map {j} of sub-discriminator {k}")


def test_losses(peer_mel):
    pm = load_hifigan_models()["models"]
    peer, model = build_pair("v1", generator=False)
    _, y = inputs(seed=2)
    _, y_hat = inputs(seed=3)
    y_hat.requires_grad_(True)
    f_r, f_g, fm_fr, fm_fg = peer.mpd(y[:, None], y_hat[:, None])
    real, fake = [t.detach() for t in f_r], [t.detach() for t in f_g]
    ref_d = pm.discriminator_loss(real, fake)[0]
    close(lsgan_d_loss(real, fake)[0], ref_d, "discriminator_loss")
    close(lsgan_g_loss(fake), pm.generator_loss(fake)[0], "generator_loss")
    maps_r = [[m.detach() for m in ms] for ms in fm_fr]
    maps_g = [[m.detach() for m in ms] for ms in fm_fg]
    close(2.0 * feature_matching_loss(maps_r, maps_g), pm.feature_loss(maps_r, maps_g), "feature_loss")
    # the mel L1 of train.py: target mel with fmax_for_loss (null), weight 45; and its gradient
    h = peer.h
    want = librosa.filters.mel(sr=h.sampling_rate, n_fft=h.n_fft, n_mels=h.num_mels, fmin=h.fmin, fmax=None)
    assert np.array_equal(model.loss_mel.fbank.numpy(), want), "the loss mel filterbank is librosa's"
    ref_mel = peer_mel(y_hat, h, h.fmax_for_loss)
    close(model.loss_mel(y_hat), ref_mel.transpose(1, 2), "loss mel spectrogram")
    ref = F.l1_loss(peer_mel(y, h, h.fmax_for_loss), ref_mel) * 45
    (g_ref,) = torch.autograd.grad(ref, y_hat)
    ours = 45 * mel_l1_loss(y_hat, y, torch.tensor([y.shape[1]]), mel_fn=model.loss_mel)
    (g_ours,) = torch.autograd.grad(ours, y_hat)
    close(ours, ref, "45 x mel L1")
    close(g_ours, g_ref, "gradient of 45 x mel L1")


def reference_gan_step(peer, mel, y, peer_mel):
    """One iteration of jik876's train.py: generate, update D (MPD + MSD), update G through the
    updated D. Returns the losses and the gradients of both updates (before their optimiser step)."""
    pm = load_hifigan_models()["models"]
    h = peer.h
    optim_g = torch.optim.AdamW(peer.G.parameters(), h.learning_rate, betas=[h.adam_b1, h.adam_b2])
    optim_d = torch.optim.AdamW(itertools.chain(peer.msd.parameters(), peer.mpd.parameters()),
                                h.learning_rate, betas=[h.adam_b1, h.adam_b2])
    y_mel = peer_mel(y, h, h.fmax_for_loss)
    y = y[:, None]
    y_g_hat = peer.G(mel)
    y_g_hat_mel = peer_mel(y_g_hat[:, 0], h, h.fmax_for_loss)
    optim_d.zero_grad()
    y_df_hat_r, y_df_hat_g, _, _ = peer.mpd(y, y_g_hat.detach())
    loss_disc_f = pm.discriminator_loss(y_df_hat_r, y_df_hat_g)[0]
    y_ds_hat_r, y_ds_hat_g, _, _ = peer.msd(y, y_g_hat.detach())
    loss_disc_s = pm.discriminator_loss(y_ds_hat_r, y_ds_hat_g)[0]
    loss_disc_all = loss_disc_s + loss_disc_f
    loss_disc_all.backward()
    d_grads = d_map(grads(peer.mpd.named_parameters()), grads(peer.msd.named_parameters()))
    optim_d.step()
    optim_g.zero_grad()
    loss_mel = F.l1_loss(y_mel, y_g_hat_mel) * 45
    y_df_hat_r, y_df_hat_g, fmap_f_r, fmap_f_g = peer.mpd(y, y_g_hat)
    y_ds_hat_r, y_ds_hat_g, fmap_s_r, fmap_s_g = peer.msd(y, y_g_hat)
    loss_fm_f = pm.feature_loss(fmap_f_r, fmap_f_g)
    loss_fm_s = pm.feature_loss(fmap_s_r, fmap_s_g)
    loss_gen_f = pm.generator_loss(y_df_hat_g)[0]
    loss_gen_s = pm.generator_loss(y_ds_hat_g)[0]
    loss_gen_all = loss_gen_s + loss_gen_f + loss_fm_s + loss_fm_f + loss_mel
    loss_gen_all.backward()
    g_grads = g_map(grads(peer.G.named_parameters()))
    optim_g.step()
    return {"d_loss": loss_disc_all.detach(), "g_loss": loss_gen_all.detach(), "mel": loss_mel.detach(),
            "d_grads": d_grads, "g_grads": g_grads}


def nnsp_gan_step(model, mel, y, lr=2e-4, betas=(0.8, 0.99)):
    """The same iteration through nnsp's engine contract (pylib.contracts.GanModel): generate once,
    then the groups in the declared update order, each loss -> backward (this group's gradients
    only) -> AdamW step."""
    groups = model.param_groups()
    assert model.update_order == ("discriminator", "generator") and list(groups) == list(model.update_order)
    opts = {g: torch.optim.AdamW(ps, lr, betas=betas) for g, ps in groups.items()}
    batch = {"mel": mel.transpose(1, 2), "wav": y[..., None], "wav_len": torch.tensor([y.shape[1]] * len(y))}
    fake = model.generate(batch)
    out = {}
    for g in model.update_order:
        opts[g].zero_grad(set_to_none=True)
        if g == "discriminator":
            loss, stats = model.discriminator_loss(batch, 0, fake)
        else:
            loss, stats = model.generator_loss(batch, 0, fake, adversarial=True)
        others = [p for h, ps in groups.items() if h != g for p in ps]
        kept = [p.grad for p in others]
        loss.backward()
        for p, gr in zip(others, kept, strict=True):
            p.grad = gr
        names = {id(p): n for n, p in model.named_parameters()}
        out[f"{g[0]}_grads"] = {names[id(p)]: p.grad.detach().clone() for p in groups[g]
                                if p.grad is not None}
        out[f"{g[0]}_loss"] = loss.detach()
        out.update(stats)
        opts[g].step()
    out["mel"] = torch.tensor(45 * out["mel_l1"], dtype=torch.float64)
    return out


# V2 is V1's layout at 128 channels (its generator is compared above at full width); the step runs
# for the two block types.
@pytest.mark.slow
@pytest.mark.parametrize("version", ["v1", "v3"])
def test_gan_step(version, peer_mel):
    peer, model = build_pair(version)
    mel, y = inputs(seed=4)
    ref = reference_gan_step(peer, mel, y, peer_mel)
    ours = nnsp_gan_step(model, mel, y)
    close(ours["d_loss"], ref["d_loss"], "discriminator loss")
    close(ours["mel"], ref["mel"], "45 x mel L1")
    close(ours["g_loss"], ref["g_loss"], "generator loss")
    for which in ("d_grads", "g_grads"):
        assert set(ours[which]) == set(ref[which]), which
        for k in ref[which]:
            close(ours[which][k], ref[which][k], f"{version} {which[0].upper()} gradient of {k}")
    # both optimisers stepped the same: the updated generators agree
    peer_after = g_map(dict(peer.G.named_parameters()))
    for k, p in model.generator.named_parameters():
        close(p, peer_after[f"generator.{k}"], f"{version} generator weight {k} after the step")


def test_import_hifigan_cli_vocodes_like_the_peer(tmp_path):
    """A g_* file saved from the peer's Generator (config_v3 at 64 channels) -> model.pt through the
    entry point; the loaded model vocodes as the peer; bad files are named errors."""
    from pylib import load_model
    from pylib.bin import import_hifigan
    from pylib.errors import DataError, UserError

    pm = load_hifigan_models()["models"]
    h, raw = peer_config("v3")
    raw["upsample_initial_channel"] = h.upsample_initial_channel = 64
    conf = tmp_path / "config_v3.json"
    conf.write_text(json.dumps(raw))
    torch.manual_seed(0)
    gen = pm.Generator(h).eval()
    ckpt = tmp_path / "g_00000100"
    torch.save({"generator": gen.state_dict()}, ckpt)
    out = tmp_path / "model.pt"
    assert import_hifigan.main(["--checkpoint", str(ckpt), "--config", str(conf), "--out", str(out)]) == 0
    model = load_model(out)
    mel = torch.randn(1, 80, 4, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = gen(mel)[:, 0]
        (wave,) = model.infer({"mel": mel.transpose(1, 2), "mel_len": torch.tensor([4])})
    close(torch.from_numpy(wave)[None], ref, "vocoded waveform", rtol=1e-4)
    assert model.cfg.upsample_rates == [8, 8, 4] and model.cfg.loss_fmax is None
    with pytest.raises(DataError, match="'mpd' and 'msd'"):
        import_hifigan.main(["--checkpoint", str(ckpt), "--config", str(conf), "--discriminator", str(ckpt),
                             "--out", str(out)])
    torch.save({"generator": gen.state_dict(), "h": h}, tmp_path / "pickled")  # an object, not weights
    with pytest.raises(DataError, match="weights_only"):
        import_hifigan.main(["--checkpoint", str(tmp_path / "pickled"), "--config", str(conf),
                             "--out", str(out)])
    with pytest.raises(UserError, match="not a jik876"):
        (tmp_path / "bad.json").write_text("{}")
        import_hifigan.main(["--checkpoint", str(ckpt), "--config", str(tmp_path / "bad.json"),
                             "--out", str(out)])
