"""Plain arrays: ``.npy`` (memory-mapped, read in chunks), ``.csv`` and ``.nc`` (NetCDF).

Arrays are (time, channel); give the sampling rate (it is not in the file). A ``.nc`` file that
already is a neurodsr Recording is returned as is; another NetCDF file with one 2-d variable
over a ``time`` coordinate is converted (rate from the time steps).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from neurodsr.errors import InputError
from neurodsr.io.chunked import read_decimated, target_rate
from neurodsr.io.recording import DEFAULT_MAX_GAP_S, make_recording, validate_recording

__all__ = ["read_array"]


def read_array(
    path: str | os.PathLike[str],
    *,
    sampling_rate: float | None = None,
    modality: str | None = None,
    session: str | None = None,
    channels: Sequence[str] | None = None,
    units: str = "a.u.",
    start_time: float = 0.0,
    decimate_to: float | None = None,
    max_rate: float | None = None,
    chunk_values: int | None = None,
    max_gap_s: float = DEFAULT_MAX_GAP_S,
) -> xr.Dataset:
    """Read a (time, channel) array from .npy, .csv/.tsv/.txt or .nc into a Recording.

    Parameters
    ----------
    path : path
        ``.npy`` (any numeric dtype; memory-mapped), ``.csv`` / ``.tsv`` / ``.txt`` (optional
        header row of channel names; a ``.txt`` is split at commas, tabs or whitespace,
        whichever its first line uses) or ``.nc``.
    sampling_rate : float
        Hz; required for .npy/.csv, read from the ``time`` coordinate for .nc.
    modality : str
        Default ``"continuous"``.
    channels : sequence of str, optional
        Channel names (default: the csv header, else ``ch0..``).
    units : str
        Units of the values.
    start_time : float
        s, time of the first row.
    decimate_to, max_rate : float, optional
        Hz; resample on the way in.
    max_gap_s : float
        s; longest run of NaN samples that is interpolated (CLI ``--max-gap-s``).

    Returns
    -------
    xarray.Dataset
        A Recording with ``reader`` = ``"numpy.load"``, ``"numpy.loadtxt"`` or ``"xarray"``.
    """
    path = Path(path)
    if not path.exists():
        raise InputError("file not found", file=path, session=session, hint="check the path")
    suffix = path.suffix.lower()
    if suffix == ".nc":
        return _read_netcdf(
            path, sampling_rate, modality, session, decimate_to, max_rate, max_gap_s
        )
    names = list(channels) if channels is not None else None
    if suffix == ".npy":
        reader = "numpy.load"
        try:
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
        except Exception as err:
            raise InputError(
                f"cannot read the .npy file ({type(err).__name__}: {err})",
                file=path,
                session=session,
                hint="the file is probably truncated or not a numeric array",
            ) from err
    elif suffix in (".csv", ".tsv", ".txt"):
        reader = "numpy.loadtxt"
        arr, header = _read_text(path, session)
        if names is None and header is not None:
            names = header
    else:
        raise InputError(
            f"unknown array format {suffix!r}",
            file=path,
            session=session,
            hint="use .npy, .csv, .tsv, .txt or .nc",
        )
    if arr.dtype.kind not in "biuf":
        raise InputError(f"array of dtype {arr.dtype} is not numeric", file=path, session=session)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.size == 0:
        raise InputError(
            f"no usable signal: expected a non-empty (time, channel) array, got {arr.shape}",
            file=path,
            session=session,
        )
    if sampling_rate is None or sampling_rate <= 0:
        raise InputError(
            "a plain array has no sampling rate",
            file=path,
            session=session,
            hint="give it with --sampling-rate HZ",
        )
    if arr.shape[1] > arr.shape[0]:
        raise InputError(
            f"array of shape {arr.shape} has more columns than rows",
            file=path,
            session=session,
            hint="store it as (time, channel): transpose it (arr.T) before saving",
        )
    target = target_rate(sampling_rate, decimate_to=decimate_to, max_rate=max_rate)
    kwargs = {} if chunk_values is None else {"chunk_values": chunk_values}
    data, new_fs = read_decimated(
        lambda a, b: arr[a:b], arr.shape[0], arr.shape[1], float(sampling_rate), target, **kwargs
    )
    return make_recording(
        modality=modality or "continuous",
        source_file=path,
        reader=reader,
        sampling_rate=new_fs,
        signal=data,
        channel_names=names,
        units=units,
        start_time=start_time,
        session=session,
        max_gap_s=max_gap_s,
        attrs={"original_sampling_rate": float(sampling_rate)},
    )


def _read_text(path: Path, session: str | None) -> tuple[np.ndarray, list[str] | None]:
    with open(path, encoding="utf-8") as fh:
        first = fh.readline().strip()
    delim: str | None = "\t" if path.suffix.lower() == ".tsv" else ","
    if path.suffix.lower() == ".txt":
        delim = "," if "," in first else "\t" if "\t" in first else None  # None: whitespace
    header = None
    skip = 0
    cells = [c.strip() for c in first.split(delim)]
    try:
        [float(c) for c in cells]
    except ValueError:
        header, skip = cells, 1
    try:
        arr = np.loadtxt(path, delimiter=delim, skiprows=skip, ndmin=2, dtype=np.float64)
    except ValueError as err:
        raise InputError(
            f"cannot parse the table ({err})",
            file=path,
            session=session,
            hint="a header row of channel names, then one row of numbers per sample",
        ) from err
    return arr, header


def _read_netcdf(
    path: Path,
    sampling_rate: float | None,
    modality: str | None,
    session: str | None,
    decimate_to: float | None,
    max_rate: float | None,
    max_gap_s: float = DEFAULT_MAX_GAP_S,
) -> xr.Dataset:
    try:
        with xr.open_dataset(path, engine="h5netcdf") as ds:
            ds = ds.load()
    except Exception as err:
        raise InputError(
            f"cannot read as NetCDF4 ({type(err).__name__}: {err})",
            file=path,
            session=session,
            hint="the file is probably truncated",
        ) from err
    if "modality" in ds.attrs and ("signal" in ds or "spike_times" in ds):
        validate_recording(ds, file=path)
        if session is not None:
            ds.attrs["session"] = session
        return ds
    cands = [v for v in ds.data_vars.values() if v.ndim in (1, 2) and "time" in v.dims]
    if not cands:
        raise InputError(
            "no usable signal: no variable over a 'time' dimension",
            file=path,
            session=session,
            hint="store the data as a (time, channel) variable with a time coordinate in s",
        )
    var = cands[0]
    if var.ndim == 2:
        var = var.transpose("time", ...)
    t = np.asarray(ds["time"].values, dtype=np.float64) if "time" in ds.coords else None
    if t is not None and t.size > 1:
        steps = np.diff(t)
        if np.ptp(steps) > 1e-3 * np.median(steps):
            raise InputError(
                "irregular time steps (mixed sampling rates)",
                file=path,
                session=session,
                hint="resample to one rate before ingesting",
            )
        sampling_rate = sampling_rate or 1.0 / float(np.median(steps))
    if not sampling_rate:
        raise InputError(
            "no sampling rate: no time coordinate",
            file=path,
            session=session,
            hint="give it with --sampling-rate HZ",
        )
    data = np.asarray(var.values)
    if data.ndim == 1:
        data = data[:, None]
    names = (
        [str(c) for c in var[var.dims[1]].values]
        if var.ndim == 2 and var.dims[1] in var.coords
        else None
    )
    target = target_rate(sampling_rate, decimate_to=decimate_to, max_rate=max_rate)
    out, new_fs = read_decimated(
        lambda a, b: data[a:b], data.shape[0], data.shape[1], float(sampling_rate), target
    )
    return make_recording(
        modality=modality or "continuous",
        source_file=path,
        reader="xarray",
        sampling_rate=new_fs,
        signal=out,
        channel_names=names,
        units=str(var.attrs.get("units", "a.u.")),
        start_time=float(t[0]) if t is not None and t.size else 0.0,
        session=session,
        max_gap_s=max_gap_s,
        attrs={"original_sampling_rate": float(sampling_rate)},
    )
