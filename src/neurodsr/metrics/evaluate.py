"""Evaluate a trained model (ensemble) against data: free run, D_stsp, D_H, PE(n).

All inputs are in the model's (normalised) units; the metrics z-score with the data's own
statistics (:mod:`neurodsr.metrics.core`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from neurodsr.metrics.core import (
    fraction_outside,
    max_excursion,
    member_health,
    near_constant_dims,
    power_spectrum_distance,
    state_space_divergence,
)
from neurodsr.models.base import LatentModel

__all__ = ["Evaluation", "evaluate", "free_run", "prediction_error"]


def _device(model: LatentModel) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def free_run(model: LatentModel, x0: np.ndarray, n_steps: int, transient: int = 1000) -> np.ndarray:
    """Free-running observations of every member, started from the state inferred from ``x0``.

    Parameters
    ----------
    x0 : array (N,)
        The observation the run starts from.
    n_steps : int
        Steps returned, after ``transient`` discarded steps.

    Returns
    -------
    array (E, n_steps, N), float64 (NaN/inf where a member diverged).
    """
    x = torch.as_tensor(np.asarray(x0, dtype=np.float32), device=_device(model))
    z = model.init_state(x.reshape(1, 1, -1).expand(model.n_models, 1, -1))
    if transient:
        z = model.generate(z, transient)[-1]
    states = model.generate(z, n_steps)  # (T, E, 1, D)
    return model.readout(states[:, :, 0].transpose(0, 1)).double().cpu().numpy()


@torch.no_grad()
def prediction_error(
    model: LatentModel, x: np.ndarray, n: int = 20, max_starts: int = 1000
) -> np.ndarray:
    """PE(k), k = 1..n: MSE of k-step-ahead predictions started from forced states.

    From each start t (up to ``max_starts``, evenly spaced) the state is inferred from x_t and
    run freely; PE(k) is the mean squared error of obs(z_{t+k}) against x_{t+k} over starts and
    dims.

    Returns
    -------
    array (E, n): the error curve of each member (PE(n) is the last column).
    """
    x = np.asarray(x, dtype=np.float32)
    if len(x) <= n:
        raise ValueError(f"need more than n={n} samples for PE(n), got {len(x)}")
    starts = np.unique(np.linspace(0, len(x) - n - 1, min(max_starts, len(x) - n)).astype(int))
    xt = torch.as_tensor(x, device=_device(model))
    s = torch.as_tensor(starts, device=xt.device)
    z = model.init_state(xt[s].unsqueeze(0).expand(model.n_models, -1, -1).contiguous())
    errs = []
    for k in range(1, n + 1):
        z = model.step(z)
        err = (model.readout(z) - xt[s + k].unsqueeze(0)).pow(2).mean(dim=(1, 2))
        errs.append(err)
    return torch.stack(errs, dim=1).double().cpu().numpy()


@dataclass
class Evaluation:
    """Metrics of every member on one data set, and their free runs.

    ``metrics[e]`` holds D_stsp, D_H, PE (PE(n)), frac_outside, status and status_reasons
    (:func:`neurodsr.metrics.core.member_health`), diverged (status == "diverged"),
    free_run_finite, n_data, n_model for member e; ``generated`` is (E, n_generate, N);
    ``pe_curve`` is (E, n); ``extra`` holds ``excluded_dims`` (indices of the near-constant
    held-out dims left out of D_stsp, D_H and frac_outside) and ``excluded_std_ratio``.
    """

    metrics: list[dict[str, Any]]
    generated: np.ndarray
    pe_curve: np.ndarray
    n_pe: int
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, float]:
        """Median and spread (IQR) over members of each numeric metric."""
        out: dict[str, float] = {}
        for key in ("D_stsp", "D_H", "PE", "frac_outside"):
            vals = np.array([m[key] for m in self.metrics], dtype=np.float64)
            out[f"{key}_median"] = float(np.median(vals))
            q1, q3 = np.percentile(vals, [25, 75])
            out[f"{key}_iqr"] = float(q3 - q1)
        out["n_diverged"] = int(sum(m["diverged"] for m in self.metrics))
        out["member_status"] = [m.get("status", "ok") for m in self.metrics]
        out["max_excursion_members"] = [m.get("max_excursion") for m in self.metrics]
        out.update(self.extra)
        return out


def evaluate(
    model: LatentModel,
    x_data: np.ndarray,
    *,
    n_generate: int | None = None,
    transient: int = 1000,
    n_pe: int = 20,
    x_start: np.ndarray | None = None,
) -> Evaluation:
    """Score every member of ``model`` against ``x_data`` (time, N), normalised like training.

    Parameters
    ----------
    x_data : array (time, N)
        The data to compare with (e.g. the held-out test part).
    n_generate : int, optional
        Length of each free run (default: ``len(x_data)``; compare D_stsp only at equal
        lengths).
    transient : int
        Free-run steps discarded before the compared part.
    n_pe : int
        Horizon n of PE(n), in steps.
    x_start : array (N,), optional
        Observation the free runs start from (default: the first sample of ``x_data``).
    """
    x_data = np.asarray(x_data, dtype=np.float64)
    n_gen = len(x_data) if n_generate is None else int(n_generate)
    start = x_data[0] if x_start is None else x_start
    gen = free_run(model, start, n_gen, transient)
    pe = prediction_error(model, x_data, n_pe)
    # x_data is normalised with the training statistics: scale 1 is the training part's std,
    # so a held-out dim that is near-constant cannot blow the free-run metrics up; such dims
    # are left out of them altogether (they hold no dynamics to compare)
    excluded = near_constant_dims(x_data, scale=1.0)
    keep = np.isnan(excluded)
    if not keep.any():
        keep[:] = True
    xd = x_data[:, keep]
    metrics = []
    for e in range(model.n_models):
        g = gen[e]
        finite = bool(np.isfinite(g).all())
        gk = g[:, keep]
        m = {
            "seed": model.seeds[e],
            "D_stsp": state_space_divergence(xd, gk, scale=1.0) if finite else float("inf"),
            "D_H": power_spectrum_distance(xd, gk) if finite else float("nan"),
            "PE": float(pe[e, -1]),
            "frac_outside": fraction_outside(xd, gk, scale=1.0),
            "max_excursion": max_excursion(xd, gk, scale=1.0),
            "free_run_finite": finite,
            "n_data": len(x_data),
            "n_model": n_gen,
        }
        health = member_health(
            pe=m["PE"],
            frac_outside=m["frac_outside"],
            finite=finite,
            d_stsp=m["D_stsp"],
            pe_n=n_pe,
            excursion=m["max_excursion"],
        )
        m.update(
            status=health.status,
            status_reasons=list(health.reasons),
            diverged=health.status == "diverged",
        )
        metrics.append(m)
    extra = {
        "excluded_dims": [int(i) for i in np.flatnonzero(~keep)],
        "excluded_std_ratio": [float(v) for v in excluded[~keep]],
    }
    return Evaluation(metrics=metrics, generated=gen, pe_curve=pe, n_pe=n_pe, extra=extra)
