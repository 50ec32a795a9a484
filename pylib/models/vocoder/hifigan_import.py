"""jik876/hifi-gan checkpoints and configs -> nnsp `hifigan` (used by pylib.bin.import_hifigan).

jik876's modules use torch's hook-based weight_norm (weight_g, weight_v) and spectral_norm
(weight_orig, weight_u, weight_v); nnsp uses parametrizations. Layer names differ only in
`resblocks` -> `blocks` and a discriminator's `conv_post` -> `post`. The seed's
hn-sinc-nsf-hifigan discriminator is jik876's, so `nsf_gan` converts it here too.
"""

import json
import math
from pathlib import Path

import torch

from pylib.engine.checkpoint import read_plain
from pylib.errors import ConfigError, DataError, UserError


def _norm_keys(sd, renames=()):
    """Hook-style weight/spectral-norm keys of `sd` -> parametrization keys, then prefix renames."""
    spectral = {k[: -len("weight_orig")] for k in sd if k.endswith("weight_orig")}
    out = {}
    for k, v in sd.items():
        base, leaf = k[: k.rfind(".") + 1], k[k.rfind(".") + 1:]
        if base in spectral:
            leaf = {"weight_orig": "original", "weight_u": "0._u", "weight_v": "0._v"}.get(leaf, leaf)
            k = f"{base}parametrizations.weight.{leaf}" if leaf in ("original", "0._u", "0._v") else k
        elif leaf in ("weight_g", "weight_v"):
            k = f"{base}parametrizations.weight.original{0 if leaf == 'weight_g' else 1}"
        for old, new in renames:
            if k.startswith(old):
                k = new + k[len(old):]
                break
        out[k] = v
    return out


def _fill_weight_norm(own, sd):
    """Weight norm removed before saving (plain `weight` where `own` has weight norm): g = the
    per-channel norm over all but dim 0, v = the weight. own, sd: same key space."""
    for k in list(sd):
        base = k[: -len("weight")]
        if k.endswith(".weight") and f"{base}parametrizations.weight.original0" in own:
            w = sd.pop(k)
            g = w.norm(dim=tuple(range(1, w.dim())), keepdim=True)
            sd[f"{base}parametrizations.weight.original0"] = g
            sd[f"{base}parametrizations.weight.original1"] = w
    return sd


def jik876_generator_state(sd):
    """jik876 `Generator.state_dict()` -> nnsp `HifiganGenerator` keys (no `generator.` prefix)."""
    return _norm_keys(sd, [("resblocks.", "blocks.")])


def jik876_discriminator_state(mpd=None, msd=None):
    """jik876 MPD / MSD state dicts (`do_*` files' "mpd", "msd") -> nnsp `HifiganDiscriminator` keys."""
    out = {}
    for name, sd in (("mpd", mpd), ("msd", msd)):
        if sd is None:
            continue
        renamed = {f"{name}.{k.replace('.conv_post.', '.post.')}": v for k, v in sd.items()}
        out.update(_norm_keys(renamed))
    return out


JIK876_MODEL_KEYS = ("upsample_rates", "upsample_kernel_sizes", "upsample_initial_channel", "resblock",
                     "resblock_kernel_sizes", "resblock_dilation_sizes", "sampling_rate", "hop_size",
                     "num_mels", "n_fft", "win_size", "fmin", "fmax", "fmax_for_loss")


def jik876_config(h, where="config.json"):
    """jik876's config_v*.json dict -> the nnsp config (data, features and model sections)."""
    missing = [k for k in JIK876_MODEL_KEYS if k not in h]
    if missing:
        raise ConfigError(f"{where}: not a jik876/hifi-gan config (no {', '.join(missing)}); pass the "
                          f"config_v1/v2/v3.json the generator was trained with")
    sr, hop = int(h["sampling_rate"]), int(h["hop_size"])
    if math.prod(h["upsample_rates"]) != hop:
        raise ConfigError(f"{where}: upsample_rates {h['upsample_rates']} do not multiply to hop_size {hop}")
    mel = {"type": "logmel", "n_fft": int(h["n_fft"]), "hop": hop, "win_length": int(h["win_size"]),
           "n_mels": int(h["num_mels"]), "fmin": float(h["fmin"]), "fmax": h["fmax"], "log_floor": 1.0e-5}
    model = {
        "name": "hifigan", "preset": "v1",
        "upsample_rates": [int(v) for v in h["upsample_rates"]],
        "upsample_kernel_sizes": [int(v) for v in h["upsample_kernel_sizes"]],
        "upsample_initial_channel": int(h["upsample_initial_channel"]),
        "resblock": int(h["resblock"]),
        "resblock_kernel_sizes": [int(v) for v in h["resblock_kernel_sizes"]],
        "resblock_dilation_sizes": [[int(d) for d in ds] for ds in h["resblock_dilation_sizes"]],
        "loss_n_fft": int(h["n_fft"]), "loss_win_length": int(h["win_size"]),
        "loss_n_mels": int(h["num_mels"]),
        "loss_fmin": float(h["fmin"]), "loss_fmax": h["fmax_for_loss"], "loss_mel_framing": "hifigan",
    }
    data = {  # sample rate, dims and hops: from the features section
        "inputs": [{"name": "mel", "norm": True}],
        "outputs": [{"name": "wav", "norm": False}],
        "truncate": int(h.get("segment_size", 8192)),
        "batch_size": int(h.get("batch_size", 16)),
    }
    features = {"sample_rate": sr, "extractors": {"mel": mel, "wav": {"type": "wave", "format": "wav"}}}
    return {"features": features, "data": data, "model": model}


