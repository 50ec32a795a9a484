"""NSF excitation sources as pure functions: sines with harmonics, and cyclic noise.

Legend: B batch, N frames, T samples (T = N * hop), H harmonics (fundamental included).
F0 is raw Hz with 0 for unvoiced. The random parts are standard draws that a caller may pass in
(`phase`, `noise`, ...: tests and the parity checks inject them) or leave to `generator`
(None: the global RNG, which the engine seeds and checkpoints). They follow the seed,
project-NN-Pytorch-scripts project/01-nsf/*/model.py (SineGen, PulseGen, CyclicNoiseGen_v1).
"""

import math

import torch


def upsample_repeat(x, hop):
    """Frame-rate values repeated `hop` times: (B, N, D) -> (B, N * hop, D)."""
    return torch.repeat_interleave(x, hop, dim=1)


def draw(given, shape, like, generator, uniform=False, name="noise"):
    """`given` checked against `shape`, or a fresh standard normal (uniform [0, 1)) draw."""
    if given is not None:
        if tuple(given.shape) != tuple(shape):
            raise ValueError(f"injected {name} has shape {tuple(given.shape)}, expected {tuple(shape)}")
        return given.to(device=like.device, dtype=like.dtype)
    fn = torch.rand if uniform else torch.randn
    return fn(tuple(shape), generator=generator, device=like.device, dtype=like.dtype)


NOISE_BLOCK = 4096  # samples per separately seeded block of positional noise


