"""F0 tracking: WORLD's harvest and dio (through pyworld) and our own vectorised YIN.

Every method returns one value per frame at the mel's frame convention (N = T // hop + 1, frame k
centred on sample k * hop), in Hz, 0 for unvoiced frames.
"""

import numpy as np
import scipy.fft

METHODS = ("yin", "harvest", "dio")


def num_frames(num_samples, hop):
    """Frames of a T-sample wave: T // hop + 1 (docs/INTERFACES.md)."""
    return int(num_samples) // int(hop) + 1


def _fit_length(f0, n):
    """Trim or zero-pad a track to exactly n frames."""
    f0 = np.asarray(f0, dtype=np.float32).reshape(-1)
    if f0.size >= n:
        return f0[:n].copy()
    return np.concatenate([f0, np.zeros(n - f0.size, dtype=np.float32)])


def f0_world(wave, sample_rate, hop, fmin=60.0, fmax=500.0, method="harvest"):
    """F0 by pyworld harvest, or dio refined by stonemask: wave (T,) -> (N,) Hz, 0 = unvoiced."""
    import pyworld

    x = np.ascontiguousarray(wave, dtype=np.float64)
    period_ms = 1000.0 * hop / sample_rate
    if method == "harvest":
        f0, _ = pyworld.harvest(x, sample_rate, f0_floor=fmin, f0_ceil=fmax, frame_period=period_ms)
    elif method == "dio":
        f0, t = pyworld.dio(x, sample_rate, f0_floor=fmin, f0_ceil=fmax, frame_period=period_ms)
        f0 = pyworld.stonemask(x, f0, t, sample_rate)
    else:
        raise ValueError(f"unknown WORLD F0 method {method!r}; use harvest or dio")
    return _fit_length(f0, num_frames(len(wave), hop))


def _frames(x, length, hop, n):
    """Centred frames (n, length) of x: frame k starts at k*hop - length//2 (zero padded)."""
    pad_l = length // 2
    need = (n - 1) * hop + length
    padded = np.zeros(need, dtype=np.float64)
    src = x[: max(0, need - pad_l)]
    padded[pad_l : pad_l + src.size] = src
    return np.lib.stride_tricks.sliding_window_view(padded, length)[::hop][:n]


def cmnd(frames, win, max_lag):
    """Cumulative-mean-normalised difference function of every frame at once.

    frames: (N, L) with L >= win + max_lag -> (N, max_lag + 1); lag 0 is 1 by definition.
    d(tau) = sum_{j<win} (x_j - x_{j+tau})^2 is expanded into energies (cumulative sums) and a
    cross-correlation (one real FFT per frame), so the cost is O(L log L) per frame.
    """
    frames = np.asarray(frames, dtype=np.float32)  # float32 FFTs: twice as fast, ample precision here
    n_fft = scipy.fft.next_fast_len(frames.shape[1] + win, real=True)
    spec = scipy.fft.rfft(frames, n_fft, axis=1)
    spec *= np.conj(scipy.fft.rfft(frames[:, :win], n_fft, axis=1))
    corr = scipy.fft.irfft(spec, n_fft, axis=1)[:, : max_lag + 1]
    sq = np.zeros((frames.shape[0], frames.shape[1] + 1), dtype=np.float32)
    np.cumsum(frames * frames, axis=1, out=sq[:, 1:])
    d = sq[:, win : win + max_lag + 1] - sq[:, : max_lag + 1]  # energy of the lagged window
    d += sq[:, win : win + 1]
    d -= 2.0 * corr
    np.maximum(d, 0.0, out=d)
    cum = np.cumsum(d[:, 1:], axis=1)
    d[:, 1:] *= np.arange(1, max_lag + 1, dtype=np.float32)
    d[:, 1:] /= np.maximum(cum, 1e-12)
    d[:, 0] = 1.0
    return d


