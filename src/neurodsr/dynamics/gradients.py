"""Why forcing is needed, measured on the trained model: growth of Jacobian products and of the
loss gradient with the horizon, without forcing and with the chosen forcing.

For a chaotic model the product of T step Jacobians grows like exp(lambda_max T), and so does
the gradient of a loss over T free-running steps (the exploding-gradient problem of training
on chaotic data). Forcing at interval tau (STF) or with strength alpha every step (GTF) resets
or damps the product; its growth then stays bounded. :func:`horizon_growth` measures both
curves on windows of the recording next to lambda_max T, so a lab sees on its own data why
forcing was needed and that it worked (Mikhaeil et al. 2022, NeurIPS; Hess et al. 2023, ICML).

Inputs are the model (the :class:`~neurodsr.models.base.LatentModel` protocol: ``step``,
``init_state``, ``force``, ``rollout_loss``, ``n_models``) and an array; nothing here reads
files.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import xarray as xr
from numpy.typing import ArrayLike

__all__ = ["default_horizons", "horizon_growth"]


def default_horizons(max_horizon: int = 256) -> list[int]:
    """Horizons 1, 2, 4, ... up to ``max_horizon`` steps (powers of two)."""
    out, h = [], 1
    while h <= max_horizon:
        out.append(h)
        h *= 2
    return out


def _forced_step(model: Any, z: torch.Tensor, x_t: torch.Tensor, t: int, tau, alpha):
    z = model.step(z)
    if tau is not None and t % tau == 0:
        z = model.force(z, x_t, alpha)
    return z


def horizon_growth(
    model: Any,
    x: ArrayLike,
    *,
    tau: int | None,
    alpha: float = 1.0,
    horizons: list[int] | None = None,
    n_windows: int = 16,
    lambda_max_per_step: float | None = None,
    dt: float = 1.0,
    gradient: bool = True,
    seed: int = 0,
) -> xr.Dataset:
    """Jacobian-product and loss-gradient growth with the horizon, free and forced.

    Parameters
    ----------
    model : LatentModel
        The trained ensemble (E members); evaluated in float64 where its parameters are.
    x : array, shape (time, N)
        Observations in the model's units (the preprocessed training part).
    tau : int or None
        Forcing interval of the chosen forcing, steps (1 with ``alpha`` < 1: GTF; None: no
        forcing, then the "forced" condition equals the free one).
    alpha : float
        Forcing strength at the forcing steps (1: STF).
    horizons : list of int, optional
        Horizons T, steps; default :func:`default_horizons` up to a quarter of the series
        (at most 256).
    n_windows : int
        Windows (random start points, seeded) the curves average over.
    lambda_max_per_step : float, optional
        The data's (or model's) lambda_max, per step: adds ``lambda_T`` = lambda_max T.
    dt : float
        Time per step, for the ``time`` coordinate.
    gradient : bool
        Also compute the loss-gradient norms (one backward pass per horizon and condition).
    seed : int

    Returns
    -------
    xr.Dataset
        Coordinates ``condition`` ("free", "forced"), ``horizon`` (steps, with ``time`` =
        horizon dt), ``member``. Variables:

        - ``log_jacobian_growth(condition, horizon, member)``: mean over windows of
          ln ||J_T ... J_1 v|| for a random unit vector v (nats); the forced condition
          includes the forcing's own Jacobian (1 - alpha on the forced units);
        - ``log_grad_norm(condition, horizon, member)``: ln of the norm of the gradient of
          the member's loss over T steps with respect to its parameters (nats);
        - ``lambda_T(horizon)``: lambda_max T (nats), when ``lambda_max_per_step`` is given.

        attrs: ``tau``, ``alpha``, ``n_windows``, ``slope_free`` / ``slope_forced`` (per step:
        growth of the Jacobian product over the second half of the horizons, to compare with
        lambda_max).
    """
    params = list(model.parameters())
    dtype = params[0].dtype if params else torch.float64
    device = params[0].device if params else torch.device("cpu")
    xa = torch.as_tensor(np.asarray(x, dtype=np.float64), dtype=dtype, device=device)
    if xa.ndim == 1:
        xa = xa[:, None]
    n_t = xa.shape[0]
    if horizons is None:
        horizons = default_horizons(int(min(256, max(2, n_t // 4))))
    horizons = sorted(int(h) for h in horizons if 1 <= h < n_t)
    if not horizons:
        raise ValueError(f"no horizon fits into a series of {n_t} samples")
    h_max = horizons[-1]
    e = int(model.n_models)
    rng = np.random.default_rng(seed)
    starts = torch.as_tensor(rng.integers(0, n_t - h_max, size=(e, n_windows)), device=device)
    # windows (T + 1, E, B, N)
    idx = starts[None] + torch.arange(h_max + 1, device=device)[:, None, None]
    win = xa[idx]
    gen = torch.Generator(device="cpu").manual_seed(seed)
    conditions = {"free": (None, 1.0), "forced": (tau, alpha)}
    jac = np.full((2, len(horizons), e), np.nan)
    grad = np.full((2, len(horizons), e), np.nan)
    for c, (c_tau, c_alpha) in enumerate(conditions.values()):
        with torch.no_grad():
            z = model.init_state(win[0])
            v = torch.randn(z.shape, generator=gen, dtype=torch.float64).to(dtype=dtype)
            v = v / v.norm(dim=-1, keepdim=True)
            log_norm = torch.zeros(z.shape[:-1], dtype=torch.float64, device=device)
            hi = 0
            for t in range(1, h_max + 1):

                def f(zz, t=t, c_tau=c_tau, c_alpha=c_alpha):
                    return _forced_step(model, zz, win[t], t, c_tau, c_alpha)

                z, v = torch.func.jvp(f, (z,), (v,))
                nv = v.norm(dim=-1)
                log_norm += torch.log(nv).to(torch.float64)
                v = v / nv.clamp_min(1e-300)[..., None]
                if t == horizons[hi]:
                    jac[c, hi] = log_norm.mean(dim=1).cpu().numpy()
                    hi += 1
                    if hi == len(horizons):
                        break
        if gradient:
            for hi, h in enumerate(horizons):
                model.zero_grad(set_to_none=True)
                loss = model.rollout_loss(win[: h + 1], c_tau, c_alpha)
                loss.sum().backward()
                sq = torch.zeros(e, dtype=torch.float64, device=device)
                for p in params:
                    if p.grad is not None:
                        g = p.grad.reshape(e, -1) if p.shape[0] == e else p.grad.reshape(1, -1)
                        sq += g.to(torch.float64).pow(2).sum(dim=1)
                grad[c, hi] = 0.5 * torch.log(sq).cpu().numpy()
            model.zero_grad(set_to_none=True)
    hz = np.asarray(horizons)
    ds = xr.Dataset(
        {
            "log_jacobian_growth": (
                ("condition", "horizon", "member"),
                jac,
                {"long_name": "ln ||J_T...J_1 v||, mean over windows", "units": "nats"},
            ),
            "log_grad_norm": (
                ("condition", "horizon", "member"),
                grad,
                {"long_name": "ln ||d loss_T / d params||", "units": "nats"},
            ),
        },
        coords={
            "condition": list(conditions),
            "horizon": ("horizon", hz, {"units": "steps"}),
            "time": ("horizon", hz * dt, {"units": "time"}),
            "member": np.arange(e),
        },
        attrs={
            "tau": -1 if tau is None else int(tau),
            "alpha": float(alpha),
            "n_windows": int(n_windows),
            "dt": float(dt),
        },
    )
    if lambda_max_per_step is not None and math.isfinite(lambda_max_per_step):
        ds["lambda_T"] = ("horizon", lambda_max_per_step * hz, {"units": "nats"})
        ds.attrs["lambda_max_per_step"] = float(lambda_max_per_step)
    half = hz >= hz[len(hz) // 2] if len(hz) > 2 else np.ones(hz.size, bool)
    for c, name in enumerate(conditions):
        y = np.nanmedian(jac[c], axis=1)[half]
        ok = np.isfinite(y)
        slope = float(np.polyfit(hz[half][ok], y[ok], 1)[0]) if ok.sum() >= 2 else float("nan")
        ds.attrs[f"slope_{name}"] = slope
    return ds
