"""HiFi-GAN / NSF-HiFi-GAN at toy width: shapes, presets, the GAN step protocol, training, inference."""

import math

import numpy as np
import pytest
import torch

from pylib.config import from_dict
from pylib.data.spec import DataSpec, FeatureSpec
from pylib.errors import ConfigError
from pylib.losses.gan import feature_matching_loss, lsgan_d_loss, lsgan_g_loss, mel_l1_loss
from pylib.models.catalogue import get_model_class
from pylib.models.vocoder.discriminators import HifiganDiscriminator, count_params
from pylib.models.vocoder.hifigan import (
    PRESETS,
    Hifigan,
    HifiganConfig,
    HifiganGenerator,
    NsfHifigan,
    NsfHifiganConfig,
)
from tests.conftest import noise, sine

SR, HOP, N_MELS = 8000, 16, 8
TOY_MSD = [4, 8, 8, 8, 8, 8, 8]


def make_config(cls=HifiganConfig, **kw):
    """Toy-width config: 2 upsampling stages (x4, x4), 8 mel bins, tiny discriminators."""
    base = dict(preset="v1", upsample_rates=[4, 4], upsample_kernel_sizes=[8, 8], upsample_initial_channel=16,
                resblock_kernel_sizes=[3, 5], resblock_dilation_sizes=[[1, 3], [1, 3]], mpd_periods=[2, 3],
                mpd_channels=[4, 8], msd_scales=2, msd_channels=TOY_MSD, sample_rate=SR, hop=HOP,
                n_mels=N_MELS, loss_n_fft=128, loss_win_length=128, loss_n_mels=16, loss_fmax=None)
    base.update(kw)
    return from_dict(cls, base, where="model")


def make_batch(n_frames=12, batch=2, seed=0, f0=None):
    """mel (B, N, 8) noise, wav (B, N*hop, 1) sines, lengths full; optional constant f0 (Hz)."""
    T = n_frames * HOP
    wav = np.stack([sine(200.0 + 50 * b, SR, T / SR, amp=0.3) for b in range(batch)])
    mel = np.stack([noise(n_frames * N_MELS / SR, SR, amp=1.0, seed=seed + b).reshape(n_frames, N_MELS)
                    for b in range(batch)])
    out = {
        "utt_id": [f"u{b}" for b in range(batch)],
        "mel": torch.from_numpy(mel), "mel_len": torch.full((batch,), n_frames),
        "wav": torch.from_numpy(wav)[..., None], "wav_len": torch.full((batch,), T),
    }
    if f0 is not None:
        out["f0"] = torch.full((batch, n_frames, 1), float(f0))
        out["f0_len"] = torch.full((batch,), n_frames)
    return out


@pytest.fixture(autouse=True)
def _seeded():
    threads = torch.get_num_threads()
    # One thread: toy-sized ops gain nothing from more, and OpenMP spinning on a busy 2-core
    # machine makes them up to 100x slower.
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng():  # model init and noise are seeded without touching the caller's RNG
            torch.manual_seed(0)
            yield
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("rates,kernels,resblock",
                         [([4, 4], [8, 8], 1), ([2, 2, 4], [4, 4, 8], 2), ([16], [32], 1),
                          ([5, 3], [9, 7], 2)])
def test_output_length_is_frames_times_hop(rates, kernels, resblock):
    g = HifiganGenerator(N_MELS, rates, kernels, 16, resblock, [3, 5], [[1, 2], [2, 3]])
    y = g(torch.zeros(3, 7, N_MELS))
    assert y.shape == (3, 7 * math.prod(rates))
    assert float(y.detach().abs().max()) <= 1.0  # tanh output


@pytest.mark.parametrize("preset,published", [("v1", 13.92e6), ("v2", 0.92e6), ("v3", 1.46e6)])
def test_presets_have_published_parameter_counts(preset, published):
    cfg = HifiganConfig(preset=preset)
    g = HifiganGenerator(80, **cfg.generator_kwargs())
    assert abs(count_params(g) - published) / published < 0.03
    assert g.hop == 256


