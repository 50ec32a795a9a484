"""The seed's 36 LCNN countermeasures (03-asvspoof-mega) as `lcnn` models, for the seed importer.

Each seed folder `{lfcc,lfb,spec2}-lcnn-{lstmsum,attention,fixed}-{am,oc,p2s,sig}` is registered
with `pylib.models.seed_import` under that name; `seed_config(name)` gives its `lcnn` keys, read
off 03-asvspoof-mega/<name>/01/model.py (identical across the numbered folders 01..06 but for
blank lines):

  front end  lfcc:  LFCC(320, 160, 512, 16000, 20, with_energy=True), deltas -> 60 dims
             lfb:   LFB(320, 160, 512, 16000, 60, with_energy=False, with_delta=False) -> 60
             spec2: Spectrogram(320, 160, 512) then TrainableLinearFb(512, 16000, 60), i.e.
                    log10((power @ W)^2 + eps) with W trainable -> 60 dims
  back end   lstmsum:   2 BLSTMs added to their input, summed over frames (averaged with `sig`)
             attention: SelfWeightedPooling(mean_only=False) -> weighted sum and std, 2 x 96
             fixed:     750 frames (random crop of samples // 160 frames or repeat),
                        Dropout, Linear(12 * 96, 160 or 512 with am/oc), max-feature-map
  head       sig: Linear(..., 1), BCE on its sigmoid; am / p2s: Linear(..., 64) then AMAngleLayer
             (s=20, m=0.9; lfb: s=10, m=0.35) / P2SActivationLayer (2 classes); oc: Linear(..., 64,
             or 256 with fixed) then OCAngleLayer (0.9, 0.2, alpha 20)

Checkpoint layout: `m_frontend.0.{lfcc_fb, l_dct.weight}` (lfcc, lfb), `m_transform.0.<i>.*` (the
LCNN; spec2 has its filterbank at index 0 and the LCNN from index 1), `m_before_pooling.0.<j>
.l_blstm.*` (lstmsum), `m_pooling.0.mm_weights` (attention), `m_output_act.0.*` (the embedding
Linear; fixed: a Sequential whose Linears are at 1 and 3), `m_angle.0.weight` or (fixed oc)
`m_a_softmax.0.weight`. `input_mean/std`, `output_mean/std` are dropped: the seed's CM forward
never reads them (01_config.py sets input_norm [False]).

am and p2s heads have the same weights and shapes (a (64, 2) class matrix) in the lstmsum and
attention back ends: such checkpoints match both and need `--arch`. Everything else is told
apart by keys and shapes.
"""

import re

import torch

from pylib.config import from_dict
from pylib.errors import DataError
from pylib.models.cm.lcnn import LcnnCM, LcnnConfig
from pylib.models.seed_import import SeedArch, register_seed_arch

FRONTS = ("lfcc", "lfb", "spec2")
BACKS = ("lstmsum", "attention", "fixed")
HEADS = ("am", "oc", "p2s", "sig")
NAMES = tuple(f"{f}-lcnn-{b}-{h}" for f in FRONTS for b in BACKS for h in HEADS)
_HEAD = {"am": "am_softmax", "oc": "oc_softmax", "p2s": "p2sgrad", "sig": "sigmoid"}
_BACK = {"lstmsum": "lstm", "attention": "attention", "fixed": "fixed"}
# the seed's data-normalisation parameters: unused by its CM forward pass
_IGNORED = {"input_mean", "input_std", "output_mean", "output_std"}

# the seed's 01_config.py: one 16 kHz waveform input (wav_samp_rate), no normalisation, no target;
# FLOAT: its loader feeds the file's samples as floats, unquantised (score_wavs does the same)
FEATURES = {"sample_rate": 16000,
            "extractors": {"wav": {"type": "wave", "format": "wav", "subtype": "FLOAT"}}}
DATA = {"inputs": [{"name": "wav", "norm": False}], "outputs": []}


def split_name(name):
    """'lfcc-lcnn-fixed-p2s' -> ('lfcc', 'fixed', 'p2s')."""
    m = re.fullmatch(r"(lfcc|lfb|spec2)-lcnn-(lstmsum|attention|fixed)-(am|oc|p2s|sig)", name)
    if not m:
        raise ValueError(f"{name!r} is not one of the seed's LCNN folders ({NAMES[0]}, ...)")
    return m.groups()


