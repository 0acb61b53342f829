"""What would decide a high-dimensional system that the embedding cannot resolve."""

from __future__ import annotations

import pytest

from neurodsr.dynamics.lyapunov import lyapunov_from_data
from neurodsr.dynamics.zoo import simulate_system


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("view", ["one", "all"])
def test_lorenz96_seen_through_few_coordinates_asks_for_more_of_the_state(
    view: str, seed: int
) -> None:
    # Lorenz-96 (10 sites, lambda_max 1.2) through 1 or 5 coordinates: nearest neighbours
    # start within a nat of the separation of unrelated states (an attractor of more
    # dimensions than 5 000 samples resolve), so the verdict is "unclear". The advice names
    # more of the state as what could resolve it, not a finer sampling (dt = 0.05 follows
    # the divergence well), and says that nothing tried on the benchmark decided such a case
    # (twice the channels up to the full state, more lags, 5x the samples, finer sampling:
    # docs/RESULTS.md 5, session 12), so it promises no decision
    x, dt = simulate_system("lorenz96_10", 5000, seed=seed, view=view)
    res = lyapunov_from_data(x, dt, seed=seed)
    assert res.verdict == "unclear", res.reason
    assert res.advice.startswith("What would decide: not known."), res.advice
    assert "More of the state observed" in res.advice
    assert "finer sampling does not help" in res.advice
    assert "decided any of 10" in res.advice and "treat lambda_max as unknown" in res.advice
