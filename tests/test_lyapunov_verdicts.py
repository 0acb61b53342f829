"""The verdicts of `neurodsr lyapunov` pinned at the benchmark's settings and at several seeds.

What `neurodsr lyapunov SERIES --dt DT` computes (``estimate_tau`` with the command's defaults:
:func:`~neurodsr.dynamics.lyapunov.lyapunov_from_data` and tau from its verdict) on the series
of the Lyapunov benchmark (``benchmarks/lyapunov/run.py``: the same generators, 5 % observation
noise, 20 000 samples, the same seeds for orbit and noise), against the benchmark's QR
references (``benchmarks/lyapunov/references.json``):

- every non-chaotic control, through one coordinate and through all, is never "chaotic";
- systems the benchmark gets within 20 % are "chaotic" with lambda_max within a tolerance
  measured over seeds 0-4 (``benchmarks/lyapunov/seeds.py``, docs/RESULTS.md 5);
- Lorenz-96 through a few coordinates, an attractor the embedding does not resolve (class A
  of the diagnosis in docs/RESULTS.md 5), is "unclear" with the short conservative tau, never
  a confident "not chaotic" (which would advise long forcing intervals).

The default run takes about a minute on one core (12 tests, 57 s, 50 s of CPU; the cheapest
orbits: the Hénon map and the control generators); the rest of the grid (127 cases, about 40
min of one core) is marked long. Tolerances and seeds: docs/RESULTS.md 5, "Verdicts at five
seeds".
"""

from __future__ import annotations

import inspect
import json
import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from neurodsr.commands.lyapunov import add_parser
from neurodsr.dynamics.lyapunov import LyapunovResult, lyapunov_from_data
from neurodsr.dynamics.tau import estimate_tau
from neurodsr.dynamics.zoo import (
    CONTROLS,
    SYSTEMS,
    _add_noise,
    _view,
    control_series,
    simulate_clean,
    simulate_system,
)

#: The benchmark's length and observation noise (benchmarks/lyapunov/run.py).
N = 20_000
NOISE = 0.05
REFS = json.loads(
    (Path(__file__).resolve().parents[1] / "benchmarks/lyapunov/references.json").read_text()
)


@lru_cache(maxsize=8)
def _orbit(name: str, n: int, seed: int) -> np.ndarray:
    """The noise-free orbit, shared by the two views of one seed (the simulation is the slow
    part): as ``run.series`` caches it."""
    x = simulate_clean(name, n, seed=seed)
    x.setflags(write=False)
    return x


def _series(name: str, view: str, seed: int, n: int = N) -> tuple[np.ndarray, float]:
    """The benchmark's observed series of a case and its dt (``run.series``)."""
    if name in CONTROLS:
        return control_series(name, n, seed=seed, noise=NOISE, view=view)
    return _add_noise(_view(_orbit(name, n, seed), SYSTEMS[name], view), NOISE, seed), SYSTEMS[
        name
    ].dt


def _estimate(name: str, view: str, seed: int) -> tuple[int | None, LyapunovResult]:
    """tau (steps) and the result, as `neurodsr lyapunov` computes them (its defaults)."""
    x, dt = _series(name, view, seed)
    return estimate_tau(x, dt, seed=seed)


def test_the_series_are_the_benchmarks() -> None:
    # the same generator, view, noise and seeds as benchmarks/lyapunov/run.py (which calls
    # simulate_clean, _view and _add_noise in this order); the two views share one orbit
    for view in ("one", "all"):
        x, dt = _series("henon", view, 3, n=2000)
        y, dt_y = simulate_system("henon", 2000, seed=3, noise=NOISE, view=view)
        np.testing.assert_array_equal(x, y)
        assert dt == dt_y == 1.0


