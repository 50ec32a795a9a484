"""Vocoder speed: hn_sinc_nsf train step and CPU inference at the published setting (16 kHz, hop 80).

Figures, on 2 CPU threads: one training step on a 3 s segment with batch 1 (forward, backward, Adam),
the inference real-time factor (generation time / audio duration) on a 3 s utterance, and the
parameter count, with the process CPU time beside each wall figure. The same step and RTF measured
beside the seed's hn-sinc-nsf-9 in one run are in bench_seed.py (no reference figure is quoted here:
a baseline is only meaningful when measured on the same machine in the same run). The time-variant
sinc filter is printed next to a naive form measured in this run (per-sample filter windows gathered
into a copy). Each figure is the best of a few runs after a warm-up. HiFi-GAN figures are in
bench_hifigan.py.
"""

import time

import torch
import torch.nn.functional as F

from pylib.config import from_dict
from pylib.models.catalogue import get_model_class
from pylib.models.vocoder.filters import sinc_filter_coefs, time_variant_fir

SR, HOP, SECONDS = 16000, 80, 3.0


def _timed(fn, repeats, cpu=False):
    """Best wall seconds of `repeats` calls after a warm-up (and that call's process CPU seconds).

    The best of a few is the least disturbed by other jobs on a shared machine.
    """
    fn()  # warm-up: allocator, oneDNN primitive caches
    walls, cpus = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    best = min(range(repeats), key=walls.__getitem__)
    return (walls[best], cpus[best]) if cpu else walls[best]


def _batch(seconds=SECONDS, seed=0):
    g = torch.Generator().manual_seed(seed)
    n = int(seconds * SR) // HOP
    f0 = 120.0 + 20.0 * torch.sin(torch.linspace(0, 6.0, n)).reshape(1, n, 1)
    f0[:, : n // 10] = 0.0
    return {"mel": torch.randn(1, n, 80, generator=g), "mel_len": torch.tensor([n]),
            "f0": f0, "f0_len": torch.tensor([n]),
            "wav": 0.1 * torch.randn(1, n * HOP, 1, generator=g), "wav_len": torch.tensor([n * HOP])}


def _naive_fir(x, coefs):
    """Per-sample windows gathered into a (B, T, K) copy, then a batched dot product (the baseline)."""
    K = coefs.shape[-1]
    T = x.shape[-1]
    xp = F.pad(x, (K // 2, K // 2))
    idx = torch.arange(T)[:, None] + torch.arange(K)[None, :]
    windows = xp[:, idx]  # materialised (B, T, K)
    return torch.bmm(windows.reshape(-1, 1, K), coefs.reshape(-1, K, 1)).reshape(x.shape)


def bench_parts():
    """The time-variant sinc merge: ours vs gathered per-sample windows, 3 s at 16 kHz."""
    T = int(SECONDS * SR)
    x = torch.randn(1, T)
    cut = torch.rand(1, T)
    low = sinc_filter_coefs(cut, 31)[0]
    taps = _timed(lambda: sinc_filter_coefs(cut, 31), 5)
    ours = _timed(lambda: time_variant_fir(x, low), 5)
    naive = _timed(lambda: _naive_fir(x, low), 5)
    print(f"sinc taps (low + high, 31, 3 s):     {taps * 1e3:8.1f} ms")
    print(f"time-variant FIR (31 taps, 3 s):     {ours * 1e3:8.1f} ms   gathered windows {naive * 1e3:6.1f}"
          " ms"
          f"   x{naive / ours:.1f}")


def bench_hn_sinc_nsf():
    cls = get_model_class("hn_sinc_nsf")
    torch.manual_seed(0)
    model = cls(from_dict(cls.Config, {}), None)
    params = sum(p.numel() for p in model.parameters())
    batch = _batch()
    opt = torch.optim.Adam(model.param_groups()["model"], lr=1e-4)

    def step():
        loss, _ = model(batch, 0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    model.train()
    t_step, c_step = _timed(step, 3, cpu=True)
    model.eval()
    t_gen, c_gen = _timed(lambda: model.infer(batch), 3, cpu=True)
    rtf = t_gen / SECONDS
    print(f"hn_sinc_nsf parameters:              {params:,}")
    print(f"hn_sinc_nsf train step (3 s, B=1):   {t_step:6.2f} s    (CPU time {c_step:.2f} s; "
          "beside the seed's: bench_seed.py)")
    print(f"hn_sinc_nsf inference RTF (CPU):     {rtf:6.3f}      (CPU time {c_gen:.2f} s for "
          f"{SECONDS:.0f} s; beside the seed's: bench_seed.py)")


def main():
    torch.set_num_threads(2)
    load = open("/proc/loadavg").read().split()[0] if _has_loadavg() else "n/a"
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average {load} "
          f"(wall figures are inflated when the load exceeds the cores; CPU time is less affected)")
    bench_parts()
    bench_hn_sinc_nsf()


def _has_loadavg():
    try:
        open("/proc/loadavg").close()
        return True
    except OSError:
        return False


if __name__ == "__main__":
    main()
