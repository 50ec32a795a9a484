"""The seed's SSL countermeasures (projects 07, 09, 10) as `ssl_cm` models, for the seed importer.

Registered under the seed's folder names:

  07-asvspoof-ssl    model-W2V-XLSR-{fix,ft}-{GF,LGF,LLGF}, model-W2V-{Small,Large1,Large2}-fix-LLGF,
                     model-HuBERT-XL-fix-LLGF
  09-asvspoof-vocoded-trn       model-ID-2, model-ID-4, model-ID-6, model-ID-7
  10-asvspoof-vocoded-trn-ssl   model-ID-B1, model-ID-B2, model-ID-B3

Checkpoint layouts (`trained_network.pt`):
  07  m_frontend.0 (Linear D -> 128), m_transform.0.<i> (LLGF: the LCNN), m_before_pooling.0.<j>
      .l_blstm (LGF, LLGF), m_output_act.0 (Linear -> 2); the fine-tuned (ft) models also hold the
      fairseq SSL model under m_ssl.model. (GF, LGF) or ssl_model.model. (LLGF); the fixed (fix)
      models hold none (their SSL model is a module-level global, outside the state dict).
  09  m_front_end.ssl_model.model. (fairseq, fine-tuned: FrontEnd(fix_ssl=False)),
      m_front_end.m_front_end_process (Linear D -> 128), m_back_end.m_frame_level.{0,3,6}
      (Linear-LeakyReLU-dropout x 3), m_back_end.m_utt_level (Linear -> 2).
  10  m_front_end.ssl_model.model. (s3prl's S3PRLUpstream), B2 also m_front_end.ssl_model2.model.;
      m_back_end.m_feat_compress (Linear D -> 128), m_back_end.m_frame_level.<k>.m_block.0,
      m_back_end.m_utt_level.

What the weights cannot tell apart: the four project 09 models (they differ in training data,
loss weights and augmentation only), B1 and B3 (B3's distillation teacher is not saved), and the
1024-dim fix-LLGF models (XLSR, Large1, Large2: the same back end on different SSL models).
`detect_arch` lists them all; `--arch` picks one.

The SSL front end is built from the local checkpoint the seed used, by its file name (xlsr_53_56k.pt,
...) in the folder given by `import_project_nn --ssl-dir` (`use_ssl_dir`), else `NNSP_SSL_DIR`
(environment), else the seed's SSL_pretrained/ in the working directory. A fine-tuned model's SSL
weights come from the seed checkpoint, mapped by `ssl_state` (fairseq -> nnsp's front end keys,
pylib.models.ssl.fairseq); a fixed model's come from the local SSL checkpoint itself.
"""

import contextlib
import os
import re

import torch

from pylib.errors import DataError, UserError
from pylib.models.cm import ssl_cm
from pylib.models.seed_import import SeedArch, register_seed_arch

# seed folder -> (back end, SSL dim, fine-tuned, SSL prefix in the checkpoint, SSL file of the seed)
# (07-asvspoof-ssl/model-*/model.py: ssl_path, ssl_orig_output_dim; 01_download_ssl.sh)
P07 = {
    "model-W2V-XLSR-ft-GF": ("gf", 1024, True, "m_ssl.model.", "xlsr_53_56k.pt"),
    "model-W2V-XLSR-ft-LGF": ("lgf", 1024, True, "m_ssl.model.", "xlsr_53_56k.pt"),
    "model-W2V-XLSR-ft-LLGF": ("llgf", 1024, True, "ssl_model.model.", "xlsr_53_56k.pt"),
    "model-W2V-XLSR-fix-GF": ("gf", 1024, False, None, "xlsr_53_56k.pt"),
    "model-W2V-XLSR-fix-LGF": ("lgf", 1024, False, None, "xlsr_53_56k.pt"),
    "model-W2V-XLSR-fix-LLGF": ("llgf", 1024, False, None, "xlsr_53_56k.pt"),
    "model-W2V-Small-fix-LLGF": ("llgf", 768, False, None, "wav2vec_small.pt"),
    "model-W2V-Large1-fix-LLGF": ("llgf", 1024, False, None, "libri960_big.pt"),
    "model-W2V-Large2-fix-LLGF": ("llgf", 1024, False, None, "w2v_large_lv_fsh_swbd_cv.pt"),
    "model-HuBERT-XL-fix-LLGF": ("llgf", 1280, False, None, "hubert_xtralarge_ll60k.pt"),
}
# project 09 (model-ID-*/model.py, config_train_toyset_ID_*.py: ssl_front_end_out_dim = 1024,
# xlsr_53_56k.pt) and 10 (model-ID-B*/model.py: s3prl "xlsr_53"; B2 minus
# "wav2vec2_large_lv60_cv_swbd_fsh")
P09 = ("model-ID-2", "model-ID-4", "model-ID-6", "model-ID-7")
P10 = ("model-ID-B1", "model-ID-B2", "model-ID-B3")
NAMES = (*P07, *P09, *P10)
_IGNORED = {"input_mean", "input_std", "output_mean", "output_std"}  # the CM forward never reads them
FEATURES = {"sample_rate": 16000,  # the seed's config: wav_samp_rate = 16000, unquantised samples
            "extractors": {"wav": {"type": "wave", "format": "wav", "subtype": "FLOAT"}}}
