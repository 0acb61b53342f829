import json

import numpy as np
import pytest

from neurodsr.dynamics.systems import SYSTEMS, lorenz63, simulate


@pytest.mark.parametrize("name", sorted(SYSTEMS))
def test_shapes_coords_and_reproducibility(name):
    a = simulate(name, 500, seed=4)
    b = simulate(name, 500, seed=4)
    c = simulate(name, 500, seed=5)
    assert a.dims == ("time", "dim") and a.shape[0] == 500
    assert np.isfinite(a.values).all()
    np.testing.assert_array_equal(a.values, b.values)
    assert not np.allclose(a.values, c.values)
    assert a.attrs["system"] == name and json.loads(a.attrs["params"])
    np.testing.assert_allclose(np.diff(a.time.values), a.attrs["dt"])


def test_lorenz_attractor_statistics():
    x = lorenz63(20_000, seed=0).values
    # the classic attractor: z centred near 23.5, x and y symmetric about 0
    assert 22.5 < x[:, 2].mean() < 24.5
    assert abs(x[:, 0].mean()) < 1.5 and 7 < x[:, 0].std() < 9


def test_observation_noise_is_relative_and_leaves_the_orbit():
    clean = lorenz63(5000, seed=2).values
    noisy = lorenz63(5000, seed=2, noise=0.05).values
    ratio = (noisy - clean).std(0) / clean.std(0)
    np.testing.assert_allclose(ratio, 0.05, rtol=0.1)


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown system"):
        simulate("nope", 10)
    with pytest.raises(ValueError, match="noise"):
        lorenz63(10, noise=-1)
