"""Turn a project-NN-Pytorch-scripts countermeasure state_dict into an nnsp one-file model.

Supported architecture (`--arch`):
  lfcc_lcnn_lstm_sig: LFCC (20 filters, energy as c0, deltas; frame 320, hop 160, FFT 512,
  Hamming, pre-emphasis 0.97, centred zero-padded frames), the LCNN (`m_transform.0.*`), two
  BLSTMs summed with their input and averaged over time (`m_before_pooling.0.*`), one linear
  output (`m_output_act.0.*`) whose logit is the score. It is `lcnn` with back_end lstm and head
  sigmoid; the checkpoint's filterbank and DCT matrix are loaded as they are.
"""

import re
from pathlib import Path

import torch

from pylib.config import from_dict
from pylib.errors import DataError, UserError
from pylib.io.atomic import atomic_path
from pylib.models.cm.lcnn import LcnnCM, LcnnConfig
from pylib.models.seed_import import SeedArch, register_seed_arch

ARCHS = ("lfcc_lcnn_lstm_sig",)
# the toolkit's data-normalisation parameters: unused by its CM forward pass (0 and 1 when saved)
_IGNORED = {"input_mean", "input_std", "output_mean", "output_std"}


def _rename(key):
    """project-NN key -> nnsp key, or None when it has no counterpart."""
    rules = [
        (r"m_frontend\.0\.lfcc_fb", "front.lfcc.fb"),
        (r"m_frontend\.0\.l_dct\.weight", "front.lfcc.dct"),
        (r"m_transform\.0\.(\d+)\.(.+)", r"back.body.layers.\1.\2"),
        (r"m_before_pooling\.0\.(\d+)\.l_blstm\.(.+)", r"back.lstm.\1.\2"),
        (r"m_output_act\.0\.(weight|bias)", r"head.linear.\1"),
    ]
    for pat, rep in rules:
        if re.fullmatch(pat, key):
            return re.sub(pat, rep, key)
    return None


def _load_state_dict(path):
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: checkpoint not found")
    try:
        sd = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:
        raise DataError(f"{path}: not a readable PyTorch checkpoint ({type(e).__name__}: {e})") from None
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]  # the toolkit's trainer checkpoints wrap the weights
    if not isinstance(sd, dict) or not all(torch.is_tensor(v) for v in sd.values()):
        raise DataError(
            f"{path}: expected a state_dict (name -> tensor) of a project-NN-Pytorch-scripts model"
        )
    return sd


def config_from_state_dict(sd, arch, where="checkpoint"):
    """The `lcnn` model config matching the tensors' shapes."""
    if arch not in ARCHS:
        raise UserError(f"--arch {arch!r} is not supported; supported: {', '.join(ARCHS)}")
    need = ["m_frontend.0.lfcc_fb", "m_transform.0.0.weight", "m_output_act.0.weight"]
    missing = [k for k in need if k not in sd]
    if missing:
        raise DataError(
            f"{where}: has no {', '.join(missing)}; it is not an LFCC-LCNN-LSTM model of "
            f"project-NN-Pytorch-scripts (keys start with: {', '.join(list(sd)[:5])})"
        )
    n_bins, n_filters = sd["m_frontend.0.lfcc_fb"].shape
    lstm_layers = len({k.split(".")[2] for k in sd if k.startswith("m_before_pooling.0.")})
    if sd["m_output_act.0.weight"].shape[0] != 1:
        raise DataError(f"{where}: output layer has {sd['m_output_act.0.weight'].shape[0]} units; "
                        f"{arch} expects one sigmoid logit")
    return LcnnConfig(
        front_end="lfcc", sample_rate=16000, n_fft=(n_bins - 1) * 2, hop=160, win_length=320,
        n_filters=n_filters, window="hamming", preemphasis=0.97, with_energy=True, deltas=True,
        center=True, pad_mode="constant", back_end="lstm", width=sd["m_transform.0.0.weight"].shape[0],
        lstm_layers=lstm_layers, head="sigmoid",
    )


