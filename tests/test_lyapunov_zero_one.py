"""The 0-1 test for chaos (Gottwald & Melbourne, correlation method) and its place in the
verdict: K ~ 1 for chaos, ~ 0 for regular dynamics; a flat divergence curve on chaotic data
that the embedding cannot resolve is "unclear", not "not chaotic"."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from neurodsr.dynamics.embedding import ami_delay
from neurodsr.dynamics.lyapunov import lyapunov_from_data
from neurodsr.dynamics.zero_one import _msd, zero_one_test
from neurodsr.dynamics.zoo import control_series, simulate_system


def _logistic(n: int, x0: float = 0.3) -> np.ndarray:
    x = np.empty(n)
    x[0] = x0
    for i in range(1, n):
        x[i] = 4.0 * x[i - 1] * (1.0 - x[i - 1])
    return x


def test_mean_square_displacement_matches_the_direct_sum() -> None:
    rng = np.random.default_rng(0)
    z = np.cumsum(rng.standard_normal((3, 500)) + 1j * rng.standard_normal((3, 500)), axis=1)
    n_cut = 50
    m = 500 - n_cut
    direct = np.array(
        [[np.mean(np.abs(zz[n : n + m] - zz[:m]) ** 2) for n in range(1, n_cut + 1)] for zz in z]
    )
    np.testing.assert_allclose(_msd(z, n_cut), direct, rtol=1e-9, atol=1e-9)


def test_logistic_map_is_chaotic() -> None:
    res = zero_one_test(_logistic(5000))
    assert res.K > 0.9
    assert res.c.min() > np.pi / 5 and res.c.max() < 4 * np.pi / 5 and res.c.size == 100
    assert res.n_cut == 500 and res.subsample == 1


@pytest.mark.parametrize("seed", [0, 1])
def test_lorenz_x_subsampled_is_chaotic_oversampled_is_not(seed: int) -> None:
    x, _ = simulate_system("lorenz63", 20_000, seed=seed, view="one", noise=0.0)
    delay, _ = ami_delay(x)
    assert zero_one_test(x, subsample=delay, seed=seed).K > 0.9
    # sampled 100x per time unit the flow looks regular over n_cut steps (Gottwald &
    # Melbourne 2009): why the test is subsampled at the embedding delay
    assert zero_one_test(x, subsample=1, seed=seed).K < 0.5


@pytest.mark.parametrize("seed", [0, 1])
def test_sine_and_torus_are_regular(seed: int) -> None:
    t = 0.01 * np.arange(20_000)
    assert abs(zero_one_test(np.sin(2 * np.pi * t), subsample=25, seed=seed).K) < 0.1
    torus, _ = control_series("torus", 20_000, seed=seed, view="one", noise=0.0)
    delay, _ = ami_delay(torus)
    assert abs(zero_one_test(torus, subsample=delay, seed=seed).K) < 0.1


def test_noise_is_not_regular_and_short_series_give_nan() -> None:
    # the test cannot tell noise from chaos: why it never makes a verdict "chaotic" alone
    rng = np.random.default_rng(3)
    assert zero_one_test(rng.standard_normal(5000)).K > 0.9
    assert np.isnan(zero_one_test(np.ones(5000)).K)
    assert np.isnan(zero_one_test(rng.standard_normal(50)).K)


def test_zero_one_is_in_the_result_and_its_json() -> None:
    x, dt = simulate_system("henon", 5000, seed=0, view="one")
    res = lyapunov_from_data(x, dt, seed=0)
    s = json.loads(json.dumps(res.summary(), allow_nan=False))
    assert s["zero_one_K"] == pytest.approx(res.zero_one.K) and s["zero_one_K"] > 0.9
    assert s["zero_one_test"]["subsample"] == 1 and s["estimator"]["zero_one"] is True
    off = lyapunov_from_data(x, dt, seed=0, zero_one=False, surrogates=0, cross_check="none")
    assert off.zero_one is None and off.summary()["zero_one_K"] is None


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize(
    ("name", "view"),
    [
        ("coupled_logistic", "one"),
        pytest.param("rate_net_100", "all", marks=pytest.mark.slow),  # ~40 s: the simulation
    ],
)
def test_unresolved_chaos_is_not_called_not_chaotic(name: str, view: str, seed: int) -> None:
    # S(k) stays flat (the embedding cannot resolve the divergence), but the data beat every
    # surrogate and the 0-1 test is not regular: "unclear", never "not chaotic"
    x, dt = simulate_system(name, 20_000, seed=seed, view=view)
    res = lyapunov_from_data(x, dt, seed=seed)
    assert res.verdict == "unclear", res.reason
    assert res.zero_one.K > 0.5
    if res.kantz["reason"].startswith("S(k) grows by only"):
        # a flat curve (seed 0; at seed 1 the 100-unit network's curve rises, and the two
        # estimates disagree): the local Jacobians do not turn it into a number
        assert res.jacobian.get("rule", "flat") == "flat"


def test_cli_writes_zero_one_k_and_can_switch_it_off(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from neurodsr.cli import main

    data, out = tmp_path / "logistic.npy", tmp_path / "lyapunov.json"
    np.save(data, _logistic(5000))
    assert main(["lyapunov", str(data), "--dt", "1", "--json", str(out)]) == 0
    capsys.readouterr()
    on = json.loads(out.read_text())
    assert on["zero_one_K"] > 0.9 and on["zero_one_test"]["n_c"] == 100
    assert main(["lyapunov", str(data), "--dt", "1", "--zero-one", "off"]) == 0
    off = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert off["zero_one_K"] is None and off["estimator"]["zero_one"] is False


def test_flat_curve_rule_needs_both_tests() -> None:
    from neurodsr.dynamics.lyapunov import SurrogateTest, _no_growth_verdict
    from neurodsr.dynamics.zero_one import ZeroOneTest

    def sur(p: float) -> SurrogateTest:
        return SurrogateTest(1.0, np.zeros(19), p, 10, 5000)

    def zo(k: float) -> ZeroOneTest:
        return ZeroOneTest(k, np.full(3, k), np.ones(3), 1, 5000, 500)

    flat = "S(k) grows by only 0.1 nats"
    assert _no_growth_verdict(flat, sur(0.05), zo(0.95), 0.05)[0] == "unclear"
    # a limit cycle: deterministic, but regular; linear noise: K ~ 1, but no structure
    v, why = _no_growth_verdict(flat, sur(0.05), zo(0.01), 0.05)
    assert v == "not chaotic" and "regular by the 0-1 test" in why
    v, why = _no_growth_verdict(flat, sur(0.6), zo(0.99), 0.05)
    assert v == "not chaotic" and "linear noise" in why
    assert _no_growth_verdict(flat, None, None, 0.05)[0] == "not chaotic"


@pytest.mark.parametrize("seed", [0, 1])
def test_limit_cycle_seen_whole_stays_not_chaotic(seed: int) -> None:
    # its curve is flat and it beats the surrogates (p = 0.05), but K ~ 0
    x, dt = control_series("van_der_pol", 8000, seed=seed, view="all")
    res = lyapunov_from_data(x, dt, seed=seed)
    assert res.verdict == "not chaotic", res.reason
    assert abs(res.zero_one.K) < 0.2
