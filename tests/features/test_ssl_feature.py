"""The `ssl` extractor: stage 1 caches frozen SSL frames like any <f4 feature, and features.yaml
records the checkpoint's hash so that a changed checkpoint invalidates the dump."""

import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml

from pylib.errors import ConfigError, UserError
from pylib.features import extract_job, parse_features
from pylib.features.extractors import describe_outputs
from pylib.features.ssl import checkpoint_hash
from pylib.io import read_f4, read_utt2num_frames, read_wav, write_wav
from pylib.models.ssl import build_ssl_frontend
from pylib.models.ssl.fairseq import save_hf_folder
from pylib.models.ssl.tiny import make_tiny_model


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("sslfeat")
    save_hf_folder(make_tiny_model("wav2vec2", seed=0), root / "tiny")
    rng = np.random.default_rng(0)
    lines = []
    for utt, n in (("a", 8000), ("b", 5120)):
        write_wav(root / f"{utt}.wav", 16000, (0.1 * rng.standard_normal(n)).astype(np.float32))
        lines.append(f"{utt} {root / f'{utt}.wav'}\n")
    (root / "wav.scp").write_text("".join(lines))
    return root


def _section(root, **kw):
    return {"sample_rate": 16000, "extractors": {"w2v": {"type": "ssl", "path": str(root / "tiny"), **kw}}}


def test_dump_frames_dims_and_checkpoint_hash(setup):
    root, dump = setup, setup / "dump"
    section = _section(setup, layers="all")
    assert describe_outputs(parse_features(section))["w2v"] | {"origins": None} == {
        "dim": 96,
        "hop": 320,
        "ext": ".f4",
        "origins": None,
    }
    counts = extract_job(section, root / "wav.scp", dump, progress=False)
    assert counts["extracted"] == 2
    settings = yaml.safe_load((dump / "features.yaml").read_text())
    assert settings["outputs"]["w2v"] == {
        "dim": 96,
        "hop": 320,
        "ext": ".f4",
        "checkpoint": checkpoint_hash(root / "tiny"),
    }
    assert read_utt2num_frames(dump / "w2v" / "utt2num_frames") == {"a": 24, "b": 15}
    fe = build_ssl_frontend({"path": str(root / "tiny"), "layers": "all"})
    wav = torch.from_numpy(read_wav(root / "a.wav")[1].astype(np.float32))[None]
    want = fe(wav)[0][0].reshape(24, -1).numpy()  # (N, L, D) -> layer-major rows
    np.testing.assert_allclose(read_f4(dump / "w2v" / "a.f4", 96), want, rtol=1e-4, atol=1e-5)
    assert extract_job(section, root / "wav.scp", dump, progress=False)["skipped"] == 2

    # another checkpoint at the same path: the dump is refused, as for any changed setting
    save_hf_folder(make_tiny_model("wav2vec2", seed=1), root / "tiny", overwrite=True)
    with pytest.raises(ConfigError, match=r"outputs\.w2v\.checkpoint was .*--overwrite"):
        extract_job(section, root / "wav.scp", dump, progress=False)
    redone = extract_job(section, root / "wav.scp", dump, overwrite=True, progress=False)
    assert redone["extracted"] == 2
    assert not np.allclose(read_f4(dump / "w2v" / "a.f4", 96), want, atol=1e-3)


def test_layer_choice_and_bad_settings(setup, tmp_path):
    assert describe_outputs(parse_features(_section(setup, layers=1)))["w2v"]["dim"] == 32
    with pytest.raises(ConfigError, match="out of range"):
        describe_outputs(parse_features(_section(setup, layers=5)))
    with pytest.raises(ConfigError, match="16 kHz"):
        describe_outputs(parse_features({**_section(setup), "sample_rate": 22050}))
    with pytest.raises(UserError, match="nnsp downloads nothing"):
        describe_outputs(
            parse_features({"extractors": {"w2v": {"type": "ssl", "path": str(tmp_path / "none")}}})
        )
    with pytest.raises(ConfigError, match="unknown key"):
        parse_features(_section(setup, finetune=True))


def test_stage_2_reads_dims_without_torch(setup):
    """make_lists / compute_stats ask the extractors' dims: for an ssl feature that reads config.json
    and imports neither torch nor transformers."""
    code = (
        "import sys; from pylib.features.extractors import describe_outputs, parse_features; "
        f"o = describe_outputs(parse_features({_section(setup, layers='all')!r}))['w2v']; "
        "print(o['dim'], o['hop'], 'torch' in sys.modules, 'transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["96", "320", "False", "False"]
