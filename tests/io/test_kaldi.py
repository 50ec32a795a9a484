"""Kaldi ark/scp <-> <f4 dump folders: round trips (empty matrices included) and bad inputs."""

import kaldiio
import numpy as np
import pytest

from pylib.bin import convert_feats
from pylib.errors import DataError, UserError
from pylib.io import f4_to_kaldi, kaldi_to_f4, read_f4, read_list, read_utt2num_frames, write_f4
from tests.conftest import rng


def _mats(dim=5, seed=0):
    g = rng(seed)
    return {
        "utt1": g.standard_normal((7, dim)).astype(np.float32),
        "utt2": np.zeros((0, dim), dtype=np.float32),
        "utt3": g.standard_normal((1, dim)).astype(np.float32),
    }


@pytest.mark.parametrize("kind", ["scp", "ark"])
def test_kaldi_to_f4_round_trip(tmp_path, kind):
    mats = _mats()
    ark, scp = tmp_path / "feats.ark", tmp_path / "feats.scp"
    kaldiio.save_ark(str(ark), mats, scp=str(scp))
    src = scp if kind == "scp" else ark
    dim, frames = kaldi_to_f4(src, tmp_path / "dump" / "mel", kind=kind)
    assert dim == 5
    assert frames == {"utt1": 7, "utt2": 0, "utt3": 1}
    out = tmp_path / "dump" / "mel"
    for utt, m in mats.items():
        np.testing.assert_array_equal(read_f4(out / f"{utt}.f4", 5), m)
    assert read_utt2num_frames(out / "utt2num_frames") == frames
    assert read_list(out / "mel.lst") == ["utt1", "utt2", "utt3"]

    # and back: the ark read by kaldiio equals the originals, empty matrix included
    frames2 = f4_to_kaldi(out, 5, tmp_path / "back.ark")
    assert frames2 == frames
    back = kaldiio.load_scp(str(tmp_path / "back.scp"))
    assert list(back.keys()) == ["utt1", "utt2", "utt3"]
    np.testing.assert_array_equal(back["utt1"], mats["utt1"])
    assert back["utt2"].size == 0
    np.testing.assert_array_equal(back["utt3"], mats["utt3"])


def test_kaldi_empty_matrix_takes_dim_of_others(tmp_path):
    ark = tmp_path / "a.ark"
    kaldiio.save_ark(str(ark), {"a": np.zeros((0, 0), np.float32), "b": np.ones((2, 3), np.float32)})
    dim, _ = kaldi_to_f4(ark, tmp_path / "d", kind="ark", dim=3)
    assert dim == 3
    assert read_f4(tmp_path / "d" / "a.f4", 3).shape == (0, 3)


def test_f4_to_kaldi_with_list_and_compression(tmp_path):
    d = tmp_path / "mel"
    for utt, m in _mats(dim=4).items():
        write_f4(d / f"{utt}.f4", m)
    (tmp_path / "sub.lst").write_text("utt3\nutt1\n")
    frames = f4_to_kaldi(
        d, 4, tmp_path / "o.ark", tmp_path / "x.scp", list_path=tmp_path / "sub.lst", compress=True
    )
    assert frames == {"utt3": 1, "utt1": 7}
    back = kaldiio.load_scp(str(tmp_path / "x.scp"))
    assert list(back.keys()) == ["utt3", "utt1"]
    np.testing.assert_allclose(back["utt1"], _mats(dim=4)["utt1"], atol=0.05)


def test_cli_round_trip(tmp_path, capsys):
    mats = _mats(dim=3, seed=1)
    kaldiio.save_ark(str(tmp_path / "f.ark"), mats, scp=str(tmp_path / "f.scp"))
    assert convert_feats.main(["--from-scp", str(tmp_path / "f.scp"), "--to-dir", str(tmp_path / "d"),
                               "--list", str(tmp_path / "all.lst")]) == 0
    assert "3 utterances (dim 3" in capsys.readouterr().out
    assert read_list(tmp_path / "all.lst") == sorted(mats)
    assert convert_feats.main(["--from-dir", str(tmp_path / "d"), "--dim", "3",
                               "--to-ark", str(tmp_path / "g.ark")]) == 0
    back = dict(kaldiio.load_ark(str(tmp_path / "g.ark")))
    np.testing.assert_array_equal(back["utt1"], mats["utt1"])
    assert (tmp_path / "g.scp").is_file()


