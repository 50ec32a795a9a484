"""SSL front ends: the fairseq converter against a hand-written reference of fairseq's wav2vec 2.0
math, an XLSR-shaped checkpoint, the front end's interface (frozen / fine-tuned, layers, masks),
make_tiny_ssl and convert_ssl."""

import argparse
import math
import re
import sys
import types

import pytest
import torch
import torch.nn.functional as F

from pylib.errors import ConfigError, DataError, UserError
from pylib.models.ssl import SSLFrontendConfig, build_ssl_frontend
from pylib.models.ssl import fairseq as fs
from pylib.models.ssl.frontend import load_ssl_model, ssl_dims

TINY = dict(
    encoder_layers=2,
    encoder_embed_dim=16,
    encoder_ffn_embed_dim=32,
    encoder_attention_heads=2,
    conv_feature_layers="[(8, 10, 5)] + [(8, 3, 2)] * 2",
    conv_pos=4,
    conv_pos_groups=2,
    activation_fn="gelu",
    dropout=0.0,
    attention_dropout=0.0,
    feature_grad_mult=0.1,
)
XLSR = dict(
    encoder_layers=24,
    encoder_embed_dim=1024,
    encoder_ffn_embed_dim=4096,
    encoder_attention_heads=16,
    conv_feature_layers="[(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512,2,2)] * 2",
    conv_pos=128,
    conv_pos_groups=16,
    layer_norm_first=True,
    extractor_mode="layer_norm",
    conv_bias=True,
    activation_fn="gelu",
    feature_grad_mult=0.1,
    final_dim=768,
    _name="wav2vec2",
)


