import json
import os
import stat
import time

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


# --------------------------------------------------------------------------- killed writers
_KILLED_WRITER = """
import sys, time
from neurodsr.fileio import atomic_path
with atomic_path(sys.argv[1]) as tmp:
    tmp.write_text("")  # what a killed `> fit.json.tmp` left: 0 bytes
    print(tmp, flush=True)
    time.sleep(60)
"""


def _start_writer(target):
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WRITER, str(target)], stdout=subprocess.PIPE, text=True
    )
    tmp = proc.stdout.readline().strip()
    return proc, tmp


def test_temporaries_are_unique_hidden_and_removed_on_sigterm_and_after_sigkill(tmp_path):
    import signal

    target = tmp_path / "fit.json"
    # SIGKILL cannot be caught: the temporary stays, under a name no output can have ...
    proc, tmp = _start_writer(target)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    left = [p.name for p in tmp_path.iterdir()]
    assert left == [os.path.basename(tmp)] and left[0].startswith(".fit.json.neurodsr-tmp-")
    assert not target.exists() and "fit.json.tmp" not in left
    # ... and a live writer's temporary is never touched by another write ...
    live, live_tmp = _start_writer(target)
    try:
        write_json({"v": 2}, target)
        names = {p.name for p in tmp_path.iterdir()}
        # ... while the dead one's is cleaned by that next write
        assert names == {"fit.json", os.path.basename(live_tmp)}
        assert os.path.basename(live_tmp) != os.path.basename(tmp)
    finally:
        live.kill()
        live.wait(30)
    # an unrelated hidden file is never removed
    (tmp_path / ".fit.json.mine").write_text("x")
    write_json({"v": 3}, target)
    assert (tmp_path / ".fit.json.mine").exists()
    assert json.loads(target.read_text()) == {"v": 3}


def test_stale_temporaries_of_other_hosts_expire(tmp_path):
    from neurodsr.fileio import STALE_SECONDS, remove_stale_temporaries

    target = tmp_path / "fit.nc"
    fresh = tmp_path / ".fit.nc.neurodsr-tmp-othernode-12-abc.nc"
    old = tmp_path / ".fit.nc.neurodsr-tmp-othernode-13-def.nc"
    for p in (fresh, old):
        p.write_bytes(b"")
    t = time.time() - STALE_SECONDS - 60
    os.utime(old, (t, t))
    assert remove_stale_temporaries(target) == [old]
    assert fresh.exists()


def test_an_interrupt_right_after_the_temporary_is_created_leaves_nothing(tmp_path, monkeypatch):
    """Ctrl-C / SIGTERM (raised as an exception by the CLI's handler) can arrive between the
    creation of the temporary file and the moment the writer knows its name; the temporary
    must still be removed (the flake CI once saw: a checkpoint's temporary left behind)."""
    import neurodsr.fileio as fileio

    real_open = os.open

    def open_then_interrupt(path, flags, mode=0o777):
        os.close(real_open(path, flags, mode))  # the file now exists ...
        raise KeyboardInterrupt  # ... and the signal arrives before its fd is returned

    monkeypatch.setattr(fileio.os, "open", open_then_interrupt)
    target = tmp_path / "checkpoint.pt"
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target):
            pass  # pragma: no cover - never reached
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []
