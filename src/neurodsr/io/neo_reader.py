"""Read any format neo supports into a Recording: analog signals and sorted spike trains.

Two paths:

- **rawio-based IOs** (OpenEphys binary, BrainVision, Phy, Blackrock, SpikeGLX, Intan, ...):
  the header is parsed, signals are read with the rawio API (``get_analogsignal_chunk`` +
  ``rescale_signal_raw_to_float``) chunk by chunk and decimated on the way in
  (:func:`neurodsr.io.chunked.read_decimated`); nothing is loaded whole.
- **object IOs** (NixIO, NWBIO, ...): the selected block is read with ``read_block`` / ``read``
  and its AnalogSignals / SpikeTrains are converted (decimation then works on the loaded array).

``io="auto"`` uses neo's own candidates for the path (:func:`neo.io.list_candidate_ios`, the
list :func:`neo.io.get_io` walks) and keeps the first one that parses the file.
"""

from __future__ import annotations

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

__all__ = ["open_neo_io", "read_neo"]

Selection = Sequence[int | str] | None

_LIBS = ("neo", "quantities")


def open_neo_io(path: str | os.PathLike[str], io: str = "auto", *, session: str | None = None):
    """Open ``path`` with the neo IO class named ``io`` (e.g. ``"NixIO"``) or by detection.

    Returns the IO object; for rawio-based IOs the header is already parsed.

    Raises
    ------
    InputError
        Unknown IO name, no IO can read the file, or the file is unreadable / truncated.
    """
    import neo.io

    path = Path(path)
    if not path.exists():
        raise InputError("file not found", file=path, session=session, hint="check the path")
    if str(io).lower() in ("pickleio", "pickle"):
        raise _pickle_refused(path, session)
    if io in ("auto", "neo", None):
        try:
            candidates = neo.io.list_candidate_ios(str(path))
        except ValueError:  # neo: "<suffix> is not a supported format of any IO"
            candidates = []
        # neo's PickleIO unpickles the file: input must never run code
        if any(c.__name__ == "PickleIO" for c in candidates):
            raise _pickle_refused(path, session)
        if not candidates:
            raise unknown_format_error(path, session)
        errors = []
        for cls in candidates:
            try:
                return _instantiate(cls, path)
            except Exception as err:  # try the next candidate, as neo.io.get_io does
                errors.append(f"{cls.__name__}: {type(err).__name__}: {err}")
        detail = "; ".join(errors)[:800]
        raise InputError(
            f"no neo IO could read this file ({detail})",
            file=path,
            session=session,
            hint="give the format explicitly (--format NAME, e.g. NixIO), or check the file "
            "is complete",
        )
    names: dict[str, type] = {}
    for cls in neo.io.iolist:  # the first of equal names wins (NixIO, not the rawio NixIOFr)
        names.setdefault(cls.__name__, cls)
    key = io if io.endswith("IO") else f"{io}IO"
    lookup = {k.lower(): v for k, v in names.items()}
    lookup.setdefault("nixiofr", getattr(neo.io, "NixIOFr", None))
    cls = lookup.get(key.lower())
    if cls is None:
        raise InputError(
            f"unknown neo IO {io!r}",
            file=path,
            session=session,
            hint=f"use one of: {', '.join(sorted(names))}",
        )
    try:
        return _instantiate(cls, path)
    except (ImportError, ValueError) as err:
        # neo signals a missing optional library with ImportError or ValueError("Requires X")
        if isinstance(err, ValueError) and not str(err).startswith("Requires"):
            raise InputError(
                f"{cls.__name__} cannot read this file: {type(err).__name__}: {err}",
                file=path,
                session=session,
                hint="check the file is complete and of this format",
            ) from err
        raise InputError(
            f"neo's {cls.__name__} needs a library that is not installed ({err})",
            file=path,
            session=session,
            hint="install it, or read the file another way (EDF/BDF: --format mne)",
        ) from err
    except Exception as err:
        raise InputError(
            f"{cls.__name__} cannot read this file: {type(err).__name__}: {err}",
            file=path,
            session=session,
            hint="check the file is complete and of this format",
        ) from err


