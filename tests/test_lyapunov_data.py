"""lambda_max from data: acceptance values on chaotic benchmarks, verdicts on non-chaotic data."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import signal

from neurodsr.dynamics.embedding import ami_delay, embed_for_lyapunov, fnn_dimension
from neurodsr.dynamics.lyapunov import lyapunov_from_data, validate_series
from neurodsr.dynamics.systems import lorenz63, roessler
from neurodsr.errors import InputError

N = 20_000


def henon(n: int, a: float = 1.4, b: float = 0.3, transient: int = 1000) -> np.ndarray:
    """x of the Hénon map (deterministic start)."""
    x, y = 0.1, 0.0
    out = np.empty(n)
    for i in range(n + transient):
        x, y = 1.0 - a * x * x + y, b * x
        if i >= transient:
            out[i - transient] = x
    return out


def noisy_limit_cycle(n: int, dt: float = 0.05, seed: int = 0) -> np.ndarray:
    """Stuart-Landau oscillator (stable limit cycle, period 1) with dynamical noise (Euler-
    Maruyama, 10 substeps) and 5 % observation noise; returns (n, 2)."""
    rng = np.random.default_rng(seed)
    omega, sub = 2 * np.pi, 10
    h = dt / sub
    z = 1.0 + 0j
    out = np.empty(n, dtype=complex)
    kicks = (
        0.05
        * np.sqrt(h)
        * (rng.standard_normal((n + 200, sub)) + 1j * rng.standard_normal((n + 200, sub)))
    )
    for i in range(n + 200):
        for j in range(sub):
            z = z + h * ((1 + 1j * omega) * z - abs(z) ** 2 * z) + kicks[i, j]
        if i >= 200:
            out[i - 200] = z
    x = np.column_stack([out.real, out.imag])
    return x + 0.05 * x.std(axis=0) * rng.standard_normal(x.shape)


def noisy_damped_oscillator(n: int, seed: int = 1) -> np.ndarray:
    """AR(2) with complex poles 0.98 exp(+-2 pi i / 25): a damped linear oscillator driven by
    white noise (stable fixed point), plus 5 % observation noise."""
    rng = np.random.default_rng(seed)
    r, period = 0.98, 25.0
    a = [1.0, -2 * r * np.cos(2 * np.pi / period), r * r]
    x = signal.lfilter([1.0], a, rng.standard_normal(n + 1000))[1000:]
    return x + 0.05 * x.std() * rng.standard_normal(n)


@pytest.fixture(scope="module")
def lorenz_noisy() -> np.ndarray:
    return lorenz63(N, 0.01, noise=0.05, seed=0).values


def test_lorenz_from_x_alone(lorenz_noisy: np.ndarray) -> None:
    res = lyapunov_from_data(lorenz_noisy[:, 0], dt=0.01)
    assert res.verdict == "chaotic"
    # 15 %, not 10 %: the plateau fit is +13 % on this series (+8 % on the benchmark's
    # Lorenz-63 x); it is what brought the Rössler family and the maps into the 20-30 % band
    assert res.lambda_max == pytest.approx(0.9056, rel=0.15)
    assert res.lambda_max_per_step == pytest.approx(res.lambda_max * 0.01)
    assert res.embedding["dim"] >= 3  # a single variable of a 3-d flow needs >= 3 lags


def test_lorenz_from_all_variables(lorenz_noisy: np.ndarray) -> None:
    res = lyapunov_from_data(lorenz_noisy, dt=0.01)
    assert res.verdict == "chaotic"
    # the default reports the geometric mean of the Kantz slope and the local-Jacobian lambda_1;
    # with three noisy channels the Jacobians are attenuated (more noisy regressors): -12 % on
    # this series (Kantz alone: within 10 %, pinned below), the target is 20 %
    assert res.lambda_max == pytest.approx(0.9056, rel=0.15)
    assert res.kantz["lambda_max"] == pytest.approx(0.9056, rel=0.10)
    assert 0 < res.lambda_std < 0.1 * res.lambda_max


def test_roessler() -> None:
    x = roessler(N, 0.1, seed=0).values[:, 0]
    res = lyapunov_from_data(x, dt=0.1)
    assert res.verdict == "chaotic"
    assert res.lambda_max == pytest.approx(0.0714, rel=0.15)


def test_henon_per_step() -> None:
    res = lyapunov_from_data(henon(N), dt=1.0)
    assert res.verdict == "chaotic"
    assert res.lambda_max_per_step == pytest.approx(0.419, rel=0.10)
    assert res.embedding["delay"] == 1
    assert res.embedding["dim"] == 2


def test_rosenstein_on_henon() -> None:
    res = lyapunov_from_data(henon(N), dt=1.0, method="rosenstein")
    assert res.verdict == "chaotic"
    assert res.lambda_max_per_step == pytest.approx(0.419, rel=0.10)


def test_noisy_limit_cycle_is_not_chaotic() -> None:
    res = lyapunov_from_data(noisy_limit_cycle(N), dt=0.05)
    # phase diffusion on a cycle grows like a power of k; with weak dynamical noise the cycle
    # is more deterministic than its surrogates, and chaotic flows whose curve also looks like
    # a power law (forced Duffing, Mackey-Glass) give the same picture, so the honest verdict
    # is "unclear" there, "not chaotic" where linear noise explains the data
    assert res.verdict != "chaotic", res.reason
    assert "power of time" in res.reason


def test_noisy_damped_oscillator_is_not_chaotic() -> None:
    res = lyapunov_from_data(noisy_damped_oscillator(N), dt=1.0)
    assert res.verdict == "not chaotic", res.reason


def test_many_channels_use_principal_components(lorenz_noisy: np.ndarray) -> None:
    mix = np.random.default_rng(3).standard_normal((3, 16))
    x = lorenz_noisy[:8000] @ mix
    emb = embed_for_lyapunov(x)
    assert emb.pca
    assert emb.n_channels <= 3
    assert emb.explained_variance is not None and emb.explained_variance.sum() >= 0.9
    emb2 = embed_for_lyapunov(x, n_components=2)
    assert emb2.n_channels == 2


def test_embedding_parameters_of_lorenz_x() -> None:
    x = lorenz63(10_000, 0.01, seed=1).values[:, 0]
    delay, how = ami_delay(x)
    assert how == "ami"
    assert 10 <= delay <= 25  # first AMI minimum of Lorenz x near 0.17 time units
    dim, frac = fnn_dimension(x, delay)
    assert dim == 3
    assert frac[dim - 1] < 0.02


def test_result_serialises(lorenz_noisy: np.ndarray) -> None:
    res = lyapunov_from_data(henon(5000), dt=1.0, n_boot=50)
    summary = res.summary()
    json.dumps(summary, allow_nan=False)
    for key in ("lambda_max", "lambda_max_per_step", "verdict", "advice", "embedding"):
        assert key in summary
    ds = res.to_dataset()
    assert ds["divergence"].dims == ("step",)
    assert ds.sizes["replicate"] == 50
    fit = ds["fit"].values
    assert np.isfinite(fit[res.fit_start : res.fit_stop + 1]).all()
    assert np.isnan(fit[: res.fit_start]).all()


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (np.full(5000, 3.0), "constant"),
        (np.r_[np.ones(10), np.nan, np.arange(3000.0)], "NaN"),
        (np.arange(100.0), "too short"),
    ],
)
def test_bad_input_raises(data: np.ndarray, match: str) -> None:
    with pytest.raises(InputError, match=match):
        validate_series(data)
