"""Seconds per call of the reconstruction metrics on 10^5-point series (they run after
training and every ``eval_every`` epochs during it, never per step).

    .venv/bin/python benchmarks/metrics_speed.py [--n 100000]

Prints one row per metric: D_stsp by binning (3-d Lorenz-63) and by the Gaussian-mixture
estimate (10-d, the path for >= 6 dims), and D_H, with the best of three calls (each with the
mixture's cache of the data's half emptied first, so each is a first call on its reference).
Then the Gaussian-mixture D_stsp of ``--members`` free runs against one 64-d reference, as an
ensemble is validated: the data's half computed once for all (what the code does) against it
computed afresh for every member (the cache emptied before each), in one process, alternated.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from neurodsr.dynamics.systems import lorenz63
from neurodsr.metrics import core
from neurodsr.metrics.core import power_spectrum_distance, state_space_divergence


def best_of(f, *args, repeat: int = 3) -> tuple[float, float]:
    times, value = [], np.nan
    for _ in range(repeat):
        core._DATA_HALVES.clear()
        t0 = time.perf_counter()
        value = f(*args)
        times.append(time.perf_counter() - t0)
    return float(value), min(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--members", type=int, default=8, help="free runs against one reference")
    args = p.parse_args()
    a = lorenz63(args.n, dt=0.01, seed=1).values
    b = lorenz63(args.n, dt=0.01, seed=2).values
    mu, sd = a.mean(0), a.std(0)
    a, b = (a - mu) / sd, (b - mu) / sd
    rng = np.random.default_rng(0)
    x10, y10 = rng.standard_normal((args.n, 10)), rng.standard_normal((args.n, 10))
    rows = [
        ("D_stsp, binned (3-d Lorenz-63, two runs)", state_space_divergence, a, b),
        ("D_stsp, Gaussian mixture (10-d Gaussian)", state_space_divergence, x10, y10),
        ("D_H (3-d Lorenz-63, two runs)", power_spectrum_distance, a, b),
    ]
    print(f"| metric ({args.n} points each) | value | seconds |")
    print("|---|---|---|")
    for name, f, u, v in rows:
        value, sec = best_of(f, u, v)
        print(f"| {name} | {value:.3f} | {sec:.3f} |")
    ref = rng.standard_normal((20_000, 64))
    runs = [rng.standard_normal((20_000, 64)) * (1 + 0.1 * e) for e in range(args.members)]

    def members(fresh: bool) -> float:
        core._DATA_HALVES.clear()
        t0 = time.perf_counter()
        for r in runs:
            if fresh:
                core._DATA_HALVES.clear()
            state_space_divergence(ref, r, scale=1.0)
        return time.perf_counter() - t0

    shared, fresh = [], []
    for _ in range(3):
        shared.append(members(False))
        fresh.append(members(True))
    print(f"\n| {args.members} members against one 20000 x 64 reference | seconds (best of 3) |")
    print("|---|---|")
    print(f"| data's half once (the code) | {min(shared):.2f} |")
    print(f"| data's half per member | {min(fresh):.2f} |")
    print(f"| ratio | {min(fresh) / min(shared):.2f} |")


if __name__ == "__main__":
    main()
