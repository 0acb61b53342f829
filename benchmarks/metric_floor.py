"""The metrics' finite-sample floor (issue 12): what a *perfect* model scores.

    .venv/bin/python benchmarks/metric_floor.py                     # the floor table (~10 min)
    .venv/bin/python benchmarks/metric_floor.py --table             # the table of what is there
    .venv/bin/python benchmarks/metric_floor.py --cost --against /tmp/old_evaluate.py
    .venv/bin/python benchmarks/metric_floor.py --data ../shared/data/*.npy   # references

For each system and seed one orbit of the true (noise-free) equations is integrated: the
"data" (a training part of 4 T samples and the held-out "test" part of the next T, as
``test_fraction`` 0.2 splits; for every T the test part ends at sample 5 T_max) and the
"perfect model", the same orbit's continuation from ``GAP`` samples after the test part's end
(many Lyapunov times later: an independent run on the same attractor). Independent initial
states are no perfect model of the rate network: in a first trial two of them scored D_stsp
66 and D_H 0.51 at every length, i.e. another attractor (its equations are symmetric under
x -> -x), which a model started from the data's state would not reach. Both are normalised
with the training part's mean and std, as
:func:`neurodsr.metrics.evaluate.evaluate_fit` normalises the held-out part and the model's
run, and scored with the function that scores the model there,
:func:`neurodsr.metrics.evaluate.free_run_scores` (D_stsp of the whole run against the test
part: binned below 6 dims, Gaussian mixtures from 6; D_H of the run's spectrum averaged over
its segments of T steps; until session 11 the mean of the segments' distances, which the rows
of ``metric_floor.jsonl`` and docs/RESULTS.md's floor tables hold).
The perfect model's run has 1x, 5x and 25x T steps (the longer T: 1x and 5x, 5x being the
10^5 cap); ``ref`` rows are the data's own reference as ``evaluate_fit`` records it
(:func:`neurodsr.metrics.evaluate.data_reference`: the training part's last
min(n_generate, 4 T) samples against the test part), at n_generate = 1x T (``ref1``) and
at the default 5x T (``ref5``, i.e. the whole training part).

Systems (every coordinate observed unless said): Lorenz-63 (dt 0.01), Rössler (dt 0.1),
Lorenz-96 N = 20 and N = 40 (F = 8, dt 0.05), and the zoo's 100-unit chaotic rate network
(``rate_net_100``, g = 4, dt 0.25) seen two ways: ``rate10`` = the rates tanh(x) of its first
10 units, ``rate64`` = its 100 rates through 64 fixed Gaussian mixtures (the noise-free
version of ``benchmarks/quality.py``'s stand-in). Orbits: fixed-step RK4 at the zoo's step
(``dt / substeps``), all orbits of a system in one vectorised loop, after the zoo's transient.
Rate-network orbits whose rates lose their spread (a chaotic transient ending on a fixed
point, see ``benchmarks/quality.py``) are replaced by the next initial state.

``--cost`` times :func:`~neurodsr.metrics.evaluate.evaluate_fit` (seconds, median of
``--rounds`` interleaved calls) on a 3-d (Lorenz-63, 20 000 samples, 4 000 held out) and a
64-channel (``rate64``, same lengths) series, each with a briefly trained 3-seed fit
(``train_fit(max_minutes=0.25)``), with this checkout's scorer and, with ``--against FILE``,
another version of ``src/neurodsr/metrics/evaluate.py`` (e.g. ``git show 373bb5c:src/
neurodsr/metrics/evaluate.py > /tmp/old_evaluate.py``) loaded as a module of its own.

``--data FILE ...``: the data's own reference of recorded series, split as
``benchmarks/quality.py`` splits them (``ref1``, ``ref5``; one JSON line each).

Output: one JSON line per (system, seed, T, run) in ``--out`` (resumable: rows already there
are skipped); ``--table`` prints median [IQR] over seeds as a Markdown table.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from neurodsr.dynamics.zoo import SYSTEMS
from neurodsr.metrics.evaluate import data_reference, free_run_scores

HERE = Path(__file__).resolve().parent
SYSTEM_NAMES = ("lorenz63", "roessler", "lorenz96_20", "lorenz96_40", "rate10", "rate64")
FACTORS = (1, 5, 25)
GAP = 1000  # samples between the test part's end and the perfect model's start
CAP = 100_000  # the scored run's cap (neurodsr.metrics.evaluate.SCORED_LENGTH_CAP)

Array = np.ndarray


# --------------------------------------------------------------------------- orbits
def _lorenz96(n: int, forcing: float = 8.0) -> Callable[[Array], Array]:
    i = np.arange(n)
    ip1, im1, im2 = (i + 1) % n, (i - 1) % n, (i - 2) % n

    def f(x: Array) -> Array:
        return (x[:, ip1] - x[:, im2]) * x[:, im1] - x + forcing

    return f


def _spec(name: str) -> tuple[Callable[[Array], Array], float, int, float, Callable]:
    """(vector field on (B, n), dt, substeps, transient time, x0(rng, b))."""
    if name == "lorenz96_40":
        base = SYSTEMS["lorenz96_20"]
        return (
            _lorenz96(40),
            base.dt,
            base.substeps,
            base.transient,
            lambda rng, b: 8.0 + rng.standard_normal((b, 40)),
        )
    key = "rate_net_100" if name.startswith("rate") else name
    s = SYSTEMS[key]
    return s.f, s.dt, s.substeps, s.transient, s.x0


def integrate(name: str, n_orbits: int, n_samples: int, seed: int) -> Array:
    """``n_orbits`` orbits of ``n_samples`` samples each, (n_orbits, n_samples, n_state):
    RK4 with ``substeps`` steps per sample, the transient discarded."""
    f, dt, sub, transient, x0 = _spec(name)
    h = dt / sub
    z = np.asarray(x0(np.random.default_rng([seed, 2026]), n_orbits), dtype=np.float64)
    out = np.empty((n_orbits, n_samples, z.shape[1]))
    n_trans = round(transient / dt)
    for i in range(n_trans + n_samples):
        if i >= n_trans:
            out[:, i - n_trans] = z
        for _ in range(sub):
            k1 = f(z)
            k2 = f(z + 0.5 * h * k1)
            k3 = f(z + 0.5 * h * k2)
            k4 = f(z + h * k3)
            z = z + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
    if not np.isfinite(out).all():
        raise RuntimeError(f"{name}: an orbit diverged")
    return out


def _keeps_spread(rates: Array) -> bool:
    """The rate network's rates keep their spread in every fifth of the run (the test of
    ``benchmarks/quality.py``'s ``rate_network``)."""
    spread = [float(p.std(0).mean()) for p in np.array_split(rates, 5)]
    return min(spread) > 0.9 * spread[0]


