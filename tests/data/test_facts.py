"""Each fact once: the sample rate, hop and dims declared by the features section (or recorded in
a dump's features.yaml) and derived into the data spec and the model; one name per quantity."""

import copy

import pytest
import torch
import yaml

from pylib.config import from_dict, save_yaml, upgrade_legacy_config
from pylib.data.spec import DataSpec, derive_facts, load_data_spec, spec_from_config
from pylib.engine.build import build_model, resolve_config
from pylib.errors import ConfigError
from pylib.features.extractors import build_extractors, describe_outputs, parse_features
from pylib.models.catalogue import get_model_class
from tests.conftest import ROOT, noise

pytestmark = pytest.mark.usefixtures("one_thread")

FEATURES = {
    "sample_rate": 16000,
    "extractors": {
        "mel": {"type": "logmel", "n_fft": 256, "hop": 80, "win_length": 160, "n_mels": 20},
        "f0": {"type": "f0", "hop": 80},
        "wav": {"type": "wave", "format": "wav"},
    },
}
DATA = {
    "inputs": [{"name": "mel", "norm": True}, {"name": "f0", "norm": True, "f0": True}],
    "outputs": [{"name": "wav"}],
    "train": [{"root": "train"}],
    "dev": [{"root": "dev"}],
}
TOY_NSF = ROOT / "egs" / "toy" / "nsf" / "conf" / "debug.yaml"


def config(**sections):
    return copy.deepcopy({"features": FEATURES, "data": DATA, **sections})


def write_dump(root, outputs, sample_rate=16000, key="hop"):
    """A features.yaml as stage 1 writes it (key="reso": as an earlier release wrote it)."""
    root.mkdir(parents=True, exist_ok=True)
    save_yaml(root / "features.yaml", {
        "sample_rate": sample_rate, "resample": False, "extractors": {},
        "outputs": {n: {"dim": d, key: h, "ext": e} for n, (d, h, e) in outputs.items()},
    })


