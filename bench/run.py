"""`make bench`: run every bench/bench_*.py (each has `main()`), printing figures next to baselines.

`make bench BENCH_ARGS=loader` runs only the benchmarks whose file name contains "loader".
"""

import importlib.util
import sys
import time
from pathlib import Path


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    here = Path(__file__).resolve().parent
    files = sorted(here.glob("bench_*.py"))
    if argv:
        files = [f for f in files if any(a in f.stem for a in argv)]
    if not files:
        print("no benchmark matched", argv)
        return 1
    failed = []
    for f in files:
        print(f"\n=== {f.stem} ===", flush=True)
        t0 = time.perf_counter()
        spec = importlib.util.spec_from_file_location(f.stem, f)
        mod = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(mod)
            mod.main()
        except Exception as e:  # one broken benchmark must not hide the others' figures
            failed.append(f.stem)
            print(f"FAILED: {type(e).__name__}: {e}")
        print(f"({f.stem}: {time.perf_counter() - t0:.1f} s)", flush=True)
    if failed:
        print("\nfailed benchmarks:", ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
