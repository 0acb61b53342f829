"""The Lyapunov spectrum of a trained model: QR (Benettin) iteration along free-running orbits.

Models follow this protocol (an ensemble of E models run on B orbits at once):

- ``model.n_models: int`` (E) and ``model.state_dim: int`` (D);
- ``model.step(z)``: one map step, (E, B, D) -> (E, B, D);
- ``model.jacobian(z)``: d step(z) / dz, (E, B, D) -> (E, B, D, D), row i = d out_i.

Exponents are per step (divide by dt for per unit time). The QR iteration runs in float64
whatever the model's dtype.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

__all__ = ["LyapunovSpectrum", "MapModel", "kaplan_yorke_dimension", "lyapunov_spectrum"]


class MapModel(Protocol):
    """An ensemble of maps z_{t+1} = F(z_t) with their Jacobians (see module docstring)."""

    n_models: int
    state_dim: int

    def step(self, z: torch.Tensor) -> torch.Tensor: ...

    def jacobian(self, z: torch.Tensor) -> torch.Tensor: ...


def kaplan_yorke_dimension(exponents: ArrayLike) -> float:
    """Kaplan-Yorke (Lyapunov) dimension of a spectrum.

    D_KY = j + (lambda_1 + ... + lambda_j) / |lambda_{j+1}|, j the largest index with a
    non-negative partial sum (exponents sorted in descending order). 0 if lambda_1 < 0; the
    number of exponents if every partial sum is non-negative (volumes do not contract).
    """
    lam = np.sort(np.asarray(exponents, dtype=np.float64))[::-1]
    csum = np.cumsum(lam)
    nonneg = np.flatnonzero(csum >= 0)
    if nonneg.size == 0:
        return 0.0
    j = int(nonneg[-1]) + 1
    if j >= lam.size:
        return float(lam.size)
    return float(j + csum[j - 1] / abs(lam[j]))


@dataclass
class LyapunovSpectrum:
    """Lyapunov spectra of an ensemble of models.

    Attributes
    ----------
    exponents : array, shape (E, D)
        Per step, descending, mean over the B orbits of each model.
    per_orbit : array, shape (E, B, D)
        Per step, each orbit's own estimate.
    std : array, shape (E, D)
        Spread (standard deviation) over orbits, per step.
    kaplan_yorke : array, shape (E,)
        Kaplan-Yorke dimension of each model's mean spectrum.
    log_det : array, shape (E, B)
        Mean log|det J| along each orbit, per step (= sum of its exponents).
    n_steps, n_transient : int
        Steps averaged over; steps discarded first.
    diverged : array of bool, shape (E, B)
        Orbits that became non-finite (their exponents are NaN and left out of the means).
    """

    exponents: NDArray[np.float64]
    per_orbit: NDArray[np.float64]
    std: NDArray[np.float64]
    kaplan_yorke: NDArray[np.float64]
    log_det: NDArray[np.float64]
    n_steps: int
    n_transient: int
    diverged: NDArray[np.bool_]

    @property
    def lambda_max(self) -> NDArray[np.float64]:
        """Largest exponent of each model, per step, shape (E,)."""
        return self.exponents[:, 0]

    def summary(self, dt: float = 1.0) -> dict[str, Any]:
        """JSON-able: exponents per unit time (per step / dt) and Kaplan-Yorke dimensions."""
        return {
            "dt": float(dt),
            "exponents": (self.exponents / dt).tolist(),
            "exponents_std": (self.std / dt).tolist(),
            "lambda_max": (self.lambda_max / dt).tolist(),
            "kaplan_yorke": self.kaplan_yorke.tolist(),
            "n_steps": int(self.n_steps),
            "n_transient": int(self.n_transient),
            "n_diverged": int(self.diverged.sum()),
        }


def _model_dtype(model: Any) -> torch.dtype:
    params = getattr(model, "parameters", None)
    if callable(params):
        for p in params():
            return p.dtype
    return torch.float64


@torch.no_grad()
def lyapunov_spectrum(
    model: MapModel,
    *,
    n_steps: int = 10_000,
    n_transient: int = 1_000,
    n_orbits: int = 8,
    z0: torch.Tensor | None = None,
    init_scale: float = 1.0,
    qr_warmup: int | None = None,
    seed: int = 0,
) -> LyapunovSpectrum:
    """Lyapunov spectrum of each model by QR iteration along free-running orbits.

    Parameters
    ----------
    model : MapModel
        See the module docstring.
    n_steps : int
        Steps over which the exponents are averaged.
    n_transient : int
        Steps the orbits run first to reach the attractor (no QR).
    n_orbits : int
        Orbits per model (B) when ``z0`` is not given.
    z0 : tensor, shape (E, B, D), optional
        Initial states; default ``init_scale`` x standard normal (seeded).
    qr_warmup : int, optional
        QR steps after the transient whose growth is not counted (the orthonormal frame aligns
        with the Lyapunov vectors); default min(100, n_steps // 10).
    seed : int
        Seed of the initial states and frames.

    Returns
    -------
    LyapunovSpectrum
        Exponents per step: the mean of log|diag R| of the QR factorisation of J_t Q_{t-1}
        (the absolute value makes the result independent of the sign convention of the QR).
    """
    e, d = int(model.n_models), int(model.state_dim)
    gen = torch.Generator().manual_seed(seed)
    if z0 is None:
        dtype = _model_dtype(model)
        z = init_scale * torch.randn(e, n_orbits, d, generator=gen, dtype=torch.float64)
        z = z.to(dtype)
    else:
        z = z0.clone()
    b = z.shape[1]
    if qr_warmup is None:
        qr_warmup = min(100, n_steps // 10)
    for _ in range(n_transient):
        z = model.step(z)
    q, _ = torch.linalg.qr(torch.randn(e, b, d, d, generator=gen, dtype=torch.float64))
    acc = torch.zeros(e, b, d, dtype=torch.float64)
    log_det = torch.zeros(e, b, dtype=torch.float64)
    for t in range(qr_warmup + n_steps):
        jac = model.jacobian(z).to(torch.float64)
        q, r = torch.linalg.qr(jac @ q)
        if t >= qr_warmup:
            acc += torch.log(torch.diagonal(r, dim1=-2, dim2=-1).abs())
            log_det += torch.linalg.slogdet(jac)[1]
        z = model.step(z)
    per_orbit = (acc / n_steps).numpy()
    per_orbit = -np.sort(-per_orbit, axis=-1)
    diverged = ~np.isfinite(per_orbit).all(axis=-1)
    masked = np.where(diverged[..., None], np.nan, per_orbit)
    with warnings.catch_warnings():
        # models whose orbits all diverged: 'mean of empty slice'
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(masked, axis=1)
        std = np.nanstd(masked, axis=1)
    ky = np.array([kaplan_yorke_dimension(m) if np.isfinite(m).all() else np.nan for m in mean])
    return LyapunovSpectrum(
        exponents=mean,
        per_orbit=per_orbit,
        std=std,
        kaplan_yorke=ky,
        log_det=(log_det / n_steps).numpy(),
        n_steps=int(n_steps),
        n_transient=int(n_transient),
        diverged=diverged,
    )
