"""Objective vocoder metrics on numpy arrays: log-mel L1, mel-cepstral distortion, F0 RMSE, V/UV error.

Reference (natural) and generated features must be frame-aligned (copy synthesis is); their frame
counts may differ by at most `tolerance` frames, the longer one is then cut (never silently more).
Legend: N frames, D dims, F frequency bins (fft_size // 2 + 1), T samples.

Mel-cepstra follow the SPTK convention: log|H(e^jw)| = sum_m c_m cos(m w~) with w~ the all-pass
warped frequency (alpha), c_0 the gain term, c_m (m >= 1) one-sided. They are computed in numpy
from a spectral envelope (e.g. WORLD's CheapTrick, see `world_mel_cepstrum`): real cepstrum of the
log amplitude spectrum, then the SPTK `freqt` recursion to warp it onto the mel scale. MCD then
is the usual (10 / ln 10) * sqrt(2 * sum_{m>=1} (c_m - c'_m)^2) dB per frame, averaged, c_0 left out.
"""

import numpy as np

# All-pass constants that approximate the mel scale at common rates (SPTK / pysptk usage).
MEL_ALPHA = {8000: 0.31, 16000: 0.42, 22050: 0.455, 24000: 0.466, 44100: 0.544, 48000: 0.554}


def _align(ref, gen, tolerance, what):
    ref = np.asarray(ref, dtype=np.float64)
    gen = np.asarray(gen, dtype=np.float64)
    if ref.shape[1:] != gen.shape[1:]:
        raise ValueError(
            f"{what}: reference {ref.shape} and generated {gen.shape} differ beyond the frame axis"
        )
    if abs(ref.shape[0] - gen.shape[0]) > tolerance:
        raise ValueError(
            f"{what}: {ref.shape[0]} reference frames vs {gen.shape[0]} generated, more than "
            f"{tolerance} apart; the two are not aligned"
        )
    n = min(ref.shape[0], gen.shape[0])
    if n == 0:
        raise ValueError(f"{what}: no frames to compare")
    return ref[:n], gen[:n]


def log_mel_l1(ref, gen, tolerance=2):
    """Mean absolute difference of log-mel spectrograms. ref, gen: (N, D) -> float (their log units)."""
    ref, gen = _align(ref, gen, tolerance, "log-mel L1")
    return float(np.mean(np.abs(ref - gen)))


def default_alpha(sample_rate):
    """All-pass constant for `sample_rate` from MEL_ALPHA; other rates are an error."""
    if sample_rate not in MEL_ALPHA:
        known = sorted(MEL_ALPHA)
        raise ValueError(f"no default all-pass alpha for {sample_rate} Hz; pass alpha (known: {known})")
    return MEL_ALPHA[sample_rate]


def freqt(c, order, alpha):
    """Warp cepstra by an all-pass of constant alpha (SPTK freqt). c: (..., M1+1) -> (..., order+1).

    alpha=0 only truncates/pads; warping by alpha then by -alpha returns the input (for enough order).
    """
    c = np.asarray(c, dtype=np.float64)
    beta = 1.0 - alpha * alpha
    g = np.zeros(c.shape[:-1] + (order + 1,))
    for i in range(c.shape[-1] - 1, -1, -1):
        prev = g.copy()
        g[..., 0] = c[..., i] + alpha * prev[..., 0]
        if order >= 1:
            g[..., 1] = beta * prev[..., 0] + alpha * prev[..., 1]
        for j in range(2, order + 1):
            g[..., j] = prev[..., j - 1] + alpha * (prev[..., j] - g[..., j - 1])
    return g


def mel_cepstrum(envelope, order, alpha, floor=1e-12):
    """Mel-cepstrum from a power spectral envelope. envelope: (N, F) -> (N, order+1).

    envelope is |H|^2 on F = fft_size/2 + 1 bins from 0 to Nyquist (what CheapTrick returns).
    """
    env = np.maximum(np.asarray(envelope, dtype=np.float64), floor)
    # irfft of log|H| = 0.5 log|H|^2 gives the symmetric real cepstrum; doubling m >= 1 makes it
    # one-sided (SPTK's convention), which freqt expects.
    c = np.fft.irfft(0.5 * np.log(env), axis=-1)[..., : env.shape[-1]]
    c[..., 1:] *= 2.0
    return freqt(c, order, alpha)


def world_mel_cepstrum(wave, f0, sample_rate, frame_period=5.0, order=24, alpha=None):
    """WORLD CheapTrick envelope -> mel-cepstrum. wave: (T,), f0: (N,) Hz on frames every
    frame_period ms (0 = unvoiced; as pyworld.harvest/dio give) -> (N, order+1)."""
    import pyworld

    x = np.ascontiguousarray(wave, dtype=np.float64)
    f0 = np.ascontiguousarray(f0, dtype=np.float64)
    t = np.arange(f0.size, dtype=np.float64) * frame_period / 1000.0
    env = pyworld.cheaptrick(x, f0, t, sample_rate)
    return mel_cepstrum(env, order, default_alpha(sample_rate) if alpha is None else alpha)


def mel_cepstral_distortion(ref_mc, gen_mc, tolerance=2, frames=None):
    """MCD in dB, mean over frames, c_0 excluded. ref_mc, gen_mc: (N, M+1) -> float.

    frames: optional (N,) bool mask of frames to average over (e.g. voiced in both).
    """
    ref, gen = _align(ref_mc, gen_mc, tolerance, "MCD")
    diff = ref[:, 1:] - gen[:, 1:]
    per_frame = (10.0 / np.log(10.0)) * np.sqrt(2.0 * np.sum(diff * diff, axis=1))
    if frames is not None:
        mask = np.asarray(frames, dtype=bool)[: per_frame.size]
        if not mask.any():
            raise ValueError("MCD: the frame mask selects no frame")
        per_frame = per_frame[mask]
    return float(np.mean(per_frame))


def f0_metrics(ref_f0, gen_f0, tolerance=2):
    """F0 RMSE in cents over frames voiced in both, and V/UV decision error rate over all frames.

    ref_f0, gen_f0: (N,) Hz, 0 (or negative) = unvoiced -> {"f0_rmse_cents", "vuv_error",
    "n_frames", "n_voiced_both"}; f0_rmse_cents is NaN when no frame is voiced in both.
    """
    ref, gen = _align(np.reshape(ref_f0, (-1,)), np.reshape(gen_f0, (-1,)), tolerance, "F0")
    v_ref, v_gen = ref > 0, gen > 0
    both = v_ref & v_gen
    if both.any():
        cents = 1200.0 * np.log2(gen[both] / ref[both])
        rmse = float(np.sqrt(np.mean(cents * cents)))
    else:
        rmse = float("nan")
    return {
        "f0_rmse_cents": rmse,
        "vuv_error": float(np.mean(v_ref != v_gen)),
        "n_frames": int(ref.size),
        "n_voiced_both": int(both.sum()),
    }
