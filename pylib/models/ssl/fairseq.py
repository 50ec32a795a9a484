"""fairseq wav2vec 2.0 / XLSR and HuBERT checkpoints -> a transformers config and state dict,
without importing fairseq (docs/ssl.md "Converting a fairseq checkpoint").

A fairseq checkpoint is a pickled dict {"args": argparse.Namespace | None, "cfg": omegaconf
DictConfig | None, "model": state_dict, ...}. It is read with `torch.load(weights_only=True)`:
the classes of its settings objects (argparse, omegaconf, fairseq, typing, enum, numpy) are
allowed only as inert stand-ins that record what their pickle held and run no code of theirs; a
class from any other module stops the load with an error naming it. The model settings are then
read from the stand-ins as plain data.

Every key of the state dict is mapped to the transformers model or listed in IGNORED (parts used
only in pre-training); an unknown, missing or mis-shaped key is an error naming it.
"""

import ast
import contextlib
import os
import re
import shutil
import tempfile
import zipfile
from pathlib import Path

import torch

from pylib.errors import DataError

# Modules whose classes a fairseq checkpoint may name: loaded as stand-ins, never imported.
STAND_IN_MODULES = ("argparse", "omegaconf", "fairseq", "typing", "enum", "numpy", "collections", "pathlib")
# and these names: builtin types (a defaultdict's factory, a type in omegaconf's metadata), the
# getitem of a typing annotation (Dict[str, Any]) and the getattr of an enum member pickled by
# Python >= 3.12; as stand-ins they are never called.
STAND_IN_BUILTINS = {
    f"builtins.{n}" for n in ("dict", "list", "tuple", "set", "int", "float", "str", "bool", "object", "type")
} | {"builtins.getattr", "operator.getitem", "_operator.getitem"}

# fairseq keys used only in pre-training (quantised targets, contrastive projections, HuBERT's
# label embeddings) or by fine-tuning heads: dropped.
IGNORED = (
    r"quantizer\..*",
    r"project_q\..*",
    r"final_proj\..*",
    r"label_embs_concat",
    r"target_glu\..*",
    r"project_inp\..*",
    r"_ema",
)

# (fairseq key pattern, transformers key template); {pos_g}/{pos_v} are the weight-norm keys of
# the positional convolution in this transformers version.
RULES = (
    (r"feature_extractor\.conv_layers\.(\d+)\.0\.(weight|bias)", r"feature_extractor.conv_layers.\1.conv.\2"),
    (
        r"feature_extractor\.conv_layers\.(\d+)\.2\.1\.(weight|bias)",
        r"feature_extractor.conv_layers.\1.layer_norm.\2",
    ),
    (
        r"feature_extractor\.conv_layers\.0\.2\.(weight|bias)",
        r"feature_extractor.conv_layers.0.layer_norm.\1",
    ),
    (r"layer_norm\.(weight|bias)", r"feature_projection.layer_norm.\1"),
    (r"post_extract_proj\.(weight|bias)", r"feature_projection.projection.\1"),
    (r"mask_emb", "masked_spec_embed"),
    (r"encoder\.pos_conv\.0\.bias", "encoder.pos_conv_embed.conv.bias"),
    (r"encoder\.pos_conv\.0\.weight_g", "{pos_g}"),
    (r"encoder\.pos_conv\.0\.weight_v", "{pos_v}"),
    (r"encoder\.layer_norm\.(weight|bias)", r"encoder.layer_norm.\1"),
    (
        r"encoder\.layers\.(\d+)\.self_attn\.(q|k|v|out)_proj\.(weight|bias)",
        r"encoder.layers.\1.attention.\2_proj.\3",
    ),
    (r"encoder\.layers\.(\d+)\.self_attn_layer_norm\.(weight|bias)", r"encoder.layers.\1.layer_norm.\2"),
    (r"encoder\.layers\.(\d+)\.fc1\.(weight|bias)", r"encoder.layers.\1.feed_forward.intermediate_dense.\2"),
    (r"encoder\.layers\.(\d+)\.fc2\.(weight|bias)", r"encoder.layers.\1.feed_forward.output_dense.\2"),
    (r"encoder\.layers\.(\d+)\.final_layer_norm\.(weight|bias)", r"encoder.layers.\1.final_layer_norm.\2"),
)


