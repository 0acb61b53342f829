"""Reconstruction metrics on z-scored data (DESIGN.md, "Metrics").

- :func:`state_space_divergence` (D_stsp): KL(p_data || p_model) of the occupied state space;
  binned below 6 dims, Gaussian-mixture Monte Carlo from 6 dims.
- :func:`power_spectrum_distance` (D_H): mean Hellinger distance of smoothed power spectra.
- :func:`prediction_error` (PE(n)): lives in :mod:`neurodsr.metrics.evaluate` (it needs a model).

Both trajectories are z-scored with the *data's* mean and std before comparison. Numbers depend
on the series' lengths (a shorter series scores worse on D_stsp); compare only at equal lengths.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.ndimage import gaussian_filter1d
from scipy.special import logsumexp

__all__ = [
    "fraction_outside",
    "power_spectrum_distance",
    "state_space_divergence",
    "state_space_divergence_binned",
    "state_space_divergence_gmm",
    "zscore_like",
]


def _as_2d(x: ArrayLike, name: str) -> NDArray[np.float64]:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[0] < 2:
        raise ValueError(f"{name} must have shape (time, dims) with time >= 2, got {a.shape}")
    return a


def zscore_like(
    x_data: ArrayLike, x_model: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Z-score both series with the data's mean and std (constant dims keep std 1)."""
    xd, xm = _as_2d(x_data, "x_data"), _as_2d(x_model, "x_model")
    if xd.shape[1] != xm.shape[1]:
        raise ValueError(f"dims differ: data has {xd.shape[1]}, model {xm.shape[1]}")
    mu, sd = xd.mean(0), xd.std(0)
    sd = np.where(sd > 0, sd, 1.0)
    return (xd - mu) / sd, (xm - mu) / sd


def _bin_codes(
    x: NDArray[np.float64], lo: NDArray[np.float64], width: NDArray[np.float64], n_bins: int
) -> tuple[NDArray[np.int64], int]:
    """Flat bin index of every in-range, finite point; and how many points were dropped."""
    idx = np.floor((x - lo) / width)
    ok = np.isfinite(idx).all(1) & (idx >= 0).all(1) & (idx < n_bins).all(1)
    idx = idx[ok].astype(np.int64)
    # Flat code without allocating n_bins**d cells: a mixed-radix number (fits int64 for
    # d < 13 at 30 bins, far past the binned method's d < 6).
    code = np.zeros(len(idx), dtype=np.int64)
    for j in range(idx.shape[1]):
        code = code * n_bins + idx[:, j]
    return code, int((~ok).sum())


def state_space_divergence_binned(
    x_data: ArrayLike,
    x_model: ArrayLike,
    n_bins: int = 30,
    smoothing: float = 1e-5,
) -> float:
    """D_stsp by binning: KL(p_data || p_model) over ``n_bins`` per dim.

    Bins span [min - 0.1 std, max + 0.1 std] of the z-scored data; both histograms get Laplace
    smoothing ``(count + smoothing) / (n + smoothing * n_bins**d)``. Model points outside the
    range (or non-finite) are dropped, as in the reference code: report
    :func:`fraction_outside` beside it. Only occupied bins are ever stored: the n_bins**d - k
    empty ones share one closed-form term.

    Parameters
    ----------
    x_data, x_model : array, shape (time, d)
        Data and model trajectories (any lengths; compare results only at equal lengths).

    Returns
    -------
    float
        The divergence in nats (0 for identical series); inf if no model point is in range.
    """
    xd, xm = zscore_like(x_data, x_model)
    d = xd.shape[1]
    lo = xd.min(0) - 0.1 * xd.std(0)
    hi = xd.max(0) + 0.1 * xd.std(0)
    width = (hi - lo) / n_bins
    cd, _ = _bin_codes(xd, lo, width, n_bins)
    cm, _ = _bin_codes(xm, lo, width, n_bins)
    if len(cm) == 0:
        return float("inf")
    total = float(n_bins) ** d
    codes = np.union1d(cd, cm)
    nd = np.bincount(np.searchsorted(codes, cd), minlength=len(codes)).astype(np.float64)
    nm = np.bincount(np.searchsorted(codes, cm), minlength=len(codes)).astype(np.float64)
    zd = len(cd) + smoothing * total
    zm = len(cm) + smoothing * total
    p, q = (nd + smoothing) / zd, (nm + smoothing) / zm
    kl = float(np.sum(p * np.log(p / q)))
    # the bins neither series visits: p = smoothing / zd, q = smoothing / zm each
    p0, q0 = smoothing / zd, smoothing / zm
    kl += (total - len(codes)) * p0 * np.log(p0 / q0)
    return max(kl, 0.0)