def test_describe_outputs_says_what_the_extractors_write():
    cfg = parse_features(FEATURES)
    out = describe_outputs(cfg)
    wave = noise(seconds=0.1)
    for name, ex in build_extractors(cfg).items():
        frames = ex(wave)
        assert frames.shape == (len(wave) // out[name]["hop"] + (out[name]["hop"] > 1), out[name]["dim"])
        assert out[name]["ext"] == ex.ext
    here = "features.extractors.mel"
    assert out["mel"]["origins"] == {"dim": f"{here}.n_mels", "hop": f"{here}.hop",
                                     "ext": f"{here} (type logmel)"}


def test_spec_derived_from_the_features_section():
    spec = spec_from_config(config())
    assert spec.sample_rate == 16000
    assert [(f.name, f.dim, f.hop, f.ext) for f in spec.features] == [
        ("mel", 20, 80, ".f4"), ("f0", 1, 80, ".f4"), ("wav", 1, 1, ".wav")]
    assert spec.origins["mel.dim"] == "features.extractors.mel.n_mels"
    assert spec.origins["sample_rate"] == "features.sample_rate"


def test_spec_derived_from_the_dumps_features_yaml(tmp_path):
    outputs = {"mel": (30, 160, ".f4"), "f0": (1, 160, ".f4"), "wav": (1, 1, ".flac")}
    write_dump(tmp_path / "train", outputs, 24000)
    write_dump(tmp_path / "dev", outputs, 24000, key="reso")  # an earlier release's name: still read
    cfg = {"data": DATA}  # no features section: the dumps say it all
    spec = spec_from_config(cfg, tmp_path)
    assert spec.sample_rate == 24000
    assert [(f.name, f.dim, f.hop, f.ext) for f in spec.features] == [
        ("mel", 30, 160, ".f4"), ("f0", 1, 160, ".f4"), ("wav", 1, 1, ".flac")]
    assert spec.origins["mel.hop"] == f"{tmp_path / 'train' / 'features.yaml'} outputs.mel.hop"
    # without the dumps (inference from a model file) the config's own statement is used
    assert spec_from_config(config()).feature("mel").dim == 20


def test_dumps_disagreeing_with_each_other_or_the_config_name_both(tmp_path):
    write_dump(tmp_path / "train", {"mel": (20, 80, ".f4"), "f0": (1, 80, ".f4"), "wav": (1, 1, ".wav")})
    write_dump(tmp_path / "dev", {"mel": (20, 160, ".f4"), "f0": (1, 80, ".f4"), "wav": (1, 1, ".wav")})
    with pytest.raises(ConfigError) as e:
        spec_from_config(config(), tmp_path)
    assert f"{tmp_path / 'train' / 'features.yaml'} outputs.mel.hop = 80 vs " in str(e.value)
    assert f"{tmp_path / 'dev' / 'features.yaml'} outputs.mel.hop = 160" in str(e.value)
    assert "rerun stage 1" in str(e.value)
    write_dump(tmp_path / "dev", {"mel": (40, 80, ".f4"), "f0": (1, 80, ".f4"), "wav": (1, 1, ".wav")})
    write_dump(tmp_path / "train", {"mel": (40, 80, ".f4"), "f0": (1, 80, ".f4"), "wav": (1, 1, ".wav")})
    with pytest.raises(ConfigError, match=r"outputs.mel.dim = 40 vs features.extractors.mel.n_mels = 20"):
        spec_from_config(config(), tmp_path)


def test_a_restated_data_value_must_agree():
    same = config()
    same["data"]["sample_rate"] = 16000
    same["data"]["inputs"][0].update(dim=20, hop=80, ext=".f4")
    assert spec_from_config(same).feature("mel").dim == 20  # restating the same value is allowed
    for key, value, message in [
        ("sample_rate", 22050, "features.sample_rate = 16000 vs data.sample_rate = 22050"),
        ("dim", 80, "features.extractors.mel.n_mels = 20 vs data.inputs[0].dim = 80"),
        ("hop", 256, "features.extractors.mel.hop = 80 vs data.inputs[0].hop = 256"),
        ("ext", ".wav", "features.extractors.mel (type logmel) = '.f4' vs data.inputs[0].ext = '.wav'"),
    ]:
        cfg = config()
        (cfg["data"] if key == "sample_rate" else cfg["data"]["inputs"][0])[key] = value
        with pytest.raises(ConfigError) as e:
            spec_from_config(cfg)
        assert message in str(e.value) and "declared once, in the features section" in str(e.value)


def test_a_feature_nothing_extracts_is_an_error():
    cfg = config()
    cfg["data"]["inputs"].append({"name": "lfcc"})
    with pytest.raises(ConfigError, match=r"data.inputs\[2\]: feature 'lfcc' is not extracted.*add an "):
        derive_facts(cfg)


def test_a_restated_model_value_must_agree():
    raw = yaml.safe_load(TOY_NSF.read_text())
    same = ["model.hop=80", "model.n_mels=80"]  # restating the same values is fine
    resolved, spec, model, _, _ = resolve_config(raw, get_model_class, same)
    assert (resolved["model"]["hop"], resolved["model"]["n_mels"]) == (80, 80)
    for override, message in [
        ("model.hop=200", "features.extractors.mel.hop = 80 vs model.hop = 200"),
        ("model.n_mels=60", "features.extractors.mel.n_mels = 80 vs model.n_mels = 60"),
        ("model.sample_rate=22050", "features.sample_rate = 16000 vs model.sample_rate = 22050"),
        ("features.extractors.f0.hop=160",
         "features.extractors.f0.hop = 160 vs features.extractors.mel.hop = 80"),
    ]:
        with pytest.raises(ConfigError) as e:
            resolve_config(raw, get_model_class, [override])
        assert message in str(e.value), str(e.value)


def test_the_resolved_config_holds_the_derived_values_and_builds_without_features():
    raw = yaml.safe_load(TOY_NSF.read_text())
    assert "sample_rate" not in raw["data"] and "hop" not in raw["model"]  # the shipped conf says it once
    resolved, _, model, _, _ = resolve_config(raw, get_model_class)
    assert resolved["data"]["sample_rate"] == 16000
    assert resolved["data"]["inputs"][0] == {"name": "mel", "norm": True, "dim": 80, "hop": 80, "ext": ".f4"}
    assert {k: resolved["model"][k] for k in ("sample_rate", "hop", "n_mels")} == {
        "sample_rate": 16000, "hop": 80, "n_mels": 80}
    bare = {k: v for k, v in resolved.items() if k != "features"}
    again, _ = build_model(bare, load_data_spec(bare["data"]), get_model_class)
    assert again.state_dict().keys() == model.state_dict().keys()


def test_old_names_in_a_user_config_say_what_they_were_renamed_to():
    with pytest.raises(ConfigError, match=r"data.inputs\[0\].reso: this key was renamed to 'hop'"):
        load_data_spec({"inputs": [{"name": "mel", "dim": 80, "reso": 80}]})
    with pytest.raises(ConfigError, match=r"data.max_frames: this key was renamed to 'max_samples'"):
        load_data_spec({"inputs": [{"name": "mel"}], "max_frames": 32000})
    assert load_data_spec({"inputs": [{"name": "mel"}], "max_samples": 32000}).max_samples == 32000
    raw = yaml.safe_load(TOY_NSF.read_text())
    raw["model"]["mel_dim"] = 80
    with pytest.raises(ConfigError, match=r"model.mel_dim: this key was renamed to 'n_mels'"):
        resolve_config(raw, get_model_class)
    assert "max_frames" not in DataSpec.__dataclass_fields__


# model.pt / checkpoint config of the release before this one: facts restated in three sections
LEGACY = {
    "features": FEATURES,
    "data": {
        "sample_rate": 16000,
        "inputs": [{"name": "mel", "ext": ".f4", "dim": 20, "reso": 80, "norm": True},
                   {"name": "f0", "ext": ".f4", "dim": 1, "reso": 80, "norm": True, "f0": True}],
        "outputs": [{"name": "wav", "ext": ".wav", "dim": 1, "reso": 1, "norm": False}],
        "max_frames": 16000,
    },
    "model": {"name": "hn_sinc_nsf", "mel_dim": 20, "hop": 80, "sample_rate": 16000, "cond_lstm_units": 8,
              "cond_channels": 8, "filter_channels": 8, "filter_layers": 2, "harmonic_blocks": 1,
              "noise_layers": 1, "sinc_order": 7},
}


def test_a_legacy_config_is_upgraded():
    new = upgrade_legacy_config(copy.deepcopy(LEGACY))
    assert new["data"]["inputs"][0] == {"name": "mel", "ext": ".f4", "dim": 20, "hop": 80, "norm": True}
    assert new["data"]["outputs"][0]["hop"] == 1 and "reso" not in new["data"]["outputs"][0]
    assert new["data"]["max_samples"] == 16000 and "max_frames" not in new["data"]
    assert new["model"]["n_mels"] == 20 and "mel_dim" not in new["model"]
    assert LEGACY["model"]["mel_dim"] == 20  # the input is left as it was
    assert upgrade_legacy_config(new) == new  # today's names pass through


def test_legacy_model_file_and_checkpoint_still_load(tmp_path):
    from pylib.engine import checkpoint as ckpt
    from pylib.engine.export import FORMAT, VERSION, load_model

    spec = spec_from_config(config())
    torch.manual_seed(0)
    model, _ = build_model(upgrade_legacy_config(LEGACY), spec, get_model_class)
    path = tmp_path / "model.pt"
    torch.save({"format": FORMAT, "version": VERSION, "config": LEGACY, "state_dict": model.state_dict()},
               path)
    loaded = load_model(path, get_model_class)
    x = {"mel": torch.randn(1, 5, 20), "mel_len": torch.tensor([5]), "f0": torch.full((1, 5, 1), 120.0),
         "f0_len": torch.tensor([5])}
    torch.testing.assert_close(loaded.infer(x), model.eval().infer(x))
    old = tmp_path / "checkpoint_last.pt"
    blob = {"format": ckpt.FORMAT, "version": ckpt.VERSION, "config": LEGACY, "model": model.state_dict()}
    torch.save(blob, old)
    state = ckpt.load_checkpoint(old)
    assert state["config"]["model"]["n_mels"] == 20 and state["config"]["data"]["inputs"][1]["hop"] == 80
    keys = {k: v for k, v in state["config"]["model"].items() if k != "name"}
    assert from_dict(type(model.cfg), keys).n_mels == 20


def test_a_run_of_the_previous_release_resumes(tmp_path):
    """A checkpoint whose config uses the old names (data reso) continues with today's conf."""
    from tests.reliability.common import build_project, train_tiny

    proj = build_project(tmp_path / "p", n=4)
    exp = tmp_path / "exp"
    r = train_tiny(proj.conf, proj.root, exp, "--set", "train.epochs=1")
    assert r.code == 0, r.err[-3000:]
    last = exp / "checkpoint_last.pt"
    state = torch.load(last, weights_only=True)
    for f in state["config"]["data"]["inputs"] + state["config"]["data"]["outputs"]:
        f["reso"] = f.pop("hop")  # as the previous release stored it
    torch.save(state, last)
    r = train_tiny(proj.conf, proj.root, exp, "--set", "train.epochs=2")
    assert r.code == 0, r.err[-3000:]
    assert torch.load(last, weights_only=True)["epoch"] == 2


def test_score_wavs_reads_the_derived_input_of_a_model_file():
    from pylib.engine.score_folder import model_input
    from pylib.errors import UserError

    wav_only = {"features": {"sample_rate": 22050, "extractors": {"wav": {"type": "wave"}}},
                "data": {"inputs": [{"name": "wav"}]}}
    wave = model_input(wav_only)
    assert (wave.name, wave.sample_rate) == ("wav", 22050)
    with pytest.raises(UserError, match="reads one waveform"):  # a mel model: dim 20, hop 80 derived
        model_input({"features": FEATURES, "data": {"inputs": [{"name": "mel"}]}})
