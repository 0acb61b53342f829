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
    "write_neo_nix",
    "write_neo_nwb",
    "write_nwb_ophys",
    "write_openephys_binary",
    "write_phy",
    "write_suite2p",
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
) -> Path:
    """Write ``data_uv`` (time, channels), in microvolts, as BrainVision .vhdr/.vmrk/.eeg.

    With ``mne.export.export_raw`` (pybv) when installed; else by hand (INT_16, ``resolution``
    uV per bit).
    """
    vhdr = Path(vhdr)
    if not by_hand and _has("pybv"):
        _export(vhdr, data_uv, sfreq, ch_names, "BrainVision")
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


def _export(path: Path, data_uv: np.ndarray, sfreq: float, ch_names: Sequence[str], fmt: str):
    import mne

    info = mne.create_info(list(ch_names), float(sfreq), "eeg")
    info.set_meas_date(dt.datetime(2024, 1, 1, 12, tzinfo=dt.UTC))
    raw = mne.io.RawArray(np.asarray(data_uv, dtype=np.float64).T * 1e-6, info, verbose="error")
    mne.export.export_raw(path, raw, fmt=fmt, overwrite=True, verbose="error")


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
) -> Path:
    """Write an OpenEphys binary recording (one continuous stream) under ``root``.

    ``data`` is an int16 array (time, channels) or a function ``(start, stop) -> int16 array``
    (then ``n_samples`` is required), so that large files are written chunk by chunk through a
    ``np.memmap`` without holding the whole recording in memory. Returns the recording folder.
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
                    for name in ch_names
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
) -> Path:
    """Write a Phy/Kilosort output folder: spike_times.npy (samples), spike_clusters.npy,
    spike_templates.npy, params.py and cluster_group.tsv."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    order = np.argsort(spike_samples, kind="stable")
    np.save(folder / "spike_times.npy", np.asarray(spike_samples, dtype=np.uint64)[order, None])
    np.save(folder / "spike_clusters.npy", np.asarray(clusters, dtype=np.int32)[order])
    np.save(folder / "spike_templates.npy", np.asarray(clusters, dtype=np.int32)[order, None])
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
) -> Path:
    """Write a suite2p plane folder: F.npy, Fneu.npy (ROIs, frames), iscell.npy, ops.npy."""
    plane = Path(plane)
    plane.mkdir(parents=True, exist_ok=True)
    np.save(plane / "F.npy", np.asarray(F, dtype=np.float32))
    np.save(plane / "Fneu.npy", np.asarray(Fneu, dtype=np.float32))
    prob = np.where(iscell, 0.9, 0.1)
    np.save(plane / "iscell.npy", np.stack([np.asarray(iscell, float), prob], axis=1))
    np.save(plane / "ops.npy", np.array({"fs": float(fs), "nframes": F.shape[1]}, dtype=object))
    return plane


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
    path: str | Path, data: np.ndarray, rate: float, name: str = "Fluorescence"
) -> Path:
    """Write an NWB file with a RoiResponseSeries (frames, ROIs) in processing/ophys with pynwb."""
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.ophys import Fluorescence, ImageSegmentation, OpticalChannel, RoiResponseSeries

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
    region = ps.create_roi_table_region(region=list(range(n_roi)), description="all rois")
    rrs = RoiResponseSeries(
        name="RoiResponseSeries",
        data=np.asarray(data, dtype=np.float32),
        rois=region,
        unit="lumens",
        rate=float(rate),
        starting_time=0.0,
    )
    ophys.add(Fluorescence(name=name, roi_response_series=rrs))
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
