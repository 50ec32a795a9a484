"""iLPCNet (pylib/models/vocoder/ilpcnet.py): generation steps are the teacher-forced network and
the LP synthesis inverts the LP analysis, the reflection/LP coefficient recursions agree, the two
training stages touch their own networks, inference, config errors, the recipe confs. The seed
parity is in tests/parity/test_ilpcnet_parity.py."""

from pathlib import Path

import numpy as np
import pytest
import torch

from pylib.errors import ConfigError
from pylib.models.catalogue import get_model_class
from pylib.models.vocoder.ilpcnet import ILPCNet, ILPCNetConfig, lpc_analysis, pre_emphasise, rc_to_lpc

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.usefixtures("one_thread")


def _toy(**kw):
    cfg = ILPCNetConfig(n_mels=5, hop=20, sample_rate=16000, frame_length=40, frame_shift=40, lpc_order=6,
                        pitch_emb=3, frame_channels=6, hidden=7, gru1=9, gru2=4, cond_gru=5, cond_hidden=6,
                        **kw)
    torch.manual_seed(0)
    return ILPCNet(cfg).double()


def _inputs(B=2, N=8):
    g = np.random.default_rng(1)
    mel = torch.from_numpy(g.normal(size=(B, N, 5)))
    f0 = torch.from_numpy(np.where(np.arange(N) % 3 == 0, 0.0, g.uniform(80, 300, (B, N)))[..., None])
    t = np.arange(N * 20)
    wav = torch.from_numpy(0.3 * np.sin(t * 0.2)[None].repeat(B, 0) + 0.05 * g.standard_normal((B, N * 20)))
    return mel, f0, wav


def test_generation_is_the_teacher_forced_network_and_lp_synthesis_inverts_the_analysis():
    """Noise-free generation (temperature 0): every sample is the teacher-forced mean on the
    generated past plus the LP prediction from the predicted coefficients."""
    model = _toy(temperature=0.0).eval()
    mel, f0, _ = _inputs()
    y = model.generate(mel, f0)
    assert y.shape == (2, 8 * 20) and float(y.std()) > 0
    x = pre_emphasise(y, 0.97)  # the generated pre-emphasised samples
    with torch.no_grad():
        raw, normed = model.conditions(mel, f0)
        lpc = rc_to_lpc(model.cond_net(raw)[0])
        feat = model.frame_features(raw, normed).repeat_interleave(40, dim=1)
        mean, _ = model.excitation(feat, torch.nn.functional.pad(x[:, :-1], (1, 0))[..., None])
    P = lpc.shape[-1]
    past = torch.nn.functional.pad(x, (P - 1, 0)).unfold(1, P, 1).flip(-1)[..., 1:]  # x[n-1] ... x[n-order]
    pred = -(past * lpc[..., 1:].repeat_interleave(40, dim=1)).sum(-1)
    torch.testing.assert_close(x, mean[..., 0] + pred, rtol=1e-9, atol=1e-9)


def test_reflection_coefficients_step_up_to_the_analysed_lp_coefficients():
    _, _, wav = _inputs()
    rc, gain, lpc = lpc_analysis(wav, 40, 20, 6)
    assert rc.shape == (2, 7, 6) and gain.shape == (2, 7, 1) and lpc.shape == (2, 7, 7)
    assert float(rc.abs().max()) < 1 and bool((gain > 0).all())
    torch.testing.assert_close(rc_to_lpc(rc), lpc, rtol=1e-10, atol=1e-10)
    with pytest.raises(ValueError, match="at least 40 samples"):
        lpc_analysis(wav[:, :30], 40, 20, 6)


def test_each_training_stage_trains_its_own_networks():
    model = _toy(stage1_steps=3).train()
    mel, f0, wav = _inputs()
    batch = {"mel": mel, "f0": f0, "wav": wav[..., None]}
    for step, stage in ((2, 1), (3, 2)):
        model.zero_grad(set_to_none=True)
        loss, stats = model(batch, step=step)
        assert stats["stage"] == stage and np.isfinite(float(loss.detach()))
        loss.backward()
        got = {n.startswith("cond_net.") for n, p in model.named_parameters() if p.grad is not None}
        assert got == {stage == 1}  # only the condition network (stage 1) or only the rest (stage 2)


@pytest.mark.parametrize("step", [0, 5])
def test_padding_is_left_out_of_the_loss(step):
    model = _toy(stage1_steps=3).train()
    mel, f0, wav = _inputs()
    full = torch.full((2,), 160)
    batch = {"mel": mel, "f0": f0, "wav": wav[..., None]}
    torch.manual_seed(4)
    plain = model(batch, step=step)[0]
    torch.manual_seed(4)
    torch.testing.assert_close(model({**batch, "wav_len": full}, step=step)[0], plain)  # no padding
    lens = torch.tensor([160, 100])  # the second utterance: 100 samples, LPC frames 0 and 1 within
    padded = wav.clone()
    padded[1, 100:] = torch.linspace(-0.9, 0.9, 60, dtype=wav.dtype)  # other padding values
    losses = []
    for w in (wav, padded):
        torch.manual_seed(4)
        losses.append(model({**batch, "wav": w[..., None], "wav_len": lens}, step=step)[0])
    torch.testing.assert_close(losses[0], losses[1])
    assert float((losses[0] - plain).detach().abs()) > 1e-6


def test_infer_trims_and_is_reproducible():
    model = _toy().eval()
    mel, f0, _ = _inputs(N=7)  # an odd frame count: 4 LPC frames, 160 samples, trimmed to 140
    lens = torch.tensor([7, 4])
    out = model.infer({"mel": mel, "f0": f0, "mel_len": lens})
    assert [o.shape for o in out] == [(140,), (80,)] and out[0].dtype == np.float32
    np.testing.assert_array_equal(model.infer({"mel": mel, "f0": f0, "mel_len": lens})[1], out[1])


@pytest.mark.parametrize("bad, match", [({"lpc_order": 0}, "lpc_order"),
                                        ({"stage1_steps": -1}, "stage1_steps"),
                                        ({"pre_emphasis": 1.0}, "pre_emphasis"),
                                        ({"hop": 80, "frame_shift": 120}, "multiple of the mel hop")])
def test_config_errors_name_the_key(bad, match):
    with pytest.raises(ConfigError, match=match):
        ILPCNetConfig(**bad)


def test_catalogue_and_confs():
    from pylib.config import load_config
    from pylib.engine.build import resolve_config

    assert get_model_class("ilpcnet") is ILPCNet
    confs = ROOT / "egs" / "cmu_arctic" / "ilpcnet" / "conf"
    for name, gru1, stage1 in (("ilpcnet", 256, 34000), ("debug", 8, 2)):
        config, spec, model, *_ = resolve_config(load_config(confs / f"{name}.yaml"), get_model_class)
        assert isinstance(model, ILPCNet) and model.cfg.gru1 == gru1 and model.cfg.stage1_steps == stage1
        assert model.cfg.hop == 80 and model.cfg.n_mels == 80 and model.up == 2
    # the same dump as the NSF recipe: its mel, F0 and wav extractors, unchanged
    nsf = load_config(ROOT / "egs" / "cmu_arctic" / "nsf" / "conf" / "hn_sinc_nsf.yaml")["features"]
    ours = load_config(confs / "ilpcnet.yaml")["features"]
    assert ours["sample_rate"] == nsf["sample_rate"]
    for feat in ("mel", "f0", "wav"):
        assert ours["extractors"][feat] == nsf["extractors"][feat]
