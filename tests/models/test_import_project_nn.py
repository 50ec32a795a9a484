"""Import of the project-NN-Pytorch-scripts LFCC-LCNN-LSTM (sigmoid) checkpoint: reference scores."""

import pytest
import torch

from pylib.bin import import_project_nn as cli
from pylib.errors import DataError, UserError
from pylib.io import read_wav
from pylib.models.cm.import_project_nn import convert, import_checkpoint, load_cm_model

CKPT = "project_nn_lfcc_lcnn_lstm_sig.pt"
# the toolkit's own scores (whole utterance, batch 1, int16 / 32768), from ../shared/data/README.md
REFERENCE = {
    "libritts_11463_11657_000002_real.flac": 8.357415,
    "libritts_11463_11657_000002_vocoded.flac": 10.285798,
}


def test_imported_model_reproduces_reference_scores(shared_data, tmp_path):
    out = tmp_path / "model.pt"
    assert cli.main(["--checkpoint", str(shared_data / CKPT), "--out", str(out)]) == 0
    blob = torch.load(out, map_location="cpu", weights_only=True)
    assert blob["format"] == "nnsp-model" and blob["version"] == 1
    assert blob["config"]["model"]["name"] == "lcnn" and blob["config"]["model"]["head"] == "sigmoid"
    model = load_cm_model(out)
    for name, ref in REFERENCE.items():
        sr, wave = read_wav(shared_data / name)
        assert sr == 16000
        score = model.infer({"wav": torch.from_numpy(wave)[None, :, None]})[0]
        assert score == pytest.approx(ref, abs=1e-3), name


def test_bad_checkpoints(shared_data, tmp_path):
    with pytest.raises(UserError, match="not found"):
        import_checkpoint(tmp_path / "missing.pt", tmp_path / "m.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match="junk.pt"):
        import_checkpoint(junk, tmp_path / "m.pt")
    sd = torch.load(shared_data / CKPT, map_location="cpu", weights_only=True)
    with pytest.raises(DataError, match="not an LFCC-LCNN-LSTM"):
        convert({k: v for k, v in sd.items() if not k.startswith("m_transform")}, where="cut.pt")
    extra = dict(sd, **{"m_extra.weight": torch.zeros(1)})
    with pytest.raises(DataError, match="m_extra.weight"):
        convert(extra, where="extra.pt")
    with pytest.raises(UserError, match="not supported"):
        convert(sd, arch="rawnet2")
    assert not (tmp_path / "m.pt").exists()  # nothing half-written
