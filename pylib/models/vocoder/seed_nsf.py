"""Seed NSF checkpoints into nnsp: hn-sinc-nsf-9, hn-sinc-nsf-10, hn-nsf, cyc-noise-nsf-4.

Registers the four project-NN-Pytorch-scripts (project/01-nsf/<name>/model.py) layouts with
pylib.models.seed_import. The seed's Model holds input_mean/input_std over [mel..., F0]; they
become the nnsp model's `norm` buffers, so the imported model computes what the seed's does on raw
features. The seed's fixed layers (moving averages, the 0.1 block scale) are checked, not copied.
The features must be the ones the seed model was trained on (its mel and F0 extraction).
"""

import torch

from pylib.errors import DataError
from pylib.models.seed_import import SeedArch, check_layout, count_numbered, register_seed_arch

_PREFIXES = ("input_mean", "input_std", "output_mean", "output_std", "m_cond.", "m_condition.", "m_source.",
             "m_filter.")


def _layout(sd):
    """Which condition/source/filter layout the keys show; None when they are not an NSF model."""
    keys = set(sd)
    if not {"input_mean", "input_std"} <= keys or not all(k.startswith(_PREFIXES) for k in keys):
        return None
    if any(k.startswith("m_condition.") for k in keys) and "m_filter.l_fir_lp_v.weight" in keys:
        return "hn-nsf"
    if not any(k.startswith("m_cond.") for k in keys) or "m_filter.l_har_blocks.0.l_ff_1.weight" not in keys:
        return None
    if any(k.startswith("m_cond.l_conv1ds.") for k in keys):
        return "hn-sinc-nsf-10" if "m_source.l_linear.weight" in keys else None
    if "m_cond.l_upsamp_f0_hi.l_ave1.weight" in keys and "m_source.l_linear.weight" in keys:
        return "hn-sinc-nsf-9"
    if "m_source.l_linear.weight" not in keys and "m_filter.l_har_blocks.0.l_ff_1.bias" in keys:
        return "cyc-noise-nsf-4"
    return None


def _moving_average_width(sd, key, where):
    w = sd[key]
    width = w.shape[-1]
    if not torch.allclose(w.double(), torch.full_like(w.double(), 1.0 / width)):
        raise DataError(f"{where}: {key} is not a moving average of width {width} (all 1/{width}); "
                        f"not a seed NSF checkpoint")
    return width


def _frame_widths(sd, cond, where):
    """(hop, cut-off smoothing in frames) read off the moving-average layers' widths."""
    hop = _moving_average_width(sd, f"{cond}.l_upsamp.l_ave1.weight", where)
    for k in (f"{cond}.l_upsamp.l_ave2.weight", "m_cond.l_upsamp_f0_hi.l_ave1.weight",
              "m_cond.l_upsamp_f0_hi.l_ave2.weight"):
        if k in sd and _moving_average_width(sd, k, where) != hop:
            raise DataError(f"{where}: {k} has another width than {cond}.l_upsamp.l_ave1.weight")
    cut_frames = 4
    if "m_cond.l_cut_f_smooth.weight" in sd:
        width = _moving_average_width(sd, "m_cond.l_cut_f_smooth.weight", where)
        if width % hop:
            raise DataError(f"{where}: the cut-off smoothing ({width}) is not a whole number of "
                            f"frames ({hop})")
        cut_frames = width // hop
    return hop, cut_frames


def _model_section(sd, arch, cond, cut_frames):
    """The nnsp `model` config of the seed checkpoint (sizes read off the weights' shapes; its mel
    dim, hop and rate are facts of the data section)."""
    blk = "m_filter.l_har_blocks.0."
    C = sd[blk + "l_ff_1.weight"].shape[0]
    kernel = sd[blk + "l_convs.0.weight"].shape[-1]
    model = {
        "cond_channels": C, "filter_channels": C, "filter_kernel": kernel,
        "filter_layers": count_numbered(sd, blk + "l_convs."),
        "harmonic_blocks": count_numbered(sd, "m_filter.l_har_blocks."),
        "noise_blocks": count_numbered(sd, "m_filter.l_noi_blocks."),
        "noise_layers": count_numbered(sd, "m_filter.l_noi_blocks.0.l_convs."),
    }
    if "m_source.l_linear.weight" in sd:
        model["num_harmonics"] = sd["m_source.l_linear.weight"].shape[1] - 1
    if arch == "hn-sinc-nsf-10":
        model["cond_module"] = "cnn"
        model["cond_cnn_layers"] = count_numbered(sd, "m_cond.l_conv1ds.")
        model["cond_kernel"] = sd["m_cond.l_conv1ds.0.weight"].shape[-1]
    else:
        model["cond_module"] = "blstm"
        model["cond_lstm_units"] = 2 * sd[f"{cond}.l_blstm.l_blstm.weight_hh_l0"].shape[1]
        model["cond_kernel"] = sd[f"{cond}.l_conv1d.weight"].shape[-1]
    if arch != "hn-nsf":
        model["cutoff_smooth_frames"] = cut_frames
    name = {"hn-nsf": "hn_nsf", "cyc-noise-nsf-4": "cyc_noise_nsf"}.get(arch, "hn_sinc_nsf")
    return {"name": name, **model}


