"""State-space reconstruction for Lyapunov estimates: delay, dimension, PCA for many channels.

A recording with few channels is delay-embedded: the delay is the first minimum of the average
mutual information (AMI; the lag where the autocorrelation falls below 1/e as a fallback), the
dimension comes from Cao's method (or false nearest neighbours). A recording with many channels
(units, electrodes) is replaced by its leading principal components first, which are then
embedded the same way (often with dimension 1, i.e. no delays).

All lags, delays, windows and periods here are in samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import signal
from scipy.spatial import cKDTree

from neurodsr.preprocess.common import delay_embed, pca

__all__ = [
    "Embedding",
    "ami_delay",
    "autocorrelation_delay",
    "average_mutual_information",
    "cao_dimension",
    "embed_for_lyapunov",
    "fnn_dimension",
    "lowpass_oversampled",
    "mean_period",
    "theiler_neighbors",
]

FloatArray = NDArray[np.float64]

#: Elements per temporary array in chunked KD-tree queries (keeps memory linear in N).
_CHUNK_ELEMENTS = 1 << 20


def _as_2d(x: ArrayLike) -> FloatArray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise ValueError(f"expected an array of shape (time,) or (time, channels), got {a.shape}")
    return a


def _standardize(x: FloatArray) -> FloatArray:
    std = x.std(axis=0)
    std[std == 0] = 1.0
    return (x - x.mean(axis=0)) / std


def theiler_neighbors(
    tree: cKDTree,
    points: FloatArray,
    queries: NDArray[np.integer],
    *,
    n_neighbors: int = 1,
    theiler: int = 0,
    p: float = 2.0,
    workers: int = -1,
) -> tuple[NDArray[np.int64], FloatArray]:
    """Nearest neighbours that are not temporal neighbours, through a KD-tree.

    Parameters
    ----------
    tree : scipy.spatial.cKDTree
        Built on ``points[:tree.n]`` (row index = time index).
    points : array, shape (n, d)
        The embedded series; ``points[queries]`` are the query points.
    queries : int array, shape (q,)
        Time indices of the reference points.
    n_neighbors : int
        Neighbours wanted per reference point.
    theiler : int
        Theiler window in samples: candidates ``j`` with ``|i - j| <= theiler`` are excluded,
        and so are exact duplicates (distance 0), which carry no information on divergence.
    p : float
        Minkowski norm of the distances (2: Euclidean, ``np.inf``: maximum norm).
    workers : int
        Threads for the KD-tree queries (-1: all cores).

    Returns
    -------
    index : int array, shape (q, n_neighbors)
        Neighbour time indices, nearest first; -1 where fewer were found.
    distance : float array, shape (q, n_neighbors)
        Their distances; ``inf`` where missing.

    Notes
    -----
    cKDTree cannot exclude a time window itself, so the tree is asked for a few more neighbours
    than wanted and the temporal ones are dropped; the points still short of neighbours are asked
    again with four times as many, up to ``n_neighbors + 2 * theiler + 1`` (which always
    suffices). Queries run in chunks, so memory stays linear in the number of points.
    """
    n_tree = tree.n
    queries = np.asarray(queries, dtype=np.int64)
    n_q = queries.size
    index = np.full((n_q, n_neighbors), -1, dtype=np.int64)
    distance = np.full((n_q, n_neighbors), np.inf)
    k_cap = min(n_tree, n_neighbors + 2 * theiler + 1 + 32)
    k = min(k_cap, n_neighbors + 16)
    pending = np.arange(n_q)
    while pending.size:
        still: list[NDArray[np.int64]] = []
        chunk = max(1, _CHUNK_ELEMENTS // k)
        for c0 in range(0, pending.size, chunk):
            rows = pending[c0 : c0 + chunk]
            q = queries[rows]
            d, j = tree.query(points[q], k=k, p=p, workers=workers)
            d = d.reshape(len(rows), k)
            j = j.reshape(len(rows), k)
            ok = (j < n_tree) & (np.abs(j - q[:, None]) > theiler) & (d > 0)
            count = ok.sum(axis=1)
            # valid candidates first, each group still sorted by distance (stable sort)
            order = np.argsort(~ok, axis=1, kind="stable")[:, :n_neighbors]
            jj = np.take_along_axis(j, order, axis=1)
            dd = np.take_along_axis(d, order, axis=1)
            okk = np.take_along_axis(ok, order, axis=1)
            done = (count >= n_neighbors) | (k >= k_cap)
            sel = rows[done]
            index[sel] = np.where(okk[done], jj[done], -1)
            distance[sel] = np.where(okk[done], dd[done], np.inf)
            still.append(rows[~done])
        pending = np.concatenate(still) if still else np.empty(0, dtype=np.int64)
        k = min(k_cap, 4 * k)
    return index, distance


def autocorrelation_delay(x: ArrayLike, threshold: float = 1.0 / math.e) -> int:
    """First lag (samples) at which the autocorrelation falls below ``threshold`` (default 1/e).

    For several channels the median over channels is returned (at least 1).
    """
    x = _as_2d(x)
    lags = []
    for c in range(x.shape[1]):
        xc = x[:, c] - x[:, c].mean()
        if not np.any(xc):
            continue
        acf = signal.correlate(xc, xc, mode="full", method="fft")[xc.size - 1 :]
        acf = acf / acf[0]
        below = np.flatnonzero(acf < threshold)
        lags.append(int(below[0]) if below.size else xc.size // 10)
    return max(1, int(np.median(lags))) if lags else 1


def average_mutual_information(x: ArrayLike, max_lag: int, n_bins: int | None = None) -> FloatArray:
    """Average mutual information between ``x[t]`` and ``x[t + lag]``, lag = 0 .. max_lag.

    Parameters
    ----------
    x : array, shape (time,)
    max_lag : int
        Largest lag, samples.
    n_bins : int, optional
        Bins per axis; equiprobable (quantile) bins, which makes the estimate robust to
        outliers. Default ``clip(sqrt(n / 20), 8, 32)``.

    Returns
    -------
    array, shape (max_lag + 1,)
        AMI in nats.
    """
    # Hand-written (scipy has no mutual-information estimator): a histogram estimator whose
    # bin indices are computed once, so each lag costs one bincount.
    x = np.asarray(x, dtype=np.float64).ravel()
    n = x.size
    if n_bins is None:
        n_bins = int(np.clip(np.sqrt(n / 20), 8, 32))
    edges = np.quantile(x, np.linspace(0, 1, n_bins + 1)[1:-1])
    b = np.searchsorted(edges, x, side="right")
    out = np.empty(max_lag + 1)
    for lag in range(max_lag + 1):
        a, c = b[: n - lag], b[lag:]
        joint = np.bincount(a * n_bins + c, minlength=n_bins * n_bins).astype(np.float64)
        joint = joint.reshape(n_bins, n_bins) / a.size
        pa = joint.sum(axis=1, keepdims=True)
        pc = joint.sum(axis=0, keepdims=True)
        nz = joint > 0
        out[lag] = float(np.sum(joint[nz] * np.log(joint[nz] / (pa @ pc)[nz])))
    return out


def ami_delay(
    x: ArrayLike, max_lag: int | None = None, n_bins: int | None = None
) -> tuple[int, str]:
    """Embedding delay: the first minimum of the AMI, else the autocorrelation 1/e lag.

    Parameters
    ----------
    x : array, shape (time,) or (time, channels)
    max_lag : int, optional
        Largest lag searched, samples (default: 4 x the autocorrelation lag, >= 10, <= n/4).

    Returns
    -------
    delay : int
        Samples (median over channels for several channels).
    method : str
        ``"ami"`` or ``"autocorrelation"`` (no AMI minimum up to ``max_lag``).
    """
    x = _as_2d(x)
    acf_lag = autocorrelation_delay(x)
    if acf_lag <= 1:
        # decorrelated within one sample (maps, coarsely sampled flows): the AMI has no
        # meaningful first minimum (it falls monotonically, and noise puts one anywhere)
        return 1, "autocorrelation"
    if max_lag is None:
        max_lag = max(10, 4 * acf_lag)
    max_lag = int(min(max_lag, x.shape[0] // 4))
    delays = []
    for c in range(x.shape[1]):
        if np.ptp(x[:, c]) == 0:
            continue
        ami = average_mutual_information(x[:, c], max_lag, n_bins)
        inner = (ami[1:-1] < ami[:-2]) & (ami[1:-1] <= ami[2:])
        minima = np.flatnonzero(inner) + 1
        if minima.size:
            delays.append(int(minima[0]))
    if not delays:
        return acf_lag, "autocorrelation"
    return max(1, int(np.median(delays))), "ami"


def mean_period(x: ArrayLike) -> float:
    """Mean period of the series, samples: 1 / the power-weighted mean frequency.

    The spectrum is Welch's estimate summed over channels (DC excluded). This is the Theiler
    window Rosenstein et al. (1993) recommend.
    """
    x = _as_2d(x)
    f, pxx = signal.welch(x, fs=1.0, nperseg=min(x.shape[0], 4096), axis=0, detrend="constant")
    power = pxx.sum(axis=1)[1:]
    f = f[1:]
    if power.sum() <= 0:
        return 1.0
    return float(1.0 / (np.sum(f * power) / power.sum()))


def lowpass_oversampled(
    x: ArrayLike, *, power_fraction: float = 0.99, factor: float = 2.0, max_cutoff: float = 0.25
) -> tuple[FloatArray, float | None]:
    """Low-pass filter an oversampled series to remove observation noise above its band.

    The cutoff is ``factor`` times the frequency below which ``power_fraction`` of the power
    lies (Welch spectrum summed over channels). Flows sampled finely (Lorenz-63 at dt = 0.01)
    keep almost all their power far below Nyquist while white observation noise spreads over the
    whole band, so this removes most of the noise and little of the dynamics. Series whose
    cutoff would exceed ``max_cutoff`` (cycles/sample; maps, coarsely sampled data) are returned
    unchanged. The filter is a zero-phase 4th-order Butterworth (``scipy.signal.sosfiltfilt``).

    Returns
    -------
    x : array, shape (time, channels)
    cutoff : float or None
        Cutoff frequency, cycles/sample; None when no filter was applied.
    """
    a = _as_2d(x)
    f, pxx = signal.welch(a, fs=1.0, nperseg=min(a.shape[0], 4096), axis=0)
    power = pxx.sum(axis=1)
    cum = np.cumsum(power) / max(power.sum(), np.finfo(float).tiny)
    cutoff = factor * float(f[min(np.searchsorted(cum, power_fraction), f.size - 1)])
    if cutoff >= max_cutoff or cutoff <= 0:
        return a, None
    sos = signal.butter(4, cutoff, fs=1.0, output="sos")
    return signal.sosfiltfilt(sos, a, axis=0), cutoff


def _embedding_rows(n: int, delay: int, max_dim: int) -> int:
    return n - max_dim * delay


def _cao_or_fnn_distances(
    x: FloatArray, delay: int, dims: range, theiler: int, n_refs: int, p: float, seed: int
):
    """Yield (dim, dist_d, extra) for each dim: nearest-neighbour distance in ``dim`` and the
    distance of the same pair in the added coordinates (one more lag of every channel)."""
    n_rows = _embedding_rows(x.shape[0], delay, dims[-1])
    rng = np.random.default_rng(seed)
    refs = np.sort(rng.choice(n_rows, size=min(n_rows, n_refs), replace=False))
    for d in dims:
        y = delay_embed(x, delay, d)[:n_rows]
        tree = cKDTree(y)
        idx, dist = theiler_neighbors(tree, y, refs, n_neighbors=1, theiler=theiler, p=p)
        j = idx[:, 0]
        ok = j >= 0
        i, j, dist_d = refs[ok], j[ok], dist[ok, 0]
        diff = x[i + d * delay] - x[j + d * delay]
        extra = np.max(np.abs(diff), axis=1) if np.isinf(p) else np.linalg.norm(diff, axis=1)
        yield d, dist_d, extra


def cao_dimension(
    x: ArrayLike,
    delay: int,
    *,
    max_dim: int = 10,
    threshold: float = 0.9,
    theiler: int | None = None,
    n_refs: int = 4000,
    seed: int = 0,
) -> tuple[int, FloatArray]:
    """Embedding dimension by Cao's method (Cao 1997, Physica D 110:43).

    E(d) is the mean ratio of a point's nearest-neighbour distance in dimension d + 1 to that
    in d (maximum norm, neighbour found in d); E1(d) = E(d + 1) / E(d) stops changing (tends to
    1) once d embeds the attractor. The chosen dimension is the first d with
    E1(d) >= ``threshold``, else the d where E1 is largest.

    Parameters
    ----------
    x : array, shape (time,) or (time, channels)
        Several channels are embedded jointly (each gets d lags).
    delay : int
        Samples.
    max_dim : int
        Largest dimension (lags per channel) considered.
    theiler : int, optional
        Temporal neighbours excluded, samples (default: the mean period).
    n_refs : int
        Reference points (random, seeded) used for the averages.

    Returns
    -------
    dim : int
        Lags per channel.
    e1 : array, shape (max_dim,)
        E1(d) for d = 1 .. max_dim.
    """
    x = _as_2d(x)
    if theiler is None:
        theiler = round(mean_period(x))
    e = []
    for _, dist_d, extra in _cao_or_fnn_distances(
        x, delay, range(1, max_dim + 2), theiler, n_refs, np.inf, seed
    ):
        ok = dist_d > 0
        e.append(float(np.mean(np.maximum(dist_d[ok], extra[ok]) / dist_d[ok])))
    e_arr = np.asarray(e)
    e1 = e_arr[1:] / e_arr[:-1]
    above = np.flatnonzero(e1 >= threshold)
    dim = int(above[0]) + 1 if above.size else int(np.argmax(e1)) + 1
    return dim, e1


def fnn_dimension(
    x: ArrayLike,
    delay: int,
    *,
    max_dim: int = 10,
    rtol: float = 15.0,
    atol: float = 2.0,
    threshold: float = 0.02,
    theiler: int | None = None,
    n_refs: int = 4000,
    seed: int = 0,
) -> tuple[int, FloatArray]:
    """Embedding dimension by false nearest neighbours (Kennel, Brown & Abarbanel 1992).

    A neighbour in dimension d is false if the added coordinates separate it by more than
    ``rtol`` times its distance, or by more than ``atol`` times the attractor size (std).
    The dimension is the first d whose fraction of false neighbours is below ``threshold``
    or within 0.01 of the smallest fraction found (noise keeps the fraction from reaching
    ``threshold``; its floor then marks the embedding).

    Returns
    -------
    dim : int
        Lags per channel.
    fraction : array, shape (max_dim,)
        Fraction of false neighbours for d = 1 .. max_dim.
    """
    x = _as_2d(x)
    if theiler is None:
        theiler = round(mean_period(x))
    size = float(np.sqrt(np.sum(x.var(axis=0))))
    frac = []
    for _, dist_d, extra in _cao_or_fnn_distances(
        x, delay, range(1, max_dim + 1), theiler, n_refs, 2.0, seed
    ):
        dist_next = np.sqrt(dist_d**2 + extra**2)
        false = (extra > rtol * dist_d) | (dist_next > atol * size)
        frac.append(float(np.mean(false)))
    frac_arr = np.asarray(frac)
    below = np.flatnonzero(frac_arr < max(threshold, float(frac_arr.min()) + 0.01))
    dim = int(below[0]) + 1
    return dim, frac_arr


@dataclass
class Embedding:
    """A reconstructed state space and how it was made.

    Attributes
    ----------
    points : array, shape (n_points, n_coords)
        Row r is the state at time index ``r + offset`` (its newest coordinate).
    delay : int
        Samples between lags.
    dim : int
        Lags per channel (1: no delay embedding).
    n_channels : int
        Channels that were embedded (raw channels, or principal components if ``pca``).
    pca : bool
        Whether the leading principal components replaced the channels.
    explained_variance : array or None
        Variance fraction of each kept component.
    delay_method, dim_method : str
        How delay and dim were chosen (``"ami"``, ``"autocorrelation"``, ``"cao"``, ``"fnn"``,
        ``"given"``, ``"none"``).
    mean_period : float
        Mean period of the embedded channels, samples.
    criterion : array or None
        Cao's E1(d) or the FNN fraction per d.
    lowpass_cutoff : float or None
        Cutoff (cycles/sample) of the noise low-pass applied first, None if none.
    channels : array, shape (time, n_channels), optional
        The series that was delay-embedded (after z-scoring, PCA and the low-pass); the
        surrogate test rebuilds its state spaces from it.
    noise_reduction : dict or None
        What :func:`~neurodsr.dynamics.noise_reduction.denoise_embedding` did to ``channels``
        (None: nothing; :func:`embed_for_lyapunov` never applies it).
    """

    points: FloatArray
    delay: int
    dim: int
    n_channels: int
    pca: bool
    explained_variance: FloatArray | None
    delay_method: str
    dim_method: str
    mean_period: float
    criterion: FloatArray | None = field(default=None, repr=False)
    lowpass_cutoff: float | None = None
    channels: FloatArray | None = field(default=None, repr=False)
    noise_reduction: dict[str, Any] | None = None

    @property
    def newest_columns(self) -> NDArray[np.int64]:
        """Columns of ``points`` holding each channel's newest (lag 0) coordinate."""
        return np.arange(self.n_channels, dtype=np.int64) * self.dim

    @property
    def offset(self) -> int:
        """Time index (samples) of the newest coordinate of row 0."""
        return (self.dim - 1) * self.delay

    def summary(self) -> dict[str, Any]:
        """JSON-able description (no points)."""
        return {
            "delay": int(self.delay),
            "dim": int(self.dim),
            "n_channels": int(self.n_channels),
            "n_coords": int(self.points.shape[1]),
            "pca": bool(self.pca),
            "explained_variance": (
                None
                if self.explained_variance is None
                else [round(float(v), 6) for v in self.explained_variance]
            ),
            "delay_method": self.delay_method,
            "dim_method": self.dim_method,
            "mean_period_samples": float(self.mean_period),
            "lowpass_cutoff_per_sample": (
                None if self.lowpass_cutoff is None else float(self.lowpass_cutoff)
            ),
            "noise_reduction": self.noise_reduction,
        }


