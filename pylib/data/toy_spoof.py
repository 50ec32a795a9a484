"""Spoofed copies of a corpus made by simple vocoders (the toy countermeasure recipe's attacks).

Each attack is analysis-resynthesis of the bona fide waveform, so a spoofed trial has the same
content, speaker and length as its source and differs only in the vocoder's artefacts:
- W1: WORLD (pyworld: DIO + StoneMask F0, CheapTrick envelope, D4C aperiodicity, synthesis);
- G1: Griffin-Lim phase reconstruction from an 80-band mel magnitude spectrogram (own numpy code);
- L1: LPC vocoder: per-frame all-pole envelope excited by a pulse train at the YIN F0 in voiced
  frames and white noise elsewhere (own code), a third, unrelated family kept for held-out tests.
Every output is scaled to the RMS of its source, so loudness gives the detector nothing.
Legend: T samples, N frames, F = n_fft // 2 + 1 bins, M mel bands.
"""

from pathlib import Path

import numpy as np
import scipy.linalg
import scipy.signal
from tqdm import tqdm

from pylib.errors import DataError
from pylib.features.f0 import compute_f0
from pylib.features.mel import mel_filterbank
from pylib.io import read_utt2spk, read_wav, read_wav_scp, write_table, write_utt2label, write_wav

ATTACKS = ("W1", "G1", "L1")


def world_resynth(wave, sample_rate, frame_ms=5.0):
    """W1: WORLD analysis-synthesis. wave (T,) -> (T,)."""
    import pyworld

    x = np.ascontiguousarray(wave, dtype=np.float64)
    f0, t = pyworld.dio(x, sample_rate, frame_period=frame_ms)
    f0 = pyworld.stonemask(x, f0, t, sample_rate)
    sp = pyworld.cheaptrick(x, f0, t, sample_rate)
    ap = pyworld.d4c(x, f0, t, sample_rate)
    return pyworld.synthesize(f0, sp, ap, sample_rate, frame_ms)