def _pickle_refused(path: Path, session: str | None) -> InputError:
    return InputError(
        "refused: this is a Python pickle (neo's PickleIO), and unpickling a file can run "
        "arbitrary code",
        file=path,
        session=session,
        hint="export the data to NIX, NWB or a .npy array and ingest that",
    )


def unknown_format_error(path: Path, session: str | None) -> InputError:
    """The error for a file or folder that no reader recognises: what it lacks, what is read."""
    from neurodsr.io import FORMATS

    if path.is_dir():
        content = sorted(p.name for p in path.iterdir())[:12]
        what = (
            "the folder is empty"
            if not content
            else f"the folder holds {', '.join(content)}{' ...' if len(content) == 12 else ''}"
        )
        problem = (
            f"no recording found in this folder ({what}): it is not a suite2p output (no "
            "F.npy in it, its planeN/ or suite2p/planeN/), not a Phy/Kilosort folder (no "
            "spike_times.npy + params.py), not an OpenEphys recording (no structure.oebin)"
        )
        hint = (
            "point to the recording file itself or to one of those folders; files are read "
            "by extension: " + _extensions()
        )
    else:
        problem = f"unknown format: no reader for the extension {path.suffix or '(none)'!r}"
        hint = (
            f"read are: {_extensions()}; or give the format with --format NAME "
            f"({', '.join(k for k in FORMATS if k != 'auto')}, or a neo IO class name)"
        )
    return InputError(problem, file=path, session=session, hint=hint)


def _extensions() -> str:
    return (
        ".nwb (pynwb), .nix, .vhdr, .edf, .bdf, .fif, .set, .gdf, .cnt, .hdf5/.h5 (CaImAn), "
        ".npy, .csv, .tsv, .txt, .nc, and the extensions of neo's IOs"
    )


def _instantiate(cls: type, path: Path):
    name = cls.__name__
    if name == "NixIO":
        io = cls(str(path), mode="ro")
    elif name == "NWBIO":
        io = cls(str(path), mode="r")
    else:
        io = cls(str(path))
    if hasattr(io, "parse_header"):
        io.parse_header()
        if name == "PhyIO":
            _fix_phy_spike_times(io)
    return io


def _fix_phy_spike_times(io: Any) -> None:
    # Kilosort 1-3 (MATLAB writeNPY) save spike_times.npy as a (n, 1) column; neo 0.14's
    # PhyRawIO masks it with a 1-d array and then fails building the SpikeTrain ("more than
    # 1 dimension"). Flattening the loaded array is the whole fix.
    # Kilosort writes spike_clusters.npy / spike_templates.npy as (n, 1) columns too; neo
    # compares them with a cluster id and masks spike_times with the (n, 1) result, which
    # fails with an IndexError.
    for attr in ("_spike_times", "_spike_clusters", "_spike_templates", "_amplitudes"):
        st = getattr(io, attr, None)
        if isinstance(st, np.ndarray) and st.ndim == 2 and 1 in st.shape:
            setattr(io, attr, st.reshape(-1))


