"""RawNet2 (`rawnet2`): toy-width behaviour, the shipped conf trained 2 steps through `train`, and
import of a published-size seed checkpoint through the CLI, `load_cm_model` and `score_wavs`."""

import os
import subprocess
import sys
import types

import numpy as np
import pytest
import torch

from pylib.config import from_dict, load_yaml
from pylib.errors import ConfigError, DataError
from pylib.models.catalogue import get_model_class
from tests.conftest import noise, sine

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]
CONF = ROOT / "egs" / "asvspoof2019_la" / "lcnn" / "conf" / "rawnet2.yaml"
SR = 16000
# toy width: 129-tap sinc filters and four blocks need >= 128 + 3^4 = 209 samples
TOY = {
    "sinc_kernel": 129,
    "res_channels": [8, 8, 16, 16],
    "gru_hidden": 8,
    "gru_layers": 1,
    "emb_dim": 8,
    "seg_len": 1600,
}


def make(**kw):
    cls = get_model_class("rawnet2")
    torch.manual_seed(0)
    return cls(from_dict(cls.Config, {**TOY, **kw}, where="model"))


def batch_of(waves, labels=None):
    t = max(len(w) for w in waves)
    wav = torch.zeros(len(waves), t, 1)
    for i, w in enumerate(waves):
        wav[i, : len(w), 0] = torch.from_numpy(np.asarray(w, dtype=np.float32))
    out = {"wav": wav, "wav_len": torch.tensor([len(w) for w in waves])}
    if labels is not None:
        out["label"] = torch.tensor(labels)
    return out


def test_shipped_conf_is_the_seeds_model():
    cfg = load_yaml(CONF)
    cls = get_model_class("rawnet2")
    model_cfg = from_dict(cls.Config, {k: v for k, v in cfg["model"].items() if k != "name"}, where="model")
    assert model_cfg == cls.Config()  # the defaults are the published settings
    assert cfg["data"]["truncate"] == model_cfg.seg_len == 64600 and cfg["data"]["segments"] == "split"
    m = cls(model_cfg)
    assert m.sinc.shape == (20, 1, 1025) and not m.sinc.requires_grad
    assert sum(p.numel() for p in m.param_groups()["model"]) > 5_000_000  # a published-size network


def test_fft_sinc_filtering_is_the_direct_convolution():
    from pylib.models.cm.rawnet2 import FFT_MIN_TAPS, fast_len, sinc_conv

    assert [fast_len(n) for n in (1, 7, 1000, 64600, 65537)] == [1, 8, 1000, 64800, 65610]
    g = torch.Generator().manual_seed(0)
    for t, k in [(3001, 1025), (2000, 129), (700, FFT_MIN_TAPS - 1)]:
        x = torch.randn(3, t, generator=g, dtype=torch.float64)
        h = torch.randn(4, k, generator=g, dtype=torch.float64)
        ref = torch.nn.functional.conv1d(x[:, None], h[:, None])
        np.testing.assert_allclose(sinc_conv(x, h).numpy(), ref.numpy(), rtol=0, atol=1e-10)


def test_scores_alone_and_in_a_padded_batch_segments_averaged():
    m = make().eval()
    waves = [
        noise(seconds=0.05, seed=1) + sine(300, seconds=0.05),  # 800 samples: whole
        noise(seconds=0.25, seed=2),  # 4000 samples: two 1600-sample segments, 800 dropped
        sine(500, seconds=0.1) + noise(seconds=0.1, seed=3),
    ]  # exactly one segment
    batched = m.infer(batch_of(waves))
    alone = [m.infer(batch_of([w]))[0] for w in waves]
    np.testing.assert_allclose(batched, alone, rtol=1e-4, atol=1e-5)
    with torch.no_grad():
        w = torch.from_numpy(waves[1])
        two = m.logits(torch.stack([w[:1600], w[1600:3200]]))[:, 1].mean()
    assert alone[1] == pytest.approx(float(two), rel=1e-4, abs=1e-5)
    assert len(set(np.round(alone, 5))) == 3
    # the dev loss in eval mode is the cross entropy of those scores' logits
    b = batch_of(waves, [1, 0, 1])
    loss, stats = m(b)
    with torch.no_grad():
        ref = torch.nn.functional.cross_entropy(
            m.utterance_logits(b["wav"][..., 0], b["wav_len"]), b["label"]
        )
    assert stats["loss"] == pytest.approx(float(ref), rel=1e-5)


