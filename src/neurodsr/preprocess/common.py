"""Steps shared by every modality: z-scoring, PCA, delay embedding, train/test split."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import xarray as xr
from numpy.typing import ArrayLike, NDArray

from neurodsr.errors import InputError

__all__ = [
    "check_length",
    "delay_embed",
    "find_constant",
    "fit_transform",
    "inverse_transform",
    "pca",
    "split_index",
    "zscore_fit",
]


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


def check_length(
    n_samples: int,
    required: int,
    *,
    dt: float | None = None,
    what: str = "the requested model",
    file: str | os.PathLike[str] | None = None,
    session: str | None = None,
    hint: str | None = None,
) -> None:
    """Raise InputError if a series of ``n_samples`` steps is shorter than ``required``.

    Parameters
    ----------
    n_samples : int
        Steps available.
    required : int
        Steps needed.
    dt : float, optional
        Step, s; the message then also gives both lengths in seconds.
    what : str
        What needs the length (e.g. "training windows of 200 steps"), for the message.
    """
    if n_samples >= required:
        return

    def span(n: int) -> str:
        return f"{n} samples" + (f" ({n * dt:.3g} s at dt = {dt:g} s)" if dt else "")

    raise InputError(
        f"recording too short: it has {span(n_samples)} but {what} needs at least {span(required)}",
        file=file,
        session=session,
        hint=hint
        or "use a longer recording, a smaller dt, or ask for less "
        "(shorter windows / smaller embedding / larger train_fraction)",
    )


def split_index(n_samples: int, train_fraction: float) -> int:
    """Number of leading steps in the training part of a contiguous train/test split."""
    n_train = int(np.floor(n_samples * float(train_fraction)))
    return min(max(n_train, 1), n_samples - 1) if n_samples > 1 else n_samples


def find_constant(
    x: ArrayLike, names: Sequence[str], tolerance: float = 1e-6
) -> list[dict[str, str]]:
    """Channels of ``x`` (time, channel) that are constant: std 0 or below ``tolerance`` x the
    median channel std. Returns ``[{"channel": name, "reason": ...}, ...]``."""
    x = np.asarray(x)
    std = np.nanstd(x, axis=0)
    ref = float(np.median(std[std > 0])) if np.any(std > 0) else 0.0
    out = []
    for name, s in zip(names, std, strict=True):
        if s == 0 or s < tolerance * ref:
            out.append({"channel": str(name), "reason": f"constant (std {s:.3g})"})
    return out


def zscore_fit(x_train: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per-channel mean and std (ddof 0) of the training part ``x_train`` (time, channel)."""
    x_train = np.asarray(x_train, dtype=np.float64)
    return x_train.mean(axis=0), x_train.std(axis=0)


