"""Bad input on ingest: refused safely with a message that names the file, the problem and the
CLI option that helps, or read with a clear warning; nothing from a file ever runs."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from _writers import write_brainvision, write_openephys_binary, write_suite2p
from neurodsr.cli import main
from neurodsr.errors import InputError
from neurodsr.fileio import read_dataset
from neurodsr.io import make_recording, read_recording
from neurodsr.io.safe_npy import UnsafeContentError, load_plain_npy


class _Payload:
    """Unpickling this runs ``os.system`` (the classic crafted-pickle attack)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _suite2p(tmp_path, fs=30.0):
    rng = np.random.default_rng(0)
    F = 100 + rng.normal(0, 3, (4, 200))
    return write_suite2p(tmp_path / "suite2p" / "plane0", F, 0.4 * F, np.ones(4, bool), fs)


def test_crafted_ops_npy_does_not_run_code(tmp_path):
    plane = _suite2p(tmp_path)
    marker = tmp_path / "pwned"
    ops = {"fs": 30.0, "nframes": 200, "evil": _Payload(str(marker))}
    np.save(plane / "ops.npy", np.array(ops, dtype=object), allow_pickle=True)
    # the file really is an attack: numpy's own loader would run it (done in a copy here)
    probe = tmp_path / "probe.npy"
    probe.write_bytes((plane / "ops.npy").read_bytes())
    with pytest.raises(UnsafeContentError, match=r"posix\.system|nt\.system"):
        load_plain_npy(probe)
    with pytest.raises(InputError, match=r"refused to load ops\.npy") as info:
        read_recording(tmp_path / "suite2p")
    assert not marker.exists()
    assert "--sampling-rate" in info.value.hint
    # with the rate given, ops.npy is not read at all
    ds = read_recording(tmp_path / "suite2p", sampling_rate=30.0)
    assert ds.attrs["sampling_rate"] == 30.0 and not marker.exists()


@pytest.mark.parametrize(
    "payload",
    [
        pickle.dumps(np.array({"fs": 1.0}, dtype=object)).replace(b"fs", b"fs"),
        b"\x80\x04cbuiltins\neval\n(S'1+1'\ntR.",
        b"\x80\x04csubprocess\nPopen\n(S'true'\ntR.",
    ],
    ids=["plain_dict", "eval", "popen"],
)
def test_restricted_unpickler_allows_only_plain_data(tmp_path, payload):
    header = {"descr": "|O", "fortran_order": False, "shape": ()}
    path = tmp_path / "x.npy"
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, header)
        fh.write(payload)
    if b"builtins" in payload or b"subprocess" in payload:
        with pytest.raises(UnsafeContentError, match="not plain data"):
            load_plain_npy(path)
    else:
        assert load_plain_npy(path) == {"fs": 1.0}


def test_real_ops_npy_content_is_read(tmp_path):
    from pathlib import PurePosixPath

    plane = _suite2p(tmp_path, fs=12.5)
    ops = load_plain_npy(plane / "ops.npy")
    assert ops["fs"] == 12.5 and ops["filelist"] == ["/data/mouse1/file_00001.tif"]
    assert ops["meanImg"].shape == (32, 32) and ops["timing"]["detection"] == 30.1
    ops["save_path0"] = PurePosixPath("/data/mouse1")  # newer suite2p may store paths
    np.save(plane / "ops.npy", np.array(ops, dtype=object), allow_pickle=True)
    assert load_plain_npy(plane / "ops.npy")["save_path0"] == PurePosixPath("/data/mouse1")
    assert read_recording(plane).attrs["sampling_rate"] == 12.5


def test_neo_pickle_files_are_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "block.pkl"
    path.write_bytes(pickle.dumps(_Payload(str(marker))))
    with pytest.raises(InputError, match="refused: this is a Python pickle"):
        read_recording(path)
    with pytest.raises(InputError, match="refused"):
        read_recording(path, format="PickleIO")
    assert not marker.exists()


