"""Speed and peak memory of lambda_max from data: Lorenz-63 x (dt 0.01), N = 1e4, 3e4, 1e5.

Run: ``.venv/bin/python benchmarks/lyapunov_speed.py``. Prints one row per (method, N):
seconds for the whole estimate (embedding + divergence curve + fit + bootstrap), and the
peak memory of numpy allocations (tracemalloc, which sees numpy's buffers but not cKDTree's
internal C++ arrays, which are O(N) as well) and the process's peak RSS.
"""

from __future__ import annotations

import resource
import time
import tracemalloc

from neurodsr.dynamics.lyapunov import lyapunov_from_data
from neurodsr.dynamics.systems import lorenz63


def main() -> None:
    series = lorenz63(100_000, 0.01, seed=0).values[:, 0]
    print(f"{'method':<11}{'N':>8}{'seconds':>9}{'peak MiB':>10}{'RSS MiB':>9}{'lambda':>8}")
    for method in ("rosenstein", "kantz"):
        for n in (10_000, 30_000, 100_000):
            tracemalloc.start()
            t0 = time.perf_counter()
            res = lyapunov_from_data(series[:n], dt=0.01, method=method)
            seconds = time.perf_counter() - t0
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(
                f"{method:<11}{n:>8}{seconds:>9.2f}{peak / 2**20:>10.1f}{rss:>9.0f}"
                f"{res.lambda_max:>8.3f}"
            )


if __name__ == "__main__":
    main()
