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
