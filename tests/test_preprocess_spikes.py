"""Spike trains -> Gaussian-kernel rates or binned counts at the model step (elephant)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from neurodsr.io import SpikeUnit, make_recording
from neurodsr.preprocess import inverse_transform, preprocess


def _poisson_recording(rates=(5.0, 20.0, 40.0, 0.01), duration=60.0, t0=2.0, seed=0):
    rng = np.random.default_rng(seed)
    units = []
    for i, r in enumerate(rates):
        n = rng.poisson(r * duration)
        units.append(
            SpikeUnit(f"u{i}", np.sort(rng.uniform(t0, t0 + duration, n)), t0, t0 + duration)
        )
    rec = make_recording(
        modality="spikes",
        source_file="poisson.nix",
        reader="test",
        sampling_rate=30000.0,
        spikes=units,
    )
    return rec, units


def test_rates_match_firing_rates_and_silent_unit_is_dropped():
    rec, units = _poisson_recording()
    pre = preprocess(rec, {"dt": 0.01, "kernel_sigma": 0.1, "zscore": False})
    assert pre.attrs["dt"] == 0.01 and pre.attrs["signal_units"] == "Hz"
    assert list(pre.channel.values) == ["u0", "u1", "u2"]
    dropped = json.loads(pre.attrs["dropped_channels"])
    assert dropped[0]["channel"] == "u3" and dropped[0]["reason"].startswith("silent")
    # mean of a kernel-smoothed rate = spikes / duration (away from the borders)
    rates = pre.x.values
    for k, u in enumerate(units[:3]):
        assert rates[100:-100, k].mean() == pytest.approx(len(u.times) / 60.0, rel=0.1)
    assert pre.x.dtype == np.float32
    assert pre.time.values[0] == pytest.approx(2.0)
    np.testing.assert_allclose(np.diff(pre.time.values), 0.01, rtol=1e-9)
    assert pre.sizes["time"] == 6000 and pre.attrs["n_train"] == 4800


def test_counts_sum_to_spike_numbers_and_sqrt():
    rec, units = _poisson_recording(rates=(5.0, 20.0))
    pre = preprocess(rec, {"dt": 0.05, "spike_representation": "counts", "zscore": False})
    counts = pre.x.values
    assert pre.sizes["time"] == 1200
    np.testing.assert_array_equal(counts.sum(axis=0), [len(u.times) for u in units])
    np.testing.assert_allclose(pre.time.values[:2], [2.025, 2.075])  # bin centres
    root = preprocess(
        rec, {"dt": 0.05, "spike_representation": "counts", "sqrt": True, "zscore": False}
    )
    np.testing.assert_allclose(root.x.values, np.sqrt(counts), rtol=1e-6)
    assert root.attrs["signal_units"] == "sqrt(count)"


def test_zscored_rates_map_back_to_hz():
    rec, _ = _poisson_recording(rates=(10.0, 30.0))
    plain = preprocess(rec, {"dt": 0.02, "zscore": False})
    z = preprocess(rec, {"dt": 0.02})
    train = z.x.values[: z.attrs["n_train"]]
    np.testing.assert_allclose(train.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(train.std(axis=0), 1, atol=1e-4)
    np.testing.assert_allclose(
        inverse_transform(z.x.values, z), plain.x.values, rtol=1e-4, atol=1e-3
    )
