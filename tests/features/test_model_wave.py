"""One waveform loader: score_wavs (and vocode) prepare audio exactly as stage-1 extraction did."""

import numpy as np
import pytest

from pylib.engine.score_folder import model_input
from pylib.errors import DataError, UserError
from pylib.features import extract_job
from pylib.features.wave import ModelWave, load_wave, resample, resample_keep_silence
from pylib.io import read_f4, read_wav, write_table, write_wav
from tests.conftest import sine

FEATURES = {
    "sample_rate": 16000,
    "resample": True,
    "extractors": {
        "wav": {"type": "wave", "format": "f4"},  # float32 as computed
        "w16": {"type": "wave", "format": "wav", "norm": "peak", "peak": 0.5},  # normalised, 16-bit
    },
}


def _config(features, name="wav"):
    inputs = [{"name": name, "dim": 1, "hop": 1, "ext": ".f4"}]
    return {"features": features, "data": {"sample_rate": features["sample_rate"], "inputs": inputs}}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A 16 kHz file and a 22.05 kHz one, each after 0.1 s of exact digital silence."""
    root = tmp_path_factory.mktemp("rates")
    for utt, sr in (("native", 16000), ("other", 22050)):
        wave = np.concatenate([np.zeros(sr // 10, np.float32), sine(330.0, sr=sr, seconds=0.3, amp=0.3)])
        write_wav(root / f"{utt}.wav", sr, wave)
    write_table(root / "wav.scp", {u: str(root / f"{u}.wav") for u in ("native", "other")})
    dump = root / "dump"
    extract_job(FEATURES, root / "wav.scp", dump, progress=False)
    return root, dump


@pytest.mark.parametrize("utt", ["native", "other"])
def test_score_wavs_loads_what_extraction_stored(corpus, utt):
    root, dump = corpus
    stored = read_f4(dump / "wav" / f"{utt}.f4", 1)[:, 0]
    reader = model_input(_config(FEATURES))  # what score_wavs reads every file with
    got = reader(root / f"{utt}.wav")
    assert reader.name == "wav" and got.dtype == np.float32
    np.testing.assert_array_equal(got, stored)
    # the level normalisation and the 16-bit storage of a PCM_16 wave dump are remade too
    _, stored16 = read_wav(dump / "w16" / f"{utt}.wav")
    np.testing.assert_array_equal(ModelWave(_config(FEATURES, "w16"), "w16")(root / f"{utt}.wav"), stored16)
    assert np.abs(stored16).max() == pytest.approx(0.5, abs=1e-4)


def test_resampling_keeps_digital_silence_in_both(corpus):
    root, dump = corpus
    stored = read_f4(dump / "wav" / "other.f4", 1)[:, 0]
    edge = 1599  # the last 16 kHz sample inside the 0.1 s of silence
    assert np.count_nonzero(stored[:edge]) == 0
    sr, wave = read_wav(root / "other.wav")
    np.testing.assert_array_equal(stored, resample_keep_silence(wave, sr, 16000))
    assert np.count_nonzero(resample(wave, sr, 16000)[:edge]) > 0  # plain polyphase rings into it


def test_rate_policy_and_bad_inputs(corpus):
    root, _ = corpus
    strict = {**FEATURES, "resample": False}
    assert ModelWave(_config(strict), "wav")(root / "other.wav").size == 6400  # tools take any rate
    with pytest.raises(DataError, match="22050 Hz, but the recipe expects 16000"):
        ModelWave(_config(strict), "wav", strict_rate=True)(root / "other.wav")
    with pytest.raises(DataError, match="22050 Hz"):
        load_wave(root / "other.wav", 16000, allow_resample=False)
    mel = {"type": "logmel", "n_fft": 256, "hop": 80, "win_length": 160, "n_mels": 8}
    with_mel = {**FEATURES, "extractors": {**FEATURES["extractors"], "mel": mel}}
    with pytest.raises(UserError, match="'mel' is not a `wave` extractor"):
        ModelWave(_config(with_mel, "mel"), "mel")
    imported = {"data": {"sample_rate": 8000}}  # no features section: the data rate, any input rate
    assert ModelWave(imported, "wav")(root / "native.wav").size == 3200
