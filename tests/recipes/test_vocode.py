"""python -m pylib.bin.vocode: copy synthesis with a one-file model, any input rate."""

import numpy as np
import pytest
import torch
import yaml

from pylib.bin import vocode
from pylib.engine.build import build_model
from pylib.engine.export import FORMAT, VERSION
from pylib.errors import UserError
from pylib.io import read_wav, write_wav
from pylib.metrics.vocoder_report import CopySynthesis
from pylib.models.catalogue import get_model_class
from tests.conftest import ROOT, sine


def _model_file(tmp_path, drop_features=False):
    """A tiny untrained hn_sinc_nsf from the toy recipe's debug config, saved as a one-file model."""
    config = yaml.safe_load((ROOT / "egs" / "toy" / "nsf" / "conf" / "debug.yaml").read_text())
    from pylib.engine.data import spec_for

    spec, config["data"] = spec_for(config)  # the derived facts, as an exported model.pt holds them
    if drop_features:
        del config["features"]
    torch.manual_seed(0)
    model, msec = build_model(config, spec, get_model_class)
    path = tmp_path / "model.pt"
    torch.save({"format": FORMAT, "version": VERSION, "config": {**config, "model": msec},
                "state_dict": model.state_dict()}, path)
    return path


def test_vocode_resamples_and_keeps_the_length(tmp_path):
    model = _model_file(tmp_path)
    write_wav(tmp_path / "a.wav", 16000, sine(200.0, 16000, 0.4))
    write_wav(tmp_path / "b.flac", 22050, sine(200.0, 22050, 0.5))
    assert vocode.main(["--model", str(model), str(tmp_path / "a.wav"), str(tmp_path / "b.flac"),
                        "--out-dir", str(tmp_path / "out"), "--no-progress"]) == 0
    sr_a, a = read_wav(tmp_path / "out" / "a.wav")
    sr_b, b = read_wav(tmp_path / "out" / "b.wav")
    assert sr_a == sr_b == 16000 and a.size == 6400 and b.size == 8000
    assert np.isfinite(a).all() and np.abs(a).max() > 0


def test_copy_synthesis_is_reproducible(tmp_path):
    cs = CopySynthesis(_model_file(tmp_path))
    x = sine(150.0, 16000, 0.3)
    np.testing.assert_array_equal(cs(x, 16000), cs(x, 16000))


def test_vocode_errors(tmp_path):
    write_wav(tmp_path / "a.wav", 16000, sine(200.0, 16000, 0.2))
    with pytest.raises(UserError, match="no `features:` section"):
        vocode.main(["--model", str(_model_file(tmp_path, drop_features=True)), str(tmp_path / "a.wav"),
                     "--out-dir", str(tmp_path / "o")])
    with pytest.raises(UserError, match="not found: .*missing.wav"):
        vocode.main(["--model", "m.pt", str(tmp_path / "missing.wav"), "--out-dir", str(tmp_path / "o")])
    (tmp_path / "sub").mkdir()
    write_wav(tmp_path / "sub" / "a.wav", 16000, sine(200.0, 16000, 0.2))
    with pytest.raises(UserError, match="same output name"):
        vocode.main(["--model", "m.pt", str(tmp_path / "a.wav"), str(tmp_path / "sub" / "a.wav"),
                     "--out-dir", str(tmp_path / "o")])
