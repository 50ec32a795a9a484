"""Timing helper shared by the benchmarks (bench/ is on sys.path: run.py and each bench_*.py are
started as scripts from it)."""

import time


def best_time(fn, repeats=3, warmup=False):
    """Best wall time of `repeats` calls of fn() (after one untimed call with warmup)."""
    if warmup:
        fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def interleaved(reference, ours, repeats):
    """Best wall times (reference, ours) of `repeats` rounds that call one right after the other, so
    that load from elsewhere hits both alike."""
    t_ref = t_ours = float("inf")
    for _ in range(repeats):
        t_ref = min(t_ref, best_time(reference, 1))
        t_ours = min(t_ours, best_time(ours, 1))
    return t_ref, t_ours


def matmul_gflops(n=2048, repeats=3):
    """GFLOP/s of an n x n float32 matmul on this machine now: the same-run baseline of a benchmark."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    return 2 * n ** 3 / best_time(lambda: a @ b, repeats) / 1e9
