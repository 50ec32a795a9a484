"""Tiny randomly initialised vocoders saved as one-file models (what export_model writes), for tests
that need a vocoder file fast: copy synthesis, the toy SSL recipe's vocoded spoofs."""

import copy

import torch

_MEL = {"type": "logmel", "n_fft": 256, "hop": 80, "win_length": 160, "n_mels": 16, "fmin": 0, "fmax": 8000}
_FEATURES = {"sample_rate": 16000, "resample": False,
             "extractors": {"mel": _MEL, "wav": {"type": "wave", "format": "wav"}}}

TINY = {
    "hifigan": {
        "features": _FEATURES,
        "data": {"inputs": [{"name": "mel", "norm": True}], "outputs": [{"name": "wav"}]},
        "model": {"name": "hifigan", "upsample_rates": [10, 8], "upsample_kernel_sizes": [20, 16],
                  "upsample_initial_channel": 8, "resblock": 2, "resblock_kernel_sizes": [3],
                  "resblock_dilation_sizes": [[1, 3]], "mpd_periods": [2], "mpd_channels": [4] * 5,
                  "msd_scales": 1, "msd_channels": [4] * 7, "loss_n_fft": 256, "loss_win_length": 256,
                  "loss_n_mels": 16},
    },
    "hn_sinc_nsf": {
        "features": {**_FEATURES, "extractors": {
            **_FEATURES["extractors"],
            "f0": {"type": "f0", "method": "yin", "hop": 80, "fmin": 60, "fmax": 500}}},
        "data": {"inputs": [{"name": "mel", "norm": True}, {"name": "f0", "norm": True, "f0": True}],
                 "outputs": [{"name": "wav"}]},
        "model": {"name": "hn_sinc_nsf", "num_harmonics": 3, "cond_lstm_units": 8, "cond_channels": 4,
                  "filter_channels": 4, "filter_layers": 2, "harmonic_blocks": 1, "noise_blocks": 1,
                  "noise_layers": 2, "sinc_order": 15},
    },
}


def write_tiny_vocoder(path, name="hifigan", seed=0):
    """Write a tiny random `name` vocoder (a key of TINY) to `path` as a one-file model; returns path."""
    from pylib.engine.build import build_model
    from pylib.engine.data import spec_for
    from pylib.engine.export import FORMAT, VERSION
    from pylib.models.catalogue import get_model_class

    config = copy.deepcopy(TINY[name])
    spec, config["data"] = spec_for(config)
    torch.manual_seed(seed)
    model, msec = build_model(config, spec, get_model_class)
    torch.save({"format": FORMAT, "version": VERSION, "config": {**config, "model": msec},
                "state_dict": model.state_dict()}, path)
    return path
