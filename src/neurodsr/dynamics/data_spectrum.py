"""The Lyapunov spectrum of a recording from local Jacobians fitted in the embedding.

Eckmann et al. (1986, Phys. Rev. A 34:4971) and Sano & Sawada (1985, Phys. Rev. Lett.
55:1082): along the recorded orbit, the map y_t -> y_{t+s} is linearised at every visited state
by a least-squares fit over its nearest neighbours (y_{j+s} - y_{t+s} ~ J_t (y_j - y_t)), and the
Jacobians are multiplied with QR re-orthonormalisation, as in Benettin's method on equations.

Here the evolution step s equals the embedding delay: a delay vector then moves by exactly one
lag, so all rows of J_t but the newest coordinate of each channel are a known shift, and only
those rows are fitted (an affine fit with an intercept). That halves the unknowns, keeps the
shift structure exact and avoids fitting the noise in the shifted coordinates.

Exponents per unit time (per step / (s dt)); the number of exponents is the number of
embedding coordinates, of which those beyond the attractor's dimension are spurious (their
values depend on the noise and the curvature); the sum of the true ones is negative for a
dissipative system. Where several channels are embedded with several lags each, the fits are
restricted to the neighbourhoods' leading principal directions (``local_dim``), as many as one
channel needs (its FNN dimension).
Written by hand: no maintained Python package estimates the spectrum from data (nolds'
lyap_e is the Eckmann algorithm on a single channel and is off by 3-100x on the benchmark).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.spatial import cKDTree

from neurodsr.dynamics.embedding import (
    Embedding,
    embed_for_lyapunov,
    fnn_dimension,
    theiler_neighbors,
)
from neurodsr.dynamics.lyapunov import validate_series
from neurodsr.dynamics.noise_reduction import denoise_embedding
from neurodsr.errors import InputError

__all__ = ["DataSpectrum", "spectrum_from_data"]

FloatArray = NDArray[np.float64]

#: Elements of one chunk of local-fit design arrays (reference points x neighbours x (d + 1)):
#: 2e7 float64 = 160 MB, whatever the length of the recording.
_CHUNK_ELEMENTS = 20_000_000


@dataclass
class DataSpectrum:
    """Lyapunov spectrum estimated from a recording.

    Attributes
    ----------
    exponents : array, shape (n_coords,)
        Per unit time, descending; mean over the chains.
    std : array, shape (n_coords,)
        Spread (standard deviation) over the chains, per unit time.
    per_chain : array, shape (n_chains, n_coords)
    lambda_se : float
        Standard error of the leading exponent, per unit time: the spread of its value over
        contiguous blocks of the chains / sqrt(blocks) (NaN with too short chains).
    dt : float
        Sampling interval.
    evolve : int
        Evolution step s of the fitted maps, samples.
    n_neighbors : int
        Neighbours per local fit.
    embedding : dict
        :meth:`Embedding.summary`.
    """

    exponents: FloatArray
    std: FloatArray
    per_chain: FloatArray
    lambda_se: float
    dt: float
    evolve: int
    n_neighbors: int
    embedding: dict[str, Any]

    @property
    def lambda_max(self) -> float:
        """Largest exponent, per unit time."""
        return float(self.exponents[0])

    def summary(self) -> dict[str, Any]:
        """JSON-able."""
        return {
            "method": "spectrum",
            "exponents": [float(v) for v in self.exponents],
            "exponents_std": [float(v) for v in self.std],
            "lambda_max": float(self.exponents[0]),
            "lambda_max_se": float(self.lambda_se) if np.isfinite(self.lambda_se) else None,
            "sum": float(self.exponents.sum()),
            "dt": float(self.dt),
            "evolve_steps": int(self.evolve),
            "n_neighbors": int(self.n_neighbors),
            "n_chains": int(self.per_chain.shape[0]),
            "embedding": self.embedding,
        }


def _channel_dimension(embedding: Embedding, seed: int) -> int | None:
    """Coordinates one channel needs to unfold the attractor: the median over the embedded
    channels of each one's own FNN dimension (at the joint delay); None where it cannot
    matter (one channel, or no delay embedding) or cannot be computed.

    Each channel alone determines the state (Takens), so a joint embedding of several
    channels with several lags each is larger than the attractor needs. Its extra
    coordinates add directions in which the neighbourhoods are thin (the attractor's
    curvature, not its dynamics); local linear fits turn them into spurious exponents, often
    near 2 lambda_1, above the true one (Sauer, Tempkin & Yorke 1998, Phys. Rev. Lett.
    81:4341). The local fits are then restricted to this many local principal directions.
    """
    if embedding.n_channels < 2 or embedding.dim < 2 or embedding.channels is None:
        return None
    a = np.asarray(embedding.channels, dtype=float)
    limit = max(1, min(10, (a.shape[0] // 4) // max(embedding.delay, 1)))
    if limit < 2:
        return None
    dims = [
        fnn_dimension(
            a[:, c], embedding.delay, max_dim=limit,
            theiler=max(1, round(embedding.mean_period)), seed=seed,
        )[0]
        for c in range(a.shape[1])
    ]  # fmt: skip
    return int(np.median(dims))


def spectrum_from_data(
    x: ArrayLike,
    dt: float = 1.0,
    *,
    embedding: Embedding | None = None,
    delay: int | None = None,
    dim: int | None = None,
    n_neighbors: int | None = None,
    theiler: int | None = None,
    n_chains: int = 8,
    ridge: float = 1e-8,
    max_refs: int | None = 20_000,
    n_blocks: int = 10,
    seed: int = 0,
    local_dim: int | Literal["auto"] | None = "auto",
    noise_reduction: Literal["auto", "simple", "none"] = "auto",
    evolve: int | None = None,
    **embed_kw: Any,
) -> DataSpectrum:
    """Lyapunov spectrum of a recording by local Jacobians (Eckmann-Ruelle / Sano-Sawada).

    Parameters
    ----------
    x : array, shape (time,) or (time, channels)
    dt : float
        Sampling interval, time units.
    embedding : Embedding, optional
        Default :func:`embed_for_lyapunov` (``delay``, ``dim``, ``embed_kw`` passed on).
    n_neighbors : int, optional
        Neighbours per local fit; default max(150, 10 x coordinates): with 5 % noise, 20 and 60
        neighbours bias Hénon by +20 % and -25 %, 150 by -13 % (Lorenz-63 x: +25 %, -7 %, -2 %).
    theiler : int, optional
        Temporal neighbours excluded, samples; default one mean period.
    n_chains : int
        Independent chains along the orbit (start offsets 0 .. delay - 1); their spread is
        the uncertainty.
    ridge : float
        Tikhonov regularisation of the local fits, relative to the neighbourhood's variance.
    max_refs : int, optional
        At most this many reference points (local fits) over all chains, a contiguous
        stretch of each chain; None: all. Bounds time and memory for long recordings (20 000:
        every state of a 20 000-sample recording is used; at 10^5 samples the cross-check of
        ``lyapunov_from_data`` then costs about as much as the rest of the estimate).
    n_blocks : int
        Contiguous blocks per chain whose leading exponents give its standard error.
    seed : int
        Seed of the embedding's dimension search and the initial frames.
    local_dim : int, "auto" or None
        Fit each local Jacobian only in this many leading principal directions of the
        neighbourhood (its local tangent space) and multiply the maps between consecutive
        tangent spaces, giving ``local_dim`` exponents. "auto" (default): the median FNN
        dimension of the single channels, where several channels are delay-embedded with
        several lags each (a joint embedding larger than the attractor: fitted in all its
        coordinates, clean Lorenz-63 x, y, z high-passed by ``neurodsr preprocess`` had a
        spurious lambda_1 of 1.7-2.4 against 0.91; restricted, 0.99-1.36), else all
        coordinates. None: all coordinates.
    noise_reduction : {"auto", "simple", "none"}
        "simple": fit the Jacobians on the embedding of the noise-reduced series
        (:func:`~neurodsr.dynamics.noise_reduction.denoise_embedding`: Schreiber's simple
        nonlinear noise reduction, radius from the noise level estimated on the data; same
        delay and dimension). "auto" (default): do so where the series was not low-passed and
        is embedded at delay 1 (maps, series that decorrelate within a sample): there the
        noise is white, each sample is tied to the next by the dynamics, and the level is well
        estimated (Hénon 0.058 for 5 % noise). "none": the series as embedded (the behaviour
        before). Observation noise in the regressors shrinks least-squares Jacobians
        (errors-in-variables attenuation): with 5 % noise Hénon x -9 %, noise-reduced -5 %.
        On flows (low-passed, or embedded at a delay of several samples) the level estimate
        takes in the flow's own variation between delays, the reduction smooths the dynamics,
        and it inflated the Jacobians (Hindmarsh-Rose 0.010 -> 0.016-0.018 per unit time,
        reference 0.013; Chen, Lorenz-84 by +20 %; docs/RESULTS.md 5).
    evolve : int, optional
        Evolution step of the fitted maps, samples. Default (None): the embedding delay with
        lags, one sample without (dim 1, several channels). An int is allowed only for dim 1
        (with lags the shift rows need one delay). Each fitted step shrinks the Jacobian by
        the noise in its regressors (errors in variables), so on a finely sampled flow with
        *white* noise a 1-sample step multiplies that bias by the delay (x, y, z of Chen,
        Halvorsen, Arneodo, 5 % noise, no low-pass: -43, -78, -65 % at 1 sample, -9, -14,
        -11 % at the delay); on the low-passed series the estimator makes of them the gain
        is gone (Chen -13 -> -2 %, Lorenz-63 -16 -> -25 %), hence the default.

    Returns
    -------
    DataSpectrum
    """
    if dt <= 0 or not np.isfinite(dt):
        raise InputError(f"dt must be a positive number, got {dt}")
    if embedding is None:
        a = validate_series(x)
        embedding = embed_for_lyapunov(a, delay=delay, dim=dim, seed=seed, **embed_kw)
    if noise_reduction == "simple" or (
        noise_reduction == "auto" and embedding.lowpass_cutoff is None and embedding.delay == 1
    ):
        embedding = denoise_embedding(embedding)
    elif noise_reduction not in ("auto", "none"):
        raise ValueError(
            f"noise_reduction must be 'auto', 'simple' or 'none', got {noise_reduction!r}"
        )
    y = embedding.points
    n, d = y.shape
    if evolve is None:
        # one delay with lags (the shift rows need it), one sample without (dim 1). A step of
        # one delay also for dim 1 was measured on the whole benchmark (docs/RESULTS.md 5,
        # code version a77301ae1a): no case changed its class at N = 20 000 (seeds 0 and 1) or
        # 5 000, the numbers moved both ways (Chen x, y, z -17 -> -12 %, Lorenz-63 x, y, z
        # -8 -> -13 %), so the default stayed
        s = int(embedding.delay) if embedding.dim > 1 else 1
    elif embedding.dim > 1 and int(evolve) != int(embedding.delay):
        raise InputError(
            f"evolve = {evolve} samples differs from the embedding delay ({embedding.delay})",
            hint="with lags (dim > 1) the map must advance one delay: leave evolve=None",
        )
    elif int(evolve) < 1:
        raise InputError(f"evolve must be >= 1 sample, got {evolve}", hint="leave evolve=None")
    else:
        s = int(evolve)
    newest = embedding.newest_columns
    if theiler is None:
        theiler = max(1, round(embedding.mean_period))
    k = int(n_neighbors or max(150, 10 * d))
    if local_dim == "auto":
        local_dim = _channel_dimension(embedding, seed)
    p_loc = d if local_dim is None else max(1, min(d, int(local_dim)))
    n_tree = n - s
    if n_tree < 10 * (k + 2 * theiler + 1):
        raise InputError(
            f"{n} embedded states are too few for local fits with {k} neighbours",
            hint="use a longer recording or fewer embedding dimensions (--dim)",
        )
    tree = cKDTree(y[:n_tree])
    # shift part of the Jacobian: for each channel, lag l+1 <- lag l (delay-embedding layout:
    # columns channel-major, newest lag first)
    shift = np.zeros((d, d))
    m = embedding.dim
    if m > 1:
        for c in range(embedding.n_channels):
            for lag in range(1, m):
                shift[c * m + lag, c * m + lag - 1] = 1.0
    rng = np.random.default_rng([seed, 5])
    chains = []
    blocks: list[float] = []
    for c0 in range(min(n_chains, s)):
        refs = np.arange(c0, n_tree, s)
        if max_refs is not None and refs.size * min(n_chains, s) > max_refs:
            # a contiguous stretch of each chain (the product of Jacobians must follow the
            # orbit): bounds time and memory for long recordings
            refs = refs[: max(50, max_refs // min(n_chains, s))]
        jac = np.broadcast_to(shift, (refs.size, d, d)).copy()
        keep = np.zeros(refs.size, dtype=bool)
        basis = np.zeros((refs.size, d, p_loc)) if p_loc < d else None
        # local fits in chunks of reference points: the (P, k, d + 1) design arrays stay small
        chunk = max(1, int(_CHUNK_ELEMENTS // (k * (d + 1))))
        for lo in range(0, refs.size, chunk):
            r = refs[lo : lo + chunk]
            idx, _ = theiler_neighbors(tree, y, r, n_neighbors=k, theiler=theiler)
            ok = (idx >= 0).all(axis=1)
            keep[lo : lo + chunk] = ok
            r, idx = r[ok], idx[ok]
            if r.size == 0:
                continue
            dy = y[idx] - y[r][:, None, :]  # (P, k, d)
            dz = y[idx + s][:, :, newest] - y[r + s][:, None, newest]  # (P, k, channels)
            if p_loc < d:
                # the neighbourhood's p_loc leading principal directions (its local tangent
                # space); the fit uses the coordinates along them only (principal-component
                # regression: the thin directions, curvature of the attractor in a too-large
                # embedding, carry no dynamics and would be fitted as spurious growth)
                _, _, vt = np.linalg.svd(dy - dy.mean(axis=1, keepdims=True), full_matrices=False)
                b = np.swapaxes(vt[:, :p_loc, :], 1, 2)  # (P, d, p_loc)
                basis[np.flatnonzero(ok) + lo] = b
                u = dy @ b
            else:
                u = dy
            # affine fit dz ~ b + u C per reference point (normal equations, ridge)
            ones = np.ones((*dy.shape[:2], 1))
            design = np.concatenate([ones, u], axis=2)  # (P, k, p_loc + 1)
            gram = np.einsum("pki,pkj->pij", design, design)
            scale = np.trace(gram, axis1=1, axis2=2) / (p_loc + 1)
            gram += ridge * scale[:, None, None] * np.eye(p_loc + 1)
            rhs = np.einsum("pki,pkc->pic", design, dz)
            coef = np.linalg.solve(gram, rhs)[:, 1:, :]  # (P, p_loc, channels)
            if p_loc < d:
                coef = b @ coef  # (P, d, channels): no response to the thin directions
            sub = jac[lo : lo + chunk][ok]
            sub[:, newest, :] = np.swapaxes(coef, 1, 2)
            jac[np.flatnonzero(ok) + lo] = sub
        jac = jac[keep]
        if basis is not None:
            # the tangent map between consecutive local tangent spaces, in their coordinates
            # (p_loc x p_loc): B_{t+1}^T J_t B_t; its exponents are the p_loc true ones
            basis = basis[keep]
            jac = np.swapaxes(basis[1:], 1, 2) @ jac[:-1] @ basis[:-1]
        if jac.shape[0] < 50:
            continue
        q, _ = np.linalg.qr(rng.standard_normal((p_loc, p_loc)))
        warm = min(20, jac.shape[0] // 10)
        logs = np.empty((jac.shape[0] - warm, p_loc))
        for t in range(jac.shape[0]):
            q, r_ = np.linalg.qr(jac[t] @ q)
            if t >= warm:
                logs[t - warm] = np.log(np.abs(np.diag(r_)) + 1e-300)
        chains.append(np.sort(logs.mean(axis=0) / (s * dt))[::-1])
        # the leading exponent over contiguous blocks of the chain (its standard error);
        # the frame has converged after ``warm`` steps, so column 0 is the leading direction
        nb = int(min(n_blocks, logs.shape[0] // 20))
        if nb >= 2:
            cut = np.array_split(logs[:, 0], nb)
            blocks.extend(float(np.mean(c)) / (s * dt) for c in cut)
    if not chains:
        raise InputError(
            "no chain of reference points with enough neighbours",
            hint="use a longer recording",
        )
    per = np.asarray(chains)
    return DataSpectrum(
        exponents=per.mean(axis=0),
        std=per.std(axis=0, ddof=1) if per.shape[0] > 1 else np.zeros(p_loc),
        per_chain=per,
        lambda_se=(
            float(np.std(blocks, ddof=1) / np.sqrt(len(blocks))) if len(blocks) > 1 else np.nan
        ),
        dt=float(dt),
        evolve=s,
        n_neighbors=k,
        embedding=embedding.summary(),
    )
