"""`neurodsr lyapunov`: JSON line on stdout, readable LYAP.nc, errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from neurodsr.cli import main
from neurodsr.fileio import read_dataset, write_dataset


def _henon(n: int) -> np.ndarray:
    x, y = 0.1, 0.0
    out = np.empty(n)
    for i in range(n + 500):
        x, y = 1.0 - 1.4 * x * x + y, 0.3 * x
        if i >= 500:
            out[i - 500] = x
    return out


def test_npy_prints_json_and_writes_netcdf(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = tmp_path / "henon.npy"
    np.save(data, _henon(6000))
    out = tmp_path / "lyap.nc"
    rc = main(["lyapunov", str(data), "--dt", "1", "--out", str(out), "--tau-min", "1"])
    assert rc == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    info = json.loads(line)
    assert info["verdict"] == "chaotic"
    assert info["lambda_max"] == pytest.approx(0.419, rel=0.1)
    assert info["lambda_max_per_step"] == pytest.approx(info["lambda_max"])
    assert info["tau"] == 2
    ds = read_dataset(out)
    assert {"divergence", "fit", "local_slope", "bootstrap_lambda_max"} <= set(ds.data_vars)
    assert ds.attrs["verdict"] == "chaotic"
    assert "version_numpy" in ds.attrs
    assert json.loads(ds.attrs["embedding"])["dim"] == 2


def test_preprocessed_nc_takes_x_and_dt(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    x = _henon(4000)
    ds = xr.Dataset(
        {"x": (("time", "dim"), np.column_stack([x, 0.3 * np.roll(x, 1)]).astype(np.float32))},
        attrs={"dt": 2.0},
    )
    path = tmp_path / "preprocessed.nc"
    write_dataset(ds, path)
    assert main(["lyapunov", str(path), "--method", "rosenstein"]) == 0
    info = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert info["dt"] == 2.0
    assert info["lambda_max"] == pytest.approx(info["lambda_max_per_step"] / 2.0)


def test_csv_with_nan_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = _henon(2000)
    data[100] = np.nan
    path = tmp_path / "bad.csv"
    np.savetxt(path, data, delimiter=",")
    out = tmp_path / "lyap.nc"
    assert main(["lyapunov", str(path), "--dt", "1", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "NaN" in err and "bad.csv" in err
    assert not out.exists()


def test_missing_dt_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "x.npy"
    np.save(path, _henon(2000))
    assert main(["lyapunov", str(path)]) == 2
    assert "--dt" in capsys.readouterr().err


def test_spectrum_method_adds_the_spectrum_and_keeps_the_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    data = tmp_path / "henon.npy"
    np.save(data, _henon(8000))
    out = tmp_path / "lyap.nc"
    rc = main(["lyapunov", str(data), "--dt", "1", "--method", "spectrum", "--out", str(out)])
    assert rc == 0
    info = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # the keys lyapunov.json had before stay; the test and the spectrum are added
    for key in ("lambda_max", "lambda_max_per_step", "tau", "verdict", "reason", "embedding"):
        assert key in info
    assert info["verdict"] == "chaotic"
    assert info["surrogate_test"]["p_value"] == pytest.approx(0.05)
    assert info["surrogate_p_value"] == pytest.approx(0.05)
    spec = info["spectrum"]
    assert spec["exponents"][0] == pytest.approx(0.419, rel=0.15)
    assert spec["sum"] < 0
    ds = read_dataset(out)
    assert ds["data_spectrum"].size == len(spec["exponents"])


def test_cross_check_is_reported_and_can_be_switched_off(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    data = tmp_path / "henon.npy"
    np.save(data, _henon(5000))
    assert main(["lyapunov", str(data), "--dt", "1"]) == 0
    on = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert on["jacobian"]["rule"] == "agree"
    assert on["jacobian"]["lambda_max"] == pytest.approx(0.419, rel=0.15)
    assert on["kantz"]["verdict"] == "chaotic"
    assert main(["lyapunov", str(data), "--dt", "1", "--cross-check", "none"]) == 0
    off = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert off["jacobian"] is None and off["estimator"]["cross_check"] == "none"
    assert off["lambda_max"] == pytest.approx(on["kantz"]["lambda_max"])
