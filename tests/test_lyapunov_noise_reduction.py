"""Schreiber's simple nonlinear noise reduction and its use by the local-Jacobian estimate."""

from __future__ import annotations

import numpy as np
import pytest

from neurodsr.dynamics.embedding import embed_for_lyapunov
from neurodsr.dynamics.noise_reduction import (
    denoise_embedding,
    noise_level,
    simple_noise_reduction,
)
from neurodsr.dynamics.zoo import SYSTEMS, _view, simulate_clean, simulate_system


def _zscored(name: str, n: int, seed: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """The noisy observed series z-scored, and the clean one in the same units."""
    x, _ = simulate_system(name, n, seed=seed, noise=noise, view="one")
    clean = _view(simulate_clean(name, n, seed=seed), SYSTEMS[name], "one")
    mu, sd = x.mean(axis=0), x.std(axis=0)
    return (x - mu) / sd, (clean - mu) / sd


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("noise", [0.02, 0.05, 0.1])
def test_noise_level_of_henon_is_found_from_the_data(seed: int, noise: float) -> None:
    # the level is estimated, not assumed: it follows the added noise (z-scored units)
    z, clean = _zscored("henon", 10_000, seed, noise)
    true = float(np.std(z - clean))
    est = noise_level(z, delay=1, half_window=2)
    assert est.shape == (1,)
    assert est[0] == pytest.approx(true, rel=0.3)


def test_noise_level_of_a_stochastic_series_is_its_unpredictable_part() -> None:
    # white noise: past and future say nothing about the present, the "level" is its std
    z = np.random.default_rng(0).standard_normal((5000, 1))
    assert noise_level(z)[0] == pytest.approx(1.0, rel=0.1)


@pytest.mark.parametrize("seed", [0, 1])
def test_simple_noise_reduction_shrinks_the_noise_of_henon(seed: int) -> None:
    z, clean = _zscored("henon", 20_000, seed, 0.05)
    nr = simple_noise_reduction(z, delay=1, half_window=2, iterations=2)
    before = np.sqrt(np.mean((z - clean) ** 2))
    after = np.sqrt(np.mean((nr.x - clean) ** 2))
    assert after < 0.6 * before  # 0.050 -> 0.027 with the 8 nearest neighbours averaged
    # the second pass starts from a smaller estimated level, and nearly every sample has
    # neighbours within 2 levels
    assert nr.noise_levels.shape == (2, 1)
    assert nr.noise_levels[1, 0] < 0.6 * nr.noise_levels[0, 0]
    assert (nr.corrected > 0.9).all()
    # the ends (no full past-and-future window) are left as they were
    np.testing.assert_array_equal(nr.x[:2], z[:2])
    np.testing.assert_array_equal(nr.x[-2:], z[-2:])
    s = nr.summary()
    assert s["iterations"] == 2 and s["half_window"] == 2 and len(s["noise_level"]) == 2


def test_simple_noise_reduction_of_several_channels_and_bad_arguments() -> None:
    x, _ = simulate_system("lorenz63", 8000, seed=0, noise=0.05, view="all")
    z = (x - x.mean(axis=0)) / x.std(axis=0)
    nr = simple_noise_reduction(z, delay=8, half_window=1, iterations=1)
    assert nr.x.shape == z.shape and nr.noise_levels.shape == (1, 3)
    assert np.isfinite(nr.x).all()
    with pytest.raises(ValueError, match=">= 1"):
        simple_noise_reduction(z, delay=0)
    with pytest.raises(ValueError, match="too few"):
        simple_noise_reduction(z[:10], delay=1, half_window=2)


def test_denoise_embedding_keeps_the_reconstruction() -> None:
    x, _ = simulate_system("roessler", 6000, seed=0, noise=0.05, view="one")
    emb = embed_for_lyapunov(x)
    den = denoise_embedding(emb)
    assert den.points.shape == emb.points.shape
    assert (den.delay, den.dim, den.n_channels) == (emb.delay, emb.dim, emb.n_channels)
    assert emb.noise_reduction is None and den.noise_reduction is not None
    assert den.summary()["noise_reduction"]["delay"] == emb.delay
    # rows still are delay vectors of the cleaned channels
    np.testing.assert_array_equal(den.points[:, 0], den.channels[emb.offset :, 0])
    # a series too short for the window is returned unchanged
    short = embed_for_lyapunov(x[:700], delay=50, dim=2)
    assert denoise_embedding(short) is short


@pytest.mark.slow  # ~1-2 min on 2 loaded cores
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize(
    ("name", "ref"), [("henon", 0.4182), ("lozi", 0.4707), ("roessler", 0.06948)]
)
def test_local_jacobians_on_noise_reduced_data_are_not_shrunk(
    name: str, ref: float, seed: int
) -> None:
    # 5 % observation noise: least-squares Jacobians on the noisy embedding are shrunk
    # (errors in the regressors); on the noise-reduced one they are closer, within 15 %
    from neurodsr.dynamics.data_spectrum import spectrum_from_data

    x, dt = simulate_system(name, 20_000, seed=seed, noise=0.05, view="one")
    emb = embed_for_lyapunov(x, seed=seed)
    raw = spectrum_from_data(None, dt, embedding=emb, seed=seed, noise_reduction="none")
    den = spectrum_from_data(None, dt, embedding=emb, seed=seed, noise_reduction="simple")
    auto = spectrum_from_data(None, dt, embedding=emb, seed=seed)
    assert den.embedding["noise_reduction"] is not None
    assert raw.embedding["noise_reduction"] is None
    # the default applies it where the series was not low-passed and is embedded at delay 1
    # (the maps), not to the low-passed Rössler flow
    if emb.lowpass_cutoff is None and emb.delay == 1:
        assert auto.lambda_max == den.lambda_max
    else:
        assert name == "roessler" and auto.lambda_max == raw.lambda_max
    assert den.lambda_max == pytest.approx(ref, rel=0.15)
    assert abs(den.lambda_max / ref - 1) < abs(raw.lambda_max / ref - 1)
    with pytest.raises(ValueError, match="noise_reduction"):
        spectrum_from_data(None, dt, embedding=emb, noise_reduction="strong")  # type: ignore[arg-type]


def test_cli_noise_reduction_option(tmp_path, capsys) -> None:
    import json

    from neurodsr.cli import main

    x, _ = simulate_system("henon", 5000, seed=0, noise=0.05, view="one")
    data = tmp_path / "henon.npy"
    np.save(data, x[:, 0])
    assert main(["lyapunov", str(data), "--dt", "1"]) == 0
    on = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert on["estimator"]["noise_reduction"] == "auto"  # a map: applied
    level = on["jacobian"]["noise_reduction"]["noise_level"][0][0]
    assert 0.03 < level < 0.08  # 5 % noise, z-scored units, estimated from the data
    assert main(["lyapunov", str(data), "--dt", "1", "--noise-reduction", "none"]) == 0
    off = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert off["estimator"]["noise_reduction"] == "none"
    assert off["jacobian"]["noise_reduction"] is None
    # the divergence curve is the same either way; only the Jacobian estimate moves, up
    assert off["kantz"]["lambda_max"] == pytest.approx(on["kantz"]["lambda_max"])
    assert on["jacobian"]["lambda_max"] > off["jacobian"]["lambda_max"]
