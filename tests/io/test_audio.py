import wave

import numpy as np
import pytest
import soundfile as sf
from scipy.io import wavfile

from pylib.errors import DataError
from pylib.io import audio_info, read_wav, read_wav_entry, write_wav
from tests.conftest import sine


@pytest.mark.parametrize(
    "subtype,tol", [("PCM_16", 1 / 32768), ("PCM_24", 1e-6), ("PCM_32", 1e-7), ("FLOAT", 0.0)]
)
@pytest.mark.parametrize("ext", [".wav", ".flac"])
def test_round_trip(tmp_path, subtype, tol, ext):
    if ext == ".flac" and subtype in ("PCM_32", "FLOAT"):
        pytest.skip("flac holds at most 24-bit PCM")
    x = sine(seconds=0.1)
    p = write_wav(tmp_path / f"a{ext}", 16000, x, subtype=subtype)
    sr, y = read_wav(p)
    assert sr == 16000 and y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_allclose(y, x, atol=tol + 1e-9)
    assert audio_info(p) == (16000, len(x))


def test_scipy_written_int16_and_float(tmp_path):
    x = sine(seconds=0.05)
    wavfile.write(tmp_path / "i.wav", 8000, (x * 32767).astype(np.int16))
    wavfile.write(tmp_path / "f.wav", 8000, x)
    assert read_wav(tmp_path / "i.wav")[0] == 8000
    np.testing.assert_allclose(read_wav(tmp_path / "i.wav")[1], x, atol=1e-4)
    np.testing.assert_array_equal(read_wav(tmp_path / "f.wav")[1], x)


def test_pcm16_clips_instead_of_wrapping(tmp_path):
    p = write_wav(tmp_path / "c.wav", 16000, np.array([2.0, -2.0, 0.5], np.float32))
    y = read_wav(p)[1]
    assert y[0] > 0.99 and y[1] == -1.0


def test_stereo_is_an_error(tmp_path):
    sf.write(tmp_path / "s.wav", np.zeros((100, 2), np.float32), 16000)
    with pytest.raises(DataError, match=r"s\.wav.*2 channels"):
        read_wav(tmp_path / "s.wav")


def test_empty_file_is_an_error(tmp_path):
    sf.write(tmp_path / "e.wav", np.zeros(0, np.float32), 16000, subtype="PCM_16")
    with pytest.raises(DataError, match=r"e\.wav.*no samples"):
        read_wav(tmp_path / "e.wav")


@pytest.mark.parametrize("content", [b"", b"RIFF1234WAVEgarbage", b"not audio at all" * 10])
def test_unreadable_is_an_error(tmp_path, content):
    (tmp_path / "u.wav").write_bytes(content)
    with pytest.raises(DataError, match=r"u\.wav"):
        read_wav(tmp_path / "u.wav")


def test_8bit_is_an_error(tmp_path):
    with wave.open(str(tmp_path / "b.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(16000)
        w.writeframes(bytes(range(100)))
    with pytest.raises(DataError, match=r"b\.wav.*PCM_U8"):
        read_wav(tmp_path / "b.wav")


def test_flac_named_wav_is_an_error(tmp_path):
    sf.write(tmp_path / "x.wav", sine(seconds=0.05), 16000, format="FLAC")
    with pytest.raises(DataError, match=r"x\.wav.*FLAC"):
        read_wav(tmp_path / "x.wav")


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_wav(tmp_path / "none.wav")


def test_scp_entry_pipe_and_rate_check(tmp_path):
    p = write_wav(tmp_path / "a.wav", 16000, sine(seconds=0.1))
    sr, y = read_wav_entry(f"cat {p} |")
    assert sr == 16000 and len(y) == 1600
    assert read_wav_entry(str(p), sample_rate=16000)[0] == 16000
    with pytest.raises(DataError, match="expects 22050"):
        read_wav_entry(str(p), sample_rate=22050)
    with pytest.raises(DataError, match="failed"):
        read_wav_entry("false |")
