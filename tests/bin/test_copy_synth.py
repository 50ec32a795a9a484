"""python -m pylib.bin.copy_synth: a vocoded spoof data dir from the bona fide utterances, resumable."""

import copy
import logging
import shutil

import numpy as np
import pytest
import torch

from pylib.bin import copy_synth
from pylib.engine.build import build_model
from pylib.engine.export import FORMAT, VERSION
from pylib.errors import DataError, UserError
from pylib.io import read_table, read_utt2label, read_wav, write_table, write_wav
from pylib.models.catalogue import get_model_class
from tests.conftest import sine
from tests.tiny_vocoders import TINY

TINY_HIFIGAN = TINY["hifigan"]


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """A tiny randomly initialised HiFi-GAN saved as a one-file model (what export_model writes)."""
    from pylib.engine.data import spec_for

    config = copy.deepcopy(TINY_HIFIGAN)
    spec, config["data"] = spec_for(config)
    torch.manual_seed(0)
    model, msec = build_model(config, spec, get_model_class)
    path = tmp_path_factory.mktemp("voc") / "nsf.pt"
    torch.save({"format": FORMAT, "version": VERSION, "config": {**config, "model": msec},
                "state_dict": model.state_dict()}, path)
    return path


def _data_dir(tmp_path):
    d = tmp_path / "train"
    d.mkdir()
    scp = {}
    for i, u in enumerate(["s1_a", "s1_b", "s2_c"]):
        write_wav(d / f"{u}.wav", 16000, sine(120.0 + 40 * i, 16000, 0.15))
        scp[u] = str(d / f"{u}.wav")
    write_table(d / "wav.scp", scp)
    write_table(d / "utt2spk", {"s1_a": "s1", "s1_b": "s1", "s2_c": "s2"})
    (d / "utt2label").write_text("s1_a bonafide -\ns1_b spoof A01\ns2_c bonafide -\n")
    return d


def _run(tmp_path, model_file, *extra):
    voc2 = tmp_path / "hifi.pt"
    if not voc2.exists():
        shutil.copy(model_file, voc2)
    argv = ["--source", str(tmp_path / "train"), "--vocoders", str(model_file), str(voc2),
            "--out", str(tmp_path / "voc"), "--no-progress", *extra]
    return copy_synth.main(argv)


def _mtimes(out):
    return {p.name: p.stat().st_mtime_ns for p in sorted((out / "wav").glob("*.wav"))}


def test_copy_synth_writes_a_spoof_data_dir_and_resumes(tmp_path, model_file, caplog):
    _data_dir(tmp_path)
    assert _run(tmp_path, model_file, "--sample-rate", "8000") == 0
    out = tmp_path / "voc"
    ids = ["s1_a__hifi", "s1_a__nsf", "s2_c__hifi", "s2_c__nsf"]  # the spoof s1_b is not vocoded
    assert sorted(read_table(out / "wav.scp")) == ids
    assert read_utt2label(out / "utt2label") == {u: ("spoof", u.split("__")[1]) for u in ids}
    assert read_table(out / "utt2vocoder") == {u: u.split("__")[1] for u in ids}
    assert read_table(out / "utt2spk") == {"s1_a__hifi": "s1", "s1_a__nsf": "s1", "s2_c__hifi": "s2",
                                           "s2_c__nsf": "s2"}
    sr, wave = read_wav(out / "wav" / "s1_a__nsf.wav")
    assert sr == 8000 and wave.size == 1200 and np.isfinite(wave).all() and np.abs(wave).max() > 0
    first = _mtimes(out)
    # a rerun redoes nothing; a changed source redoes its outputs only
    caplog.set_level(logging.INFO, logger="nnsp.copy_synth")
    _run(tmp_path, model_file, "--sample-rate", "8000")
    assert _mtimes(out) == first and "0 written, 4 unchanged" in caplog.text
    write_wav(tmp_path / "train" / "s2_c.wav", 16000, sine(300.0, 16000, 0.2))
    _run(tmp_path, model_file, "--sample-rate", "8000")
    now = _mtimes(out)
    assert [n for n in now if now[n] != first[n]] == ["s2_c__hifi.wav", "s2_c__nsf.wav"]
    assert read_wav(out / "wav" / "s2_c__nsf.wav")[1].size == 1600
    # a kill mid-write: the torn last record line is dropped and its output redone
    done = out / copy_synth.DONE
    lines = done.read_text().splitlines(keepends=True)
    done.write_text("".join(lines[:-1]) + lines[-1][:10])
    caplog.clear()
    _run(tmp_path, model_file, "--sample-rate", "8000")
    assert "1 written, 3 unchanged" in caplog.text


def test_copy_synth_errors(tmp_path, model_file):
    d = _data_dir(tmp_path)
    base = ["--source", str(d), "--out", str(tmp_path / "o")]
    with pytest.raises(UserError, match="--names gives 1 name.* for 2"):
        copy_synth.main([*base, "--vocoders", str(model_file), str(model_file), "--names", "x"])
    with pytest.raises(UserError, match="given twice"):
        copy_synth.main([*base, "--vocoders", str(model_file), str(model_file)])
    with pytest.raises(UserError, match="vocoder name 'a b' contains whitespace"):
        copy_synth.main([*base, "--vocoders", str(model_file), "--names", "a b"])
    with pytest.raises(UserError, match="not found: .*missing.pt"):
        copy_synth.main([*base, "--vocoders", str(tmp_path / "missing.pt")])
    with pytest.raises(UserError, match="inside. the --source data folder"):
        copy_synth.main(["--source", str(d), "--out", str(d / "voc"), "--vocoders", str(model_file)])
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="wav.scp: not found"):
        copy_synth.main(["--source", str(tmp_path / "empty"), *base[2:], "--vocoders", str(model_file)])
    (d / "utt2label").write_text("s1_a spoof A01\ns1_b spoof A01\ns2_c spoof A02\n")
    with pytest.raises(DataError, match="no utterance of wav.scp is labelled bonafide"):
        copy_synth.main([*base, "--vocoders", str(model_file)])
