"""WaveGlow / WaveGlow-2 on their own (toy width, float64): invertibility, the likelihood's pieces,
sampling with a temperature, the config checks. Seed parity: tests/parity/test_waveglow_parity.py."""

import math

import numpy as np
import pytest
import torch

from pylib.config import from_dict
from pylib.contracts import check_model
from pylib.errors import ConfigError
from pylib.models.catalogue import get_model_class
from pylib.models.vocoder.waveglow import WaveGlow, WaveGlowConfig, spectral_subtraction, squeeze, unsqueeze

HOP, N_MELS, N, B = 16, 4, 8, 2

pytestmark = pytest.mark.usefixtures("one_thread")


def make(**kw):
    base = dict(hop=HOP, n_mels=N_MELS, sample_rate=8000, blocks=3, flows_per_block=2, wn_layers=2,
                wn_channels=6)
    base.update(kw)
    torch.manual_seed(0)
    model = WaveGlow(from_dict(WaveGlowConfig, base, where="model"))
    with torch.no_grad():  # the coupling outputs start at zero (identity); make them act
        for name, p in model.named_parameters():
            if name.endswith(("end.weight", "post.weight")):
                p.normal_(0.0, 0.1)
    return model


def batch(seed=0):
    g = np.random.default_rng(seed)
    return {"mel": torch.from_numpy(g.normal(0.0, 1.0, (B, N, N_MELS))),
            "wav": torch.from_numpy(0.3 * g.standard_normal((B, N * HOP, 1))),
            "mel_len": torch.tensor([N, N - 3])}


def test_squeeze_round_trips_and_groups_consecutive_samples():
    x = torch.arange(2 * 16 * 3, dtype=torch.float64).reshape(2, 16, 3)
    s = squeeze(x, 8)
    assert s.shape == (2, 2, 24)
    assert s[0, 1, :8].tolist() == x[0, 8:16, 0].tolist()  # channel d * 8 + k: sample k of dim d
    assert torch.equal(unsqueeze(s, 8), x)


@pytest.mark.parametrize("kw", [{}, {"coupling_net": "legacy"}, {"affine": False}, {"early_dim": 0}])
def test_flow_inverts_and_the_loss_is_the_exact_nll(kw, float64):
    model = make(**kw)
    check_model(model, "waveglow")
    b = batch()
    zs, log_pz, log_det = model.latents(b["wav"], b["mel"])
    assert [None if z is None else tuple(z.shape) for z in zs] == model.z_shapes(B, N)
    back = model.reverse(zs, b["mel"])
    torch.testing.assert_close(back, b["wav"][..., 0], rtol=0, atol=1e-6)
    z = torch.cat([z for z in zs if z is not None], dim=-1)
    torch.testing.assert_close(log_pz, (-0.5 * math.log(2 * math.pi) - 0.5 * z ** 2).sum(dim=(1, 2)))
    loss, stats = model(b)
    torch.testing.assert_close(loss, -(log_pz + log_det).sum() / (B * N * HOP))
    assert stats["nll"] == pytest.approx(stats["neg_log_pz"] + stats["neg_log_det"])
    if kw.get("affine", True):
        assert float(log_det.detach().abs().max()) > 0  # the coupling scales and the 1x1 matrices count


def test_log_det_is_the_jacobian_of_the_flow(float64):
    """log|det J| of the whole flow, by autograd on one tiny utterance."""
    model = make(hop=8, blocks=2, flows_per_block=1, early_dim=2)
    mel = torch.randn(1, 2, N_MELS)
    wav = 0.3 * torch.randn(1, 16, 1)

    def flat(w):
        zs, _, _ = model.latents(w.reshape(1, 16, 1), mel)
        return torch.cat([z.reshape(-1) for z in zs])

    jac = torch.autograd.functional.jacobian(flat, wav.reshape(-1))
    _, log_det = torch.linalg.slogdet(jac)
    torch.testing.assert_close(model.latents(wav, mel)[2][0], log_det)


def test_sampling_temperature_scales_z_and_infer_is_reproducible(float64):
    model = make(denoise=False).eval()
    b = batch()
    z1 = model.draw_z(B, N, sigma=0.6, generator=torch.Generator().manual_seed(1))
    z0 = model.draw_z(B, N, sigma=1.0, generator=torch.Generator().manual_seed(1))
    for a, c in zip(z1, z0, strict=True):
        torch.testing.assert_close(a, 0.6 * c)
    with torch.no_grad():
        zero = model.generate(b["mel"], sigma=0.0)
        y = model.generate(b["mel"], z=z1)
    assert y.shape == (B, N * HOP) and not torch.allclose(y, zero)
    out1, out2 = model.infer(b), model.infer(b)
    assert [len(o) for o in out1] == [N * HOP, (N - 3) * HOP]
    assert all(o.dtype == np.float32 for o in out1)
    np.testing.assert_array_equal(out1[0], out2[0])