def seed_config(name):
    """The `lcnn` model keys (a dict, `name: lcnn` included) of seed folder `name`."""
    front, back, head = split_name(name)
    cfg = dict(
        name="lcnn", input="wav", n_fft=512, hop=160, win_length=320,
        window="hamming", preemphasis=0.97, center=True, pad_mode="constant", width=64, dropout=0.7,
        back_end=_BACK[back], head=_HEAD[head],
    )
    if front == "lfcc":
        cfg.update(front_end="lfcc", n_filters=20, with_energy=True, deltas=True)
    elif front == "lfb":
        cfg.update(front_end="lfb", n_filters=60, with_energy=False, deltas=False)
    else:
        cfg.update(front_end="spec2", n_filters=60, with_energy=False, deltas=False)
    if back == "lstmsum":
        cfg.update(lstm_layers=2, lstm_pool="mean" if head == "sig" else "sum")
    elif back == "attention":
        cfg.update(attn_pool="seed", attn_noise=1e-5)
    else:
        cfg.update(fixed_frames=750, fixed_crop="seed", fc_dim=256 if head in ("am", "oc") else 80)
    if head == "am":  # lfb-lcnn-*-am/01/model.py: AMAngleLayer(..., s=10, m=0.35); else the defaults
        scale, margin = (10.0, 0.35) if front == "lfb" else (20.0, 0.9)
        cfg.update(am_scale=scale, am_margin=margin)
    if head == "sig":
        cfg["emb_dim"] = None
    else:
        cfg["emb_dim"] = 256 if (back, head) == ("fixed", "oc") else 64
    return cfg


def seed_key_map(name):
    """fn(seed key) -> (nnsp key, transform) or None (no counterpart) for seed folder `name`.
    transform maps the seed tensor to nnsp's layout (identity but for spec2's filterbank)."""
    front, back, head = split_name(name)
    out_emb = "head.linear" if head == "sig" else "proj"
    shift = 1 if front == "spec2" else 0

    def same(t):
        return t

    def transpose(t):
        return t.t()

    def rule(key):
        if front in ("lfcc", "lfb"):
            if key == "m_frontend.0.lfcc_fb":
                return "front.lfcc.fb", same
            if key == "m_frontend.0.l_dct.weight":
                return "front.lfcc.dct", same
        if front == "spec2" and key == "m_transform.0.0.weight":
            return "front.fb.weight", transpose
        m = re.fullmatch(r"m_transform\.0\.(\d+)\.(.+)", key)
        if m and int(m.group(1)) >= shift:
            return f"back.body.layers.{int(m.group(1)) - shift}.{m.group(2)}", same
        if back == "lstmsum":
            m = re.fullmatch(r"m_before_pooling\.0\.(\d+)\.l_blstm\.(.+)", key)
            if m:
                return f"back.lstm.{m.group(1)}.{m.group(2)}", same
        if back == "attention" and key == "m_pooling.0.mm_weights":
            return "back.att.weight", same
        if back == "fixed":
            m = re.fullmatch(r"m_output_act\.0\.([13])\.(weight|bias)", key)
            if m:
                return (f"back.fc.{m.group(2)}" if m.group(1) == "1" else f"{out_emb}.{m.group(2)}"), same
        else:
            m = re.fullmatch(r"m_output_act\.0\.(weight|bias)", key)
            if m:
                return f"{out_emb}.{m.group(1)}", same
        if head != "sig" and key in ("m_angle.0.weight", "m_a_softmax.0.weight"):
            return "head.weight", same
        return None

    return rule


def build_seed_model(name):
    """A fresh nnsp `lcnn` for seed folder `name` (training mode, nnsp's own initialisation)."""
    mcfg = dict(seed_config(name))
    mcfg.pop("name")
    return LcnnCM(from_dict(LcnnConfig, mcfg, where=f"seed architecture {name}"))


