"""How often the report's checks fire on good and on broken "models" (issue 14).

A perfect model is stood in for by an independent run of the same system (another seed); the
broken ones are that run with a defect added. For each system and seed this prints whether
:func:`neurodsr.metrics.core.high_frequency_excess` flags a dim and what
:func:`neurodsr.metrics.core.member_health` says from frac_outside and finiteness (PE needs a
trained model and is left out here). Numbers: the share of cases flagged, and the median and
the range of the largest high-frequency power ratio over dims.

    .venv/bin/python benchmarks/health_checks.py [--seeds 20] [--steps 10000]
"""

from __future__ import annotations

import argparse

import numpy as np

from neurodsr.dynamics.systems import duffing, lorenz63, lorenz96, roessler
from neurodsr.metrics.core import (
    fraction_outside,
    high_frequency_excess,
    max_excursion,
    member_health,
)

SYSTEMS = {
    "lorenz63 dt 0.01": lambda n, s: lorenz63(n, dt=0.01, seed=s).values,
    "roessler dt 0.05": lambda n, s: roessler(n, dt=0.05, seed=s).values,
    "lorenz96 dt 0.02": lambda n, s: lorenz96(n, dt=0.02, seed=s).values,
    "duffing dt 0.05": lambda n, s: duffing(n, dt=0.05, seed=s).values,
}


def defects(b: np.ndarray, rng: np.random.Generator, fs: float) -> dict[str, np.ndarray]:
    """The stand-in model ``b`` and broken versions of it."""
    t = np.arange(len(b)) / fs
    sd = b.std(0)
    hf = b + 0.3 * sd * np.sin(2 * np.pi * 0.45 * fs * t)[:, None]  # a line near Nyquist
    rising = b.copy()  # white noise, high-passed: a spectrum rising towards Nyquist
    noise = rng.standard_normal(b.shape)
    rising += 0.3 * sd * np.diff(noise, axis=0, prepend=0.0) / np.sqrt(2)
    blown = b.copy()
    blown[len(b) // 2 :] *= 1e5
    nan = b.copy()
    nan[len(b) // 3 :] = np.nan
    return {
        "independent run": b,
        "+ small white noise (5% std)": b + 0.05 * sd * rng.standard_normal(b.shape),
        "+ 0.45 fs line (30% std)": hf,
        "+ high-passed noise (30% std)": rising,
        "blown up x1e5 half-way": blown,
        "NaN from a third on": nan,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--steps", type=int, default=10_000)
    args = p.parse_args()
    for name, make in SYSTEMS.items():
        fs = 1.0 / float(name.split("dt ")[1])
        rows: dict[str, list[tuple[bool, str, float]]] = {}
        for seed in range(args.seeds):
            a = make(args.steps, 2 * seed)
            b = make(args.steps, 2 * seed + 1)
            rng = np.random.default_rng(seed)
            for label, m in defects(b, rng, fs).items():
                hf = high_frequency_excess(a, m, fs)
                finite = bool(np.isfinite(m).all())
                health = member_health(
                    pe=None,
                    frac_outside=fraction_outside(a, m),
                    finite=finite,
                    excursion=max_excursion(a, m),
                )
                ratio = float(np.nanmax(hf.ratio)) if np.isfinite(hf.ratio).any() else np.nan
                rows.setdefault(label, []).append((bool(hf.flagged.any()), health.status, ratio))
        print(f"\n{name}, {args.steps} steps, {args.seeds} seeds")
        print(
            f"{'model':32s} {'HF flagged':>10s} {'verdict (no PE, no HF)':>26s} "
            f"{'max HF ratio: median [min, max]':>34s}"
        )
        for label, r in rows.items():
            flagged = np.mean([x[0] for x in r])
            verdicts = {s: sum(x[1] == s for x in r) for s in ("ok", "check", "diverged")}
            v = ", ".join(f"{k} {n}" for k, n in verdicts.items() if n)
            ratios = np.array([x[2] for x in r])
            ok = ratios[np.isfinite(ratios)]
            rtext = f"{np.median(ok):.2f} [{ok.min():.2f}, {ok.max():.2f}]" if ok.size else "-"
            print(f"{label:32s} {100 * flagged:9.0f}% {v:>26s} {rtext:>34s}")


if __name__ == "__main__":
    main()
