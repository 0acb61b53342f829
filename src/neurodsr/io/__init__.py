"""Readers: lab recordings (neo, MNE, calcium formats, plain arrays) -> Recording datasets.

>>> from neurodsr.io import read_recording
>>> rec = read_recording("session1/structure.oebin", decimate_to=1000)   # doctest: +SKIP

Every reader returns an :class:`xarray.Dataset` following the ``recording.nc`` contract
(:mod:`neurodsr.io.recording`).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import xarray as xr

from neurodsr.errors import InputError
from neurodsr.io.recording import (
    DEFAULT_MAX_GAP_S,
    MODALITIES,
    SpikeUnit,
    fill_short_gaps,
    make_recording,
    validate_recording,
)

__all__ = [
    "FORMATS",
    "MODALITIES",
    "SpikeUnit",
    "detect_format",
    "fill_short_gaps",
    "make_recording",
    "read_recording",
    "validate_recording",
]

#: Format names ``read_recording`` accepts besides neo IO class names (``"NixIO"``, ...).
FORMATS: dict[str, str] = {
    "auto": "detect from the extension / folder content",
    "neo": "neo's own format detection (neo.io.list_candidate_ios)",
    "mne": "mne.io.read_raw (EDF/BDF, BrainVision, FIF, EEGLAB, ...)",
    "edf": "EDF/EDF+ through MNE",
    "bdf": "BDF through MNE",
    "brainvision": "BrainVision .vhdr through MNE",
    "fif": "FIF through MNE",
    "eeglab": "EEGLAB .set through MNE",
    "suite2p": "suite2p output (planeN/ and combined/ folders of F.npy, Fneu.npy, iscell.npy, "
    "ops.npy; --plane)",
    "caiman": "CaImAn HDF5 result (estimates/F_dff, C, S or YrA; --trace)",
    "nwb": "NWB ecephys through pynwb: ElectricalSeries (--series) and the Units table",
    "nwb-ophys": "NWB ophys RoiResponseSeries through pynwb (--series)",
    "npy": "(time, channel) .npy array",
    "csv": "(time, channel) table (.csv, .tsv, .txt)",
    "nc": "NetCDF4 (a Recording, or a (time, channel) variable)",
}

_MNE_NAMES = {"mne", "edf", "bdf", "brainvision", "fif", "eeglab"}
_ARRAY_NAMES = {"npy", "csv", "tsv", "txt", "nc", "netcdf", "array"}
_SELECTION_KEYS = {
    "neo": {
        "io",
        "block",
        "segment",
        "stream",
        "channels",
        "units",
        "chunk_values",
        "allow_truncated",
    },
    "mne": {"channels", "channel_type", "chunk_values", "allow_truncated", "allow_maxshield"},
    "suite2p": {"plane"},
    "caiman": {"trace"},
    "nwb": {"series", "channels", "units", "chunk_values"},
    "nwb-ophys": {"series"},
    "array": {"channels", "units", "start_time", "chunk_values"},
}
#: The CLI option of each selection key (for messages).
_CLI = {
    "io": "--format",
    "block": "--block",
    "segment": "--segment",
    "stream": "--stream",
    "channels": "--channels",
    "channel_type": "--channel-type",
    "units": "--units",
    "allow_truncated": "--allow-truncated",
    "allow_maxshield": "--allow-maxshield",
    "plane": "--plane",
    "trace": "--trace",
    "series": "--series",
}


def detect_format(path: str | os.PathLike[str], modality: str | None = None) -> str:
    """Guess the format name of ``path`` from its extension or folder content.

    Returns one of the names in :data:`FORMATS` (``"neo"`` for anything left to neo).
    """
    from neurodsr.io.calcium import suite2p_planes
    from neurodsr.io.mne_reader import MNE_EXTENSIONS, _suffix

    path = Path(path)
    if path.is_dir():
        if suite2p_planes(path):
            return "suite2p"
        if (path / "spike_times.npy").is_file() and (path / "params.py").is_file():
            return "PhyIO"
        if any(path.glob("structure.oebin")) or any(path.glob("**/structure.oebin")):
            return "OpenEphysBinaryIO"
        return "neo"
    suffix = _suffix(path)
    if path.name == "structure.oebin":
        return "OpenEphysBinaryIO"
    if suffix in (".npy", ".csv", ".tsv", ".txt"):
        return suffix[1:]
    if suffix == ".nc":
        return "nc"
    if suffix in MNE_EXTENSIONS and suffix not in (".eeg",):
        return "mne"
    if suffix in (".hdf5", ".h5"):
        if _h5_has(path, "estimates"):
            return "caiman"
        return "neo"
    if suffix == ".nwb":
        ecephys = _h5_has(path, "acquisition") or _h5_has(path, "units")
        ecephys = ecephys or _h5_has(path, "processing/ecephys")
        if modality == "calcium" or (_h5_has(path, "processing/ophys") and not ecephys):
            return "nwb-ophys"
        return "nwb"
    if suffix == ".nix":
        return "NixIO"
    return "neo"


def _h5_has(path: Path, key: str) -> bool:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            if key not in f:
                return False
            obj = f[key]
            return not isinstance(obj, h5py.Group) or len(obj) > 0
    except Exception:  # not HDF5 / unreadable: the reader will say so
        return False


def read_recording(
    path: str | os.PathLike[str],
    *,
    format: str = "auto",
    modality: str | None = None,
    sampling_rate: float | None = None,
    session: str | None = None,
    decimate_to: float | None = None,
    max_rate: float | None = None,
    max_gap_s: float = DEFAULT_MAX_GAP_S,
    **selection: Any,
) -> xr.Dataset:
    """Read a recording of any supported format into a Recording dataset.

    Parameters
    ----------
    path : path
        File or folder.
    format : str
        ``"auto"`` (by extension / folder content), a name in :data:`FORMATS`, or a neo IO
        class name (``"NixIO"``, ``"NWBIO"``, ``"OpenEphysBinaryIO"``, ``"PhyIO"``, ...).
    modality : {"spikes", "continuous", "calcium"}, optional
        What the data are; default from the format.
    sampling_rate : float, optional
        Hz; required for plain arrays, overrides the frame rate of calcium files.
    session : str, optional
        Session name stored in attrs (default: the file's stem).
    decimate_to, max_rate : float, optional
        Hz; resample sampled signals on the way in, chunk by chunk (see
        :mod:`neurodsr.io.chunked`). Without them, a read of more than 1 GB warns.
    max_gap_s : float
        s (default 0.1); runs of NaN/Inf up to this long inside a signal are interpolated,
        longer ones refused; NaN/Inf rows at the start or end are cut off (with a warning).
    **selection
        Format-specific selection: neo ``io, block, segment, stream, channels, units,
        allow_truncated``; MNE ``channels, channel_type, allow_truncated,
        allow_maxshield``; suite2p ``plane``; CaImAn ``trace``; NWB ``series, channels,
        units``; NWB ophys ``series``; arrays ``channels, units, start_time``.

    Returns
    -------
    xarray.Dataset
        Following the ``recording.nc`` contract.

    Raises
    ------
    InputError
        Unknown format, unreadable or truncated file, no usable signal, long NaN gaps, mixed
        sampling rates, a selection that does not match the file.
    """
    path = Path(path)
    if modality is not None and modality not in MODALITIES:
        raise InputError(
            f"unknown modality {modality!r}",
            file=path,
            session=session,
            hint=f"use one of {', '.join(MODALITIES)}",
        )
    if not path.exists():
        raise InputError("file not found", file=path, session=session, hint="check the path")
    fmt = detect_format(path, modality) if format in (None, "auto") else format
    key = fmt.lower()
    if sampling_rate is not None and key not in _ARRAY_NAMES | {"suite2p", "caiman"}:
        warnings.warn(
            f"sampling_rate={sampling_rate} ignored: {fmt} files carry their own rate",
            UserWarning,
            stacklevel=2,
        )
    rate_kw = {"decimate_to": decimate_to, "max_rate": max_rate, "max_gap_s": max_gap_s}
    gap_kw = {"max_gap_s": max_gap_s}
    if key in _MNE_NAMES:
        _check_selection("mne", selection, path, session)
        from neurodsr.io.mne_reader import read_mne

        return read_mne(path, modality=modality, session=session, **rate_kw, **selection)
    if key == "suite2p":
        _check_selection("suite2p", selection, path, session)
        from neurodsr.io.calcium import read_suite2p

        return read_suite2p(
            path, sampling_rate=sampling_rate, session=session, **gap_kw, **selection
        )
    if key == "caiman":
        _check_selection("caiman", selection, path, session)
        from neurodsr.io.calcium import read_caiman

        return read_caiman(
            path, sampling_rate=sampling_rate, session=session, **gap_kw, **selection
        )
    if key in ("nwb-ophys", "nwb_ophys", "ophys"):
        _check_selection("nwb-ophys", selection, path, session)
        from neurodsr.io.calcium import read_nwb_ophys

        return read_nwb_ophys(path, session=session, **gap_kw, **selection)
    if key == "nwb":
        _check_selection("nwb", selection, path, session)
        from neurodsr.io.nwb import read_nwb

        return read_nwb(path, modality=modality, session=session, **rate_kw, **selection)
    if key in _ARRAY_NAMES:
        _check_selection("array", selection, path, session)
        from neurodsr.io.arrays import read_array

        return read_array(
            path,
            sampling_rate=sampling_rate,
            modality=modality,
            session=session,
            **rate_kw,
            **selection,
        )
    if key == "neo" and path.is_dir() and not _neo_claims(path):
        from neurodsr.io.neo_reader import unknown_format_error

        raise unknown_format_error(path, session)
    if key == "neo" or key.endswith("io") or _is_neo_io(fmt):
        _check_selection("neo", selection, path, session)
        from neurodsr.io.neo_reader import read_neo

        io = selection.pop("io", "auto" if key == "neo" else fmt)
        if path.name == "structure.oebin":
            path = path.parent
        return read_neo(path, io=io, modality=modality, session=session, **rate_kw, **selection)
    raise InputError(
        f"unknown format {format!r}",
        file=path,
        session=session,
        hint=f"use 'auto', a neo IO class name, or one of: {', '.join(FORMATS)}",
    )


def _is_neo_io(name: str) -> bool:
    import neo.io

    return any(cls.__name__.lower() in (name.lower(), f"{name.lower()}io") for cls in neo.io.iolist)


def _neo_claims(folder: Path) -> bool:
    import neo.io

    try:
        return bool(neo.io.list_candidate_ios(str(folder)))
    except Exception:  # neo: "not a supported format of any IO"
        return False


def _check_selection(kind: str, selection: dict[str, Any], path: Path, session: str | None):
    extra = set(selection) - _SELECTION_KEYS[kind]
    if extra:
        opts = sorted(_CLI.get(k, k) for k in extra)
        takes = sorted(_CLI[k] for k in _SELECTION_KEYS[kind] if k in _CLI)
        raise InputError(
            f"{', '.join(opts)} does not apply to this format ({kind})",
            file=path,
            session=session,
            hint=f"this reader takes: {', '.join(takes)}" if takes else "",
        )