def convert_seed(sd, name, where="checkpoint"):
    """Seed state dict of folder `name` -> (nnsp config with data and model sections, state dict)."""
    model = build_seed_model(name)
    ours = model.state_dict()
    rule = seed_key_map(name)
    new, unknown = {}, []
    for k, v in sd.items():
        if k in _IGNORED:
            continue
        hit = rule(k)
        if hit is None or hit[0] not in ours:
            unknown.append(k)
            continue
        nk, fn = hit
        v = fn(v)
        if ours[nk].shape != v.shape:
            raise DataError(
                f"{where}: {k} has shape {tuple(v.shape)}, expected {tuple(ours[nk].shape)} for {name}; "
                f"pick the --arch (seed folder) the checkpoint was trained in"
            )
        new[nk] = v.to(ours[nk].dtype) if v.is_floating_point() else v
    missing = sorted(set(ours) - set(new))
    if unknown or missing:
        raise DataError(
            f"{where}: does not match seed architecture {name}: unexpected keys {unknown[:5]}, "
            f"missing {missing[:5]}; pick the --arch (seed folder) the checkpoint was trained in"
        )
    config = {"features": dict(FEATURES), "data": dict(DATA), "model": seed_config(name)}
    return config, new


def identify(sd):
    """The seed folder names whose keys and shapes `sd` has (several when am and p2s tie)."""
    def shape(k):
        t = sd.get(k)
        return tuple(t.shape) if torch.is_tensor(t) else None

    fb = shape("m_frontend.0.lfcc_fb")
    t0 = shape("m_transform.0.0.weight")
    if fb == (257, 20) and shape("m_frontend.0.l_dct.weight") == (20, 20):
        front = "lfcc"
    elif fb == (257, 60) and shape("m_frontend.0.l_dct.weight") == (60, 60):
        front = "lfb"
    elif fb is None and t0 == (257, 60):
        front = "spec2"
    else:
        return []
    if any(k.startswith("m_before_pooling.0.") for k in sd):
        back = "lstmsum"
    elif "m_pooling.0.mm_weights" in sd:
        back = "attention"
    elif "m_output_act.0.1.weight" in sd:
        back = "fixed"
    else:
        return []
    angle = shape("m_angle.0.weight") or shape("m_a_softmax.0.weight")
    if angle is None:
        heads = ["sig"]
    elif len(angle) != 2:
        return []
    elif angle[1] == 1:
        heads = ["oc"]
    elif angle[1] == 2:
        heads = ["am", "p2s"]
        if back == "fixed":  # the am models have a 512-wide FC, the p2s ones 160
            fc = shape("m_output_act.0.1.weight")
            heads = ["am"] if fc and fc[0] == 512 else ["p2s"]
    else:
        return []
    return [n for n in (f"{front}-lcnn-{back}-{h}" for h in heads) if _fits(sd, n)]


_SHAPES = {}  # seed folder -> {nnsp key: shape}, built once per process


def _fits(sd, name):
    """Every key of `sd` maps onto the nnsp model of `name` with its shape, and covers it."""
    if name not in _SHAPES:
        _SHAPES[name] = {k: tuple(v.shape) for k, v in build_seed_model(name).state_dict().items()}
    want, rule, seen = _SHAPES[name], seed_key_map(name), set()
    for k, v in sd.items():
        if k in _IGNORED:
            continue
        hit = rule(k)
        if hit is None or want.get(hit[0]) != tuple(hit[1](v).shape):
            return False
        seen.add(hit[0])
    return seen == set(want)


def _register(name):
    front, back, head = split_name(name)
    register_seed_arch(SeedArch(
        name=name, family="cm",
        matches=lambda sd, _n=name: _n in identify(sd),
        convert=lambda sd, where, _n=name: convert_seed(sd, _n, where),
        description=f"{front.upper()}-LCNN, {back} back end, {head} output (03-asvspoof-mega/{name})",
    ))


for _name in NAMES:
    _register(_name)


def load_cm_model(path, device="cpu"):
    """Build a countermeasure from an nnsp one-file model (any CM of the model catalogue) in eval mode."""
    from pylib.engine.export import load_model
    from pylib.models.catalogue import get_model_class

    model = load_model(path, get_model_class, device)
    if not hasattr(model, "infer"):
        raise DataError(f"{path}: model {type(model).__name__} has no scoring (infer) method")
    return model
