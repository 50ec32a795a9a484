"""Seed WaveGlow checkpoints into nnsp: waveglow and waveglow-2 (project/05-nn-vocoders).

Registers both layouts with pylib.models.seed_import. They differ in the coupling network
(waveglow: sandbox/block_waveglow.py WaveNetModuleForNonAR, keys `m_coupling.m_wn.l_expand...`;
waveglow-2: AffineCouplingWaveGlow_legacy, keys `m_coupling.m_wn_pre...`), so the keys tell them
apart. The sizes are read off the shapes. The seed's Model holds input_mean/input_std but never
applies them (model.py: flag_normalize_input = False, "the pre-trained model was trained without
normalizing feat"; waveglow-2 has the call commented out), so the imported model has no mel
normaliser (its data section says `norm: false`): it computes what the seed's does on raw
features. The seed's cached inverses (`m_invtrans.weight_inv`) are dropped: the seed recomputes
them from `weight` before its first use, as nnsp does on every reverse pass.
"""

import re

from pylib.errors import DataError
from pylib.models.seed_import import SeedArch, check_layout, count_numbered, register_seed_arch

_TOP = "m_waveglow."
_UP = _TOP + "m_upsample.m_layer.weight"
_FLOW = re.compile(r"m_waveglow\.m_flowblocks\.(\d+)\.m_flows\.(\d+)\.(.+)$")
# the seed's module path inside one flow step -> nnsp's (the weight-norm tensors renamed after)
_RENAMES = [
    (re.compile(r"m_invtrans\.weight$"), "inv.weight"),
    (re.compile(r"m_coupling\.m_wn\.l_expand\."), "coupling.net.start."),
    (re.compile(r"m_coupling\.m_wn\.l_cond\."), "coupling.net.cond."),
    (re.compile(r"m_coupling\.m_wn\.l_conv1\.(\d+)\."), r"coupling.net.dilated.\1."),
    (re.compile(r"m_coupling\.m_wn\.l_resskip\.(\d+)\."), r"coupling.net.res_skip.\1."),
    (re.compile(r"m_coupling\.m_wn\.l_compress\."), "coupling.net.end."),
    (re.compile(r"m_coupling\.m_wn_pre\."), "coupling.net.pre."),
    (re.compile(r"m_coupling\.m_wn\.(\d+)\.l_conv1d\."), r"coupling.net.layers.\1.conv."),
    (re.compile(r"m_coupling\.m_wn\.(\d+)\.l_cond_trans\."), r"coupling.net.layers.\1.cond."),
    (re.compile(r"m_coupling\.m_wn\.(\d+)\.l_res_trans\."), r"coupling.net.layers.\1.res."),
    (re.compile(r"m_coupling\.m_wn\.(\d+)\.l_skip_trans\."), r"coupling.net.layers.\1.skip."),
    (re.compile(r"m_coupling\.m_wn_post\."), "coupling.net.post."),
]
_WEIGHT_NORM = {"weight_g": "parametrizations.weight.original0",
                "weight_v": "parametrizations.weight.original1"}
_SQUEEZE = 8  # block_waveglow.py SqueezeForWaveGlow: mode 1 only
_WINDOW = 5  # block_waveglow.py upsampleByTransConv window_ratio


def _layout(sd):
    """"waveglow", "waveglow-2" or None from the keys."""
    keys = set(sd)
    if _UP not in keys or not all(k.startswith(("input_", "output_", _TOP)) for k in keys):
        return None
    if not {"input_mean", "input_std"} <= keys:
        return None
    flows = [k for k in keys if k.startswith(_TOP + "m_flowblocks.")]
    if not flows:
        return None
    if any(".m_coupling.m_wn.l_expand." in k for k in flows):
        return "waveglow"
    if any(".m_coupling.m_wn_pre." in k for k in flows):
        return "waveglow-2"
    return None


