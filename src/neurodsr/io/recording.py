"""The Recording dataset (``recording.nc``): building it, checking it, and cleaning bad samples.

Contract (other stages code against it):

- continuous / calcium: ``signal(time, channel)`` float32 with ``signal.attrs["units"]``;
  coords ``time`` (float64 s, attrs ``units="s"``) and ``channel`` (str). Calcium may add
  ``neuropil(time, channel)`` and ``iscell(channel)`` (int8 0/1).
- spikes: flat ragged ``spike_times(spike)`` float64 s, ``spike_unit(spike)`` int32 index into
  coord ``unit`` (str); ``t_start(unit)``, ``t_stop(unit)`` float64 s.
- attrs: ``modality``, ``sampling_rate`` (Hz), ``start_time`` (s), ``session``, ``source_file``,
  ``reader`` and the provenance attrs (library versions).
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from neurodsr.errors import InputError
from neurodsr.provenance import netcdf_safe, provenance_attrs

__all__ = [
    "DEFAULT_MAX_GAP_S",
    "MODALITIES",
    "SpikeUnit",
    "check_amplitudes",
    "fill_short_gaps",
    "make_recording",
    "nonfinite_edges",
    "validate_recording",
]

log = logging.getLogger(__name__)

MODALITIES = ("spikes", "continuous", "calcium")

#: Gaps of non-finite samples up to this long (seconds) are interpolated; longer ones refused.
DEFAULT_MAX_GAP_S = 0.1


@dataclass
class SpikeUnit:
    """One sorted unit: spike ``times`` (s) inside [``t_start``, ``t_stop``] (s)."""

    name: str
    times: np.ndarray
    t_start: float
    t_stop: float


def fill_short_gaps(
    signal: np.ndarray,
    sampling_rate: float,
    *,
    channel_names: Sequence[str] | None = None,
    max_gap_s: float = DEFAULT_MAX_GAP_S,
    file: str | os.PathLike[str] | None = None,
    session: str | None = None,
    start_time: float = 0.0,
) -> np.ndarray:
    """Linearly interpolate short runs of NaN/Inf in ``signal`` (time, channel); refuse long ones.

    Parameters
    ----------
    signal : array (time, channel)
    sampling_rate : float
        Hz; converts ``max_gap_s`` into samples (at least one sample is always allowed).
    start_time : float
        s, time of the first row (for the times named in messages).
    max_gap_s : float
        Longest run of non-finite samples, in seconds, that is interpolated (with a warning).
        Runs touching the first or last sample are refused here (nothing to interpolate
        from); :func:`make_recording` cuts them off first (:func:`nonfinite_edges`).

    Returns
    -------
    array (time, channel)
        ``signal`` itself if all finite, else a float copy with the gaps filled.

    Raises
    ------
    InputError
        A run of non-finite samples longer than ``max_gap_s`` or one touching the start or end
        of a channel (nothing to interpolate from) or a channel with no finite sample.
    """
    bad = ~np.isfinite(signal)
    if not bad.any():
        return signal
    names = (
        list(channel_names)
        if channel_names is not None
        else [str(i) for i in range(signal.shape[1])]
    )
    max_gap = max(1, round(max_gap_s * sampling_rate)) if sampling_rate > 0 else 1
    out = np.array(signal, dtype=np.result_type(signal.dtype, np.float32), copy=True)
    n = signal.shape[0]
    filled = 0
    for c in np.flatnonzero(bad.any(axis=0)):
        b = bad[:, c].astype(np.int8)
        if b.all():
            raise InputError(
                f"channel {names[c]!r} has no finite sample (all {len(b)} are non-finite: NaN/Inf)",
                file=file,
                session=session,
                hint="leave it out with --channels (the channels to keep)",
            )
        edges = np.diff(np.concatenate([[0], b, [0]]))
        starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        lengths = stops - starts
        # a run touching either end has nothing to interpolate from; report that one first
        at_edge = (starts == 0) | (stops == n)
        too_long = at_edge | (lengths > max_gap)
        if too_long.any():
            i = int(np.flatnonzero(too_long)[np.argmax(lengths[too_long])])
            t0 = start_time + (starts[i] / sampling_rate if sampling_rate > 0 else starts[i])
            where = (
                " at the start of the recording"
                if starts[i] == 0
                else " at the end of the recording"
                if stops[i] == n
                else ""
            )
            raise InputError(
                f"channel {names[c]!r} has {int(lengths[i])} non-finite (NaN/Inf) samples in a "
                f"row starting at {t0:.3f} s{where} ({int(b.sum())} in all); only gaps of up to "
                f"{max_gap} samples ({max_gap_s} s) inside the recording are interpolated",
                file=file,
                session=session,
                hint="raise the limit (neurodsr ingest --max-gap-s SECONDS, or preprocess "
                "max_gap_s), cut the recording around the gap, or leave the channel out "
                "(--channels)",
            )
        good = ~bad[:, c]
        idx = np.arange(n)
        out[~good, c] = np.interp(idx[~good], idx[good], out[good, c])
        filled += int(b.sum())
    warnings.warn(
        f"{filled} non-finite samples in short gaps were interpolated linearly"
        + (f" in {os.fspath(file)}" if file else ""),
        UserWarning,
        stacklevel=2,
    )
    return out


def nonfinite_edges(signal: np.ndarray) -> tuple[int, int]:
    """Rows ``[start, stop)`` of ``signal`` (time, channel) without its leading and trailing
    rows that hold a NaN/Inf in any channel (``(0, n)`` when the edges are finite)."""
    n = signal.shape[0]
    step = max(1, 4_000_000 // max(signal.shape[1], 1))  # bounded temporaries on long reads
    good_rows = np.empty(n, dtype=bool)
    for a in range(0, n, step):
        good_rows[a : a + step] = np.isfinite(signal[a : a + step]).all(axis=1)
    if good_rows.all():
        return 0, n
    idx = np.flatnonzero(good_rows)
    if idx.size == 0:
        return 0, 0
    return int(idx[0]), int(idx[-1]) + 1


#: Largest plausible magnitude per unit; beyond it a value is a fault (an unset scale, a
#: float32 garbage value), not a measurement: 1 kV (an EEG amplifier rails at a few V),
#: 1 uT for MEG (1e6 x a strong brain field).
IMPLAUSIBLE: dict[str, float] = {"uV": 1e9, "fT": 1e9, "fT/cm": 1e11}
#: For any other unit, values this large are refused (float32 holds up to 3.4e38).
IMPLAUSIBLE_OTHER = 1e30


def check_amplitudes(
    signal: np.ndarray,
    units: str,
    channel_names: Sequence[str],
    *,
    file: str | os.PathLike[str] | None = None,
    session: str | None = None,
) -> None:
    """Refuse values no recording system produces (e.g. 3.4e37 uV).

    The limit is :data:`IMPLAUSIBLE` for ``units`` (1e9 uV = 1 kV, 1e9 fT, 1e11 fT/cm), else
    :data:`IMPLAUSIBLE_OTHER`. Non-finite values are not checked here.

    Raises
    ------
    InputError
        Naming the channels, how many samples exceed the limit, the largest value, and the
        ``--channels`` option that leaves them out.
    """
    limit = IMPLAUSIBLE.get(units, IMPLAUSIBLE_OTHER)
    counts = np.zeros(signal.shape[1], dtype=np.int64)
    peak = 0.0
    step = max(1, 4_000_000 // max(signal.shape[1], 1))  # bounded temporaries on long reads
    with np.errstate(invalid="ignore"):
        for a in range(0, signal.shape[0], step):
            mag = np.abs(signal[a : a + step])
            over = mag > limit
            if over.any():
                counts += over.sum(axis=0)
                peak = max(peak, float(mag[over].max()))
    if not counts.any():
        return
    bad = np.flatnonzero(counts)
    listing = ", ".join(f"{channel_names[c]} ({int(counts[c])} samples)" for c in bad[:10])
    raise InputError(
        f"implausible amplitudes: {int(counts.sum())} samples beyond {limit:.0e} {units} (up to "
        f"{peak:.3g} {units}) in {len(bad)} channel(s): {listing}"
        + (" ..." if len(bad) > 10 else ""),
        file=file,
        session=session,
        hint="the file's scaling is probably broken (a wrong gain or unit in its header); "
        "leave those channels out with --channels (the channels to keep), or fix the header",
    )


def make_recording(
    *,
    modality: str,
    source_file: str | os.PathLike[str],
    reader: str,
    sampling_rate: float,
    signal: np.ndarray | None = None,
    channel_names: Sequence[str] | None = None,
    units: str = "a.u.",
    start_time: float = 0.0,
    spikes: Iterable[SpikeUnit] | None = None,
    neuropil: np.ndarray | None = None,
    iscell: np.ndarray | None = None,
    session: str | None = None,
    extra_libraries: Sequence[str] = (),
    attrs: dict[str, Any] | None = None,
    max_gap_s: float = DEFAULT_MAX_GAP_S,
) -> xr.Dataset:
    """Build a Recording dataset following the ``recording.nc`` contract.

    Parameters
    ----------
    modality : {"spikes", "continuous", "calcium"}
    source_file : path
        The file or folder the data was read from (stored as given, made absolute).
    reader : str
        What read it, e.g. ``"neo.NixIO"``, ``"mne.read_raw_edf"``, ``"suite2p"``.
    sampling_rate : float
        Hz of ``signal``; for pure spikes the acquisition rate if known, else 0.
    signal : array (time, channel), optional
        Stored as float32. Short non-finite gaps are interpolated, long ones refused.
    channel_names : sequence of str, optional
        Defaults to ``"ch0", "ch1", ...``.
    units : str
        Units of ``signal`` (e.g. ``"uV"``, ``"a.u."``).
    start_time : float
        Time of the first sample, s.
    spikes : iterable of SpikeUnit, optional
    neuropil : array (time, channel), optional
        Calcium neuropil traces, same shape as ``signal``.
    iscell : array (channel,), optional
        Calcium ROI classification (stored as int8 0/1).
    session : str, optional
        Session name; defaults to the file's stem.
    extra_libraries : sequence of str
        Libraries whose versions go into the provenance attrs (e.g. ``("neo", "quantities")``).
    attrs : dict, optional
        Further dataset attrs (e.g. ``meas_date``, ``signal_kind``).
    max_gap_s : float
        s; runs of NaN/Inf up to this long inside the signal are interpolated, longer ones
        refused. Leading and trailing rows holding NaN/Inf are cut off (with a warning; attr
        ``trimmed_nonfinite_s`` = [start, end] in s).

    Raises
    ------
    InputError
        No usable signal, long NaN gaps, implausible amplitudes (:func:`check_amplitudes`).

    Returns
    -------
    xarray.Dataset
        The recording; :func:`validate_recording` passes on it.
    """
    if modality not in MODALITIES:
        raise InputError(
            f"unknown modality {modality!r}",
            file=source_file,
            session=session,
            hint=f"use one of {', '.join(MODALITIES)}",
        )
    source = os.path.abspath(os.fspath(source_file))
    if session is None:
        session = _default_session(source)
    data_vars: dict[str, Any] = {}
    coords: dict[str, Any] = {}
    extra_attrs: dict[str, Any] = {}
    spikes = list(spikes or [])
    if signal is not None:
        signal = np.asarray(signal)
        if signal.ndim == 1:
            signal = signal[:, None]
        if signal.ndim != 2 or signal.shape[0] == 0 or signal.shape[1] == 0:
            raise InputError(
                f"no usable signal: expected a (time, channel) array, got shape {signal.shape}",
                file=source,
                session=session,
                hint="check the file holds samples, and the channel selection",
            )
        if not sampling_rate or sampling_rate <= 0:
            raise InputError(
                "the sampling rate of the signal is unknown",
                file=source,
                session=session,
                hint="give it with --sampling-rate HZ",
            )
        n, n_ch = signal.shape
        if channel_names is None:
            channel_names = [f"ch{i}" for i in range(n_ch)]
        channel_names = [str(c) for c in channel_names]
        if len(channel_names) != n_ch:
            raise InputError(
                f"{len(channel_names)} channel names for {n_ch} channels",
                file=source,
                session=session,
            )
        if len(set(channel_names)) != n_ch:
            channel_names = _dedupe(channel_names)
        if neuropil is not None:
            neuropil = np.asarray(neuropil)
            if neuropil.shape != signal.shape:
                raise InputError(
                    f"neuropil shape {neuropil.shape} differs from signal shape {signal.shape}",
                    file=source,
                    session=session,
                )
        a, b = nonfinite_edges(signal if neuropil is None else np.hstack([signal, neuropil]))
        if (a, b) != (0, n) and b - a > 0:
            # a NaN/Inf run at an edge has nothing to interpolate from: cut it off
            warnings.warn(
                f"{a} leading and {n - b} trailing samples ({a / sampling_rate:.3g} s and "
                f"{(n - b) / sampling_rate:.3g} s) hold NaN/Inf and were cut off in {source}",
                UserWarning,
                stacklevel=2,
            )
            signal = signal[a:b]
            neuropil = None if neuropil is None else neuropil[a:b]
            start_time = float(start_time) + a / float(sampling_rate)
            extra_attrs["trimmed_nonfinite_s"] = [a / sampling_rate, (n - b) / sampling_rate]
            n = signal.shape[0]
        signal = fill_short_gaps(
            signal,
            sampling_rate,
            channel_names=channel_names,
            max_gap_s=max_gap_s,
            file=source,
            session=session,
            start_time=start_time,
        )
        check_amplitudes(signal, units, channel_names, file=source, session=session)
        time = start_time + np.arange(n, dtype=np.float64) / float(sampling_rate)
        coords["time"] = ("time", time, {"units": "s"})
        coords["channel"] = ("channel", np.asarray(channel_names, dtype=str))
        data_vars["signal"] = (
            ("time", "channel"),
            signal.astype(np.float32, copy=False),
            {"units": units},
        )
        if neuropil is not None:
            neuropil = fill_short_gaps(
                neuropil,
                sampling_rate,
                channel_names=channel_names,
                max_gap_s=max_gap_s,
                file=source,
                session=session,
                start_time=start_time,
            )
            data_vars["neuropil"] = (
                ("time", "channel"),
                neuropil.astype(np.float32, copy=False),
                {"units": units},
            )
        if iscell is not None:
            data_vars["iscell"] = ("channel", np.asarray(iscell).astype(np.int8))
    if spikes:
        names = _dedupe([str(u.name) for u in spikes])
        times = [np.asarray(u.times, dtype=np.float64).ravel() for u in spikes]
        counts = [len(t) for t in times]
        coords["unit"] = ("unit", np.asarray(names, dtype=str))
        flat = np.concatenate(times) if counts else np.zeros(0)
        data_vars["spike_times"] = ("spike", flat, {"units": "s"})
        data_vars["spike_unit"] = (
            "spike",
            np.repeat(np.arange(len(spikes), dtype=np.int32), counts),
        )
        data_vars["t_start"] = (
            "unit",
            np.array([u.t_start for u in spikes], dtype=np.float64),
            {"units": "s"},
        )
        data_vars["t_stop"] = (
            "unit",
            np.array([u.t_stop for u in spikes], dtype=np.float64),
            {"units": "s"},
        )
    if not data_vars:
        raise InputError(
            "no usable signal: the file holds neither samples nor spike trains "
            "(after the selection)",
            file=source,
            session=session,
            hint="check the block/segment/channel/unit selection or the file itself",
        )
    if modality == "spikes" and not spikes:
        raise InputError(
            "modality 'spikes' was asked for but the file holds no spike trains",
            file=source,
            session=session,
            hint="use --modality continuous, or give a file with sorted units",
        )
    if modality != "spikes" and signal is None:
        raise InputError(
            f"modality {modality!r} was asked for but the file holds no sampled signal",
            file=source,
            session=session,
            hint="use --modality spikes for spike trains",
        )
    ds_attrs = provenance_attrs(
        extra_libraries=tuple(extra_libraries), source_file=source, reader=reader
    )
    ds_attrs.update(
        modality=modality,
        sampling_rate=float(sampling_rate or 0.0),
        start_time=float(start_time),
        session=str(session),
        source_file=source,
        reader=reader,
    )
    for key, value in {**(attrs or {}), **extra_attrs}.items():
        ds_attrs[key] = netcdf_safe(value)  # lists/dicts as JSON, as they will be on disk
    return xr.Dataset(data_vars, coords=coords, attrs=ds_attrs)


def validate_recording(ds: xr.Dataset, *, file: str | os.PathLike[str] | None = None) -> None:
    """Check ``ds`` against the ``recording.nc`` contract; raise InputError naming what is off."""
    file = file or ds.attrs.get("source_file")
    session = ds.attrs.get("session")
    problems = []
    for key in ("modality", "sampling_rate", "start_time", "session", "source_file", "reader"):
        if key not in ds.attrs:
            problems.append(f"attr {key!r} missing")
    if ds.attrs.get("modality") not in MODALITIES:
        problems.append(f"modality {ds.attrs.get('modality')!r} is not one of {MODALITIES}")
    if "signal" in ds:
        if ds["signal"].dims != ("time", "channel"):
            problems.append(f"signal has dims {ds['signal'].dims}, expected ('time', 'channel')")
        if "units" not in ds["signal"].attrs:
            problems.append("signal has no units attr")
    if "spike_times" in ds:
        for name in ("spike_unit", "t_start", "t_stop"):
            if name not in ds:
                problems.append(f"variable {name!r} missing beside spike_times")
    if "signal" not in ds and "spike_times" not in ds:
        problems.append("neither signal nor spike_times present")
    if problems:
        raise InputError(
            "not a neurodsr recording: " + "; ".join(problems),
            file=file,
            session=session,
            hint="create it with `neurodsr ingest`",
        )


def _default_session(path: str) -> str:
    base = os.path.basename(os.path.normpath(path))
    stem = base.split(".")[0] if not os.path.isdir(path) else base
    return stem or "session"


def _dedupe(names: Sequence[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        if n in seen:
            seen[n] += 1
            out.append(f"{n}#{seen[n]}")
        else:
            seen[n] = 0
            out.append(n)
    return out
