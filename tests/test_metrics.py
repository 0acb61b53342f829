import time

import numpy as np
import pytest

from neurodsr.dynamics.systems import lorenz63
from neurodsr.metrics.core import (
    fraction_outside,
    power_spectrum_distance,
    state_space_divergence,
    state_space_divergence_binned,
    state_space_divergence_gmm,
)


@pytest.fixture(scope="module")
def two_runs():
    a = lorenz63(20_000, seed=1).values
    b = lorenz63(20_000, seed=2).values
    return a, b


def test_zero_on_identical(two_runs):
    a, _ = two_runs
    assert state_space_divergence(a, a) == pytest.approx(0.0, abs=1e-12)
    assert power_spectrum_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    six = np.random.default_rng(0).standard_normal((3000, 6))
    assert state_space_divergence(six, six) == pytest.approx(0.0, abs=1e-9)
    assert fraction_outside(a, a) == 0.0


def test_small_for_the_same_system_large_for_another(two_runs):
    a, b = two_runs
    same = state_space_divergence(a, b)
    shrunk = state_space_divergence(a, 0.3 * (b - b.mean(0)) + b.mean(0))
    assert same < 0.5
    assert shrunk > 5 * same and shrunk > 2.0
    noise = np.random.default_rng(0).standard_normal(a.shape)
    assert power_spectrum_distance(a, b) < 0.15
    assert power_spectrum_distance(a, noise) > 0.6


def test_binned_kl_matches_a_dense_histogram_in_2d():
    rng = np.random.default_rng(3)
    p = rng.standard_normal((4000, 2))
    q = rng.standard_normal((4000, 2)) * 1.3 + 0.2
    # dense reference: the textbook formula over all 30^2 bins
    from neurodsr.metrics.core import zscore_like

    pz, qz = zscore_like(p, q)
    lo, hi = pz.min(0) - 0.1 * pz.std(0), pz.max(0) + 0.1 * pz.std(0)
    edges = [np.linspace(lo[j], hi[j], 31) for j in range(2)]
    hp = np.histogramdd(pz, bins=edges)[0]
    hq = np.histogramdd(qz, bins=edges)[0]
    pp = (hp + 1e-5) / (hp.sum() + 1e-5 * 900)
    qq = (hq + 1e-5) / (hq.sum() + 1e-5 * 900)
    dense = float((pp * np.log(pp / qq)).sum())
    assert state_space_divergence_binned(p, q) == pytest.approx(dense, rel=1e-3)


def test_binned_never_allocates_all_bins_and_is_fast():
    # 5 dims x 30 bins = 24.3 M cells: a dense histogram would need ~200 MB per series. The
    # value itself is large (10^5 points spread over 24 M bins is sparse: that is why DESIGN.md
    # switches to mixtures from 6 dims), but it must be finite, and identical inputs give 0.
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((100_000, 5)), rng.standard_normal((100_000, 5))
    t = time.perf_counter()
    d = state_space_divergence_binned(a, b)
    assert np.isfinite(d) and d > 0
    assert state_space_divergence_binned(a, a) == pytest.approx(0.0, abs=1e-12)
    assert time.perf_counter() - t < 30  # a guard against a dense 30^5 fallback only


def test_gmm_used_from_six_dims_and_detects_mismatch():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((3000, 8))
    same = state_space_divergence(a, rng.standard_normal((3000, 8)))
    shifted = state_space_divergence(a, rng.standard_normal((3000, 8)) + 3.0)
    assert same < 0.1
    assert shifted > 10 * max(same, 0.01)
    assert shifted == pytest.approx(state_space_divergence_gmm(a, a + 0 * a + 3.0), rel=0.5)


def test_diverged_model_is_flagged(two_runs):
    a, b = two_runs
    blown = b.copy()
    blown[1000:] = np.inf
    assert fraction_outside(a, blown) > 0.9
    assert np.isnan(power_spectrum_distance(a, blown))
    assert state_space_divergence_gmm(np.c_[a, a], np.c_[blown, blown]) == np.inf
