"""``neurodsr ingest`` then ``neurodsr preprocess`` on files from the formats' writers."""

from __future__ import annotations

import json

import numpy as np

from _writers import write_brainvision, write_phy
from neurodsr.cli import main
from neurodsr.fileio import read_dataset


def test_ingest_and_preprocess_eeg(tmp_path):
    rng = np.random.default_rng(0)
    t = np.arange(30 * 500) / 500.0
    x = rng.normal(0, 5, (t.size, 4)) + 30 * np.sin(2 * np.pi * 9 * t)[:, None]
    vhdr = write_brainvision(tmp_path / "sub01.vhdr", x, 500.0, ["Fz", "Cz", "Pz", "Oz"])
    rec_nc = tmp_path / "res" / "recording.nc"
    assert (
        main(
            [
                "ingest",
                str(vhdr),
                "--session",
                "sub01",
                "--decimate-to",
                "250",
                "--out",
                str(rec_nc),
            ]
        )
        == 0
    )
    rec = read_dataset(rec_nc)
    assert rec.attrs["reader"] == "mne.read_raw_brainvision" and rec.attrs["session"] == "sub01"
    assert rec.attrs["sampling_rate"] == 250.0 and rec.signal.shape == (7500, 4)

    cfg = tmp_path / "pre.yaml"
    cfg.write_text("preprocess:\n  dt: 0.01\n  pca_components: 2\n  embed_dim: 2\n")
    pre_nc = tmp_path / "res" / "preprocessed.nc"
    assert main(["preprocess", str(rec_nc), "--config", str(cfg), "--out", str(pre_nc)]) == 0
    pre = read_dataset(pre_nc)
    assert pre.x.dims == ("time", "dim") and pre.x.dtype == np.float32
    assert list(pre.dim.values) == ["pc0_lag0", "pc0_lag1", "pc1_lag0", "pc1_lag1"]
    # each end loses the filters' reach (0.5 Hz high-pass, resampling): those samples would
    # depend on data beyond the recording
    trim = round(json.loads(pre.attrs["steps"])["edge_trim_s"] / 0.01)
    assert 300 < trim < 400
    n = 3000 - 2 * trim
    assert pre.attrs["dt"] == 0.01 and pre.attrs["n_train"] == int(n * 0.8) - 1
    assert pre.attrs["embedding_dim"] == 2 and pre.attrs["session"] == "sub01"
    assert json.loads(pre.attrs["preprocess_config"])["dt"] == 0.01
    assert pre["loadings"].dims == ("dim", "channel")


def test_ingest_phy_selected_units_and_preprocess_counts(tmp_path):
    rng = np.random.default_rng(1)
    samples = np.sort(rng.integers(0, 30000 * 60, 3000))
    clusters = rng.integers(0, 4, 3000)
    folder = write_phy(tmp_path / "ks", samples, clusters, 30000.0)
    rec_nc = tmp_path / "recording.nc"
    assert main(["ingest", str(folder), "--units", "0,2,unit 3", "--out", str(rec_nc)]) == 0
    rec = read_dataset(rec_nc)
    assert list(rec.unit.values) == ["unit 0", "unit 2", "unit 3"]
    cfg = tmp_path / "pre.json"
    cfg.write_text(json.dumps({"dt": 0.05, "spike_representation": "counts"}))
    assert (
        main(["preprocess", str(rec_nc), "--config", str(cfg), "--out", str(tmp_path / "pre.nc")])
        == 0
    )
    pre = read_dataset(tmp_path / "pre.nc")
    assert pre.attrs["modality"] == "spikes" and pre.sizes["dim"] == 3
    assert pre.attrs["signal_units"] == "count"
