"""NWB ecephys through pynwb: an ElectricalSeries (raw or LFP) and the Units table.

neo's NWBIO reads the files neo itself wrote, but fails inside on ordinary pynwb 2.x files
(an electrodes table, an ElectricalSeries with ``conversion``, a Units table); pynwb reads them
as NWB defines them, so NWB ecephys is read here with pynwb (NWB ophys: :mod:`.calcium`).

Samples are read from the HDF5 dataset chunk by chunk and decimated on the way in
(:func:`neurodsr.io.chunked.read_decimated`); values are ``data * conversion + offset`` (times
``channel_conversion`` per channel when present) in the series' unit, volts stored as uV.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from neurodsr.errors import InputError
from neurodsr.io.chunked import read_decimated, target_rate
from neurodsr.io.recording import DEFAULT_MAX_GAP_S, SpikeUnit, make_recording

__all__ = ["read_nwb"]

log = logging.getLogger(__name__)

_VOLT_FACTORS = {"volts": 1e6, "volt": 1e6, "v": 1e6, "mv": 1e3, "millivolts": 1e3, "uv": 1.0}


def _series(nwb: Any) -> list[tuple[str, Any]]:
    """(path, series) in the file: ElectricalSeries in acquisition, then in processing
    modules (LFP, FilteredEphys), then plain TimeSeries in acquisition."""
    from pynwb.base import TimeSeries
    from pynwb.ecephys import ElectricalSeries
    from pynwb.image import ImageSeries

    out, plain = [], []
    for name, obj in nwb.acquisition.items():
        if isinstance(obj, ElectricalSeries):
            out.append((f"acquisition/{name}", obj))
        elif (
            type(obj) is TimeSeries
            and not isinstance(obj, ImageSeries)
            and getattr(obj.data, "ndim", 0) in (1, 2)
        ):
            plain.append((f"acquisition/{name}", obj))  # e.g. what neo's NWBIO writes
    for mod_name, module in nwb.processing.items():
        for cname, container in module.data_interfaces.items():
            if isinstance(container, ElectricalSeries):
                out.append((f"processing/{mod_name}/{cname}", container))
            elif hasattr(container, "electrical_series"):  # LFP, FilteredEphys
                for sname, es in container.electrical_series.items():
                    out.append((f"processing/{mod_name}/{cname}/{sname}", es))
    return out + plain


def open_nwb(path: Path, session: str | None, hint: str) -> tuple[Any, Any]:
    """Open an NWB file with pynwb for reading: ``(io, nwbfile)``; the caller closes ``io``.

    A file pynwb cannot read is an InputError naming it, with ``hint``.
    """
    from pynwb import NWBHDF5IO

    try:
        io = NWBHDF5IO(str(path), "r")
        nwb = io.read()
    except Exception as err:
        raise InputError(
            f"pynwb cannot read this file ({type(err).__name__}: {err})",
            file=path,
            session=session,
            hint=hint,
        ) from err
    return io, nwb


def named_series(
    found: Sequence[tuple[Any, ...]],
    series: str,
    kind: str,
    none_hint: str,
    path: Path,
    session: str | None,
) -> list[tuple[Any, ...]]:
    """The entries of ``found`` (label first) that ``--series`` names: the label itself, else
    one of its ``/``-separated parts; none is an InputError listing the labels (``kind``, e.g.
    "ElectricalSeries", in the message; ``none_hint`` where the file holds none)."""
    labels = [f[0] for f in found]
    chosen = [f for f in found if f[0] == series] or [f for f in found if series in f[0].split("/")]
    if not chosen:
        raise InputError(
            f"no {kind} named {series!r}",
            file=path,
            session=session,
            hint=f"--series takes one of: {', '.join(labels)}" if labels else none_hint,
        )
    return chosen


def read_nwb(
    path: str | os.PathLike[str],
    *,
    series: str | None = None,
    channels: Sequence[int | str] | None = None,
    units: Sequence[int | str] | None = None,
    modality: str | None = None,
    session: str | None = None,
    decimate_to: float | None = None,
    max_rate: float | None = None,
    chunk_values: int | None = None,
    max_gap_s: float = DEFAULT_MAX_GAP_S,
) -> xr.Dataset:
    """Read an NWB ecephys file (ElectricalSeries and/or Units) with pynwb into a Recording.

    Parameters
    ----------
    path : path
        An ``.nwb`` (HDF5) file.
    series : str, optional
        Which ElectricalSeries (CLI ``--series``): its name (``"ElectricalSeries"``,
        ``"LFP"``) or path (``"processing/ecephys/LFP/ElectricalSeries"``). Default: the first
        one in ``acquisition`` (the raw recording), else the first under ``processing``; the
        others are named in a warning.
    channels : sequence of int or str, optional
        Electrodes to keep, by position or name (CLI ``--channels``).
    units : sequence of int or str, optional
        Sorted units to keep, by position or name (``"unit<id>"``; CLI ``--units``).
    modality : {"continuous", "spikes"}, optional
        Default: continuous when the file has an ElectricalSeries, else spikes. With
        ``"spikes"`` the samples are not read.
    decimate_to, max_rate : float, optional
        Hz; resample on the way in.
    max_gap_s : float
        s; longest run of NaN samples that is interpolated.

    Returns
    -------
    xarray.Dataset
        ``signal(time, channel)`` (uV for voltages) and/or ``spike_times`` per unit;
        ``reader`` = ``"pynwb.ElectricalSeries"`` (``"pynwb.TimeSeries"`` for a plain
        series) or ``"pynwb.Units"``; attrs
        ``nwb_series`` (the series read) and ``nwb_series_left_out``.
    """
    from neurodsr.io.neo_reader import _select

    path = Path(path)
    io, nwb = open_nwb(
        path, session, "check the file is a complete NWB 2 file (e.g. with nwbinspector)"
    )
    attrs: dict[str, Any] = {}
    sig = None
    spikes: list[SpikeUnit] = []
    try:
        found = _series(nwb)
        labels = [p for p, _ in found]
        if series is not None:
            chosen = named_series(
                found, series, "ElectricalSeries", "the file has no ElectricalSeries", path, session
            )
        else:
            chosen = found
        read_signal = chosen and modality != "spikes"
        if read_signal:
            label, es = chosen[0]
            left_out = [x for x in labels if x != label]
            if left_out and series is None:
                warnings.warn(
                    f"{path.name}: reading the ElectricalSeries {label}; left out "
                    f"{', '.join(left_out)} (pick one with --series NAME)",
                    UserWarning,
                    stacklevel=2,
                )
            attrs.update(nwb_series=label, nwb_series_left_out=left_out)
            series_type = type(es).__name__
            sig = _read_series(
                es, path, session, channels, decimate_to, max_rate, chunk_values, _select
            )
        if nwb.units is not None and len(nwb.units) > 0:
            spikes = _read_units(nwb.units, units, path, session, _select, sig)
    finally:
        io.close()
    if modality is None:
        modality = "continuous" if sig is not None else "spikes"
    if sig is None and not spikes:
        raise InputError(
            "no usable signal: no ElectricalSeries and no Units table",
            file=path,
            session=session,
            hint="an NWB ophys file is read with --format nwb-ophys",
        )
    if sig is None:
        samples, rate, names, unit, t0 = None, 0.0, None, "a.u.", min(u.t_start for u in spikes)
    else:
        samples, rate, names, unit, t0, fs0 = sig
        attrs["original_sampling_rate"] = fs0
    return make_recording(
        modality=modality,
        source_file=path,
        reader=f"pynwb.{series_type}" if sig is not None else "pynwb.Units",
        sampling_rate=rate,
        signal=samples,
        channel_names=names,
        units=unit,
        start_time=t0,
        spikes=spikes,
        session=session,
        max_gap_s=max_gap_s,
        extra_libraries=("pynwb", "hdmf", "h5py"),
        attrs=attrs,
    )


def _read_series(es, path, session, channels, decimate_to, max_rate, chunk_values, select):
    data = es.data
    if data.ndim == 1:
        n, n_ch = data.shape[0], 1
    else:
        n, n_ch = data.shape[0], data.shape[1]
    if es.rate is not None:
        fs, t0 = float(es.rate), float(es.starting_time or 0.0)
    else:
        ts = np.asarray(es.timestamps[()], dtype=np.float64)
        steps = np.diff(ts)
        if steps.size == 0:
            raise InputError("the ElectricalSeries has one sample", file=path, session=session)
        fs, t0 = 1.0 / float(np.median(steps)), float(ts[0])
        if np.ptp(steps) > 0.01 * np.median(steps):
            raise InputError(
                "irregular timestamps (gaps or mixed rates) in the ElectricalSeries",
                file=path,
                session=session,
                hint="resample the series to one rate first, or pick another with --series",
            )
    names = _electrode_names(es, n_ch) if hasattr(es, "electrodes") else _names(es, n_ch)
    keep = np.asarray(select(names, channels, "channel", path, session), dtype=int)
    unit_str = str(es.unit or "").strip()
    factor = _VOLT_FACTORS.get(unit_str.lower())
    stored = "uV" if factor is not None else (unit_str or "a.u.")
    factor = factor or 1.0
    conv = float(es.conversion if es.conversion is not None else 1.0)
    offset = float(getattr(es, "offset", 0.0) or 0.0)
    ch_conv = getattr(es, "channel_conversion", None)
    ch_conv = np.ones(n_ch) if ch_conv is None else np.asarray(ch_conv[()], dtype=np.float64)
    scale = (ch_conv[keep] * conv * factor).astype(np.float32)
    off = np.float32(offset * factor)

    def get(a: int, b: int) -> np.ndarray:
        block = np.asarray(data[a:b])
        block = block[:, None] if block.ndim == 1 else block[:, keep]
        # offset applies after conversion: value = data * conversion + offset (NWB schema)
        return block.astype(np.float32) + off / scale

    target = target_rate(fs, decimate_to=decimate_to, max_rate=max_rate)
    kwargs = {} if chunk_values is None else {"chunk_values": chunk_values}
    samples, new_fs = read_decimated(get, n, len(keep), fs, target, scale=scale, **kwargs)
    return samples, new_fs, [names[k] for k in keep], stored, t0, fs


def _names(es, n_ch: int) -> list[str]:
    base = es.name or "signal"
    return [f"{base}_{i}" for i in range(n_ch)]


def _electrode_names(es, n_ch: int) -> list[str]:
    try:
        table = es.electrodes.table
        rows = list(es.electrodes.data[()])
        if "label" in table.colnames:
            labels = table["label"].data[()]
            return [str(labels[r]) for r in rows]
        ids = table.id.data[()]
        return [f"elec{int(ids[r])}" for r in rows]
    except Exception:  # electrodes region not resolvable: positions
        return [f"ch{i}" for i in range(n_ch)]


def _read_units(table, units, path, session, select, sig) -> list[SpikeUnit]:
    ids = [int(i) for i in table.id.data[()]]
    names = [f"unit{i}" for i in ids]
    keep = select(names, units, "unit", path, session)
    trains = [np.asarray(table.get_unit_spike_times(k), dtype=np.float64) for k in keep]
    if sig is not None:
        t_lo = float(sig[4])
        t_hi = t_lo + sig[0].shape[0] / float(sig[1])
    else:
        t_lo = 0.0
        t_hi = max((float(t.max()) for t in trains if t.size), default=0.0)
    out = []
    intervals = "obs_intervals" in table.colnames
    for k, times in zip(keep, trains, strict=True):
        lo, hi = t_lo, t_hi
        if intervals:
            iv = np.asarray(table["obs_intervals"][k], dtype=np.float64).reshape(-1, 2)
            if iv.size:
                lo, hi = float(iv[:, 0].min()), float(iv[:, 1].max())
        if times.size:
            lo, hi = min(lo, float(times.min())), max(hi, float(times.max()))
        out.append(SpikeUnit(names[k], np.sort(times), lo, hi))
    return out
