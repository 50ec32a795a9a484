"""ssl_cm at toy width: inputs (front end or cached features), parameter groups, padding, losses,
errors. Parity with the seed: tests/parity/test_ssl_cm_parity.py."""

import types

import pytest
import torch

from pylib.config import from_dict
from pylib.contracts import check_model
from pylib.errors import ConfigError, DataError
from pylib.models.catalogue import get_model_class
from pylib.models.cm import ssl_cm
from tests.models.ssl_seed import seed_state_dict
from tests.parity.peers import TinySSL, make_standin_frontend

DIM = 8


def build(monkeypatch=None, spec=None, finetune=False, **keys):
    """An ssl_cm (float64); with monkeypatch, its `frontend:` is a stand-in around a TinySSL."""
    if monkeypatch is not None:
        def frontend(cfg):
            tiny = TinySSL.make(DIM, layers=2, seed=len(cfg.get("path", ""))).double()
            return make_standin_frontend(tiny, cfg.get("layers", "last"), cfg.get("finetune", False))

        monkeypatch.setattr(ssl_cm, "build_frontend", frontend)
        keys.setdefault("frontend", {"path": "tiny", "layers": "last", "finetune": finetune})
    keys.setdefault("proj_dim", 16)
    torch.manual_seed(0)
    return ssl_cm.SslCM(from_dict(ssl_cm.SslCmConfig, keys, where="test"), spec).double()


def spec_of(dim):
    feat = types.SimpleNamespace(name="ssl", dim=dim, hop=320, ext="f4")
    return types.SimpleNamespace(inputs=[feat], outputs=[], sample_rate=16000, origins={})


def wave_batch(lengths, seed=0):
    g = torch.Generator().manual_seed(seed)
    t = max(lengths)
    wav = 0.1 * torch.randn(len(lengths), t, 1, generator=g, dtype=torch.float64)
    for i, n in enumerate(lengths):
        wav[i, n:] = 0.0
    label = torch.tensor([i % 2 for i in range(len(lengths))])
    return {"wav": wav, "wav_len": torch.tensor(lengths), "label": label}


def test_catalogue_and_contracts(monkeypatch):
    assert get_model_class("ssl_cm") is ssl_cm.SslCM
    model = build(monkeypatch, back_end="gf")
    check_model(model, "ssl_cm")


@pytest.mark.parametrize("back_end", ["gf", "lgf", "llgf", "ff"])
def test_padding_does_not_change_scores(back_end, monkeypatch):
    """A batch of unequal lengths scores each utterance as it scores alone (masked pooling,
    packed BLSTMs, the LCNN's zeroed padding)."""
    model = build(monkeypatch, back_end=back_end, ff_layers=2, ff_dim=6).eval()
    lengths = [6480, 5217]  # 20 and 16 frames (the LCNN pools four times)
    batch = wave_batch(lengths)
    together = model.infer(batch)
    for i, n in enumerate(lengths):
        alone = {"wav": batch["wav"][i : i + 1, :n], "wav_len": torch.tensor([n])}
        assert model.infer(alone)[0] == pytest.approx(together[i], rel=1e-9, abs=1e-12)


def test_fixed_and_finetuned_groups(monkeypatch):
    frozen = build(monkeypatch, back_end="gf", finetune=False).train()
    assert list(frozen.param_groups()) == ["model"]
    ssl_ids = {id(p) for p in frozen.frontend.parameters()}
    assert not ssl_ids & {id(p) for p in frozen.param_groups()["model"]}
    loss, stats = frozen(wave_batch([4000, 4000]))
    loss.backward()
    assert all(p.grad is None for p in frozen.frontend.parameters())
    assert frozen.proj.weight.grad is not None and stats["loss"] == stats["ce"]

    tuned = build(monkeypatch, back_end="gf", finetune=True).train()
    groups = tuned.param_groups()
    assert list(groups) == ["ssl", "model"]
    assert {id(p) for p in groups["ssl"]} == {id(p) for p in tuned.frontend.parameters()}
    loss, _ = tuned(wave_batch([4000, 4000]))
    loss.backward()
    assert all(p.grad is not None for p in groups["ssl"])


