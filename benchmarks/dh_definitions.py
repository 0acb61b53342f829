"""D_H, three ways: which definition of the segment-averaged spectrum distance to keep (issue 12).

    .venv/bin/python benchmarks/dh_definitions.py            # run (resumable) and print the table
    .venv/bin/python benchmarks/dh_definitions.py --table    # only print the table

Until session 11 the pipeline had two numbers called "D_H" with two definitions:

- ``mean_dist`` (the evaluation, ``neurodsr.metrics.evaluate`` before session 11): the free run
  (5x the held-out length) cut into segments of the held-out part's length T, each segment's
  :func:`~neurodsr.metrics.core.power_spectrum_distance` against the held-out part, and the
  mean of those distances;
- ``welch_1250`` (the validation, ``neurodsr.training.validation``): the mean smoothed spectrum
  of the run's segments against the mean spectrum of the reference's segments, both of
  min(1250, T) samples, and one Hellinger distance of the two means.

A third is the validation's function at the evaluation's segment length:

- ``welch_T``: the mean spectrum of the run's T-sample segments against the held-out part's
  spectrum (one segment), one distance: the evaluation's D_H from session 11 on
  (:func:`~neurodsr.metrics.core.segment_spectrum_distance` with ``seg_len`` = T; the
  validation's is the same function with ``seg_len`` = min(1250, T)). For a run as long as
  the held-out part all three are :func:`~neurodsr.metrics.core.power_spectrum_distance`.

Each is computed on the same arrays: the held-out part (T samples of one orbit of the true
equations, normalised with the 4 T samples before it, as ``evaluate_fit`` normalises) and a
"model" run of 5 T samples, an independent orbit (another random initial state) of

- the true system (``true``: the metric's floor, what a perfect model scores);
- the true system with its time scale changed by a factor (``time x1.03`` ... ``x1.3``:
  integrated with the sampling step times the factor, so every rhythm is that much faster);
- the true system with 20 % white observation noise added (``noise 0.2``);
- another parameter (Lorenz-63 rho 35, Rössler c 8, Lorenz-96 F 10).

Per definition and condition the table gives the median [IQR] over seeds and, for every
condition but ``true``, the AUC against ``true``: the share of (perturbed, true) pairs over
seeds in which the perturbed run scores the higher distance (1 = every perturbed run is told
apart from every perfect one, 0.5 = chance). A definition is better when its floor is lower
and its AUCs higher, above all for the small perturbations.

Systems: Lorenz-63 (dt 0.01), Rössler (dt 0.1), Lorenz-96 N = 20 (F = 8, dt 0.05), every
coordinate observed; held-out lengths T = 1000, 4000 and 10 000; 8 seeds (``--seeds``).
``neurodsr.dynamics.systems`` integrates the orbits (scipy's solve_ivp).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from neurodsr.dynamics.systems import lorenz63, lorenz96, roessler
from neurodsr.metrics.core import power_spectrum_distance, segment_spectrum_distance
from neurodsr.provenance import library_versions

HERE = Path(__file__).resolve().parent
OUT = HERE / "dh_definitions.jsonl"
DEFINITIONS = ("mean_dist", "welch_T", "welch_1250")

SYSTEMS = {
    "lorenz63": (lambda n, dt, seed, **kw: lorenz63(n, dt, seed=seed, **kw), 0.01, {"rho": 35.0}),
    "roessler": (lambda n, dt, seed, **kw: roessler(n, dt, seed=seed, **kw), 0.1, {"c": 8.0}),
    "lorenz96_20": (
        lambda n, dt, seed, **kw: lorenz96(n, dt, n=20, seed=seed, **kw),
        0.05,
        {"forcing": 10.0},
    ),
}
CONDITIONS = ("true", "time x1.03", "time x1.1", "time x1.3", "noise 0.2", "parameter")


def distances(test: np.ndarray, run: np.ndarray) -> dict[str, float]:
    """The three definitions of D_H of ``run`` (5 T, N) against ``test`` (T, N)."""
    t = len(test)
    k = len(run) // t
    short = min(1250, t)
    return {
        "mean_dist": float(
            np.mean([power_spectrum_distance(test, run[i * t : (i + 1) * t]) for i in range(k)])
        ),
        "welch_T": segment_spectrum_distance(test, run, seg_len=t),
        "welch_1250": segment_spectrum_distance(test, run, seg_len=short),
    }


def _orbit(system: str, n: int, seed: int, condition: str) -> np.ndarray:
    fn, dt, other = SYSTEMS[system]
    kw: dict = {}
    if condition.startswith("time"):
        dt = dt * float(condition.split("x")[1])
    elif condition == "parameter":
        kw = other
    x = np.asarray(fn(n, dt, seed, **kw).values, dtype=np.float64)
    if condition.startswith("noise"):
        rng = np.random.default_rng(seed + 7)
        x = x + float(condition.split()[1]) * x.std(0) * rng.standard_normal(x.shape)
    return x


def run(seeds: int, lengths: list[int], out: Path) -> None:
    done = set()
    if out.exists():
        for line in out.read_text().splitlines():
            r = json.loads(line)
            done.add((r["system"], r["T"], r["seed"], r["condition"]))
    meta = {k: v for k, v in library_versions().items() if k in ("numpy", "scipy")}
    for system in SYSTEMS:
        for t in lengths:
            for seed in range(seeds):
                if all((system, t, seed, c) in done for c in CONDITIONS):
                    continue
                data = _orbit(system, 5 * t, 1000 + seed, "true")
                mu, sd = data[: 4 * t].mean(0), data[: 4 * t].std(0)
                test = (data[4 * t :] - mu) / sd
                for cond in CONDITIONS:
                    if (system, t, seed, cond) in done:
                        continue
                    t0 = time.perf_counter()
                    model = (_orbit(system, 5 * t, 2000 + seed, cond) - mu) / sd
                    row = {
                        "system": system,
                        "T": t,
                        "seed": seed,
                        "condition": cond,
                        **distances(test, model),
                        "seconds": round(time.perf_counter() - t0, 2),
                        **meta,
                    }
                    with out.open("a") as fh:
                        fh.write(json.dumps(row) + "\n")
                    print(system, t, seed, cond, {d: round(row[d], 4) for d in DEFINITIONS})


def _auc(pert: np.ndarray, true: np.ndarray) -> float:
    """P(perturbed > true) over all pairs, ties half."""
    diff = pert[:, None] - true[None, :]
    return float(np.mean((diff > 0) + 0.5 * (diff == 0)))


def table(out: Path) -> str:
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    lines = [
        "| system | T | condition | "
        + " | ".join(f"{d}: median [IQR], AUC" for d in DEFINITIONS)
        + " |",
        "|---|---|---|" + "---|" * len(DEFINITIONS),
    ]
    auc_all: dict[str, list[float]] = {d: [] for d in DEFINITIONS}
    auc_small: dict[str, list[float]] = {d: [] for d in DEFINITIONS}
    ratio: dict[str, list[float]] = {d: [] for d in DEFINITIONS}
    for system in SYSTEMS:
        for t in sorted({r["T"] for r in rows}):
            sel = [r for r in rows if r["system"] == system and r["T"] == t]
            if not sel:
                continue
            true = {
                d: np.array([r[d] for r in sel if r["condition"] == "true"]) for d in DEFINITIONS
            }
            for cond in CONDITIONS:
                cells = []
                for d in DEFINITIONS:
                    v = np.array([r[d] for r in sel if r["condition"] == cond])
                    if not len(v):
                        cells.append("-")
                        continue
                    q1, med, q3 = np.percentile(v, [25, 50, 75])
                    cell = f"{med:.4f} [{q1:.4f}, {q3:.4f}]"
                    if cond != "true":
                        a = _auc(v, true[d])
                        auc_all[d].append(a)
                        if cond in ("time x1.03", "time x1.1"):
                            auc_small[d].append(a)
                        ratio[d].append(med / max(np.median(true[d]), 1e-9))
                        cell += f", {a:.2f}"
                    cells.append(cell)
                lines.append(f"| {system} | {t} | {cond} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        "| definition | mean AUC, all perturbations | mean AUC, time x1.03 and x1.1 "
        "| median ratio perturbed / floor |"
    )
    lines.append("|---|---|---|---|")
    for d in DEFINITIONS:
        lines.append(
            f"| {d} | {np.mean(auc_all[d]):.3f} | {np.mean(auc_small[d]):.3f} "
            f"| {np.median(ratio[d]):.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=8)
    p.add_argument("--lengths", type=int, nargs="+", default=[1000, 4000, 10000])
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--table", action="store_true", help="only print the table")
    a = p.parse_args(argv)
    if not a.table:
        run(a.seeds, a.lengths, a.out)
    print(table(a.out))


if __name__ == "__main__":
    main(sys.argv[1:])
