"""NSF excitation sources as pure functions: sine-with-harmonics and cyclic noise.

Legend: B batch, N frames, T samples (T = N * hop), H harmonics (fundamental included).
F0 is raw Hz with 0 for unvoiced. Every function takes an optional `torch.Generator` so tests
and inference are reproducible without touching the global RNG; training passes None (the
engine owns the global RNG state and checkpoints it).
"""

import math

import torch


def upsample_repeat(x, hop):
    """Frame-rate values repeated `hop` times: (B, N, D) -> (B, N * hop, D)."""
    return torch.repeat_interleave(x, hop, dim=1)


def _randn(shape, like, generator):
    return torch.randn(shape, generator=generator, device=like.device, dtype=like.dtype)


def voicing(f0, voiced_threshold):
    """(B, T, 1) Hz -> (B, T, 1) float mask, 1 where voiced."""
    return (f0 > voiced_threshold).to(f0.dtype)


def cumulative_phase(f0, sample_rate):
    """Instantaneous phase in cycles of the fundamental: (B, T) Hz -> (B, T) float64 cycles.

    Accumulated in float64: a float32 running sum over a 10 s file loses ~1e-3 cycles of phase,
    which is audible as jitter on the higher harmonics.
    """
    return torch.cumsum(f0.to(torch.float64) / sample_rate, dim=1)


def sine_source(f0, sample_rate, num_harmonics=7, sine_amp=0.1, noise_std=0.003, voiced_threshold=0.0,
                random_phase=True, generator=None):
    """Sines at F0 and its harmonics plus noise, as in NSF (Wang et al. 2019).

    f0: (B, T, 1) sample-rate F0 in Hz (0 = unvoiced).
    Returns (source, noise, uv): source (B, T, H) with H = num_harmonics + 1, where voiced
    samples hold sine_amp * sin(2 pi k phi + phi_k) + N(0, noise_std^2) and unvoiced samples
    noise only, N(0, (sine_amp / 3)^2); noise (B, T, H) the additive part; uv (B, T, 1).
    Harmonics above Nyquist alias; the merge layer learns to weight them down, as in NSF.
    """
    B, T, _ = f0.shape
    H = num_harmonics + 1
    uv = voicing(f0, voiced_threshold)
    # Only the fundamental's running phase needs float64; wrapped to [0, 1) it is exact enough in
    # float32 for the harmonics' k * phase (error < 1e-6 cycles at k = 8).
    phase = torch.frac(cumulative_phase(f0[..., 0], sample_rate)).to(f0.dtype)  # (B, T) cycles
    k = torch.arange(1, H + 1, device=f0.device, dtype=f0.dtype)
    cycles = phase.unsqueeze(-1) * k  # (B, T, H)
    if random_phase:
        # The fundamental starts at phase 0 so the waveform's polarity is stable; harmonics random.
        ini = torch.rand((B, 1, H), generator=generator, device=f0.device, dtype=f0.dtype)
        ini[..., 0] = 0.0
        cycles = cycles + ini
    frac = torch.frac(cycles)
    sines = sine_amp * torch.sin(2 * math.pi * frac)
    noise_amp = uv * noise_std + (1.0 - uv) * (sine_amp / 3.0)
    noise = noise_amp * _randn((B, T, H), f0, generator)
    return sines * uv + noise, noise, uv


def pulse_train(f0, sample_rate, voiced_threshold=0.0):
    """One unit pulse per F0 period in voiced regions: (B, T, 1) Hz -> (B, T, 1).

    A pulse falls on each sample where the accumulated phase crosses an integer cycle.
    """
    phase = cumulative_phase(f0[..., 0], sample_rate)
    whole = torch.floor(phase)
    crossed = torch.diff(whole, dim=1, prepend=torch.zeros_like(whole[:, :1])) > 0
    return (crossed.unsqueeze(-1).to(f0.dtype)) * voicing(f0, voiced_threshold)


def decaying_noise(batch, kernel_len, decay_samples, like, generator=None):
    """One Gaussian noise burst per utterance with an exponential envelope: -> (B, kernel_len)."""
    n = torch.arange(kernel_len, device=like.device, dtype=like.dtype)
    env = torch.exp(-n / decay_samples)
    return _randn((batch, kernel_len), like, generator) * env


def fft_convolve(x, kernel):
    """Per-utterance causal convolution via FFT: x (B, T), kernel (B, L) -> (B, T)."""
    T, L = x.shape[-1], kernel.shape[-1]
    n = 1 << (T + L - 1 - 1).bit_length()
    y = torch.fft.irfft(torch.fft.rfft(x, n) * torch.fft.rfft(kernel, n), n)
    return y[..., :T]


def cyclic_noise_source(f0, sample_rate, sine_amp=0.1, noise_std=0.003, voiced_threshold=0.0,
                        kernel_len=320, decay_ms=1.0, generator=None):
    """Cyclic noise (Wang & Yamagishi 2020): a pulse train at F0 convolved with decaying noise.

    f0: (B, T, 1) Hz. Returns (source, noise, uv) shaped (B, T, 1) like `sine_source` with H = 1:
    voiced samples hold sine_amp * (pulses * burst) + N(0, noise_std^2), unvoiced noise only.
    """
    B = f0.shape[0]
    uv = voicing(f0, voiced_threshold)
    pulses = pulse_train(f0, sample_rate, voiced_threshold)[..., 0]
    burst = decaying_noise(B, kernel_len, decay_ms * 1e-3 * sample_rate, f0, generator)
    cyc = fft_convolve(pulses, burst).unsqueeze(-1)
    noise_amp = uv * noise_std + (1.0 - uv) * (sine_amp / 3.0)
    noise = noise_amp * _randn(f0.shape, f0, generator)
    return sine_amp * cyc * uv + noise, noise, uv