def embed_for_lyapunov(
    x: ArrayLike,
    *,
    delay: int | None = None,
    dim: int | None = None,
    dim_method: Literal["cao", "fnn"] = "fnn",
    max_dim: int = 10,
    max_coords: int = 12,
    max_channels: int = 3,
    n_components: int | None = None,
    variance: float = 0.9,
    max_components: int = 10,
    standardize: bool = True,
    lowpass: bool = True,
    seed: int = 0,
) -> Embedding:
    """Reconstruct a state space from a recording for Lyapunov estimation.

    Parameters
    ----------
    x : array, shape (time,) or (time, channels)
        Evenly sampled recording.
    delay, dim : int, optional
        Fix the delay (samples) or the number of lags per channel instead of estimating them.
    dim_method : {"fnn", "cao"}
        Dimension estimator. False nearest neighbours is the default: Cao's E1 finds its
        neighbours at the smallest scales and overestimates the dimension under observation
        noise (Lorenz-63 x with 5 % noise: 7 instead of 3).
    max_dim : int
        Largest number of lags per channel considered.
    max_coords : int
        Largest total number of coordinates (channels x lags) considered.
    max_channels : int
        Recordings with more channels are replaced by their leading principal components.
    n_components : int, optional
        Number of principal components kept; default: enough for ``variance``, at most
        ``max_components``.
    variance : float
        Fraction of variance the kept components explain (used when ``n_components`` is None).
    standardize : bool
        z-score each channel first (channels in different units become comparable).
    lowpass : bool
        Remove noise above the signal band of oversampled series first
        (:func:`lowpass_oversampled`; a no-op for maps and coarsely sampled data).
    seed : int
        Seed of the reference points subsampled by Cao/FNN.

    Returns
    -------
    Embedding
    """
    a = _as_2d(x)
    if standardize:
        a = _standardize(a)
    use_pca = a.shape[1] > max_channels or n_components is not None
    explained = None
    if use_pca:
        if n_components is None:
            _, _, frac = pca(a, variance=variance)
            n_components = min(len(frac), max_components)
        scores, _, explained = pca(a, n_components=n_components)
        a = scores
    cutoff = None
    if lowpass:
        a, cutoff = lowpass_oversampled(a)
    period = mean_period(a)
    delay_method = "given"
    if delay is None:
        delay, delay_method = ami_delay(a)
    dim_limit = max(1, min(max_dim, max_coords // a.shape[1]))
    # rows needed for the dimension search
    dim_limit = max(1, min(dim_limit, (a.shape[0] // 4) // max(delay, 1)))
    criterion = None
    dim_used = "given"
    if dim is None:
        if dim_limit <= 1:
            dim, dim_used = 1, "none"
        else:
            theiler = round(period)
            if dim_method == "cao":
                dim, criterion = cao_dimension(
                    a, delay, max_dim=dim_limit, theiler=theiler, seed=seed
                )
            elif dim_method == "fnn":
                dim, criterion = fnn_dimension(
                    a, delay, max_dim=dim_limit, theiler=theiler, seed=seed
                )
            else:
                raise ValueError(f"dim_method must be 'cao' or 'fnn', got {dim_method!r}")
            dim_used = dim_method
    points = delay_embed(a, delay, dim)
    return Embedding(
        points=np.ascontiguousarray(points, dtype=np.float64),
        delay=int(delay),
        dim=int(dim),
        n_channels=a.shape[1],
        pca=use_pca,
        explained_variance=explained,
        delay_method=delay_method,
        dim_method=dim_used,
        mean_period=period,
        criterion=criterion,
        lowpass_cutoff=cutoff,
        channels=np.ascontiguousarray(a, dtype=np.float64),
    )
