"""The demo generators write real lab formats that the readers load, seeded and reproducible."""

from __future__ import annotations

import json

import numpy as np
import pytest

from neurodsr.cli import main
from neurodsr.demo import (
    gcamp_kernel,
    write_calcium_demo,
    write_demo,
    write_lfp_demo,
    write_spikes_demo,
)
from neurodsr.errors import InputError
from neurodsr.io import read_recording


def test_spikes_demo_is_a_nix_population_driven_by_the_readout(tmp_path):
    s = write_spikes_demo(tmp_path / "s.nix", duration_s=20, n_units=32, seed=3)
    rec = read_recording(s.path)
    assert rec.attrs["modality"] == "spikes"
    assert rec.attrs["reader"] == "neo.NixIO"
    assert rec.sizes["unit"] == 32
    times = rec["spike_times"].values
    assert times.min() >= 0 and times.max() <= 20
    # mean rate near the baseline range (30-90 Hz, log-normal modulation keeps the mean)
    rate = times.size / (32 * 20.0)
    assert 30 < rate < 90
    assert s.info["n_spikes"] == times.size
    assert s.truth.shape[1] == 3


def test_spikes_demo_is_reproducible(tmp_path):
    a = write_spikes_demo(tmp_path / "a.nix", duration_s=5, n_units=4, seed=1)
    b = write_spikes_demo(tmp_path / "b.nix", duration_s=5, n_units=4, seed=1)
    c = write_spikes_demo(tmp_path / "c.nix", duration_s=5, n_units=4, seed=2)
    ra, rb, rc = (read_recording(x.path) for x in (a, b, c))
    np.testing.assert_array_equal(ra["spike_times"].values, rb["spike_times"].values)
    assert ra.sizes["spike"] != rc.sizes["spike"] or not np.array_equal(
        ra["spike_times"].values, rc["spike_times"].values
    )


def test_lfp_demo_is_brainvision_with_line_noise(tmp_path):
    s = write_lfp_demo(tmp_path / "lfp.vhdr", duration_s=20, n_channels=6, seed=0)
    assert {p.suffix for p in s.files} == {".vhdr", ".eeg", ".vmrk"}
    assert all(p.is_file() for p in s.files)
    rec = read_recording(s.path)
    assert rec.attrs["modality"] == "continuous"
    assert rec.attrs["sampling_rate"] == pytest.approx(250.0)
    assert rec.sizes["channel"] == 6
    assert rec["signal"].attrs["units"] in ("uV", "µV")
    x = rec["signal"].values.astype(np.float64)
    spec = np.abs(np.fft.rfft(x - x.mean(0), axis=0)).mean(1)
    f = np.fft.rfftfreq(len(x), 1 / 250.0)
    peak = spec[np.abs(f - 50.0) < 0.2].max()
    around = np.median(spec[(f > 40) & (f < 60) & (np.abs(f - 50.0) > 1)])
    assert peak > 20 * around  # the 50 Hz line stands out


def test_calcium_demo_is_a_suite2p_folder(tmp_path):
    s = write_calcium_demo(
        tmp_path / "suite2p", duration_s=40, n_rois=12, n_not_cells=2, fs=15.0, seed=0
    )
    plane = tmp_path / "suite2p" / "plane0"
    ops = np.load(plane / "ops.npy", allow_pickle=True).item()
    assert ops["fs"] == 15.0
    assert np.load(plane / "F.npy").shape == (12, 600)
    iscell = np.load(plane / "iscell.npy")
    assert iscell.shape == (12, 2) and iscell[:, 0].sum() == 10
    rec = read_recording(s.path)
    assert rec.attrs["modality"] == "calcium"
    assert rec.attrs["sampling_rate"] == pytest.approx(15.0)
    assert "neuropil" in rec and "iscell" in rec
    # the background ROIs carry no calcium transients: much less variance than cells
    F = np.load(plane / "F.npy")
    assert F[:10].std(1).mean() > 2 * F[10:].std(1).mean()


def test_gcamp_kernel_rises_then_decays():
    k = gcamp_kernel(30.0, rise_s=0.05, decay_s=0.5)
    assert k.max() == pytest.approx(1.0)
    peak = int(k.argmax())
    assert 0 < peak < 10
    assert np.all(np.diff(k[peak:]) <= 0)


def test_write_demo_and_cli(tmp_path, capsys):
    assert (
        main(
            [
                "demo",
                "--out",
                str(tmp_path),
                "--only",
                "lfp",
                "calcium",
                "--options",
                json.dumps({"lfp": {"duration_s": 10}, "calcium": {"duration_s": 20}}),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "lfp:" in out and "calcium:" in out
    assert (tmp_path / "lfp.vhdr").is_file()
    assert (tmp_path / "calcium" / "suite2p" / "plane0" / "F.npy").is_file()
    assert not (tmp_path / "spikes.nix").exists()
    info = json.loads((tmp_path / "lfp.json").read_text())
    assert info["system"] == "roessler" and info["duration_s"] == 10
    assert "mne" in info["versions"]


def test_write_demo_rejects_bad_options(tmp_path):
    with pytest.raises(InputError, match="spikes"):
        write_demo(tmp_path, ["spikes"], {"spikes": {"n_neurons": 3}})
    with pytest.raises(InputError, match="unknown demo"):
        write_demo(tmp_path, ["eeg"])
    assert main(["demo", "--out", str(tmp_path), "--options", "{not json"]) == 2
