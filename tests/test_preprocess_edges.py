"""Preprocessing at the edges of the signal and of the channel set: railed channels are dropped
before re-referencing, the end of the scored test part carries no filter artefact, NaN edges
are cut off."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from neurodsr.io import make_recording, read_recording
from neurodsr.preprocess import inverse_transform, preprocess
from neurodsr.preprocess.continuous import find_broken, find_railed


def _nihon_kohden_edf(path, seed=0, fs=200, seconds=60):
    """An EDF as a Nihon Kohden system exports it, written with edfio (the EDF writer MNE
    uses): 8 EEG channels in uV (+-3200 uV) of differing amplitude, and the two reference
    inputs A1/A2 in mV (+-12002.9 mV) railed at the amplifier's -12 V supply, the converter
    flickering one bit off the rail now and then."""
    import edfio

    rng = np.random.default_rng(seed)
    n = fs * seconds
    t = np.arange(n) / fs
    amp = np.array([8, 12, 15, 20, 25, 30, 35, 40.0])
    eeg = rng.normal(0, 1, (n, 8)) * amp + 20 * np.sin(2 * np.pi * 9 * t)[:, None]
    signals = [
        edfio.EdfSignal(
            eeg[:, i],
            fs,
            label=f"EEG {name}",
            physical_dimension="uV",
            physical_range=(-3200, 3200),
        )
        for i, name in enumerate(["Fp1", "Fp2", "C3", "C4", "O1", "O2", "T3", "T4"])
    ]
    step = 2 * 12002.9 / 65535  # mV per bit
    for name in ("A1", "A2"):
        flicker = (rng.random(n) < 0.02) * step
        signals.append(
            edfio.EdfSignal(
                -12002.9 + flicker,
                fs,
                label=f"EEG {name}",
                physical_dimension="mV",
                physical_range=(-12002.9, 12002.9),
            )
        )
    edfio.Edf(signals).write(path)
    return path, eeg


def test_railed_reference_channels_are_dropped_before_average_reference(tmp_path):
    path, _ = _nihon_kohden_edf(tmp_path / "nk.edf")
    rec = read_recording(path)
    x = rec.signal.values.astype(np.float64)
    names = list(rec.channel.values)
    assert np.median(x[:, -1]) == pytest.approx(-12.0029e6, rel=1e-4)  # -12 V, in uV
    assert find_broken(x, names) == []  # the variance test alone lets them through
    railed = find_railed(x, names, units="uV")
    assert [d["channel"] for d in railed] == ["EEG A1", "EEG A2"]
    pre = preprocess(rec, {"pca_components": None})
    dropped = {d["channel"]: d["reason"] for d in json.loads(pre.attrs["dropped_channels"])}
    assert set(dropped) == {"EEG A1", "EEG A2"} and dropped["EEG A1"].startswith("railed")
    assert json.loads(pre.attrs["steps"])["reference"] == "average"
    uv = inverse_transform(pre.x.values, pre)
    assert np.abs(uv).max() < 1000  # nothing of -12 V spread into the EEG channels
    # the median criterion alone (a railed channel that is not stuck at one value)
    noisy = x.copy()
    noisy[:, -1] = -12e6 + np.random.default_rng(0).normal(0, 20, len(x))
    assert [d["channel"] for d in find_railed(noisy, names, units="uV")] == ["EEG A1", "EEG A2"]
    assert find_railed(noisy, names, units="uV", level_uv=None)[0]["channel"] == "EEG A1"


def _lfp(n, fs=250.0, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / fs
    x = np.stack(
        [
            np.sin(2 * np.pi * 0.7 * t + i) + 0.5 * np.sin(2 * np.pi * 3.1 * t * (1 + 0.01 * i))
            for i in range(6)
        ],
        axis=1,
    )
    x = 50 * x + 0.1 * t[:, None] + 15 * np.sin(2 * np.pi * 50 * t)[:, None]
    return x + rng.normal(0, 1, x.shape)


def test_end_of_test_part_has_no_filter_edge_artefact():
    fs = 250.0
    x = _lfp(40000, fs)
    cfg = {"l_freq": 0.5, "line_freq": 50.0, "reference": "none"}

    def pre_of(values):
        rec = make_recording(
            modality="continuous",
            source_file="lfp.vhdr",
            reader="test",
            sampling_rate=fs,
            signal=values,
            units="uV",
        )
        pre = preprocess(rec, cfg)
        return pre, inverse_transform(pre.x.values, pre), pre.time.values

    _, full_uv, full_t = pre_of(x)
    part, part_uv, part_t = pre_of(x[:30000])
    # the test part of the shorter recording ends where the longer one has real data on both
    # sides: the filtered values there must be what the longer recording gives
    i0 = int(np.searchsorted(full_t, part_t[0] - 1e-9))
    np.testing.assert_allclose(full_t[i0 : i0 + len(part_t)], part_t, atol=1e-9)
    end = slice(len(part_t) - 200, len(part_t))  # the last 2 s of the test part
    scale = full_uv.std()
    err = np.abs(part_uv[end] - full_uv[i0 : i0 + len(part_t)][end]).max()
    assert err < 1e-3 * scale, err
    steps = json.loads(part.attrs["steps"])
    assert steps["edge_trim_s"] == pytest.approx(3.41, abs=0.05)  # resampler + 0.5 Hz FIR
    # and the model-space series does not swing at its end
    z = part.x.values[part.attrs["n_train"] :]
    assert np.abs(z[-20:]).max() < 4 * z.std()


def test_nan_edges_in_a_recording_file_are_cut_in_preprocess():
    t = np.arange(3000) / 100.0
    x = np.stack([np.sin(2 * np.pi * 0.5 * t + k) for k in range(3)], axis=1)
    rec = make_recording(
        modality="continuous", source_file="r.nc", reader="test", sampling_rate=100.0, signal=x
    )
    values = rec.signal.values.copy()
    values[:3, 0] = np.nan  # as another tool may have written recording.nc
    values[-2:, 2] = np.nan
    rec = rec.assign(signal=xr.DataArray(values, dims=("time", "channel"), attrs={"units": "uV"}))
    with pytest.warns(UserWarning, match="3 leading and 2 trailing samples"):
        pre = preprocess(rec, {"l_freq": None, "line_freq": None})
    assert json.loads(pre.attrs["steps"])["trimmed_nonfinite_s"] == [0.03, 0.02]
    assert pre.sizes["time"] == 2995 and float(pre.time.values[0]) == pytest.approx(0.03)


def test_railed_channels_in_the_log_and_preprocess_json(tmp_path, caplog):
    import logging

    from neurodsr.cli import main
    from neurodsr.fileio import write_dataset

    path, _ = _nihon_kohden_edf(tmp_path / "nk.edf", seconds=30)
    write_dataset(read_recording(path), tmp_path / "recording.nc")
    options = tmp_path / "preprocess.json"
    options.write_text(json.dumps({"preprocess": {"l_freq": 1.0}}))
    with caplog.at_level(logging.WARNING, logger="neurodsr.preprocess"):
        code = main(
            [
                "preprocess",
                str(tmp_path / "recording.nc"),
                "--config",
                str(options),
                "--out",
                str(tmp_path / "pre.nc"),
            ]
        )
    assert code == 0
    assert "EEG A1: railed" in caplog.text and "EEG A2: railed" in caplog.text
    saved = json.loads(options.read_text())
    assert saved["preprocess"] == {"l_freq": 1.0}
    assert [d["channel"] for d in saved["dropped_channels"]] == ["EEG A1", "EEG A2"]
    assert saved["steps"]["reference"] == "average"