DATA = {"inputs": [{"name": "wav", "norm": False}], "outputs": []}


_SSL_DIR = None  # import_project_nn --ssl-dir, while use_ssl_dir is active; wins over $NNSP_SSL_DIR


@contextlib.contextmanager
def use_ssl_dir(folder):
    """Within the block, SSL checkpoints are looked up in `folder` (None: as outside the block)."""
    global _SSL_DIR
    old = _SSL_DIR
    _SSL_DIR = None if folder is None else str(folder)
    try:
        yield
    finally:
        _SSL_DIR = old


def ssl_path(file):
    """Where the local SSL checkpoint `file` is: in the folder of `use_ssl_dir` (--ssl-dir), else in
    $NNSP_SSL_DIR, else in the seed's SSL_pretrained/ (under the working directory)."""
    return os.path.join(_SSL_DIR or os.environ.get("NNSP_SSL_DIR") or "SSL_pretrained", file)


def ssl_state(sub_sd, frontend, where):
    """nnsp front-end state of the seed's SSL weights `sub_sd` (keys without the seed's prefix):
    fairseq's wav2vec 2.0 / HuBERT keys (project 10: inside s3prl's `upstream.model.`) mapped to the
    transformers model of `frontend` (pylib.models.ssl.fairseq.map_state_dict, imported on use)."""
    from pylib.models.ssl.fairseq import map_state_dict

    s3prl = "upstream.model."
    if all(k.startswith(s3prl) for k in sub_sd):
        sub_sd = {k[len(s3prl):]: v for k, v in sub_sd.items()}
    mapped = map_state_dict(sub_sd, frontend.model.config, where)
    return {f"model.{k}": v for k, v in mapped.items()}


def _shape(sd, key):
    t = sd.get(key)
    return tuple(t.shape) if torch.is_tensor(t) else None


def model_config(name, ssl_dim=None):
    """The `ssl_cm` model keys of seed folder `name` (a dict, name included)."""
    if name in P07:
        back, dim, ft, _, file = P07[name]
        cfg = dict(back_end=back, lstm_layers=2, lcnn_width=64, lcnn_dropout=0.7)
    elif name in P09 or name in P10:
        dim, ft, file = 1024, True, "xlsr_53_56k.pt"
        cfg = dict(back_end="ff", ff_layers=3, ff_dim=128, ff_dropout=0.5)
        # model.py m_feat: 1.0 in ID-6, ID-7 (the same model.py) and B1-B3, 0.0 in ID-2/4; project 10
        # contrasts the SSL output itself (its FrontEnd has no projection), project 09 the projected frames
        if name in ("model-ID-6", "model-ID-7", *P10):
            cfg.update(supcon_weight=1.0, supcon_frames="ssl" if name in P10 else "proj")
        if name == "model-ID-B3":
            cfg.update(distill_weight=100.0)  # model.py m_feat_dis
    else:
        raise ValueError(f"{name!r} is not a seed SSL countermeasure ({', '.join(NAMES)})")
    frontend = {"path": ssl_path(file), "layers": "last", "finetune": ft}
    lv = "w2v_large_lv_fsh_swbd_cv.pt"  # s3prl's wav2vec2_large_lv60_cv_swbd_fsh
    if name == "model-ID-B2":  # B2 FrontEnd: ssl_model (opt 1: the lv model) minus ssl_model2 (xlsr_53)
        frontend["path"] = ssl_path(lv)
    out = dict(name="ssl_cm", input="wav", frontend=frontend, proj_dim=128, **cfg)
    if name == "model-ID-B2":
        out["frontend2"] = {"path": ssl_path(file), "layers": "last", "finetune": True}
    if name == "model-ID-B3":  # B3 FrontEndTeacher: xlsr_53 minus the lv model, frozen
        out["teacher"] = {"path": ssl_path(file), "layers": "last", "finetune": False}
        out["teacher2"] = {"path": ssl_path(lv), "layers": "last", "finetune": False}
    out["_ssl_dim"] = ssl_dim or dim
    return out