def test_cached_features_and_layer_weights(monkeypatch):
    """Cached (B, N, L * D) features, layer-major, give what the front end's all-layer output gives."""
    live = build(monkeypatch, back_end="ff", ff_layers=1, ff_dim=4,
                 frontend={"path": "tiny", "layers": "all", "finetune": False})
    assert live.layer_weights is not None and live.layer_weights.shape == (3,)
    cached = build(spec=spec_of(3 * DIM), input="ssl", ssl_layers=3, back_end="ff", ff_layers=1, ff_dim=4)
    assert cached.ssl_dim == DIM and cached.frontend is None
    cached.load_state_dict(live.state_dict(), strict=False)
    live.eval()
    cached.eval()
    batch = wave_batch([4000, 3000])
    feats, frames = live.frontend(batch["wav"][..., 0], batch["wav_len"])
    b, n = feats.shape[:2]
    want = live.infer(batch)
    got = cached.infer({"ssl": feats.reshape(b, n, -1), "ssl_len": frames})
    assert got == pytest.approx(want, rel=1e-9)


def test_bad_inputs_and_configs(monkeypatch):
    with pytest.raises(ConfigError, match="not a multiple of model.ssl_layers"):
        build(spec=spec_of(20), input="ssl", ssl_layers=3)
    with pytest.raises(ConfigError, match="leave ssl_dim out"):
        build(spec=spec_of(24), input="ssl", ssl_layers=3, ssl_dim=6)
    with pytest.raises(ConfigError, match="ssl_dim"):
        build(input="ssl")
    model = build(spec=spec_of(DIM), input="ssl", back_end="gf")
    with pytest.raises(ConfigError, match="cached SSL features"):
        model.infer({"ssl": torch.zeros(1, 5, DIM + 1, dtype=torch.float64)})
    with pytest.raises(ConfigError, match="not in the batch"):
        model.infer({"wav": torch.zeros(1, 5, DIM)})
    with pytest.raises(ConfigError, match="labels"):
        model({"ssl": torch.zeros(1, 5, DIM, dtype=torch.float64)})
    for keys, msg in (({"frontend2": {"path": "x"}}, "frontend2 needs"),
                      ({"distill_weight": 1.0}, "distill_weight needs"),
                      ({"back_end": "llgf", "proj_dim": 8}, ">= 16"),
                      ({"ff_dropout": 1.0}, "ff_dropout"),
                      ({"back_end": "nope"}, "back_end")):
        with pytest.raises(ConfigError, match=msg):
            from_dict(ssl_cm.SslCmConfig, {"ssl_dim": DIM, **keys}, where="model")
    wave = build(monkeypatch, back_end="gf")
    with pytest.raises(ConfigError, match="mono waveform"):
        wave.infer({"wav": torch.zeros(1, 4000, 2, dtype=torch.float64)})


def test_frontend2_difference_and_distillation(monkeypatch):
    """B2: the features are frontend minus frontend2; B3: L1 to the teacher's, teacher outside the state."""
    b2 = build(monkeypatch, back_end="gf", frontend2={"path": "other", "layers": "last", "finetune": True},
               finetune=True)
    batch = wave_batch([4000, 4000])
    x, n = batch["wav"][..., 0], batch["wav_len"]
    feats, _ = b2.ssl_features(batch)
    want = b2.frontend(x, n)[0] - b2.frontend2(x, n)[0]
    torch.testing.assert_close(feats[:, :, 0], want)
    assert len(b2.param_groups()["ssl"]) == 2 * len(list(b2.frontend.parameters()))

    b3 = build(monkeypatch, back_end="gf", finetune=True, distill_weight=2.0,
               teacher={"path": "teach", "layers": "last"}, teacher2={"path": "teach2", "layers": "last"})
    loss, stats = b3.train()(batch)
    feats, _ = b3.ssl_features(batch)
    t1, t2 = b3._teacher
    teacher = t1(x, n)[0] - t2(x, n)[0]
    assert stats["distill"] == pytest.approx(2.0 * float((feats[:, :, 0] - teacher).abs().mean()), rel=1e-9)
    assert stats["loss"] == pytest.approx(stats["ce"] + stats["distill"], rel=1e-12)
    assert not any("teach" in k for k in b3.state_dict())
    assert all(not p.requires_grad for p in t1.parameters())
    assert b3.eval()(batch)[1].get("distill") is None  # scoring the dev set: no teacher