def test_overrides_replace_preset_values():
    cfg = make_config(preset="v3", upsample_initial_channel=None, resblock=None)
    gk = cfg.generator_kwargs()
    assert gk["upsample_initial_channel"] == PRESETS["v3"]["upsample_initial_channel"]
    assert gk["resblock"] == 2 and gk["upsample_rates"] == [4, 4]


def test_discriminator_outputs_and_feature_maps():
    d = HifiganDiscriminator([2, 3], [4, 8], 2, TOY_MSD)
    T = 1001  # not a multiple of the periods: reflect-padded
    outs, fmaps = d(torch.randn(2, 1, T))
    assert len(outs) == len(fmaps) == 4
    for p, o, f in zip([2, 3], outs[:2], fmaps[:2]):
        assert o.dim() == 4 and o.shape[0] == 2 and o.shape[1] == 1 and o.shape[-1] == p
        assert len(f) == 3 and [m.shape[1] for m in f] == [4, 8, 1]
        assert all(m.shape[-1] == p for m in f)
    for i, (o, f) in enumerate(zip(outs[2:], fmaps[2:])):
        assert o.shape[:2] == (2, 1) and o.dim() == 3
        assert [m.shape[1] for m in f] == TOY_MSD + [1]
        assert f[0].shape[-1] == (T if i == 0 else T // 2 + 1)  # second scale: pooled by 2
    # The first scale uses spectral norm, the rest weight norm.
    assert hasattr(d.msd.discriminators[0].convs[0].parametrizations.weight[0], "_u")
    assert not hasattr(d.msd.discriminators[1].convs[0].parametrizations.weight[0], "_u")


def _grads(params):
    return [p.grad is not None and bool(p.grad.abs().sum() > 0) for p in params]


def test_discriminator_then_generator_step_protocol():
    model = Hifigan(make_config())
    groups = model.param_groups()
    assert list(groups) == ["discriminator", "generator"]
    d_ids = {id(p) for p in groups["discriminator"]}
    assert not d_ids & {id(p) for p in groups["generator"]}
    assert len(d_ids) + len(groups["generator"]) == len(list(model.parameters()))

    assert model.update_order == ("discriminator", "generator")
    calls = []
    model.generator.register_forward_hook(lambda *a: calls.append(1))
    batch = make_batch()
    fake = model.generate(batch)
    d_loss, d_stats = model.discriminator_loss(batch, 0, fake)
    assert torch.isfinite(d_loss) and set(d_stats) >= {"d_loss", "d_real", "d_fake"}
    d_loss.backward()
    assert any(_grads(groups["discriminator"])) and not any(_grads(groups["generator"]))

    model.zero_grad(set_to_none=True)
    g_loss, g_stats = model.generator_loss(batch, 0, fake, adversarial=True)
    assert len(calls) == 1  # both losses use the one generated batch
    assert torch.isfinite(g_loss) and set(g_stats) >= {"g_loss", "mel_l1", "adv", "fm"}
    assert all(isinstance(v, float) for v in g_stats.values())
    g_loss.backward()
    assert all(_grads(groups["generator"])) and not any(_grads(groups["discriminator"]))
    assert all(p.requires_grad for p in groups["discriminator"])  # unfrozen after the step


def test_generator_alone_warmup_has_no_adversarial_terms():
    model = Hifigan(make_config(lambda_stft=1.0, stft_resolutions=[[64, 16, 64], [32, 8, 32]]))
    batch = make_batch()
    loss, stats = model.generator_loss(batch, 0, model.generate(batch), adversarial=False)
    assert torch.isfinite(loss)
    assert "adv" not in stats and "fm" not in stats
    assert stats["stft"] > 0
    assert stats["g_loss"] == pytest.approx(45 * stats["mel_l1"] + stats["stft"], rel=1e-5)


def test_padding_is_ignored_by_the_losses():
    model = Hifigan(make_config())
    batch = make_batch(n_frames=12)
    batch["wav_len"] = torch.tensor([12 * HOP, 5 * HOP])
    batch["wav"][1, 5 * HOP:] = 0.0
    fake = model.generate(batch)
    _, stats = model.generator_loss(batch, 0, fake, adversarial=False)
    # The generated audio is zeroed past each length, like the zero-padded target.
    y_hat, _, _ = model._pair(batch, fake)
    assert float(y_hat[1, 5 * HOP:].detach().abs().max()) == 0.0
    assert np.isfinite(stats["mel_l1"])


def test_trainable_generator_loss_decreases():
    model = Hifigan(make_config())
    batch = make_batch(n_frames=16, batch=1)
    opt = torch.optim.Adam(model.param_groups()["generator"], lr=5e-3)
    losses = []
    for step in range(30):
        loss, _ = model.generator_loss(batch, step, model.generate(batch), adversarial=False)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.9 * losses[0]  # log-mel L1 from a near-silent start falls steadily


def test_gan_steps_run_with_optimisers():
    model = Hifigan(make_config())
    groups = model.param_groups()
    opts = {k: torch.optim.Adam(v, lr=2e-4, betas=(0.8, 0.99)) for k, v in groups.items()}
    batch = make_batch()
    for step in range(2):
        fake = model.generate(batch)
        for name, opt in opts.items():
            if name == "discriminator":
                loss, _ = model.discriminator_loss(batch, step, fake)
            else:
                loss, _ = model.generator_loss(batch, step, fake, adversarial=True)
            opt.zero_grad()
            loss.backward()
            opt.step()
            assert torch.isfinite(loss)


def test_weight_norm_removal_keeps_outputs():
    model = Hifigan(make_config()).eval()
    batch = make_batch()
    before = model.infer(batch)
    model.remove_weight_norm()
    after = model.infer(batch)
    assert not any(torch.nn.utils.parametrize.is_parametrized(m) for m in model.generator.modules())
    for a, b in zip(before, after):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_infer_trims_to_mel_length():
    model = Hifigan(make_config()).eval()
    batch = make_batch(n_frames=10)
    batch["mel_len"] = torch.tensor([10, 6])
    out = model.infer(batch)
    assert [o.shape for o in out] == [(10 * HOP,), (6 * HOP,)]
    assert all(o.dtype == np.float32 for o in out)


def test_norm_is_applied_to_the_mel():
    model = Hifigan(make_config()).eval()
    batch = make_batch()
    a = model.infer(batch)[0]
    model.norm["mel"].set_stats(torch.full((N_MELS,), 0.5), torch.full((N_MELS,), 2.0))
    b = model.infer(batch)[0]
    assert not np.allclose(a, b)
    assert "norm.mel.mean" in model.state_dict()


def test_nsf_source_injection_shapes():
    cfg = make_config(NsfHifiganConfig, upsample_rates=[2, 2, 4], upsample_kernel_sizes=[4, 4, 8],
                      num_harmonics=3)
    model = NsfHifigan(cfg)
    f0 = torch.full((2, 9, 1), 150.0)
    f0[:, :3] = 0.0  # unvoiced start
    exc = model.excitation(f0)
    assert exc.shape == (2, 1, 9 * HOP) and float(exc.detach().abs().max()) < 1.0
    seen = []
    for conv in model.generator.source_convs:
        conv.register_forward_hook(lambda m, i, o: seen.append(o.shape))
    y = model.generator(torch.zeros(2, 9, N_MELS), exc)
    chans = [16 // 2, 16 // 4, 16 // 8]
    assert seen == [(2, c, 9 * r) for c, r in zip(chans, [2, 4, 16])]
    assert y.shape == (2, 9 * HOP)


def test_nsf_hifigan_f0_changes_output_and_trains():
    model = NsfHifigan(make_config(NsfHifiganConfig)).eval()
    outs = []
    for hz in (120.0, 240.0):  # the same source noise and phases (by position, infer_seed): only F0 differs
        outs.append(model.infer(make_batch(f0=hz))[0])
    assert not np.allclose(outs[0], outs[1], atol=1e-4)
    model.train()
    groups = model.param_groups()
    assert any(p is model.source_merge.weight for p in groups["generator"])
    batch = make_batch(f0=200.0)
    fake = model.generate(batch)
    for loss, _ in (model.discriminator_loss(batch, 0, fake), model.generator_loss(batch, 0, fake, True)):
        loss.backward()
        assert torch.isfinite(loss)
    assert model.source_merge.weight.grad is not None


def test_registered_and_config_errors():
    assert get_model_class("hifigan") is Hifigan and get_model_class("nsf_hifigan") is NsfHifigan
    with pytest.raises(ConfigError, match="unknown key"):
        make_config(upsample_rate=[4, 4])
    with pytest.raises(ConfigError, match="not the mel's hop 32"):
        Hifigan(make_config(hop=32))
    with pytest.raises(ConfigError, match="not 1 or 2"):
        Hifigan(make_config(resblock=3))
    with pytest.raises(ConfigError, match="non-empty"):
        Hifigan(make_config(resblock_dilation_sizes=[[1], []]))
    with pytest.raises(ConfigError, match="even"):
        Hifigan(make_config(upsample_kernel_sizes=[7, 8]))
    spec = DataSpec(sample_rate=SR, inputs=[FeatureSpec(name="mel", dim=N_MELS, hop=80)],
                    outputs=[FeatureSpec(name="wav", ext=".wav", dim=1, hop=1)])
    with pytest.raises(ConfigError, match="'mel'"):
        Hifigan(make_config(), spec)
    spec.inputs[0].hop = HOP
    Hifigan(make_config(), spec)
    with pytest.raises(ConfigError, match="f0"):
        NsfHifigan(make_config(NsfHifiganConfig), spec)


def test_gan_losses_on_hand_cases():
    ones, zeros = [torch.ones(2, 1, 5)], [torch.zeros(2, 1, 5)]
    loss, real, fake = lsgan_d_loss(ones, zeros)
    assert float(loss) == 0.0
    assert float(lsgan_d_loss(zeros, ones)[0]) == 2.0
    assert float(lsgan_g_loss([torch.full((3,), 0.5)] * 2)) == pytest.approx(0.5)
    fm = [[torch.ones(2, 3), torch.zeros(4)]]
    assert float(feature_matching_loss(fm, fm)) == 0.0
    assert float(feature_matching_loss(fm, [[torch.zeros(2, 3), torch.zeros(4)]])) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        lsgan_d_loss(ones, zeros * 2)


def test_mel_l1_masks_padding():
    kw = dict(sample_rate=SR, n_fft=64, hop=16, win_length=64, n_mels=8)
    y = torch.from_numpy(np.stack([sine(300, SR, 0.05), sine(500, SR, 0.05)]))
    assert float(mel_l1_loss(y, y, **kw)) == 0.0
    y_hat = y.clone()
    y_hat[1, 300:] += 0.5  # differs only in the padding of utterance 1
    lengths = torch.tensor([y.shape[1], 200])
    assert float(mel_l1_loss(y_hat, y, **kw)) > 0
    # Frames centred inside the valid part but reaching into the padding do see it; far ones don't.
    assert float(mel_l1_loss(y_hat, y, lengths=lengths, **kw)) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError):
        mel_l1_loss(y, y[:, :-1], **kw)


def test_spectral_norm_follows_torchs_original_power_iteration():
    """SpectralNorm = torch.nn.utils.spectral_norm (the hook version jik876 and the seed use) over
    several training forwards from the same u, v, in value and gradient."""
    from torch.nn.utils import spectral_norm as hook_spectral_norm

    from pylib.models.vocoder.discriminators import spectral_norm

    ref = hook_spectral_norm(torch.nn.Conv1d(4, 6, 5, groups=2).double())
    ours = spectral_norm(torch.nn.Conv1d(4, 6, 5, groups=2).double())
    with torch.no_grad():
        ours.parametrizations.weight.original.copy_(ref.weight_orig)
        ours.bias.copy_(ref.bias)
        ours.parametrizations.weight[0]._u.copy_(ref.weight_u)
        ours.parametrizations.weight[0]._v.copy_(ref.weight_v)
    x = torch.randn(2, 4, 30, dtype=torch.float64)
    for _ in range(3):
        torch.testing.assert_close(ours(x), ref(x), rtol=1e-12, atol=1e-12)
    ours(x).square().sum().backward()
    ref(x).square().sum().backward()
    torch.testing.assert_close(ours.parametrizations.weight.original.grad, ref.weight_orig.grad)
    ours.eval()
    ref.eval()
    torch.testing.assert_close(ours(x), ref(x), rtol=1e-12, atol=1e-12)  # no iteration in eval


def test_hifigan_loss_mel_framing():
    from pylib.losses.gan import HifiganMel

    mel = HifiganMel(SR, 64, HOP, 64, 16)
    w = torch.randn(2, 10 * HOP)
    assert mel(w).shape == (2, 10, 16)  # T / hop frames, not T / hop + 1
    mask = mel.frame_mask(torch.tensor([10 * HOP, 4 * HOP + HOP // 2]), 10)
    assert mask.sum(1).tolist() == [10, 4]  # frame k counts while its centre k*hop + hop/2 is inside
    with pytest.raises(ValueError, match="too short"):
        mel(torch.randn(1, 20))
    with pytest.raises(ValueError, match="even"):
        HifiganMel(SR, 64, 15, 64, 16)
    centred = Hifigan(make_config(loss_mel_framing="centred"))
    assert centred.loss_mel(w).shape == (2, 11, 16)
    with pytest.raises(ConfigError, match="loss_mel_framing"):
        Hifigan(make_config(loss_mel_framing="nope"))


def test_jik876_conversion_takes_weight_norm_removed_generators():
    """A generator saved after remove_weight_norm (plain weights) imports with g = ||w|| per channel."""
    from pylib.models.vocoder.hifigan_import import jik876_state

    src, dst = Hifigan(make_config()), Hifigan(make_config())
    src.generator.remove_weight_norm()
    plain = {k[len("generator."):].replace("blocks.", "resblocks."): v
             for k, v in src.state_dict().items() if k.startswith("generator.")}
    dst.load_state_dict(jik876_state(dst, plain))
    mel = torch.randn(1, 5, N_MELS)
    torch.testing.assert_close(dst.generator(mel), src.generator(mel), rtol=1e-5, atol=1e-6)
    with pytest.raises(ConfigError, match="do not fit"):
        jik876_state(dst, {"conv_pre.weight": torch.zeros(3, 3, 3)})


def make_nsf_gan(**kw):
    from pylib.models.vocoder.nsf_gan import HnSincNsfHifigan, HnSincNsfHifiganConfig

    base = dict(n_mels=N_MELS, hop=HOP, sample_rate=SR, filter_channels=8, cond_channels=8,
                cond_lstm_units=8, filter_layers=2, harmonic_blocks=1, mpd_periods=[2, 3],
                mpd_channels=[4, 8], msd_scales=2, msd_channels=TOY_MSD,
                aux_resolutions=[[64, 16, 64], [32, 8, 32]])
    base.update(kw)
    return HnSincNsfHifigan(from_dict(HnSincNsfHifiganConfig, base, where="model"))


def test_hn_sinc_nsf_hifigan_gan_protocol_trains_and_infers():
    model = make_nsf_gan()
    groups = model.param_groups()
    assert list(groups) == ["discriminator", "generator"]
    assert not {id(p) for p in groups["discriminator"]} & {id(p) for p in groups["generator"]}
    batch = make_batch(n_frames=12, f0=180.0)
    batch["wav_len"] = torch.tensor([12 * HOP, 9 * HOP])
    opts = {g: torch.optim.Adam(ps, 1e-3) for g, ps in groups.items()}
    seen = {}
    fake = model.generate(batch)
    for g in model.update_order:
        if g == "discriminator":
            loss, stats = model.discriminator_loss(batch, 0, fake)
        else:
            loss, stats = model.generator_loss(batch, 0, fake, adversarial=True)
        seen.update(stats)
        opts[g].zero_grad()
        loss.backward()
        assert any(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in groups[g]), g
        opts[g].step()
    assert {"d_loss", "g_loss", "adv", "fm", "stft_l1"} <= set(seen)
    with torch.no_grad():
        fake = model.generate(batch)
    loss, stats = model.generator_loss(batch, 0, fake, adversarial=False)  # warm-up: no adversarial terms
    assert "adv" not in stats and stats["g_loss"] == pytest.approx(45.0 * stats["stft_l1"])
    waves = model.eval().infer(batch)
    assert [len(w) for w in waves] == [12 * HOP, 12 * HOP]


def test_aux_stft_loss_masks_padding():
    from pylib.models.vocoder.nsf_gan import aux_stft_loss

    y = torch.randn(2, 400)
    y_hat = y.clone()
    y_hat[1, 300:] = 5.0  # differs only in the padding of utterance 1
    res = [[64, 16, 64]]
    masked = aux_stft_loss(y_hat, y, res, lengths=torch.tensor([400, 300]))
    assert float(masked) == pytest.approx(0.0, abs=1e-6)
    assert float(aux_stft_loss(y_hat, y, res)) > 0.1


def test_seed_gan_arch_needs_both_networks_to_be_recognised():
    from pylib.models.seed_import import SEED_ARCHS
    from pylib.models.vocoder.nsf_gan import convert_seed

    arch = SEED_ARCHS["hn-sinc-nsf-hifigan"]
    assert arch.family == "vocoder"
    assert not arch.matches({"m_mpd.discriminators.0.convs.0.bias": torch.zeros(1)})  # a D file alone
    with pytest.raises(Exception, match="hn-sinc-nsf-9|do not match|layout"):
        convert_seed({"m_msd.x": torch.zeros(1)}, "D.pt")


def test_hn_sinc_nsf_hifigan_recipe_config_is_the_seeds():
    """conf/hn_sinc_nsf_hifigan.yaml builds, shares hn_sinc_nsf.yaml's dump, comments every key and
    carries the seed's 00_demo.sh / config.py settings."""
    import re
    from pathlib import Path

    from pylib.config import load_yaml
    from pylib.engine.build import resolve_config

    conf = Path(__file__).resolve().parents[2] / "egs" / "cmu_arctic" / "nsf" / "conf"
    path = conf / "hn_sinc_nsf_hifigan.yaml"
    raw = load_yaml(path)
    resolved, spec, model, optim, tcfg = resolve_config(raw, get_model_class)
    assert raw["features"] == load_yaml(conf / "hn_sinc_nsf.yaml")["features"]
    uncommented = [ln for ln in path.read_text().splitlines()
                   if re.match(r"^\s*[\w-][^#]*:\s*\S", ln) and "#" not in ln]
    assert not uncommented, uncommented
    assert list(model.param_groups()) == ["discriminator", "generator"]
    assert resolved["data"]["batch_size"] == 32 and resolved["data"]["truncate"] == 80 * 32
    assert all(o["lr"] == 1.0e-4 and list(o["betas"]) == [0.9, 0.999] for o in resolved["optim"].values())
    assert tcfg.epochs == 300 and tcfg.patience == 300 and tcfg.seed == 1
    assert model.cfg.lambda_aux == 45.0 and model.cfg.lambda_fm == 2.0


def test_real_and_fake_equals_two_passes():
    """The batched pass of the weight-normed sub-discriminators changes nothing: same scores and the
    same spectral-norm state as calling the discriminator on real, then on generated audio."""
    import copy

    d = HifiganDiscriminator([2, 3], [4, 8], 2, TOY_MSD).double()
    ref = copy.deepcopy(d)
    y, y_hat = torch.randn(2, 1, 301, dtype=torch.float64), torch.randn(2, 1, 301, dtype=torch.float64)
    real, fake = d.real_and_fake(y, y_hat)
    want_real, want_fake = ref(y)[0], ref(y_hat)[0]
    for a, b in zip(real + fake, want_real + want_fake, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    for (k, a), b in zip(d.state_dict().items(), ref.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, msg=k)
