"""Calcium: neuropil correction, dF/F with a running-percentile baseline, non-cells dropped."""

from __future__ import annotations

import json

import numpy as np
import pytest

from neurodsr.io import make_recording
from neurodsr.preprocess import preprocess
from neurodsr.preprocess.calcium import dff, running_percentile


def _calcium(seed=0, fs=30.0, seconds=300.0, n=5):
    rng = np.random.default_rng(seed)
    frames = int(fs * seconds)
    t = np.arange(frames) / fs
    baseline = 80 + 20 * np.exp(-t / 300.0)  # bleaching: 100 -> 87 over 5 minutes
    true_dff = np.zeros((frames, n))
    for k in range(n):  # sparse transients of amplitude 1 (100 % dF/F), 1 s decay
        for onset in rng.choice(frames - 200, 15, replace=False):
            true_dff[onset:, k] += np.exp(-(t[onset:] - t[onset]) / 1.0)
    neuropil = 50 + 10 * rng.standard_normal((frames, n)).cumsum(axis=0) / np.sqrt(frames)
    F = baseline[:, None] * (1 + true_dff) + 0.7 * neuropil
    rec = make_recording(
        modality="calcium",
        source_file="plane0",
        reader="suite2p",
        sampling_rate=fs,
        signal=F,
        neuropil=neuropil,
        iscell=np.array([1, 1, 0, 1, 1], bool)[:n],
        attrs={"signal_kind": "F"},
    )
    return rec, true_dff


def test_neuropil_dff_recovers_transients_and_drops_non_cells():
    rec, true_dff = _calcium()
    pre = preprocess(rec, {"zscore": False, "baseline_window": 30.0})
    assert pre.attrs["signal_units"] == "dF/F"
    assert pre.attrs["dt"] == pytest.approx(1 / 30.0)
    assert list(pre.channel.values) == ["ch0", "ch1", "ch3", "ch4"]
    assert json.loads(pre.attrs["dropped_channels"]) == [
        {"channel": "ch2", "reason": "not a cell (iscell = 0)"}
    ]
    got = pre.x.values
    want = true_dff[:, [0, 1, 3, 4]]
    # baseline right despite the drift (medians agree), transients of the right size
    np.testing.assert_allclose(np.median(got, axis=0), np.median(want, axis=0), atol=0.03)
    assert np.corrcoef(got[:, 0], want[:, 0])[0, 1] > 0.95
    np.testing.assert_allclose(got.max(axis=0), want.max(axis=0), rtol=0.2)


def test_dff_resampled_to_dt_and_kept_when_already_dff():
    rec, _ = _calcium(seconds=120.0)
    pre = preprocess(rec, {"dt": 0.1, "baseline_window": 20.0})
    assert pre.attrs["dt"] == pytest.approx(0.1) and pre.sizes["time"] == 1200
    rec.attrs["signal_kind"] = "dff"
    kept = preprocess(rec, {"neuropil_coef": 0.0, "zscore": False, "cells_only": False})
    np.testing.assert_allclose(kept.x.values, rec.signal.values, rtol=1e-6)
    assert "dff" not in json.loads(kept.attrs["steps"])


def test_running_percentile_subsampled_close_to_exact():
    from scipy.ndimage import percentile_filter

    rng = np.random.default_rng(1)
    x = (np.sin(np.linspace(0, 6, 6000)) * 10 + rng.gamma(1, 1, 6000))[:, None]
    exact = percentile_filter(x, 10, size=(900, 1), mode="nearest")
    approx = running_percentile(x, 900, 10, max_points=100)
    # percentile of a 100-point subsample of each window: close to the exact filter on a
    # signal spanning 20 units
    err = np.abs(approx - exact)[500:-500]
    assert err.max() < 1.0 and err.mean() < 0.2
    d, f0 = dff(x + 20, 30.0, window_s=30.0, percentile=10)
    np.testing.assert_allclose(d, (x + 20 - f0) / f0)