def test_the_command_runs_the_estimator_with_its_defaults() -> None:
    # `neurodsr lyapunov DATA --dt DT` -> estimate_tau(x, dt, method=..., ...): its defaults
    # are those of estimate_tau and lyapunov_from_data, so the pins below hold for the command
    import argparse

    sub = argparse.ArgumentParser().add_subparsers()
    add_parser(sub)
    args = sub.choices["lyapunov"].parse_args(["data.npy", "--dt", "1"])
    est = inspect.signature(lyapunov_from_data).parameters
    tau = inspect.signature(estimate_tau).parameters
    assert args.method == est["method"].default == "kantz"
    assert args.surrogates == est["surrogates"].default == 19
    assert args.cross_check == est["cross_check"].default
    assert args.noise_reduction == est["noise_reduction"].default
    assert (args.zero_one == "on") is est["zero_one"].default is True
    assert args.delay is args.dim is args.theiler is None
    assert args.seed == est["seed"].default == 0
    for name in ("tau_min", "tau_max", "not_chaotic"):
        assert getattr(args, name) == tau[name].default, name


#: Seeds of the pins: the seeds over which the spread was measured (orbit and noise, as the
#: benchmark's ``--seeds``).
SEEDS = (0, 1, 2, 3, 4)


def _grid(cases: list[tuple], default: set[tuple]) -> list:
    """pytest params of ``cases``; those not in ``default`` are marked long (not run by
    ``make test`` / .ci/run: the whole grid takes ~25 min of a loaded 2-core machine; run
    them with ``pytest -m long tests/test_lyapunov_verdicts.py``)."""
    return [
        pytest.param(*c, id="-".join(map(str, c)), marks=() if c in default else pytest.mark.long)
        for c in cases
    ]


def _tau_of(res: LyapunovResult) -> int:
    """tau (steps) that choose_tau gives a "chaotic" result with the command's bounds [2, 200]."""
    return int(np.clip(round(math.log(2.0) / res.lambda_max_per_step), 2, 200))


# ------------------------------------------------------------------------------------ controls

CONTROL_CASES = [(c, v, s) for c in CONTROLS for v in ("one", "all") for s in SEEDS]
#: The default run: every control once, through one coordinate, each at another seed (the
#: whole grid, both views at all five seeds, is marked long: ~25 min of the loaded machine)
CONTROL_DEFAULT = {(c, "one", SEEDS[i % len(SEEDS)]) for i, c in enumerate(CONTROLS)}


@pytest.mark.parametrize(("name", "view", "seed"), _grid(CONTROL_CASES, CONTROL_DEFAULT))
def test_a_control_is_never_called_chaotic(name: str, view: str, seed: int) -> None:
    # limit cycle, torus, noisy stable focus, AR(1), 1/f noise, noisy oscillator, sine: "not
    # chaotic" (tau_max) or at worst "unclear" (the short conservative tau), never "chaotic"
    # (which would claim an exponent that is not there). Measured at seeds 0-4, both views:
    # 0 of 70 chaotic (docs/RESULTS.md 5)
    tau, res = _estimate(name, view, seed)
    assert res.verdict != "chaotic", res.reason
    assert (res.verdict, tau) in (("not chaotic", 200), ("unclear", 20)), res.reason


# -------------------------------------------------------------- an attractor not resolved (A)

UNRESOLVED_CASES = [("lorenz96_10", "one", s) for s in SEEDS] + [
    ("lorenz96_10", "all", s) for s in SEEDS[:3]
]
#: Not in the default run: one case took 62 s under load, most of it the Python RK4 of the orbit
#: (10 sites, 22 000 steps); tests/test_lyapunov_unresolved.py pins the same verdict at 5 000
#: samples by default
UNRESOLVED_DEFAULT: set[tuple] = set()


@pytest.mark.parametrize(("name", "view", "seed"), _grid(UNRESOLVED_CASES, UNRESOLVED_DEFAULT))
def test_an_unresolved_attractor_is_unclear_not_a_confident_no(
    name: str, view: str, seed: int
) -> None:
    # Lorenz-96 (10 sites, lambda_max 1.2 per unit time) through 1 or 5 of its coordinates:
    # the embedding does not resolve the attractor (noise-free and at 100 000 samples alike,
    # class A of docs/RESULTS.md 5), so no number can be trusted. What the method guarantees
    # is the verdict: "unclear" with the short conservative tau and the advice that more of
    # the state could resolve it, never "not chaotic" (long forcing intervals, wrong for
    # chaotic data) and never a "chaotic" number.
    tau, res = _estimate(name, view, seed)
    assert res.verdict == "unclear", res.reason
    assert tau == 20
    assert res.advice.startswith("What would decide: not known."), res.advice
    assert "More of the state observed" in res.advice


