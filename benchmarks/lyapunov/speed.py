"""Speed and memory of the Lyapunov estimate with its surrogate test: Lorenz-63 x, 5 % noise.

Run: ``.venv/bin/python benchmarks/lyapunov/speed.py``. One row per N (1e4, 3e4, 1e5): seconds
for the whole estimate (embedding, Kantz curve, fit, bootstrap, the 19-surrogate test, the
0-1 test and the local-Jacobian cross-check), without the test, without the cross-check and
without the 0-1 test; then the Hénon map x at 1e5 (a map: the 0-1 test runs on 20 000
samples, unsubsampled, its most expensive case); the peak of numpy
allocations (tracemalloc; cKDTree's C++ arrays are O(N) too but not seen) and the process's
peak RSS. Memory must grow linearly in N: the curve uses at most 10 000 reference points, the
neighbour queries run in chunks, the surrogate test uses at most the first 10 000 samples and
the cross-check at most 20 000 local fits, in chunks.
"""

from __future__ import annotations

import resource
import time
import tracemalloc

from neurodsr.dynamics.lyapunov import lyapunov_from_data
from neurodsr.dynamics.zoo import simulate_system


def main() -> None:
    x, dt = simulate_system("lorenz63", 100_000, seed=0, view="one")
    henon, _ = simulate_system("henon", 100_000, seed=0, view="one")
    print(
        f"{'system':<9}{'N':>8}{'seconds':>9}{'no test':>9}{'no check':>9}{'no 0-1':>8}"
        f"{'peak MiB':>10}{'RSS MiB':>9}{'lambda':>8}  verdict"
    )
    for name, n in (("lorenz63", 10_000), ("lorenz63", 30_000), ("lorenz63", 100_000),
                    ("henon", 100_000)):  # fmt: skip
        if name == "henon":
            x, dt = henon, 1.0
        # timings without tracemalloc (it slows the many small allocations of the QR loop
        # several-fold); the memory peak from a separate, traced run
        t0 = time.perf_counter()
        res = lyapunov_from_data(x[:n], dt)
        seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        lyapunov_from_data(x[:n], dt, surrogates=0)
        bare = time.perf_counter() - t0
        t0 = time.perf_counter()
        lyapunov_from_data(x[:n], dt, cross_check="none")
        unchecked = time.perf_counter() - t0
        t0 = time.perf_counter()
        lyapunov_from_data(x[:n], dt, zero_one=False)
        no01 = time.perf_counter() - t0
        tracemalloc.start()
        lyapunov_from_data(x[:n], dt)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"{name:<9}{n:>8}{seconds:>9.2f}{bare:>9.2f}{unchecked:>9.2f}{no01:>8.2f}"
            f"{peak / 2**20:>10.1f}{rss:>9.0f}{res.lambda_max:>8.3f}  {res.verdict}"
        )


if __name__ == "__main__":
    main()
