"""The benchmark zoo: QR references against published exponents, controls, series shapes."""

from __future__ import annotations

import numpy as np
import pytest

from neurodsr.dynamics.zoo import (
    CONTROLS,
    SYSTEMS,
    control_series,
    reference_lambda,
    simulate_system,
)


@pytest.mark.parametrize(
    ("name", "expected", "rel"),
    [
        ("henon", 0.4192, 0.02),  # Hénon (1.4, 0.3)
        ("logistic_r4", np.log(2.0), 0.01),  # exactly ln 2
        ("lozi", 0.4703, 0.03),
        ("lorenz63", 0.9056, 0.08),  # short orbits: finite-time spread of a few per cent
    ],
)
def test_qr_reference_matches_published_values(name: str, expected: float, rel: float) -> None:
    n = 3000 if SYSTEMS[name].kind == "map" else 1500
    mean, per = reference_lambda(name, n_samples=n, n_orbits=4)
    assert mean[0] == pytest.approx(expected, rel=rel)
    assert per.shape == (4, 1)


def test_qr_spectrum_of_lorenz_sums_to_the_trace() -> None:
    # volumes contract at the trace of the Jacobian, -(sigma + 1 + beta), at every point
    mean, _ = reference_lambda("lorenz63", n_samples=2000, n_orbits=2, n_exponents=3)
    assert mean.sum() == pytest.approx(-(10 + 1 + 8 / 3), rel=1e-3)
    assert abs(mean[1]) < 0.1 * mean[0]  # the neutral direction of a flow


def test_delay_equation_reference_is_positive_and_small() -> None:
    mean, per = reference_lambda("mackey_glass", n_samples=1500, n_orbits=2)
    assert 0.002 < mean[0] < 0.012  # Mackey-Glass at delay 17: ~0.005-0.009 per unit time
    assert np.isfinite(per).all()


@pytest.mark.parametrize("name", ["rate_net_50", "hindmarsh_rose", "ueda_duffing", "ikeda"])
def test_series_views_and_noise(name: str) -> None:
    one, dt = simulate_system(name, 400, seed=1, view="one")
    both, _ = simulate_system(name, 400, seed=1, view="all")
    clean, _ = simulate_system(name, 400, seed=1, view="all", noise=0.0)
    assert one.shape == (400, 1) and dt == SYSTEMS[name].dt
    assert both.shape[1] == (SYSTEMS[name].observe or both.shape[1])
    resid = (both - clean).std(axis=0) / clean.std(axis=0)
    np.testing.assert_allclose(resid, 0.05, rtol=0.25)
    again, _ = simulate_system(name, 400, seed=1, view="all")
    np.testing.assert_array_equal(both, again)


@pytest.mark.parametrize("name", sorted(CONTROLS))
def test_controls_are_finite_and_seeded(name: str) -> None:
    a, dt = control_series(name, 500, seed=2)
    b, _ = control_series(name, 500, seed=2)
    assert a.shape[0] == 500 and np.isfinite(a).all() and dt == CONTROLS[name]
    np.testing.assert_array_equal(a, b)


def test_zoo_is_broad_enough() -> None:
    kinds = {s.family for s in SYSTEMS.values()}
    assert len(SYSTEMS) >= 25 and len(CONTROLS) >= 6
    assert {"map", "flow", "delay", "neuron", "rate network"} <= kinds
