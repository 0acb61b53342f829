"""Bad input gives an InputError that names the file and the problem, and leaves no output."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import xarray as xr

from _writers import write_edf, write_neo_nix
from neurodsr.cli import main
from neurodsr.errors import InputError
from neurodsr.fileio import write_dataset
from neurodsr.io import make_recording, read_recording
from neurodsr.preprocess import check_length, preprocess


class _raises:
    """``with _raises(match, file_part) as info``: an InputError whose message matches
    ``match`` (regex) and names the file (``file_part`` in the message)."""

    def __init__(self, match: str, file_part: str) -> None:
        self.cm = pytest.raises(InputError, match=match)
        self.file_part = file_part

    def __enter__(self):
        self.info = self.cm.__enter__()
        return self.info

    def __exit__(self, *exc):
        out = self.cm.__exit__(*exc)
        assert self.file_part in str(self.info.value), str(self.info.value)
        return out


def test_truncated_edf(tmp_path):
    rng = np.random.default_rng(0)
    path = write_edf(tmp_path / "full.edf", rng.normal(0, 10, (2500, 2)), 250.0, ["a", "b"])
    data = path.read_bytes()
    cut = tmp_path / "cut.edf"
    cut.write_bytes(data[: len(data) // 2])
    with _raises("truncated file", "cut.edf") as info:
        read_recording(cut)
    assert "re-export" in info.value.hint
    ok = read_recording(cut, allow_truncated=True)  # asked for: what is there
    assert 0 < ok.sizes["time"] < 2500


def test_truncated_nix_and_npy(tmp_path):
    rng = np.random.default_rng(0)
    nix = write_neo_nix(tmp_path / "s.nix", rng.normal(size=(500, 2)), 500.0, ["a", "b"], [])
    cut = tmp_path / "cut.nix"
    cut.write_bytes(nix.read_bytes()[:5000])
    with _raises("NixIO cannot read this file", "cut.nix"):
        read_recording(cut)
    np.save(tmp_path / "x.npy", rng.normal(size=(1000, 3)))
    raw = (tmp_path / "x.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(raw[: len(raw) // 2])
    with _raises("cannot read the .npy file", "cut.npy"):
        read_recording(tmp_path / "cut.npy", sampling_rate=100.0)


def test_unknown_format_and_unreadable(tmp_path):
    f = tmp_path / "notes.xyz"
    f.write_text("hello")
    with _raises("unknown format 'foo'", "notes.xyz") as info:
        read_recording(f, format="foo")
    assert "NixIO" in info.value.hint or "suite2p" in info.value.hint
    with _raises("unknown format: no reader for the extension '.xyz'", "notes.xyz") as info:
        read_recording(f)
    assert "--format" in info.value.hint and ".vhdr" in info.value.hint
    with _raises("unknown neo IO 'FooIO'", "notes.xyz"):
        read_recording(f, format="FooIO")
    # neo's EDFIO needs pyedflib (not installed here): say so, and how else to read EDF
    if importlib.util.find_spec("pyedflib") is None:
        edf = write_edf(tmp_path / "x.edf", np.zeros((500, 1)) + 1.0, 250.0, ["a"])
        with _raises("needs a library that is not installed", "x.edf") as info:
            read_recording(edf, format="EDFIO")
        assert "--format mne" in info.value.hint
    with _raises("file not found", "missing.nix"):
        read_recording(tmp_path / "missing.nix")


def test_no_usable_signal(tmp_path):
    np.save(tmp_path / "empty.npy", np.zeros((0, 3)))
    with _raises("no usable signal", "empty.npy"):
        read_recording(tmp_path / "empty.npy", sampling_rate=100.0)
    empty = write_neo_nix(tmp_path / "empty.nix", None, 100.0, [], [], t_stop=1.0)
    with _raises("no usable signal", "empty.nix"):
        read_recording(empty)
    np.save(tmp_path / "x.npy", np.ones((100, 2)))
    with _raises("no sampling rate", "x.npy") as info:
        read_recording(tmp_path / "x.npy")
    assert "--sampling-rate" in info.value.hint


def test_mixed_sampling_rates(tmp_path):
    import neo
    import quantities as pq
    from neo.io import NixIO

    seg = neo.Segment()
    seg.analogsignals += [
        neo.AnalogSignal(np.zeros((100, 2)), units="mV", sampling_rate=1000 * pq.Hz, name="lfp"),
        neo.AnalogSignal(np.zeros((300, 1)), units="mV", sampling_rate=3000 * pq.Hz, name="emg"),
    ]
    block = neo.Block()
    block.segments.append(seg)
    with NixIO(str(tmp_path / "mixed.nix"), mode="ow") as io:
        io.write_block(block)
    with _raises("mixed sampling rates", "mixed.nix") as info:
        read_recording(tmp_path / "mixed.nix")
    assert "1000 Hz" in str(info.value) and "3000 Hz" in str(info.value)
    one = read_recording(tmp_path / "mixed.nix", stream="emg")
    assert one.attrs["sampling_rate"] == 3000.0 and one.signal.attrs["units"] == "uV"


def test_nan_short_gap_interpolated_long_gap_refused(tmp_path):
    x = np.sin(np.linspace(0, 20, 1000))[:, None].repeat(2, axis=1)
    short = x.copy()
    short[500:503, 1] = np.nan
    np.save(tmp_path / "short.npy", short)
    with pytest.warns(UserWarning, match="3 non-finite samples"):
        ds = read_recording(tmp_path / "short.npy", sampling_rate=100.0)
    np.testing.assert_allclose(ds.signal.values[500:503, 1], x[500:503, 1], atol=1e-3)
    long = x.copy()
    long[200:260, 0] = np.inf
    np.save(tmp_path / "long.npy", long)
    with _raises("channel 'ch0' has 60 non-finite", "long.npy") as info:
        read_recording(tmp_path / "long.npy", sampling_rate=100.0)
    assert "2.000 s" in str(info.value)


def _continuous(x, fs=100.0, name="rec.npy", **kw):
    return make_recording(
        modality="continuous", source_file=name, reader="test", sampling_rate=fs, signal=x, **kw
    )


def test_constant_channels_dropped_or_refused():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 3))
    x[:, 1] = 5.0
    pre = preprocess(_continuous(x), {"l_freq": None, "line_freq": None})
    assert list(pre.channel.values) == ["ch0", "ch2"]
    assert "constant" in pre.attrs["dropped_channels"] and "ch1" in pre.attrs["dropped_channels"]
    with _raises("no usable channel left", "flat.npy"):
        preprocess(_continuous(np.ones((3000, 2)), name="flat.npy"))


def test_too_short_says_how_long_it_must_be():
    x = np.random.default_rng(0).normal(size=(150, 2))
    with _raises(r"recording too short: it has 150 samples \(1\.5 s", "short.npy") as info:
        preprocess(
            _continuous(x, name="short.npy"),
            {"min_train_samples": 200, "l_freq": None, "line_freq": None},
        )
    assert "needs at least 251 samples (2.51 s" in str(info.value)
    with pytest.raises(InputError, match=r"needs at least 500 samples \(5 s at dt = 0\.01 s\)"):
        check_length(100, 500, dt=0.01, what="windows of 500 steps", file="a.nc")
    check_length(500, 500)  # long enough: no error


def test_all_units_silent():
    from neurodsr.io import SpikeUnit

    rec = make_recording(
        modality="spikes",
        source_file="quiet.nix",
        reader="test",
        sampling_rate=0.0,
        spikes=[SpikeUnit("u0", np.array([1.0]), 0.0, 100.0), SpikeUnit("u1", [], 0.0, 100.0)],
    )
    with _raises("all 2 units are silent", "quiet.nix"):
        preprocess(rec)


def test_cli_bad_input_leaves_no_output(tmp_path, capsys):
    np.save(tmp_path / "long.npy", np.full((100, 2), np.nan))
    out = tmp_path / "rec.nc"
    code = main(["ingest", str(tmp_path / "long.npy"), "--sampling-rate", "10", "--out", str(out)])
    assert code == 2
    assert not out.exists()
    err = capsys.readouterr().err
    assert "long.npy" in err and "non-finite" in err

    # preprocess: an existing output stays untouched when the input is bad
    rec = _continuous(np.ones((500, 2)), name="flat.npy")
    write_dataset(rec, tmp_path / "flat.nc")
    target = tmp_path / "pre.nc"
    xr.Dataset(attrs={"marker": "old"}).to_netcdf(target, engine="h5netcdf")
    code = main(["preprocess", str(tmp_path / "flat.nc"), "--out", str(target)])
    assert code == 2
    assert xr.open_dataset(target, engine="h5netcdf").attrs["marker"] == "old"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert "no usable channel" in capsys.readouterr().err


def test_bad_config_is_named(tmp_path):
    cfg = tmp_path / "pre.yaml"
    cfg.write_text("preprocess:\n  dtt: 0.01\n")
    rec = _continuous(np.random.default_rng(0).normal(size=(500, 2)))
    write_dataset(rec, tmp_path / "rec.nc")
    code = main(
        [
            "preprocess",
            str(tmp_path / "rec.nc"),
            "--config",
            str(cfg),
            "--out",
            str(tmp_path / "p.nc"),
        ]
    )
    assert code == 2
    with pytest.raises(InputError, match=r"unknown preprocessing option\(s\) \['dtt'\]"):
        preprocess(rec, {"dtt": 0.01})
    with pytest.raises(InputError, match="train_fraction must be in"):
        preprocess(rec, {"train_fraction": 1.5})
