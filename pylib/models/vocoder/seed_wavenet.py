"""Seed WaveNet checkpoints into nnsp: project-NN-Pytorch-scripts project/05-nn-vocoders/wavenet.

Registers the seed's layout (model.py Model holding sandbox/block_wavenet.py WaveNet_v1 with
WaveNetBlock, as `m_wavenet`) with pylib.models.seed_import. The seed's input_mean/input_std over
the mel become the nnsp model's `norm` buffers (its output mean/std are unused: the waveform is not
normalised, config.py output_norm). Widths, layer count, µ-law bits and hop are read off the
weights; the dilation cycle (2 ** (i % 10)) and the pre-emphasis (0.97) are fixed in the seed's
WaveNet_v1 and leave no trace in the weights. The WaveNetBlock_v2 layout (weight norm) is not the
one the seed's project trains and is refused.
"""

import math

import torch

from pylib.errors import DataError
from pylib.models.seed_import import SeedArch, count_numbered, register_seed_arch

ARCH = "wavenet"
W = "m_wavenet."
_BLOCK = W + "l_wavenet_blocks."
# the block keys of one WaveNetBlock layer -> nnsp's ResidualLayer names
_LAYER = {"l_conv1d": "conv", "l_cond_trans.0": "cond", "l_res_trans": "res", "l_skip_trans": "skip"}
_OUT = {"0": "0", "2": "2", "4": "4"}  # OutputBlock.l_trans Linear layers (1, 3: LeakyReLU)


def _count(sd):
    return count_numbered(sd, _BLOCK)


def _expected_keys(sd):
    keys = {"input_mean", "input_std", "output_mean", "output_std", W + "l_wav_emb.weight",
            W + "l_cond.l_conv1d.weight", W + "l_cond.l_conv1d.bias",
            W + "l_cond.l_upsamp.l_ave1.weight", W + "l_cond.l_upsamp.l_ave2.weight"}
    for suffix in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
        for rev in ("", "_reverse"):
            keys.add(f"{W}l_cond.l_blstm.l_blstm.{suffix}{rev}")
    for i in range(_count(sd)):
        for layer in _LAYER:
            keys |= {f"{_BLOCK}{i}.{layer}.weight", f"{_BLOCK}{i}.{layer}.bias"}
    for j in _OUT:
        keys |= {f"{W}l_output.l_trans.{j}.weight", f"{W}l_output.l_trans.{j}.bias"}
    return keys


def matches(sd):
    """The seed's WaveNet layout: exactly its keys, shapes that chain, a power-of-two class count."""
    if _count(sd) == 0 or set(sd) != _expected_keys(sd):
        return False
    emb = sd[W + "l_wav_emb.weight"]
    classes, res = emb.shape
    conv = sd[f"{_BLOCK}0.l_conv1d.weight"]
    last = sd[f"{W}l_output.l_trans.4.weight"]
    return (classes >= 2 and classes & (classes - 1) == 0 and conv.dim() == 3 and conv.shape[1] == res
            and last.shape[0] == classes and sd["input_mean"].dim() == 1)


def _moving_average_width(sd, key, where):
    w = sd[key]
    width = w.shape[-1]
    if not torch.allclose(w.double(), torch.full_like(w.double(), 1.0 / width)):
        raise DataError(f"{where}: {key} is not a moving average of width {width} (all 1/{width}); "
                        f"not a seed WaveNet checkpoint")
    return width


def convert(sd, where):
    if not matches(sd):
        raise DataError(f"{where}: the keys or shapes do not match the seed's WaveNet layout "
                        f"(project/05-nn-vocoders/wavenet, sandbox/block_wavenet.py WaveNet_v1 with "
                        f"WaveNetBlock); pick the --arch it was trained in")
    hop = _moving_average_width(sd, W + "l_cond.l_upsamp.l_ave1.weight", where)
    if _moving_average_width(sd, W + "l_cond.l_upsamp.l_ave2.weight", where) != hop:
        raise DataError(f"{where}: the condition's two moving averages differ in width; not a seed "
                        f"WaveNet checkpoint")
    layers = _count(sd)
    classes, res = sd[W + "l_wav_emb.weight"].shape
    conv = sd[f"{_BLOCK}0.l_conv1d.weight"]
    cond_conv = sd[W + "l_cond.l_conv1d.weight"]
    in_dim = sd["input_mean"].numel()
    model = {
        "name": "wavenet",
        "num_bits": int(math.log2(classes)),
        "res_channels": int(res),
        "gate_channels": int(conv.shape[0] // 2),
        "skip_channels": int(sd[f"{_BLOCK}0.l_skip_trans.weight"].shape[0]),
        "cond_channels": int(cond_conv.shape[0]),
        "layers": layers,
        "dilation_cycle": 10,  # block_wavenet.py WaveNet_v1: dilations 2 ** (x % 10)
        "kernel": int(conv.shape[-1]),
        "cond_lstm_units": int(2 * sd[W + "l_cond.l_blstm.l_blstm.weight_hh_l0"].shape[1]),
        "cond_kernel": int(cond_conv.shape[-1]),
        "out_hidden": int(sd[f"{W}l_output.l_trans.2.weight"].shape[0]),
        "pre_emphasis": 0.97,  # block_wavenet.py WaveNet_v1 pre_emphasis=True (1 - 0.97 z^-1)
    }
    config = {  # no features section: the seed extracts its mel with its own tools (.mfbsp), so
        # the data section states the facts (16 kHz: the seed's config.py wav_samp_rate)
        "data": {
            "sample_rate": 16000,
            "inputs": [{"name": "mel", "ext": ".f4", "dim": in_dim, "hop": hop, "norm": True}],
            "outputs": [{"name": "wav", "ext": ".wav", "dim": 1, "hop": 1, "norm": False}],
        },
        "model": model,
    }
    state = {"norm.mel.mean": sd["input_mean"], "norm.mel.std": sd["input_std"],
             "embed.weight": sd[W + "l_wav_emb.weight"],
             "cond.convs.0.weight": cond_conv, "cond.convs.0.bias": sd[W + "l_cond.l_conv1d.bias"]}
    for k, v in sd.items():
        if k.startswith(W + "l_cond.l_blstm.l_blstm."):
            state["cond.lstm." + k.rsplit(".", 1)[1]] = v
        elif k.startswith(_BLOCK):
            i, rest = k[len(_BLOCK):].split(".", 1)
            layer, kind = rest.rsplit(".", 1)
            state[f"blocks.{i}.{_LAYER[layer]}.{kind}"] = v
        elif k.startswith(W + "l_output.l_trans."):
            j, kind = k[len(W + "l_output.l_trans."):].split(".")
            state[f"out.{_OUT[j]}.{kind}"] = v
    return config, state


register_seed_arch(SeedArch(name=ARCH, family="vocoder", matches=matches, convert=convert,
                            description="WaveNet, 10-bit µ-law (project/05-nn-vocoders/wavenet)"))