class StandIn:
    """An object of a class nnsp does not import: `args` (constructor arguments) and `state` (what
    its pickle passed to __setstate__), nothing else. Subclasses carry the original `qualname`."""

    qualname = "?"

    def __new__(cls, *args, **kwargs):
        obj = object.__new__(cls)
        obj.args, obj.state = args, None
        return obj

    def __init__(self, *args, **kwargs):
        self.args = args

    def __setstate__(self, state):
        self.state = state

    def __repr__(self):
        return f"<stand-in {self.qualname}>"


def _empty_dict(*args):
    """Stand-in for collections.defaultdict: a plain dict that SETITEMS then fills."""
    return {}


def _stand_in(name):
    if name == "collections.defaultdict":
        return (_empty_dict, name)
    return (type(name.rsplit(".", 1)[-1], (StandIn,), {"qualname": name}), name)


_UNSUPPORTED = re.compile(r"GLOBAL (\S+) was not an allowed global")


def _allowed(name, path):
    if name.split(".", 1)[0] not in STAND_IN_MODULES and name not in STAND_IN_BUILTINS:
        raise DataError(
            f"{path}: the checkpoint names {name}, which is not part of a fairseq checkpoint's settings "
            f"(allowed modules: {', '.join(STAND_IN_MODULES)}); nnsp will not load it. Is it a fairseq "
            f"wav2vec 2.0 / HuBERT checkpoint?"
        )
    return name


def load_checkpoint(path):
    """A fairseq checkpoint as a dict, read with weights_only=True and stand-ins for its settings
    objects (see the module doc). Tensors are memory-mapped when the file is a zip checkpoint."""
    path = Path(path)
    is_zip = zipfile.is_zipfile(path)
    names = set()
    if is_zip:
        with contextlib.suppress(Exception):
            names = {
                _allowed(n, path) for n in torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
            }
    for _ in range(200):
        try:
            with torch.serialization.safe_globals([_stand_in(n) for n in sorted(names)]):
                return torch.load(path, map_location="cpu", weights_only=True, mmap=is_zip)
        except Exception as e:  # the weights-only unpickler names the global it refused
            m = _UNSUPPORTED.search(str(e))
            if m is None:
                raise DataError(
                    f"{path}: not a readable PyTorch checkpoint ({' '.join(str(e).split()[:40])})"
                ) from None
            name = m.group(1) if "." in m.group(1) else f"builtins.{m.group(1)}"
            if name in names:
                raise DataError(f"{path}: cannot read the checkpoint's {name} objects") from None
            names.add(_allowed(name, path))
    raise DataError(f"{path}: the checkpoint names too many classes to be a fairseq checkpoint")


def plain(obj, _seen=None):
    """Stand-ins (argparse Namespace, omegaconf containers and value nodes, enums) -> plain data."""
    seen = set() if _seen is None else _seen
    if id(obj) in seen:
        return None
    if isinstance(obj, StandIn):
        st = obj.state
        if isinstance(st, dict):
            if "_content" in st:  # omegaconf DictConfig / ListConfig
                return plain(st["_content"], seen | {id(obj)})
            if "_val" in st:  # omegaconf value node
                return plain(st["_val"], seen | {id(obj)})
            return {k: plain(v, seen | {id(obj)}) for k, v in st.items() if not str(k).startswith("_")}
        if st is None and len(obj.args) == 1:  # an enum member: its value
            return plain(obj.args[0], seen)
        if obj.qualname == "builtins.getattr" and len(obj.args) == 2:  # getattr(EnumClass, name)
            return obj.args[1]
        return None
    if isinstance(obj, dict):
        return {k: plain(v, seen | {id(obj)}) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v, seen | {id(obj)}) for v in obj]
    return obj


def model_settings(ckpt, path):
    """The model section of a fairseq checkpoint (cfg.model, else args) as a plain dict."""
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("model"), dict):
        raise DataError(f"{path}: not a fairseq checkpoint (no 'model' state dict in it)")
    cfg = plain(ckpt.get("cfg"))
    if isinstance(cfg, dict) and isinstance(cfg.get("model"), dict):
        return cfg["model"]
    args = plain(ckpt.get("args"))
    if isinstance(args, dict) and args:
        return args
    raise DataError(
        f"{path}: the checkpoint holds neither cfg.model nor args: its model settings are unknown"
    )


