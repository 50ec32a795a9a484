"""A deterministic toy speech corpus with known F0, in pure numpy (the toy recipes' stage 0).

Each utterance is a sequence of pauses, voiced "syllables" and unvoiced "fricatives":
- voiced: a Rosenberg-like glottal pulse train (derivative of the glottal flow, i.e. with lip
  radiation) whose F0 follows a smooth contour, plus a little aspiration noise, shaped by five
  formant resonances gliding between two vowel targets;
- unvoiced: white noise shaped by a broad high-frequency resonance (an "s"/"sh"-like hiss);
- pauses: low-level noise, so no frame is digital silence.
The time-varying filtering is done frame by frame in the STFT domain (zero-phase magnitude
envelopes, overlap-add), which keeps it vectorised. Speakers differ in F0 range and in
vocal-tract scale (all formants multiplied by one factor).

Ground truth F0 is given per 5 ms frame (hop TRUTH_HOP = 80 samples at 16 kHz, frame k at
sample k * hop, N = T // hop + 1), in Hz, 0 where the frame's sample is not inside a voiced span.
"""

import dataclasses
from pathlib import Path

import numpy as np

from pylib.io import write_f4, write_table, write_wav

TRUTH_HOP = 80  # at 16 kHz; 5 ms at any rate (see truth_hop)


def truth_hop(sample_rate):
    """Hop of the ground-truth F0 track: 5 ms (80 samples at 16 kHz)."""
    return sample_rate // 200


# (F1..F5) of five adult-male vowel targets in Hz (a, i, u, e, o), after Peterson & Barney's
# averages; F5 is a fixed upper resonance that gives the spectrum a realistic tilt.
VOWELS = np.array(
    [
        [730, 1090, 2440, 3400, 4500],
        [270, 2290, 3010, 3500, 4500],
        [300, 870, 2240, 3300, 4500],
        [530, 1840, 2480, 3500, 4500],
        [570, 840, 2410, 3300, 4500],
    ],
    dtype=np.float64,
)
BANDWIDTHS = np.array([80.0, 100.0, 140.0, 200.0, 300.0])

_FFT = 512
_HOP = 128


@dataclasses.dataclass
class Speaker:
    name: str
    f0_low: float  # Hz: bottom of the speaker's range
    f0_high: float  # Hz: top of the range
    vt_scale: float  # formant multiplier (1 = adult male, ~1.2 = adult female)


def make_speakers(num_speakers, seed):
    """Speakers spread from low-voiced (male-like) to high-voiced (female/child-like)."""
    g = np.random.default_rng([seed, 1])
    out = []
    for i in range(num_speakers):
        pos = i / max(1, num_speakers - 1)
        base = 85.0 * 2.0 ** (1.5 * pos + g.uniform(-0.1, 0.1))  # 85 Hz .. ~240 Hz
        out.append(
            Speaker(
                f"spk{i + 1:02d}",
                round(base, 1),
                round(base * 1.8, 1),
                round(1.0 + 0.25 * pos + g.uniform(-0.03, 0.03), 3),
            )
        )
    return out


def _resonance_gain(freqs, formants, bandwidths):
    """|H(f)| of a cascade of 2nd-order resonators with unit gain at DC.

    freqs: (F,); formants, bandwidths: (M, K) -> (M, F).
    """
    r = freqs[None, None, :] / formants[:, :, None]
    q = freqs[None, None, :] * bandwidths[:, :, None] / formants[:, :, None] ** 2
    return 1.0 / np.sqrt(np.prod((1.0 - r**2) ** 2 + q**2, axis=1))


