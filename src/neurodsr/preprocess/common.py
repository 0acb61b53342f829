"""Steps shared by every modality: z-scoring, PCA, delay embedding, train/test split."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["delay_embed", "pca"]


def delay_embed(x: ArrayLike, delay: int, dim: int) -> NDArray[np.floating]:
    """Delay-embed a series.

    Parameters
    ----------
    x : array, shape (time,) or (time, channels)
    delay : int
        Lag between embedding coordinates, in samples (>= 1).
    dim : int
        Embedding dimension m (>= 1): number of lagged copies of each channel.

    Returns
    -------
    array, shape (time - (dim - 1) * delay, channels * dim)
        Row t holds ``x[t + (dim-1)*delay], x[t + (dim-2)*delay], ..., x[t]`` (newest first)
        for each channel; channel-major: columns ``[c0 lag0, c0 lag1, ..., c1 lag0, ...]``.
    """
    x = np.asarray(x)
    if x.ndim == 1:
        x = x[:, None]
    if delay < 1 or dim < 1:
        raise ValueError(f"delay and dim must be >= 1, got delay={delay}, dim={dim}")
    n = x.shape[0] - (dim - 1) * delay
    if n < 1:
        raise ValueError(
            f"series of {x.shape[0]} samples is too short for dim={dim}, delay={delay}: "
            f"needs more than {(dim - 1) * delay} samples"
        )
    start = (dim - 1) * delay
    cols = [x[start - j * delay : start - j * delay + n] for j in range(dim)]
    return np.stack(cols, axis=2).reshape(n, -1)


def pca(
    x: ArrayLike, n_components: int | None = None, variance: float | None = None
) -> tuple[NDArray[np.floating], NDArray[np.floating], NDArray[np.floating]]:
    """Principal components of ``x`` (time, channels) by SVD of the centred data.

    Give ``n_components`` or a ``variance`` fraction in (0, 1] (the smallest number of
    components explaining at least that fraction); neither keeps all.

    Returns
    -------
    scores : array (time, k)
        The projections of the centred data.
    loadings : array (k, channels)
        Unit-norm component directions; ``x ~ scores @ loadings + mean``.
    explained : array (k,)
        Fraction of the total variance each kept component explains.
    """
    x = np.asarray(x, dtype=np.float64)
    xc = x - x.mean(axis=0)
    _, s, vt = np.linalg.svd(xc, full_matrices=False)
    var = s**2
    frac = var / var.sum() if var.sum() > 0 else np.zeros_like(var)
    k = len(s)
    if n_components is not None:
        k = min(int(n_components), k)
    elif variance is not None:
        if not 0 < variance <= 1:
            raise ValueError(f"variance must be in (0, 1], got {variance}")
        k = int(np.searchsorted(np.cumsum(frac), variance - 1e-12) + 1)
        k = min(k, len(s))
    loadings = vt[:k]
    return xc @ loadings.T, loadings, frac[:k]