def key_rule(name):
    """fn(seed key) -> nnsp key (None: no counterpart) for the back end of seed folder `name`."""
    def rule07(key):
        for pat, rep in ((r"m_frontend\.0\.(weight|bias)", r"proj.\1"),
                         (r"m_transform\.0\.(\d+)\.(.+)", r"back.body.layers.\1.\2"),
                         (r"m_output_act\.0\.(weight|bias)", r"out.\1")):
            if re.fullmatch(pat, key):
                return re.sub(pat, rep, key)
        m = re.fullmatch(r"m_before_pooling\.0\.(\d+)\.l_blstm\.(.+)", key)
        if m:
            where = "back.lstm" if P07[name][0] == "llgf" else "lstm"
            return f"{where}.{m.group(1)}.{m.group(2)}"
        return None

    def rule09(key):
        for pat, rep in ((r"m_front_end\.m_front_end_process\.(weight|bias)", r"proj.\1"),
                         (r"m_back_end\.m_frame_level\.(\d+)\.(weight|bias)", r"ff.\1.\2"),
                         (r"m_back_end\.m_utt_level\.(weight|bias)", r"out.\1")):
            if re.fullmatch(pat, key):
                return re.sub(pat, rep, key)
        return None

    def rule10(key):
        m = re.fullmatch(r"m_back_end\.m_frame_level\.(\d+)\.m_block\.0\.(weight|bias)", key)
        if m:
            return f"ff.{3 * int(m.group(1))}.{m.group(2)}"
        for pat, rep in ((r"m_back_end\.m_feat_compress\.(weight|bias)", r"proj.\1"),
                         (r"m_back_end\.m_utt_level\.(weight|bias)", r"out.\1")):
            if re.fullmatch(pat, key):
                return re.sub(pat, rep, key)
        return None

    return rule07 if name in P07 else rule09 if name in P09 else rule10


def ssl_prefixes(name):
    """{seed prefix of SSL weights: nnsp module} for seed folder `name`."""
    if name in P07:
        return {P07[name][3]: "frontend"} if P07[name][2] else {}
    out = {"m_front_end.ssl_model.model.": "frontend"}
    if name == "model-ID-B2":
        out["m_front_end.ssl_model2.model."] = "frontend2"
    return out


def identify(sd):
    """The seed folders whose keys and shapes `sd` has (several where weights cannot tell)."""
    keys = set(sd)
    if "m_frontend.0.weight" in keys and "m_output_act.0.weight" in keys:
        dim = _shape(sd, "m_frontend.0.weight")[1]
        if "m_transform.0.0.weight" in keys:
            back = "llgf"
        elif any(k.startswith("m_before_pooling.0.") for k in keys):
            back = "lgf"
        else:
            back = "gf"
        prefix = next((p for p in ("m_ssl.model.", "ssl_model.model.") if any(k.startswith(p) for k in keys)),
                      None)
        return [n for n, (b, d, ft, pre, _) in P07.items()
                if b == back and d == dim and pre == prefix and (ft or prefix is None)]
    if "m_front_end.m_front_end_process.weight" in keys and "m_back_end.m_utt_level.weight" in keys:
        return list(P09)
    if "m_back_end.m_feat_compress.weight" in keys and "m_back_end.m_utt_level.weight" in keys:
        if any(k.startswith("m_front_end.ssl_model2.") for k in keys):
            return ["model-ID-B2"]
        return ["model-ID-B1", "model-ID-B3"]
    return []


