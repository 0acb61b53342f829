"""Chunked reading with decimation: equal to filtering at once, and bounded memory."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from scipy.signal import resample_poly

from neurodsr.io import read_recording
from neurodsr.io.chunked import read_decimated, resample_factors, target_rate


@pytest.mark.parametrize("target", [1000.0, 733.0, 30000.0 / 7])
def test_chunks_equal_one_pass_and_scipy(target):
    rng = np.random.default_rng(0)
    x = (rng.normal(0, 100, (60_007, 3)) + 500).astype(np.int16)
    small, rate = read_decimated(
        lambda a, b: x[a:b], len(x), 3, 30000.0, target, chunk_values=3 * 4000
    )
    whole, _ = read_decimated(lambda a, b: x[a:b], len(x), 3, 30000.0, target, chunk_values=10**9)
    np.testing.assert_array_equal(small, whole)  # chunk borders leave no trace
    up, down = resample_factors(30000.0, target)
    assert rate == pytest.approx(30000.0 * up / down) and abs(rate - target) < 1e-3 * target
    # scipy's own one-pass resampler around the same offset (median of the first second)
    offset = np.median(x[:30000], axis=0)
    ref = resample_poly(x - offset, up, down, axis=0) + offset
    np.testing.assert_allclose(small, ref, atol=1e-3)
    assert small.dtype == np.float32 and small.shape[0] == -(-len(x) * up // down)


def test_target_rate_never_upsamples():
    assert target_rate(1000.0, decimate_to=2000.0) == 1000.0
    assert target_rate(30000.0, max_rate=1000.0) == 1000.0
    assert target_rate(500.0, max_rate=1000.0) == 500.0
    assert target_rate(500.0) == 500.0


def test_memory_stays_bounded_reading_a_memmap(tmp_path):
    # 16 channels x 30 kHz x 20 s int16 (19 MB; 77 MB as float64), read at 1 kHz
    n, n_ch = 30000 * 20, 16
    path = tmp_path / "big.npy"
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.int16, shape=(n, n_ch))
    t = np.arange(30000) / 30000.0
    block = (1000 * np.sin(2 * np.pi * 5 * t)[:, None] + np.arange(n_ch)).astype(np.int16)
    for a in range(0, n, 30000):
        mm[a : a + 30000] = block
    mm.flush()
    del mm
    tracemalloc.start()
    ds = read_recording(path, sampling_rate=30000.0, decimate_to=1000.0, chunk_values=1_000_000)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert ds.signal.shape == (20000, n_ch) and ds.attrs["sampling_rate"] == 1000.0
    out_bytes = 20000 * n_ch * 4
    # output + a few float32 chunks of 1 M values (+ filter scratch); far below the 77 MB
    # that the whole recording would take as float64
    assert peak < out_bytes + 40e6, peak
    np.testing.assert_allclose(
        ds.signal.values[5000:6000, 3],
        1000 * np.sin(2 * np.pi * 5 * np.arange(5000, 6000) / 1000.0) + 3,
        atol=2.0,
    )
