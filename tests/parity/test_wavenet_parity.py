"""Seed parity of the WaveNet vocoder (issue 15): project-NN-Pytorch-scripts project/05-nn-vocoders/wavenet.

The seed's Model (model.py, wrapping sandbox/block_wavenet.py WaveNet_v1) is built with non-trivial
input mean/std, narrowed with the seed's own block classes for speed (the importer test keeps the
published 30 layers of 64/64/256 channels, 10-bit µ-law); its weights move into nnsp through the
registered importer. In float64 the teacher-forced logits, the loss and every
gradient match; generation from the same global RNG state gives the same samples; the importer CLI
writes a model that trains like the seed's in float32.
"""

import numpy as np
import pytest
import torch

from pylib import load_model
from pylib.engine.export import build_from_config
from pylib.models.catalogue import get_model_class
from pylib.models.seed_import import SEED_ARCHS, convert_state_dict, detect_arch
from tests.parity.peers import load_seed_model_module, load_seed_module, seed_args, stand_in_config

B, N, HOP, MEL = 2, 5, 40, 80
RTOL = 1e-5

pytestmark = pytest.mark.usefixtures("one_thread")


def _shrink(model, res=16, skip=32, cond=16, hidden=64, layers=11):
    """Rebuild the seed's WaveNet narrower with its own classes (sandbox/block_wavenet.py; the code
    paths are the same, the published 30 x 64/256 stack is slow on two busy cores). 11 layers keep
    the dilation cycle's wrap (..., 256, 512, 1); 10-bit µ-law stays."""
    wn = load_seed_module("sandbox.block_wavenet")
    net = model.m_wavenet
    net.res_ch_dim = net.gate_act_dim = res
    net.cond_dim, net.skip_ch_dim = cond, skip
    net.dilations = net.dilations[:layers]
    net.l_cond = wn.CondModule(net.input_dim, cond, net.up_sample, blstm_s=cond)
    net.l_wav_emb = torch.nn.Embedding(net.num_classes, res)
    net.l_wavenet_blocks = torch.nn.ModuleList(wn.WaveNetBlock(res, skip, res, cond, d)
                                               for d in net.dilations)
    net.l_output = wn.OutputBlock(skip, net.num_classes, hid_dim=hidden)


def _seed(small=True):
    """The seed's Model with weights and mean/std rounded to float32 values (as a checkpoint holds
    them), in float64; the moving-average taps stay exact."""
    mod = load_seed_model_module("05-nn-vocoders/wavenet/model.py", input_reso=[HOP], input_dims=[MEL])
    g = np.random.default_rng(7)
    mean_std = [g.normal(-3.0, 1.0, MEL).astype(np.float32), g.uniform(0.5, 2.0, MEL).astype(np.float32),
                np.zeros(1, np.float32), np.ones(1, np.float32)]
    torch.manual_seed(3)
    model = mod.Model(MEL, 1, seed_args(), stand_in_config(input_reso=[HOP], input_dims=[MEL]),
                      mean_std=mean_std)
    if small:
        _shrink(model)
    return model.double()


def _inputs(frames=N):
    g = np.random.default_rng(11)
    mel = torch.from_numpy(g.normal(-3.0, 1.0, (B, frames, MEL)))
    t = np.arange(frames * HOP)
    wav = 0.5 * np.sin(t * 0.05)[None].repeat(B, 0) + 0.05 * g.standard_normal((B, frames * HOP))
    wav[1, 100:140] = np.sign(wav[1, 100:140]) * 0.999  # near full scale: the pre-emphasis clamps
    return mel, torch.from_numpy(wav)


def _nnsp(seed, dtype=torch.float64):
    name, config, state = convert_state_dict(seed.state_dict(), "wavenet")
    assert name == "wavenet"
    return build_from_config(config, state, get_model_class).to(dtype)


def _close(got, ref, what, rtol=RTOL):
    scale = float(ref.abs().max())
    torch.testing.assert_close(got, ref, rtol=rtol, atol=rtol * max(scale, 1e-12),
                               msg=lambda m: f"{what}: {m}")


