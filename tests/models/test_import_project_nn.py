"""Import of the seed's LCNN countermeasures: the shared LFCC-LCNN-LSTM (sigmoid) checkpoint
reproduces the seed's reference scores; layouts are recognised, ties named, bad files refused."""

import pytest
import torch

from pylib.bin import import_project_nn as cli
from pylib.errors import DataError, UserError
from pylib.io import read_wav
from pylib.models.cm.import_project_nn import NAMES, identify, load_cm_model
from pylib.models.seed_import import convert_state_dict, detect_arch, import_checkpoint

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
    assert blob["config"]["imported_from"]["arch"] == "lfcc-lcnn-lstmsum-sig"  # recognised, no --arch
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
    cut = {k: v for k, v in sd.items() if not k.startswith("m_transform")}
    with pytest.raises(DataError, match="cut.pt: its keys match no known"):
        convert_state_dict(cut, where="cut.pt")
    with pytest.raises(DataError, match="missing.*m_transform|back.body"):
        convert_state_dict(cut, arch="lfcc-lcnn-lstmsum-sig", where="cut.pt")
    extra = dict(sd, **{"m_extra.weight": torch.zeros(1)})
    with pytest.raises(DataError, match="m_extra.weight"):
        convert_state_dict(extra, arch="lfcc-lcnn-lstmsum-sig", where="extra.pt")
    with pytest.raises(DataError, match="no known"):
        detect_arch(extra, where="extra.pt")
    with pytest.raises(DataError, match="shape"):  # an LFB layout read as LFCC
        convert_state_dict(sd, arch="lfb-lcnn-lstmsum-sig", where="x.pt")
    with pytest.raises(UserError, match="not a known seed architecture"):
        convert_state_dict(sd, arch="lfcc-lcnn-lstm-p2s")
    assert not (tmp_path / "m.pt").exists()  # nothing half-written


def test_all_36_registered_and_am_p2s_tie(shared_data, tmp_path):
    from pylib.models.seed_import import arch_names

    assert len(NAMES) == 36 and set(NAMES) <= set(arch_names())
    sd = torch.load(shared_data / CKPT, map_location="cpu", weights_only=True)
    assert identify(sd) == ["lfcc-lcnn-lstmsum-sig"]
    # the same checkpoint given a 64-dim embedding and a (64, 2) class matrix: am and p2s alike
    angular = {k: v for k, v in sd.items() if not k.startswith("m_output_act")}
    g = torch.Generator().manual_seed(0)
    angular["m_output_act.0.weight"] = torch.randn(64, 96, generator=g) * 0.1
    angular["m_output_act.0.bias"] = torch.zeros(64)
    angular["m_angle.0.weight"] = torch.randn(64, 2, generator=g)
    with pytest.raises(DataError, match="lfcc-lcnn-lstmsum-am, lfcc-lcnn-lstmsum-p2s; pass --arch"):
        detect_arch(angular, where="tie.pt")
    ckpt = tmp_path / "tie.pt"
    torch.save(angular, ckpt)
    with pytest.raises(DataError, match="several"):
        cli.main(["--checkpoint", str(ckpt), "--out", str(tmp_path / "m.pt")])
    for arch, head in [("lfcc-lcnn-lstmsum-p2s", "p2sgrad"), ("lfcc-lcnn-lstmsum-am", "am_softmax")]:
        out = tmp_path / f"{head}.pt"
        assert cli.main(["--checkpoint", str(ckpt), "--arch", arch, "--out", str(out)]) == 0
        model = load_cm_model(out)
        assert model.cfg.head == head and model.cfg.emb_dim == 64 and model.cfg.lstm_pool == "sum"
        torch.testing.assert_close(model.head.weight, angular["m_angle.0.weight"])
    # one more (a 1-column class vector) is oc, and unique
    angular["m_angle.0.weight"] = torch.randn(64, 1, generator=g)
    assert detect_arch(angular) == "lfcc-lcnn-lstmsum-oc"