@functools.cache
def _rate_orbits(n_needed: int, n_samples: int) -> tuple[Array, list[int]]:
    """Rates tanh(x) of ``n_needed`` rate-network orbits that stay chaotic (batches of
    4 n_needed initial states until enough are found), and the indices of their states."""
    found: list[Array] = []
    used: list[int] = []
    for batch in range(5):
        x = integrate("rate_net_100", 4 * n_needed, n_samples, seed=batch)
        for i, orbit in enumerate(np.tanh(x)):
            if len(found) < n_needed and _keeps_spread(orbit):
                found.append(orbit)
                used.append(batch * 4 * n_needed + i)
        if len(found) == n_needed:
            return np.stack(found), used
    raise RuntimeError(f"rate_net_100: only {len(found)} orbits stayed chaotic")


def orbits(name: str, n_needed: int, n_samples: int) -> tuple[Array, list[int]]:
    """``n_needed`` observed orbits, (n_needed, n_samples, N), and the indices of the initial
    states used (rate networks: those whose rates keep their spread)."""
    if not name.startswith("rate"):
        return integrate(name, n_needed, n_samples, seed=0), list(range(n_needed))
    rates, good = _rate_orbits(n_needed, n_samples)
    if name == "rate10":
        return rates[:, :, :10], good
    mix = np.random.default_rng([0, 64]).standard_normal((rates.shape[2], 64)) / math.sqrt(
        rates.shape[2]
    )
    return rates @ mix, good


