"""The default estimator: the Kantz slope cross-checked with the local-Jacobian lambda_1
(agreement within x1.5: their geometric mean; disagreement: "unclear"), the Jacobian alone
only where the divergence curve's steepest slope confirms it; controls never chaotic.

Several seeds per case: a verdict that holds at one seed only is not pinned."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from neurodsr.dynamics.lyapunov import AGREE_RATIO, lyapunov_from_data
from neurodsr.dynamics.zoo import control_series, simulate_system

N = 8000


@pytest.mark.parametrize("seed", [0, 1])
def test_agreeing_estimates_give_their_geometric_mean(seed: int) -> None:
    x, dt = simulate_system("henon", N, seed=seed, view="one")
    res = lyapunov_from_data(x, dt, seed=seed)
    s = res.summary()
    assert res.verdict == "chaotic", res.reason
    jac, kantz = s["jacobian"], s["kantz"]
    assert jac["rule"] == "agree" and 1 <= jac["ratio"] <= AGREE_RATIO
    assert kantz["verdict"] == "chaotic"
    gm = math.sqrt(kantz["lambda_max"] * jac["lambda_max"])
    assert res.lambda_max == pytest.approx(gm, rel=1e-9)
    assert res.lambda_max == pytest.approx(0.4182, rel=0.2)  # QR reference (Hénon 1.4, 0.3)
    assert "geometric mean" in res.reason
    json.dumps(s, allow_nan=False)


@pytest.mark.parametrize("seed", [0, 1])
def test_disagreeing_estimates_are_unclear(seed: int) -> None:
    # Hindmarsh-Rose through x: the Kantz slope (~0.1) and the Jacobians (~0.03-0.05) are both
    # far above the QR reference (0.013) and disagree with each other by > x2
    x, dt = simulate_system("hindmarsh_rose", N, seed=seed, view="one")
    res = lyapunov_from_data(x, dt, seed=seed)
    assert res.verdict == "unclear", res.reason
    assert res.summary()["jacobian"]["rule"] == "disagree"
    assert "neither number can be trusted" in res.reason
    assert "What would decide" in res.advice
    assert res.summary()["lambda_max"] is None


@pytest.mark.parametrize("seed", [0, 1])
def test_jacobian_confirmed_by_the_curve_where_kantz_has_no_plateau(seed: int) -> None:
    # the logistic map at r = 4 doubles separations every step: S(k) saturates before a
    # straight part of >= 0.75 nats exists, but its steepest slope and the Jacobians agree
    x, dt = simulate_system("logistic_r4", N, seed=seed, view="one")
    res = lyapunov_from_data(x, dt, seed=seed)
    s = res.summary()
    assert s["kantz"]["verdict"] == "unclear"
    assert res.verdict == "chaotic", res.reason
    assert s["jacobian"]["rule"] == "jacobian"
    assert res.lambda_max == pytest.approx(math.log(2.0), rel=0.2)
    assert s["surrogate_p_value"] <= 0.05


def test_cross_check_can_be_switched_off() -> None:
    x, dt = simulate_system("henon", 5000, seed=0, view="one")
    off = lyapunov_from_data(x, dt, cross_check="none")
    on = lyapunov_from_data(x, dt)
    assert off.jacobian is None and off.summary()["jacobian"] is None
    assert off.kantz["lambda_max"] == pytest.approx(off.lambda_max)
    assert on.kantz == off.kantz  # the same divergence-curve estimate underneath
    assert on.summary()["estimator"]["cross_check"] == "jacobian"


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", ["van_der_pol", "torus", "ar1", "noisy_oscillator"])
def test_controls_seen_through_all_coordinates_are_not_chaotic(name: str, seed: int) -> None:
    x, dt = control_series(name, N, seed=seed, view="all")
    res = lyapunov_from_data(x, dt, seed=seed)
    assert res.verdict != "chaotic", res.reason


def test_the_plotted_line_is_the_fitted_slope() -> None:
    # lambda_max is the geometric mean, but the line drawn over the curve is the Kantz fit
    x, dt = simulate_system("henon", 5000, seed=0, view="one")
    res = lyapunov_from_data(x, dt, seed=0)
    line = res.fit_line()
    k = np.arange(res.fit_start, res.fit_stop + 1)
    slope = np.polyfit(k, line[k], 1)[0]
    assert slope == pytest.approx(res.kantz["lambda_max"] * dt, rel=1e-9)
    assert np.isnan(line[: res.fit_start]).all()