def state_space_divergence_gmm(
    x_data: ArrayLike,
    x_model: ArrayLike,
    n_samples: int = 1000,
    max_points: int = 10_000,
    seed: int = 0,
) -> float:
    """D_stsp by Gaussian mixtures: KL(p_data || p_model) by Monte Carlo.

    Each (z-scored) trajectory, subsampled evenly to at most ``max_points`` points, is a mixture
    of isotropic unit-variance Gaussians centred on its points; ``n_samples`` draws from the
    data mixture estimate E_p[log p - log q].

    Returns
    -------
    float
        The divergence in nats (~0 for identical series; Monte Carlo noise can make it slightly
        negative, which is clipped to 0); inf if the model trajectory is not finite.
    """
    xd, xm = zscore_like(x_data, x_model)
    if not np.isfinite(xm).all():
        return float("inf")
    xd = xd[:: max(1, int(np.ceil(len(xd) / max_points)))]
    xm = xm[:: max(1, int(np.ceil(len(xm) / max_points)))]
    rng = np.random.default_rng(seed)
    s = xd[rng.integers(0, len(xd), n_samples)] + rng.standard_normal((n_samples, xd.shape[1]))

    def log_mix(points: NDArray[np.float64]) -> NDArray[np.float64]:
        # chunk over mixture components so memory stays O(n_samples * chunk)
        out = np.full(n_samples, -np.inf)
        for i in range(0, len(points), 2000):
            c = points[i : i + 2000]
            d2 = (s**2).sum(1)[:, None] - 2 * s @ c.T + (c**2).sum(1)[None, :]
            out = np.logaddexp(out, logsumexp(-0.5 * d2, axis=1))
        return out - np.log(len(points))  # the common -d/2 log(2 pi) cancels in the ratio

    return max(float(np.mean(log_mix(xd) - log_mix(xm))), 0.0)


def state_space_divergence(x_data: ArrayLike, x_model: ArrayLike, **kwargs: float) -> float:
    """D_stsp: binned (:func:`state_space_divergence_binned`) below 6 dims, Gaussian-mixture
    (:func:`state_space_divergence_gmm`) from 6 dims. Returns nats; 0 means identical."""
    d = _as_2d(x_data, "x_data").shape[1]
    if d < 6:
        return state_space_divergence_binned(x_data, x_model, **kwargs)
    return state_space_divergence_gmm(x_data, x_model, **kwargs)


def power_spectrum_distance(
    x_data: ArrayLike, x_model: ArrayLike, smoothing: float = 20.0
) -> float:
    """D_H: Hellinger distance of smoothed power spectra, averaged over dims.

    Per dim: z-score each series by its own mean and std, take |rfft|^2, smooth it with a
    Gaussian of ``smoothing`` frequency bins (sigma), normalise to sum 1, and compute
    sqrt(1 - sum sqrt(p q)). Both series are cut to the shorter length, so the frequency bins
    match.

    Returns
    -------
    float in [0, 1]: 0 for identical spectra; nan if the model series is not finite.
    """
    xd, xm = _as_2d(x_data, "x_data"), _as_2d(x_model, "x_model")
    if not np.isfinite(xm).all():
        return float("nan")
    n = min(len(xd), len(xm))
    dists = []
    for a, b in zip(xd[:n].T, xm[:n].T, strict=True):
        specs = []
        for s in (a, b):
            sd = s.std()
            z = (s - s.mean()) / (sd if sd > 0 else 1.0)
            p = gaussian_filter1d(np.abs(np.fft.rfft(z)) ** 2, smoothing)
            specs.append(p / p.sum() if p.sum() > 0 else np.full_like(p, 1.0 / len(p)))
        bc = np.sum(np.sqrt(specs[0] * specs[1]))
        dists.append(np.sqrt(max(0.0, 1.0 - bc)))
    return float(np.mean(dists))


def fraction_outside(x_data: ArrayLike, x_model: ArrayLike, margin: float = 0.1) -> float:
    """Fraction of model points outside the data's range (+- ``margin`` std per dim) or not finite.

    A diverged model can score deceptively well on binned D_stsp (its out-of-range points are
    dropped); this number says how much of it was dropped.
    """
    xd, xm = zscore_like(x_data, x_model)
    lo = xd.min(0) - margin * xd.std(0)
    hi = xd.max(0) + margin * xd.std(0)
    with np.errstate(invalid="ignore"):
        inside = np.isfinite(xm).all(1) & (xm >= lo).all(1) & (xm <= hi).all(1)
    return float(1.0 - inside.mean())