def read_neo(
    path: str | os.PathLike[str],
    *,
    io: str = "auto",
    block: int = 0,
    segment: int = 0,
    stream: int | str | None = None,
    channels: Selection = None,
    units: Selection = None,
    modality: str | None = None,
    session: str | None = None,
    decimate_to: float | None = None,
    max_rate: float | None = None,
    chunk_values: int | None = None,
    allow_truncated: bool = False,
    max_gap_s: float = DEFAULT_MAX_GAP_S,
) -> xr.Dataset:
    """Read one block/segment of a neo-readable file into a Recording.

    Parameters
    ----------
    path : path
        File or folder (OpenEphys, Phy).
    io : str
        neo IO class name (``"NixIO"``, ``"NWBIO"``, ``"OpenEphysBinaryIO"``, ``"PhyIO"``, ...;
        the ``IO`` suffix may be left out) or ``"auto"``.
    block, segment : int
        Which neo Block and Segment.
    stream : int or str, optional
        Signal stream (rawio IOs) or AnalogSignal (object IOs) by index or name (CLI
        ``--stream``). Without it, rawio IOs read the main stream: the first one not named as
        ADC / AUX / sync / NI-DAQ input (OpenEphys' neural stream, not its ``_ADC`` stream),
        with a warning naming the others; object IOs combine all signals, which requires
        one common sampling rate and length.
    channels : sequence of int or str, optional
        Channels to keep, by index or name (None: all).
    units : sequence of int or str, optional
        Sorted units to keep, by index or name (None: all).
    modality : str, optional
        ``"spikes"`` or ``"continuous"``; default: continuous if the segment has a sampled
        signal, else spikes.
    decimate_to, max_rate : float, optional
        Hz; resample the signal on the way in (see :func:`neurodsr.io.chunked.target_rate`).
    allow_truncated : bool
        Read a BrainVision / OpenEphys file whose data are shorter than its header says (CLI
        ``--allow-truncated``; default: refuse, see :mod:`neurodsr.io.checks`).
    max_gap_s : float
        s; longest run of NaN samples that is interpolated.

    Returns
    -------
    xarray.Dataset
        Recording with ``signal(time, channel)`` in uV for voltages (else the file's units)
        and/or ``spike_times`` per unit; ``reader`` = ``"neo.<IOName>"``.
    """
    path = Path(path)
    neo_io = open_neo_io(path, io, session=session)
    name = type(neo_io).__name__
    from neurodsr.io.checks import check_brainvision_length, check_openephys_lengths

    if name == "BrainVisionIO":
        check_brainvision_length(
            getattr(neo_io, "filename", path), allow_truncated=allow_truncated, session=session
        )
    elif name == "OpenEphysBinaryIO":
        check_openephys_lengths(path, allow_truncated=allow_truncated, session=session)
    try:
        if hasattr(neo_io, "parse_header"):
            sig, spikes, extra = _read_rawio(
                modality,
                neo_io,
                path,
                block,
                segment,
                stream,
                channels,
                units,
                session,
                decimate_to,
                max_rate,
                chunk_values,
            )
        else:
            sig, spikes, extra = _read_objects(
                neo_io,
                path,
                block,
                segment,
                stream,
                channels,
                units,
                session,
                decimate_to,
                max_rate,
                chunk_values,
            )
    finally:
        close = getattr(neo_io, "close", None)
        if callable(close):
            try:
                close()
            except Exception:  # closing a read-only IO must never hide the real result
                pass
    if modality is None:
        modality = "continuous" if sig is not None else "spikes"
    if sig is None:
        samples, rate, ch_names, sig_units, t0 = None, extra.get("spike_rate", 0.0), None, "", 0.0
    else:
        samples, rate, ch_names, sig_units, t0 = sig
    if sig is None and spikes:
        t0 = min(u.t_start for u in spikes)
    attrs = {"neo_block": block, "neo_segment": segment, **extra.get("attrs", {})}
    return make_recording(
        modality=modality,
        source_file=path,
        reader=f"neo.{name}",
        sampling_rate=rate,
        signal=samples,
        channel_names=ch_names,
        units=sig_units or "a.u.",
        start_time=t0,
        spikes=spikes,
        session=session,
        max_gap_s=max_gap_s,
        extra_libraries=_LIBS,
        attrs=attrs,
    )


# ---------------------------------------------------------------------------- helpers


def _units_scale(units: str) -> tuple[str, float]:
    """Map a unit string to (stored units, factor): voltages go to uV, others stay."""
    import quantities as pq

    u = (units or "").strip()
    if not u or u in ("dimensionless", "1"):
        return "a.u.", 1.0
    try:
        q = pq.Quantity(1.0, u)
        return "uV", float(q.rescale(pq.uV).magnitude)
    except Exception:  # not a voltage (or unknown to quantities): keep as is
        return u, 1.0


def _check_index(kind: str, index: int, count: int, path: Path, session: str | None) -> None:
    if not 0 <= index < count:
        raise InputError(
            f"{kind} {index} requested but the file has {count} {kind}(s)",
            file=path,
            session=session,
            hint=f"choose a {kind} index from 0 to {count - 1}" if count else "",
        )


def _select(
    names: Sequence[str], selection: Selection, kind: str, path: Path, session: str | None
) -> list[int]:
    if selection is None:
        return list(range(len(names)))
    out = []
    for s in selection:
        if isinstance(s, int | np.integer):
            if not 0 <= int(s) < len(names):
                raise InputError(
                    f"{kind} index {s} out of range (the file has {len(names)} {kind}s)",
                    file=path,
                    session=session,
                )
            out.append(int(s))
        elif str(s) in names:
            out.append(list(names).index(str(s)))
        elif str(s).isdigit() and int(s) < len(names):
            out.append(int(s))
        else:
            raise InputError(
                f"{kind} {s!r} not in the file",
                file=path,
                session=session,
                hint=f"available {kind}s: {', '.join(map(str, names[:50]))}",
            )
    return out