# --------------------------------------------------------------------------- the floor
def floor_rows(
    name: str, seeds: int, lengths: list[int], done: set[tuple], out: Path
) -> list[dict[str, Any]]:
    """Score every (seed, T, run) of ``name`` not in ``done``; append each row to ``out``."""
    model_len = max(k * t for t in lengths for k in FACTORS if k * t <= CAP)
    data_end = 5 * max(lengths)
    n_orbit = data_end + GAP + model_len
    wanted = [
        (s, t, run)
        for s in range(seeds)
        for t in lengths
        for run in [*(f"model{k}" for k in FACTORS if k * t <= CAP), "ref1", "ref5"]
        if (name, s, t, run) not in done
    ]
    if not wanted:
        return []
    t0 = time.perf_counter()
    obs, used = orbits(name, seeds, n_orbit)
    sim_seconds = time.perf_counter() - t0
    print(f"{name}: {seeds} orbits of {n_orbit} samples in {sim_seconds:.1f} s", flush=True)
    rows = []
    for s, t, run in wanted:
        data = obs[s][data_end - 5 * t : data_end]  # training part (4 T) and test part (T)
        train, test = data[: 4 * t], data[4 * t :]
        mu, sd = train.mean(0), train.std(0)
        train_n, test_n = (train - mu) / sd, (test - mu) / sd
        t1 = time.perf_counter()
        if run.startswith("model"):
            k = int(run[5:])
            model = (obs[s][data_end + GAP : data_end + GAP + k * t] - mu) / sd
            sc = free_run_scores(test_n, model, scale=1.0)
            row = {"D_stsp": sc["D_stsp"], "D_H": sc["D_H"], "segments": sc["D_H_segments"]}
            length = k * t
        else:
            k = int(run[3:])
            ref = data_reference(train_n, test_n, k * t, scale=1.0)
            row = {"D_stsp": ref["dstsp_data_reference"], "D_H": ref["dh_data_reference"]}
            length = ref["n_data_reference"]
        row = {
            "system": name,
            "dims": int(obs.shape[2]),
            "seed": s,
            "T": t,
            "run": run,
            "length": int(length),
            **row,
            "initial_state": used[s],
            "seconds": time.perf_counter() - t1,
        }
        with out.open("a") as fh:
            fh.write(json.dumps(row) + "\n")
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def read_rows(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _cell(vals: list[float]) -> str:
    v = np.asarray(vals, dtype=np.float64)
    q1, med, q3 = np.percentile(v, [25, 50, 75])
    return f"{med:.3g} [{q1:.3g}, {q3:.3g}]"


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown, one table per metric: per system and T, median [IQR] over seeds of each
    run's score (model k = the perfect model at k x T; ref k = the data's reference at
    n_generate = k x T)."""
    runs = ["model1", "model5", "model25", "ref1", "ref5"]
    keys = sorted(
        {(r["system"], r["T"]) for r in rows},
        key=lambda k: (SYSTEM_NAMES.index(k[0]) if k[0] in SYSTEM_NAMES else 99, k[1]),
    )
    out = []
    for metric in ("D_stsp", "D_H"):
        head = f"| {metric} | N | T | seeds | " + " | ".join(runs) + " |"
        lines = [head, "|" + "---|" * (4 + len(runs))]
        for name, t in keys:
            sel = [r for r in rows if r["system"] == name and r["T"] == t]
            by = {run: [r[metric] for r in sel if r["run"] == run] for run in runs}
            cells = [_cell(by[run]) if by[run] else "-" for run in runs]
            n_seeds = len({r["seed"] for r in sel})
            lines.append(
                f"| {name} | {sel[0]['dims']} | {t} | {n_seeds} | " + " | ".join(cells) + " |"
            )
        out.append("\n".join(lines))
    return "\n\n".join(out)


# --------------------------------------------------------------------------- cost
def _load_scorer(path: str) -> Any:
    spec = importlib.util.spec_from_file_location("neurodsr_evaluate_against", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def cost(against: str | None, rounds: int) -> None:
    """Seconds of evaluate_fit, this checkout's against another's, on a 3-d and a 64-channel
    series (20 000 samples, the last 4 000 held out), interleaved, median and range."""
    import torch

    from neurodsr.api import train_fit
    from neurodsr.metrics import evaluate as new

    torch.set_num_threads(1)
    scorers = {"this": new}
    if against:
        scorers["against"] = _load_scorer(against)
    n, n_train = 20_000, 16_000
    sets = {
        "lorenz63_3d": (orbits("lorenz63", 1, n)[0][0], SYSTEMS["lorenz63"].dt),
        "rate64": (orbits("rate64", 1, n)[0][0], SYSTEMS["rate_net_100"].dt),
    }
    for name, (x, dt) in sets.items():
        t0 = time.perf_counter()
        fitted = train_fit(
            x, dt, seeds=3, n_train=n_train, max_minutes=0.25, progress=False, threads=1
        )
        print(f"{name}: fit in {time.perf_counter() - t0:.0f} s", flush=True)
        secs: dict[str, list[float]] = {k: [] for k in scorers}
        info: dict[str, Any] = {}
        for _ in range(rounds):
            for key, mod in scorers.items():
                t1 = time.perf_counter()
                ev = mod.evaluate_fit(fitted, x, n_train, dt, lambda_max_data=None)
                secs[key].append(time.perf_counter() - t1)
                info[key] = {
                    k: ev.metrics.get(k)
                    for k in ("n_generate", "D_stsp", "D_H", "dstsp_data_reference")
                }
                info[key]["nc_mbytes"] = ev.dataset.nbytes / 1e6
        for key, v in secs.items():
            print(
                json.dumps(
                    {
                        "set": name,
                        "scorer": key,
                        "dims": int(x.shape[1]),
                        "rounds": rounds,
                        "seconds_median": float(np.median(v)),
                        "seconds_min": float(np.min(v)),
                        "seconds_max": float(np.max(v)),
                        **info[key],
                    }
                ),
                flush=True,
            )


def data_references(paths: list[str], n: int) -> None:
    """The data's own reference (``ref1``, ``ref5``) of recorded series (.npy, time first),
    cut and split as ``benchmarks/quality.py`` does (the first ``max(n, 10 000)`` samples of a
    series longer than 2 n; the last 20 % held out), one JSON line each."""
    for path in paths:
        x = np.load(path, allow_pickle=False).astype(np.float64)
        x = x[:, None] if x.ndim == 1 else x
        x = x[: max(n, 10_000)] if len(x) > 2 * n else x
        n_train = round(0.8 * len(x))
        mu, sd = x[:n_train].mean(0), x[:n_train].std(0)
        train, test = (x[:n_train] - mu) / sd, (x[n_train:] - mu) / sd
        for k in (1, 5):
            ref = data_reference(train, test, k * len(test), scale=1.0)
            print(json.dumps({"data": Path(path).stem, "run": f"ref{k}", "T": len(test), **ref}))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--systems", nargs="+", default=list(SYSTEM_NAMES), choices=SYSTEM_NAMES)
    p.add_argument("--seeds", type=int, default=5, help="orbit pairs per system (default 5)")
    p.add_argument("--lengths", type=int, nargs="+", default=[4000, 20000], help="test T")
    p.add_argument("--out", type=Path, default=HERE / "metric_floor.jsonl")
    p.add_argument("--table", action="store_true", help="print the table of --out and exit")
    p.add_argument("--cost", action="store_true", help="time evaluate_fit and exit")
    p.add_argument("--against", default=None, help="with --cost: another evaluate.py")
    p.add_argument("--rounds", type=int, default=3, help="with --cost: calls per scorer")
    p.add_argument("--data", nargs="+", default=None, help="the reference of these .npy files")
    p.add_argument("--n", type=int, default=20_000, help="with --data: quality.py's --n")
    args = p.parse_args(argv)
    if args.data:
        data_references(args.data, args.n)
        return
    if args.cost:
        cost(args.against, args.rounds)
        return
    if not args.table:
        done = {(r["system"], r["seed"], r["T"], r["run"]) for r in read_rows(args.out)}
        for name in args.systems:
            floor_rows(name, args.seeds, sorted(args.lengths), done, args.out)
    print(table(read_rows(args.out)))


if __name__ == "__main__":
    main()
