"""Read EEG/MEG/iEEG formats through MNE (``mne.io.read_raw``): EDF/BDF, BrainVision, FIF,
EEGLAB and everything else ``read_raw`` knows.

The file is opened with ``preload=False`` and its data channels are read chunk by chunk with
``Raw.get_data(start=, stop=)`` and decimated on the way in, so long recordings are never loaded
whole. Voltages are stored in uV, magnetometers in fT, gradiometers in fT/cm.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from neurodsr.errors import InputError
from neurodsr.io.chunked import read_decimated, target_rate
from neurodsr.io.recording import DEFAULT_MAX_GAP_S, make_recording

__all__ = ["MEG_MAIN", "MNE_EXTENSIONS", "read_mne"]

log = logging.getLogger(__name__)

#: File suffixes read through MNE, and the ``mne.io`` function ``read_raw`` dispatches to.
MNE_EXTENSIONS: dict[str, str] = {
    ".edf": "read_raw_edf",
    ".bdf": "read_raw_bdf",
    ".gdf": "read_raw_gdf",
    ".vhdr": "read_raw_brainvision",
    ".ahdr": "read_raw_brainvision",
    ".fif": "read_raw_fif",
    ".fif.gz": "read_raw_fif",
    ".set": "read_raw_eeglab",
    ".cnt": "read_raw_cnt",
    ".mff": "read_raw_egi",
    ".eeg": "read_raw_nihon",
    ".lay": "read_raw_persyst",
    ".nxe": "read_raw_eximia",
    ".snirf": "read_raw_snirf",
    ".xdf": "read_raw_xdf",
}

# FIFF unit codes (mne.io.constants.FIFF.FIFF_UNIT_*) -> (stored units, factor from SI)
_UNITS = {107: ("uV", 1e6), 112: ("fT", 1e15), 201: ("fT/cm", 1e13)}


def _suffix(path: Path) -> str:
    name = path.name.lower()
    return ".fif.gz" if name.endswith(".fif.gz") else path.suffix.lower()


#: Channel kinds read by default, in order: the first group present in the file is read and
#: the rest is left out (logged). Within MEG, see :data:`MEG_MAIN`.
_BRAIN = ("eeg", "seeg", "ecog", "dbs")
_MEG = ("grad", "mag")
_OTHER = ("fnirs_cw_amplitude", "fnirs_od", "hbo", "hbr", "eog", "ecg", "emg", "bio", "misc")
#: The MEG kind read by default when a file has both: planar gradiometers. On Elekta/MEGIN
#: systems they are two thirds of the sensors (204 of 306) and, being gradiometers, pick up
#: less of distant environmental noise than the magnetometers; ``--channel-type mag`` reads
#: the magnetometers instead. The two kinds have different units (fT/cm, fT) and are never
#: mixed in one signal.
MEG_MAIN = "grad"


def read_mne(
    path: str | os.PathLike[str],
    *,
    channels: Sequence[int | str] | None = None,
    channel_type: str | Sequence[str] | None = None,
    modality: str | None = None,
    session: str | None = None,
    decimate_to: float | None = None,
    max_rate: float | None = None,
    chunk_values: int | None = None,
    allow_truncated: bool = False,
    allow_maxshield: bool = False,
    max_gap_s: float = DEFAULT_MAX_GAP_S,
) -> xr.Dataset:
    """Read a raw EEG/MEG/iEEG file with ``mne.io.read_raw`` into a continuous Recording.

    Parameters
    ----------
    path : path
        Any file ``mne.io.read_raw`` reads (EDF/BDF, BrainVision .vhdr, FIF, EEGLAB .set, ...).
    channels : sequence of int or str, optional
        Channels to keep, by name or index (CLI ``--channels``); they must share one unit.
    channel_type : str or sequence of str, optional
        MNE channel types to keep (``"eeg"``, ``"mag"``, ``"grad"``, ``"misc"``, ...; CLI
        ``--channel-type``). Default (neither given): the brain channels, i.e. EEG / sEEG /
        ECoG / DBS when the file has any (EOG, ECG, EMG, misc and stim channels left out);
        else MEG: gradiometers when it has both kinds (:data:`MEG_MAIN`); else the other
        data channels of the most common unit. What was left out is logged and stored in
        the attr ``channels_left_out``.
    decimate_to, max_rate : float, optional
        Hz; resample on the way in (see :func:`neurodsr.io.chunked.target_rate`).
    allow_truncated : bool
        Read an EDF/BDF/BrainVision file whose data stop before its header / markers say
        (CLI ``--allow-truncated``; default: refuse).
    allow_maxshield : bool
        Read a FIF recorded with MaxShield (internal active shielding) that has not been
        Maxfiltered (CLI ``--allow-maxshield``; default: refuse, such data are distorted).
    max_gap_s : float
        s; longest run of NaN samples that is interpolated.

    Returns
    -------
    xarray.Dataset
        ``signal(time, channel)`` in uV (EEG/iEEG), fT or fT/cm (MEG); attrs add
        ``channel_types`` (JSON list), ``meas_date`` and ``highpass`` / ``lowpass`` (Hz).
    """
    import mne

    path = Path(path)
    if not path.exists():
        raise InputError("file not found", file=path, session=session, hint="check the path")
    func = MNE_EXTENSIONS.get(_suffix(path), "read_raw")
    kwargs_read = {}
    if func == "read_raw_fif" and allow_maxshield:
        kwargs_read["allow_maxshield"] = True
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            raw = mne.io.read_raw(path, preload=False, verbose="warning", **kwargs_read)
    except Exception as err:
        if "Internal Active Shielding" in str(err) or "MaxShield" in str(err):
            raise InputError(
                "this FIF holds raw MaxShield (internal active shielding) data, which is "
                "distorted until it is Maxfiltered",
                file=path,
                session=session,
                hint="run MaxFilter (SSS/tSSS) on it, e.g. MEGIN's MaxFilter or "
                "mne.preprocessing.maxwell_filter (MNE reads such files with "
                "allow_maxshield=True), and ingest the result; to read it unfiltered "
                "anyway, pass --allow-maxshield",
            ) from err
        raise InputError(
            f"MNE cannot read this file ({type(err).__name__}: {err})",
            file=path,
            session=session,
            hint="check the file is complete (not truncated) and of a format MNE reads",
        ) from err
    for w in caught:
        msg = str(w.message)
        # MNE reads a truncated EDF/BDF (fewer data records than its header says) with only a
        # warning, inferring the length from the file size; that is refused unless asked for.
        if "does not match the file size" in msg and not allow_truncated:
            raise InputError(
                f"truncated file: {msg}",
                file=path,
                session=session,
                hint="re-export or re-copy the file; to read what is there, pass --allow-truncated",
            )
        if "internal active shielding" in msg.lower():
            warnings.warn(
                f"{path.name}: reading MaxShield data that has not been Maxfiltered "
                "(--allow-maxshield); it is distorted until Maxfilter/SSS is applied",
                UserWarning,
                stacklevel=2,
            )
    if func == "read_raw_brainvision":
        from neurodsr.io.checks import check_brainvision_length

        check_brainvision_length(path, allow_truncated=allow_truncated, session=session)
    picks, left_out = _picks(raw, channels, channel_type, path, session)
    if len(picks) == 0 or raw.n_times == 0:
        raise InputError(
            "no usable signal: no data channels or no samples",
            file=path,
            session=session,
            hint="check the file, or pick channels with --channels / --channel-type",
        )
    unit_codes = {int(raw.info["chs"][p]["unit"]) for p in picks}
    kinds = [_UNITS.get(u, ("a.u.", 1.0)) for u in sorted(unit_codes)]
    if len({k[0] for k in kinds}) > 1:
        raise InputError(
            f"channels of different kinds (units {sorted(k[0] for k in kinds)}) picked",
            file=path,
            session=session,
            hint="pick channels of one kind with --channel-type TYPE (eeg, mag, grad, ...) "
            "or --channels NAME,NAME,...",
        )
    if left_out:
        by_type: dict[str, list[str]] = {}
        for name, kind in left_out:
            by_type.setdefault(kind, []).append(name)
        log.info(
            "%s: left out %s (pick them with --channel-type / --channels)",
            path.name,
            "; ".join(
                f"{len(v)} {k} channel(s) ({', '.join(v[:6])}{' ...' if len(v) > 6 else ''})"
                for k, v in by_type.items()
            ),
        )
    units, factor = kinds[0]
    fs = float(raw.info["sfreq"])
    target = target_rate(fs, decimate_to=decimate_to, max_rate=max_rate)

    def get(a: int, b: int) -> np.ndarray:
        return raw.get_data(picks=picks, start=a, stop=b, verbose="error").T

    kwargs = {} if chunk_values is None else {"chunk_values": chunk_values}
    try:
        data, new_fs = read_decimated(
            get, raw.n_times, len(picks), fs, target, scale=factor, **kwargs
        )
    except (OSError, ValueError) as err:
        raise InputError(
            f"reading the samples failed ({type(err).__name__}: {err})",
            file=path,
            session=session,
            hint="the file is probably truncated; re-export it",
        ) from err
    types = raw.get_channel_types(picks=picks)
    meas = raw.info.get("meas_date")
    attrs = {
        "channel_types": list(types),
        "meas_date": meas.isoformat() if meas is not None else "none",
        "highpass": float(raw.info["highpass"]),
        "lowpass": float(raw.info["lowpass"]),
        "original_sampling_rate": fs,
        "line_freq": float(raw.info["line_freq"]) if raw.info["line_freq"] else 0.0,
        "channels_left_out": [f"{n} ({k})" for n, k in left_out],
    }
    return make_recording(
        modality=modality or "continuous",
        source_file=path,
        reader=f"mne.{func}",
        sampling_rate=new_fs,
        signal=data,
        channel_names=[raw.ch_names[p] for p in picks],
        units=units,
        start_time=float(raw.first_time),
        session=session,
        max_gap_s=max_gap_s,
        extra_libraries=("mne",),
        attrs=attrs,
    )


def _picks(
    raw,
    channels: Sequence[int | str] | None,
    channel_type: str | Sequence[str] | None,
    path: Path,
    session: str | None,
) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """Channel indexes to read, and the (name, type) of the data channels left out."""
    types = raw.get_channel_types()
    names = raw.ch_names
    data_kinds = set(_BRAIN) | set(_MEG) | set(_OTHER)
    if channels is not None:
        picks = []
        for c in channels:
            if isinstance(c, int | np.integer):
                if not 0 <= int(c) < len(names):
                    raise InputError(
                        f"channel index {c} out of range (the file has {len(names)})",
                        file=path,
                        session=session,
                    )
                picks.append(int(c))
            elif c in names:
                picks.append(names.index(c))
            else:
                raise InputError(
                    f"channel {c!r} not in the file",
                    file=path,
                    session=session,
                    hint=f"--channels takes names from: {', '.join(names[:64])}",
                )
        if channel_type is not None:
            wanted = _types(channel_type)
            picks = [p for p in picks if types[p] in wanted]
        return np.asarray(picks, dtype=int), []
    if channel_type is not None:
        wanted = _types(channel_type)
        present = sorted(set(types))
        unknown = [t for t in wanted if t not in present]
        if unknown:
            raise InputError(
                f"no channels of type {', '.join(unknown)} in the file",
                file=path,
                session=session,
                hint=f"--channel-type takes: {', '.join(present)}",
            )
        chosen = set(wanted)
    else:
        present = {t for t in types if t in data_kinds}
        if present & set(_BRAIN):
            chosen = present & set(_BRAIN)
        elif present & set(_MEG):
            chosen = {MEG_MAIN} if MEG_MAIN in present else present & set(_MEG)
        else:
            # the most common unit among the remaining data channels
            units: dict[int, int] = {}
            for i, t in enumerate(types):
                if t in present:
                    u = int(raw.info["chs"][i]["unit"])
                    units[u] = units.get(u, 0) + 1
            main = max(units, key=units.get) if units else None
            chosen = {
                t
                for i, t in enumerate(types)
                if t in present and int(raw.info["chs"][i]["unit"]) == main
            }
    picks = np.asarray([i for i, t in enumerate(types) if t in chosen], dtype=int)
    left = [(names[i], t) for i, t in enumerate(types) if t in data_kinds and t not in chosen]
    return picks, left


def _types(channel_type: str | Sequence[str]) -> list[str]:
    if isinstance(channel_type, str):
        return [t.strip() for t in channel_type.split(",") if t.strip()]
    return [str(t) for t in channel_type]