def _mixed_rates(rates: dict[str, float], path: Path, session: str | None) -> InputError:
    listing = ", ".join(f"{k}: {v:g} Hz" for k, v in rates.items())
    return InputError(
        f"signals with mixed sampling rates ({listing})",
        file=path,
        session=session,
        hint="pick one stream/signal with --stream NAME|INDEX, or resample them to a common "
        "rate before ingesting",
    )


# ---------------------------------------------------------------------------- rawio path


def _read_rawio(
    modality: str | None,
    rio: Any,
    path: Path,
    block: int,
    segment: int,
    stream: int | str | None,
    channels: Selection,
    units: Selection,
    session: str | None,
    decimate_to: float | None,
    max_rate: float | None,
    chunk_values: int | None,
):
    _check_index("block", block, rio.block_count(), path, session)
    _check_index("segment", segment, rio.segment_count(block), path, session)
    header = rio.header
    streams = header["signal_streams"]
    all_channels = header["signal_channels"]
    sig = None
    extra: dict[str, Any] = {"attrs": {}}
    # modality "spikes" on a file with sorted units: the raw signals (possibly hours at 30 kHz)
    # are not needed and not read
    skip_signals = modality == "spikes" and header["spike_channels"].size > 0
    if streams.size and all_channels.size and not skip_signals:
        stream_names = [str(s) for s in streams["name"]]
        if stream is not None:
            stream_indexes = _select(stream_names, [stream], "stream", path, session)
        else:
            stream_indexes = [_main_stream(stream_names)]
            others = [n for i, n in enumerate(stream_names) if i != stream_indexes[0]]
            if others:
                warnings.warn(
                    f"{path.name}: reading the signal stream {stream_names[stream_indexes[0]]!r};"
                    f" left out {', '.join(map(repr, others))} (pick one with --stream "
                    "NAME|INDEX)",
                    UserWarning,
                    stacklevel=3,
                )
                extra["attrs"]["neo_streams_left_out"] = others
        rates = {
            str(streams["name"][i]): float(rio.get_signal_sampling_rate(i)) for i in stream_indexes
        }
        if len(set(rates.values())) > 1:
            raise _mixed_rates(rates, path, session)
        parts = []
        for si in stream_indexes:
            sid = streams["id"][si]
            chans = all_channels[all_channels["stream_id"] == sid]
            parts.append((si, chans))
        sizes = {rio.get_signal_size(block, segment, si) for si, _ in parts}
        if len(sizes) > 1:
            raise InputError(
                f"signal streams of different lengths ({sorted(sizes)} samples)",
                file=path,
                session=session,
                hint="pick one stream with --stream NAME|INDEX",
            )
        names = [str(c["name"]) for _, chans in parts for c in chans]
        keep = _select(names, channels, "channel", path, session)
        fs = next(iter(rates.values()))
        t0 = float(rio.get_signal_t_start(block, segment, parts[0][0]))
        n = int(next(iter(sizes)))
        target = target_rate(fs, decimate_to=decimate_to, max_rate=max_rate)
        blocks_out, stored_units = [], set()
        offset = 0
        for si, chans in parts:
            local = [k - offset for k in keep if offset <= k < offset + len(chans)]
            offset += len(chans)
            if not local:
                continue
            local_arr = np.asarray(local)
            scales = []
            for c in chans[local_arr]:
                u, f = _units_scale(str(c["units"]))
                stored_units.add(u)
                scales.append(f)
            fix = _brainvision_float_resolution(rio, chans)
            if fix is not None:
                scales = list(np.asarray(scales) * fix[local_arr])
                extra["attrs"]["resolution_fix"] = "BrainVision float resolution applied"

            def get(a: int, b: int, si=si, idx=local_arr) -> np.ndarray:
                raw = rio.get_analogsignal_chunk(
                    block_index=block,
                    seg_index=segment,
                    i_start=a,
                    i_stop=b,
                    stream_index=si,
                    channel_indexes=idx,
                )
                return rio.rescale_signal_raw_to_float(
                    raw, dtype="float32", stream_index=si, channel_indexes=idx
                )

            kwargs = {} if chunk_values is None else {"chunk_values": chunk_values}
            data, new_fs = read_decimated(
                get, n, len(local), fs, target, scale=np.asarray(scales), **kwargs
            )
            blocks_out.append(data)
        if len(stored_units) > 1:
            raise InputError(
                f"channels with different kinds of units ({sorted(stored_units)})",
                file=path,
                session=session,
                hint="pick channels of one kind with --channels NAME,NAME,... or one stream "
                "with --stream NAME|INDEX",
            )
        samples = blocks_out[0] if len(blocks_out) == 1 else np.concatenate(blocks_out, axis=1)
        sig = (samples, new_fs, [names[k] for k in keep], stored_units.pop(), t0)
        extra["attrs"]["original_sampling_rate"] = fs
        extra["attrs"]["neo_stream"] = stream_names[stream_indexes[0]]
    spikes: list[SpikeUnit] = []
    spike_channels = header["spike_channels"]
    if spike_channels.size:
        names = [str(c["name"]) for c in spike_channels]
        keep = _select(names, units, "unit", path, session)
        t_start = float(rio.segment_t_start(block, segment))
        t_stop = float(rio.segment_t_stop(block, segment))
        for k in keep:
            ts = rio.get_spike_timestamps(
                block_index=block,
                seg_index=segment,
                spike_channel_index=k,
                t_start=None,
                t_stop=None,
            )
            times = rio.rescale_spike_timestamp(np.asarray(ts).reshape(-1), dtype="float64")
            spikes.append(SpikeUnit(names[k], times, t_start, max(t_stop, *times[-1:])))
        fs_spk = getattr(rio, "_sampling_frequency", None)  # Phy's params.py sample_rate
        if isinstance(fs_spk, int | float):
            extra["spike_rate"] = float(fs_spk)
    return sig, spikes, extra


