"""Seed parity of iLPCNet (issue 15): project-NN-Pytorch-scripts project/05-nn-vocoders/ilpcnet.

The seed's Model (model.py, wrapping block_lpcnet.py LPCNetV1, published widths, LPC 160/160/15)
is built with non-trivial input mean/std; its weights move into nnsp through the registered
importer. The training targets are the seed's own numpy LPC analysis (block_lpcnet.get_excit, the
config.py output_trans_fns), which nnsp computes in torch inside the model. In float64 both stages'
losses and every gradient match; generation from the same global RNG state gives the same waveform;
the importer CLI writes a model that computes the seed's loss in float32.
"""

import sys

import numpy as np
import pytest
import torch

from pylib import load_model
from pylib.engine.export import build_from_config
from pylib.models.catalogue import get_model_class
from pylib.models.seed_import import SEED_ARCHS, convert_state_dict, detect_arch
from pylib.models.vocoder.ilpcnet import lpc_analysis
from tests.parity.peers import load_seed_model_module, seed_args, seed_project_on_path, stand_in_config

B, N, HOP, MEL = 2, 8, 80, 80  # 8 feature frames = 4 LPC frames of 160 samples
RTOL = 1e-5
PROJECT = "05-nn-vocoders/ilpcnet"
OPTIONS = {"framelength": 160, "frameshift": 160, "lpc_order": 15}  # the seed's config.py options

pytestmark = pytest.mark.usefixtures("one_thread")


def _module():
    seed_project_on_path(PROJECT)  # model.py imports its sibling block_lpcnet.py
    return load_seed_model_module(f"{PROJECT}/model.py", input_reso=[HOP, HOP], input_dims=[MEL, 1],
                                  options=OPTIONS)


def _seed(stage):
    """The seed's Model with float32-rounded weights and mean/std, in float64."""
    mod = _module()
    g = np.random.default_rng(7)
    mean_std = [np.concatenate([g.normal(-3.0, 1.0, MEL), [150.0]]).astype(np.float32),
                np.concatenate([g.uniform(0.5, 2.0, MEL), [60.0]]).astype(np.float32),
                np.zeros(1, np.float32), np.ones(1, np.float32)]
    torch.manual_seed(3)
    conf = stand_in_config(input_reso=[HOP, HOP], input_dims=[MEL, 1], options=OPTIONS)
    model = mod.Model(MEL + 1, 1, seed_args(temp_flag=f"stage{stage}"), conf, mean_std=mean_std)
    return model.double()


def _inputs(frames=N):
    g = np.random.default_rng(11)
    mel = g.normal(-3.0, 1.0, (B, frames, MEL))
    f0 = np.where(np.arange(frames) % 3 == 0, 0.0, g.uniform(80.0, 400.0, (B, frames)))[..., None]
    t = np.arange(frames * HOP)
    wav = 0.3 * np.sin(t * 0.07)[None].repeat(B, 0) + 0.05 * g.standard_normal((B, frames * HOP))
    wav[1, :200] = 0.0  # a silent first LPC frame: the Levinson recursion stops at once
    return torch.from_numpy(mel), torch.from_numpy(f0), torch.from_numpy(wav)


def _targets(wav):
    """The seed's training targets: block_lpcnet.get_excit per utterance (numpy float64)."""
    mod = _module()
    block = sys.modules["block_lpcnet"]
    assert mod.nii_lpcnet is block
    outs = [block.get_excit(w[:, None], 160, 160, 15) for w in wav.numpy()]
    return [torch.from_numpy(np.stack([o[i] for o in outs])) for i in range(4)]


def _nnsp(seed, dtype=torch.float64, stage1_steps=0):
    name, config, state = convert_state_dict(seed.state_dict(), "ilpcnet")
    assert name == "ilpcnet"
    config["model"]["stage1_steps"] = stage1_steps
    return build_from_config(config, state, get_model_class).to(dtype)


def _close(got, ref, what, rtol=RTOL):
    scale = float(ref.abs().max())
    torch.testing.assert_close(got, ref, rtol=rtol, atol=rtol * max(scale, 1e-12),
                               msg=lambda m: f"{what}: {m}")


def test_lpc_analysis_matches_the_seeds_numpy():
    _, _, wav = _inputs()
    wav_t, lpc_ref, rc_ref, gain_ref = _targets(wav)
    rc, gain, lpc = lpc_analysis(wav, 160, 160, 15)
    _close(rc, rc_ref, "reflection coefficients", rtol=1e-10)
    _close(gain, gain_ref, "gain", rtol=1e-10)
    _close(lpc, lpc_ref, "LP coefficients", rtol=1e-10)
    assert float(gain[1, 0, 0]) == 1.0 and float(rc[1, 0].abs().max()) == 0.0  # the silent frame