def _stft_filter(x, envelopes):
    """Filter x (T,) by per-frame magnitude envelopes (M, _FFT//2+1), frame m centred on m*_HOP."""
    n = x.size
    m = envelopes.shape[0]
    win = np.hanning(_FFT + 1)[:-1]
    pad = np.zeros((m - 1) * _HOP + _FFT)
    pad[_FFT // 2 : _FFT // 2 + n] = x[: pad.size - _FFT // 2]
    frames = np.lib.stride_tricks.sliding_window_view(pad, _FFT)[::_HOP][:m] * win
    out_frames = np.fft.irfft(np.fft.rfft(frames, axis=1) * envelopes, _FFT, axis=1) * win
    out = np.zeros_like(pad)
    norm = np.zeros_like(pad)
    w2 = np.broadcast_to(win**2, (m, _FFT))
    # overlap-add: block j of every frame lands j hops later; hann^2 at hop N/4 sums to a constant
    for j in range(_FFT // _HOP):
        sl = slice(j * _HOP, (j + 1) * _HOP)
        out[j * _HOP : (j + m) * _HOP] += out_frames[:, sl].reshape(-1)
        norm[j * _HOP : (j + m) * _HOP] += w2[:, sl].reshape(-1)
    out /= np.maximum(norm, 1e-3)
    return out[_FFT // 2 : _FFT // 2 + n]


def _segments(g, duration):
    """Random layout [(kind, seconds)] filling `duration`: pauses, voiced and unvoiced spans."""
    segs = [("pause", g.uniform(0.08, 0.2))]
    total = segs[0][1]
    end_pause = g.uniform(0.08, 0.2)
    while total < duration - end_pause - 0.1:
        u = g.uniform()
        if u < 0.6:
            seg = ("voiced", g.uniform(0.12, 0.35))
        elif u < 0.8:
            seg = ("unvoiced", g.uniform(0.05, 0.14))
        else:
            seg = ("pause", g.uniform(0.04, 0.15))
        segs.append(seg)
        total += seg[1]
    segs.append(("pause", max(0.02, duration - total)))
    return segs


def _add_ramp_gain(gain, start, end, ramp, level):
    """Add `level` inside [start, end) to gain (T,), with raised-cosine ramps of `ramp` samples
    centred on both edges (half gain exactly at start and end)."""
    lo, hi = max(0, start - ramp), min(gain.size, end + ramp)
    t = np.arange(lo, hi)
    up = np.clip((t - start) / ramp + 0.5, 0, 1)
    down = np.clip((end - t) / ramp + 0.5, 0, 1)
    gain[lo:hi] += level * (0.5 - 0.5 * np.cos(np.pi * up)) * (0.5 - 0.5 * np.cos(np.pi * down))


def synth_utterance(speaker, duration, seed, sample_rate=16000):
    """One toy utterance -> (wave float32 (T,), f0 per sample (T,) in Hz with 0 = unvoiced)."""
    g = np.random.default_rng(seed)
    n = int(round(duration * sample_rate))
    t = np.arange(n) / sample_rate
    voiced_gain = np.zeros(n)
    noise_gain = np.zeros(n)
    f0 = np.zeros(n)
    # one slow phrase contour with declination; each syllable adds its own rise or fall
    lo, hi = np.log(speaker.f0_low), np.log(speaker.f0_high)
    phrase = lo + (hi - lo) * (
        0.65
        - 0.35 * t / max(duration, 1e-3)
        + 0.12 * np.sin(2 * np.pi * g.uniform(0.3, 0.8) * t + g.uniform(0, 6.3))
    )
    pos = 0
    vowel_track = np.zeros((n, 2), dtype=int)
    vowel_mix = np.zeros(n)
    ramp = int(0.012 * sample_rate)
    for kind, sec in _segments(g, duration):
        length = int(sec * sample_rate)
        a, b = pos, min(n, pos + length)
        if b <= a:
            break
        if kind == "voiced":
            _add_ramp_gain(voiced_gain, a, b, ramp, g.uniform(0.6, 1.0))
            tt = (np.arange(a, b) - a) / max(1, b - a)
            f0[a:b] = np.exp(
                np.clip(
                    phrase[a:b] + g.uniform(-0.15, 0.15) * np.sin(np.pi * tt) + g.uniform(-0.1, 0.1) * tt,
                    lo - 0.05,
                    hi + 0.05,
                )
            )
            vowel_track[a:b] = g.choice(len(VOWELS), 2)
            vowel_mix[a:b] = 0.5 - 0.5 * np.cos(np.pi * tt)
        elif kind == "unvoiced":
            _add_ramp_gain(noise_gain, a, b, ramp // 2, g.uniform(0.15, 0.3))
        pos = b
    # F0 must stay defined through the ramps: hold the nearest voiced value
    f0_held = f0.copy()
    idx = np.flatnonzero(f0 > 0)
    if idx.size:
        f0_held = np.interp(np.arange(n), idx, f0[idx])
    phase = np.cumsum(f0_held / sample_rate)
    frac = phase - np.floor(phase)
    tp, tn = 0.4, 0.16  # Rosenberg opening and closing shares of the period
    flow = np.where(
        frac < tp,
        0.5 - 0.5 * np.cos(np.pi * frac / tp),
        np.where(frac < tp + tn, np.cos(0.5 * np.pi * (frac - tp) / tn), 0.0),
    )
    source = np.diff(flow, prepend=flow[0]) * f0_held / 100.0  # radiation: d/dt, level-normalised
    source = source * voiced_gain + 0.02 * g.standard_normal(n) * voiced_gain
    hiss = g.standard_normal(n) * noise_gain

    m = n // _HOP + 1
    centres = np.minimum(np.arange(m) * _HOP, n - 1)
    freqs = np.fft.rfftfreq(_FFT, 1.0 / sample_rate)
    vt = (
        VOWELS[vowel_track[centres, 0]] * (1 - vowel_mix[centres, None])
        + VOWELS[vowel_track[centres, 1]] * vowel_mix[centres, None]
    )
    vt = np.minimum(vt * speaker.vt_scale, 0.45 * sample_rate)
    env_v = _resonance_gain(freqs, vt, np.broadcast_to(BANDWIDTHS * speaker.vt_scale, vt.shape))
    fric = np.array([[min(4500.0 * speaker.vt_scale, 0.4 * sample_rate)]])
    env_u = _resonance_gain(freqs, fric, np.array([[2500.0]])) * (freqs / (sample_rate / 2))[None, :]
    wave = _stft_filter(source, env_v) + _stft_filter(hiss, np.broadcast_to(env_u, env_v.shape))
    wave += 3e-4 * g.standard_normal(n)  # room noise: about -70 dBFS
    wave *= 0.7 / max(np.abs(wave).max(), 1e-9)
    # voiced spans are [a, b): where the ramps cross half gain, f0 > 0
    return wave.astype(np.float32), f0.astype(np.float32)


def truth_frames(f0_samples, hop=TRUTH_HOP):
    """Per-sample F0 (T,) -> per-frame ground truth (T // hop + 1,): the value at sample k * hop."""
    f0_samples = np.asarray(f0_samples)
    n = f0_samples.size // hop + 1
    return f0_samples[np.minimum(np.arange(n) * hop, f0_samples.size - 1)].astype(np.float32)


def make_toy_corpus(
    out, num_utts, seed, sample_rate=16000, min_dur=1.0, max_dur=3.0, num_speakers=4, progress=False
):
    """Write the toy corpus under `out`; returns the sorted utterance ids.

    out/wavs/<utt>.wav (16-bit), out/wav.scp, out/utt2spk, out/spk2f0range (`spk low high` Hz),
    out/f0/<utt>.f4 (ground-truth F0 per 5 ms, 0 = unvoiced). Utterance ids are
    `<spk>_<nnnn>`, so every table sorts the same way. Same arguments -> identical bytes.
    """
    from tqdm import tqdm

    if num_utts < 1 or num_speakers < 1 or not 0 < min_dur <= max_dur:
        raise ValueError("need num_utts >= 1, num_speakers >= 1 and 0 < min_dur <= max_dur")
    out = Path(out)
    speakers = make_speakers(num_speakers, seed)
    g = np.random.default_rng([seed, 2])
    wav_scp, utt2spk = {}, {}
    for i in tqdm(range(num_utts), desc="toy corpus", disable=not progress):
        spk = speakers[i % num_speakers]
        utt = f"{spk.name}_{i // num_speakers + 1:04d}"
        dur = float(g.uniform(min_dur, max_dur))
        wave, f0 = synth_utterance(spk, dur, [seed, 3, i], sample_rate)
        path = out / "wavs" / f"{utt}.wav"
        write_wav(path, sample_rate, wave)
        write_f4(out / "f0" / f"{utt}.f4", truth_frames(f0, truth_hop(sample_rate)))
        wav_scp[utt] = str(path.resolve())
        utt2spk[utt] = spk.name
    write_table(out / "wav.scp", wav_scp)
    write_table(out / "utt2spk", utt2spk)
    write_table(out / "spk2f0range", {s.name: f"{s.f0_low} {s.f0_high}" for s in speakers})
    return sorted(wav_scp)
