"""Long inputs in pieces (pylib.engine.longform.infer_long): the chunked output is the whole-file output
(also at every piece boundary), the NSF sine phase is carried, and peak memory does not grow with
the length beyond the output itself."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from pylib.bin import infer as infer_cli
from pylib.bin import vocode as vocode_cli
from pylib.config import from_dict
from pylib.contracts import Chunking, Vocoder
from pylib.engine.infer import run_inference
from pylib.engine.longform import chunk_frames, infer_long, vocode_batch
from pylib.errors import UserError
from pylib.io.audio import read_wav
from pylib.models.vocoder.hifigan import Hifigan, HifiganConfig, NsfHifigan, NsfHifiganConfig
from pylib.models.vocoder.nsf import (
    CycNoiseNsf,
    CycNoiseNsfConfig,
    HnNsf,
    HnNsfConfig,
    HnSincNsf,
    HnSincNsfConfig,
)
from pylib.models.vocoder.nsf_gan import HnSincNsfHifigan, HnSincNsfHifiganConfig

ROOT = Path(__file__).resolve().parents[2]
SR, HOP, MELS = 4000, 16, 8
NSF_TOY = dict(filter_channels=4, cond_channels=4, filter_layers=4, harmonic_blocks=2, noise_layers=2,
               cond_lstm_units=4, n_mels=MELS, hop=HOP, sample_rate=SR)
HIFI_TOY = dict(preset="v1", upsample_rates=[4, 4], upsample_kernel_sizes=[8, 8], upsample_initial_channel=16,
                resblock_kernel_sizes=[3, 5], resblock_dilation_sizes=[[1, 3], [1, 3]], mpd_periods=[2],
                mpd_channels=[4], msd_scales=1, msd_channels=[4] * 7, sample_rate=SR, hop=HOP, n_mels=MELS,
                loss_n_fft=64, loss_win_length=64, loss_n_mels=8, loss_fmax=None)


pytestmark = pytest.mark.usefixtures("one_thread")


def _model(cls, cfg_cls, toy, **kw):
    torch.manual_seed(0)
    return cls(from_dict(cfg_cls, {**toy, **kw}, where="model")).eval()


MODELS = {
    "hn_sinc_nsf_cnn": lambda: _model(HnSincNsf, HnSincNsfConfig, NSF_TOY, cond_module="cnn"),
    "hn_sinc_nsf_blstm": lambda: _model(HnSincNsf, HnSincNsfConfig, NSF_TOY),
    "hn_nsf": lambda: _model(HnNsf, HnNsfConfig, NSF_TOY, cond_module="cnn"),
    "hn_sinc_nsf_hifigan": lambda: _model(
        HnSincNsfHifigan, HnSincNsfHifiganConfig, NSF_TOY, cond_module="cnn", mpd_periods=[2],
        mpd_channels=[4], msd_scales=1, msd_channels=[4] * 7, aux_resolutions=[[64, 16, 64]]),
    "hifigan": lambda: _model(Hifigan, HifiganConfig, HIFI_TOY),
    "nsf_hifigan": lambda: _model(NsfHifigan, NsfHifiganConfig, HIFI_TOY),
    "cyc_noise_nsf": lambda: _model(CycNoiseNsf, CycNoiseNsfConfig, NSF_TOY, cond_module="cnn"),
}


def _batch(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    mel = torch.randn(1, n, MELS, generator=g)
    f0 = (100 + 80 * torch.rand(1, n, 1, generator=g)) * (torch.rand(1, n, 1, generator=g) > 0.3)
    lens = torch.tensor([n])
    return {"utt_id": [f"u{seed}"], "mel": mel, "f0": f0, "mel_len": lens, "f0_len": lens}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_chunked_equals_whole_file(name):
    n, frames = 320, 40
    model, batch = MODELS[name](), _batch(n)
    spec = model.chunking()
    assert spec is not None and spec.context >= 1 and spec.hop == HOP
    whole = model.infer(batch)[0]
    chunked = infer_long(model, batch, frames)
    assert chunked.dtype == np.float32 and chunked.shape == whole.shape == (n * HOP,)
    assert float(np.abs(whole).max()) > 1e-3  # a real signal, not silence
    np.testing.assert_allclose(chunked, whole, rtol=0, atol=1e-4)  # the BLSTM (exact=False) too, here
    for b in range(frames * HOP, n * HOP, frames * HOP):  # every piece boundary, 8 samples each side
        np.testing.assert_allclose(chunked[b - 8 : b + 8], whole[b - 8 : b + 8], rtol=0, atol=1e-4)
    np.testing.assert_allclose(infer_long(model, batch, 77), whole, rtol=0, atol=1e-4)  # uneven pieces


def test_nsf_phase_is_carried_across_pieces(monkeypatch):
    """Without the carried phase the sines restart at every piece: far from the whole-file output."""
    model, batch = MODELS["hn_sinc_nsf_cnn"](), _batch(200, seed=1)
    whole = model.infer(batch)[0]
    fresh = model.infer_chunk
    monkeypatch.setattr(model, "infer_chunk", lambda b, s, a, state=None: (fresh(b, s, a, None)[0], None))
    restarted = infer_long(model, batch, 50)
    assert float(np.abs(restarted - whole).max()) > 1e-2


def test_too_little_context_is_not_exact(monkeypatch):
    """The declared context is needed: with none, HiFi-GAN's pieces differ at their edges."""
    from pylib.contracts import Chunking

    model, batch = MODELS["hifigan"](), _batch(150)
    whole = model.infer(batch)[0]
    monkeypatch.setattr(model, "chunking", lambda: Chunking(inputs=("mel",), hop=HOP, context=0))
    assert float(np.abs(infer_long(model, batch, 50) - whole).max()) > 1e-4


