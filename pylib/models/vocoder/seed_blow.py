"""Seed Blow checkpoints into nnsp (project/05-nn-vocoders/blow).

Registers the layout with pylib.models.seed_import: the keys `m_spk_emd.weight`, `m_blow.m_flowblocks.*`
(block_blow.py FlowStepBlow: m_invtrans, m_actnorm, m_coupling.m_core) and `m_overlap.m_win`. The sizes
are read off the shapes; the conversion hop is not in the checkpoint and is the seed's frame // 4
(model.py OverlapAdder(4096, 4096 // 4)). The seed's Model holds input_mean/... but never applies them
(model.py forward: the normalisation is commented out), so nothing of them is carried.

The speaker map lives in the seed's config (spk.lst, in its order), not in the checkpoint: the importer
takes the names from `use_speakers(names)` (import_project_nn --speakers FILE) or calls them spk0 ..
spk{N-1} (`DEFAULT_NOTE` says so). The embedding table has one row more than the list: the "unseen" row.
Dropped: the seed's fixed masks, identity and cached inverse of the 1x1 (m_l_mask, m_u_mask, m_eye,
m_inver), which nnsp recomputes.
"""

import contextlib
import re

from pylib.errors import DataError
from pylib.models.seed_import import SeedArch, check_layout, count_numbered, register_seed_arch

_EMB = "m_spk_emd.weight"
_WIN = "m_overlap.m_win"
_TOP = "m_blow.m_flowblocks."
_FLOW = re.compile(r"m_blow\.m_flowblocks\.(\d+)\.m_flows\.(\d+)\.(.+)$")
_RENAMES = {
    "m_invtrans.m_permute_mat": "inv.permute",
    "m_invtrans.m_lower_tria": "inv.lower",
    "m_invtrans.m_upper_tria": "inv.upper",
    "m_invtrans.m_log_abs_diag": "inv.log_abs_diag",
    "m_invtrans.m_diag_sign": "inv.sign",
    "m_actnorm.m_scale": "actnorm.scale",
    "m_actnorm.m_bias": "actnorm.bias",
    "m_actnorm.m_init_flag": "actnorm.initialized",
    "m_coupling.m_core.m_adapter.weight": "coupling.adapter.weight",
    "m_coupling.m_core.m_adapter.bias": "coupling.adapter.bias",
    "m_coupling.m_core.m_conv1ds.1.weight": "coupling.conv_in.weight",
    "m_coupling.m_core.m_conv1ds.1.bias": "coupling.conv_in.bias",
    "m_coupling.m_core.m_conv1ds.3.weight": "coupling.conv_out.weight",
    "m_coupling.m_core.m_conv1ds.3.bias": "coupling.conv_out.bias",
}
_DROPPED = ("m_invtrans.m_l_mask", "m_invtrans.m_u_mask", "m_invtrans.m_eye", "m_invtrans.m_inver")
DEFAULT_NOTE = ("the seed keeps its speaker list in config.py (spk.lst), not in the checkpoint: the speakers "
                "are named spk0 .. spk{n}; pass --speakers with the seed's spk.lst to keep their names")

_speakers = None  # names set by use_speakers for the next import


@contextlib.contextmanager
def use_speakers(names):
    """Within the block, a Blow import names its speakers `names` (the seed's spk.lst order); None:
    spk0 .. spk{N-1}."""
    global _speakers
    old, _speakers = _speakers, (list(names) if names is not None else None)
    try:
        yield
    finally:
        _speakers = old


def _layout(sd):
    keys = set(sd)
    if not {_EMB, _WIN} <= keys or not all(k.startswith(("input_", "output_", "m_spk_emd.", "m_blow.",
                                                            "m_overlap.")) for k in keys):
        return None
    flows = [k for k in keys if k.startswith(_TOP)]
    if not flows or not any(".m_coupling.m_core.m_adapter." in k for k in flows):
        return None
    return "blow"


def _speaker_names(n, where):
    if _speakers is None:
        return [f"spk{i}" for i in range(n)]
    if len(_speakers) != n:
        raise DataError(f"{where}: its speaker embedding has {n} speakers (+1 unseen row), the --speakers "
                        f"list {len(_speakers)}; pass the spk.lst the model was trained with")
    return list(_speakers)


def _model_section(sd, where):
    emb = sd[_EMB]
    blocks = count_numbered(sd, _TOP)
    first = _TOP + "0.m_flows.0.m_coupling.m_core."
    kernel = sd[first + "m_conv1ds.3.weight"].shape[-1]
    channels = sd[first + "m_adapter.weight"].shape[0] // (kernel + 1)  # block 0: half width 1, no rounding
    frame = sd[_WIN].numel()
    for b in range(blocks):
        dim = sd[f"{_TOP}{b}.m_flows.0.m_invtrans.m_lower_tria"].shape[0]
        if dim != 2 ** (b + 1):
            raise DataError(f"{where}: flow block {b} works on {dim} channels; Blow squeezes by 2 per block "
                            f"({2 ** (b + 1)})")
    return {
        "name": "blow", "speakers": _speaker_names(emb.shape[0] - 1, where), "cond_dim": emb.shape[1],
        "blocks": blocks, "flows_per_block": count_numbered(sd, _TOP + "0.m_flows."), "channels": channels,
        "kernel": kernel, "frame": frame, "frame_shift": frame // 4,
    }


def _state(sd):
    state = {"embed.weight": sd[_EMB], "window": sd[_WIN]}
    for k, v in sd.items():
        m = _FLOW.match(k)
        if m is None or m.group(3) in _DROPPED:
            continue
        rest = _RENAMES.get(m.group(3))
        if rest is not None:
            state[f"blocks.{m.group(1)}.steps.{m.group(2)}.{rest}"] = v
    return state


def convert(sd, where):
    check_layout(_layout(sd), "blow", where)
    config = {  # 16 kHz waveform in (blow/config.py wav_samp_rate, input_dims [1], input_norm [False])
        "data": {"sample_rate": 16000,
                 "inputs": [{"name": "wav", "ext": ".wav", "dim": 1, "hop": 1, "norm": False}]},
        "model": _model_section(sd, where),
    }
    return config, _state(sd)


register_seed_arch(SeedArch(name="blow", family="vocoder", matches=lambda sd: _layout(sd) == "blow",
                            convert=convert,
                            description="Blow voice conversion flow (project/05-nn-vocoders/blow)"))
