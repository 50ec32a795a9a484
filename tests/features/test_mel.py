import librosa
import numpy as np
import pytest
import torch

from pylib.features.mel import LogMel, hz_to_mel, log_mel, mel_filterbank, mel_to_hz
from tests.conftest import noise, sine


@pytest.mark.parametrize(
    "sr,n_fft,n_mels,fmin,fmax",
    [
        (16000, 1024, 80, 0, 8000),
        (22050, 1024, 80, 0, None),
        (16000, 512, 40, 80, 7600),
        (24000, 2048, 128, 20, 12000),
    ],
)
def test_filterbank_equals_librosa(sr, n_fft, n_mels, fmin, fmax):
    ours = mel_filterbank(sr, n_fft, n_mels, fmin, fmax)
    ref = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    assert ours.shape == (n_mels, n_fft // 2 + 1)
    np.testing.assert_allclose(ours, ref, atol=1e-6, rtol=0)


def test_mel_scale_round_trip():
    hz = np.array([0.0, 100.0, 999.0, 1000.0, 4000.0, 11025.0])
    np.testing.assert_allclose(mel_to_hz(hz_to_mel(hz)), hz, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(hz_to_mel(hz), librosa.hz_to_mel(hz), rtol=1e-9)


def librosa_melspectrogram(x, sr, n_fft, hop, win_length, n_mels, fmin, fmax, power):
    """librosa.feature.melspectrogram(y=x, ..., window="hann", center=True, pad_mode="constant"):
    librosa's window (periodic Hann, zero-padded to n_fft in the middle, as librosa.stft pads it)
    and librosa's filterbank, on the frames librosa.stft takes (x padded by n_fft // 2 zeros on both
    sides, one frame every `hop` samples), in float64. Equal to librosa.feature.melspectrogram to
    float32 round-off on this test's inputs. Calling librosa.stft or librosa.feature instead
    imports librosa.util.utils and librosa.core.audio/pitch, whose numba kernels compile at import:
    ~35 s of CPU on a machine with a cold numba cache (a fresh CI venv), for a 20 ms computation."""
    window = librosa.filters.get_window("hann", win_length, fftbins=True)
    left = (n_fft - win_length) // 2
    window = np.pad(window, (left, n_fft - win_length - left))
    frames = np.lib.stride_tricks.sliding_window_view(np.pad(x.astype(np.float64), n_fft // 2), n_fft)[::hop]
    spec = np.abs(np.fft.rfft(frames * window, axis=1)).T ** power
    basis = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    return basis @ spec


@pytest.mark.parametrize("power", [1.0, 2.0])
@pytest.mark.parametrize("length", [16000, 8001, 1237])
def test_log_mel_equals_librosa(power, length):
    x = (sine(220.0, seconds=1.0) + noise(seconds=1.0, seed=3))[:length]
    ours = log_mel(
        torch.from_numpy(x), 16000, 1024, 80, 320, 80, 0, 8000, log_floor=1e-5, power=power
    ).numpy()
    mel = librosa_melspectrogram(x, 16000, 1024, 80, 320, 80, 0, 8000, power)
    ref = np.log(np.maximum(mel, 1e-5)).T
    assert ours.shape == ref.shape == (length // 80 + 1, 80)
    np.testing.assert_allclose(ours, ref, atol=1e-4, rtol=0)


def test_log_mel_batched_matches_single_and_is_differentiable():
    x = torch.from_numpy(np.stack([noise(seconds=0.2, seed=s) for s in range(3)])).reshape(3, 1, -1)
    x.requires_grad_(True)
    out = log_mel(x, 16000, 512, 80, 320, 40, 0, None)
    assert out.shape == (3, 1, 3200 // 80 + 1, 40)
    single = log_mel(x[1, 0].detach(), 16000, 512, 80, 320, 40, 0, None)
    torch.testing.assert_close(out[1, 0].detach(), single)
    out.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_logmel_module_holds_buffers_and_equals_function():
    m = LogMel(16000, 1024, 80, 320, 80, 0, 8000)
    assert set(dict(m.named_buffers())) == {"fbank", "window"}
    x = torch.from_numpy(noise(seconds=0.3))
    torch.testing.assert_close(m(x), log_mel(x, 16000, 1024, 80, 320, 80, 0, 8000))


def test_log_floor_applies_on_silence():
    out = log_mel(torch.zeros(801), 16000, 1024, 80, 320, 80, 0, 8000, log_floor=1e-5)
    assert out.shape == (11, 80)
    torch.testing.assert_close(out, torch.full_like(out, float(np.log(1e-5))))


def test_bad_filterbank_range_is_an_error():
    with pytest.raises(ValueError, match="fmax"):
        mel_filterbank(16000, 1024, 80, 0, 9000)