def test_denoise_subtracts_the_zero_mel_spectrum(float64):
    t = torch.arange(4000) / 8000
    clean = torch.sin(2 * math.pi * 440 * t)[None]
    hum = 0.2 * torch.sin(2 * math.pi * 1000 * t)[None]
    out = spectral_subtraction(clean + hum, hum, 1.0)
    assert out.shape == clean.shape
    mid = slice(512, 3488)
    assert float((out - clean)[:, mid].pow(2).mean()) < 0.1 * float(hum[:, mid].pow(2).mean())
    model = make().eval()
    with torch.no_grad():
        z = model.draw_z(B, N, generator=torch.Generator().manual_seed(2))
        assert not torch.allclose(model.generate(batch()["mel"], z=z), model.generate(batch()["mel"], z=z,
                                                                                     denoise=False))


def test_catalogue_and_config_errors():
    assert get_model_class("waveglow") is WaveGlow
    with pytest.raises(ConfigError, match="coupling_net"):
        from_dict(WaveGlowConfig, {"coupling_net": "nvidia"}, where="model")
    with pytest.raises(ConfigError, match="block widths"):
        from_dict(WaveGlowConfig, {"squeeze": 4, "early_dim": 2}, where="model")
    with pytest.raises(ConfigError, match="wn_kernel must be odd"):
        from_dict(WaveGlowConfig, {"wn_kernel": 2}, where="model")
    with pytest.raises(ConfigError, match="must divide the mel's hop"):
        WaveGlow(from_dict(WaveGlowConfig, {"hop": 12, "n_mels": 4, "sample_rate": 8000}, where="model"))
    with pytest.raises(ConfigError, match="unknown|not a key|nvidia_key"):
        from_dict(WaveGlowConfig, {"nvidia_key": 1}, where="model")


def test_mismatched_wav_and_mel_are_refused(float64):
    model = make()
    b = batch()
    with pytest.raises(ValueError, match="groups; they must agree"):
        model.latents(b["wav"][:, : HOP * 3], b["mel"])


def test_denoise_spectrum_is_kept_from_the_first_sampling_as_the_seed_does(float64):
    from pylib.models.vocoder.waveglow import noise_spectrum

    model = make().eval()
    mel1, mel2 = batch(1)["mel"][:1], batch(2)["mel"][:1, :6]
    g = torch.Generator().manual_seed(3)
    z1, z2 = model.draw_z(1, N, generator=g), model.draw_z(1, 6, generator=g)
    with torch.no_grad():
        model.generate(mel1, z=z1)
        y2 = model.generate(mel2, z=z2)
        first = noise_spectrum(model.reverse(z1, mel1 * 0))
        want = spectral_subtraction(model.reverse(z2, mel2), first, 1.0)
        torch.testing.assert_close(y2, want)
        model.train().eval()  # a mode switch forgets it
        assert model._denoise_mag is None


def test_the_mel_is_normalised_only_where_the_data_section_says_so(float64):
    from types import SimpleNamespace

    def spec(norm):
        feats = [SimpleNamespace(name="mel", norm=norm, dim=N_MELS, hop=HOP)]
        return SimpleNamespace(inputs=feats, outputs=[SimpleNamespace(name="wav", norm=False, dim=1, hop=1)],
                               sample_rate=8000, origins={})

    cfg = dict(blocks=2, flows_per_block=1, wn_layers=1, wn_channels=4)
    plain = WaveGlow(from_dict(WaveGlowConfig, cfg, where="model"), spec(False))
    normed = WaveGlow(from_dict(WaveGlowConfig, cfg, where="model"), spec(True))
    assert len(plain.norm) == 0 and list(normed.norm) == ["mel"]
    normed.load_state_dict({**plain.state_dict(), "norm.mel.mean": torch.full((N_MELS,), 2.0),
                            "norm.mel.std": torch.full((N_MELS,), 4.0)})
    mel = torch.randn(1, 4, N_MELS)
    torch.testing.assert_close(normed.condition(normed._normed(mel)), plain.condition((mel - 2.0) / 4.0))
