"""Calcium traces: neuropil correction and dF/F with a running-percentile baseline."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import percentile_filter

__all__ = ["dff", "neuropil_correct", "running_percentile"]


def neuropil_correct(F: np.ndarray, Fneu: np.ndarray, coef: float = 0.7) -> np.ndarray:
    """F - coef * Fneu (suite2p's default coefficient 0.7), arrays (time, ROI)."""
    return np.asarray(F, dtype=np.float64) - coef * np.asarray(Fneu, dtype=np.float64)


def running_percentile(
    F: np.ndarray, window: int, percentile: float = 8.0, max_points: int = 100
) -> np.ndarray:
    """Running percentile of F (time, ROI) over ``window`` frames, centred.

    :func:`scipy.ndimage.percentile_filter` costs O(window) per sample and per ROI (seconds for
    one ROI of an hour at 30 Hz with a 60 s window). When the window holds more than
    ``max_points`` frames, the filter runs on every ``step``-th frame (``step = window //
    max_points``) and the baseline is interpolated linearly in between: the percentile of a
    regular subsample of the window, a close estimate for a baseline that varies on the scale of
    the window.

    Returns
    -------
    array (time, ROI) float64
    """
    F = np.asarray(F, dtype=np.float64)
    n = F.shape[0]
    window = max(1, min(int(window), n))
    step = max(1, window // max_points)
    if step == 1:
        return percentile_filter(F, percentile, size=(window, 1), mode="nearest")
    idx = np.arange(0, n, step)
    if idx[-1] != n - 1:
        idx = np.append(idx, n - 1)
    size = max(1, window // step)
    sub = percentile_filter(F[idx], percentile, size=(size, 1), mode="nearest")
    out = np.empty_like(F)
    t = np.arange(n)
    for c in range(F.shape[1]):
        out[:, c] = np.interp(t, idx, sub[:, c])
    return out


def dff(
    F: np.ndarray,
    sampling_rate: float,
    *,
    window_s: float = 60.0,
    percentile: float = 8.0,
) -> tuple[np.ndarray, np.ndarray]:
    """dF/F = (F - F0) / F0 with F0 the running ``percentile`` over ``window_s`` seconds.

    F0 is floored at 1 % of the ROI's mean absolute F so that a baseline near zero (over-
    subtracted neuropil) does not blow up the ratio.

    Returns
    -------
    dff : array (time, ROI)
    F0 : array (time, ROI)
    """
    F = np.asarray(F, dtype=np.float64)
    window = max(3, round(window_s * sampling_rate))
    F0 = running_percentile(F, window, percentile)
    floor = 0.01 * np.mean(np.abs(F), axis=0) + 1e-12
    F0 = np.maximum(F0, floor)
    return (F - F0) / F0, F0
