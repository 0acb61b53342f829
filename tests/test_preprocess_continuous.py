"""Continuous signals: resampling, notch, band-pass, average reference, bad channels (MNE)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from neurodsr.io import make_recording
from neurodsr.preprocess import inverse_transform, preprocess


def _eeg(seed=0, fs=1000.0, seconds=40.0, n_ch=8):
    rng = np.random.default_rng(seed)
    t = np.arange(int(fs * seconds)) / fs
    alpha = 20 * np.sin(2 * np.pi * 10 * t)
    x = alpha[:, None] * rng.uniform(0.5, 1.5, n_ch) + rng.normal(0, 3, (t.size, n_ch))
    x += 40 * np.sin(2 * np.pi * 50 * t)[:, None]  # mains
    x += 200 * np.sin(2 * np.pi * 0.05 * t)[:, None]  # slow drift
    x[:, 2] = 0.0  # flat
    x[:, 5] *= 500.0  # broken: huge
    return make_recording(
        modality="continuous",
        source_file="eeg.vhdr",
        reader="test",
        sampling_rate=fs,
        signal=x,
        channel_names=[f"E{i}" for i in range(n_ch)],
        units="uV",
        attrs={"channel_types": ["eeg"] * n_ch},
    )


def _power(x, fs, f):
    spec = np.abs(np.fft.rfft(x - x.mean(), axis=0)) ** 2
    freqs = np.fft.rfftfreq(x.shape[0], 1 / fs)
    return spec[np.argmin(np.abs(freqs - f))]


def test_filters_resampling_reference_and_dropped_channels():
    rec = _eeg()
    cfg = {"dt": 1 / 250.0, "l_freq": 1.0, "h_freq": 40.0, "line_freq": 50.0}
    pre = preprocess(rec, cfg)
    assert pre.attrs["dt"] == pytest.approx(0.004)
    steps = json.loads(pre.attrs["steps"])
    trim = round(steps["edge_trim_s"] / 0.004)  # notch (3.3 s) + band-pass + resampler reach
    assert 0 < trim < 2000
    n = 10000 - 2 * trim
    assert pre.sizes["time"] == n
    dropped = {d["channel"]: d["reason"] for d in json.loads(pre.attrs["dropped_channels"])}
    assert set(dropped) == {"E2", "E5"}
    assert dropped["E2"].startswith("constant") and dropped["E5"].startswith("broken")
    steps = json.loads(pre.attrs["steps"])
    assert steps["notch"] == [50.0, 100.0] and steps["reference"] == "average"
    uv = inverse_transform(pre.x.values, pre)  # back to uV, channels E0 E1 E3 E4 E6 E7
    assert uv.shape == (n, 6)
    np.testing.assert_allclose(uv.sum(axis=1), 0, atol=1e-3)  # average reference
    raw = rec.signal.values[::4, 0][trim : trim + n]
    mid = slice(1000, -1000)
    # 50 Hz line noise and 0.05 Hz drift are gone relative to the 10 Hz rhythm
    assert _power(uv[mid, 0], 250, 50) / _power(uv[mid, 0], 250, 10) < 1e-3
    assert _power(raw, 250, 50) / _power(raw, 250, 10) > 1.0
    assert np.ptp(uv[mid, 0]) < 0.5 * np.ptp(raw)


def test_default_rate_and_no_reference_for_lfp():
    rec = _eeg(fs=500.0, seconds=20.0)
    rec.attrs["channel_types"] = "none"
    pre = preprocess(rec, {"l_freq": None, "line_freq": None})
    assert pre.attrs["dt"] == pytest.approx(0.01)  # default model rate 100 Hz
    assert "reference" not in json.loads(pre.attrs["steps"])
    assert pre.attrs["recording_sampling_rate"] == 500.0