def test_cli_help_and_bad_combinations(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        convert_feats.main(["--help"])
    assert e.value.code == 0
    assert "--from-scp" in capsys.readouterr().out
    with pytest.raises(UserError) as e:
        convert_feats.main(["--from-dir", str(tmp_path), "--to-ark", str(tmp_path / "x.ark")])
    assert "--dim" in str(e.value)
    with pytest.raises(UserError):
        convert_feats.main(["--from-scp", "x.scp", "--to-ark", "y.ark"])


def test_missing_ark_names_the_scp_and_utterance(tmp_path):
    ark, scp = tmp_path / "f.ark", tmp_path / "f.scp"
    kaldiio.save_ark(str(ark), _mats(), scp=str(scp))
    ark.unlink()
    with pytest.raises(DataError, match=r"f\.scp.*utt1.*missing file"):
        kaldi_to_f4(scp, tmp_path / "d")


def test_missing_inputs(tmp_path):
    with pytest.raises(DataError, match="scp file not found"):
        kaldi_to_f4(tmp_path / "nope.scp", tmp_path / "d")
    with pytest.raises(DataError, match="ark file not found"):
        kaldi_to_f4(tmp_path / "nope.ark", tmp_path / "d", kind="ark")
    with pytest.raises(DataError, match="feature folder not found"):
        f4_to_kaldi(tmp_path / "nodir", 3, tmp_path / "o.ark")


def test_wrong_dim_on_import(tmp_path):
    ark = tmp_path / "f.ark"
    kaldiio.save_ark(str(ark), {"a": np.ones((2, 3), np.float32), "b": np.ones((2, 4), np.float32)})
    with pytest.raises(DataError, match=r"'b' has dim 4, expected 3"):
        kaldi_to_f4(ark, tmp_path / "d", kind="ark")
    with pytest.raises(DataError, match=r"'a' has dim 3, expected 5"):
        kaldi_to_f4(ark, tmp_path / "d2", kind="ark", dim=5)


def test_wrong_dim_on_export(tmp_path):
    d = tmp_path / "mel"
    kaldi_to_f4_src = tmp_path / "f.ark"
    kaldiio.save_ark(str(kaldi_to_f4_src), {"a": np.ones((6, 4), np.float32)})
    kaldi_to_f4(kaldi_to_f4_src, d, kind="ark")
    with pytest.raises(DataError, match="not a multiple of dim"):
        f4_to_kaldi(d, 5, tmp_path / "o.ark")
    # dim 2 divides the size: utt2num_frames catches it
    with pytest.raises(DataError, match="utt2num_frames says 6"):
        f4_to_kaldi(d, 2, tmp_path / "o.ark")
    assert not (tmp_path / "o.ark").exists()  # nothing half-written


def test_nan_vector_and_audio_entries_refused(tmp_path):
    ark = tmp_path / "n.ark"
    kaldiio.save_ark(str(ark), {"a": np.array([[0.0, np.nan]], np.float32)})
    with pytest.raises(DataError, match="NaN or Inf"):
        kaldi_to_f4(ark, tmp_path / "d", kind="ark")
    vec = tmp_path / "v.ark"
    kaldiio.save_ark(str(vec), {"a": np.arange(4, dtype=np.float32)})
    with pytest.raises(DataError, match="vectors-as-frames"):
        kaldi_to_f4(vec, tmp_path / "d", kind="ark")
    dim, frames = kaldi_to_f4(vec, tmp_path / "d", kind="ark", vectors_as_frames=True)
    assert (dim, frames) == (1, {"a": 4})
    wav = tmp_path / "w.ark"
    kaldiio.save_ark(str(wav), {"a": (16000, np.zeros(100, np.int16))})
    with pytest.raises(DataError, match="is audio"):
        kaldi_to_f4(wav, tmp_path / "d", kind="ark")


def test_garbage_ark(tmp_path):
    bad = tmp_path / "bad.ark"
    bad.write_bytes(b"utt1 \x00Bgarbage")
    with pytest.raises(DataError, match="bad.ark"):
        kaldi_to_f4(bad, tmp_path / "d", kind="ark")
