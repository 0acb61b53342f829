"""Seconds per call of the reconstruction metrics on 10^5-point series (they run after
training and every ``eval_every`` epochs during it, never per step).

    .venv/bin/python benchmarks/metrics_speed.py [--n 100000]

Prints one row per metric: D_stsp by binning (3-d Lorenz-63) and by the Gaussian-mixture
estimate (10-d, the path for >= 6 dims), and D_H, with the best of three calls.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from neurodsr.dynamics.systems import lorenz63
from neurodsr.metrics.core import power_spectrum_distance, state_space_divergence


def best_of(f, *args, repeat: int = 3) -> tuple[float, float]:
    times, value = [], np.nan
    for _ in range(repeat):
        t0 = time.perf_counter()
        value = f(*args)
        times.append(time.perf_counter() - t0)
    return float(value), min(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=100_000)
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


if __name__ == "__main__":
    main()
