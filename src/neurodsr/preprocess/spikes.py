"""Spike trains -> rates or counts at the model step (elephant)."""

from __future__ import annotations

import os

import numpy as np
import xarray as xr

from neurodsr.errors import InputError

__all__ = ["spike_matrix", "unit_spike_trains"]


def unit_spike_trains(recording: xr.Dataset) -> tuple[list[np.ndarray], list[str], float, float]:
    """Split the ragged ``spike_times`` of a Recording per unit.

    Returns
    -------
    times : list of arrays (s), one per unit
    names : list of str
    t_start, t_stop : float
        Common interval of all units, s (earliest start, latest stop).
    """
    names = [str(u) for u in recording["unit"].values]
    st = np.asarray(recording["spike_times"].values, dtype=np.float64)
    su = np.asarray(recording["spike_unit"].values)
    order = np.argsort(su, kind="stable")
    counts = np.bincount(su, minlength=len(names))
    times = [np.sort(t) for t in np.split(st[order], np.cumsum(counts)[:-1])]
    t_start = float(np.min(recording["t_start"].values))
    t_stop = float(np.max(recording["t_stop"].values))
    return times, names, t_start, t_stop


def spike_matrix(
    recording: xr.Dataset,
    *,
    dt: float,
    representation: str = "rate",
    kernel_sigma: float = 0.05,
    sqrt: bool = False,
    min_rate: float = 0.1,
    file: str | os.PathLike[str] | None = None,
    session: str | None = None,
) -> tuple[np.ndarray, np.ndarray, list[str], list[dict[str, str]], str]:
    """Turn the spike trains of ``recording`` into a (time, unit) matrix at step ``dt``.

    Parameters
    ----------
    dt : float
        Step, s (sampling period of the rates / bin width of the counts).
    representation : {"rate", "counts"}
        ``"rate"``: :func:`elephant.statistics.instantaneous_rate` with a
        :class:`elephant.kernels.GaussianKernel` of std ``kernel_sigma`` s, in Hz, sampled at
        ``t_start + k dt``. ``"counts"``: :class:`elephant.conversion.BinnedSpikeTrain` counts
        in bins of ``dt``; the time of a bin is its centre.
    sqrt : bool
        Square-root transform.
    min_rate : float
        Units firing less than this mean rate (Hz) are silent and dropped.

    Returns
    -------
    values : array (time, unit) float64
    time : array (time,) s
    units : list of str
        Units kept.
    dropped : list of dict
        ``{"channel": unit, "reason": "silent (...)"}`` for each dropped unit.
    value_units : str
        ``"Hz"``, ``"count"`` (or ``"sqrt(Hz)"``, ``"sqrt(count)"``).

    Raises
    ------
    InputError
        All units silent, or the recording is shorter than one step.
    """
    import quantities as pq
    from elephant.conversion import BinnedSpikeTrain
    from elephant.kernels import GaussianKernel
    from elephant.statistics import instantaneous_rate
    from neo import SpikeTrain

    times, names, t_start, t_stop = unit_spike_trains(recording)
    duration = t_stop - t_start
    if duration < dt:
        raise InputError(
            f"spike recording of {duration:.3g} s is shorter than one step dt = {dt:g} s",
            file=file,
            session=session,
            hint="use a longer recording or a smaller dt",
        )
    dropped, keep = [], []
    for name, t in zip(names, times, strict=True):
        rate = len(t) / duration
        if rate < min_rate:
            dropped.append(
                {"channel": name, "reason": f"silent ({rate:.3g} Hz < min_rate {min_rate:g} Hz)"}
            )
        else:
            keep.append((name, t))
    if not keep:
        raise InputError(
            f"all {len(names)} units are silent (mean rate < {min_rate:g} Hz)",
            file=file,
            session=session,
            hint="check the spike sorting / unit selection, or lower min_rate",
        )
    trains = [
        SpikeTrain(t * pq.s, t_start=t_start * pq.s, t_stop=t_stop * pq.s, name=n) for n, t in keep
    ]
    if representation == "rate":
        rate_sig = instantaneous_rate(
            trains,
            sampling_period=dt * pq.s,
            kernel=GaussianKernel(sigma=kernel_sigma * pq.s),
            t_start=t_start * pq.s,
            t_stop=t_stop * pq.s,
        )
        values = np.asarray(rate_sig.rescale(pq.Hz).magnitude, dtype=np.float64)
        if values.ndim == 1:
            values = values[:, None]
        time = np.asarray(rate_sig.times.rescale(pq.s).magnitude, dtype=np.float64)
        # tiny negative values come from the FFT convolution
        values = np.clip(values, 0.0, None)
        value_units = "Hz"
    elif representation == "counts":
        binned = BinnedSpikeTrain(
            trains, bin_size=dt * pq.s, t_start=t_start * pq.s, t_stop=t_stop * pq.s
        )
        values = binned.to_array().T.astype(np.float64)
        edges = np.asarray(binned.bin_edges.rescale(pq.s).magnitude, dtype=np.float64)
        time = 0.5 * (edges[:-1] + edges[1:])
        value_units = "count"
    else:
        raise InputError(f"unknown spike representation {representation!r}", file=file)
    if sqrt:
        values = np.sqrt(values)
        value_units = f"sqrt({value_units})"
    return values, time, [n for n, _ in keep], dropped, value_units
