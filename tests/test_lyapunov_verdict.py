"""Verdicts backed by the surrogate test: chaotic systems at several seeds, controls never
chaotic, surrogates keep the spectrum and the values."""

from __future__ import annotations

import json

import numpy as np
import pytest

from neurodsr.dynamics.lyapunov import lyapunov_from_data
from neurodsr.dynamics.surrogates import iaaft, rank_test
from neurodsr.dynamics.zoo import SYSTEMS, control_series, reference_lambda, simulate_system

N = 8000


def test_iaaft_keeps_values_and_spectrum() -> None:
    rng = np.random.default_rng(0)
    x = np.cumsum(rng.standard_normal((4096, 2)), axis=0)
    x[:, 1] += 0.5 * x[:, 0]
    s = iaaft(x, 3, n_iter=30, seed=1)
    assert s.shape == (3, 4096, 2)
    np.testing.assert_array_equal(np.sort(s[0], axis=0), np.sort(x, axis=0))
    pa = np.abs(np.fft.rfft(x, axis=0)) ** 2
    ps = np.abs(np.fft.rfft(s[0], axis=0)) ** 2
    # smoothed spectra agree within a few per cent; the ordering in time does not
    k = np.ones(64) / 64
    ratio = np.convolve(ps[1:, 0], k, "valid") / np.convolve(pa[1:, 0], k, "valid")
    assert np.median(np.abs(ratio - 1)) < 0.1
    assert not np.allclose(s[0], x)
    # shared phases keep the correlation between channels
    assert np.corrcoef(s[0].T)[0, 1] == pytest.approx(np.corrcoef(x.T)[0, 1], abs=0.1)


def test_rank_test() -> None:
    assert rank_test(5.0, np.arange(19.0) / 10) == pytest.approx(0.05)
    assert rank_test(0.0, np.arange(1, 20.0)) == pytest.approx(1.0)
    assert rank_test(0.0, np.arange(1, 20.0), larger=False) == pytest.approx(0.05)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(
    ("name", "view"), [("henon", "one"), ("lorenz63", "one"), ("sprott_b", "all")]
)
def test_chaotic_systems_at_several_seeds(name: str, view: str, seed: int) -> None:
    x, dt = simulate_system(name, N, seed=seed, view=view)
    ref, _ = reference_lambda(name, n_samples=1500, n_orbits=2, seed=seed)
    res = lyapunov_from_data(x, dt, seed=seed)
    assert res.verdict == "chaotic", res.reason
    assert res.lambda_max == pytest.approx(ref[0], rel=0.3)
    sur = res.summary()["surrogate_test"]
    assert sur["p_value"] <= 0.05 and sur["n_surrogates"] == 19
    assert sur["data"] > sur["surrogate_max"]
    json.dumps(res.summary(), allow_nan=False)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize(
    "name", ["van_der_pol", "torus", "noisy_fixed_point", "ar1", "pink_noise", "noisy_oscillator"]
)
def test_controls_are_never_called_chaotic(name: str, seed: int) -> None:
    x, dt = control_series(name, N, seed=seed, view="one")
    res = lyapunov_from_data(x, dt, seed=seed)
    assert res.verdict != "chaotic", res.reason


@pytest.mark.parametrize("name", ["ar1", "torus"])
def test_linear_noise_and_torus_are_not_chaotic(name: str) -> None:
    x, dt = control_series(name, N, seed=3, view="one")
    res = lyapunov_from_data(x, dt, seed=3)
    assert res.verdict == "not chaotic", res.reason


def test_unclear_says_what_would_decide() -> None:
    # Lorenz-96 through one coordinate: the pairs separate before the fit could start
    x, dt = simulate_system("lorenz96_10", N, seed=0, view="one")
    res = lyapunov_from_data(x, dt, seed=0)
    assert res.verdict in ("unclear", "not chaotic"), res.reason
    if res.verdict == "unclear":
        assert "What would decide" in res.advice


def test_surrogates_can_be_switched_off() -> None:
    x, dt = simulate_system("henon", 5000, seed=0, view="one")
    res = lyapunov_from_data(x, dt, surrogates=0)
    assert res.verdict == "chaotic" and res.surrogate is None
    assert res.summary()["surrogate_test"] is None
    assert SYSTEMS["henon"].dt == 1.0
