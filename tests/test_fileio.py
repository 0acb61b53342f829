import os
import stat

import numpy as np
import pytest
import xarray as xr

from neurodsr.fileio import atomic_path, read_dataset, write_dataset, write_json


def test_write_dataset_round_trip_with_awkward_attrs(tmp_path):
    ds = xr.Dataset(
        {"x": (("time",), np.arange(5.0))},
        attrs={"cfg": {"a": 1}, "flag": True, "none": None, "lst": [1, 2]},
    )
    path = write_dataset(ds, tmp_path / "sub" / "x.nc")
    back = read_dataset(path)
    np.testing.assert_array_equal(back.x.values, ds.x.values)
    assert back.attrs["cfg"] == '{"a": 1}' and back.attrs["flag"] == 1
    assert back.attrs["none"] == "none"


def test_failed_write_leaves_nothing_and_keeps_the_old_file(tmp_path):
    target = tmp_path / "out.json"
    write_json({"v": 1}, target)
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("disk full")
    assert target.read_text().strip().endswith("}") and '"v": 1' in target.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_results_get_the_permissions_of_a_plain_open(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_json({"v": 1}, tmp_path / "r.json")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # not mkstemp's 0600