@pytest.mark.parametrize(
    "options", [{}, {"sinc_abs_pool": True, "block_lrelu": 0.01, "sinc_trainable": True}]
)
def test_trains(options):
    m = make(**options).train()
    opt = torch.optim.Adam(m.param_groups()["model"], lr=3e-3)
    waves = [
        sine(200 + 150 * i, seconds=0.1) if i % 2 else noise(seconds=0.1, amp=0.3, seed=i) for i in range(6)
    ]
    batch = batch_of(waves, [i % 2 for i in range(6)])
    losses = []
    for step in range(8):
        loss, stats = m(batch, step)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(stats["loss"])
    assert np.isfinite(losses).all() and losses[-1] < losses[0], losses
    assert (m.sinc.grad is not None) == bool(options.get("sinc_trainable"))
    m.eval()
    scores = np.array(m.infer(batch))
    assert scores[1::2].mean() > scores[::2].mean()  # bona fide scores higher


def test_config_and_input_errors():
    with pytest.raises(ConfigError, match="unknown key"):
        make(gru_size=3)
    with pytest.raises(ConfigError, match="seg_len"):
        make(seg_len=100)
    with pytest.raises(ConfigError, match="res_channels"):
        make(res_channels=[])
    m = make().eval()
    with pytest.raises(DataError, match="needs at least 209"):
        m.infer(batch_of([noise(seconds=0.01)]))
    b = batch_of([noise(seconds=0.05)], [1])
    with pytest.raises(ConfigError, match="labels"):
        m({k: v for k, v in b.items() if k != "label"})
    with pytest.raises(ConfigError, match="not in the batch"):
        m.infer({"mel": b["wav"]})
    with pytest.raises(ConfigError, match="mono"):
        m.infer({"wav": b["wav"].repeat(1, 1, 2)})


def _write_set(dump, name, n, seconds):
    from pylib.data.lists import make_list
    from pylib.data.spec import spec_from_config
    from pylib.io import write_table, write_wav

    labels = {}
    for i in range(n):
        utt = f"{name}{i:02d}"
        w = sine(180 + 60 * i, seconds=seconds) if i % 2 else noise(seconds=seconds, amp=0.2, seed=i)
        write_wav(dump / name / "wav" / f"{utt}.wav", SR, w)
        labels[utt] = "bonafide -" if i % 2 else "spoof A01"
    labels_in = dump.parent / "data" / name / "utt2label"  # as a recipe: data/<set> in, dump/<set> out
    write_table(labels_in, labels)
    spec = spec_from_config(load_yaml(CONF))
    kept, dropped, _ = make_list(spec, dump, name, spec.features, utt2label=labels_in)
    assert len(kept) == n and not dropped


def test_shipped_conf_debug_size_trains_two_steps(tmp_path):
    from tests.reliability.common import run_stage

    dump = tmp_path / "dump"
    _write_set(dump, "train", 4, 0.15)
    _write_set(dump, "dev", 2, 0.15)
    debug = [
        "model.sinc_kernel=129",
        "model.res_channels=[8,8,16,16]",
        "model.gru_hidden=8",
        "model.gru_layers=1",
        "model.emb_dim=8",
        "model.seg_len=1600",
        "data.truncate=1600",
        "data.min_len=800",
        "data.batch_size=4",
        "data.num_workers=0",
        "train.epochs=1",
        "train.log_every=1",
        "train.save_every_steps=0",
        "train.tensorboard=false",
        "train.curves=false",
    ]
    exp = tmp_path / "exp"
    args = ["--conf", CONF, "--data-dir", dump, "--exp-dir", exp, "--device", "cpu"]
    for kv in debug:
        args += ["--set", kv]
    r = run_stage("train", *args)
    assert r.code == 0, r.err[-3000:]
    # 4 trials of 2400 samples -> a 1600-sample segment each (the 800-sample rests are kept: >= min_len)
    # = 8 segments in 2 batches of 4: one epoch is 2 steps
    ckpt = torch.load(exp / "checkpoint_last.pt", map_location="cpu", weights_only=True)
    assert ckpt["step"] == 2 and ckpt["config"]["model"]["name"] == "rawnet2"
    log = (exp / "train.log").read_text()
    assert "loss" in log and "nan" not in log.lower()


# ---- import of a seed checkpoint ------------------------------------------------------------------


