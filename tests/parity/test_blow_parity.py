"""Seed parity of Blow (issue 15): project/05-nn-vocoders/blow (model.py over sandbox/block_blow.py).

The seed's Model is built through its own model.py with the Blow it constructs narrowed to 2 blocks x 2
flows x 16 channels (the published 8 x 12 x 512 take minutes; the code paths are the same) and its
OverlapAdder to frames of 256 every 64 (published 4096 / 1024), every weight made non-trivial (the seed
zero-initialises the coupling outputs), then moved into nnsp through the registered importer. In
float64: z, the log-determinant, the seed's two loss terms and every gradient agree to 1e-5; conversion
(the seed's `convert` and its conversion-map `inference`) gives the seed's waveform; the OverlapAdder's
framing and overlap-add (both window placements) and `wav_aug` (with the same draws) are the seed's.
"""

import numpy as np
import pytest
import torch

from pylib.engine.export import build_from_config
from pylib.models.catalogue import get_model_class
from pylib.models.seed_import import SEED_ARCHS, convert_state_dict, detect_arch
from pylib.models.vocoder import blow as nnsp_blow
from pylib.models.vocoder.seed_blow import _state, use_speakers
from tests.parity.peers import SeedSpeakerMap, load_seed_model_module, seed_args, stand_in_config

SPEAKERS = ["p225", "p226", "p227"]
FL, FS = 256, 64
TOY = dict(blocks=2, flows=2, channels=16)
RTOL = 1e-5

pytestmark = pytest.mark.usefixtures("one_thread")