# ------------------------------------------------------------------------ chaotic systems

#: (system, view) pinned "chaotic", with the tolerance on lambda_max against the QR reference:
#: the cases the benchmark gets within 20 % at every one of seeds 0-4. The tolerance is the
#: worst error measured over seeds 0-4 (code version e700c584d1, N = 20 000, 5 % noise;
#: ``benchmarks/lyapunov/seeds.py``, docs/RESULTS.md 5), rounded up to a whole per cent, plus
#: 5 percentage points of margin, and never more than the benchmark's 20 % target. The
#: computation is deterministic at a given seed, so the margin absorbs numerical differences
#: between machines and small changes of the method, not unlucky seeds; a pin that fails means
#: the estimator moved by more than that. The orbits of the maps and the polynomial flows are
#: the same on every IEEE machine; Ikeda's (cos, sin) and the network's (tanh) may differ in
#: the last bits between CPUs (libm / SIMD), which acts like another seed: the margin covers
#: the measured spread. Left out, with the reason: Rössler (-19 to -37 % at
#: seeds 0-1: within 30 %, not 20 %), Mackey-Glass ("unclear" at every seed run), the 50-unit
#: network through one unit (-14 to -23 %), logistic_r4 "all" (one coordinate: the same
#: series as "one").
CHAOTIC: dict[tuple[str, str], float] = {
    # (system, view): tolerance  # errors at seeds 0-4, per cent
    ("lorenz63", "one"): 0.08,  # +2.9, +2.2, -0.2, -0.4, +0.4
    ("lorenz63", "all"): 0.17,  # -8.4, -8.7, -8.1, -9.0, -11.7
    ("henon", "one"): 0.11,  # -5.2, -3.8, -5.1, -2.0, -2.5
    ("henon", "all"): 0.09,  # -3.9, -1.6, -3.9, -2.6, -2.9
    ("lozi", "one"): 0.18,  # -11.4, -11.4, -12.8, -12.4, -11.8
    ("lozi", "all"): 0.16,  # -7.7, -10.3, -9.5, -7.8, -7.8
    ("logistic_r4", "one"): 0.12,  # -6.5, -5.7, -5.0, -4.4, -4.8
    ("ikeda", "one"): 0.12,  # -5.8, -6.4, -6.7, -6.5, -6.2
    ("ikeda", "all"): 0.08,  # -0.8, -0.9, -1.0, -2.8, -1.9
    ("sprott_b", "one"): 0.19,  # -6.7, -8.5, -8.1, -13.2, -4.1
    ("sprott_b", "all"): 0.20,  # -11.4, -12.8, -10.5, -15.2, -8.8 (capped at the target)
    ("rate_net_50", "all"): 0.12,  # +0.2, -1.1, -0.3, +6.9, +5.3
}
CHAOTIC_CASES = [(s, v, seed) for (s, v) in CHAOTIC for seed in SEEDS]
#: The default run: the Hénon map through x at three seeds (its orbit simulates in a fraction
#: of a second; the flows' Python RK4 takes 5-20 s per orbit)
CHAOTIC_DEFAULT = {("henon", "one", s) for s in SEEDS[:3]}


@pytest.mark.parametrize(("name", "view", "seed"), _grid(CHAOTIC_CASES, CHAOTIC_DEFAULT))
def test_a_chaotic_system_is_chaotic_within_the_tolerance(name: str, view: str, seed: int) -> None:
    ref, tol = REFS[name]["lambda_max"], CHAOTIC[(name, view)]
    tau, res = _estimate(name, view, seed)
    assert res.verdict == "chaotic", res.reason
    assert res.lambda_max == pytest.approx(ref, rel=tol), (res.lambda_max, ref)
    # the verdict rests on the surrogate test: the data beat all 19 IAAFT surrogates
    sur = res.summary()["surrogate_test"]
    assert sur["p_value"] <= 0.05 and sur["n_surrogates"] == 19
    assert tau == _tau_of(res)