def _literal_layers(text, path):
    """fairseq's conv_feature_layers string, e.g. "[(512, 10, 5)] + [(512, 3, 2)] * 4", evaluated
    without eval(): list/tuple/number literals joined by + and *."""

    def ev(node):
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [ev(e) for e in node.elts]
            return items if isinstance(node, ast.List) else tuple(items)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return node.value
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mult)):
            a, b = ev(node.left), ev(node.right)
            return a + b if isinstance(node.op, ast.Add) else a * b
        raise ValueError(ast.dump(node))

    try:
        layers = ev(ast.parse(str(text), mode="eval"))
        return [(int(d), int(k), int(s)) for d, k, s in layers]
    except (SyntaxError, ValueError, TypeError) as e:
        raise DataError(
            f"{path}: conv_feature_layers {text!r} is not a list of (dim, kernel, stride) ({e})"
        ) from None


def _model_type(settings, state, path):
    name = str(settings.get("_name") or settings.get("arch") or "")
    if any(k.startswith("w2v_encoder.") for k in state):
        raise DataError(
            f"{path}: a fine-tuned (ASR) fairseq checkpoint; give the pre-trained model it was fine-tuned "
            f"from (its w2v_path), e.g. xlsr_53_56k.pt"
        )
    if name.startswith("hubert") or "label_embs_concat" in state:
        return "hubert"
    if name.startswith("wav2vec2") or "quantizer.vars" in state or "mask_emb" in state:
        return "wav2vec2"
    raise DataError(f"{path}: model {name!r} is neither wav2vec2 nor hubert; only these convert")


def hf_settings(settings, state, path):
    """(model_type, transformers config keywords) from fairseq's model settings; no transformers
    import, so that stage 2 can ask a checkpoint's dims cheaply."""
    kind = _model_type(settings, state, path)
    s = dict(settings)
    if s.get("layer_type", "transformer") != "transformer" or int(s.get("pos_conv_depth", 1) or 1) != 1:
        raise DataError(
            f"{path}: layer_type {s.get('layer_type')!r} / pos_conv_depth "
            f"{s.get('pos_conv_depth')!r} is not a plain wav2vec 2.0 transformer; it does not convert"
        )
    conv = _literal_layers(
        s.get("conv_feature_layers", "[(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512,2,2)] * 2"), path
    )
    return kind, dict(
        hidden_size=int(s.get("encoder_embed_dim", 768)),
        num_hidden_layers=int(s.get("encoder_layers", 12)),
        num_attention_heads=int(s.get("encoder_attention_heads", 12)),
        intermediate_size=int(s.get("encoder_ffn_embed_dim", 3072)),
        hidden_act=str(s.get("activation_fn", "gelu")),
        hidden_dropout=float(s.get("dropout", 0.1)),
        attention_dropout=float(s.get("attention_dropout", 0.1)),
        activation_dropout=float(s.get("activation_dropout", 0.0)),
        feat_proj_dropout=float(s.get("dropout_input", 0.0)),
        layerdrop=float(s.get("encoder_layerdrop", 0.0)),
        feat_extract_norm="layer" if s.get("extractor_mode", "default") == "layer_norm" else "group",
        do_stable_layer_norm=bool(s.get("layer_norm_first", False)),
        conv_dim=[d for d, _, _ in conv],
        conv_kernel=[k for _, k, _ in conv],
        conv_stride=[st for _, _, st in conv],
        conv_bias=bool(s.get("conv_bias", False)),
        num_conv_pos_embeddings=int(s.get("conv_pos", 128)),
        num_conv_pos_embedding_groups=int(s.get("conv_pos_groups", 16)),
        layer_norm_eps=1e-5,
        feature_grad_mult=float(s.get("feature_grad_mult", 1.0)),  # fairseq's CNN gradient scale, kept
    )


def hf_config(settings, state, path):
    """transformers Wav2Vec2Config / HubertConfig from fairseq's model settings."""
    import transformers

    kind, kw = hf_settings(settings, state, path)
    cls = transformers.HubertConfig if kind == "hubert" else transformers.Wav2Vec2Config
    return cls(**kw)


def fairseq_settings(path):
    """hf_settings of the checkpoint at `path` (its weights stay memory-mapped, unread)."""
    ckpt = load_checkpoint(path)
    return hf_settings(model_settings(ckpt, path), ckpt["model"], path)


def read_fairseq_config(path):
    """The transformers config of a fairseq checkpoint (its weights stay memory-mapped, unread)."""
    ckpt = load_checkpoint(path)
    return hf_config(model_settings(ckpt, path), ckpt["model"], path)