def _seed(monkeypatch, conversion_map=None, trained=True):
    mod = load_seed_model_module("05-nn-vocoders/blow/model.py", wav_samp_rate=16000)
    bb = mod.nii_blow
    real_blow, real_ola = bb.Blow, bb.OverlapAdder

    def narrow(cond_dim, blocks, flows, channels, kernel):
        assert (cond_dim, blocks, flows, channels, kernel) == (128, 8, 12, 512, 3)  # published
        bb.Blow = real_blow  # its __init__ calls super(Blow, self) by the module's name
        return real_blow(cond_dim, TOY["blocks"], TOY["flows"], TOY["channels"], kernel)

    def short(fl, fs, flag):
        assert (fl, fs, flag) == (4096, 1024, False)  # published
        bb.OverlapAdder = real_ola
        return real_ola(FL, FS, flag)

    monkeypatch.setattr(bb, "Blow", narrow)
    monkeypatch.setattr(bb, "OverlapAdder", short)
    monkeypatch.setattr(bb.nii_glow.nii_io_conf, "d_dtype", torch.get_default_dtype())
    options = {"speaker_map": SeedSpeakerMap(SPEAKERS)}
    if conversion_map:
        options["conversion_map"] = conversion_map
    np.random.seed(5)  # InvertibleTrans draws its initial rotation from the global numpy RNG
    model = mod.Model(1, 1, seed_args(), stand_in_config(wav_samp_rate=16000, options=options))
    model = model.to(torch.get_default_dtype())
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("m_init_flag"):
                p.fill_(1.0 if trained else 0.0)  # trained: ActNorm's data-dependent initialisation is done
            if not p.requires_grad or name.endswith("m_win"):
                continue
            p.add_(0.1 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
            p.copy_(p.float().to(p.dtype))  # float32 values, as a checkpoint holds them
    return mod, model


def _nnsp(seed):
    with use_speakers(SPEAKERS):
        _, config, state = convert_state_dict(seed.state_dict())
    return config, build_from_config(config, state, get_model_class).to(torch.get_default_dtype())


def _wav(B, T, seed=11):
    g = np.random.default_rng(seed)
    t = np.arange(T)
    x = 0.3 * np.sin(t * 0.05 + g.uniform(0, 6, (B, 1))) * np.sin(t * 0.003)
    x = x + 0.02 * g.standard_normal((B, T))
    return torch.from_numpy(x)[..., None]


def test_likelihood_and_gradients_match_the_seed(monkeypatch, float64):
    _, seed = _seed(monkeypatch)
    assert detect_arch(seed.state_dict()) == "blow"
    assert {n for n, a in SEED_ARCHS.items() if a.matches(seed.state_dict())} == {"blow"}
    config, model = _nnsp(seed)
    assert config["model"]["speakers"] == SPEAKERS and config["model"]["frame"] == FL
    wav = _wav(3, 512)
    utts = ["p226_001", "p999_002", "p225_003"]  # p999: the unseen index
    info = [f"{i},{u},0,512,16000" for i, u in enumerate(utts)]

    emb = seed.m_spk_emd(torch.tensor([1, 3, 0])).unsqueeze(1)
    z_ref, neg_logp, logp_z, log_det = seed.m_blow(wav, emb)
    terms, _ = seed(wav, info)
    loss_ref = terms[0] + terms[1]  # what the seed trains on (nn_manager_tools.f_process_loss)
    loss_ref.backward()
    torch.testing.assert_close(loss_ref, neg_logp, rtol=RTOL, atol=0)

    model.cfg.augment = False  # the seed augments in its data loader; here both see the same frames
    assert [model.speaker_index(model.speaker_of(u)) for u in utts] == [1, 3, 0]
    z, _, _ = model.latents(wav, model.embedding([1, 3, 0]))
    torch.testing.assert_close(z, z_ref, rtol=RTOL, atol=RTOL)
    loss, stats = model({"wav": wav, "utt_id": utts})
    torch.testing.assert_close(loss, loss_ref, rtol=RTOL, atol=0)
    assert stats["neg_log_pz"] == pytest.approx(float(terms[0].detach()), rel=RTOL)
    assert stats["neg_log_det"] == pytest.approx(float(terms[1].detach()), rel=RTOL)
    loss.backward()

    grads = {n: p.grad for n, p in seed.named_parameters() if p.grad is not None}
    grads["m_overlap.m_win"] = seed.m_overlap.m_win
    ref = _state(grads)
    got = dict(model.named_parameters())
    checked = 0
    for name, g in ref.items():
        if name == "window":
            continue
        torch.testing.assert_close(got[name].grad, g, rtol=RTOL, atol=RTOL * float(g.abs().max()), msg=name)
        checked += 1
    assert checked == len(got)  # every nnsp parameter has the seed's gradient


def test_conversion_matches_the_seed(monkeypatch, float64):
    _, seed = _seed(monkeypatch, conversion_map={"p225": "p227", "p226": "p225"})
    _, model = _nnsp(seed)
    model.cfg.conversion_map = {"p225": "p227", "p226": "p225"}  # the seed's lives in its config.py
    T = (6 - 1) * FS + FL  # whole frames: nnsp's padding adds nothing
    wav = _wav(2, T, seed=4)
    seed.eval()
    model.eval()
    with torch.no_grad():
        # one utterance at a time: the seed's .view of the unfolded frames fails for a batch > 1
        ref = torch.cat([seed.convert(wav[i: i + 1], 0, 2)[..., 0] for i in range(2)])
        got = model.convert(wav[..., 0], 0, 2)
        torch.testing.assert_close(got, ref, rtol=RTOL, atol=RTOL)
        ref_inf = seed.inference(wav[:1], ["0,p226_005,0,576,16000"])[..., 0]
        out = model.infer({"wav": wav[:1], "utt_id": ["p226_005"]})
    np.testing.assert_allclose(out[0], ref_inf[0].numpy(), rtol=1e-5, atol=1e-5)
    # invertibility of the flow: wav -> z -> wav with the same speaker
    emb = model.embedding([0, 1])
    z, _, _ = model.latents(wav, emb)
    torch.testing.assert_close(model.reverse(z, emb), wav[..., 0], rtol=0, atol=1e-9)


def test_actnorm_initialises_from_the_first_batch_as_the_seed(monkeypatch, float64):
    _, seed = _seed(monkeypatch, trained=False)
    _, model = _nnsp(seed)
    wav = _wav(2, 512, seed=6)
    with torch.no_grad():
        z_ref, *_ = seed.m_blow(wav, seed.m_spk_emd(torch.tensor([0, 2])).unsqueeze(1))
        z, _, _ = model.latents(wav, model.embedding([0, 2]))
    torch.testing.assert_close(z, z_ref, rtol=RTOL, atol=RTOL)
    for b, block in enumerate(model.blocks):
        for s, step in enumerate(block.steps):
            ref = seed.m_blow.m_flowblocks[b].m_flows[s].m_actnorm
            assert float(step.actnorm.initialized) == float(ref.m_init_flag) == 1.0
            torch.testing.assert_close(step.actnorm.scale, ref.m_scale, rtol=RTOL, atol=0)
            torch.testing.assert_close(step.actnorm.bias, ref.m_bias, rtol=RTOL, atol=RTOL)


@pytest.mark.parametrize("win_analysis", [True, False])
def test_overlap_adder_matches_the_seed(monkeypatch, float64, win_analysis):
    mod, _ = _seed(monkeypatch)
    ola = mod.nii_blow.OverlapAdder(FL, FS, win_analysis)
    x = _wav(2, 5 * FS + FL + 17, seed=8)  # a tail beyond the last frame: dropped by both
    window = torch.hann_window(FL)
    with torch.no_grad():
        frames_ref = ola(x)
        frames = nnsp_blow.frame_wav(x[..., 0], FL, FS, window if win_analysis else None)
        torch.testing.assert_close(frames, frames_ref, rtol=0, atol=0)
        for scale in (False, True):
            ref = torch.cat([ola.reverse(frames_ref[i: i + 1] * 0.7, scale)[..., 0] for i in range(2)])
            got = nnsp_blow.overlap_add(frames * 0.7, FS, window, synthesis_window=not win_analysis,
                                        scale=scale)
            torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)


def test_wav_aug_matches_the_seed_with_the_same_draws(monkeypatch):
    mod, _ = _seed(monkeypatch)
    bb = mod.nii_blow
    monkeypatch.setattr(np, "int", int, raising=False)  # wav_tools.silence_handler uses np.int (numpy < 1.24)
    sr = 16000
    g = np.random.default_rng(2)
    t = np.arange(int(0.5 * sr))
    speech = 0.4 * np.sin(2 * np.pi * 180 * t / sr) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t / sr))
    x = np.concatenate([1e-5 * g.standard_normal(4000), speech, 1e-5 * g.standard_normal(3000),
                        speech[:2000], 1e-5 * g.standard_normal(2500)])[:, None]
    for seed, frame in ((0, 4096), (1, 4096), (2, 20000)):  # 20000: longer than the speech, whole kept
        draws = np.random.default_rng(seed)
        # a 0-d draw where the seed's rand(1) gives shape (1,): int() of a (1,) array fails on numpy 2
        monkeypatch.setattr(bb.np.random, "rand", lambda *_a, d=draws: np.float64(d.random()))
        ref = bb.wav_aug(x, frame, 0.2, sr)
        got = nnsp_blow.wav_aug(x, frame, 0.2, sr, np.random.default_rng(seed))
        assert got.shape == ref.shape and got.shape[0] == min(frame, ref.shape[0])
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)
    assert ref.shape[0] < x.shape[0] - 8000  # the silences were taken out
