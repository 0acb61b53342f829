"""Writers of small test recordings in the formats neurodsr reads.

Where the format's own library can write (neo's NixIO / NWBIO, MNE's ``Raw.save`` for FIF,
``mne.export.export_raw`` for EDF (edfio) and BrainVision (pybv), pynwb for NWB ophys, h5py for
CaImAn, numpy for suite2p and Phy) these helpers use it. When ``edfio`` / ``pybv`` are not
installed, EDF and BrainVision are written here by hand to their published layouts (pass
``by_hand=True`` to force that path):

- EDF: https://www.edfplus.info/specs/edf.html (256-byte ASCII header, 256 bytes per signal,
  then data records of little-endian int16, signal after signal).
- BrainVision: a ``.vhdr`` INI-style text header, a ``.vmrk`` marker file and a ``.eeg``
  multiplexed little-endian INT_16 binary (Brain Products "Core Data Format" 1.0).
- OpenEphys binary (GUI >= 0.6): ``experiment1/recording1/structure.oebin`` (JSON) +
  ``continuous/<stream>/continuous.dat`` (interleaved int16) + ``sample_numbers.npy``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

__all__ = [
    "write_brainvision",
    "write_caiman",
    "write_edf",
    "write_eeglab",
    "write_fif_elekta",
    "write_neo_nix",
    "write_neo_nwb",
    "write_nwb_ecephys",
    "write_nwb_ophys",
    "write_openephys_binary",
    "write_phy",
    "write_suite2p",
    "write_suite2p_planes",
]


def _field(value: object, width: int) -> bytes:
    text = str(value)
    if len(text) > width:
        text = text[:width]
    return text.ljust(width).encode("ascii")


def write_edf(
    path: str | Path,
    data_uv: np.ndarray,
    sfreq: float,
    ch_names: Sequence[str],
    *,
    record_seconds: float = 1.0,
    phys_range: float | None = None,
    by_hand: bool = False,
) -> Path:
    """Write ``data_uv`` (time, channels), in microvolts, as an EDF file (int16 records).

    With ``mne.export.export_raw`` (edfio) when installed; else by hand, the signal cut to a
    whole number of data records of ``record_seconds``.
    """
    path = Path(path)
    if not by_hand and _has("edfio"):
        _export(path, data_uv, sfreq, ch_names, "EDF")
        return path
    data = np.asarray(data_uv, dtype=np.float64)
    n_ch = data.shape[1]
    per_rec = round(sfreq * record_seconds)
    n_rec = data.shape[0] // per_rec
    data = data[: n_rec * per_rec]
    pmax = float(phys_range if phys_range is not None else np.abs(data).max() * 1.01 + 1e-6)
    pmin, dmin, dmax = -pmax, -32768, 32767
    digital = np.round((data - pmin) * (dmax - dmin) / (pmax - pmin) + dmin)
    digital = np.clip(digital, dmin, dmax).astype("<i2")
    header = b"".join(
        [
            _field("0", 8),
            _field("X X X X", 80),
            _field("Startdate 01-JAN-2024 X X X", 80),
            _field("01.01.24", 8),
            _field("12.00.00", 8),
            _field(256 + 256 * n_ch, 8),
            _field("", 44),
            _field(n_rec, 8),
            _field(record_seconds, 8),
            _field(n_ch, 4),
        ]
    )
    fields = [
        [_field(n, 16) for n in ch_names],
        [_field("AgAgCl electrode", 80)] * n_ch,
        [_field("uV", 8)] * n_ch,
        [_field(f"{pmin:.3f}"[:8], 8)] * n_ch,
        [_field(f"{pmax:.3f}"[:8], 8)] * n_ch,
        [_field(dmin, 8)] * n_ch,
        [_field(dmax, 8)] * n_ch,
        [_field("", 80)] * n_ch,
        [_field(per_rec, 8)] * n_ch,
        [_field("", 32)] * n_ch,
    ]
    header += b"".join(b"".join(f) for f in fields)
    # records: for each record, each signal's per_rec samples in turn
    recs = digital.reshape(n_rec, per_rec, n_ch).transpose(0, 2, 1)
    path.write_bytes(header + recs.tobytes())
    return path


def write_brainvision(
    vhdr: str | Path,
    data_uv: np.ndarray,
    sfreq: float,
    ch_names: Sequence[str],
    *,
    resolution: float = 0.1,
    by_hand: bool = False,
    ch_types: Sequence[str] | str = "eeg",
    markers_s: Sequence[float] = (),
) -> Path:
    """Write ``data_uv`` (time, channels), in microvolts, as BrainVision .vhdr/.vmrk/.eeg.

    With ``mne.export.export_raw`` (pybv) when installed, with MNE channel types ``ch_types``
    (pybv writes misc channels with unit "n/a", as BrainVision Recorder does for AUX inputs)
    and stimulus markers at ``markers_s`` (s); else by hand (INT_16, ``resolution`` uV per
    bit, EEG only).
    """
    vhdr = Path(vhdr)
    if not by_hand and _has("pybv"):
        _export(vhdr, data_uv, sfreq, ch_names, "BrainVision", ch_types, markers_s)
        return vhdr
    eeg, vmrk = vhdr.with_suffix(".eeg"), vhdr.with_suffix(".vmrk")
    raw = np.clip(np.round(np.asarray(data_uv) / resolution), -32768, 32767).astype("<i2")
    eeg.write_bytes(np.ascontiguousarray(raw).tobytes())  # multiplexed: sample after sample
    chans = "\n".join(f"Ch{i + 1}={n},,{resolution},µV" for i, n in enumerate(ch_names))
    vhdr.write_text(
        "Brain Vision Data Exchange Header File Version 1.0\n"
        "; Data written by the neurodsr test suite\n\n"
        "[Common Infos]\nCodepage=UTF-8\n"
        f"DataFile={eeg.name}\nMarkerFile={vmrk.name}\n"
        "DataFormat=BINARY\nDataOrientation=MULTIPLEXED\n"
        f"NumberOfChannels={len(ch_names)}\n"
        f"; Sampling interval in microseconds\nSamplingInterval={1e6 / sfreq:g}\n\n"
        "[Binary Infos]\nBinaryFormat=INT_16\n\n"
        "[Channel Infos]\n; Ch<n>=<Name>,<Reference>,<Resolution>,<Unit>\n"
        f"{chans}\n",
        encoding="utf-8",
    )
    vmrk.write_text(
        "Brain Vision Data Exchange Marker File, Version 1.0\n\n"
        f"[Common Infos]\nCodepage=UTF-8\nDataFile={eeg.name}\n\n"
        "[Marker Infos]\n"
        "Mk1=New Segment,,1,1,0,20240101120000000000\n"
        "Mk2=Stimulus,S  1,100,1,0\n",
        encoding="utf-8",
    )
    return vhdr


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _export(
    path: Path,
    data_uv: np.ndarray,
    sfreq: float,
    ch_names: Sequence[str],
    fmt: str,
    ch_types: Sequence[str] | str = "eeg",
    markers_s: Sequence[float] = (),
    **kwargs: object,
):
    import mne

    info = mne.create_info(list(ch_names), float(sfreq), ch_types)
    info.set_meas_date(dt.datetime(2024, 1, 1, 12, tzinfo=dt.UTC))
    raw = mne.io.RawArray(np.asarray(data_uv, dtype=np.float64).T * 1e-6, info, verbose="error")
    if len(markers_s):
        raw.set_annotations(
            mne.Annotations(
                list(markers_s), [0.0] * len(markers_s), ["Stimulus/S  1"] * len(markers_s)
            )
        )
    mne.export.export_raw(path, raw, fmt=fmt, overwrite=True, verbose="error", **kwargs)


def write_openephys_binary(
    root: str | Path,
    data: np.ndarray | Callable[[int, int], np.ndarray],
    sfreq: float,
    ch_names: Sequence[str],
    *,
    bit_volts: float = 0.195,
    n_samples: int | None = None,
    first_sample: int = 0,
    chunk: int = 1_000_000,
    n_adc: int = 0,
) -> Path:
    """Write an OpenEphys binary recording (one continuous stream) under ``root``.

    ``data`` is an int16 array (time, channels) or a function ``(start, stop) -> int16 array``
    (then ``n_samples`` is required), so that large files are written chunk by chunk through a
    ``np.memmap`` without holding the whole recording in memory. Returns the recording folder.

    With ``n_adc`` > 0 the last ``n_adc`` columns of ``data`` are the acquisition board's ADC
    inputs, written as the GUI does: channels ``ADC1..`` in the same stream, ``units`` "V"
    and ``bit_volts`` 0.00015258789 (10 V / 2**16).
    """
    rec = Path(root) / "Record Node 101" / "experiment1" / "recording1"
    stream = "Acquisition_Board-100.Rhythm Data"
    cont = rec / "continuous" / stream
    cont.mkdir(parents=True, exist_ok=True)
    n_ch = len(ch_names)
    if callable(data):
        if n_samples is None:
            raise ValueError("n_samples is required when data is a function")
        get = data
    else:
        arr = np.asarray(data, dtype=np.int16)
        n_samples = arr.shape[0]

        def get(a: int, b: int) -> np.ndarray:
            return arr[a:b]

    mm = np.memmap(cont / "continuous.dat", dtype="<i2", mode="w+", shape=(n_samples, n_ch))
    for a in range(0, n_samples, chunk):
        b = min(a + chunk, n_samples)
        mm[a:b] = get(a, b)
    mm.flush()
    del mm
    np.save(cont / "sample_numbers.npy", np.arange(first_sample, first_sample + n_samples))
    np.save(cont / "timestamps.npy", np.arange(first_sample, first_sample + n_samples) / sfreq)
    oebin = {
        "GUI version": "0.6.7",
        "continuous": [
            {
                "folder_name": stream + "/",
                "sample_rate": float(sfreq),
                "source_processor_name": "Acquisition Board",
                "source_processor_id": 100,
                "stream_name": "Rhythm Data",
                "recorded_processor": "Acquisition Board",
                "recorded_processor_id": 100,
                "num_channels": n_ch,
                "channels": [
                    {
                        "channel_name": name,
                        "description": "headstage data channel",
                        "identifier": "genericdata.continuous",
                        "history": "Acquisition Board",
                        "bit_volts": bit_volts,
                        "units": "uV",
                    }
                    for name in ch_names[: n_ch - n_adc]
                ]
                + [
                    {
                        "channel_name": f"ADC{i + 1}",
                        "description": "ADC data channel",
                        "identifier": "genericdata.continuous",
                        "history": "Acquisition Board",
                        "bit_volts": 0.00015258789,
                        "units": "V",
                    }
                    for i in range(n_adc)
                ],
            }
        ],
        "events": [],
        "spikes": [],
    }
    (rec / "structure.oebin").write_text(json.dumps(oebin, indent=2))
    return rec


def write_phy(
    folder: str | Path,
    spike_samples: np.ndarray,
    clusters: np.ndarray,
    sfreq: float,
    groups: dict[int, str] | None = None,
    column: bool = True,
) -> Path:
    """Write a Phy/Kilosort output folder: spike_times.npy (samples), spike_clusters.npy,
    spike_templates.npy, amplitudes.npy, params.py and cluster_group.tsv.

    ``column=True``: every per-spike array as a (n, 1) column, as Kilosort 1-3 (MATLAB
    writeNPY) write them; ``False``: flat (n,) arrays (Kilosort 4, phy's own saves).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    order = np.argsort(spike_samples, kind="stable")

    def shape(a: np.ndarray) -> np.ndarray:
        return a[:, None] if column else a

    amps = np.linspace(10.0, 20.0, len(order))
    np.save(folder / "spike_times.npy", shape(np.asarray(spike_samples, dtype=np.uint64)[order]))
    np.save(folder / "spike_clusters.npy", shape(np.asarray(clusters, dtype=np.int32)[order]))
    np.save(folder / "spike_templates.npy", shape(np.asarray(clusters, dtype=np.uint32)[order]))
    np.save(folder / "amplitudes.npy", shape(amps))
    (folder / "params.py").write_text(
        "dat_path = 'recording.dat'\nn_channels_dat = 4\ndtype = 'int16'\noffset = 0\n"
        f"sample_rate = {float(sfreq)}\nhp_filtered = True\n"
    )
    ids = np.unique(clusters)
    groups = groups or {int(c): "good" for c in ids}
    lines = ["cluster_id\tgroup"] + [f"{int(c)}\t{groups.get(int(c), 'unsorted')}" for c in ids]
    (folder / "cluster_group.tsv").write_text("\n".join(lines) + "\n")
    return folder


def write_suite2p(
    plane: str | Path,
    F: np.ndarray,
    Fneu: np.ndarray,
    iscell: np.ndarray,
    fs: float,
    **ops_extra: object,
) -> Path:
    """Write a suite2p plane folder: F.npy, Fneu.npy (ROIs, frames), iscell.npy, spks.npy,
    stat.npy and ops.npy, the latter a pickled dict with the kinds of entries suite2p writes
    (numbers, strings, lists, nested dicts, numpy arrays and scalars), plus ``ops_extra``."""
    plane = Path(plane)
    plane.mkdir(parents=True, exist_ok=True)
    F = np.asarray(F, dtype=np.float32)
    np.save(plane / "F.npy", F)
    np.save(plane / "Fneu.npy", np.asarray(Fneu, dtype=np.float32))
    np.save(plane / "spks.npy", np.maximum(np.diff(F, axis=1, prepend=F[:, :1]), 0))
    prob = np.where(iscell, 0.9, 0.1)
    np.save(plane / "iscell.npy", np.stack([np.asarray(iscell, float), prob], axis=1))
    stat = [
        {"ypix": np.arange(3) + i, "xpix": np.arange(3), "lam": np.ones(3), "med": [i, 1]}
        for i in range(F.shape[0])
    ]
    np.save(plane / "stat.npy", np.array(stat, dtype=object), allow_pickle=True)
    ops = {
        "fs": float(fs),
        "nframes": F.shape[1],
        "nplanes": 1,
        "nchannels": 1,
        "tau": 1.0,
        "Ly": 32,
        "Lx": 32,
        "filelist": ["/data/mouse1/file_00001.tif"],
        "save_path": str(plane),
        "meanImg": np.zeros((32, 32), dtype=np.float32),
        "yrange": np.array([0, 32]),
        "xoff": np.zeros(F.shape[1], dtype=np.int32),
        "do_registration": True,
        "reg_file": str(plane / "data.bin"),
        "badframes": np.zeros(F.shape[1], dtype=bool),
        "date_proc": "2024-01-01 12:00:00",
        "corrXY": np.float64(0.5),
        "refImg": np.zeros((32, 32), dtype=np.int16),
        "timing": {"registration": 12.5, "detection": 30.1},
        **ops_extra,
    }
    np.save(plane / "ops.npy", np.array(ops, dtype=object), allow_pickle=True)
    return plane


def write_suite2p_planes(
    root: str | Path,
    planes: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
    fs: float,
    combined: bool = True,
) -> Path:
    """Write a multi-plane suite2p output ``root/suite2p/plane0..`` (each from
    ``(F, Fneu, iscell)``) and, as suite2p does after the planes, ``combined/`` with every
    plane's ROIs side by side. ``fs`` is the volume rate (each plane's frame rate). Returns
    the ``suite2p`` folder."""
    out = Path(root) / "suite2p"
    n = len(planes)
    for k, (F, Fneu, iscell) in enumerate(planes):
        write_suite2p(out / f"plane{k}", F, Fneu, iscell, fs, nplanes=n, iplane=k)
    if combined:
        write_suite2p(
            out / "combined",
            np.concatenate([p[0] for p in planes]),
            np.concatenate([p[1] for p in planes]),
            np.concatenate([p[2] for p in planes]),
            fs,
            nplanes=n,
        )
    return out


def write_caiman(
    path: str | Path, C: np.ndarray, fr: float, F_dff: np.ndarray | None = None
) -> Path:
    """Write a CaImAn-style HDF5 result: estimates/C (and F_dff), params/data/fr."""
    import h5py

    path = Path(path)
    with h5py.File(path, "w") as f:
        f["estimates/C"] = np.asarray(C, dtype=np.float64)
        if F_dff is not None:
            f["estimates/F_dff"] = np.asarray(F_dff, dtype=np.float64)
        f["params/data/fr"] = float(fr)
        f["params/data/fnames"] = np.array([b"movie.tif"])
    return path


def _neo_block(
    sig: np.ndarray | None,
    sfreq: float,
    ch_names: Sequence[str],
    spikes: Sequence[np.ndarray],
    t_start: float,
    t_stop: float,
    n_segments: int = 1,
    **annotations: object,
):
    import neo
    import quantities as pq

    block = neo.Block(name="block0", **annotations)
    for k in range(n_segments):
        seg = neo.Segment(name=f"seg{k}")
        block.segments.append(seg)
        if sig is not None:
            seg.analogsignals.append(
                neo.AnalogSignal(
                    np.asarray(sig, dtype=np.float32) * (k + 1),
                    units="uV",
                    sampling_rate=sfreq * pq.Hz,
                    t_start=t_start * pq.s,
                    name="lfp",
                    array_annotations={"channel_names": np.asarray(ch_names)},
                )
            )
        for i, times in enumerate(spikes):
            seg.spiketrains.append(
                neo.SpikeTrain(
                    np.sort(times) * pq.s,
                    t_start=t_start * pq.s,
                    t_stop=t_stop * pq.s,
                    name=f"unit{i}",
                )
            )
    return block


def write_neo_nix(
    path: str | Path,
    sig: np.ndarray | None,
    sfreq: float,
    ch_names: Sequence[str],
    spikes: Sequence[np.ndarray],
    *,
    t_start: float = 0.0,
    t_stop: float | None = None,
    n_segments: int = 1,
) -> Path:
    """Write a neo Block (AnalogSignal in uV + SpikeTrains) with neo's NixIO."""
    from neo.io import NixIO

    if t_stop is None:
        t_stop = t_start + (len(sig) / sfreq if sig is not None else 10.0)
    block = _neo_block(sig, sfreq, ch_names, spikes, t_start, t_stop, n_segments)
    with NixIO(str(path), mode="ow") as io:
        io.write_block(block)
    return Path(path)


def write_neo_nwb(
    path: str | Path,
    sig: np.ndarray | None,
    sfreq: float,
    ch_names: Sequence[str],
    spikes: Sequence[np.ndarray],
    *,
    t_start: float = 0.0,
    t_stop: float | None = None,
) -> Path:
    """Write a neo Block with neo's NWBIO writer (works with pynwb 4 given session_start_time)."""
    from neo.io import NWBIO

    if t_stop is None:
        t_stop = t_start + (len(sig) / sfreq if sig is not None else 10.0)
    block = _neo_block(
        sig,
        sfreq,
        ch_names,
        spikes,
        t_start,
        t_stop,
        session_start_time=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
        session_description="neurodsr test",
        identifier="neurodsr-test",
    )
    NWBIO(str(path), mode="w").write_all_blocks([block])
    return Path(path)


def write_nwb_ophys(
    path: str | Path,
    data: np.ndarray,
    rate: float,
    name: str = "Fluorescence",
    series: dict[str, np.ndarray] | None = None,
    dff: np.ndarray | None = None,
) -> Path:
    """Write an NWB file with RoiResponseSeries (frames, ROIs) in processing/ophys with pynwb.

    ``series`` (name -> data) puts several RoiResponseSeries in the one Fluorescence
    container, in that order (as suite2p's NWB export: "Deconvolved", "Fluorescence",
    "Neuropil"); else ``data`` is its single series "RoiResponseSeries". ``dff`` adds a
    DfOverF container.
    """
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.ophys import (
        DfOverF,
        Fluorescence,
        ImageSegmentation,
        OpticalChannel,
        RoiResponseSeries,
    )

    nwb = NWBFile(
        session_description="neurodsr ophys test",
        identifier="ophys-test",
        session_start_time=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
    )
    device = nwb.create_device(name="Microscope")
    channel = OpticalChannel(name="green", description="GCaMP", emission_lambda=510.0)
    plane = nwb.create_imaging_plane(
        name="plane0",
        optical_channel=channel,
        description="plane",
        device=device,
        excitation_lambda=920.0,
        indicator="GCaMP6f",
        location="V1",
        imaging_rate=float(rate),
    )
    ophys = nwb.create_processing_module(name="ophys", description="optical physiology")
    seg = ImageSegmentation()
    ophys.add(seg)
    ps = seg.create_plane_segmentation(
        name="PlaneSegmentation", description="rois", imaging_plane=plane
    )
    n_roi = data.shape[1]
    for i in range(n_roi):
        mask = np.zeros((8, 8))
        mask[i % 8, (i // 8) % 8] = 1
        ps.add_roi(image_mask=mask)
    series = series or {"RoiResponseSeries": data}

    def rrs(sname: str, values: np.ndarray) -> RoiResponseSeries:
        region = ps.create_roi_table_region(region=list(range(n_roi)), description="all rois")
        return RoiResponseSeries(
            name=sname,
            data=np.asarray(values, dtype=np.float32),
            rois=region,
            unit="lumens",
            rate=float(rate),
            starting_time=0.0,
        )

    ophys.add(Fluorescence(name=name, roi_response_series=[rrs(k, v) for k, v in series.items()]))
    if dff is not None:
        ophys.add(DfOverF(name="DfOverF", roi_response_series=[rrs("RoiResponseSeries", dff)]))
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return Path(path)


def write_eeglab(path: str | Path, data_uv: np.ndarray, sfreq: float, ch_names: Sequence[str]):
    """Write an EEGLAB .set (MATLAB 5 file, data inside) with scipy.io.savemat.

    ``mne.export`` would need ``eeglabio``, which is not installed; the EEG struct below holds
    the fields MNE's ``read_raw_eeglab`` reads (EEGLAB's own layout). ``data_uv`` is
    (time, channels) in uV.
    """
    import scipy.io

    data = np.asarray(data_uv, dtype=np.float64).T
    n_ch, n = data.shape
    chanlocs = np.array([(name,) for name in ch_names], dtype=[("labels", object)])
    eeg = {
        "setname": "neurodsr test",
        "nbchan": float(n_ch),
        "pnts": float(n),
        "trials": 1.0,
        "srate": float(sfreq),
        "xmin": 0.0,
        "xmax": (n - 1) / sfreq,
        "data": data,
        "chanlocs": chanlocs,
        "event": np.array([]),
        "epoch": np.array([]),
        "icawinv": np.array([]),
        "icasphere": np.array([]),
        "icaweights": np.array([]),
        "ref": "common",
        "times": np.arange(n) / sfreq * 1000.0,
    }
    scipy.io.savemat(str(path), {"EEG": eeg}, appendmat=False)
    return Path(path)


def write_caiman_full(path: str | Path, C: np.ndarray, fr: float) -> Path:
    """Write a CaImAn HDF5 result with the estimates ``cnm.save`` writes after a fit: C, S
    (deconvolved activity), YrA (residuals), F_dff, idx_components, and params/data/fr."""
    import h5py

    path = Path(path)
    C = np.asarray(C, dtype=np.float64)
    with h5py.File(path, "w") as f:
        f["estimates/C"] = C
        f["estimates/S"] = np.maximum(np.diff(C, axis=1, prepend=C[:, :1]), 0)
        f["estimates/YrA"] = 0.01 * np.ones_like(C)
        f["estimates/F_dff"] = (C - C.mean(axis=1, keepdims=True)) / (
            C.mean(axis=1, keepdims=True) + 1
        )
        f["estimates/idx_components"] = np.arange(0, C.shape[0], 2)
        f["params/data/fr"] = float(fr)
        f["params/data/fnames"] = np.array([b"movie.tif"])
    return path


def write_nwb_ecephys(
    path: str | Path,
    data_int16: np.ndarray,
    rate: float,
    spike_times: Sequence[np.ndarray],
    *,
    conversion: float = 0.195e-6,
    lfp: np.ndarray | None = None,
    lfp_rate: float | None = None,
) -> Path:
    """Write an NWB ecephys file with pynwb, shaped as acquisition systems' converters write it:
    an electrodes table (group, location, label), ``acquisition/ElectricalSeries`` of int16
    samples with ``conversion`` (V per bit, OpenEphys/Intan 0.195 uV), optionally
    ``processing/ecephys/LFP/ElectricalSeries`` (float32 V), and a Units table of sorted
    units with spike times (s) and obs_intervals."""
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.ecephys import LFP, ElectricalSeries

    nwb = NWBFile(
        session_description="neurodsr ecephys test",
        identifier="ecephys-test",
        session_start_time=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
    )
    device = nwb.create_device(name="Probe", description="32-channel silicon probe")
    group = nwb.create_electrode_group(
        name="shank0", description="shank 0", location="CA1", device=device
    )
    nwb.add_electrode_column(name="label", description="channel label")
    n_ch = data_int16.shape[1]
    for i in range(n_ch):
        nwb.add_electrode(group=group, location="CA1", label=f"CH{i + 1}")
    region = nwb.create_electrode_table_region(list(range(n_ch)), "all electrodes")
    nwb.add_acquisition(
        ElectricalSeries(
            name="ElectricalSeries",
            data=np.asarray(data_int16, dtype=np.int16),
            electrodes=region,
            rate=float(rate),
            starting_time=0.0,
            conversion=conversion,
            filtering="0.1-7500 Hz",
        )
    )
    if lfp is not None:
        module = nwb.create_processing_module(name="ecephys", description="LFP")
        region2 = nwb.create_electrode_table_region(list(range(n_ch)), "all electrodes")
        es = ElectricalSeries(
            name="ElectricalSeries",
            data=np.asarray(lfp, dtype=np.float32),
            electrodes=region2,
            rate=float(lfp_rate),
            starting_time=0.0,
        )
        module.add(LFP(electrical_series=es))
    t_stop = data_int16.shape[0] / rate
    for times in spike_times:
        nwb.add_unit(spike_times=np.sort(times), obs_intervals=[[0.0, t_stop]])
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return Path(path)


def write_fif_elekta(
    path: str | Path, seconds: float = 4.0, sfreq: float = 250.0, seed: int = 0
) -> tuple[Path, np.ndarray]:
    """Write an Elekta/MEGIN Vectorview-like raw FIF: the 306 MEG channels of MNE's
    "Vectorview-all" layout (names "MEG 0113" ...; ending in 1: magnetometer, 2/3: planar
    gradiometer), an EOG and a stim channel, saved with ``Raw.save``. Returns the path and
    the data (channels, time) in T and T/m."""
    import mne

    layout = mne.channels.read_layout("Vectorview-all")
    names = [n.replace("MEG", "MEG ") if " " not in n else n for n in layout.names]
    types = ["mag" if n.endswith("1") else "grad" for n in names]
    names += ["EOG 061", "STI 014"]
    types += ["eog", "stim"]
    info = mne.create_info(names, sfreq, types)
    rng = np.random.default_rng(seed)
    n = int(seconds * sfreq)
    t = np.arange(n) / sfreq
    data = np.zeros((len(names), n))
    for i, kind in enumerate(types):
        scale = {"mag": 1e-12, "grad": 1e-11, "eog": 1e-4, "stim": 0.0}[kind]
        data[i] = scale * (np.sin(2 * np.pi * 10 * t + i) + 0.3 * rng.normal(size=n))
    raw = mne.io.RawArray(data, info, verbose="error")
    raw.save(path, overwrite=True, verbose="error")
    return Path(path), data


def make_maxshield(src: str | Path, dst: str | Path) -> Path:
    """Copy a raw FIF, turning its raw data block into a MaxShield one, as Elekta acquisition
    writes with internal active shielding on: every FIFF_BLOCK_START / FIFF_BLOCK_END tag
    (kinds 104 / 105) whose block is FIFFB_RAW_DATA (102) gets FIFFB_IAS_RAW_DATA (119).

    FIF tags: big-endian int32 kind, type, size, next, then ``size`` bytes of data; MNE writes
    them in sequence (next = 0)."""
    buf = bytearray(Path(src).read_bytes())
    pos = 0
    while pos + 16 <= len(buf):
        kind, _type, size, nxt = np.frombuffer(bytes(buf[pos : pos + 16]), ">i4")
        if kind in (104, 105) and size == 4:
            (block,) = np.frombuffer(bytes(buf[pos + 16 : pos + 20]), ">i4")
            if block == 102:
                buf[pos + 16 : pos + 20] = np.array([119], ">i4").tobytes()
        pos = int(nxt) if nxt > 0 else pos + 16 + int(size)
    Path(dst).write_bytes(bytes(buf))
    return Path(dst)
