"""Calcium-imaging results: suite2p plane folders, CaImAn HDF5 files, NWB ophys series.

All give a calcium Recording: ``signal(time, channel)`` (one channel per ROI, "a.u." unless
the file says otherwise), optional ``neuropil(time, channel)`` and ``iscell(channel)``, and the
attr ``signal_kind``: ``"F"`` (raw fluorescence: preprocessing subtracts neuropil and computes
dF/F), ``"dff"`` (already dF/F) or ``"denoised"`` (CaImAn's C: deconvolution-denoised, used as is).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import xarray as xr

from neurodsr.errors import InputError
from neurodsr.io.recording import make_recording

__all__ = ["find_suite2p_plane", "read_caiman", "read_nwb_ophys", "read_suite2p"]


def find_suite2p_plane(folder: str | os.PathLike[str], plane: int = 0) -> Path | None:
    """Return the plane folder holding F.npy under ``folder`` (itself, planeN, suite2p/planeN)."""
    folder = Path(folder)
    for cand in (folder, folder / f"plane{plane}", folder / "suite2p" / f"plane{plane}"):
        if (cand / "F.npy").is_file():
            return cand
    return None


def _load_npy(path: Path, session: str | None, allow_pickle: bool = False) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=allow_pickle)
    except Exception as err:
        raise InputError(
            f"cannot read {path.name} ({type(err).__name__}: {err})",
            file=path,
            session=session,
            hint="the file is probably truncated; re-run or re-copy the suite2p output",
        ) from err


def read_suite2p(
    folder: str | os.PathLike[str],
    *,
    plane: int = 0,
    sampling_rate: float | None = None,
    session: str | None = None,
) -> xr.Dataset:
    """Read a suite2p plane folder (F.npy, Fneu.npy, iscell.npy, ops.npy).

    Parameters
    ----------
    folder : path
        The plane folder, or a folder holding ``planeN`` / ``suite2p/planeN``.
    plane : int
        Plane index when ``folder`` holds several.
    sampling_rate : float, optional
        Frame rate, Hz; default ``ops["fs"]`` from ops.npy.

    Returns
    -------
    xarray.Dataset
        Calcium recording with ``signal`` = F, ``neuropil`` = Fneu (frames, ROIs), ``iscell``.

    Notes
    -----
    ops.npy is a pickled dict (suite2p's own format) and is loaded with ``allow_pickle=True``;
    only read suite2p folders you trust.
    """
    folder = Path(folder)
    plane_dir = find_suite2p_plane(folder, plane)
    if plane_dir is None:
        raise InputError(
            "no suite2p F.npy found",
            file=folder,
            session=session,
            hint="point to the plane folder (…/suite2p/plane0) holding F.npy",
        )
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
        ops = _load_npy(plane_dir / "ops.npy", session, allow_pickle=True)
        ops = ops.item() if ops.dtype == object else {}
        fs = ops.get("fs")
    if fs is None:
        raise InputError(
            "frame rate unknown: no ops.npy with 'fs'",
            file=plane_dir,
            session=session,
            hint="give it with sampling_rate= (CLI: --sampling-rate HZ)",
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
    names = [f"roi{i}" for i in range(F.shape[0])]
    return make_recording(
        modality="calcium",
        source_file=plane_dir,
        reader="suite2p",
        sampling_rate=float(fs),
        signal=F.T,
        channel_names=names,
        units="a.u.",
        neuropil=None if Fneu is None else Fneu.T,
        iscell=iscell,
        session=session,
        attrs={"signal_kind": "F", "suite2p_plane": plane},
    )


def read_caiman(
    path: str | os.PathLike[str],
    *,
    trace: str = "auto",
    sampling_rate: float | None = None,
    session: str | None = None,
) -> xr.Dataset:
    """Read a CaImAn HDF5 result (``cnm.save(...)``): ``estimates/F_dff`` or ``estimates/C``.

    Parameters
    ----------
    trace : {"auto", "F_dff", "C"}
        Which traces; ``"auto"`` takes F_dff when present, else C.
    sampling_rate : float, optional
        Frame rate, Hz; default ``params/data/fr``.

    Returns
    -------
    xarray.Dataset
        Calcium recording (frames, components); ``iscell`` from ``estimates/idx_components``
        when present.
    """
    import h5py

    path = Path(path)
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
        if trace == "auto":
            trace = "F_dff" if _is_array(est.get("F_dff")) else "C"
        if not _is_array(est.get(trace)):
            raise InputError(
                f"no usable signal: estimates/{trace} missing or empty",
                file=path,
                session=session,
                hint="save the CaImAn result after fitting (cnm.save) or choose trace='C'",
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
            hint="give it with sampling_rate= (CLI: --sampling-rate HZ)",
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
        extra_libraries=("h5py",),
        attrs={"signal_kind": "dff" if trace == "F_dff" else "denoised", "caiman_trace": trace},
    )


def _is_array(obj: object) -> bool:
    import h5py

    return isinstance(obj, h5py.Dataset) and obj.shape != () and obj.size > 0


def read_nwb_ophys(
    path: str | os.PathLike[str],
    *,
    series: str | None = None,
    session: str | None = None,
) -> xr.Dataset:
    """Read a RoiResponseSeries (Fluorescence or DfOverF) from an NWB file with pynwb.

    Parameters
    ----------
    series : str, optional
        Name of the RoiResponseSeries or of its container (``"Fluorescence"``, ``"DfOverF"``);
        default: the first one found in ``processing``.

    Returns
    -------
    xarray.Dataset
        Calcium recording; ``signal_kind`` "dff" for DfOverF series, else "F".
    """
    from pynwb import NWBHDF5IO
    from pynwb.ophys import DfOverF, RoiResponseSeries

    path = Path(path)
    try:
        io = NWBHDF5IO(str(path), "r")
        nwb = io.read()
    except Exception as err:
        raise InputError(
            f"pynwb cannot read this file ({type(err).__name__}: {err})",
            file=path,
            session=session,
            hint="check the file is a complete NWB 2 file",
        ) from err
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
        if series is not None:
            found = [f for f in found if series in f[0].split("/") or series == f[0]]
        if not found:
            raise InputError(
                "no usable signal: no RoiResponseSeries" + (f" named {series!r}" if series else ""),
                file=path,
                session=session,
                hint="check processing/ophys in the NWB file (e.g. with nwbinspector/HDFView)",
            )
        label, rrs, is_dff = found[0]
        data = np.asarray(rrs.data[()], dtype=np.float64)
        if data.ndim == 1:
            data = data[:, None]
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
        attrs={"signal_kind": "dff" if is_dff else "F", "nwb_series": label},
    )