def positional_normal(seed, stream, start, length, width, like):
    """Standard normal draws (length, width) for samples [start, start + length) of an utterance
    that depend only on (seed, stream, position): block j of NOISE_BLOCK samples comes from a
    generator seeded with (seed, stream, j), so a piece of a long input gets the very draws the
    whole input gets there (pylib.engine.longform.infer_long). Drawn on the CPU in float32."""
    parts = []
    for j in range(start // NOISE_BLOCK, (start + length - 1) // NOISE_BLOCK + 1):
        g = torch.Generator().manual_seed(((int(seed) * 1_000_003 + int(stream)) * 1_000_000_007 + j) % 2**63)
        block = torch.randn((NOISE_BLOCK, width), generator=g)
        lo = max(start - j * NOISE_BLOCK, 0)
        parts.append(block[lo : min(start + length - j * NOISE_BLOCK, NOISE_BLOCK)])
    out = torch.cat(parts) if parts else torch.zeros((0, width))
    return out.to(device=like.device, dtype=like.dtype)


def positional_sine_draws(seed, B, start, length, harmonics, like):
    """The sine source's inference draws for samples [start, start + length), the same for every one
    of B utterances: each harmonic's initial phase (fixed by seed) and its additive noise drawn by
    position (stream 1 of positional_normal) -> {"phase": (B, H), "sine": (B, length, H)}."""
    g = torch.Generator().manual_seed(int(seed))
    phase = torch.rand((1, harmonics), generator=g).to(device=like.device, dtype=like.dtype)
    sine = positional_normal(seed, 1, start, length, harmonics, like)
    return {"phase": phase.expand(B, harmonics), "sine": sine.expand(B, length, harmonics)}


def carried_phase(phase0, f0, frames, hop, sample_rate):
    """Cycles of F0 (modulo 1, float64 on the CPU) after the first `frames` frames of f0 (B, N, 1),
    starting from phase0 (B,): the sine phase a long input's next piece continues from."""
    state = phase0 + f0[:, :frames, 0].cpu().double().sum(1) * hop / sample_rate
    return torch.remainder(state, 1.0)


def voicing(f0, voiced_threshold):
    """(B, T, 1) Hz -> (B, T, 1) float mask, 1 where voiced."""
    return (f0 > voiced_threshold).to(f0.dtype)


def cumulative_phase(f0, sample_rate):
    """Instantaneous phase in cycles of the fundamental: (B, T) Hz -> (B, T) float64 cycles.

    Accumulated in float64: a float32 running sum over a 10 s file loses ~1e-3 cycles of phase,
    which is audible as jitter on the higher harmonics. (The seed wraps its float32 sum instead.)
    """
    return torch.cumsum(f0.to(torch.float64) / sample_rate, dim=1)


def harmonic_sines(f0, sample_rate, num_harmonics=7, sine_amp=0.1, phase=None, generator=None, phase0=None):
    """amp * sin(2 pi (k phi_t + phi_k)), k = 1 .. H: f0 (B, T, 1) Hz -> (B, T, H), voiced or not.

    phase: (B, H) uniform draws for the initial phases; the fundamental's is set to 0 so the
    waveform's polarity is stable (the seed's SineGen). phase0: (B,) float64 cycles of the
    fundamental accumulated before the first sample (a piece of a long input continues the phase
    of the pieces before it); None: 0.
    """
    B, T, _ = f0.shape
    H = num_harmonics + 1
    ini = draw(phase, (B, H), f0, generator, uniform=True, name="phase").clone()
    ini[:, 0] = 0.0
    # Only the fundamental's running phase needs float64; wrapped to [0, 1) it is exact enough for
    # the harmonics' k * phase (error < 1e-6 cycles at k = 8).
    cyc = cumulative_phase(f0[..., 0], sample_rate)
    if phase0 is not None:
        cyc = cyc + phase0.to(device=f0.device, dtype=torch.float64)[:, None]
    base = torch.frac(cyc).to(f0.dtype)  # (B, T) cycles
    k = torch.arange(1, H + 1, device=f0.device, dtype=f0.dtype)
    cycles = torch.frac(base.unsqueeze(-1) * k + ini.unsqueeze(1))
    return sine_amp * torch.sin(2 * math.pi * cycles)


def sine_source(f0, sample_rate, num_harmonics=7, sine_amp=0.1, noise_std=0.003, voiced_threshold=0.0,
                random_phase=True, phase=None, noise=None, generator=None, phase0=None):
    """Sines at F0 and its harmonics plus noise, as in NSF (Wang et al. 2019).

    f0: (B, T, 1) sample-rate F0 in Hz (0 = unvoiced). phase: (B, H) uniform, noise: (B, T, H)
    standard normal draws, or None to draw them. phase0: see `harmonic_sines`.
    Returns (source, noise, uv): source (B, T, H) with H = num_harmonics + 1, where voiced samples
    hold sine_amp * sin(2 pi k phi + phi_k) + N(0, noise_std^2) and unvoiced samples noise only,
    N(0, (sine_amp / 3)^2); noise (B, T, H) the additive part; uv (B, T, 1).
    Harmonics above Nyquist alias; the merge layer learns to weight them down, as in NSF.
    """
    B, T, _ = f0.shape
    H = num_harmonics + 1
    if not random_phase and phase is None:
        phase = torch.zeros(B, H, device=f0.device, dtype=f0.dtype)
    sines = harmonic_sines(f0, sample_rate, num_harmonics, sine_amp, phase, generator, phase0)
    uv = voicing(f0, voiced_threshold)
    noise_amp = uv * noise_std + (1.0 - uv) * (sine_amp / 3.0)
    noise = noise_amp * draw(noise, (B, T, H), f0, generator, name="sine noise")
    return sines * uv + noise, noise, uv


def segment_phase(f0, sample_rate, voiced_threshold=0.0, phase0=None):
    """Phase in cycles restarted at every voiced segment: (B, T, 1) Hz -> (B, T) float64.

    The phase is 0 on the last unvoiced sample before a voiced segment and accumulates F0 from
    there (the seed's SineGen with flag_for_pulse, so that each segment opens with cos(0) = 1).
    phase0: (B,) float64 cycles >= 0 reached on the sample before the first (a piece of a long input
    continues the segment it starts in); None: 0.
    """
    uv = f0[..., 0] > voiced_threshold
    step = torch.remainder(f0[..., 0].to(torch.float64) / sample_rate, 1.0)
    total = torch.cumsum(step, dim=1)
    if phase0 is not None:
        total = total + phase0.to(device=total.device, dtype=torch.float64)[:, None]
    nxt = torch.cat([uv[:, 1:], torch.ones_like(uv[:, :1])], dim=1)
    reset = ~uv & nxt  # last unvoiced sample before voiced (and a final unvoiced sample)
    # `total` never decreases, so the running max of its values at resets is the latest reset's.
    at_reset = torch.where(reset, total, torch.zeros_like(total))
    return total - torch.cummax(at_reset, dim=1).values


def pulse_locations(f0, sample_rate, voiced_threshold=0.0, phase0=None):
    """(pure, loc): cos(2 pi segment phase) * uv (B, T) and the pulse mask (B, T) in {0, 1}.

    A pulse is a voiced local maximum of the cosine with voiced neighbours, or the first sample
    of a voiced segment (the seed's PulseGen). phase0: see `segment_phase`.
    """
    uv = voicing(f0, voiced_threshold)[..., 0]
    phase = segment_phase(f0, sample_rate, voiced_threshold, phase0)
    pure = torch.cos(2 * math.pi * phase).to(f0.dtype) * uv
    prev_s, next_s = torch.roll(pure, 1, dims=1), torch.roll(pure, -1, dims=1)
    prev_uv = torch.cat([torch.zeros_like(uv[:, :1]), uv[:, :-1]], dim=1)
    next_uv = torch.cat([uv[:, 1:], torch.zeros_like(uv[:, :1])], dim=1)
    peak = (pure > prev_s) & (pure > next_s) & (prev_uv > 0) & (next_uv > 0) & (uv > 0)
    start = (prev_uv < 1) & (uv > 0)
    return pure, (peak | start).to(f0.dtype)


def burst_length(f0_mean, sample_rate):
    """Samples of the decaying noise burst: until exp(-t f0 / (beta sr)) falls below 1% at beta = 1."""
    return int((4.6 * sample_rate / f0_mean).int())


def causal_convolve(x, kernel):
    """y[t] = sum_k kernel[k] x[t - k]: x (B, T), kernel (L,) -> (B, T), via FFT."""
    T, L = x.shape[-1], kernel.shape[-1]
    n = 1 << (T + L - 2).bit_length()
    y = torch.fft.irfft(torch.fft.rfft(x, n) * torch.fft.rfft(kernel, n), n)
    return y[..., :T]


def cyclic_noise_source(f0, sample_rate, beta=0.870, noise_std=0.003, voiced_threshold=0.0,
                        pulse_noise=None, burst_noise=None, generator=None, per_utterance=False,
                        f0_mean=None, phase0=None):
    """Cyclic noise (Wang & Yamagishi 2020; the seed's CyclicNoiseGen_v1).

    f0: (B, T, 1) Hz. A pulse train at F0 (unit pulses plus N(0, noise_std^2) on each pulse) is
    convolved with one decaying noise burst n[t] noise_std exp(-t f0_mean / (beta sr)), whose
    length 4.6 sr / f0_mean follows the mean voiced F0 of the batch; unvoiced samples get
    N(0, noise_std^2). pulse_noise: (B, T) and burst_noise: (L,) standard normal draws or None.
    With `per_utterance`, each utterance gets its own burst from its own mean F0 (burst_noise: a
    list of B tensors or None), so that an utterance's source does not depend on its batch.
    f0_mean: the mean voiced F0 that sets the burst (a 0-dim tensor; with per_utterance a list of B,
    None for an utterance without voiced frames) instead of this input's (a piece of a long input
    uses the whole input's); phase0: see `segment_phase`.
    Returns (source (B, T, 1), uv (B, T, 1)).
    """
    B, T, _ = f0.shape
    if per_utterance:
        bursts = burst_noise if burst_noise is not None else [None] * B
        if len(bursts) != B:
            raise ValueError(f"injected burst noise: expected a list of {B} tensors, got {len(bursts)}")
        pulses = [None if pulse_noise is None else pulse_noise[b:b + 1] for b in range(B)]
        means = [None] * B if f0_mean is None else f0_mean
        parts = [cyclic_noise_source(f0[b:b + 1], sample_rate, beta, noise_std, voiced_threshold, pulses[b],
                                     bursts[b], generator, f0_mean=means[b],
                                     phase0=None if phase0 is None else phase0[b:b + 1]) for b in range(B)]
        return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
    uv = voicing(f0, voiced_threshold)
    pure, loc = pulse_locations(f0, sample_rate, voiced_threshold, phase0)
    pn = noise_std * draw(pulse_noise, (B, T), f0, generator, name="pulse noise")
    pulses = (pure + pn) * loc
    if bool((uv > 0).any()):
        f0_mean = f0[uv > 0].mean() if f0_mean is None else f0_mean.to(device=f0.device, dtype=f0.dtype)
        L = burst_length(f0_mean, sample_rate)
        t = torch.arange(L, device=f0.device, dtype=f0.dtype)
        burst = draw(burst_noise, (L,), f0, generator, name="burst noise") * noise_std
        burst = burst * torch.exp(-t * f0_mean / beta / sample_rate)
        cyc = causal_convolve(pulses, burst)
    else:
        cyc = torch.zeros_like(pure)
    return (cyc + pn * (1.0 - uv[..., 0])).unsqueeze(-1), uv
