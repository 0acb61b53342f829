"""Surrogate data: series that keep the spectrum (and amplitude distribution) of a recording but
destroy its nonlinear, deterministic structure.

- :func:`iaaft`: iterative amplitude-adjusted Fourier transform surrogates (Schreiber &
  Schmitz 1996, Phys. Rev. Lett. 77:635): the same power spectrum and the same values as the
  data, any nonlinear structure removed. The null hypothesis is a linear Gaussian process seen
  through a static, monotonic measurement function.
- Several channels get the same random phases (Prichard & Theiler 1994, Phys. Rev. Lett.
  73:951), so that cross-spectra (linear correlations between channels) are kept too.

Written by hand: scipy has no surrogate generator, and the packages that do (nolitsa,
pyunicorn) are unmaintained or heavy; IAAFT is twenty lines of FFTs.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["iaaft", "rank_test"]

FloatArray = NDArray[np.float64]


def iaaft(
    x: ArrayLike,
    n_surrogates: int = 19,
    *,
    n_iter: int = 50,
    seed: int = 0,
) -> FloatArray:
    """IAAFT surrogates of a (multichannel) series.

    Parameters
    ----------
    x : array, shape (time,) or (time, channels)
    n_surrogates : int
        Number of surrogates.
    n_iter : int
        Iterations of spectrum and amplitude adjustment (stops early when the ranks stop
        changing).
    seed : int
        Seed of the random phases.

    Returns
    -------
    array, shape (n_surrogates, time, channels)
        Each surrogate holds exactly the values of ``x`` (per channel, reordered) and has
        nearly its power spectrum; the random phases are shared across channels.
    """
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    n, c = a.shape
    rng = np.random.default_rng([seed, 97])
    amp = np.abs(np.fft.rfft(a, axis=0))
    sorted_vals = np.sort(a, axis=0)
    out = np.empty((n_surrogates, n, c))
    cols = np.arange(c)[None, :]

    def ranks_of(y: FloatArray) -> NDArray[np.int64]:
        order = np.argsort(y, axis=0)
        r = np.empty_like(order)
        np.put_along_axis(r, order, np.arange(n)[:, None], axis=0)
        return r

    for s in range(n_surrogates):
        phases = rng.uniform(0, 2 * np.pi, size=(amp.shape[0], 1))
        phases[0] = 0.0
        spec = np.fft.rfft(a, axis=0)
        y = np.fft.irfft(amp * np.exp(1j * (np.angle(spec) + phases)), n=n, axis=0)
        ranks = ranks_of(y)
        y = sorted_vals[ranks, cols]
        for _ in range(n_iter):
            spec = np.fft.rfft(y, axis=0)
            y = np.fft.irfft(amp * np.exp(1j * np.angle(spec)), n=n, axis=0)
            new = ranks_of(y)
            y = sorted_vals[new, cols]
            if np.array_equal(new, ranks):
                break
            ranks = new
        out[s] = y
    return out


def rank_test(statistic: float, surrogate_stats: ArrayLike, *, larger: bool = True) -> float:
    """One-sided rank p-value of ``statistic`` against its surrogate distribution.

    p = (1 + #{surrogates at least as extreme}) / (1 + n_surrogates): with 19 surrogates the
    smallest possible p is 0.05 (data more extreme than every surrogate).

    Parameters
    ----------
    larger : bool
        True: extreme means larger than the surrogates.
    """
    s = np.asarray(surrogate_stats, dtype=np.float64)
    s = s[np.isfinite(s)]
    if not np.isfinite(statistic) or s.size == 0:
        return float("nan")
    extreme = np.sum(s >= statistic) if larger else np.sum(s <= statistic)
    return float((1 + extreme) / (1 + s.size))
