"""Readers: files written with the formats' own writers (or to their published layouts) are read
back into the Recording contract with the right values, units, rates, names and provenance."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.signal import resample_poly

from _writers import (
    write_brainvision,
    write_caiman,
    write_edf,
    write_eeglab,
    write_neo_nix,
    write_neo_nwb,
    write_nwb_ophys,
    write_openephys_binary,
    write_phy,
    write_suite2p,
)
from neurodsr.fileio import read_dataset, write_dataset
from neurodsr.io import detect_format, read_recording, validate_recording

EEG_NAMES = ["Fz", "Cz", "Pz", "Oz"]


@pytest.fixture(scope="module")
def eeg():
    rng = np.random.default_rng(1)
    t = np.arange(2500) / 250.0
    return rng.normal(0, 20, (2500, 4)) + 30 * np.sin(2 * np.pi * 7 * t)[:, None]


def _spikes(rng, n_units=3, t0=0.5, t1=3.5):
    return [np.sort(rng.uniform(t0, t1, 20 + 10 * i)) for i in range(n_units)]


def _check_contract(ds, modality, reader, libs=()):
    validate_recording(ds)
    assert ds.attrs["modality"] == modality
    assert ds.attrs["reader"] == reader
    for lib in ("numpy", "xarray", *libs):
        assert ds.attrs[f"version_{lib}"] not in ("", "not installed")
    if "signal" in ds:
        assert ds["signal"].dtype == np.float32
        assert ds["time"].dtype == np.float64 and ds["time"].attrs["units"] == "s"
        assert ds["channel"].dtype.kind == "U"
    if "spike_times" in ds:
        assert ds["spike_times"].dtype == np.float64
        assert ds["spike_unit"].dtype == np.int32
        assert ds["t_start"].dims == ("unit",) and ds["t_stop"].dims == ("unit",)


def test_neo_nix_signals_and_spikes_with_selection(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(0, 20, (3000, 4))
    spikes = _spikes(rng)
    path = write_neo_nix(tmp_path / "s.nix", x, 1000.0, ["a", "b", "c", "d"], spikes, t_start=0.5)

    ds = read_recording(path)
    _check_contract(ds, "continuous", "neo.NixIO", ("neo",))
    assert list(ds.channel.values) == ["a", "b", "c", "d"]
    assert ds.signal.attrs["units"] == "uV"
    assert ds.attrs["sampling_rate"] == 1000.0 and ds.attrs["start_time"] == 0.5
    np.testing.assert_allclose(ds.time.values[[0, -1]], [0.5, 0.5 + 2999 / 1000])
    np.testing.assert_allclose(ds.signal.values, x, rtol=1e-6, atol=1e-4)
    for i, sp in enumerate(spikes):
        got = ds.spike_times.values[ds.spike_unit.values == i]
        np.testing.assert_allclose(got, sp)
    np.testing.assert_allclose(ds.t_start.values, 0.5)
    np.testing.assert_allclose(ds.t_stop.values, 3.5)

    sel = read_recording(
        path, format="NixIO", channels=["b", 3], units=["unit2"], modality="spikes"
    )
    assert list(sel.channel.values) == ["b", "d"]
    assert list(sel.unit.values) == ["unit2"] and sel.sizes["spike"] == len(spikes[2])
    assert sel.attrs["modality"] == "spikes"


def test_neo_nix_second_segment(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (500, 2))
    path = write_neo_nix(tmp_path / "s.nix", x, 500.0, ["a", "b"], [], n_segments=2)
    ds = read_recording(path, segment=1)
    np.testing.assert_allclose(ds.signal.values, 2 * x, rtol=1e-5, atol=1e-5)
    assert ds.attrs["neo_segment"] == 1


def test_neo_nwbio_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(0, 20, (2000, 3))
    spikes = _spikes(rng, 2, 0.0, 2.0)
    path = write_neo_nwb(tmp_path / "s.nwb", x, 1000.0, ["a", "b", "c"], spikes)
    assert detect_format(path) == "nwb"  # NWB is read with pynwb; neo's NWBIO on request
    for fmt, reader in (("auto", "pynwb.TimeSeries"), ("NWBIO", "neo.NWBIO")):
        ds = read_recording(path, format=fmt)
        _check_contract(ds, "continuous", reader)
        np.testing.assert_allclose(ds.signal.values, x, rtol=1e-5, atol=1e-4)
        assert ds.signal.attrs["units"] == "uV"
        assert ds.sizes["unit"] == 2
        np.testing.assert_allclose(ds.spike_times.values[ds.spike_unit.values == 1], spikes[1])


def test_openephys_binary_chunked_decimation_matches_scipy(tmp_path):
    fs, n = 30000.0, 90_000
    rng = np.random.default_rng(2)
    t = np.arange(n) / fs
    raw = (rng.normal(0, 50, (n, 3)) + 400 * np.sin(2 * np.pi * 13 * t)[:, None]).astype(np.int16)
    root = write_openephys_binary(
        tmp_path / "oe", raw, fs, ["CH1", "CH2", "CH3"], bit_volts=0.195, first_sample=3000
    )
    assert detect_format(tmp_path / "oe") == "OpenEphysBinaryIO"
    # small chunks: many chunk borders inside the recording
    ds = read_recording(tmp_path / "oe", decimate_to=1000.0, chunk_values=3 * 7000)
    _check_contract(ds, "continuous", "neo.OpenEphysBinaryIO", ("neo",))
    assert ds.attrs["sampling_rate"] == 1000.0
    assert ds.attrs["original_sampling_rate"] == fs
    assert ds.attrs["start_time"] == pytest.approx(0.1)  # first sample number 3000 at 30 kHz
    assert ds.sizes["time"] == n // 30
    uv = raw.astype(np.float64) * 0.195
    ref = resample_poly(uv - np.median(uv[:30000], axis=0), 1, 30, axis=0) + np.median(
        uv[:30000], axis=0
    )
    np.testing.assert_allclose(ds.signal.values, ref, atol=0.05)
    # the 13 Hz sine survives with its amplitude (78 uV)
    amp = np.abs(np.fft.rfft(ds.signal.values[:, 0] - ds.signal.values[:, 0].mean()))
    freqs = np.fft.rfftfreq(ds.sizes["time"], 1e-3)
    assert freqs[np.argmax(amp)] == pytest.approx(13.0, abs=0.4)
    # structure.oebin itself is accepted as the path
    again = read_recording(root / "structure.oebin", max_rate=1000.0)
    np.testing.assert_array_equal(again.signal.values.shape, ds.signal.values.shape)


@pytest.mark.parametrize("column", [False, True], ids=["1d", "kilosort_column"])
def test_phy_folder(tmp_path, column):
    rng = np.random.default_rng(3)
    samples = np.sort(rng.integers(0, 300_000, 400))
    clusters = rng.integers(0, 3, 400)
    folder = write_phy(
        tmp_path / "phy", samples, clusters, 30000.0, {0: "good", 1: "mua", 2: "good"}
    )
    if not column:  # Kilosort 4 / phy write a flat array; Kilosort 1-3 a (n, 1) column
        np.save(folder / "spike_times.npy", np.load(folder / "spike_times.npy").ravel())
    ds = read_recording(folder)
    _check_contract(ds, "spikes", "neo.PhyIO", ("neo",))
    assert list(ds.unit.values) == ["unit 0", "unit 1", "unit 2"]
    assert ds.attrs["sampling_rate"] == 30000.0
    for c in range(3):
        got = np.sort(ds.spike_times.values[ds.spike_unit.values == c])
        np.testing.assert_allclose(got, np.sort(samples[clusters == c]) / 30000.0)


@pytest.mark.parametrize("by_hand", [False, True], ids=["mne_export_float32", "int16_by_hand"])
def test_brainvision_neo_and_mne_agree(tmp_path, eeg, by_hand):
    if not by_hand:
        pytest.importorskip("pybv")
    vhdr = write_brainvision(tmp_path / "rec.vhdr", eeg, 250.0, EEG_NAMES, by_hand=by_hand)
    by_mne = read_recording(vhdr)
    _check_contract(by_mne, "continuous", "mne.read_raw_brainvision", ("mne",))
    by_neo = read_recording(vhdr, format="BrainVisionIO")
    _check_contract(by_neo, "continuous", "neo.BrainVisionIO", ("neo",))
    for ds in (by_mne, by_neo):
        assert list(ds.channel.values) == EEG_NAMES
        assert ds.signal.attrs["units"] == "uV"
        assert ds.attrs["sampling_rate"] == 250.0
        np.testing.assert_allclose(ds.signal.values, eeg, atol=0.051)  # 0.1 uV resolution
    assert json.loads(by_mne.attrs["channel_types"]) == ["eeg"] * 4


@pytest.mark.parametrize("by_hand", [False, True], ids=["mne_export_edfio", "by_hand"])
def test_edf_through_mne(tmp_path, eeg, by_hand):
    if not by_hand:
        pytest.importorskip("edfio")
    path = write_edf(tmp_path / "rec.edf", eeg, 250.0, EEG_NAMES, by_hand=by_hand)
    ds = read_recording(path)
    _check_contract(ds, "continuous", "mne.read_raw_edf", ("mne",))
    assert list(ds.channel.values) == EEG_NAMES and ds.signal.attrs["units"] == "uV"
    step = 2 * np.abs(eeg).max() * 1.01 / 65535
    np.testing.assert_allclose(ds.signal.values, eeg, atol=step)
    dec = read_recording(path, decimate_to=125.0)
    assert dec.attrs["sampling_rate"] == 125.0 and dec.sizes["time"] == 1250


def test_fif_and_eeglab_through_mne(tmp_path, eeg):
    import mne

    info = mne.create_info([*EEG_NAMES, "STI"], 250.0, ["eeg"] * 4 + ["stim"])
    data = np.vstack([eeg.T * 1e-6, np.zeros((1, eeg.shape[0]))])
    raw = mne.io.RawArray(data, info, verbose="error")
    raw.save(tmp_path / "rec_raw.fif", verbose="error")
    ds = read_recording(tmp_path / "rec_raw.fif")
    _check_contract(ds, "continuous", "mne.read_raw_fif", ("mne",))
    assert list(ds.channel.values) == EEG_NAMES  # the stim channel is not a data channel
    np.testing.assert_allclose(ds.signal.values, eeg, rtol=1e-5, atol=1e-3)

    write_eeglab(tmp_path / "rec.set", eeg, 250.0, EEG_NAMES)
    ds = read_recording(tmp_path / "rec.set")
    _check_contract(ds, "continuous", "mne.read_raw_eeglab", ("mne",))
    np.testing.assert_allclose(ds.signal.values, eeg, rtol=1e-5, atol=1e-3)


def test_suite2p_plane(tmp_path):
    rng = np.random.default_rng(4)
    F = rng.gamma(5, 100, (6, 400))
    Fneu = 0.3 * F + 10
    iscell = np.array([1, 1, 0, 1, 1, 0], bool)
    write_suite2p(tmp_path / "exp" / "suite2p" / "plane0", F, Fneu, iscell, 30.0)
    ds = read_recording(tmp_path / "exp")
    _check_contract(ds, "calcium", "suite2p")
    assert ds.attrs["sampling_rate"] == 30.0 and ds.attrs["signal_kind"] == "F"
    assert ds.signal.shape == (400, 6) and ds.neuropil.shape == (400, 6)
    np.testing.assert_allclose(ds.signal.values, F.T, rtol=1e-6)
    np.testing.assert_allclose(ds.neuropil.values, Fneu.T, rtol=1e-6)
    np.testing.assert_array_equal(ds.iscell.values, iscell.astype(np.int8))
    assert read_recording(tmp_path / "exp", sampling_rate=15.0).attrs["sampling_rate"] == 15.0


def test_caiman_hdf5(tmp_path):
    rng = np.random.default_rng(5)
    C, dff = rng.random((5, 300)), rng.random((5, 300))
    write_caiman(tmp_path / "cnm.hdf5", C, 15.0, F_dff=dff)
    ds = read_recording(tmp_path / "cnm.hdf5")
    _check_contract(ds, "calcium", "caiman")
    assert ds.attrs["signal_kind"] == "dff" and ds.attrs["sampling_rate"] == 15.0
    np.testing.assert_allclose(ds.signal.values, dff.T, rtol=1e-6)
    dsc = read_recording(tmp_path / "cnm.hdf5", trace="C")
    assert dsc.attrs["signal_kind"] == "denoised"
    np.testing.assert_allclose(dsc.signal.values, C.T, rtol=1e-6)


def test_nwb_ophys_roi_response_series(tmp_path):
    rng = np.random.default_rng(6)
    data = rng.random((300, 7)).astype(np.float32)
    path = write_nwb_ophys(tmp_path / "ophys.nwb", data, 20.0)
    assert detect_format(path) == "nwb-ophys"
    ds = read_recording(path)
    _check_contract(ds, "calcium", "pynwb.RoiResponseSeries", ("pynwb",))
    assert ds.attrs["sampling_rate"] == 20.0 and ds.signal.attrs["units"] == "lumens"
    assert list(ds.channel.values) == [f"roi{i}" for i in range(7)]
    np.testing.assert_allclose(ds.signal.values, data)


def test_plain_arrays_npy_csv_nc(tmp_path):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(600, 3))
    np.save(tmp_path / "x.npy", x.astype(np.float32))
    ds = read_recording(tmp_path / "x.npy", sampling_rate=200.0, session="s1")
    _check_contract(ds, "continuous", "numpy.load")
    assert ds.attrs["session"] == "s1" and ds.attrs["sampling_rate"] == 200.0
    np.testing.assert_allclose(ds.signal.values, x, rtol=1e-6)

    np.savetxt(tmp_path / "x.csv", x, delimiter=",", header="u,v,w", comments="")
    ds = read_recording(tmp_path / "x.csv", sampling_rate=200.0)
    assert list(ds.channel.values) == ["u", "v", "w"]
    np.testing.assert_allclose(ds.signal.values, x, rtol=1e-5)

    # a recording.nc written by write_dataset is read back unchanged
    write_dataset(ds, tmp_path / "rec.nc")
    back = read_recording(tmp_path / "rec.nc")
    np.testing.assert_array_equal(back.signal.values, ds.signal.values)
    assert back.attrs["reader"] == "numpy.loadtxt"

    # a foreign NetCDF with a (time, channel) variable
    import xarray as xr

    xr.Dataset(
        {"lfp": (("time", "electrode"), x, {"units": "mV"})},
        coords={"time": 2.0 + np.arange(600) / 100.0, "electrode": ["e1", "e2", "e3"]},
    ).to_netcdf(tmp_path / "foreign.nc", engine="h5netcdf")
    ds = read_recording(tmp_path / "foreign.nc")
    assert ds.attrs["sampling_rate"] == pytest.approx(100.0)
    assert ds.attrs["start_time"] == 2.0 and ds.signal.attrs["units"] == "mV"
    assert list(ds.channel.values) == ["e1", "e2", "e3"]


def test_recording_roundtrips_through_netcdf(tmp_path):
    rng = np.random.default_rng(8)
    path = write_neo_nix(
        tmp_path / "s.nix", rng.normal(size=(400, 2)), 400.0, ["a", "b"], _spikes(rng, 2, 0.0, 1.0)
    )
    ds = read_recording(path, session="mouse1")
    write_dataset(ds, tmp_path / "recording.nc")
    back = read_dataset(tmp_path / "recording.nc")
    validate_recording(back)
    assert back.attrs["session"] == "mouse1" and back.attrs["reader"] == "neo.NixIO"
    assert back.signal.dtype == np.float32 and back.spike_unit.dtype == np.int32
    np.testing.assert_array_equal(back.spike_times.values, ds.spike_times.values)
    assert list(back.channel.values) == ["a", "b"]
