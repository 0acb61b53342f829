"""Read EEG/MEG/iEEG formats through MNE (``mne.io.read_raw``): EDF/BDF, BrainVision, FIF,
EEGLAB and everything else ``read_raw`` knows.

The file is opened with ``preload=False`` and its data channels are read chunk by chunk with
``Raw.get_data(start=, stop=)`` and decimated on the way in, so long recordings are never loaded
whole. Voltages are stored in uV, magnetometers in fT, gradiometers in fT/cm.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from neurodsr.errors import InputError
from neurodsr.io.chunked import read_decimated, target_rate
from neurodsr.io.recording import make_recording

__all__ = ["MNE_EXTENSIONS", "read_mne"]

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


def read_mne(
    path: str | os.PathLike[str],
    *,
    channels: Sequence[int | str] | None = None,
    modality: str | None = None,
    session: str | None = None,
    decimate_to: float | None = None,
    max_rate: float | None = None,
    chunk_values: int | None = None,
    allow_truncated: bool = False,
) -> xr.Dataset:
    """Read a raw EEG/MEG/iEEG file with ``mne.io.read_raw`` into a continuous Recording.

    Parameters
    ----------
    path : path
        Any file ``mne.io.read_raw`` reads (EDF/BDF, BrainVision .vhdr, FIF, EEGLAB .set, ...).
    channels : sequence of int or str, optional
        Channels to keep (default: MNE's data channels, i.e. no stim/annotation channels).
    decimate_to, max_rate : float, optional
        Hz; resample on the way in (see :func:`neurodsr.io.chunked.target_rate`).
    allow_truncated : bool
        Read an EDF/BDF whose data records stop before its header says (default: refuse).

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
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            raw = mne.io.read_raw(path, preload=False, verbose="warning")
    except Exception as err:
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
                hint="re-export or re-copy the file; to read what is there, pass "
                "allow_truncated=True",
            )
    if channels is None:
        picks = mne.pick_types(
            raw.info,
            meg=True,
            eeg=True,
            seeg=True,
            ecog=True,
            dbs=True,
            eog=True,
            ecg=True,
            emg=True,
            bio=True,
            misc=True,
            fnirs=True,
            exclude=(),
        )
    else:
        picks = []
        for c in channels:
            if isinstance(c, int | np.integer):
                picks.append(int(c))
            elif c in raw.ch_names:
                picks.append(raw.ch_names.index(c))
            else:
                raise InputError(
                    f"channel {c!r} not in the file",
                    file=path,
                    session=session,
                    hint=f"available channels: {', '.join(raw.ch_names[:64])}",
                )
        picks = np.asarray(picks, dtype=int)
    if len(picks) == 0 or raw.n_times == 0:
        raise InputError(
            "no usable signal: no data channels or no samples",
            file=path,
            session=session,
            hint="check the file, or pick channels explicitly",
        )
    unit_codes = {int(raw.info["chs"][p]["unit"]) for p in picks}
    kinds = [_UNITS.get(u, ("a.u.", 1.0)) for u in sorted(unit_codes)]
    if len({k[0] for k in kinds}) > 1:
        raise InputError(
            f"channels of different kinds (units {sorted(k[0] for k in kinds)})",
            file=path,
            session=session,
            hint="pick channels of one kind (channels=[...])",
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
        extra_libraries=("mne",),
        attrs=attrs,
    )