def test_energy_terms(monkeypatch):
    """The seed's project 07 energy terms: in-distribution rows above m_in, OOD rows below m_out."""
    model = build(spec=spec_of(DIM), input="ssl", back_end="gf", energy_weight=0.5, energy_margin_in=-1.0,
                  energy_margin_out=2.0)
    g = torch.Generator().manual_seed(2)
    batch = {"ssl": torch.randn(3, 6, DIM, generator=g, dtype=torch.float64),
             "label": torch.tensor([1, 0, 1]), "ood": torch.tensor([0, 0, 1])}
    loss, stats = model(batch)
    logits, _ = model.logits(batch)
    e = -torch.logsumexp(logits, dim=1)
    want = 0.5 * (torch.relu(e[:2] + 1.0) ** 2).mean() + 0.5 * (torch.relu(2.0 - e[2:]) ** 2).mean()
    assert stats["energy"] == pytest.approx(float(want), rel=1e-9)
    assert float(loss) == pytest.approx(stats["ce"] + stats["energy"], rel=1e-12)
    scores = model.infer(batch)
    assert scores == pytest.approx((logits[:, 1] - logits[:, 0]).tolist(), rel=1e-12)


def test_unknown_seed_checkpoint():
    from pylib.models.cm import ssl_cm_seed

    assert ssl_cm_seed.identify({"m_rawnet.x": torch.zeros(1)}) == []
    with pytest.raises(DataError, match="not a matrix"):
        ssl_cm_seed.convert_seed({"m_frontend.0.weight": torch.zeros(3)}, "model-W2V-XLSR-fix-GF")


def test_shipped_confs(monkeypatch):
    """egs/asvspoof2019_la/ssl/conf: every key commented, the model builds, one optim entry per
    parameter group (fine-tuned: ssl and model)."""
    from pathlib import Path

    import yaml

    confs = sorted((Path(__file__).resolve().parents[2] / "egs/asvspoof2019_la/ssl/conf").glob("*.yaml"))
    assert len(confs) >= 7
    for path in confs:
        text = path.read_text()
        lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
        bare = [ln for ln in lines if "#" not in ln and not ln.rstrip().endswith(":")]  # leaf keys
        assert not bare, f"{path.name}: keys without a comment: {bare}"
        conf = yaml.safe_load(text)
        keys = {k: v for k, v in conf["model"].items() if k != "name"}
        assert conf["model"]["name"] == "ssl_cm"
        if keys.get("frontend") is None:
            model = build(spec=spec_of(1024), **keys)
        else:
            model = build(monkeypatch, **keys)
        assert list(model.param_groups()) == list(conf["optim"]), path.name
        assert conf["data"]["inputs"][0]["name"] == keys["input"]


def test_seed_arch_detection():
    """Keys and shapes tell the seed's SSL back ends apart, except where only training differs."""
    from pylib.models.cm import ssl_cm_seed
    from pylib.models.seed_import import detect_arch

    def gf(dim, prefix=None):
        sd = {"m_frontend.0.weight": torch.zeros(128, dim), "m_frontend.0.bias": torch.zeros(128),
              "m_output_act.0.weight": torch.zeros(2, 128), "m_output_act.0.bias": torch.zeros(2)}
        if prefix:
            sd[prefix + "encoder.layers.0.fc1.weight"] = torch.zeros(4, 4)
        return sd

    assert detect_arch(gf(1024), "ckpt") == "model-W2V-XLSR-fix-GF"
    assert detect_arch(gf(1024, "m_ssl.model."), "ckpt") == "model-W2V-XLSR-ft-GF"
    lgf = {**gf(1024, "m_ssl.model."), "m_before_pooling.0.0.l_blstm.weight_ih_l0": torch.zeros(256, 128)}
    assert detect_arch(lgf, "ckpt") == "model-W2V-XLSR-ft-LGF"
    llgf = {**gf(1280), "m_transform.0.0.weight": torch.zeros(64, 1, 5, 5)}
    assert detect_arch(llgf, "ckpt") == "model-HuBERT-XL-fix-LLGF"
    llgf = {**gf(1024), "m_transform.0.0.weight": torch.zeros(64, 1, 5, 5)}
    assert ssl_cm_seed.identify(llgf) == ["model-W2V-XLSR-fix-LLGF", "model-W2V-Large1-fix-LLGF",
                                          "model-W2V-Large2-fix-LLGF"]
    b = {"m_back_end.m_feat_compress.weight": torch.zeros(128, 1024),
         "m_back_end.m_utt_level.weight": torch.zeros(2, 128)}
    assert ssl_cm_seed.identify(b) == ["model-ID-B1", "model-ID-B3"]
    assert ssl_cm_seed.identify({**b, "m_front_end.ssl_model2.model.x": torch.zeros(1)}) == ["model-ID-B2"]