def fit_transform(
    values: ArrayLike,
    time: ArrayLike,
    channels: Sequence[str],
    *,
    dt: float,
    train_fraction: float = 0.8,
    zscore: bool = True,
    pca_components: int | None = None,
    pca_variance: float | None = None,
    embed_dim: int = 1,
    embed_delay: int = 1,
    min_train_samples: int = 1,
    file: str | os.PathLike[str] | None = None,
    session: str | None = None,
) -> xr.Dataset:
    """Split, z-score, PCA and delay-embed a (time, channel) series at step ``dt``.

    Every transform is fitted on the training part only (the first ``n_train`` rows).

    Parameters
    ----------
    values : array (time, channel)
    time : array (time,)
        s.
    channels : sequence of str
    dt : float
        Step of the series, s.

    Returns
    -------
    xarray.Dataset
        ``x(time, dim)`` float32, ``mean(channel)``, ``std(channel)``, ``loadings(dim,
        channel)`` and ``explained_variance(dim)`` when PCA; non-index coords ``source(dim)``
        (the PC or channel a dim copies) and ``lag(dim)`` (steps back, 0 = current); attrs
        ``dt``, ``n_train``, and ``embedding_delay`` / ``embedding_dim`` when embedded.
        Use :func:`inverse_transform` to map model output back to channels.
    """
    values = np.asarray(values, dtype=np.float64)
    time = np.asarray(time, dtype=np.float64)
    n, n_ch = values.shape
    shift = (embed_dim - 1) * embed_delay
    needed = int(np.ceil((min_train_samples + shift) / train_fraction)) + 1
    check_length(
        n,
        max(needed, shift + 2),
        dt=dt,
        what=f"a training part of {min_train_samples} steps (train_fraction {train_fraction}"
        + (f", embedding {embed_dim} x {embed_delay} steps" if shift else "")
        + ")",
        file=file,
        session=session,
    )
    n_train = split_index(n, train_fraction)
    if zscore:
        mean, std = zscore_fit(values[:n_train])
        bad = np.flatnonzero(std == 0)
        if bad.size:
            raise InputError(
                "channel(s) constant over the training part: "
                + ", ".join(str(channels[i]) for i in bad),
                file=file,
                session=session,
                hint="drop them, or use a larger train_fraction",
            )
    else:
        mean, std = np.zeros(n_ch), np.ones(n_ch)
    z = (values - mean) / std
    coords: dict[str, object] = {"channel": ("channel", np.asarray(channels, dtype=str))}
    data_vars: dict[str, object] = {
        "mean": ("channel", mean),
        "std": ("channel", std),
    }
    attrs: dict[str, object] = {}
    if pca_components is not None or pca_variance is not None:
        _, loadings, explained = pca(
            z[:n_train], n_components=pca_components, variance=pca_variance
        )
        # The training part is centred by the z-scoring, so the projection needs no centring
        # (x = z @ loadings.T and z ~ x @ loadings exactly in the span of the loadings).
        y = z @ loadings.T
        base_names = [f"pc{i}" for i in range(loadings.shape[0])]
    else:
        loadings = explained = None
        y = z
        base_names = [str(c) for c in channels]
    if shift:
        y = delay_embed(y, embed_delay, embed_dim)
        dim_names = [f"{b}_lag{j * embed_delay}" for b in base_names for j in range(embed_dim)]
        source = [b for b in base_names for _ in range(embed_dim)]
        lag = [j * embed_delay for _ in base_names for j in range(embed_dim)]
        time = time[shift:]
        n_train -= shift
        attrs["embedding_delay"] = int(embed_delay)
        attrs["embedding_dim"] = int(embed_dim)
    else:
        dim_names, source, lag = base_names, base_names, [0] * len(base_names)
    coords["time"] = ("time", time, {"units": "s"})
    coords["dim"] = ("dim", np.asarray(dim_names, dtype=str))
    coords["source"] = ("dim", np.asarray(source, dtype=str))
    coords["lag"] = ("dim", np.asarray(lag, dtype=np.int32))
    data_vars["x"] = (("time", "dim"), y.astype(np.float32))
    if loadings is not None:
        rows = [base_names.index(s) for s in source]
        data_vars["loadings"] = (("dim", "channel"), loadings[rows])
        data_vars["explained_variance"] = ("dim", explained[rows])
    attrs["dt"] = float(dt)
    attrs["n_train"] = int(n_train)
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)


def inverse_transform(x: ArrayLike, preprocessed: xr.Dataset) -> NDArray[np.float64]:
    """Map model output in the space of ``preprocessed.x`` back to channel space.

    Parameters
    ----------
    x : array (..., time, dim)
        Values over the dims of ``preprocessed.x`` (e.g. a free-running model trajectory).
    preprocessed : xarray.Dataset
        The preprocessed dataset (holds ``mean``, ``std``, optional ``loadings``, ``lag``).

    Returns
    -------
    array (..., time, channel)
        In the recording's units (e.g. uV, Hz, dF/F): the current (lag-0) copy of every
        embedded coordinate, projected back through the PCA loadings, times std plus mean.
    """
    x = np.asarray(x, dtype=np.float64)
    n_dim = preprocessed.sizes["dim"]
    if x.shape[-1] != n_dim:
        raise ValueError(f"x has {x.shape[-1]} dims, the preprocessed data has {n_dim}")
    lag = preprocessed["lag"].values if "lag" in preprocessed.coords else np.zeros(n_dim, int)
    current = np.flatnonzero(lag == 0)
    x0 = x[..., current]
    if "loadings" in preprocessed:
        z = x0 @ preprocessed["loadings"].values[current]
    else:
        z = x0
    return z * preprocessed["std"].values + preprocessed["mean"].values
