"""Calcium-imaging results: suite2p plane folders, CaImAn HDF5 files, NWB ophys series.

All give a calcium Recording: ``signal(time, channel)`` (one channel per ROI, "a.u." unless
the file says otherwise), optional ``neuropil(time, channel)`` and ``iscell(channel)``, and the
attr ``signal_kind``: ``"F"`` (raw fluorescence: preprocessing subtracts neuropil and computes
dF/F), ``"dff"`` (already dF/F) or ``"denoised"`` (CaImAn's C: deconvolution-denoised, used as is).
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from neurodsr.errors import InputError
from neurodsr.io.recording import DEFAULT_MAX_GAP_S, make_recording

__all__ = [
    "CAIMAN_TRACES",
    "find_suite2p_plane",
    "read_caiman",
    "read_nwb_ophys",
    "read_suite2p",
    "read_suite2p_ops",
    "suite2p_planes",
]

log = logging.getLogger(__name__)


def suite2p_planes(folder: str | os.PathLike[str]) -> dict[str, Path]:
    """The suite2p plane folders under ``folder``: ``{"plane0": path, ..., "combined": path}``.

    ``folder`` may be a plane folder itself (holding F.npy; returned under its own name), the
    ``suite2p`` output folder, or the folder above it. Only folders holding F.npy count.
    """
    import re

    folder = Path(folder)
    if (folder / "F.npy").is_file():
        return {folder.name: folder}
    for base in (folder, folder / "suite2p"):
        if not base.is_dir():
            continue
        found = {
            p.name: p
            for p in base.iterdir()
            if p.is_dir()
            and (re.fullmatch(r"plane\d+", p.name) or p.name == "combined")
            and (p / "F.npy").is_file()
        }
        if found:
            planes = sorted((k for k in found if k != "combined"), key=lambda k: int(k[5:]))
            return {k: found[k] for k in planes + (["combined"] if "combined" in found else [])}
    return {}


def find_suite2p_plane(folder: str | os.PathLike[str], plane: int | str = 0) -> Path | None:
    """Return the plane folder holding F.npy under ``folder`` (itself, planeN, suite2p/planeN,
    or ``combined``), or None."""
    planes = suite2p_planes(folder)
    if len(planes) == 1 and (Path(folder) / "F.npy").is_file():
        return next(iter(planes.values()))
    key = plane if isinstance(plane, str) and not str(plane).isdigit() else f"plane{int(plane)}"
    return planes.get(key)


def _load_npy(path: Path, session: str | None) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except Exception as err:
        raise InputError(
            f"cannot read {path.name} ({type(err).__name__}: {err})",
            file=path,
            session=session,
            hint="the file is probably truncated; re-run or re-copy the suite2p output",
        ) from err


def read_suite2p_ops(path: str | os.PathLike[str], session: str | None = None) -> dict:
    """Read suite2p's ``ops.npy`` (a pickled dict) without running code from it.

    The payload is unpickled by :func:`neurodsr.io.safe_npy.load_plain_npy`, which only builds
    plain data (dicts, lists, numbers, strings, numpy arrays); a pickle that refers to any other
    callable (e.g. a crafted ``__reduce__``) is refused before anything of it runs.

    Raises
    ------
    InputError
        The file is not plain data (refused), unreadable or not a dict.
    """
    from neurodsr.io.safe_npy import UnsafeContentError, load_plain_npy

    path = Path(path)
    try:
        ops = load_plain_npy(path)
    except UnsafeContentError as err:
        raise InputError(
            f"refused to load ops.npy: its pickled content {err} (a crafted file could run "
            "code; neurodsr only reads plain data from it)",
            file=path,
            session=session,
            hint="check where the folder comes from; to read the traces without ops.npy, "
            "give the frame rate with --sampling-rate HZ",
        ) from err
    except Exception as err:
        raise InputError(
            f"cannot read ops.npy ({type(err).__name__}: {err})",
            file=path,
            session=session,
            hint="the file is probably truncated; re-run or re-copy the suite2p output, or "
            "give the frame rate with --sampling-rate HZ",
        ) from err
    if not isinstance(ops, dict):
        raise InputError(
            f"ops.npy holds a {type(ops).__name__}, not suite2p's dict of options",
            file=path,
            session=session,
            hint="give the frame rate with --sampling-rate HZ",
        )
    return ops


def read_suite2p(
    folder: str | os.PathLike[str],
    *,
    plane: int | str = "auto",
    sampling_rate: float | None = None,
    session: str | None = None,
    max_gap_s: float = DEFAULT_MAX_GAP_S,
) -> xr.Dataset:
    """Read a suite2p plane folder (F.npy, Fneu.npy, iscell.npy, ops.npy).

    Parameters
    ----------
    folder : path
        A plane folder, the ``suite2p`` output folder, or the folder holding ``suite2p/``.
    plane : int or str
        Which plane folder: an index (``1`` = ``plane1``), ``"plane1"``, ``"combined"``, or
        ``"auto"`` (default): the only plane if there is one; with several planes suite2p's
        ``combined`` folder (every plane's ROIs side by side, suite2p's own merge) when it is
        there, else ``plane0`` with a warning naming the others (CLI ``--plane``).
    sampling_rate : float, optional
        Frame rate, Hz; default ``ops["fs"]`` from ops.npy (then ops.npy is not read at all).
    max_gap_s : float
        s; longest run of NaN frames that is interpolated.

    Returns
    -------
    xarray.Dataset
        Calcium recording with ``signal`` = F, ``neuropil`` = Fneu (frames, ROIs), ``iscell``;
        attrs ``suite2p_plane`` (the folder read) and ``suite2p_planes`` (all found).

    Notes
    -----
    ops.npy is a pickled dict; it is read without unpickling anything but plain data
    (:func:`read_suite2p_ops`), so a crafted folder cannot run code.
    """
    folder = Path(folder)
    planes = suite2p_planes(folder)
    if not planes:
        raise InputError(
            "no suite2p output found: no F.npy in this folder, its planeN/ folders or "
            "suite2p/planeN/",
            file=folder,
            session=session,
            hint="point to the suite2p output folder (…/suite2p or …/suite2p/plane0) holding "
            "F.npy, Fneu.npy, iscell.npy and ops.npy",
        )
    names = list(planes)
    if plane in ("auto", None):
        if len(planes) == 1:
            key = names[0]
        elif "combined" in planes:
            key = "combined"
            log.info(
                "suite2p: reading 'combined' (all of %s); pick one plane with --plane",
                ", ".join(n for n in names if n != "combined"),
            )
        else:
            key = names[0]
            warnings.warn(
                f"suite2p folder has {len(planes)} planes ({', '.join(names)}) and no "
                f"'combined' folder: reading {key} only; pick another with --plane NAME|INDEX",
                UserWarning,
                stacklevel=2,
            )
    else:
        key = f"plane{int(plane)}" if str(plane).isdigit() else str(plane)
        if key not in planes:
            raise InputError(
                f"suite2p plane {plane!r} not found",
                file=folder,
                session=session,
                hint=f"--plane takes one of: {', '.join(names)}",
            )
    plane_dir = planes[key]
    F = _load_npy(plane_dir / "F.npy", session)
    Fneu = (
        _load_npy(plane_dir / "Fneu.npy", session) if (plane_dir / "Fneu.npy").is_file() else None
    )
    iscell = None
    if (plane_dir / "iscell.npy").is_file():
        iscell = _load_npy(plane_dir / "iscell.npy", session)
        iscell = (iscell[:, 0] if iscell.ndim == 2 else iscell) > 0.5
    fs = sampling_rate
    if fs is None and (plane_dir / "ops.npy").is_file():
        ops = read_suite2p_ops(plane_dir / "ops.npy", session)
        fs = ops.get("fs")
        if fs is not None:
            fs = float(fs)
            if fs <= 1.0:
                warnings.warn(
                    f"suite2p ops['fs'] = {fs:g} Hz in {plane_dir / 'ops.npy'} looks unset (the "
                    "frame rate was probably not given to suite2p); taking it as is -- give "
                    "the real frame rate with --sampling-rate HZ",
                    UserWarning,
                    stacklevel=2,
                )
    if fs is None:
        raise InputError(
            "frame rate unknown: no ops.npy with 'fs'",
            file=plane_dir,
            session=session,
            hint="give it with --sampling-rate HZ",
        )
    if F.ndim != 2:
        raise InputError(f"F.npy has shape {F.shape}, expected (ROIs, frames)", file=plane_dir)
    if Fneu is not None and Fneu.shape != F.shape:
        raise InputError(
            f"Fneu.npy shape {Fneu.shape} differs from F.npy shape {F.shape}",
            file=plane_dir,
            session=session,
        )
    if iscell is not None and len(iscell) != F.shape[0]:
        raise InputError(
            f"iscell.npy has {len(iscell)} rows for {F.shape[0]} ROIs",
            file=plane_dir,
            session=session,
        )
    names_roi = [f"roi{i}" for i in range(F.shape[0])]
    return make_recording(
        modality="calcium",
        source_file=plane_dir,
        reader="suite2p",
        sampling_rate=float(fs),
        signal=F.T,
        channel_names=names_roi,
        units="a.u.",
        neuropil=None if Fneu is None else Fneu.T,
        iscell=iscell,
        session=session,
        max_gap_s=max_gap_s,
        attrs={"signal_kind": "F", "suite2p_plane": key, "suite2p_planes": names},
    )


#: CaImAn traces (``estimates/<name>``) and the ``signal_kind`` each gives.
CAIMAN_TRACES: dict[str, str] = {
    "F_dff": "dff",  # detrended dF/F of the denoised traces
    "C": "denoised",  # deconvolution-denoised calcium traces
    "S": "denoised",  # deconvolved activity (spike-like), used as is
    "YrA": "denoised",  # residuals of the fit, used as is
}


def read_caiman(
    path: str | os.PathLike[str],
    *,
    trace: str = "auto",
    sampling_rate: float | None = None,
    session: str | None = None,
    max_gap_s: float = DEFAULT_MAX_GAP_S,
) -> xr.Dataset:
    """Read a CaImAn HDF5 result (``cnm.save(...)``): ``estimates/F_dff``, ``C``, ``S``, ``YrA``.

    Parameters
    ----------
    trace : {"auto", "F_dff", "C", "S", "YrA"}
        Which traces (CLI ``--trace``); ``"auto"`` takes F_dff when present, else C.
    sampling_rate : float, optional
        Frame rate, Hz; default ``params/data/fr``.
    max_gap_s : float
        s; longest run of NaN frames that is interpolated.

    Returns
    -------
    xarray.Dataset
        Calcium recording (frames, components); ``iscell`` from ``estimates/idx_components``
        when present; attrs ``caiman_trace`` and ``signal_kind``.
    """
    import h5py

    path = Path(path)
    if trace not in ("auto", *CAIMAN_TRACES):
        raise InputError(
            f"unknown CaImAn trace {trace!r}",
            file=path,
            session=session,
            hint=f"--trace takes auto, {', '.join(CAIMAN_TRACES)}",
        )
    try:
        f = h5py.File(path, "r")
    except Exception as err:
        raise InputError(
            f"cannot open as HDF5 ({type(err).__name__}: {err})",
            file=path,
            session=session,
            hint="the file is probably truncated or not a CaImAn result",
        ) from err
    with f:
        est = f.get("estimates")
        if est is None:
            raise InputError(
                "no 'estimates' group: not a CaImAn result", file=path, session=session
            )
        present = [t for t in CAIMAN_TRACES if _is_array(est.get(t))]
        if trace == "auto":
            trace = "F_dff" if "F_dff" in present else "C"
            others = [t for t in present if t != trace]
            if others:
                log.info("CaImAn: reading estimates/%s; also there: %s (--trace)", trace, others)
        if not _is_array(est.get(trace)):
            raise InputError(
                f"no usable signal: estimates/{trace} missing or empty",
                file=path,
                session=session,
                hint=(f"--trace takes one of: {', '.join(present)}" if present else "")
                + ("; " if present else "")
                + "save the CaImAn result after fitting (cnm.save)",
            )
        data = np.asarray(est[trace][()], dtype=np.float64)
        fs = sampling_rate
        if fs is None and "params/data/fr" in f:
            fs = float(np.asarray(f["params/data/fr"][()]))
        iscell = None
        idx = est.get("idx_components")
        if _is_array(idx):
            iscell = np.zeros(data.shape[0], bool)
            iscell[np.asarray(idx[()], dtype=int)] = True
    if fs is None:
        raise InputError(
            "frame rate unknown: no params/data/fr",
            file=path,
            session=session,
            hint="give it with --sampling-rate HZ",
        )
    return make_recording(
        modality="calcium",
        source_file=path,
        reader="caiman",
        sampling_rate=fs,
        signal=data.T,
        channel_names=[f"comp{i}" for i in range(data.shape[0])],
        units="dF/F" if trace == "F_dff" else "a.u.",
        iscell=iscell,
        session=session,
        max_gap_s=max_gap_s,
        extra_libraries=("h5py",),
        attrs={"signal_kind": CAIMAN_TRACES[trace], "caiman_trace": trace},
    )


def _is_array(obj: object) -> bool:
    import h5py

    return isinstance(obj, h5py.Dataset) and obj.shape != () and obj.size > 0


#: Words in a RoiResponseSeries' path that mark it as not the raw fluorescence.
_NOT_MAIN = ("deconvolved", "spikes", "neuropil", "denoised", "residual")


def read_nwb_ophys(
    path: str | os.PathLike[str],
    *,
    series: str | None = None,
    session: str | None = None,
    max_gap_s: float = DEFAULT_MAX_GAP_S,
) -> xr.Dataset:
    """Read a RoiResponseSeries (Fluorescence or DfOverF) from an NWB file with pynwb.

    Parameters
    ----------
    series : str, optional
        Name of the RoiResponseSeries (``"Fluorescence/Deconvolved"`` or just
        ``"Deconvolved"``) or of its container (``"Fluorescence"``, ``"DfOverF"``); CLI
        ``--series``. Default: the raw fluorescence, i.e. the first series under a
        Fluorescence container whose name does not mark it as deconvolved, neuropil or
        denoised; else the first DfOverF series. What was left out is logged.
    max_gap_s : float
        s; longest run of NaN frames that is interpolated.

    Returns
    -------
    xarray.Dataset
        Calcium recording; ``signal_kind`` "dff" for DfOverF series, "denoised" for
        deconvolved ones, else "F"; attr ``nwb_series`` names the series read. For raw
        fluorescence, a neuropil series of the same ROIs and rate beside it (suite2p's NWB
        export writes "Neuropil") becomes ``neuropil(time, channel)``, which preprocessing
        subtracts (``neuropil_coef``); attr ``nwb_neuropil_series`` names it ("" for none).
    """
    from pynwb.ophys import DfOverF, RoiResponseSeries

    from neurodsr.io.nwb import named_series, open_nwb

    path = Path(path)
    io, nwb = open_nwb(path, session, "check the file is a complete NWB 2 file")
    try:
        found = []
        for module in nwb.processing.values():
            for container in module.data_interfaces.values():
                if isinstance(container, RoiResponseSeries):
                    found.append((container.name, container, False))
                elif hasattr(container, "roi_response_series"):
                    for rrs in container.roi_response_series.values():
                        found.append(
                            (f"{container.name}/{rrs.name}", rrs, isinstance(container, DfOverF))
                        )
        labels = [f[0] for f in found]
        if series is not None:
            chosen = named_series(
                found,
                series,
                "RoiResponseSeries",
                "the file holds no RoiResponseSeries",
                path,
                session,
            )
        else:

            def is_main(label: str) -> bool:
                return not any(w in label.lower() for w in _NOT_MAIN)

            chosen = [f for f in found if not f[2] and is_main(f[0])] or [
                f for f in found if f[2] and is_main(f[0])
            ]
            chosen = chosen or found
        if not found:
            raise InputError(
                "no usable signal: no RoiResponseSeries",
                file=path,
                session=session,
                hint="check processing/ophys in the NWB file (e.g. with nwbinspector/HDFView)",
            )
        label, rrs, is_dff = chosen[0]
        left_out = [x for x in labels if x != label]
        if left_out:
            log.info(
                "NWB ophys: reading %s; left out %s (pick one with --series NAME)",
                label,
                ", ".join(left_out),
            )
        kind = "dff" if is_dff else ("F" if _is_f(label) else "denoised")
        data = np.asarray(rrs.data[()], dtype=np.float64)
        if data.ndim == 1:
            data = data[:, None]
        neuropil, neuropil_label = None, ""
        if kind == "F":
            neuropil, neuropil_label = _neuropil_for(found, rrs, data.shape, label)
        if rrs.rate is not None:
            fs, t0 = float(rrs.rate), float(rrs.starting_time or 0.0)
        else:
            ts = np.asarray(rrs.timestamps[()], dtype=np.float64)
            steps = np.diff(ts)
            fs, t0 = 1.0 / float(np.median(steps)), float(ts[0])
            if steps.size and np.ptp(steps) > 0.01 * np.median(steps):
                raise InputError(
                    "irregular timestamps (mixed sampling rates) in the RoiResponseSeries",
                    file=path,
                    session=session,
                    hint="resample the traces to a common frame rate first",
                )
        try:
            ids = [int(i) for i in rrs.rois.data[()]]
            names = [f"roi{i}" for i in ids]
        except Exception:  # rois region not resolvable: fall back to positions
            names = [f"roi{i}" for i in range(data.shape[1])]
        unit = str(rrs.unit or "a.u.")
    finally:
        io.close()
    return make_recording(
        modality="calcium",
        source_file=path,
        reader="pynwb.RoiResponseSeries",
        sampling_rate=fs,
        signal=data,
        channel_names=names,
        units=unit,
        start_time=t0,
        session=session,
        extra_libraries=("pynwb", "hdmf"),
        max_gap_s=max_gap_s,
        neuropil=neuropil,
        attrs={
            "signal_kind": kind,
            "nwb_series": label,
            "nwb_series_left_out": left_out,
            "nwb_neuropil_series": neuropil_label,
        },
    )


def _neuropil_for(
    found: list[tuple[str, Any, bool]], main: Any, shape: tuple[int, ...], label: str
) -> tuple[np.ndarray | None, str]:
    """The neuropil series that belongs to the raw fluorescence ``main`` (as suite2p's NWB export
    writes it beside "Fluorescence"): a RoiResponseSeries whose name says neuropil, with the
    same (frames, ROIs) shape and frame rate. Returns (neuropil (frames, ROIs), its label), or
    (None, "") when there is none; a neuropil series that does not match is logged, not used."""
    for name, rrs, _ in found:
        if "neuropil" not in name.lower() or rrs is main:
            continue
        values = np.asarray(rrs.data[()], dtype=np.float64)
        if values.ndim == 1:
            values = values[:, None]
        same_rate = (rrs.rate is None) == (main.rate is None) and (
            rrs.rate is None or abs(float(rrs.rate) - float(main.rate)) <= 1e-9 * float(main.rate)
        )
        if values.shape != tuple(shape) or not same_rate:
            log.warning(
                "NWB ophys: %s (shape %s, rate %s) does not match %s (shape %s, rate %s): "
                "dF/F is computed without neuropil subtraction",
                name,
                values.shape,
                rrs.rate,
                label,
                tuple(shape),
                main.rate,
            )
            continue
        log.info("NWB ophys: %s is subtracted as the neuropil of %s", name, label)
        return values, name
    return None, ""


def _is_f(label: str) -> bool:
    low = label.lower()
    return not any(w in low for w in ("deconvolved", "spikes", "denoised"))