#: Words that mark a signal stream as auxiliary (ADC inputs, accelerometers, sync lines).
_AUX_STREAM = ("adc", "aux", "sync", "nidq", "nidaq", "accel")


def _main_stream(names: Sequence[str]) -> int:
    """The documented default stream: the first whose name marks it as neither ADC / AUX /
    sync nor an NI-DAQ board (OpenEphys' ``..._ADC``, SpikeGLX's ``nidq``); else the first."""
    import re

    for i, name in enumerate(names):
        words = re.split(r"[^a-z]+", name.lower())
        if not any(w.startswith(a) for a in _AUX_STREAM for w in words if w):
            return i
    return 0


def _brainvision_float_resolution(rio: Any, chans: np.ndarray) -> np.ndarray | None:
    """Per-channel resolution that neo 0.14 leaves out for IEEE_FLOAT_32 BrainVision data.

    The BrainVision format scales every stored value by the channel's resolution, integer or
    float (MNE and pybv do so); neo's BrainVisionRawIO applies it to INT_16/INT_32 only, so
    float files written with a resolution other than 1 (pybv's default is 0.1 uV) come out
    wrong by that factor. The resolutions are read from the .vhdr ``[Channel Infos]``
    (``Ch<n>=<name>,<ref>,<resolution>,<unit>``). Returns None when nothing needs fixing.
    """
    if type(rio).__name__ != "BrainVisionIO" or len(chans) == 0:
        return None
    if np.dtype(str(chans["dtype"][0])).kind != "f" or np.any(chans["gain"] != 1):
        return None
    import re

    res: dict[int, float] = {}
    section = ""
    with open(rio.filename, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            line = line.strip()
            if line.startswith("["):
                section = line
            m = re.match(r"Ch(\d+)=([^,]*),([^,]*),([^,]*)", line)
            if section == "[Channel Infos]" and m:
                res[int(m.group(1))] = float(m.group(4)) if m.group(4).strip() else 1.0
    factors = np.array([res.get(i + 1, 1.0) for i in range(len(chans))])
    return None if np.all(factors == 1.0) else factors


# ---------------------------------------------------------------------------- object path


def _read_objects(
    oio: Any,
    path: Path,
    block: int,
    segment: int,
    stream: int | str | None,
    channels: Selection,
    units: Selection,
    session: str | None,
    decimate_to: float | None,
    max_rate: float | None,
    chunk_values: int | None,
):
    import quantities as pq

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if hasattr(oio, "read_all_blocks"):
                blocks = oio.read_all_blocks(lazy=False)
            else:  # neo's older object IOs (AsciiSignalIO, ...) only have read / read_block
                blocks = list(oio.read(lazy=False))
    except Exception as err:
        raise InputError(
            f"{type(oio).__name__} cannot read this file: {type(err).__name__}: {err}",
            file=path,
            session=session,
            hint="check the file is complete and of this format",
        ) from err
    _check_index("block", block, len(blocks), path, session)
    segs = blocks[block].segments
    _check_index("segment", segment, len(segs), path, session)
    seg = segs[segment]
    extra: dict[str, Any] = {"attrs": {}}
    sig = None
    asigs = list(seg.analogsignals)
    if stream is not None and asigs:
        names = [str(a.name) for a in asigs]
        asigs = [asigs[i] for i in _select(names, [stream], "signal", path, session)]
    if asigs:
        rates = {
            f"{a.name or 'signal'}#{i}": float(a.sampling_rate.rescale(pq.Hz).magnitude)
            for i, a in enumerate(asigs)
        }
        if len(set(rates.values())) > 1:
            raise _mixed_rates(rates, path, session)
        lengths = {a.shape[0] for a in asigs}
        if len(lengths) > 1 or len({float(a.t_start.rescale(pq.s)) for a in asigs}) > 1:
            raise InputError(
                "analog signals of different lengths or start times",
                file=path,
                session=session,
                hint="pick one signal with --stream NAME|INDEX",
            )
        names, arrays, stored = [], [], set()
        for i, a in enumerate(asigs):
            ann = a.array_annotations
            if "channel_names" in ann and len(ann["channel_names"]) == a.shape[1]:
                ch = [str(c) for c in ann["channel_names"]]
            else:
                base = a.name or f"signal{i}"
                ch = [f"{base}_{j}" for j in range(a.shape[1])]
            u, f = _units_scale(str(a.units.dimensionality))
            stored.add(u)
            names += ch
            arrays.append((a, f))
        keep = _select(names, channels, "channel", path, session)
        if len(stored) > 1:
            raise InputError(
                f"signals with different kinds of units ({sorted(stored)})",
                file=path,
                session=session,
                hint="pick one signal with --stream NAME|INDEX",
            )
        full = np.concatenate(
            [np.asarray(a.magnitude, dtype=np.float32) * np.float32(f) for a, f in arrays], axis=1
        )[:, keep]
        fs = next(iter(rates.values()))
        target = target_rate(fs, decimate_to=decimate_to, max_rate=max_rate)
        kwargs = {} if chunk_values is None else {"chunk_values": chunk_values}
        data, new_fs = read_decimated(
            lambda a, b: full[a:b], full.shape[0], full.shape[1], fs, target, **kwargs
        )
        t0 = float(asigs[0].t_start.rescale(pq.s).magnitude)
        sig = (data, new_fs, [names[k] for k in keep], stored.pop(), t0)
        extra["attrs"]["original_sampling_rate"] = fs
    spikes: list[SpikeUnit] = []
    trains = list(seg.spiketrains)
    if trains:
        names = [str(st.name) if st.name else f"unit{i}" for i, st in enumerate(trains)]
        spike_rates = set()
        for k in _select(names, units, "unit", path, session):
            st = trains[k]
            spikes.append(
                SpikeUnit(
                    names[k],
                    np.asarray(st.rescale(pq.s).magnitude, dtype=np.float64),
                    float(st.t_start.rescale(pq.s).magnitude),
                    float(st.t_stop.rescale(pq.s).magnitude),
                )
            )
            sr = getattr(st, "sampling_rate", None)
            # neo's SpikeTrain defaults sampling_rate to 1 Hz when the writer gave none
            if sr is not None and float(sr.rescale(pq.Hz).magnitude) != 1.0:
                spike_rates.add(float(sr.rescale(pq.Hz).magnitude))
        if len(spike_rates) == 1:
            extra["spike_rate"] = spike_rates.pop()
    return sig, spikes, extra