@pytest.fixture(scope="module")
def seed_checkpoint(tmp_path_factory):
    """A published-size seed RawNet2 (03-asvspoof-mega/rawnet2/01/model.py) with randomised BatchNorm
    statistics, saved as the seed saves trained_network.pt (its state dict)."""
    from tests.parity.peers import load_seed_model_module, seed_args, stand_in_config

    # the seed imports torchaudio and never uses it; the stand-in is removed again at once, since a
    # module without __spec__ left in sys.modules breaks transformers' import checks in later tests
    stub = "torchaudio" not in sys.modules
    if stub:
        sys.modules["torchaudio"] = types.ModuleType("torchaudio")
    try:
        mod = load_seed_model_module("03-asvspoof-mega/rawnet2/01/model.py", optional_argument=[""],
                                     wav_samp_rate=SR, truncate_seq=64600)
    finally:
        if stub:
            sys.modules.pop("torchaudio", None)
    torch.manual_seed(0)
    seed = mod.Model(
        1, 1, seed_args(), stand_in_config(optional_argument=[""], wav_samp_rate=SR, truncate_seq=64600)
    )
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in seed.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.weight.uniform_(0.5, 1.5, generator=g)
                m.bias.uniform_(-0.2, 0.2, generator=g)
                m.running_mean.uniform_(-0.1, 0.1, generator=g)
                m.running_var.uniform_(0.5, 2.0, generator=g)
    path = tmp_path_factory.mktemp("seed") / "trained_network.pt"
    torch.save(seed.state_dict(), path)
    return seed.eval(), path


def _seed_score(seed, wave):
    """The seed's score of one trial: its eval forward prints `Output, name, target, score[-1]`."""
    seed.protocol_parser = {"utt": 1}
    out = []
    inference = seed.m_rawnet.inference
    seed.m_rawnet.inference = lambda x: out.append(inference(x)) or out[-1]
    try:
        with torch.no_grad():
            seed(torch.from_numpy(wave)[None, :, None], [f"0,utt,0,{len(wave)},0"])
    finally:
        seed.m_rawnet.inference = inference
    return float(torch.stack(out, 2).mean(-1)[0, -1])


def test_seed_checkpoint_imports_and_scores_like_the_seed(seed_checkpoint, tmp_path):
    from pylib.io import read_wav, write_wav
    from pylib.models.cm.import_project_nn import load_cm_model
    from pylib.models.seed_import import SEED_ARCHS, detect_arch, load_seed_state_dict

    seed, ckpt = seed_checkpoint
    sd = load_seed_state_dict(ckpt)
    assert detect_arch(sd) == "rawnet2"
    assert [n for n, a in SEED_ARCHS.items() if a.matches(sd)] == ["rawnet2"]  # no LCNN arch claims it

    out = tmp_path / "model.pt"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    r = subprocess.run(
        [sys.executable, "-m", "pylib.bin.import_project_nn", "--checkpoint", str(ckpt), "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    blob = torch.load(out, map_location="cpu", weights_only=True)
    assert (
        blob["config"]["model"]["name"] == "rawnet2" and blob["config"]["imported_from"]["arch"] == "rawnet2"
    )

    wav_dir = tmp_path / "wavs"
    waves = {
        "a": sine(220, seconds=0.2) + noise(seconds=0.2, seed=5),
        "b": noise(seconds=0.3, amp=0.2, seed=6),
    }
    for name, w in waves.items():
        write_wav(wav_dir / f"{name}.wav", SR, w)
    ref = {name: _seed_score(seed, read_wav(wav_dir / f"{name}.wav")[1]) for name in waves}

    model = load_cm_model(out)
    for name in waves:
        w = torch.from_numpy(read_wav(wav_dir / f"{name}.wav")[1])
        assert model.infer({"wav": w[None, :, None]})[0] == pytest.approx(ref[name], rel=1e-4, abs=1e-5), name

    scores = tmp_path / "scores.txt"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "pylib.bin.score_wavs",
            "--model",
            str(out),
            "--wav-dir",
            str(wav_dir),
            "--out",
            str(scores),
            "--no-progress",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    got = {line.split()[0]: float(line.split()[1]) for line in scores.read_text().splitlines()}
    assert set(got) == set(waves)
    for name in waves:
        assert got[name] == pytest.approx(ref[name], rel=1e-4, abs=1e-5), name


def test_bad_seed_state_dicts(seed_checkpoint):
    from pylib.models.cm.rawnet2 import convert_seed_state_dict

    _, ckpt = seed_checkpoint
    sd = torch.load(ckpt, map_location="cpu", weights_only=True)
    with pytest.raises(DataError, match="not a RawNet2"):
        convert_seed_state_dict({k: v for k, v in sd.items() if "m_gru" not in k}, where="cut.pt")
    with pytest.raises(DataError, match="m_rawnet.m_extra"):
        convert_seed_state_dict({**sd, "m_rawnet.m_extra.weight": torch.zeros(1)}, where="extra.pt")
    bad = dict(sd)
    bad["m_rawnet.m_emb.bias"] = torch.zeros(3)
    with pytest.raises(DataError, match="m_emb.bias"):
        convert_seed_state_dict(bad, where="shape.pt")