def _ssl_dim(name, sd):
    if name in P07:
        key = "m_frontend.0.weight"
    elif name in P09:
        key = "m_front_end.m_front_end_process.weight"
    else:
        key = "m_back_end.m_feat_compress.weight"
    shape = _shape(sd, key)
    if shape is None or len(shape) != 2:
        raise DataError(f"checkpoint: {key} missing or not a matrix; it is not a {name} checkpoint")
    return shape[1]


def convert_seed(sd, name, where="checkpoint"):
    """Seed state dict of folder `name` -> (nnsp config, nnsp state dict). The SSL front end is
    built from its local checkpoint (see the module docstring)."""
    from pylib.config import from_dict

    mcfg = model_config(name, _ssl_dim(name, sd))
    dim = mcfg.pop("_ssl_dim")
    keys = {k: v for k, v in mcfg.items() if k != "name"}
    try:
        model = ssl_cm.SslCM(from_dict(ssl_cm.SslCmConfig, keys, where=f"seed architecture {name}"))
    except UserError as e:
        for key in ("frontend", "frontend2"):  # the teachers are built at the first training step only
            path = (mcfg.get(key) or {}).get("path")
            if path is not None and not os.path.exists(path):
                raise DataError(
                    f"{where}: {name} runs the SSL model {os.path.basename(path)}, not found at {path}; "
                    f"put the checkpoint the seed trained with there, or name its folder with --ssl-dir DIR "
                    f"(or NNSP_SSL_DIR); the seed's project/07-asvspoof-ssl/01_download_ssl.sh lists where "
                    f"to get it"
                ) from e
        raise
    if model.ssl_dim != dim:
        raise DataError(
            f"{where}: the seed's back end reads {dim}-dim SSL features, the SSL model at "
            f"{mcfg['frontend']['path']} gives {model.ssl_dim}: put the SSL checkpoint the model was "
            f"trained with there (or pass --ssl-dir, or set NNSP_SSL_DIR)"
        )
    ours = model.state_dict()
    prefixes = ssl_prefixes(name)
    new, unknown, subs = {}, [], {p: {} for p in prefixes}
    rule = key_rule(name)
    for k, v in sd.items():
        if k in _IGNORED:
            continue
        pre = next((p for p in prefixes if k.startswith(p)), None)
        if pre is not None:
            subs[pre][k[len(pre):]] = v
            continue
        nk = rule(k)
        if nk is None or nk not in ours:
            unknown.append(k)
            continue
        if ours[nk].shape != v.shape:
            raise DataError(f"{where}: {k} has shape {tuple(v.shape)}, expected {tuple(ours[nk].shape)} "
                            f"for {name}; pick the --arch (seed folder) the checkpoint was trained in")
        new[nk] = v.to(ours[nk].dtype) if v.is_floating_point() else v
    for pre, module in prefixes.items():
        if not subs[pre]:
            raise DataError(f"{where}: no SSL weights under {pre}: not a {name} checkpoint")
        state = ssl_state(subs[pre], getattr(model, module), where)
        new.update({f"{module}.{k}": v for k, v in state.items()})
    for k, v in ours.items():  # a fixed SSL model: its weights are those of the local checkpoint
        if k not in new and k.split(".")[0] in ("frontend", "frontend2") and not prefixes:
            new[k] = v
    missing = sorted(set(ours) - set(new))
    if unknown or missing:
        raise DataError(f"{where}: does not match seed architecture {name}: unexpected keys {unknown[:5]}, "
                        f"missing {missing[:5]}; pick the --arch (seed folder) the checkpoint was trained in")
    config = {"features": dict(FEATURES), "data": dict(DATA), "model": mcfg}
    return config, new


def _register(name):
    project = "07-asvspoof-ssl" if name in P07 else "09-asvspoof-vocoded-trn" if name in P09 else \
        "10-asvspoof-vocoded-trn-ssl"
    back = P07[name][0].upper() if name in P07 else "FF"
    register_seed_arch(SeedArch(
        name=name, family="cm",
        matches=lambda sd, _n=name: _n in identify(sd),
        convert=lambda sd, where, _n=name: convert_seed(sd, _n, where),
        description=f"SSL front end + {back} back end, cross entropy ({project}/{name})",
    ))


for _name in NAMES:
    _register(_name)