def test_real_frontend_and_seed_import(tmp_path, monkeypatch):
    """With nnsp's SSL front end (a tiny transformers wav2vec 2.0 of make_tiny_ssl): training with
    fine-tuning groups, and a project 09 ID-2 checkpoint fabricated in the seed's layout (fairseq key
    names for the SSL part) imported through the seed importer scores as the model it came from."""
    from pylib.bin import make_tiny_ssl
    from pylib.engine.export import build_from_config
    from pylib.models.catalogue import get_model_class
    from pylib.models.seed_import import convert_state_dict

    folder = tmp_path / "xlsr_53_56k.pt"  # the seed's file name; a folder is read as a transformers model
    make_tiny_ssl.main(["--out", str(folder), "--seed", "1"])
    frontend = {"path": str(folder), "layers": "last", "finetune": True}
    ref = ssl_cm.SslCM(from_dict(ssl_cm.SslCmConfig, dict(frontend=frontend, back_end="ff"), where="t"))
    batch = wave_batch([8000, 6000])
    batch = {k: v.float() if v.is_floating_point() else v for k, v in batch.items()}
    loss, _ = ref.train()(batch)
    loss.backward()
    groups = ref.param_groups()
    assert list(groups) == ["ssl", "model"] and any(p.grad is not None for p in groups["ssl"])

    sd = seed_state_dict(ref)
    monkeypatch.setenv("NNSP_SSL_DIR", str(tmp_path))
    _, config, state = convert_state_dict(sd, arch="model-ID-2", where="fabricated")
    model = build_from_config(config, state, get_model_class)
    assert model.infer(batch) == pytest.approx(ref.eval().infer(batch), rel=1e-6)


def test_supcon_hook(monkeypatch):
    """supcon_weight calls pylib.losses.supcon.group_supcon on the frame-level features and on the
    utterance embeddings of a multi-view batch (one with a `group` key), training only."""
    import sys

    calls = []

    def group_supcon(emb, batch, **kwargs):
        calls.append((tuple(emb.shape), kwargs))
        return emb.sum() * 0.0 + 0.25

    monkeypatch.setitem(sys.modules, "pylib.losses.supcon", types.SimpleNamespace(group_supcon=group_supcon))
    for frames, want in (("proj", 16), ("ssl", DIM)):
        calls.clear()
        model = build(spec=spec_of(DIM), input="ssl", back_end="ff", ff_layers=1, ff_dim=4,
                      supcon_weight=2.0, supcon_frames=frames).train()
        g = torch.Generator().manual_seed(0)
        batch = {"ssl": torch.randn(4, 6, DIM, generator=g, dtype=torch.float64),
                 "label": torch.tensor([1, 0, 1, 0]), "group": torch.tensor([0, 0, 0, 0]),
                 "view": torch.tensor([0, 0, 1, 1])}
        loss, stats = model(batch)
        assert calls == [((4, 6, want), {"length_norm": True}), ((4, 4), {"length_norm": True})]
        assert stats["supcon"] == pytest.approx(2.0 * 0.5)
        assert float(loss) == pytest.approx(stats["ce"] + 1.0)
        calls.clear()
        model({k: v for k, v in batch.items() if k not in ("group", "view")})
        model.eval()(batch)
        assert calls == []