def test_not_chunked_models_get_whole_utterances(monkeypatch):
    model = MODELS["hifigan"]()
    monkeypatch.setattr(model, "chunking", lambda: None)
    assert chunk_frames(model, SR, 1.0) is None
    monkeypatch.setattr(model, "infer_chunk", lambda *a: pytest.fail("a model without chunking() was cut"))
    batch = _batch(120)
    np.testing.assert_array_equal(infer_long(model, batch, 50), model.infer(batch)[0])


def test_chunk_frames_and_batches():
    model = MODELS["hifigan"]()
    assert chunk_frames(model, SR, 30.0) == 30 * SR // HOP and chunk_frames(model, SR, 0) is None
    with pytest.raises(UserError, match="--chunk-seconds"):
        chunk_frames(model, SR, -1.0)
    a, b = _batch(150, seed=2), _batch(90, seed=3)  # a padded batch of two: each utterance trimmed
    mel = torch.zeros(2, 150, MELS)
    mel[0], mel[1, :90] = a["mel"][0], b["mel"][0]
    batch = {"utt_id": ["a", "b"], "mel": mel, "mel_len": torch.tensor([150, 90])}
    got = vocode_batch(model, batch, 64)
    for wave, one in zip(got, (a, b)):
        np.testing.assert_allclose(wave, model.infer(one)[0], rtol=0, atol=1e-4)


def test_run_inference_chunks_long_utterances(tmp_path):
    model, batch = MODELS["hn_nsf"](), _batch(200, seed=4)
    whole = model.infer(batch)[0]
    res = run_inference(model, [batch], tmp_path / "out", SR, chunk_seconds=60 * HOP / SR, subtype="FLOAT")
    assert res["written"] == 1
    rate, wave = read_wav(tmp_path / "out" / "u4.wav")
    assert rate == SR
    np.testing.assert_allclose(np.asarray(wave).reshape(-1), whole, rtol=0, atol=1e-4)


def test_cli_option():
    for cli in (infer_cli, vocode_cli):
        opts = {s: a for a in cli.build_parser()._actions for s in a.option_strings}
        assert opts["--chunk-seconds"].default == 30.0


MEMORY_SCRIPT = textwrap.dedent("""
    import gc, json
    import torch
    torch.set_num_threads(1)
    from pylib.config import from_dict
    from pylib.engine.longform import infer_long
    from pylib.models.vocoder.hifigan import Hifigan, HifiganConfig
    from pylib.models.vocoder.nsf import HnNsf, HnNsfConfig
    SR, HOP = 16000, 80
    nsf = dict(filter_channels=2, cond_channels=2, filter_layers=2, harmonic_blocks=1, noise_layers=1,
               num_harmonics=1, cond_module="cnn", cond_cnn_layers=1, n_mels=4, hop=HOP, sample_rate=SR)
    hifi = dict(preset="v3", upsample_rates=[4, 4, 5], upsample_kernel_sizes=[8, 8, 9],
                upsample_initial_channel=16, resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1]],
                mpd_periods=[2], mpd_channels=[4],
                msd_scales=1, msd_channels=[4] * 7, sample_rate=SR, hop=HOP, n_mels=4, loss_n_fft=64,
                loss_win_length=64, loss_n_mels=4, loss_fmax=None)
    models = {"hn_nsf": HnNsf(from_dict(HnNsfConfig, nsf, where="model")).eval(),
              "hifigan": Hifigan(from_dict(HifiganConfig, hifi, where="model")).eval()}
    def status(key):  # bytes
        for line in open("/proc/self/status"):
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    out = {}
    for name, model in models.items():
        for minutes in (1, 10):
            n = minutes * 60 * SR // HOP
            batch = {"utt_id": ["u"], "mel": torch.randn(1, n, 4), "f0": torch.full((1, n, 1), 120.0),
                     "mel_len": torch.tensor([n]), "f0_len": torch.tensor([n])}
            gc.collect()
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # reset the peak (VmHWM) to the current resident size
            base = status("VmRSS")
            wave = infer_long(model, batch, 5 * SR // HOP)  # pieces of 5 s
            out[f"{name} {minutes}"] = {"peak": status("VmHWM") - base, "output": wave.nbytes}
            del wave, batch
    print(json.dumps(out))
""")


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc (peak RSS reset)")
def test_memory_does_not_grow_with_length():
    """Vocode 1 and 10 minutes (16 kHz, toy widths, pieces of 5 s) in a fresh process, hn_nsf and
    HiFi-GAN: the peak resident memory of the 10 minutes exceeds that of 1 minute by the larger
    output buffer only, plus a fixed 16 MB at most (whole-file generation would grow ~10x)."""
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT], cwd=ROOT, capture_output=True, text=True,
                         timeout=120, env=env)
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout.strip().splitlines()[-1])
    for name in ("hn_nsf", "hifigan"):
        one, ten = got[f"{name} 1"], got[f"{name} 10"]
        assert ten["output"] == 10 * 60 * 16000 * 4  # 38.4 MB of float32 output
        assert ten["peak"] >= ten["output"]  # the measurement sees the output buffer
        growth, buffers = ten["peak"] - one["peak"], ten["output"] - one["output"]
        assert growth <= buffers + 16e6, (
            f"{name}: peak memory grew by {growth / 1e6:.1f} MB for {buffers / 1e6:.1f} MB more output"
        )