def _stft(x, n_fft, hop, window):
    """x (T,) -> complex (N, F), centred frames (zero padding n_fft // 2 both sides)."""
    pad = np.pad(x, n_fft // 2)
    frames = np.lib.stride_tricks.sliding_window_view(pad, n_fft)[::hop]
    return np.fft.rfft(frames * window, axis=1)


def _istft(spec, n_fft, hop, window, length):
    """Least-squares overlap-add inverse of `_stft`: (N, F) -> (length,)."""
    frames = np.fft.irfft(spec, n_fft, axis=1) * window
    total = (spec.shape[0] - 1) * hop + n_fft
    out, norm = np.zeros(total), np.zeros(total)
    for i, f in enumerate(frames):  # N frames, each a vector op
        out[i * hop : i * hop + n_fft] += f
        norm[i * hop : i * hop + n_fft] += window * window
    out = out / np.maximum(norm, 1e-8)
    return out[n_fft // 2 : n_fft // 2 + length]


def griffin_lim(magnitude, n_fft, hop, length, iterations=32, seed=0):
    """Phase for a magnitude (N, F) by Griffin & Lim's iteration -> waveform (length,)."""
    window = np.hanning(n_fft + 1)[:-1]
    rng = np.random.default_rng(seed)
    phase = np.exp(2j * np.pi * rng.random(magnitude.shape))
    for _ in range(iterations):
        x = _istft(magnitude * phase, n_fft, hop, window, length)
        spec = _stft(x, n_fft, hop, window)[: magnitude.shape[0]]
        phase = np.exp(1j * np.angle(spec))
    return _istft(magnitude * phase, n_fft, hop, window, length)


def griffin_lim_resynth(wave, sample_rate, n_fft=1024, hop=256, n_mels=80, iterations=32, seed=0):
    """G1: mel magnitude (M bands) -> linear magnitude by the filterbank's pseudo-inverse -> Griffin-Lim.

    wave (T,) -> (T,). The mel step loses the fine harmonic structure, as a mel vocoder does.
    """
    x = np.asarray(wave, dtype=np.float64)
    window = np.hanning(n_fft + 1)[:-1]
    mag = np.abs(_stft(x, n_fft, hop, window))  # (N, F)
    fb = mel_filterbank(sample_rate, n_fft, n_mels).astype(np.float64)  # (M, F)
    lin = np.maximum(mag @ fb.T @ np.linalg.pinv(fb).T, 0.0)
    return griffin_lim(lin, n_fft, hop, x.size, iterations, seed)


def _lpc(frames, order):
    """All-pole coefficients a (N, order+1) with a[:, 0] = 1 and residual power (N,), per windowed frame."""
    n = frames.shape[1]
    spec = np.fft.rfft(frames, 2 * n, axis=1)
    r = np.fft.irfft(np.abs(spec) ** 2, axis=1)[:, : order + 1]
    r[:, 0] *= 1.0 + 1e-6  # white-noise correction keeps the Toeplitz system well conditioned
    a = np.zeros((frames.shape[0], order + 1))
    a[:, 0] = 1.0
    err = np.zeros(frames.shape[0])
    for i, ri in enumerate(r):
        if ri[0] <= 1e-12:
            err[i] = 0.0
            continue
        coef = scipy.linalg.solve_toeplitz(ri[:order], ri[1 : order + 1])
        a[i, 1:] = -coef
        err[i] = max(ri[0] - coef @ ri[1 : order + 1], 1e-12)
    return a, err / n


def lpc_resynth(wave, sample_rate, order=16, frame_ms=20.0, hop_ms=5.0, seed=0):
    """L1: LPC vocoder, pulse train at the YIN F0 (voiced) or white noise (unvoiced). wave (T,) -> (T,)."""
    x = np.asarray(wave, dtype=np.float64)
    hop = int(round(sample_rate * hop_ms / 1000.0))
    flen = int(round(sample_rate * frame_ms / 1000.0))
    f0 = compute_f0(x, sample_rate, hop).astype(np.float64)  # (N,), N = T // hop + 1, centred frames
    n = f0.size
    pad = np.pad(x, (flen // 2, flen + n * hop))
    frames = np.lib.stride_tricks.sliding_window_view(pad, flen)[::hop][:n] * np.hanning(flen)
    a, power = _lpc(frames, order)
    # excitation: unit-power pulses (phase accumulated over the per-sample F0) or unit-variance noise
    f0_s = np.repeat(f0, hop)[: x.size]
    phase = np.cumsum(f0_s / sample_rate)
    pulses = (np.diff(np.floor(phase), prepend=0.0) > 0) * np.sqrt(sample_rate / np.maximum(f0_s, 1.0))
    noise = np.random.default_rng(seed).standard_normal(x.size)
    exc = np.where(f0_s > 0, pulses, noise)
    out = np.zeros(x.size)
    zi = np.zeros(order)
    for k in range(n):  # filter block by block with each frame's filter, carrying the state
        s, e = k * hop, min((k + 1) * hop, x.size)
        if s >= e:
            break
        gain = np.sqrt(power[k] * flen / np.sum(np.hanning(flen) ** 2))
        out[s:e], zi = scipy.signal.lfilter([gain], a[k], exc[s:e], zi=zi)
    return out


def _match_rms(y, ref, length):
    y = np.asarray(y, dtype=np.float64)[:length]
    if y.size < length:
        y = np.pad(y, (0, length - y.size))
    r_ref, r_y = np.sqrt(np.mean(ref**2)), np.sqrt(np.mean(y**2))
    if r_y > 1e-9:
        y = y * (r_ref / r_y)
    peak = np.max(np.abs(y)) if y.size else 0.0
    if peak > 0.99:  # keep inside PCM range without clipping artefacts the detector could learn
        y = y * (0.99 / peak)
    return y.astype(np.float32)


def spoof(wave, sample_rate, attack, seed=0):
    """One attack applied to wave (T,) -> (T,) float32 at the source's RMS."""
    if attack == "W1":
        y = world_resynth(wave, sample_rate)
    elif attack == "G1":
        y = griffin_lim_resynth(wave, sample_rate, seed=seed)
    elif attack == "L1":
        y = lpc_resynth(wave, sample_rate, seed=seed)
    else:
        raise ValueError(f"unknown attack {attack!r}; known: {', '.join(ATTACKS)}")
    return _match_rms(y, np.asarray(wave, dtype=np.float64), len(wave))


def make_spoof_set(src_dir, out_dir, attacks, seed=0, progress=True):
    """Bona fide data folder (wav.scp, utt2spk) -> out_dir with the bona fide trials plus one spoofed
    copy per attack: wavs/<utt>-<attack>.wav, wav.scp, utt2spk, utt2label (all sorted).

    Returns {"bonafide": n, "spoof": n, "attacks": list}.
    """
    src_dir, out_dir = Path(src_dir), Path(out_dir)
    unknown = [a for a in attacks if a not in ATTACKS]
    if unknown or not attacks:
        raise DataError(f"attacks {list(attacks)}: choose one or more of {', '.join(ATTACKS)}")
    scp = read_wav_scp(src_dir / "wav.scp")
    utt2spk = read_utt2spk(src_dir / "utt2spk")
    missing = sorted(set(scp) - set(utt2spk))
    if missing:
        raise DataError(f"{src_dir / 'utt2spk'}: no speaker for {missing[:5]}; the data folder is "
                        "inconsistent")
    wav_dir = out_dir / "wavs"
    wav_dir.mkdir(parents=True, exist_ok=True)
    new_scp, new_spk, labels = {}, {}, {}
    items = tqdm(sorted(scp.items()), desc=f"spoof {out_dir.name}", disable=not progress)
    for i, (utt, entry) in enumerate(items):
        path = Path(entry)
        if not path.is_absolute():
            path = path.resolve()
        sr, wave = read_wav(path)
        new_scp[utt], new_spk[utt], labels[utt] = str(path), utt2spk[utt], ("bonafide", "-")
        for attack in attacks:
            sid = f"{utt}-{attack}"
            dest = wav_dir / f"{sid}.wav"
            if not dest.is_file():  # a rerun keeps finished files
                write_wav(dest, sr, spoof(wave, sr, attack, seed=seed * 100003 + i))
            new_scp[sid], new_spk[sid], labels[sid] = str(dest.resolve()), utt2spk[utt], ("spoof", attack)
    write_table(out_dir / "wav.scp", new_scp)
    write_table(out_dir / "utt2spk", new_spk)
    write_utt2label(out_dir / "utt2label", labels)
    n_bona = len(scp)
    return {"bonafide": n_bona, "spoof": len(new_scp) - n_bona, "attacks": list(attacks)}
