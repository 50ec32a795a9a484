"""WaveNet vocoder (pylib/models/vocoder/wavenet.py): cached generation == naive generation, µ-law,
the loss' padding mask, inference, config errors, the recipe confs. The seed parity is in
tests/parity/test_wavenet_parity.py."""

from pathlib import Path

import numpy as np
import pytest
import torch

from pylib.errors import ConfigError
from pylib.models.catalogue import get_model_class
from pylib.models.vocoder.wavenet import WaveNet, WaveNetConfig, mulaw_decode, mulaw_encode

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.usefixtures("one_thread")


def _toy(**kw):
    cfg = WaveNetConfig(n_mels=5, hop=4, sample_rate=16000, num_bits=6, res_channels=6, gate_channels=5,
                        skip_channels=7, cond_channels=4, layers=5, dilation_cycle=3, cond_lstm_units=4,
                        out_hidden=8, **kw)
    torch.manual_seed(0)
    return WaveNet(cfg).double().eval()


def _mel(B=2, N=30):
    return torch.from_numpy(np.random.default_rng(1).normal(size=(B, N, 5)))


@pytest.mark.parametrize("kernel", [2, 3])
def test_cached_generation_equals_the_naive_one(kernel):
    model = _toy(kernel=kernel)
    assert model.receptive_field == 1 + (kernel - 1) * (1 + 2 + 4 + 1 + 2)
    mel = _mel(N=10)  # 40 steps, past the receptive field (11 / 21 samples)
    cached = model.generate(mel, generator=torch.Generator().manual_seed(5), return_classes=True, chunk=16)
    naive = model.generate_naive(mel, generator=torch.Generator().manual_seed(5), return_classes=True)
    assert cached.shape == (2, 40)
    assert torch.equal(cached, naive)
    assert len(set(cached.flatten().tolist())) > 10  # sampled, not stuck
    model.cfg.sampling = "argmax"  # no draws: both forms agree on it too
    assert torch.equal(model.generate(mel, steps=16, return_classes=True),
                       model.generate_naive(mel, steps=16, return_classes=True))


def test_cached_step_logits_are_the_teacher_forced_ones():
    """Feeding the generated classes back teacher-forced gives, at every step, the argmax drawn."""
    model = _toy(sampling="argmax")
    mel = _mel(B=1, N=12)
    classes = model.generate(mel, return_classes=True)
    c = model.condition(mel)
    fb = torch.nn.functional.pad(classes[:, :-1], (1, 0))
    with torch.no_grad():
        logits = model.stack(model.embed(fb), c)
    assert torch.equal(logits.argmax(-1), classes)


def test_mulaw_round_trip_and_range():
    x = torch.linspace(-1, 1, 2001, dtype=torch.float64)
    q = mulaw_encode(x, 1024)
    assert q.dtype == torch.int64 and int(q.min()) == 0 and int(q.max()) == 1023
    assert torch.all(q[1:] >= q[:-1])
    y = mulaw_decode(q, 1024, torch.float64)
    # µ-law steps are finest near 0: the error is below half a step at |x|
    step = (torch.log1p(torch.tensor(1023.0, dtype=torch.float64)) / 1023 * (1 + 1023 * x.abs()) / 1023) * 2
    assert torch.all((y - x).abs() <= step)


def test_pre_emphasis_and_de_emphasis_are_inverse():
    model = _toy()
    wav = 0.3 * torch.sin(torch.arange(400, dtype=torch.float64) * 0.03)[None]
    q = model.encode(wav)
    y = model.decode(q)
    assert float((y - wav).abs().max()) < 0.05
    model.cfg.pre_emphasis = 0.0
    assert torch.equal(model.encode(wav), mulaw_encode(wav, 64))


def test_loss_leaves_the_padding_out():
    model = _toy().train()
    mel = _mel(B=2, N=10)
    wav = 0.2 * torch.randn(2, 40, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    lens = torch.tensor([40, 24])
    loss, stats = model({"mel": mel, "wav": wav, "wav_len": lens})
    # the mean over the valid samples only: 40 of the first utterance, 24 of the second
    logits, target = model.logits(mel, wav[..., 0])
    ce = torch.nn.functional.cross_entropy(logits.transpose(1, 2), target, reduction="none")
    ref = (ce[0].sum() + ce[1, :24].sum()) / 64
    torch.testing.assert_close(loss, ref)
    assert stats["ce"] == pytest.approx(float(ref))
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_infer_trims_each_utterance():
    model = _toy(infer_seed=3)
    mel = _mel(B=2, N=8)
    out = model.infer({"mel": mel, "mel_len": torch.tensor([8, 5])})
    assert [len(y) for y in out] == [32, 20] and all(y.dtype == np.float32 for y in out)
    again = model.infer({"mel": mel, "mel_len": torch.tensor([8, 5])})
    np.testing.assert_array_equal(out[0], again[0])  # seeded: reproducible
    model.cfg.cached = False
    np.testing.assert_array_equal(model.infer({"mel": mel, "mel_len": torch.tensor([8, 5])})[1], out[1])


@pytest.mark.parametrize("bad, match", [({"sampling": "top-k"}, "sampling"), ({"cond_lstm_units": 5}, "even"),
                                        ({"pre_emphasis": 1.0}, "pre_emphasis"), ({"layers": 0}, "layers")])
def test_config_errors_name_the_key(bad, match):
    with pytest.raises(ConfigError, match=match):
        WaveNetConfig(**bad)


def test_catalogue_and_confs():
    from pylib.config import load_config
    from pylib.engine.build import resolve_config

    assert get_model_class("wavenet") is WaveNet
    confs = ROOT / "egs" / "cmu_arctic" / "wavenet" / "conf"
    for name, layers in (("wavenet", 30), ("debug", 4)):
        config, spec, model, *_ = resolve_config(load_config(confs / f"{name}.yaml"), get_model_class)
        assert isinstance(model, WaveNet) and len(model.blocks) == layers
        assert model.cfg.hop == 80 and model.cfg.n_mels == 80 and model.cfg.sample_rate == 16000
    assert model.receptive_field == 16  # the debug conf: dilations 1, 2, 4, 8
    # the same dump as the NSF recipe: its mel and wav extractors, unchanged
    nsf = load_config(ROOT / "egs" / "cmu_arctic" / "nsf" / "conf" / "hn_sinc_nsf.yaml")["features"]
    wn = load_config(confs / "wavenet.yaml")["features"]
    assert wn["sample_rate"] == nsf["sample_rate"]
    for feat in ("mel", "wav"):
        assert wn["extractors"][feat] == nsf["extractors"][feat]