def _filter_block_entry(state, k, v, where):
    """Put the seed's filter-block tensor `k` into `state` under nnsp's name (the fixed 0.1 scale
    is checked, not stored)."""
    parts = k.split(".")  # m_filter, l_har_blocks, b, layer..., weight|bias
    branch = "harmonic" if parts[1] == "l_har_blocks" else "noise"
    base = f"{branch}.blocks.{parts[2]}."
    layer = parts[3]
    if layer == "scale":
        if abs(float(v.reshape(-1)[0]) - 0.1) > 1e-6:
            raise DataError(f"{where}: {k} is {float(v.reshape(-1)[0])}, "
                            f"nnsp's filter blocks use 0.1")
        return
    if layer == "l_convs":
        state[base + f"convs.{parts[4]}.{parts[5]}"] = v
        return
    nk = {"l_ff_1": "inp", "l_ff_2": "out1", "l_ff_3": "out2"}[layer]
    state[base + f"{nk}.{parts[4]}"] = v.unsqueeze(-1) if parts[4] == "weight" else v


def _state(sd, cond, where):
    """nnsp's state dict of the seed's: the input mean/std become the mel and f0 normalisers."""
    state = {}
    mean, std = sd["input_mean"], sd["input_std"]
    state.update({"norm.mel.mean": mean[:-1], "norm.mel.std": std[:-1],
                  "norm.f0.mean": mean[-1:], "norm.f0.std": std[-1:]})
    for k, v in sd.items():
        if k.startswith(f"{cond}.l_blstm.l_blstm."):
            state["cond.lstm." + k.split(".")[-1]] = v
        elif k.startswith(f"{cond}.l_conv1d."):
            state["cond.convs.0." + k.split(".")[-1]] = v
        elif k.startswith("m_cond.l_conv1ds."):
            state["cond.convs." + k[len("m_cond.l_conv1ds."):]] = v
        elif k.startswith("m_source.l_linear."):
            state["merge." + k.split(".")[-1]] = v
        elif k.startswith("m_filter.l_fir_"):
            state["fir_" + k.split(".")[1][len("l_fir_"):]] = v.reshape(-1).flip(0)  # stored flipped
        elif k.startswith(("m_filter.l_har_blocks.", "m_filter.l_noi_blocks.")):
            _filter_block_entry(state, k, v, where)
    return state


def _convert(arch):
    def convert(sd, where):
        check_layout(_layout(sd), arch, where)
        cond = "m_condition" if arch == "hn-nsf" else "m_cond"
        hop, cut_frames = _frame_widths(sd, cond, where)
        in_dim = sd["input_mean"].numel()
        config = {  # no features section: the seed extracts its features with its own tools, so the
            # data section states the facts (16 kHz: the seed's config.py wav_samp_rate)
            "data": {
                "sample_rate": 16000,
                "inputs": [{"name": "mel", "ext": ".f4", "dim": in_dim - 1, "hop": hop, "norm": True},
                           {"name": "f0", "ext": ".f4", "dim": 1, "hop": hop, "norm": True, "f0": True}],
                "outputs": [{"name": "wav", "ext": ".wav", "dim": 1, "hop": 1, "norm": False}],
            },
            "model": _model_section(sd, arch, cond, cut_frames),
        }
        return config, _state(sd, cond, where)

    return convert


_DESCRIPTIONS = {
    "hn-sinc-nsf-9": "hn-sinc-NSF, BLSTM condition (project/01-nsf/hn-sinc-nsf-9)",
    "hn-sinc-nsf-10": "hn-sinc-NSF, CNN condition (project/01-nsf/hn-sinc-nsf-10)",
    "hn-nsf": "harmonic-plus-noise NSF, fixed FIR filters (project/01-nsf/hn-nsf)",
    "cyc-noise-nsf-4": "cyclic-noise NSF (project/01-nsf/cyc-noise-nsf-4)",
}

def _scales_are_tenth(sd):
    """Every filter block scaled by 0.1, as in these projects; the seed's hn-sinc-nsf-hifigan generator
    has the same keys and shapes but scales its 5-layer noise block by 0.2 (nsf_gan.py tells it apart)."""
    scales = [v for k, v in sd.items() if k.startswith("m_filter.") and k.endswith(".scale")]
    return all(abs(float(v.reshape(-1)[0]) - 0.1) <= 1e-6 for v in scales)


for _name, _desc in _DESCRIPTIONS.items():
    register_seed_arch(SeedArch(name=_name, family="vocoder",
                                matches=lambda sd, _n=_name: _layout(sd) == _n and _scales_are_tenth(sd),
                                convert=_convert(_name), description=_desc))