def _target_shapes(config):
    """{transformers key: shape} of the bare model for `config`, built on the meta device."""
    import transformers

    cls = transformers.HubertModel if config.model_type == "hubert" else transformers.Wav2Vec2Model
    with torch.device("meta"):
        model = cls(config)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def map_state_dict(state, config, path="checkpoint"):
    """fairseq state dict -> transformers state dict (float32), every key accounted for."""
    shapes = _target_shapes(config)
    pos = "encoder.pos_conv_embed.conv."
    pos_g, pos_v = (
        (pos + "parametrizations.weight.original0", pos + "parametrizations.weight.original1")
        if pos + "parametrizations.weight.original0" in shapes
        else (pos + "weight_g", pos + "weight_v")
    )
    ignored = re.compile("|".join(f"(?:{p})" for p in IGNORED))
    rules = [(re.compile(p), t.format(pos_g=pos_g, pos_v=pos_v)) for p, t in RULES]
    out, unknown, bad = {}, [], []
    for key, value in state.items():
        if ignored.fullmatch(key):
            continue
        for rx, template in rules:
            if rx.fullmatch(key):
                target = rx.sub(template, key)
                break
        else:
            unknown.append(key)
            continue
        if target not in shapes:
            unknown.append(key)
        elif tuple(value.shape) != shapes[target]:
            bad.append(f"{key} {tuple(value.shape)} (expected {shapes[target]} for {target})")
        else:
            out[target] = value.float() if value.is_floating_point() else value
    if unknown or bad:
        raise DataError(
            f"{path}: the state dict does not fit a {config.model_type} model with these settings: "
            + "; ".join(
                ([f"unknown key(s) {', '.join(unknown[:8])}"] if unknown else [])
                + ([f"mis-shaped {', '.join(bad[:8])}"] if bad else [])
            )
        )
    missing = sorted(set(shapes) - set(out))
    if missing:
        names = [fairseq_name(k, rules) or k for k in missing]
        raise DataError(
            f"{path}: the state dict lacks {', '.join(names[:8])}{' ...' if len(names) > 8 else ''} "
            f"(needed by a {config.model_type} model of these settings)"
        )
    return out


def fairseq_name(hf_key, rules):
    """The fairseq key that RULES map to transformers key `hf_key`, or None."""
    for rx, template in rules:
        groups = re.findall(r"\([^)]*\)", rx.pattern)
        parts = re.split(r"\\(\d)", template)
        target = "".join(re.escape(p) if i % 2 == 0 else groups[int(p) - 1] for i, p in enumerate(parts))
        m = re.fullmatch(target, hf_key)
        if m is None:
            continue
        name = rx.pattern
        for j, n in enumerate(parts[1::2]):
            name = name.replace(groups[int(n) - 1], m.group(j + 1), 1)
        return name.replace("\\.", ".")
    return None


def convert_fairseq(path):
    """(transformers config, transformers state dict) of a fairseq wav2vec 2.0 / HuBERT checkpoint."""
    ckpt = load_checkpoint(path)
    config = hf_config(model_settings(ckpt, path), ckpt["model"], path)
    return config, map_state_dict(ckpt["model"], config, path)


def build_model(config, state):
    """The transformers model for (config, state dict), its weights taken from `state` as they are."""
    import transformers

    cls = transformers.HubertModel if config.model_type == "hubert" else transformers.Wav2Vec2Model
    with torch.device("meta"):
        model = cls(config)
    model.load_state_dict(state, strict=True, assign=True)
    left = [n for n, t in list(model.named_parameters()) + list(model.named_buffers()) if t.is_meta]
    if left:
        raise DataError(f"the converted model left {', '.join(left[:5])} without values")
    return model.eval()


def save_hf_folder(model, out_dir, overwrite=False):
    """Write a transformers model folder (config.json + model.safetensors) atomically: into a
    temporary sibling folder, renamed into place. An existing non-empty folder needs overwrite."""
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise DataError(f"{out}: exists and is not empty; choose another --out or pass --overwrite")
    out.parent.mkdir(parents=True, exist_ok=True)
    from pylib.models.ssl.frontend import quiet_transformers

    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    try:
        with quiet_transformers():
            model.save_pretrained(str(tmp), safe_serialization=True)
        for p in [tmp, *tmp.iterdir()]:
            os.chmod(p, (0o777 if p.is_dir() else 0o666) & ~umask)
        if out.exists():
            shutil.rmtree(out) if out.is_dir() else out.unlink()
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out