def test_copy_synthesis_chunks_long_inputs(monkeypatch):
    """`vocode`'s CopySynthesis with chunk_seconds cuts a long input as infer does (same output)."""
    from pylib.metrics.vocoder_report import CopySynthesis

    model, pieces = MODELS["hifigan"](), []
    real = model.infer_chunk
    monkeypatch.setattr(model, "infer_chunk", lambda b, *a: pieces.append(b["mel"].shape[1]) or real(b, *a))
    frames = np.random.default_rng(0).standard_normal((200, MELS)).astype(np.float32)
    synth = object.__new__(CopySynthesis)  # a loaded model file stood in for by its parts
    synth.model, synth.sample_rate, synth.device = model, SR, "cpu"
    synth.extractors = {"mel": lambda wave: frames[: len(wave) // HOP]}
    wave = np.zeros(200 * HOP, dtype=np.float32)
    synth.chunk_seconds = 0
    whole = synth(wave, SR)
    synth.chunk_seconds = 40 * HOP / SR  # pieces of 40 frames
    assert not pieces
    np.testing.assert_allclose(synth(wave, SR), whole, rtol=0, atol=1e-4)
    assert whole.shape == (200 * HOP,) and len(pieces) == 5  # 200 frames in pieces of 40 (+ context)


def test_positional_noise_depends_on_position_only():
    from pylib.models.vocoder.source import NOISE_BLOCK, positional_normal

    like = torch.zeros(())
    whole = positional_normal(7, 1, 0, 3 * NOISE_BLOCK, 2, like)
    for start, length in ((0, 10), (NOISE_BLOCK - 5, 11), (2 * NOISE_BLOCK + 3, NOISE_BLOCK - 3)):
        piece = positional_normal(7, 1, start, length, 2, like)
        assert torch.equal(piece, whole[start : start + length])
    assert not torch.equal(positional_normal(7, 2, 0, 10, 2, like), whole[:10])  # another stream
    assert not torch.equal(positional_normal(8, 1, 0, 10, 2, like), whole[:10])  # another seed
    assert abs(float(whole.std()) - 1.0) < 0.05


class _PieceOffset(Vocoder):
    """An inexact stand-in: each piece outputs its own constant (0 or 1, alternating by piece start)."""

    def __init__(self, exact):
        self.spec = Chunking(inputs=("mel",), hop=4, context=6, exact=exact)

    def chunking(self):
        return self.spec

    def infer(self, batch):
        return [np.zeros(batch["mel"].shape[1] * 4, dtype=np.float32)]

    def infer_chunk(self, batch, start, advance, state=None):
        level = float(((start + 6) // 10) % 2)  # pieces of 10 frames: inputs from 0, 10 - 6, 20 - 6, ...
        return [np.full(batch["mel"].shape[1] * 4, level, dtype=np.float32)], None


@pytest.mark.parametrize("exact", [True, False])
def test_inexact_pieces_are_cross_faded(exact):
    batch = {"utt_id": ["u"], "mel": torch.zeros(1, 40, 1), "mel_len": torch.tensor([40])}
    wave = infer_long(_PieceOffset(exact), batch, 10)
    step = float(np.abs(np.diff(wave)).max())
    if exact:  # kept as computed: a jump of 1 at each boundary
        assert step == 1.0
    else:  # faded over 3 frames (12 samples) after each boundary: steps of 1/13 at most
        assert step <= 1 / 13 + 1e-6
        np.testing.assert_array_equal(wave[:40], 0.0)  # untouched outside the fades
        np.testing.assert_array_equal(wave[40 + 12 : 80], 1.0)