def _shapes(s, hubert=False):
    """{fairseq key: shape} of a wav2vec2 (or HuBERT) model with settings `s`, as fairseq names them."""
    conv = fs._literal_layers(s["conv_feature_layers"], "test")
    d, f, lnf = s["encoder_embed_dim"], s["encoder_ffn_embed_dim"], s.get("extractor_mode") == "layer_norm"
    out, cin = {"mask_emb": (d,)}, 1
    for i, (c, k, _) in enumerate(conv):
        out[f"feature_extractor.conv_layers.{i}.0.weight"] = (c, cin, k)
        if s.get("conv_bias"):
            out[f"feature_extractor.conv_layers.{i}.0.bias"] = (c,)
        if lnf:
            out.update({f"feature_extractor.conv_layers.{i}.2.1.{w}": (c,) for w in ("weight", "bias")})
        elif i == 0:
            out.update({f"feature_extractor.conv_layers.0.2.{w}": (c,) for w in ("weight", "bias")})
        cin = c
    out.update(
        {
            "layer_norm.weight": (cin,),
            "layer_norm.bias": (cin,),
            "post_extract_proj.weight": (d, cin),
            "post_extract_proj.bias": (d,),
            "encoder.pos_conv.0.weight_g": (1, 1, s["conv_pos"]),
            "encoder.pos_conv.0.weight_v": (d, d // s["conv_pos_groups"], s["conv_pos"]),
            "encoder.pos_conv.0.bias": (d,),
            "encoder.layer_norm.weight": (d,),
            "encoder.layer_norm.bias": (d,),
        }
    )
    for i in range(s["encoder_layers"]):
        p = f"encoder.layers.{i}."
        for n in ("q", "k", "v", "out"):
            out.update({f"{p}self_attn.{n}_proj.weight": (d, d), f"{p}self_attn.{n}_proj.bias": (d,)})
        out.update(
            {f"{p}fc1.weight": (f, d), f"{p}fc1.bias": (f,), f"{p}fc2.weight": (d, f), f"{p}fc2.bias": (d,)}
        )
        for n in ("self_attn_layer_norm", "final_layer_norm"):
            out.update({f"{p}{n}.weight": (d,), f"{p}{n}.bias": (d,)})
    if hubert:
        out.update(
            {"final_proj.weight": (256, d), "final_proj.bias": (256,), "label_embs_concat": (504, 256)}
        )
    else:
        q = s.get("final_dim", d)
        out.update(
            {
                "quantizer.vars": (1, 640, q // 2),
                "quantizer.weight_proj.weight": (640, cin),
                "quantizer.weight_proj.bias": (640,),
                "project_q.weight": (q, q),
                "project_q.bias": (q,),
                "final_proj.weight": (q, d),
                "final_proj.bias": (q,),
            }
        )
    return out


def _state(s, hubert=False, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    state = {}
    for k, shape in _shapes(s, hubert).items():
        if k.endswith("norm.weight") or k.endswith(".2.1.weight") or k.endswith(".2.weight"):
            state[k] = 1 + 0.1 * torch.randn(shape, generator=g, dtype=dtype)
        else:
            fan = math.prod(shape[1:]) if len(shape) > 1 else 4
            state[k] = torch.randn(shape, generator=g, dtype=dtype) / math.sqrt(fan)
    return state


# --- a stand-in for omegaconf, so that a test checkpoint pickles classes of that name ---------------
class _Node:
    def __init__(self, val, parent):
        self.__dict__.update(_val=val, _parent=parent, _metadata=None)


class _DictConfig:
    def __init__(self, content, parent=None):
        self.__dict__.update(_parent=parent, _metadata=None, _content={})
        for k, v in content.items():
            self._content[k] = _DictConfig(v, self) if isinstance(v, dict) else _Node(v, self)


_Node.__module__, _Node.__qualname__ = "omegaconf.nodes", "AnyNode"
_DictConfig.__module__, _DictConfig.__qualname__ = "omegaconf.dictconfig", "DictConfig"


def _omegaconf(monkeypatch, content):
    """A DictConfig look-alike (parent links included) whose classes pickle under omegaconf's names."""
    monkeypatch.setitem(sys.modules, "omegaconf", types.ModuleType("omegaconf"))
    for cls in (_DictConfig, _Node):
        m = types.ModuleType(cls.__module__)
        setattr(m, cls.__qualname__, cls)
        monkeypatch.setitem(sys.modules, cls.__module__, m)
    return _DictConfig(content)


def _save(path, state, settings, monkeypatch=None, how="cfg"):
    if how == "cfg":
        ckpt = {
            "args": None,
            "cfg": _omegaconf(monkeypatch, {"model": settings, "task": {"normalize": False}}),
            "model": state,
            "extra_state": {},
        }
    else:
        ckpt = {"args": argparse.Namespace(arch="wav2vec2", **settings), "model": state}
    torch.save(ckpt, path)
    return path


# --- fairseq's wav2vec 2.0 forward, written out from its math ----------------------------------------
def _ln(x, sd, name):
    return F.layer_norm(x, x.shape[-1:], sd[f"{name}.weight"], sd[f"{name}.bias"], 1e-5)


def _attention(x, sd, p, heads):
    b, n, d = x.shape
    q, k, v = (
        F.linear(x, sd[f"{p}{c}_proj.weight"], sd[f"{p}{c}_proj.bias"]).view(b, n, heads, -1).transpose(1, 2)
        for c in "qkv"
    )
    w = torch.softmax(q * (d // heads) ** -0.5 @ k.transpose(-1, -2), dim=-1)
    return F.linear(
        (w @ v).transpose(1, 2).reshape(b, n, d), sd[f"{p}out_proj.weight"], sd[f"{p}out_proj.bias"]
    )


def fairseq_reference(sd, s, wav):
    """fairseq Wav2Vec2Model(wav, mask=False, features_only=True)['x'] in eval mode."""
    lnf = s.get("extractor_mode") == "layer_norm"
    x = wav[:, None, :]
    for i, (c, _, stride) in enumerate(fs._literal_layers(s["conv_feature_layers"], "test")):
        p = f"feature_extractor.conv_layers.{i}."
        x = F.conv1d(x, sd[p + "0.weight"], sd.get(p + "0.bias"), stride=stride)
        if lnf:
            x = _ln(x.transpose(1, 2), sd, p + "2.1").transpose(1, 2)
        elif i == 0:
            x = F.group_norm(x, c, sd[p + "2.weight"], sd[p + "2.bias"])
        x = F.gelu(x)
    x = F.linear(
        _ln(x.transpose(1, 2), sd, "layer_norm"), sd["post_extract_proj.weight"], sd["post_extract_proj.bias"]
    )
    g, v = sd["encoder.pos_conv.0.weight_g"], sd["encoder.pos_conv.0.weight_v"]
    w = v * g / v.pow(2).sum(dim=(0, 1), keepdim=True).sqrt()  # weight norm over dim 2
    k = s["conv_pos"]
    pos = F.conv1d(
        x.transpose(1, 2), w, sd["encoder.pos_conv.0.bias"], padding=k // 2, groups=s["conv_pos_groups"]
    )
    pos = pos[:, :, :-1] if k % 2 == 0 else pos
    x = x + F.gelu(pos).transpose(1, 2)
    first = s.get("layer_norm_first", False)
    if not first:
        x = _ln(x, sd, "encoder.layer_norm")
    for i in range(s["encoder_layers"]):
        p = f"encoder.layers.{i}."

        def ffn(h, p=p):
            return F.linear(
                F.gelu(F.linear(h, sd[p + "fc1.weight"], sd[p + "fc1.bias"])),
                sd[p + "fc2.weight"],
                sd[p + "fc2.bias"],
            )

        heads = s["encoder_attention_heads"]
        if first:
            x = x + _attention(_ln(x, sd, p + "self_attn_layer_norm"), sd, p + "self_attn.", heads)
            x = x + ffn(_ln(x, sd, p + "final_layer_norm"))
        else:
            x = _ln(x + _attention(x, sd, p + "self_attn.", heads), sd, p + "self_attn_layer_norm")
            x = _ln(x + ffn(x), sd, p + "final_layer_norm")
    return _ln(x, sd, "encoder.layer_norm") if first else x


def _frontend(path, **kw):
    return build_ssl_frontend(SSLFrontendConfig(path=str(path), **kw)).double()


@pytest.mark.parametrize(
    "variant",
    [
        dict(layer_norm_first=True, extractor_mode="layer_norm", conv_bias=True),  # XLSR, wav2vec 2.0 large
        dict(layer_norm_first=False, extractor_mode="default", conv_bias=False),  # wav2vec 2.0 base
        dict(
            layer_norm_first=True, extractor_mode="layer_norm", conv_bias=False, hubert=True
        ),  # HuBERT large/XL
    ],
)
def test_converted_model_computes_fairseq_math(tmp_path, monkeypatch, variant):
    variant = dict(variant)
    hubert = variant.pop("hubert", False)
    s = {**TINY, **variant, "_name": "hubert" if hubert else "wav2vec2"}
    state = _state(s, hubert)
    path = _save(tmp_path / "ck.pt", state, s, monkeypatch)
    wav = torch.randn(2, 1200, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    want = fairseq_reference(state, s, wav)
    fe = _frontend(path)
    assert fe.model.config.model_type == ("hubert" if hubert else "wav2vec2")
    assert fe.feature_grad_mult == pytest.approx(0.1)
    got, frames = fe(wav)
    assert got.shape == want.shape and frames.tolist() == [want.shape[1]] * 2
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)  # weights converted to float32
    # a swapped q/k mapping would be caught by this comparison
    attn = r"encoder\.layers\.(\d+)\.self_attn\.{}_proj\.(weight|bias)"
    swapped = tuple(r for r in fs.RULES if "self_attn\\.(q|k|v|out)" not in r[0]) + tuple(
        (attn.format(a), rf"encoder.layers.\1.attention.{b}_proj.\2")
        for a, b in (("q", "k"), ("k", "q"), ("v", "v"), ("out", "out"))
    )
    assert len(swapped) == len(fs.RULES) + 3
    monkeypatch.setattr(fs, "RULES", swapped)
    bad, _ = _frontend(path)(wav)
    assert (bad - want).abs().max() > 1e-3


def test_keys_are_all_accounted_for(tmp_path, monkeypatch):
    s = {**TINY, "layer_norm_first": True, "extractor_mode": "layer_norm", "conv_bias": True}
    state = _state(s, dtype=torch.float32)
    cfg, mapped = fs.convert_fairseq(_save(tmp_path / "ok.pt", state, s, how="args"))
    assert cfg.num_hidden_layers == 2 and len(mapped) == len(state) - 7  # quantizer, project_q, final_proj
    del state["encoder.layers.1.fc1.weight"]
    with pytest.raises(DataError, match=r"lacks encoder\.layers\.1\.fc1\.weight"):
        fs.convert_fairseq(_save(tmp_path / "missing.pt", state, s, how="args"))
    state["encoder.layers.1.fc1.weight"] = torch.zeros(32, 15)
    with pytest.raises(DataError, match=r"mis-shaped encoder\.layers\.1\.fc1\.weight \(32, 15\)"):
        fs.convert_fairseq(_save(tmp_path / "shape.pt", state, s, how="args"))
    state["encoder.layers.1.fc1.weight"] = torch.zeros(32, 16)
    state["encoder.layers.1.adapter.weight"] = torch.zeros(3)
    with pytest.raises(DataError, match=r"unknown key\(s\) encoder\.layers\.1\.adapter\.weight"):
        fs.convert_fairseq(_save(tmp_path / "extra.pt", state, s, how="args"))


def test_legacy_format_checkpoint(tmp_path, monkeypatch):
    """Checkpoints saved before torch 1.6 are not zip files: their settings classes are found by retrying."""
    s = {**TINY, "layer_norm_first": True, "extractor_mode": "layer_norm", "conv_bias": True}
    state = _state(s, dtype=torch.float32)
    ckpt = {"args": None, "cfg": _omegaconf(monkeypatch, {"model": s}), "model": state}
    torch.save(ckpt, tmp_path / "old.pt", _use_new_zipfile_serialization=False)
    cfg, mapped = fs.convert_fairseq(tmp_path / "old.pt")
    assert cfg.num_hidden_layers == 2 and cfg.feature_grad_mult == pytest.approx(0.1) and len(mapped) == 54


def test_only_settings_classes_load_as_stand_ins(tmp_path, monkeypatch):
    evil = types.ModuleType("evilpkg")

    class Payload:
        pass

    class Call:
        def __reduce__(self):
            return (print, ("never printed",))

    Payload.__module__, Payload.__qualname__ = "evilpkg", "Payload"
    evil.Payload = Payload
    monkeypatch.setitem(sys.modules, "evilpkg", evil)
    for obj, name in ((Payload(), "evilpkg.Payload"), (Call(), "builtins.print")):
        torch.save({"args": argparse.Namespace(x=obj), "model": {}}, tmp_path / "evil.pt")
        with pytest.raises(DataError, match=rf"names {re.escape(name)}, which is not part"):
            fs.load_checkpoint(tmp_path / "evil.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "plain.pt")
    with pytest.raises(DataError, match="not a fairseq checkpoint"):
        fs.model_settings(fs.load_checkpoint(tmp_path / "plain.pt"), "plain.pt")


@pytest.mark.slow
def test_xlsr_shaped_checkpoint_converts_and_runs(tmp_path):
    """xlsr_53_56k's key layout and shapes (24 x 1024, 16 heads, FFN 4096, 512-channel CNN, conv_pos 128
    in 16 groups), random weights: converts to a folder, loads, and runs 1 s of audio."""
    state = {
        k: torch.full(shape, 1.0 if ("norm" in k or ".2.1." in k or k.endswith("weight_g")) else 1e-3)
        for k, shape in _shapes(XLSR).items()
    }
    ck = _save(tmp_path / "xlsr_53_56k.pt", state, XLSR, how="args")
    del state
    assert ssl_dims(ck) == (1024, 25, 320)
    fe = build_ssl_frontend(SSLFrontendConfig(path=str(ck)))  # converted in memory, weights memory-mapped
    assert (fe.out_dim, fe.n_layers, fe.frame_shift) == (1024, 25, 320)
    conf = fe.model.config
    assert conf.do_stable_layer_norm and conf.feat_extract_norm == "layer" and conf.conv_bias
    assert (conf.num_attention_heads, conf.intermediate_size, conf.num_conv_pos_embedding_groups) == (
        16,
        4096,
        16,
    )
    assert sum(p.numel() for p in fe.parameters()) > 300e6
    feats, frames = fe(0.1 * torch.randn(1, 16000))
    assert feats.shape == (1, 49, 1024) and frames.tolist() == [49] and torch.isfinite(feats).all()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from pylib.bin import make_tiny_ssl

    out = tmp_path_factory.mktemp("ssl") / "tiny"
    assert make_tiny_ssl.main(["--out", str(out), "--seed", "3"]) == 0
    return out


def test_make_tiny_ssl_is_deterministic(tiny, tmp_path):
    from pylib.bin import make_tiny_ssl

    make_tiny_ssl.main(["--out", str(tmp_path / "same"), "--seed", "3"])
    make_tiny_ssl.main(["--out", str(tmp_path / "other"), "--seed", "4", "--kind", "hubert"])
    a, b = load_ssl_model(tiny).state_dict(), load_ssl_model(tmp_path / "same").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert load_ssl_model(tmp_path / "other").config.model_type == "hubert"
    with pytest.raises(DataError, match="not empty"):
        make_tiny_ssl.main(["--out", str(tmp_path / "same")])


def test_interface_layers_and_lengths(tiny):
    wav, lengths = torch.randn(2, 8000), torch.tensor([8000, 5000])
    last = build_ssl_frontend(SSLFrontendConfig(path=str(tiny)))
    assert (last.out_dim, last.n_layers, last.frame_shift, last.finetune) == (32, 3, 320, False)
    f, n = last(wav, lengths)
    assert f.shape == (2, 24, 32) and n.dtype == torch.long and n.tolist() == [24, 15]
    every, _ = build_ssl_frontend({"path": str(tiny), "layers": "all"})(wav, lengths)
    one, _ = build_ssl_frontend({"path": str(tiny), "layers": 1})(wav, lengths)
    assert every.shape == (2, 24, 3, 32)
    torch.testing.assert_close(every[:, :, -1], f)
    torch.testing.assert_close(every[:, :, 1], one)
    with pytest.raises(ConfigError, match="out of range.*3 hidden states"):
        build_ssl_frontend({"path": str(tiny), "layers": 3})
    with pytest.raises(ConfigError, match="last, all or a layer index"):
        build_ssl_frontend({"path": str(tiny), "layers": "middle"})


def test_frozen_and_finetuned(tiny):
    frozen = build_ssl_frontend(SSLFrontendConfig(path=str(tiny)))
    parent = torch.nn.Sequential(frozen).train()
    assert not frozen.model.training and not any(p.requires_grad for p in frozen.parameters())
    wav = torch.randn(1, 4000, requires_grad=True)
    assert not frozen(wav)[0].requires_grad  # no graph through a frozen front end

    def cnn_grad(mult):
        fe = build_ssl_frontend(
            SSLFrontendConfig(path=str(tiny), finetune=True, feature_grad_mult=mult)
        ).train()
        assert fe.model.training and all(p.requires_grad for p in fe.parameters())
        fe(torch.ones(1, 4000).cumsum(1).sin())[0].sum().backward()
        layer = fe.model.encoder.layers[0]
        return fe.model.feature_extractor.conv_layers[
            0
        ].conv.weight.grad, layer.feed_forward.output_dense.weight.grad

    (c1, t1), (c01, t01) = cnn_grad(1.0), cnn_grad(0.1)
    torch.testing.assert_close(c01, 0.1 * c1)  # fairseq's feature_grad_mult on the CNN only
    torch.testing.assert_close(t01, t1)
    assert len(parent.state_dict()) == len(frozen.state_dict())


def test_padding_mask_and_normalize(tiny):
    x = torch.randn(1, 6400)
    batch, lengths = torch.cat([torch.randn(1, 9600), F.pad(x, (0, 3200))]), torch.tensor([9600, 6400])
    plain = build_ssl_frontend({"path": str(tiny)})
    alone, _ = plain(x)
    masked, n = build_ssl_frontend({"path": str(tiny), "padding_mask": True})(batch, lengths)
    seedlike, _ = plain(batch, lengths)
    torch.testing.assert_close(masked[1, : n[1]], alone[0], rtol=1e-4, atol=1e-4)
    assert (seedlike[1, : n[1]] - alone[0]).abs().max() > 1e-3  # the seed's zero padding changes the frames
    norm = build_ssl_frontend({"path": str(tiny), "normalize": True})
    torch.testing.assert_close(norm(3 * x)[0], norm(x)[0], rtol=1e-4, atol=1e-4)


def test_missing_and_wrong_checkpoints(tmp_path, tiny):
    with pytest.raises(UserError) as e:
        build_ssl_frontend({"path": str(tmp_path / "xlsr_53_56k.pt")}, where="model.ssl")
    msg = str(e.value)
    for part in (
        "model.ssl.path",
        "xlsr_53_56k.pt",
        "dl.fbaipublicfiles.com",
        "facebook/wav2vec2-xls-r-300m",
        "make_tiny_ssl",
        "convert_ssl",
        "downloads nothing",
    ):
        assert part in msg
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no config.json"):
        build_ssl_frontend({"path": str(tmp_path / "empty")})
    (tmp_path / "empty" / "config.json").write_bytes((tiny / "config.json").read_bytes())
    with pytest.raises(UserError, match="holds no loadable weights"):
        build_ssl_frontend({"path": str(tmp_path / "empty")})
    with pytest.raises(UserError, match="not a fairseq checkpoint file"):
        build_ssl_frontend({"path": str(tmp_path / "empty"), "kind": "fairseq"})


def test_fairseq_pt_directly_equals_converted_folder(tmp_path, monkeypatch):
    s = {**TINY, "layer_norm_first": True, "extractor_mode": "layer_norm", "conv_bias": True}
    ck = _save(tmp_path / "w.pt", _state(s, dtype=torch.float32), s, monkeypatch)
    from pylib.bin import convert_ssl

    convert_ssl.main(["--checkpoint", str(ck), "--out", str(tmp_path / "w")])
    wav = torch.randn(1, 3000)
    direct, folder = build_ssl_frontend({"path": str(ck)}), build_ssl_frontend({"path": str(tmp_path / "w")})
    torch.testing.assert_close(direct(wav)[0], folder(wav)[0])
    assert re.search(r"feature_grad_mult", (tmp_path / "w" / "config.json").read_text())
    assert folder.feature_grad_mult == pytest.approx(0.1)
