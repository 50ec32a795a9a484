"""Inference settings at stage 4 and in vocode (`--set model.KEY=VALUE`, pylib.engine.infer.infer_settings):
only a model's `infer_keys` may change, checked by its config dataclass, and recorded as provenance so
that a rerun with another value redoes the outputs.

A toy vocoder with an inference-only `gain` (registered here: `--import tests.engine.test_infer_set`)
runs stage 4 in-process; a toy-width WaveGlow saved as a one-file model runs vocode."""

import dataclasses
import json

import numpy as np
import pytest
import torch

from pylib.bin import infer as infer_cli
from pylib.bin import vocode
from pylib.config import from_dict
from pylib.contracts import Vocoder
from pylib.engine.build import run_training
from pylib.engine.export import FORMAT, VERSION
from pylib.engine.infer import RECORD, infer_settings
from pylib.errors import ConfigError, UserError
from pylib.io.audio import read_wav, write_wav
from pylib.models.catalogue import get_model_class, model_lookup, model_names
from tests.conftest import sine
from tests.engine.common import make_config
from tests.engine.toy_models import LinearConfig, ToyLinearWave


@dataclasses.dataclass
class GainConfig(LinearConfig):
    gain: float = 1.0  # inference only: scales the output

    def __post_init__(self):
        if self.gain < 0:
            raise ConfigError(f"model.gain must be >= 0, got {self.gain}")


class ToyGainWave(ToyLinearWave):
    """toy_linear_wave whose output is scaled by the inference-only `gain`."""

    Config = GainConfig
    infer_keys = ("gain",)

    def infer(self, batch):
        return [w * self.cfg.gain for w in super().infer(batch)]


CATALOGUE = {"toy_gain_wave": ToyGainWave}
IMPORT = ["--import", __name__]


# the inference settings of every vocoder (docs/training.md "Inference (stage 4)" has this table)
INFER_KEYS = {
    "hn_sinc_nsf": ("infer_seed",), "hn_nsf": ("infer_seed",), "cyc_noise_nsf": ("infer_seed",),
    "hn_sinc_nsf_hifigan": ("infer_seed",), "hifigan": (), "nsf_hifigan": ("infer_seed",),
    "waveglow": ("sigma", "denoise", "denoise_ratio", "denoise_cache", "infer_seed"),
    "wavenet": ("sampling", "infer_seed", "cached"), "ilpcnet": ("temperature", "infer_seed"),
    "blow": ("conversion_map", "convert_frames"),
}


def test_every_vocoders_infer_keys_are_keys_of_its_config():
    """Each vocoder declares its inference settings, all keys of its config dataclass, every
    `infer_seed` among them."""
    assert {n for n in model_names() if n not in ("lcnn", "rawnet2", "ssl_cm")} == set(INFER_KEYS)
    for name, keys in INFER_KEYS.items():
        cls = get_model_class(name)
        fields = {f.name for f in dataclasses.fields(cls.Config)}
        assert issubclass(cls, Vocoder) and cls.infer_keys == keys, name
        assert set(keys) <= fields and ("infer_seed" in keys) == ("infer_seed" in fields), name


@pytest.fixture(scope="module")
def exp(tmp_path_factory):
    """A trained toy_gain_wave (one epoch of the engine's toy data)."""
    tmp = tmp_path_factory.mktemp("infer_set")
    conf = make_config(tmp, model={"replace": {"name": "toy_gain_wave", "hidden": 8, "dropout": 0.0}},
                       train={"epochs": 1})
    run_training(conf, "unused", tmp / "exp", model_class=model_lookup([__name__]))
    return tmp / "exp"


def _infer(exp, out, *sets):
    args = ["--exp-dir", str(exp), "--data-dir", "unused", "--subset", "eval", "--out-dir", str(out)]
    for s in sets:
        args += ["--set", s]
    return infer_cli.main(args + IMPORT)


def _waves(out):
    return {p.name: read_wav(p)[1] for p in sorted(out.glob("*.wav"))}