def _runs(mask):
    """Start and end (exclusive) indices of the runs of True in a 1-D bool array."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def _clean(f0, voiced, median_width, min_voiced):
    """Octave-jump correction against a running median of voiced log-F0, median smoothing, and
    removal of voiced runs shorter than min_voiced frames (usually onsets of noise)."""
    f0 = f0.copy()
    idx = np.flatnonzero(voiced)
    if idx.size:
        logf = np.log2(f0[idx])
        half = 12
        padded = np.pad(logf, half, mode="edge")
        ref = np.median(np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1), axis=1)
        octave = np.round(logf - ref)
        # only near-exact octave slips are corrected; other deviations are real intonation
        fix = (octave != 0) & (np.abs(logf - ref - octave) < 0.25)
        logf[fix] -= octave[fix]
        if median_width > 1:
            h = median_width // 2
            for start, end in zip(*_runs(voiced[idx[0] : idx[-1] + 1])):
                a, b = np.searchsorted(idx, idx[0] + start), np.searchsorted(idx, idx[0] + end)
                seg = logf[a:b]
                if seg.size > 2:
                    win = np.lib.stride_tricks.sliding_window_view(np.pad(seg, h, mode="edge"), 2 * h + 1)
                    logf[a:b] = np.median(win, axis=1)
        f0[idx] = 2.0**logf
    for start, end in zip(*_runs(voiced)):
        if end - start < min_voiced:
            voiced[start:end] = False
    f0[~voiced] = 0.0
    return f0


def _grow(d, lag, voiced, loud, stay_threshold, max_steps, tol, min_lag):
    """Hysteresis: grow every voiced run outward, one frame per step on each side, while the
    neighbouring frame has a CMND dip below `stay_threshold` within `tol` (relative) of the
    run's edge period. Onsets and offsets of voicing (decaying amplitude, the window straddling
    the boundary) lose the strong periodicity needed to enter voicing but keep the period.

    d: (N, L) CMND, lag: (N,) float lags (updated in place), voiced/loud: (N,) bool (voiced is
    updated in place).
    """
    max_lag = d.shape[1] - 1
    width = int(np.ceil(2 * tol * max_lag)) + 3
    offs = np.arange(width)
    for step in (1, -1):
        for _ in range(max_steps):
            if step == 1:
                src = np.flatnonzero(voiced[:-1] & ~voiced[1:])
            else:
                src = np.flatnonzero(~voiced[:-1] & voiced[1:]) + 1
            dst = src + step
            keep = loud[dst]
            src, dst = src[keep], dst[keep]
            if src.size == 0:
                break
            lo = np.maximum(np.floor(lag[src] * (1.0 - tol)).astype(int), min_lag)
            hi = np.minimum(np.ceil(lag[src] * (1.0 + tol)).astype(int), max_lag - 1)
            cols = np.minimum(lo[:, None] + offs[None, :], max_lag - 1)
            vals = np.where(cols <= hi[:, None], d[dst[:, None], cols], np.inf)
            j = np.argmin(vals, axis=1)
            best = cols[np.arange(src.size), j]
            ok = vals[np.arange(src.size), j] < stay_threshold
            if not ok.any():
                break
            dst, best = dst[ok], best[ok]
            a, b, c = d[dst, best - 1], d[dst, best], d[dst, best + 1]
            denom = a - 2.0 * b + c
            shift = np.where(np.abs(denom) > 1e-12, 0.5 * (a - c) / np.where(denom == 0, 1, denom), 0.0)
            lag[dst] = best + np.clip(shift, -1.0, 1.0)
            voiced[dst] = True


def _fill_gaps(lag, voiced, max_gap, tol):
    """Voice unvoiced gaps of at most max_gap frames between two voiced frames whose periods
    agree within tol (relative), with the period interpolated across; in place."""
    starts, ends = _runs(~voiced)
    ok = (starts > 0) & (ends < voiced.size) & (ends - starts <= max_gap)
    for a, b in zip(starts[ok], ends[ok]):
        left, right = lag[a - 1], lag[b]
        if abs(np.log(right / left)) < np.log1p(tol):
            lag[a:b] = np.exp(np.interp(np.arange(a, b), [a - 1, b], np.log([left, right])))
            voiced[a:b] = True


def f0_yin(
    wave,
    sample_rate,
    hop,
    fmin=60.0,
    fmax=500.0,
    threshold=0.15,
    voicing_threshold=0.3,
    silence_db=-45.0,
    median_width=3,
    min_voiced=3,
    stay_threshold=0.65,
    max_grow=20,
    grow_tol=0.1,
    max_gap=4,
    gap_tol=0.2,
):
    """Vectorised YIN: wave (T,) -> (N,) Hz, 0 = unvoiced, N = T // hop + 1.

    Per frame: the cumulative-mean-normalised difference (CMND) over lags up to sr/fmin, the
    first dip below `threshold` followed to its local minimum (else the global minimum), and a
    parabolic fit for sub-sample lag. Voicing has hysteresis: a frame enters voicing when its
    CMND minimum is below `voicing_threshold` (and its energy is above `silence_db` relative to
    the loudest frames); voiced runs then grow outward (up to `max_grow` frames per side) while
    the next frame still has a CMND dip below `stay_threshold` within `grow_tol` of the run's
    period, and unvoiced gaps of at most `max_gap` frames between runs whose periods agree within
    `gap_tol` are bridged (`stay_threshold=None` or `max_grow=0`, and `max_gap=0`, turn these
    off). Then octave-jump correction, median smoothing (`median_width` frames) and removal of
    voiced runs shorter than `min_voiced` frames.
    """
    x = np.asarray(wave, dtype=np.float64).reshape(-1)
    n = num_frames(x.size, hop)
    min_lag = max(2, int(np.floor(sample_rate / fmax)))
    max_lag = int(np.ceil(sample_rate / fmin)) + 1
    win = max_lag
    frames = _frames(x, win + max_lag + 1, hop, n)
    frames = frames - frames.mean(axis=1, keepdims=True)
    d = cmnd(frames, win, max_lag)

    band = d[:, min_lag:max_lag]  # candidate lags; max_lag itself is kept for the parabola
    below = band < threshold
    has_dip = below.any(axis=1)
    first = np.argmax(below, axis=1)
    # follow the first dip down to its local minimum
    rising = np.concatenate([band[:, 1:] >= band[:, :-1], np.ones((n, 1), bool)], axis=1)
    after = np.arange(band.shape[1])[None, :] >= first[:, None]
    local = np.argmax(rising & after, axis=1)
    best = np.where(has_dip, local, np.argmin(band, axis=1)) + min_lag
    rows = np.arange(n)
    a, b, c = d[rows, best - 1], d[rows, best], d[rows, np.minimum(best + 1, max_lag)]
    denom = a - 2.0 * b + c
    shift = np.where(np.abs(denom) > 1e-12, 0.5 * (a - c) / np.where(denom == 0, 1, denom), 0.0)
    lag = best + np.clip(shift, -1.0, 1.0)

    energy = np.sqrt(np.mean(frames[:, :win] ** 2 + frames[:, max_lag : max_lag + win] ** 2, axis=1) / 2)
    ref = np.percentile(energy, 95) if energy.size else 0.0
    loud = energy > max(ref * 10.0 ** (silence_db / 20.0), 1e-5)
    f0 = sample_rate / lag
    voiced = (b < voicing_threshold) & loud & (f0 >= fmin * 0.97) & (f0 <= fmax * 1.03)
    if stay_threshold is not None and max_grow > 0:  # voicing on- and offsets keep their period
        _grow(d, lag, voiced, loud, stay_threshold, max_grow, grow_tol, min_lag)
    if max_gap > 0:
        _fill_gaps(lag, voiced, max_gap, gap_tol)
    f0 = sample_rate / lag
    return _clean(f0, voiced, median_width, min_voiced).astype(np.float32)


def compute_f0(wave, sample_rate, hop, fmin=60.0, fmax=500.0, method="yin", **kw):
    """F0 by `method` (yin | harvest | dio): wave (T,) -> (N,) float32 Hz, 0 = unvoiced."""
    if method == "yin":
        return f0_yin(wave, sample_rate, hop, fmin, fmax, **kw)
    if method in ("harvest", "dio"):
        return f0_world(wave, sample_rate, hop, fmin, fmax, method)
    raise ValueError(f"unknown F0 method {method!r}; use one of {', '.join(METHODS)}")


def f0_errors(est, ref):
    """(gross pitch error, voicing error) of est against ref, both (N,) with 0 = unvoiced.

    GPE: share of frames voiced in both where |est - ref| > 20 % of ref. Voicing error: share of
    all frames whose voiced/unvoiced decision differs.
    """
    est, ref = np.asarray(est).reshape(-1), np.asarray(ref).reshape(-1)
    n = min(est.size, ref.size)
    est, ref = est[:n], ref[:n]
    both = (est > 0) & (ref > 0)
    gpe = float(np.mean(np.abs(est[both] - ref[both]) > 0.2 * ref[both])) if both.any() else 0.0
    vde = float(np.mean((est > 0) != (ref > 0))) if n else 0.0
    return gpe, vde


def voicing_split(est, ref):
    """The voicing error of f0_errors split in two: (share of frames voiced only in est, share
    voiced only in ref), both (N,) with 0 = unvoiced; the two add up to the voicing error."""
    est, ref = np.asarray(est).reshape(-1), np.asarray(ref).reshape(-1)
    n = min(est.size, ref.size)
    if n == 0:
        return 0.0, 0.0
    ev, rv = est[:n] > 0, ref[:n] > 0
    return float(np.mean(ev & ~rv)), float(np.mean(rv & ~ev))
