"""Nonlinear noise reduction of a recording before its Lyapunov exponents are estimated.

Observation noise shrinks both data estimators of lambda_max: the divergence curve (Kantz)
starts from a noise floor and rises less before it saturates, and the local-Jacobian fits
regress on noisy regressors (errors-in-variables attenuation). Schreiber's simple nonlinear
noise reduction (Schreiber 1993, Phys. Rev. E 47:2401; Kantz & Schreiber, *Nonlinear Time
Series Analysis*, 2nd ed., section 10.3.2) removes part of that noise using only the
determinism of the data: in a delay embedding that looks ``half_window`` lags into the past
*and* the future of each sample, the sample is replaced by the mean of the same (middle)
coordinate over the states within a distance ``eps`` (maximum norm; the nearest
``max_neighbors`` of them, for speed). For a deterministic
series the neighbours' middle coordinates scatter around the clean value, so their mean is
closer to it; for a linear stochastic process it is a conditional mean, i.e. a smoothing.

The neighbourhood radius comes from the noise level estimated on the data, not assumed:
:func:`noise_level` takes the root-mean-square difference between each middle coordinate and
its neighbours' mean over a fixed number of nearest neighbours found on the past and future
coordinates alone (a local-constant interpolation of the sample from its past and future;
found on the sample too, the neighbours would be chosen by its noise and the level come out
several times too small), and ``eps`` is ``radius`` (2) times it,
as Schreiber advises (2-3 noise amplitudes). Each of ``iterations`` passes re-estimates the
(now smaller) level and shrinks the radius with it.

Written by hand: the maintained Python packages do not provide it (nolds and neurokit2 have no
noise reduction; nolitsa, which has this method, is not released on PyPI and unmaintained since
2017; pytisean only wraps the TISEAN binaries of 2000). Samples, delays and windows in samples;
the series is assumed z-scored per channel (as :func:`~neurodsr.dynamics.embedding.
embed_for_lyapunov` makes it), the noise level is in the same units.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.spatial import cKDTree

from neurodsr.dynamics.embedding import Embedding
from neurodsr.preprocess.common import delay_embed

__all__ = ["NoiseReduction", "denoise_embedding", "noise_level", "simple_noise_reduction"]

FloatArray = NDArray[np.float64]

#: Elements per neighbour-index array of one chunk of queries (memory linear in N).
_CHUNK_ELEMENTS = 1 << 21


@dataclass(frozen=True)
class NoiseReduction:
    """What :func:`simple_noise_reduction` did.

    Attributes
    ----------
    x : array, shape (time, channels)
        The cleaned series.
    noise_levels : array, shape (iterations, channels)
        Estimated noise level (std, units of the input) before each pass.
    eps : array, shape (iterations,)
        Neighbourhood radius of each pass (maximum norm, units of noise levels).
    corrected : array, shape (iterations,)
        Fraction of samples that had at least one neighbour besides themselves in each pass.
    half_window : int
        Lags on each side of the middle sample.
    delay : int
        Samples between lags.
    """

    x: FloatArray
    noise_levels: FloatArray
    eps: FloatArray
    corrected: FloatArray
    half_window: int
    delay: int

    def summary(self) -> dict[str, object]:
        """JSON-able (no series)."""
        return {
            "method": "simple (Schreiber 1993)",
            "half_window": int(self.half_window),
            "delay": int(self.delay),
            "iterations": int(self.eps.size),
            "noise_level": [[round(float(v), 6) for v in row] for row in self.noise_levels],
            "eps": [round(float(v), 6) for v in self.eps],
            "corrected_fraction": [round(float(v), 4) for v in self.corrected],
        }


def _windows(x: FloatArray, delay: int, half: int) -> FloatArray:
    """Rows: states x[t + j delay], j = -half..half, channel-major; row r is time r + half delay."""
    n = x.shape[0] - 2 * half * delay
    cols = [x[j * delay : j * delay + n] for j in range(2 * half + 1)]  # (n, C) each
    return np.stack(cols, axis=2).reshape(n, -1)


def _neighbour_means(
    z: FloatArray,
    mid: NDArray[np.int64],
    *,
    k: int | None = None,
    eps: float | None = None,
    max_neighbors: int = 8,
    workers: int = -1,
) -> tuple[FloatArray, NDArray[np.int64]]:
    """Mean of the middle columns over each row's neighbourhood (the row itself included):
    the k nearest rows, or all rows within ``eps`` (at most ``max_neighbors``), maximum norm.
    Returns the means (n, len(mid)) and the neighbour counts (n,)."""
    tree = cKDTree(z)
    n = z.shape[0]
    kk = (k if k is not None else max_neighbors) + 1
    kk = min(kk, n)
    out = np.empty((n, mid.size))
    counts = np.empty(n, dtype=np.int64)
    zm = np.ascontiguousarray(z[:, mid])  # gather the middle columns only
    chunk = max(1, _CHUNK_ELEMENTS // kk)
    bound = np.inf if eps is None else eps
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        d, idx = tree.query(z[lo:hi], k=kk, p=np.inf, distance_upper_bound=bound, workers=workers)
        d = d.reshape(hi - lo, -1)
        idx = idx.reshape(hi - lo, -1)
        ok = np.isfinite(d)
        safe = np.where(ok, idx, 0)
        vals = zm[safe] * ok[..., None]
        cnt = ok.sum(axis=1)
        out[lo:hi] = vals.sum(axis=1) / cnt[:, None]
        counts[lo:hi] = cnt
    return out, counts


def noise_level(
    x: ArrayLike,
    delay: int = 1,
    half_window: int = 1,
    *,
    k: int = 10,
    max_queries: int = 5000,
    workers: int = -1,
) -> FloatArray:
    """Observation-noise level of each channel from the series' own determinism.

    Each sample is compared with the mean of the middle coordinate over its ``k`` nearest
    neighbours in the past-and-future delay embedding (:func:`simple_noise_reduction`'s
    space), the neighbours chosen on the past and future coordinates alone; the
    root-mean-square difference, times sqrt(k / (k + 1)) (the mean carries noise too),
    estimates the noise standard deviation. For deterministic data sampled
    densely enough this is close to the noise level (slightly above it: the neighbourhoods'
    extent adds to it); for a stochastic series it is the size of what past and future
    cannot predict.

    Parameters
    ----------
    x : array, shape (time,) or (time, channels)
    delay : int
        Samples between lags.
    half_window : int
        Lags on each side of the middle sample.
    k : int
        Nearest neighbours (besides the sample itself).
    max_queries : int
        At most this many samples (evenly spread) are compared.
    workers : int
        KD-tree query threads (-1: all cores).

    Returns
    -------
    array, shape (channels,)
        Noise standard deviation per channel, units of x.
    """
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    c = a.shape[1]
    z = _windows(a, delay, half_window)
    w = 2 * half_window + 1
    mid = np.arange(c) * w + half_window
    # neighbours chosen on the past and future only: chosen on the sample too, they would be
    # chosen by its noise, and the level would come out several times too small
    rest = np.setdiff1d(np.arange(c * w), mid)
    tree = cKDTree(z[:, rest])
    n = z.shape[0]
    # a mean over at most max_queries samples (evenly spread) is precise enough and keeps the
    # cost flat in N
    q = np.unique(np.linspace(0, n - 1, min(n, max_queries)).astype(np.int64))
    _, idx = tree.query(z[q][:, rest], k=k + 1, p=np.inf, workers=workers)
    nb = z[idx[:, 1:]][:, :, mid]  # (q, k, C): the neighbours, the sample itself left out
    sq = ((z[q][:, mid] - nb.mean(axis=1)) ** 2).mean(axis=0)
    # the neighbours' mean carries noise of variance sigma^2 / k as well
    return np.sqrt(sq * k / (k + 1))


def simple_noise_reduction(
    x: ArrayLike,
    delay: int = 1,
    half_window: int = 1,
    *,
    iterations: int = 2,
    radius: float = 2.0,
    k_level: int = 10,
    max_neighbors: int = 8,
    workers: int = -1,
) -> NoiseReduction:
    """Schreiber's simple nonlinear noise reduction (see the module docstring).

    Parameters
    ----------
    x : array, shape (time,) or (time, channels)
        Evenly sampled, z-scored recording (channels in comparable units).
    delay : int
        Samples between lags of the past-and-future embedding (>= 1).
    half_window : int
        Lags on each side of the sample (>= 1): the embedding has ``2 half_window + 1`` lags
        per channel.
    iterations : int
        Passes (>= 1); each re-estimates the noise level.
    radius : float
        Neighbourhood radius in noise levels (maximum norm, each channel scaled by its own
        level): 2, after Schreiber (2-3).
    k_level : int
        Nearest neighbours of the noise-level estimate (:func:`noise_level`).
    max_neighbors : int
        At most this many neighbours averaged per sample, the nearest (bounds time and
        memory: the query costs about as many neighbours. 8, 16 and 32 gave Hénon -5, -4, -3 %,
        Lozi -11 % each, logistic r = 3.8 -4, -4, -3 % at 5 % noise; 8 costs half of 16).
    workers : int
        KD-tree query threads (-1: all cores).

    Returns
    -------
    NoiseReduction
        The first and last ``half_window * delay`` samples are left as they were.
    """
    a = np.array(x, dtype=np.float64, copy=True)
    if a.ndim == 1:
        a = a[:, None]
    if delay < 1 or half_window < 1 or iterations < 1:
        raise ValueError("delay, half_window and iterations must be >= 1")
    if a.shape[0] <= 2 * half_window * delay + k_level + 1:
        raise ValueError(f"{a.shape[0]} samples are too few for noise reduction")
    c = a.shape[1]
    w = 2 * half_window + 1
    mid = np.arange(c) * w + half_window
    off = half_window * delay
    levels, epss, frac = [], [], []
    for _ in range(iterations):
        sigma = noise_level(a, delay, half_window, k=k_level, workers=workers)
        # each channel in units of its own noise level (floored: a near-noiseless channel
        # must not dominate the distances)
        scale = np.maximum(sigma, 0.1 * max(float(sigma.max()), 1e-12))
        z = _windows(a / scale, delay, half_window)
        means, counts = _neighbour_means(
            z, mid, eps=radius, max_neighbors=max_neighbors, workers=workers
        )
        a[off : off + z.shape[0]] = means * scale
        levels.append(sigma)
        epss.append(radius)
        frac.append(float((counts > 1).mean()))
    return NoiseReduction(
        x=a,
        noise_levels=np.asarray(levels),
        eps=np.asarray(epss, dtype=float),
        corrected=np.asarray(frac),
        half_window=int(half_window),
        delay=int(delay),
    )


def denoise_embedding(
    embedding: Embedding, *, half_window: int = 2, iterations: int = 2, workers: int = -1
) -> Embedding:
    """The same reconstruction (delay, dim, channels) of the noise-reduced series.

    :func:`simple_noise_reduction` of ``embedding.channels`` at the embedding's delay, then
    delay-embedded again with the same delay and dimension, so that rows and columns mean what
    they meant. Returned unchanged where the series is too short (fewer than
    ``8 half_window delay + 200`` samples) or has no channels.

    Parameters
    ----------
    embedding : Embedding
        As made by :func:`~neurodsr.dynamics.embedding.embed_for_lyapunov`.
    half_window, iterations : int
        See :func:`simple_noise_reduction` (2 lags on each side, 2 passes).
    workers : int
        KD-tree query threads (-1: all cores).

    Returns
    -------
    Embedding
        With ``noise_reduction`` set to what was done.
    """
    a = embedding.channels
    delay = max(1, int(embedding.delay))
    if a is None or a.shape[0] <= 8 * half_window * delay + 200:
        return embedding
    nr = simple_noise_reduction(a, delay, half_window, iterations=iterations, workers=workers)
    return dataclasses.replace(
        embedding,
        points=np.ascontiguousarray(delay_embed(nr.x, delay, embedding.dim), dtype=np.float64),
        channels=np.ascontiguousarray(nr.x),
        noise_reduction=nr.summary(),
    )