def _model_section(sd, arch, where):
    up = sd[_UP]
    n_mels, kernel = up.shape[0], up.shape[-1]
    if kernel % _WINDOW:
        raise DataError(f"{where}: {_UP} has kernel {kernel}, not {_WINDOW} x the hop")
    blocks = count_numbered(sd, _TOP + "m_flowblocks.")
    first = _TOP + "m_flowblocks.0.m_flows.0."
    dims = [sd[f"{_TOP}m_flowblocks.{b}.m_flows.0.m_invtrans.weight"].shape[0] for b in range(blocks)]
    if dims[0] != _SQUEEZE:
        raise DataError(f"{where}: the first flow works on {dims[0]} channels; the seed squeezes {_SQUEEZE} "
                        "samples per group")
    early = dims[0] - dims[1] if blocks > 1 else 2
    if any(d != dims[0] - i * early for i, d in enumerate(dims)):
        raise DataError(f"{where}: flow widths {dims} do not shrink by a constant early_dim")
    if arch == "waveglow":
        net = first + "m_coupling.m_wn."
        channels = sd[net + "l_expand.weight_v"].shape[0]
        layers = count_numbered(sd, net + "l_conv1.")
        wn_kernel = sd[net + "l_conv1.0.weight_v"].shape[-1]
        out = sd[net + "l_compress.weight"].shape[0]
    else:
        channels = sd[first + "m_coupling.m_wn_pre.weight_v"].shape[0]
        layers = count_numbered(sd, first + "m_coupling.m_wn.")
        wn_kernel = sd[first + "m_coupling.m_wn.0.l_conv1d.weight_v"].shape[-1]
        out = sd[first + "m_coupling.m_wn_post.weight"].shape[0]
    model = {
        "name": "waveglow", "squeeze": _SQUEEZE, "upsample_window": _WINDOW, "blocks": blocks,
        "flows_per_block": count_numbered(sd, _TOP + "m_flowblocks.0.m_flows."), "wn_layers": layers,
        "wn_channels": channels, "wn_kernel": wn_kernel, "affine": out == dims[0], "early_dim": early,
        "coupling_net": "nonar" if arch == "waveglow" else "legacy",
    }
    return model, n_mels, kernel // _WINDOW


def _state(sd):
    state = {}  # no mel normaliser: the data section says norm: false
    for k, v in sd.items():
        if k.startswith(_TOP + "m_upsample.m_layer."):
            state["upsample." + k.split(".")[-1]] = v
            continue
        m = _FLOW.match(k)
        if m is None or m.group(3).endswith("m_invtrans.weight_inv"):
            continue
        rest = m.group(3)
        for pat, rep in _RENAMES:
            if pat.match(rest):
                rest = pat.sub(rep, rest, count=1)
                break
        else:
            continue
        head, _, leaf = rest.rpartition(".")
        rest = f"{head}.{_WEIGHT_NORM.get(leaf, leaf)}" if head else rest
        state[f"blocks.{m.group(1)}.steps.{m.group(2)}.{rest}"] = v
    return state


def _convert(arch):
    def convert(sd, where):
        check_layout(_layout(sd), arch, where)
        model, n_mels, hop = _model_section(sd, arch, where)
        if n_mels != sd["input_mean"].numel():
            raise DataError(f"{where}: input_mean has {sd['input_mean'].numel()} dims, the up-sampler "
                            f"{n_mels}")
        config = {  # the seed's features come from its own tools: the data section states the facts
            # (16 kHz and 80-band mel every 80 samples: waveglow/config.py)
            "data": {
                "sample_rate": 16000,
                "inputs": [{"name": "mel", "ext": ".f4", "dim": n_mels, "hop": hop, "norm": False}],
                "outputs": [{"name": "wav", "ext": ".wav", "dim": 1, "hop": 1, "norm": False}],
            },
            "model": model,
        }
        return config, _state(sd)

    return convert


_DESCRIPTIONS = {
    "waveglow": "WaveGlow, NVIDIA-style WaveNet coupling (project/05-nn-vocoders/waveglow)",
    "waveglow-2": "WaveGlow-2, the legacy WaveNet-block coupling (project/05-nn-vocoders/waveglow-2)",
}

for _name, _desc in _DESCRIPTIONS.items():
    register_seed_arch(SeedArch(name=_name, family="vocoder", matches=lambda sd, _n=_name: _layout(sd) == _n,
                                convert=_convert(_name), description=_desc))