def _grads(seed):
    sd, params = {}, dict(seed.named_parameters())
    for k, v in seed.state_dict().items():
        p = params.get(k)
        sd[k] = p.grad if p is not None and p.grad is not None else torch.zeros_like(v)
    return convert_state_dict(sd, "ilpcnet")[2]


@pytest.mark.parametrize("stage", [1, 2])
def test_losses_and_gradients_match_the_seed(stage):
    seed = _seed(stage).train()
    model = _nnsp(seed, stage1_steps=1 if stage == 1 else 0).train()
    mel, f0, wav = _inputs(frames=4)  # 2 LPC frames, 320 samples
    cond = torch.cat([mel, f0], dim=-1)
    target = _targets(wav)
    torch.manual_seed(5)
    (loss_cond, loss_wav), _ = seed(cond, target)
    (loss_cond + loss_wav).backward()
    torch.manual_seed(5)  # the same feedback noise
    loss, stats = model({"mel": mel, "f0": f0, "wav": wav[..., None]}, step=0)
    ref = loss_cond if stage == 1 else loss_wav
    _close(loss.detach(), ref.detach(), f"stage {stage} loss")
    assert stats["stage"] == stage and stats["cond" if stage == 2 else "nll"] == 0.0
    assert float(ref.detach()) != 0.0
    loss.backward()
    ref_grads = _grads(seed)
    trained = 0
    for name, p in model.named_parameters():
        ref_g = ref_grads[name].to(p.dtype)
        if p.grad is None:  # not in this stage's graph: the seed's gradient is zero (or absent)
            assert float(ref_g.abs().max()) == 0.0, name
            continue
        trained += 1
        _close(p.grad, ref_g, f"stage {stage} grad {name}")
    assert trained >= (6 if stage == 1 else 10)


def test_generation_matches_the_seed_from_the_same_rng_state(capsys):
    seed = _seed(2).eval()
    model = _nnsp(seed).eval()
    mel, f0, _ = _inputs(frames=4)  # 2 LPC frames, 320 steps
    cond = torch.cat([mel, f0], dim=-1)
    for gru in (seed.m_lpcnet.m_net_out.m_gru1, seed.m_lpcnet.m_net_out.m_gru2):
        gru._get_gru_cell()  # built at step 0 otherwise, drawing its throw-away init from the global RNG
    with torch.no_grad():
        torch.manual_seed(123)
        ref = seed.inference(cond)[..., 0]
        torch.manual_seed(123)
        y = model.generate(mel, f0)
    capsys.readouterr()  # the seed prints its progress
    assert y.shape == ref.shape == (B, 4 * HOP)
    assert float(y.std()) > 0
    _close(y, ref, "generated waveform", rtol=1e-9)


def test_the_layout_is_recognised_and_imported_by_the_cli(tmp_path):
    from pylib.bin import import_project_nn

    seed = _seed(2).float().eval()
    sd = seed.state_dict()
    assert detect_arch(sd) == "ilpcnet"  # one match among every registered seed architecture
    assert not SEED_ARCHS["ilpcnet"].matches({**sd, "m_disc.weight": torch.zeros(1)})
    ckpt = tmp_path / "trained_network.pt"
    torch.save(sd, ckpt)
    out = tmp_path / "model.pt"
    assert import_project_nn.main(["--checkpoint", str(ckpt), "--out", str(out)]) == 0
    model = load_model(out)
    assert model.cfg.lpc_order == 15 and model.cfg.frame_shift == 160 and model.cfg.hop == HOP
    torch.testing.assert_close(model.norm["mel"].mean, sd["input_mean"][:MEL])
    torch.testing.assert_close(model.norm["f0"].std, sd["input_std"][MEL:])
    mel, f0, wav = (x.float() for x in _inputs(frames=4))
    target = [t.float() for t in _targets(wav.double())]
    with torch.no_grad():
        torch.manual_seed(9)
        ref = seed(torch.cat([mel, f0], dim=-1), target)[0][1]
        torch.manual_seed(9)
        loss, _ = model({"mel": mel, "f0": f0, "wav": wav[..., None]})
    _close(loss, ref, "float32 loss of the imported model", rtol=1e-4)


def test_importer_refuses_other_layouts():
    from pylib.errors import DataError

    sd = _seed(2).float().state_dict()
    sd.pop("m_lpcnet.m_net_out.m_outfc.0.weight_g")
    assert not SEED_ARCHS["ilpcnet"].matches(sd)
    with pytest.raises(DataError, match="iLPCNet layout"):
        convert_state_dict(sd, "ilpcnet")