def convert(sd, arch="lfcc_lcnn_lstm_sig", where="checkpoint"):
    """project-NN state_dict -> (LcnnCM in eval mode, its model config dict)."""
    import dataclasses

    cfg = config_from_state_dict(sd, arch, where)
    model = LcnnCM(cfg)
    ours = model.state_dict()
    new, unknown = {}, []
    for k, v in sd.items():
        if k in _IGNORED:
            continue
        nk = _rename(k)
        if nk is None or nk not in ours:
            unknown.append(k)
            continue
        if ours[nk].shape != v.shape:
            raise DataError(
                f"{where}: {k} has shape {tuple(v.shape)}, expected {tuple(ours[nk].shape)} for {arch}"
            )
        new[nk] = v.float() if v.is_floating_point() else v
    missing = sorted(set(ours) - set(new))
    if unknown or missing:
        raise DataError(
            f"{where}: does not match {arch}: unexpected keys {unknown[:5]}, missing {missing[:5]}; "
            f"pick the --arch the checkpoint was trained with"
        )
    model.load_state_dict(new)
    model.eval()
    mcfg = {"name": "lcnn", **dataclasses.asdict(cfg)}
    return model, mcfg


def import_checkpoint(checkpoint, out, arch="lfcc_lcnn_lstm_sig"):
    """Read a project-NN checkpoint and write the one-file model `out` atomically; returns the model."""
    sd = _load_state_dict(checkpoint)
    model, mcfg = convert(sd, arch, where=str(checkpoint))
    config = {
        "data": {
            "sample_rate": mcfg["sample_rate"],
            "inputs": [{"name": "wav", "ext": ".wav", "dim": 1, "reso": 1, "norm": False}],
            "outputs": [],
        },
        "model": mcfg,
        "imported_from": {
            "toolkit": "project-NN-Pytorch-scripts", "arch": arch, "checkpoint": str(checkpoint),
        },
    }
    obj = {"format": "nnsp-model", "version": 1, "config": config, "state_dict": model.state_dict()}
    out = Path(out)
    with atomic_path(out, suffix=".pt") as tmp:
        torch.save(obj, str(tmp))
    return model


def load_cm_model(path, device="cpu"):
    """Build a countermeasure from an nnsp one-file model (any registered CM) in eval mode."""
    from pylib.registry import MODELS

    obj = torch.load(str(path), map_location=device, weights_only=True)
    if not isinstance(obj, dict) or obj.get("format") != "nnsp-model":
        raise DataError(f"{path}: not an nnsp one-file model (no format: nnsp-model)")
    mcfg = dict(obj["config"]["model"])
    cls = MODELS.get(mcfg.pop("name"))
    model = cls(from_dict(cls.Config, mcfg, where=f"{path}: model"))
    model.load_state_dict(obj["state_dict"])
    return model.to(device).eval()


def _seed_convert(sd, where):
    model, mcfg = convert(sd, "lfcc_lcnn_lstm_sig", where)
    config = {
        "data": {
            "sample_rate": mcfg["sample_rate"],
            "inputs": [{"name": "wav", "ext": ".wav", "dim": 1, "reso": 1, "norm": False}],
            "outputs": [],
        },
        "model": mcfg,
    }
    return config, model.state_dict()


def _seed_matches(sd):
    return ("m_frontend.0.lfcc_fb" in sd and any(k.startswith("m_before_pooling.0.") for k in sd)
            and "m_output_act.0.weight" in sd and sd["m_output_act.0.weight"].shape[0] == 1)


register_seed_arch(SeedArch(name="lfcc-lcnn-lstmsum-sig", family="cm", matches=_seed_matches,
                            convert=_seed_convert, description="LFCC-LCNN-LSTM, sigmoid output"))