def test_stage4_set_changes_the_output_and_a_rerun_redoes_it(exp, tmp_path):
    out = tmp_path / "out"
    assert _infer(exp, out) == 0
    plain = _waves(out)
    assert len(plain) == 6 and "settings" not in json.loads((out / RECORD).read_text())
    assert _infer(exp, out, "model.gain=0.5") == 0  # the same folder: redone, not resumed
    half = _waves(out)
    assert json.loads((out / RECORD).read_text())["settings"] == {"gain": 0.5}
    for name, w in plain.items():
        np.testing.assert_allclose(half[name], w * 0.5, atol=2 / 32768)
    (out / "utt000.wav").unlink()  # the same value again: resumes, only the missing one is written
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.glob("*.wav")}
    assert _infer(exp, out, "model.gain=0.5") == 0
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.wav") if p.name in mtimes} == mtimes
    np.testing.assert_array_equal(_waves(out)["utt000.wav"], half["utt000.wav"])
    # the trained value given explicitly is no setting: the plain outputs are redone and then resumed
    assert _infer(exp, out, "model.gain=1") == 0
    assert "settings" not in json.loads((out / RECORD).read_text())
    np.testing.assert_array_equal(_waves(out)["utt001.wav"], plain["utt001.wav"])


def test_stage4_refuses_other_keys_and_bad_values(exp, tmp_path):
    out = tmp_path / "out"
    for bad in ("model.hidden=4", "train.epochs=3", "model=1", "model.gain.x=1"):
        with pytest.raises(UserError, match=r"allows only .*\(model\.gain\).*fixed by training"):
            _infer(exp, out, bad)
    with pytest.raises(ConfigError, match="model.gain must be >= 0"):
        _infer(exp, out, "model.gain=-1")
    with pytest.raises(ConfigError, match="gain"):
        _infer(exp, out, "model.gain=[1, 2]")
    assert not list(out.glob("*.wav"))


def _tiny_waveglow(path):
    """A toy-width WaveGlow (its zero-initialised coupling outputs made to act) as a one-file model."""
    from pylib.engine.build import build_model
    from pylib.engine.data import spec_for

    mel = {"type": "logmel", "n_fft": 256, "hop": 80, "win_length": 160, "n_mels": 16, "fmin": 0,
           "fmax": 8000}
    config = {"features": {"sample_rate": 16000, "resample": False,
                           "extractors": {"mel": mel, "wav": {"type": "wave", "format": "wav"}}},
              "data": {"inputs": [{"name": "mel", "norm": False}], "outputs": [{"name": "wav"}]},
              "model": {"name": "waveglow", "blocks": 2, "flows_per_block": 2, "wn_layers": 2,
                        "wn_channels": 4, "sigma": 0.6, "denoise": False}}
    spec, config["data"] = spec_for(config)
    torch.manual_seed(0)
    model, msec = build_model(config, spec, get_model_class)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(("end.weight", "post.weight")):
                p.normal_(0.0, 0.3)
    torch.save({"format": FORMAT, "version": VERSION, "config": {**config, "model": msec},
                "state_dict": model.state_dict()}, path)
    return path


def test_vocode_waveglow_sigma(tmp_path):
    """sigma 0 gives other audio than the trained 0.6, and is deterministic (the seed plays no part)."""
    model = _tiny_waveglow(tmp_path / "model.pt")
    write_wav(tmp_path / "a.wav", 16000, sine(200.0, 16000, 0.1))

    def run(out, *sets):
        args = ["--model", str(model), str(tmp_path / "a.wav"), "--out-dir", str(tmp_path / out),
                "--no-progress"]
        for s in sets:
            args += ["--set", s]
        assert vocode.main(args) == 0
        return read_wav(tmp_path / out / "a.wav")[1]

    default, zero = run("d"), run("z", "model.sigma=0")
    zero_other_seed = run("z2", "model.sigma=0", "model.infer_seed=5")
    assert default.shape == zero.shape and np.abs(default - zero).max() > 1e-3
    np.testing.assert_array_equal(zero, zero_other_seed)
    assert np.abs(run("s", "model.infer_seed=5") - default).max() > 1e-3  # at sigma 0.6 the seed counts
    with pytest.raises(UserError, match=r"model\.pt: .*allows only .*model\.sigma.*fixed by training"):
        run("x", "model.wn_channels=8")
    with pytest.raises(ConfigError, match="sigma must be >= 0"):
        run("x", "model.sigma=-0.5")


def test_infer_settings_leaves_the_config_alone():
    config = {"data": {}, "model": {"name": "toy_gain_wave", "hidden": 8, "dropout": 0.0, "gain": 1.0}}
    new, changed = infer_settings(config, ["model.gain=2"], model_lookup([__name__]))
    assert new["model"]["gain"] == 2.0 and changed == {"gain": 2.0} and config["model"]["gain"] == 1.0
    assert infer_settings(config, [], model_lookup([__name__])) == (config, {})
    assert from_dict(GainConfig, {k: v for k, v in new["model"].items() if k != "name"}).gain == 2.0
