"""tau = ln 2 / lambda_max, and the rules for non-chaotic and unclear data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from neurodsr.dynamics.tau import choose_tau, estimate_tau


def test_chaotic_lorenz_gives_77_steps() -> None:
    tau, text = choose_tau(0.9056 * 0.01, "chaotic")
    assert tau == round(math.log(2) / 0.009056) == 77
    assert "ln 2" in text


def test_chaotic_tau_is_clipped() -> None:
    tau, text = choose_tau(5.0, "chaotic", tau_min=3)
    assert tau == 3
    assert "clipped" in text
    assert choose_tau(1e-6, "chaotic", tau_max=150).tau == 150


def test_not_chaotic_rules() -> None:
    assert choose_tau(float("nan"), "not chaotic", tau_max=120).tau == 120
    tau, text = choose_tau(-0.1, "not chaotic", not_chaotic="bptt")
    assert tau is None
    assert "BPTT" in text


def test_unclear_gives_conservative_default() -> None:
    tau, text = choose_tau(float("nan"), "unclear", tau_unclear=15)
    assert tau == 15
    assert "conservative" in text


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="lambda_max_per_step > 0"):
        choose_tau(-0.2, "chaotic")
    with pytest.raises(ValueError, match="verdict"):
        choose_tau(0.1, "maybe")


def test_estimate_tau_on_henon() -> None:
    x, y = 0.1, 0.0
    series = np.empty(6000)
    for i in range(6500):
        x, y = 1.0 - 1.4 * x * x + y, 0.3 * x
        if i >= 500:
            series[i - 500] = x
    tau, res = estimate_tau(series, 1.0, tau_min=1, n_boot=50)
    assert res.verdict == "chaotic"
    assert tau == round(math.log(2) / res.lambda_max_per_step) == 2
    assert res.tau == tau
    assert res.summary()["tau_explanation"].startswith("tau = ln 2")
