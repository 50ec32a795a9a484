"""Long inputs in pieces for the vocoders with more than a receptive field to handle
(pylib.engine.longform.infer_long): cyc_noise_nsf's whole-input state, nsf_hifigan's positional noise,
WaveGlow's positional latents and aligned post-filter, and the autoregressive WaveNet and iLPCNet
carrying their caches. The plain equality tests of every model are in test_longform.py."""

import numpy as np
import pytest
import torch

from pylib.engine.longform import infer_long
from tests.engine.test_longform import HOP, MELS, MODELS, SR, _batch

pytestmark = pytest.mark.usefixtures("one_thread")


def _voiced(batch, n):
    """One long voiced segment (a slow F0 contour), so that a segment spans several pieces."""
    batch["f0"] = (120 + 30 * torch.sin(torch.arange(n, dtype=torch.float32) / 20)).reshape(1, n, 1)
    return batch


def test_cyc_noise_state_is_the_whole_inputs_and_is_carried(monkeypatch):
    """The burst follows the whole input's mean F0 (chunk_init) and the pulses' segment phase is
    carried: chunked equals whole within a voiced segment spanning every piece; restarting the phase,
    or taking the mean F0 of each piece, does not."""
    n = 240
    model, batch = MODELS["cyc_noise_nsf"](), _voiced(_batch(n, seed=6), n)
    batch["f0"][:, : n // 2] *= 1.5  # the pieces' mean F0 differ from the whole's
    whole = model.infer(batch)[0]
    np.testing.assert_allclose(infer_long(model, batch, 60), whole, rtol=0, atol=1e-4)
    state = model.chunk_init(batch)
    assert float(state["f0_mean"]) == pytest.approx(float(batch["f0"].mean()), rel=1e-6)
    real = model.infer_chunk
    zero = torch.zeros(1, dtype=torch.float64)
    restart = lambda b, s, a, st=None: (real(b, s, a, {**st, "phase": zero})[0], st)  # noqa: E731
    monkeypatch.setattr(model, "infer_chunk", restart)
    assert float(np.abs(infer_long(model, batch, 60) - whole).max()) > 5e-4
    own_mean = lambda b, s, a, st=None: real(b, s, a, {**st, "f0_mean": model.chunk_init(b)["f0_mean"]})  # noqa: E731
    monkeypatch.setattr(model, "infer_chunk", own_mean)
    assert float(np.abs(infer_long(model, batch, 60) - whole).max()) > 5e-4


def test_nsf_hifigan_noise_by_position_and_phase_carried(monkeypatch):
    """nsf_hifigan's inference no longer reads the global RNG, and its pieces continue the sine
    phase: restarted at each piece, the output differs."""
    n = 160
    model, batch = MODELS["nsf_hifigan"](), _voiced(_batch(n, seed=7), n)
    torch.manual_seed(1)
    whole = model.infer(batch)[0]
    torch.manual_seed(2)
    np.testing.assert_array_equal(model.infer(batch)[0], whole)
    np.testing.assert_allclose(infer_long(model, batch, 40), whole, rtol=0, atol=1e-4)
    real = model.infer_chunk
    monkeypatch.setattr(model, "infer_chunk", lambda b, s, a, st=None: (real(b, s, a, None)[0], None))
    assert float(np.abs(infer_long(model, batch, 40) - whole).max()) > 1e-3


def _waveglow(**kw):
    """The seed's WaveGlow structure (3 blocks of 4 flows, 2 early channels per block, groups of 8) at
    toy width, its zero-initialised coupling outputs made to act."""
    from pylib.config import from_dict
    from pylib.models.vocoder.waveglow import WaveGlow, WaveGlowConfig

    torch.manual_seed(0)
    cfg = dict(hop=HOP, n_mels=MELS, sample_rate=SR, blocks=3, flows_per_block=4, early_dim=2, wn_layers=2,
               wn_channels=4, **kw)
    model = WaveGlow(from_dict(WaveGlowConfig, cfg, where="model"))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(("end.weight", "post.weight")):
                p.normal_(0.0, 0.3)
    return model.eval()


@pytest.mark.parametrize("kw", [{}, {"coupling_net": "legacy"}])
def test_waveglow_pieces_equal_the_whole_file(kw):
    """Latents by position and a fixed denoising spectrum: pieces (aligned on the post-filter's STFT
    grid) equal the whole file, at every boundary too; the global RNG plays no part."""
    n, frames = 320, 40
    model, batch = _waveglow(**kw), _batch(n, seed=8)
    spec = model.chunking()
    assert spec.hop == HOP and spec.align == 16 and spec.context == model.context_frames()
    torch.manual_seed(1)
    whole = model.infer(batch)[0]
    torch.manual_seed(2)
    chunked = infer_long(model, batch, frames)
    assert whole.shape == (n * HOP,) and float(np.abs(whole).max()) > 0.1
    np.testing.assert_allclose(chunked, whole, rtol=0, atol=1e-4)
    for b in range(frames * HOP, n * HOP, frames * HOP):
        np.testing.assert_allclose(chunked[b - 8 : b + 8], whole[b - 8 : b + 8], rtol=0, atol=1e-4)
    np.testing.assert_allclose(infer_long(model, batch, 77), whole, rtol=0, atol=1e-4)


def test_waveglow_needs_its_context_and_alignment(monkeypatch):
    """Without the STFT alignment the post-filter's frames fall elsewhere; without the denoiser, less
    context than the mel upsampler's window is not enough. (The coupling networks' influence fades
    with distance: 8 of the declared 24 frames already give 5e-7 here.)"""
    from pylib.contracts import Chunking

    n = 200
    model, batch = _waveglow(), _batch(n, seed=9)
    whole, spec = model.infer(batch)[0], model.chunking()
    monkeypatch.setattr(model, "chunking", lambda: Chunking(inputs=("mel",), hop=HOP, context=spec.context))
    assert float(np.abs(infer_long(model, batch, 40) - whole).max()) > 1e-2
    plain = _waveglow(denoise=False)
    whole, spec = plain.infer(batch)[0], plain.chunking()
    assert spec.align == 1
    np.testing.assert_allclose(infer_long(plain, batch, 40), whole, rtol=0, atol=1e-4)
    short = plain.cfg.upsample_window - 1
    monkeypatch.setattr(plain, "chunking", lambda: Chunking(inputs=("mel",), hop=HOP, context=short))
    assert float(np.abs(infer_long(plain, batch, 40) - whole).max()) > 1e-3


def _wavenet(**kw):
    from pylib.models.vocoder.wavenet import WaveNet, WaveNetConfig

    cfg = WaveNetConfig(n_mels=MELS, hop=4, sample_rate=SR, num_bits=6, res_channels=6, gate_channels=5,
                        skip_channels=7, cond_channels=4, layers=5, dilation_cycle=3, cond_lstm_units=4,
                        out_hidden=8, **kw)
    torch.manual_seed(0)
    return WaveNet(cfg).eval()


def test_wavenet_pieces_continue_one_sample_stream(monkeypatch):
    """Each piece generates its centre only, continuing the layers' queues, the last class and the
    de-emphasis: one sample stream, the whole file's (the BLSTM condition differs by float round-off
    at most, shrunk here to 12 frames of context so that the pieces really cut it). Without the
    carried state the stream restarts at every piece."""
    from pylib.models.vocoder import wavenet

    monkeypatch.setattr(wavenet, "BLSTM_CONTEXT", 6)
    n, frames = 72, 24
    model, batch = _wavenet(), _batch(n, seed=10)
    spec = model.chunking()
    assert spec.carry and not spec.exact and spec.context == 12 and spec.context < frames
    torch.manual_seed(1)
    whole = model.infer(batch)[0]
    calls = []
    real = model.infer_chunk
    count = lambda b, s, a, st=None: calls.append(b["mel"].shape[1]) or real(b, s, a, st)  # noqa: E731
    monkeypatch.setattr(model, "infer_chunk", count)
    chunked = infer_long(model, batch, frames)
    assert calls == [24 + 12, 12 + 24 + 12, 12 + 24] and whole.shape == (n * 4,)
    assert len(np.unique(whole)) > 20  # sampled
    np.testing.assert_allclose(chunked, whole, rtol=0, atol=1e-4)


    def fresh(b, s, a, st=None):  # the position kept, the queues, the last class and the de-emphasis not
        if st is not None:
            st = {"frame": st["frame"], "queues": wavenet.LayerQueues(model.blocks, 1, torch.float32, "cpu"),
                  "prev": torch.zeros(1, dtype=torch.long), "emph": None}
        return real(b, s, a, st)

    monkeypatch.setattr(model, "infer_chunk", fresh)
    restarted = infer_long(model, batch, frames)
    np.testing.assert_array_equal(restarted[: frames * 4], whole[: frames * 4])
    assert float(np.abs(restarted - whole)[frames * 4 :].max()) > 1e-2


def _ilpcnet():
    from pylib.models.vocoder.ilpcnet import ILPCNet, ILPCNetConfig

    cfg = ILPCNetConfig(n_mels=MELS, hop=4, sample_rate=SR, frame_length=16, frame_shift=8, lpc_order=4,
                        pitch_emb=3, frame_channels=6, hidden=6, gru1=6, gru2=4, cond_gru=3, cond_hidden=5)
    torch.manual_seed(0)
    return ILPCNet(cfg).eval()


def test_ilpcnet_pieces_continue_one_sample_stream(monkeypatch):
    """Pieces start on LPC frames (align = frame_shift / hop) and continue the GRU states, the LP
    synthesis' past samples and the de-emphasis: with the whole input in every piece's context, one
    sample stream equal to the whole file's; restarted at each piece, it is not. With the BiGRU cut
    (40 LPC frames of context) the stream stays close (exact=False)."""
    from pylib.models.vocoder import ilpcnet

    n, frames = 90, 30
    model, batch = _ilpcnet(), _batch(n, seed=11)
    spec = model.chunking()
    assert spec.carry and not spec.exact and spec.align == 2 and spec.context >= n
    torch.manual_seed(1)
    whole = model.infer(batch)[0]
    assert whole.shape == (n * 4,) and float(np.abs(whole).max()) > 0.1
    np.testing.assert_allclose(infer_long(model, batch, frames), whole, rtol=0, atol=1e-4)
    np.testing.assert_allclose(infer_long(model, batch, 25), whole, rtol=0, atol=1e-4)  # 25: not aligned
    real = model.infer_chunk
    monkeypatch.setattr(model, "infer_chunk", lambda b, s, a, st=None: real(
        b, s, a, None if st is None else {**st, "gen": model._start_state(1, b["mel"]), "emph": None}))
    assert float(np.abs(infer_long(model, batch, frames) - whole)[frames * 4 :].max()) > 1e-2
    monkeypatch.setattr(model, "infer_chunk", real)
    monkeypatch.setattr(ilpcnet, "BLSTM_CONTEXT", 40)
    n = 240
    batch = _batch(n, seed=11)
    assert model.chunking().context < n // 2  # the pieces cut the BiGRU
    diff = np.abs(infer_long(model, batch, 80) - model.infer(batch)[0])
    assert 0 < float(diff.max()) < 1e-3