def test_logits_loss_and_gradients_match_the_seed():
    seed = _seed().train()
    model = _nnsp(seed).train()
    mel, wav = _inputs()
    seen = []
    hook = seed.m_wavenet.l_output.l_trans.register_forward_hook(lambda m, i, o: seen.append(o))
    wav_seed = wav[..., None].clone()  # the seed pre-emphasises its argument in place
    loss_ref = seed(mel, wav_seed)
    hook.remove()
    loss_ref.backward()

    logits, target = model.logits(mel, wav)
    _close(logits.detach(), seen[0].detach(), "logits")
    loss, stats = model({"mel": mel, "wav": wav[..., None], "wav_len": torch.full((B,), N * HOP)})
    _close(loss.detach(), loss_ref.detach(), "loss")
    assert stats["ce"] == pytest.approx(loss_ref.item(), rel=1e-9)
    loss.backward()

    sd = {}
    seed_params = dict(seed.named_parameters())
    for k, v in seed.state_dict().items():
        p = seed_params.get(k)
        sd[k] = p.grad if p is not None and p.grad is not None else v
    ref_grads = convert_state_dict(sd, "wavenet")[2]
    params = dict(model.named_parameters())
    assert set(params) == set(ref_grads) - set(dict(model.named_buffers()))
    for name, p in params.items():
        assert p.grad is not None, name
        _close(p.grad, ref_grads[name].to(p.grad.dtype), f"grad {name}")


def test_generation_matches_the_seed_from_the_same_rng_state(capsys):
    seed = _seed().eval()
    model = _nnsp(seed)
    mel, _ = _inputs(frames=5)  # 200 steps
    drawn = []
    out_block = seed.m_wavenet.l_output
    real = out_block.inference
    out_block.inference = lambda feat: drawn.append(real(feat)) or drawn[-1]  # keep the seed's draws
    with torch.no_grad():
        torch.manual_seed(123)
        ref = seed.inference(mel)[..., 0]
        torch.manual_seed(123)
        classes = model.generate(mel, return_classes=True)
        y = model.decode(classes)
    capsys.readouterr()  # the seed prints its progress
    ref_classes = torch.cat(drawn, dim=1)[..., 0].long()
    assert torch.equal(classes, ref_classes)
    assert len(set(classes.flatten().tolist())) > 20  # really sampled, not a constant
    _close(y, ref, "generated waveform", rtol=1e-9)


def test_the_layout_is_recognised_and_imported_by_the_cli(tmp_path):
    from pylib.bin import import_project_nn

    seed = _seed(small=False).float().eval()  # the published width: the importer reads it off the shapes
    sd = seed.state_dict()
    assert detect_arch(sd) == "wavenet"  # one match among every registered seed architecture
    assert not SEED_ARCHS["wavenet"].matches({**sd, "m_disc.weight": torch.zeros(1)})
    ckpt = tmp_path / "trained_network.pt"
    torch.save(sd, ckpt)
    out = tmp_path / "model.pt"
    assert import_project_nn.main(["--checkpoint", str(ckpt), "--out", str(out)]) == 0
    model = load_model(out)
    assert model.cfg.hop == HOP and model.cfg.layers == 30 and model.cfg.num_bits == 10
    torch.testing.assert_close(model.norm["mel"].mean, sd["input_mean"])
    torch.testing.assert_close(model.norm["mel"].std, sd["input_std"])
    mel, wav = _inputs(frames=2)
    mel, wav = mel.float(), wav.float()
    with torch.no_grad():
        ref = seed(mel, wav[..., None].clone())
        loss, _ = model({"mel": mel, "wav": wav[..., None]})
    _close(loss, ref, "float32 loss of the imported model", rtol=1e-4)


def test_importer_refuses_other_layouts():
    from pylib.errors import DataError

    sd = _seed().float().state_dict()
    sd.pop("m_wavenet.l_output.l_trans.4.bias")
    assert not SEED_ARCHS["wavenet"].matches(sd)
    with pytest.raises(DataError, match="WaveNet layout"):
        convert_state_dict(sd, "wavenet")
