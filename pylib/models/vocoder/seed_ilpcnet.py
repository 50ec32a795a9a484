"""Seed iLPCNet checkpoints into nnsp: project-NN-Pytorch-scripts project/05-nn-vocoders/ilpcnet.

Registers the seed's layout (model.py Model holding block_lpcnet.py LPCNetV1 as `m_lpcnet`) with
pylib.models.seed_import. The seed's input_mean/input_std over [mel, F0] (config.py input_dims
[80, 1]) become the nnsp model's `mel` and `f0` norm buffers (the output mean/std are unused: the
waveform is not normalised, config.py output_norm). Widths and the LP order are read off the
weights; the LPC frame length and shift (160, 160: config.py options) and the feature hop (80:
config.py input_reso) leave no trace in the weights and take the published values. The GRU cells
the seed builds for generation (`m_grucell`, present only in a model saved after inference) share
the GRUs' weights and are dropped.
"""

from pylib.errors import DataError
from pylib.models.seed_import import SeedArch, register_seed_arch

ARCH = "ilpcnet"
W = "m_lpcnet."
_GRU = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
# seed key prefix -> nnsp key prefix (each followed by weight/bias or a GRU tensor name)
_MAP = {
    W + "m_emb_f0.": "pitch_embed.",
    W + "m_net_framerate.m_layer1.": "frame_net.conv1.",
    W + "m_net_framerate.m_layer2.": "frame_net.conv2.",
    W + "m_net_framerate.m_layer3.0.": "frame_net.fc1.",
    W + "m_net_framerate.m_layer3.2.": "frame_net.fc2.",
    W + "m_net_out.m_gru1.m_gru.": "gru1.",
    W + "m_net_out.m_gru2.m_gru.": "gru2.",
    W + "m_cond_net.m_layer1.": "cond_net.conv1.",
    W + "m_cond_net.m_layer2.": "cond_net.conv2.",
    W + "m_cond_net.m_layer3.0.m_gru.": "cond_net.gru.",
    W + "m_cond_net.m_layer3.1.": "cond_net.fc1.",
    W + "m_cond_net.m_layer3.3.": "cond_net.fc2.",
}
_OUT = {W + "m_net_out.m_outfc.0.weight_g": "out_g", W + "m_net_out.m_outfc.0.weight_v": "out_v"}


def _expected_keys():
    keys = {"input_mean", "input_std", "output_mean", "output_std", W + "m_emb_f0.weight", *_OUT}
    for seed in _MAP:
        if seed.endswith("m_gru."):
            keys |= {seed + g for g in _GRU}
            if "m_cond_net" in seed:
                keys |= {seed + g + "_reverse" for g in _GRU}
        elif not seed.endswith("m_emb_f0."):
            keys |= {seed + "weight", seed + "bias"}
    return keys


_KEYS = _expected_keys()


def _is_cell(k):
    return ".m_grucell." in k


def matches(sd):
    """The seed's iLPCNet layout: exactly its keys (the generation GRU cells aside), shapes that chain."""
    if {k for k in sd if not _is_cell(k)} != _KEYS:
        return False
    d = sd["input_mean"].numel()
    frame_in = sd[W + "m_net_framerate.m_layer1.weight"]
    cond_out = sd[W + "m_cond_net.m_layer3.3.weight"]
    gru1 = sd[W + "m_net_out.m_gru1.m_gru.weight_ih_l0"]
    emb = sd[W + "m_emb_f0.weight"]
    return (d >= 2 and frame_in.dim() == 3 and frame_in.shape[1] == d + emb.shape[1]
            and sd[W + "m_cond_net.m_layer1.weight"].shape[1] == d and cond_out.shape[0] >= 2
            and gru1.shape[1] == sd[W + "m_net_framerate.m_layer3.2.weight"].shape[0] + 1
            and sd[W + "m_net_out.m_outfc.0.weight_v"].shape[0] == 2)


def convert(sd, where):
    if not matches(sd):
        raise DataError(f"{where}: the keys or shapes do not match the seed's iLPCNet layout "
                        f"(project/05-nn-vocoders/ilpcnet, block_lpcnet.py LPCNetV1); pick the --arch "
                        f"it was trained in")
    d = sd["input_mean"].numel()
    n_mels = d - 1
    model = {
        "name": "ilpcnet",
        "frame_length": 160,  # config.py options framelength
        "frame_shift": 160,  # config.py options frameshift
        "lpc_order": int(sd[W + "m_cond_net.m_layer3.3.weight"].shape[0] - 1),
        "pitch_classes": int(sd[W + "m_emb_f0.weight"].shape[0]),
        "pitch_emb": int(sd[W + "m_emb_f0.weight"].shape[1]),
        "frame_channels": int(sd[W + "m_net_framerate.m_layer1.weight"].shape[0]),
        "hidden": int(sd[W + "m_net_framerate.m_layer3.2.weight"].shape[0]),
        "gru1": int(sd[W + "m_net_out.m_gru1.m_gru.weight_hh_l0"].shape[1]),
        "gru2": int(sd[W + "m_net_out.m_gru2.m_gru.weight_hh_l0"].shape[1]),
        "cond_gru": int(sd[W + "m_cond_net.m_layer3.0.m_gru.weight_hh_l0"].shape[1]),
        "cond_hidden": int(sd[W + "m_cond_net.m_layer3.1.weight"].shape[0]),
    }
    config = {  # the seed's features are its own (.mfbsp mel, .f0 in Hz, every 80 samples at 16 kHz:
        # config.py input_exts, input_reso, wav_samp_rate); the data section states those facts
        "data": {
            "sample_rate": 16000,
            "inputs": [{"name": "mel", "ext": ".f4", "dim": n_mels, "hop": 80, "norm": True},
                       {"name": "f0", "ext": ".f4", "dim": 1, "hop": 80, "norm": True, "f0": True}],
            "outputs": [{"name": "wav", "ext": ".wav", "dim": 1, "hop": 1, "norm": False}],
        },
        "model": model,
    }
    state = {"norm.mel.mean": sd["input_mean"][:n_mels], "norm.mel.std": sd["input_std"][:n_mels],
             "norm.f0.mean": sd["input_mean"][n_mels:], "norm.f0.std": sd["input_std"][n_mels:]}
    for k, v in sd.items():
        if k in _OUT:
            state[_OUT[k]] = v
            continue
        for seed, ours in _MAP.items():
            if k.startswith(seed) and not _is_cell(k):
                state[ours + k[len(seed):]] = v
    return config, state


register_seed_arch(SeedArch(name=ARCH, family="vocoder", matches=matches, convert=convert,
                            description="iLPCNet (project/05-nn-vocoders/ilpcnet)"))