def jik876_state(model, generator_sd, mpd=None, msd=None, where="checkpoint"):
    """The full nnsp state dict of `model` (a Hifigan) with jik876 weights; parts not given (None)
    keep `model`'s own. Mel statistics become identity: jik876 feeds the raw log-mel."""
    own = model.state_dict()
    new = {}
    if generator_sd is not None:
        new = {f"generator.{k}": v for k, v in jik876_generator_state(generator_sd).items()}
        new = _fill_weight_norm(own, new)
    state = dict(own)
    new.update({f"discriminator.{k}": v for k, v in jik876_discriminator_state(mpd, msd).items()})
    bad = sorted(k for k in new if k not in own)
    miss = []
    if generator_sd is not None:
        miss += sorted(k for k in own if k.startswith("generator.") and k not in new)
    if mpd is not None:
        miss += sorted(k for k in own if k.startswith("discriminator.mpd.") and k not in new)
    if msd is not None:
        miss += sorted(k for k in own if k.startswith("discriminator.msd.") and k not in new)
    shape = sorted(k for k in new if k in own and own[k].shape != new[k].shape)
    if bad or miss or shape:
        raise ConfigError(f"{where}: the weights do not fit the config's generator (unexpected "
                          f"{bad[:4]}, missing {miss[:4]}, wrong shape {shape[:4]}); pass the config "
                          f"json it was trained with")
    state.update({k: v.to(own[k].dtype) for k, v in new.items()})
    for k in own:
        if k.startswith("norm.") and k.endswith(".mean"):
            state[k] = torch.zeros_like(own[k])
        elif k.startswith("norm.") and k.endswith(".std"):
            state[k] = torch.ones_like(own[k])
    return state


def _load_jik876(path, key, what):
    blob = read_plain(path, what, advice="it was read with weights_only=True so that no code in it can run, "
                      "and jik876's g_* and do_* files hold only tensors")
    if not isinstance(blob, dict) or not all(isinstance(blob.get(k), dict) for k in key):
        raise DataError(f"{path}: not a jik876/hifi-gan {what} (expected a dict with "
                        f"{', '.join(repr(k) for k in key)}; g_* files hold 'generator', do_* files "
                        f"'mpd' and 'msd')")
    return [blob[k] for k in key]


def import_jik876(checkpoint, config, out, discriminator=None):
    """jik876's g_* checkpoint (+ its config json, + optionally its do_* file) -> nnsp one-file model.

    Without `discriminator`, the MPD/MSD start from nnsp's initialisation (seed 0): enough to vocode,
    or to fine-tune the generator with a fresh discriminator. Returns the built model (eval mode).
    """
    from pylib.engine.build import build_model
    from pylib.engine.data import spec_for
    from pylib.engine.export import FORMAT, VERSION
    from pylib.io.atomic import atomic_path
    from pylib.models.catalogue import get_model_class

    try:
        h = json.loads(Path(config).read_text())
    except (OSError, ValueError) as e:
        raise UserError(f"{config}: cannot read the HiFi-GAN config json ({e})") from None
    cfg = jik876_config(h, where=str(config))
    (gen,) = _load_jik876(checkpoint, ("generator",), "generator checkpoint")
    mpd = msd = None
    if discriminator is not None:
        mpd, msd = _load_jik876(discriminator, ("mpd", "msd"), "discriminator checkpoint")
    with torch.random.fork_rng(devices=[]):  # the fresh discriminator, when there is one, is seeded
        torch.manual_seed(0)
        model, _ = build_model(cfg, spec_for(cfg)[0], get_model_class)
    model.load_state_dict(jik876_state(model, gen, mpd, msd, where=str(checkpoint)))  # strict: it loads
    model.eval()
    cfg["imported_from"] = {"toolkit": "jik876/hifi-gan", "checkpoint": str(checkpoint),
                            "discriminator": None if discriminator is None else str(discriminator)}
    blob = {"format": FORMAT, "version": VERSION, "config": cfg, "state_dict": model.state_dict()}
    with atomic_path(Path(out), suffix=".pt") as tmp:
        torch.save(blob, str(tmp))
    return model