def test_truncated_brainvision_is_refused(tmp_path):
    pytest.importorskip("pybv")
    rng = np.random.default_rng(1)
    x = rng.normal(0, 20, (5000, 4))
    vhdr = write_brainvision(
        tmp_path / "rec.vhdr", x, 250.0, ["Fz", "Cz", "Pz", "Oz"], markers_s=[2.0, 10.0, 19.0]
    )
    eeg = tmp_path / "rec.eeg"
    full = eeg.read_bytes()
    eeg.write_bytes(full[: len(full) // 2])  # cut in half: a whole number of samples
    for fmt in ("auto", "BrainVisionIO"):
        with pytest.raises(InputError, match=r"truncated data file: rec\.eeg holds 2500 samples"):
            read_recording(vhdr, format=fmt)
    with pytest.warns(UserWarning, match="allow-truncated"):
        ds = read_recording(vhdr, allow_truncated=True)
    assert ds.sizes["time"] == 2500
    eeg.write_bytes(full[: len(full) // 2 + 6])  # ends inside a sample
    with pytest.raises(InputError, match="not a whole number of samples") as info:
        read_recording(vhdr)
    assert "--allow-truncated" in info.value.hint


def test_truncated_openephys_is_refused(tmp_path):
    data = np.random.default_rng(2).integers(-100, 100, (3000, 4)).astype(np.int16)
    root = write_openephys_binary(tmp_path / "oe", data, 3000.0, ["a", "b", "c", "d"])
    dat = next(root.glob("continuous/*/continuous.dat"))
    dat.write_bytes(dat.read_bytes()[: 1500 * 8])
    with pytest.raises(InputError, match=r"holds 1500 samples but sample_numbers\.npy lists 3000"):
        read_recording(root)


def test_absurd_amplitudes_are_refused(tmp_path):
    x = np.random.default_rng(3).normal(0, 10, (1000, 3))
    x[100:110, 1] = 3.4e37
    with pytest.raises(InputError, match=r"implausible amplitudes: 10 samples .*ch1") as info:
        make_recording(
            modality="continuous",
            source_file="rec.edf",
            reader="test",
            sampling_rate=100.0,
            signal=x,
            units="uV",
        )
    assert "--channels" in info.value.hint and "rec.edf" in str(info.value)
    np.save(tmp_path / "x.npy", x)
    with pytest.raises(InputError, match="implausible"):  # any unit: beyond 1e30
        read_recording(tmp_path / "x.npy", sampling_rate=100.0)


def test_nan_at_the_edges_is_trimmed_and_gaps_named_right(tmp_path):
    t = np.arange(1000) / 100.0
    x = np.stack([np.sin(t), np.cos(t)], axis=1)
    x[0, 0] = np.nan
    x[-1, 1] = np.nan
    x[500:520, 1] = np.nan  # a 0.2 s gap inside: longer than the default 0.1 s
    np.save(tmp_path / "edges.npy", x)
    with pytest.raises(InputError, match=r"20 non-finite .* starting at 5\.000 s") as info:
        read_recording(tmp_path / "edges.npy", sampling_rate=100.0)
    assert "--max-gap-s" in info.value.hint
    with pytest.warns(UserWarning, match="1 leading and 1 trailing samples"):
        ds = read_recording(tmp_path / "edges.npy", sampling_rate=100.0, max_gap_s=0.5)
    assert ds.sizes["time"] == 998 and ds.attrs["start_time"] == pytest.approx(0.01)
    assert float(ds.time.values[0]) == pytest.approx(0.01)
    np.testing.assert_allclose(ds.signal.values[:, 0], np.sin(t[1:-1]), atol=1e-6)
    out = tmp_path / "rec.nc"
    args = ["ingest", str(tmp_path / "edges.npy"), "--sampling-rate", "100", "--out", str(out)]
    assert main([*args, "--max-gap-s", "0.5"]) == 0
    assert read_dataset(out).sizes["time"] == 998


def test_txt_tables_are_read(tmp_path):
    x = np.random.default_rng(4).normal(size=(200, 3))
    np.savetxt(tmp_path / "a.txt", x)  # whitespace separated, as np.savetxt and MATLAB write
    ds = read_recording(tmp_path / "a.txt", sampling_rate=50.0)
    assert ds.attrs["reader"] == "numpy.loadtxt"
    np.testing.assert_allclose(ds.signal.values, x, rtol=1e-6)
    with pytest.raises(InputError, match="no sampling rate") as info:
        read_recording(tmp_path / "a.txt")
    assert "--sampling-rate" in info.value.hint


def test_neo_object_io_without_read_all_blocks(tmp_path):
    pytest.importorskip("neo")
    x = np.random.default_rng(5).normal(size=(300, 2))
    np.savetxt(tmp_path / "sig.asc", x, delimiter="\t")  # AsciiSignalIO's default delimiter
    ds = read_recording(tmp_path / "sig.asc", format="AsciiSignalIO")
    assert ds.attrs["reader"] == "neo.AsciiSignalIO" and ds.sizes["time"] == 300


def test_empty_or_foreign_folder_says_what_is_missing(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="the folder is empty") as info:
        read_recording(empty)
    assert "suite2p" in str(info.value) and ".vhdr" in info.value.hint
    other = tmp_path / "notes"
    other.mkdir()
    (other / "readme.md").write_text("hello")
    with pytest.raises(InputError, match=r"holds readme\.md.*not a suite2p output"):
        read_recording(other)
    with pytest.raises(InputError, match="no suite2p output found"):
        read_recording(other, format="suite2p")
    assert main(["ingest", str(empty), "--out", str(tmp_path / "x.nc")]) == 2
    assert "no neo IO claims" not in capsys.readouterr().err


def test_large_undecimated_read_warns(tmp_path, monkeypatch):
    import neurodsr.io.chunked as chunked

    data = np.zeros((30000, 4), dtype=np.int16)
    root = write_openephys_binary(tmp_path / "oe", data, 30000.0, ["a", "b", "c", "d"])
    monkeypatch.setattr(chunked, "LARGE_READ_BYTES", 100_000)  # the 1 GB limit, scaled down
    with pytest.warns(UserWarning, match=r"takes 0\.0 GB .*without decimation.*--decimate-to"):
        read_recording(root)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_recording(root, decimate_to=1000.0)  # 4 kB after decimation: no warning


def test_hints_name_cli_options_not_python(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((10, 2)))
    with pytest.raises(InputError) as info:
        read_recording(tmp_path / "x.npy", plane=1)
    assert "--plane" in str(info.value) and "--channels" in info.value.hint
