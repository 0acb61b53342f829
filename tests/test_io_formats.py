"""Real formats in the shapes acquisition and analysis systems write them, read right with
default options; where a file holds several candidates (streams, planes, series, channel
kinds) the documented main one is read, the rest is named, and a CLI option picks another."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from _writers import (
    make_maxshield,
    write_brainvision,
    write_caiman_full,
    write_fif_elekta,
    write_nwb_ecephys,
    write_nwb_ophys,
    write_openephys_binary,
    write_phy,
    write_suite2p,
    write_suite2p_planes,
)
from neurodsr.cli import main
from neurodsr.errors import InputError
from neurodsr.fileio import read_dataset
from neurodsr.io import detect_format, read_recording


def test_kilosort_folder_with_column_arrays(tmp_path):
    rng = np.random.default_rng(3)
    samples = np.sort(rng.integers(0, 300_000, 400))
    clusters = rng.integers(0, 3, 400)
    folder = write_phy(tmp_path / "ks", samples, clusters, 30000.0, column=True)
    assert np.load(folder / "spike_clusters.npy").shape == (400, 1)
    assert np.load(folder / "spike_templates.npy").shape == (400, 1)
    ds = read_recording(folder)
    assert ds.attrs["reader"] == "neo.PhyIO" and ds.sizes["unit"] == 3
    for c in range(3):
        got = np.sort(ds.spike_times.values[ds.spike_unit.values == c])
        np.testing.assert_allclose(got, np.sort(samples[clusters == c]) / 30000.0)


def test_nwb_ecephys_through_pynwb(tmp_path):
    rng = np.random.default_rng(0)
    fs, n = 2000.0, 8000
    t = np.arange(n) / fs
    volts = 100e-6 * np.sin(2 * np.pi * 8 * t)[:, None] + rng.normal(0, 20e-6, (n, 4))
    counts = np.round(volts / 0.195e-6).astype(np.int16)
    lfp = (counts[::4] * 0.195e-6).astype(np.float32)
    spikes = [np.sort(rng.uniform(0, 4, 30 + 10 * i)) for i in range(3)]
    path = write_nwb_ecephys(tmp_path / "ses.nwb", counts, fs, spikes, lfp=lfp, lfp_rate=500.0)
    assert detect_format(path) == "nwb"
    with pytest.warns(UserWarning, match="left out processing/ecephys/LFP/ElectricalSeries"):
        ds = read_recording(path)
    assert ds.attrs["reader"] == "pynwb.ElectricalSeries"
    assert ds.attrs["nwb_series"] == "acquisition/ElectricalSeries"
    assert list(ds.channel.values) == ["CH1", "CH2", "CH3", "CH4"]
    assert ds.signal.attrs["units"] == "uV" and ds.attrs["sampling_rate"] == fs
    np.testing.assert_allclose(ds.signal.values, counts * 0.195, rtol=1e-5, atol=1e-3)
    assert ds.sizes["unit"] == 3
    np.testing.assert_allclose(ds.spike_times.values[ds.spike_unit.values == 2], spikes[2])
    assert float(ds.t_stop.values[0]) == pytest.approx(4.0)
    # the LFP by name, decimated on the way in; spikes only without reading samples
    lfp_ds = read_recording(path, series="LFP", decimate_to=250.0, channels=["CH2"])
    assert lfp_ds.attrs["sampling_rate"] == 250.0 and lfp_ds.sizes["channel"] == 1
    sp = read_recording(path, modality="spikes")
    assert "signal" not in sp and sp.attrs["reader"] == "pynwb.Units"
    with pytest.raises(InputError, match="no ElectricalSeries named 'Raw'") as info:
        read_recording(path, series="Raw")
    assert "--series" in info.value.hint and "acquisition/ElectricalSeries" in info.value.hint


def test_nwb_ophys_prefers_raw_fluorescence_over_deconvolved(tmp_path, caplog):
    rng = np.random.default_rng(1)
    F = 100 + rng.normal(0, 5, (600, 6))
    series = {"Deconvolved": np.maximum(rng.normal(0, 1, F.shape), 0), "Fluorescence": F}
    series["Neuropil"] = 0.5 * F
    path = write_nwb_ophys(tmp_path / "ophys.nwb", F, 30.0, series=series, dff=F / 100 - 1)
    assert detect_format(path) == "nwb-ophys"
    with caplog.at_level(logging.INFO, logger="neurodsr.io.calcium"):
        ds = read_recording(path)
    assert ds.attrs["nwb_series"] == "Fluorescence/Fluorescence"
    assert ds.attrs["signal_kind"] == "F"
    np.testing.assert_allclose(ds.signal.values, F, rtol=1e-6)
    # the Neuropil series beside it (suite2p's NWB export) is attached for F - 0.7 Fneu
    assert ds.attrs["nwb_neuropil_series"] == "Fluorescence/Neuropil"
    np.testing.assert_allclose(ds.neuropil.values, 0.5 * F, rtol=1e-6)
    assert "Fluorescence/Deconvolved" in caplog.text and "--series" in caplog.text
    dec = read_recording(path, series="Deconvolved")
    assert dec.attrs["signal_kind"] == "denoised"  # never put through dF/F
    np.testing.assert_allclose(dec.signal.values, series["Deconvolved"], rtol=1e-6)
    assert read_recording(path, series="DfOverF").attrs["signal_kind"] == "dff"
    with pytest.raises(InputError, match="no RoiResponseSeries named 'F'") as info:
        read_recording(path, series="F")
    assert "Fluorescence/Deconvolved" in info.value.hint


def test_nwb_ophys_neuropil_is_subtracted_and_a_mismatched_one_is_named(tmp_path, caplog):
    from neurodsr.preprocess import preprocess

    rng = np.random.default_rng(3)
    F = 100 + rng.normal(0, 5, (900, 4))
    Fneu = 40 + rng.normal(0, 2, F.shape)
    path = write_nwb_ophys(
        tmp_path / "s2p.nwb", F, 30.0, series={"Fluorescence": F, "Neuropil": Fneu}
    )
    ds = read_recording(path)
    pre = preprocess(ds, {"zscore": False})
    assert json.loads(pre.attrs["steps"])["neuropil_coef"] == 0.7
    # the same as dF/F of F - 0.7 Fneu given as the signal
    ref = ds.drop_vars("neuropil")
    ref["signal"] = ds.signal - 0.7 * ds.neuropil
    want = preprocess(ref, {"zscore": False}).x.values
    np.testing.assert_allclose(pre.x.values, want, atol=1e-6)  # float32 output
    # a neuropil series of other ROIs is not subtracted, and the log says so
    bad = write_nwb_ophys(
        tmp_path / "bad.nwb", F, 30.0, series={"Fluorescence": F, "Neuropil": Fneu[:, :3]}
    )
    with caplog.at_level(logging.INFO, logger="neurodsr.io.calcium"):
        ds_bad = read_recording(bad)
    assert "neuropil" not in ds_bad and ds_bad.attrs["nwb_neuropil_series"] == ""
    assert "without neuropil subtraction" in caplog.text


def _planes(rng, sizes=(5, 4), frames=300):
    return [
        (100 + rng.normal(0, 3, (k, frames)), 40 + rng.normal(0, 1, (k, frames)), np.ones(k, bool))
        for k in sizes
    ]


def test_multiplane_suite2p_reads_combined_or_says_which_plane(tmp_path, caplog):
    rng = np.random.default_rng(2)
    planes = _planes(rng)
    s2p = write_suite2p_planes(tmp_path / "exp", planes, 15.0)
    assert detect_format(s2p) == detect_format(tmp_path / "exp") == "suite2p"
    with caplog.at_level(logging.INFO, logger="neurodsr.io.calcium"):
        ds = read_recording(tmp_path / "exp")
    assert ds.attrs["suite2p_plane"] == "combined" and ds.sizes["channel"] == 9
    assert "plane0, plane1" in caplog.text and "--plane" in caplog.text
    assert json.loads(ds.attrs["suite2p_planes"]) == ["plane0", "plane1", "combined"]
    one = read_recording(s2p, plane=1)
    assert one.attrs["suite2p_plane"] == "plane1" and one.sizes["channel"] == 4
    np.testing.assert_allclose(one.signal.values, planes[1][0].T, rtol=1e-6)
    with pytest.raises(InputError, match="plane 'plane7' not found") as info:
        read_recording(s2p, plane="plane7")
    assert "--plane" in info.value.hint and "combined" in info.value.hint
    # without suite2p's combined folder: plane0, and a warning naming the others
    bare = write_suite2p_planes(tmp_path / "bare", planes, 15.0, combined=False)
    with pytest.warns(UserWarning, match=r"2 planes \(plane0, plane1\).*--plane"):
        ds = read_recording(bare)
    assert ds.attrs["suite2p_plane"] == "plane0" and ds.sizes["channel"] == 5


def test_suite2p_unset_frame_rate_warns(tmp_path):
    rng = np.random.default_rng(0)
    F, Fneu, isc = _planes(rng, (3,))[0]
    plane = write_suite2p(tmp_path / "plane0", F, Fneu, isc, 1.0)
    with pytest.warns(UserWarning, match=r"ops\['fs'\] = 1 Hz .*looks unset.*--sampling-rate"):
        read_recording(plane)
    assert read_recording(plane, sampling_rate=30.0).attrs["sampling_rate"] == 30.0


def test_caiman_trace_option(tmp_path, capsys):
    rng = np.random.default_rng(4)
    C = np.abs(rng.normal(1, 0.3, (6, 400)))
    path = write_caiman_full(tmp_path / "cnm.hdf5", C, 20.0)
    assert read_recording(path).attrs["caiman_trace"] == "F_dff"
    for trace, kind in (("C", "denoised"), ("S", "denoised"), ("YrA", "denoised")):
        ds = read_recording(path, trace=trace)
        assert ds.attrs["caiman_trace"] == trace and ds.attrs["signal_kind"] == kind
    np.testing.assert_allclose(read_recording(path, trace="C").signal.values, C.T, rtol=1e-6)
    out = tmp_path / "c.nc"
    assert main(["ingest", str(path), "--trace", "C", "--out", str(out)]) == 0
    assert read_dataset(out).attrs["caiman_trace"] == "C"
    with pytest.raises(InputError, match="unknown CaImAn trace 'dff'") as info:
        read_recording(path, trace="dff")
    assert "--trace" in info.value.hint


def test_brainvision_with_misc_channels_reads_eeg(tmp_path, caplog):
    pytest.importorskip("pybv")
    rng = np.random.default_rng(5)
    x = rng.normal(0, 20, (2500, 6))
    names = ["Fz", "Cz", "Pz", "Oz", "GSR", "Resp"]
    vhdr = write_brainvision(
        tmp_path / "sub.vhdr", x, 250.0, names, ch_types=["eeg"] * 4 + ["misc"] * 2
    )
    with caplog.at_level(logging.INFO, logger="neurodsr.io.mne_reader"):
        ds = read_recording(vhdr)
    assert list(ds.channel.values) == ["Fz", "Cz", "Pz", "Oz"]
    np.testing.assert_allclose(ds.signal.values, x[:, :4], rtol=1e-4, atol=0.1)
    assert "2 misc channel(s) (GSR, Resp)" in caplog.text and "--channel-type" in caplog.text
    misc = read_recording(vhdr, channel_type="misc")
    assert list(misc.channel.values) == ["GSR", "Resp"]
    # channels of two kinds picked by hand: refused with the CLI options, not Python syntax
    with pytest.raises(InputError, match="different kinds") as info:
        read_recording(vhdr, channels=["Fz", "GSR"])
    assert "--channel-type" in info.value.hint and "channels=[" not in info.value.hint


def test_elekta_fif_reads_gradiometers_by_default(tmp_path, caplog):
    path, data = write_fif_elekta(tmp_path / "meg_raw.fif")
    with caplog.at_level(logging.INFO, logger="neurodsr.io.mne_reader"):
        ds = read_recording(path)
    types = set(json.loads(ds.attrs["channel_types"]))
    assert types == {"grad"} and ds.sizes["channel"] == 204
    assert ds.signal.attrs["units"] == "fT/cm"
    assert "102 mag channel(s)" in caplog.text
    mags = read_recording(path, channel_type="mag")
    assert mags.sizes["channel"] == 102 and mags.signal.attrs["units"] == "fT"
    idx = [i for i, n in enumerate(mags.channel.values) if n == "MEG 0111"]
    np.testing.assert_allclose(
        mags.signal.values[:, idx[0]], data[2] * 1e15, rtol=1e-4, atol=1e-3
    )  # "MEG 0111" is the third channel of the layout, stored in fT


def test_maxshield_fif_hint(tmp_path):
    path, _ = write_fif_elekta(tmp_path / "meg_raw.fif", seconds=1.0)
    ms = make_maxshield(path, tmp_path / "ms_raw.fif")
    with pytest.raises(InputError, match="MaxShield") as info:
        read_recording(ms)
    hint = info.value.hint
    assert "MaxFilter" in hint and "allow_maxshield" in hint and "--allow-maxshield" in hint
    with pytest.warns(UserWarning, match="not been Maxfiltered"):
        ds = read_recording(ms, allow_maxshield=True)
    assert ds.sizes["channel"] == 204


def test_openephys_neural_and_adc_streams_are_not_merged(tmp_path):
    rng = np.random.default_rng(6)
    n = 6000
    neural = rng.integers(-500, 500, (n, 4)).astype(np.int16)
    adc = np.tile(np.int16(16000), (n, 2))  # 16000 x 0.000152 V = 2.44 V on both ADC inputs
    root = write_openephys_binary(
        tmp_path / "oe",
        np.hstack([neural, adc]),
        3000.0,
        ["CH1", "CH2", "CH3", "CH4", "ADC1", "ADC2"],
        n_adc=2,
    )
    with pytest.warns(UserWarning, match=r"left out .*_ADC.*--stream"):
        ds = read_recording(root)
    assert list(ds.channel.values) == ["CH1", "CH2", "CH3", "CH4"]
    assert ds.signal.attrs["units"] == "uV"
    np.testing.assert_allclose(ds.signal.values, neural * 0.195, rtol=1e-5)
    stream = json.loads(ds.attrs["neo_streams_left_out"])[0]
    a = read_recording(root, stream=stream)
    assert list(a.channel.values) == ["ADC1", "ADC2"]
    np.testing.assert_allclose(a.signal.values, 16000 * 0.00015258789 * 1e6, rtol=1e-5)


def test_nix_with_several_signals_hints_cli_option(tmp_path):
    import neo
    import quantities as pq
    from neo.io import NixIO

    seg = neo.Segment()
    seg.analogsignals += [
        neo.AnalogSignal(np.zeros((100, 2)), units="mV", sampling_rate=1000 * pq.Hz, name="lfp"),
        neo.AnalogSignal(np.zeros((100, 1)), units="degC", sampling_rate=1000 * pq.Hz, name="t"),
    ]
    block = neo.Block()
    block.segments.append(seg)
    with NixIO(str(tmp_path / "two.nix"), mode="ow") as io:
        io.write_block(block)
    with pytest.raises(InputError, match="different kinds of units") as info:
        read_recording(tmp_path / "two.nix")
    assert "--stream" in info.value.hint and "stream=" not in info.value.hint
    assert read_recording(tmp_path / "two.nix", stream="lfp").sizes["channel"] == 2
