"""The one scorer: a trained model (ensemble) against held-out data.

:func:`evaluate` scores every member's free run (D_stsp, D_H, PE(n), frac_outside);
:func:`free_run_scores` is how a free run is scored against the held-out part (D_stsp on the
whole run; D_H, :func:`~neurodsr.metrics.core.segment_spectrum_distance`, from the run's
spectrum averaged over its segments of the held-out part's length), used for the model and
for the data's own reference (:func:`data_reference`);
:func:`evaluate_fit` is the whole evaluation of a fitted session (those scores, n-step
predictions, the valid prediction time and the model's Lyapunov spectrum, computed once) and
builds reconstruction.nc. ``neurodsr evaluate`` and :func:`neurodsr.fit` both call it.

:func:`evaluate` works in the model's (normalised) units; the metrics z-score with the data's
own statistics (:mod:`neurodsr.metrics.core`).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import xarray as xr
from tqdm.auto import tqdm

from neurodsr.errors import InputError
from neurodsr.metrics.core import (
    fraction_outside,
    max_excursion,
    member_health,
    near_constant_dims,
    segment_spectrum_distance,
    state_space_divergence,
)
from neurodsr.models.base import LatentModel
from neurodsr.session import _num

if TYPE_CHECKING:
    from neurodsr.api import FittedModel

__all__ = [
    "SCORED_LENGTH_CAP",
    "SCORED_LENGTH_FACTOR",
    "Evaluation",
    "FitEvaluation",
    "ModelSpectrum",
    "data_reference",
    "evaluate",
    "evaluate_fit",
    "free_run",
    "free_run_scores",
    "model_spectrum",
    "n_step_predictions",
    "prediction_error",
    "prediction_horizon_errors",
    "scored_length",
    "valid_prediction_steps",
]

log = logging.getLogger(__name__)

#: The scored free run is this many times as long as the held-out part. D_stsp has a
#: finite-sample floor that falls with the model run's length: a perfect model (an independent
#: run of the true system) of 1x the test length scores far above 0, of 5x close to what 25x
#: scores (docs/RESULTS.md section 6, "The metrics' floor"; benchmarks/metric_floor.py).
SCORED_LENGTH_FACTOR: int = 5
#: ... at most this many steps (unless the held-out part itself is longer).
SCORED_LENGTH_CAP: int = 100_000


def scored_length(n_test: int, factor: int | None = None, cap: int | None = None) -> int:
    """Steps of the scored free run for a held-out part of ``n_test`` steps:
    ``factor * n_test`` (default :data:`SCORED_LENGTH_FACTOR`), at most ``cap`` (default
    :data:`SCORED_LENGTH_CAP`), and never fewer than ``n_test``."""
    n_test = int(n_test)
    if n_test < 1:
        raise ValueError(f"the held-out part needs at least one step, got {n_test}")
    factor = SCORED_LENGTH_FACTOR if factor is None else int(factor)
    cap = SCORED_LENGTH_CAP if cap is None else int(cap)
    return int(max(n_test, min(factor * n_test, cap)))


def free_run_scores(
    x_data: np.ndarray, x_model: np.ndarray, scale: float | np.ndarray | None = 1.0
) -> dict[str, Any]:
    """D_stsp and D_H of one free run against the held-out data: the one definition that the
    model's scores (:func:`evaluate`), the data's reference (:func:`data_reference`) and
    ``benchmarks/metric_floor.py`` share.

    Parameters
    ----------
    x_data : array (n, N)
        The held-out data (normalised with the training statistics: ``scale=1.0``).
    x_model : array (T, N)
        The free run (any length; the default scored length is :func:`scored_length`).
    scale : float or array (N,), optional
        The std the metrics z-score with (see :func:`~neurodsr.metrics.core.zscore_like`).

    Returns
    -------
    dict
        ``D_stsp``: :func:`~neurodsr.metrics.core.state_space_divergence` of the whole run
        against the data, nats (inf where the run is not finite); ``D_H``:
        :func:`~neurodsr.metrics.core.segment_spectrum_distance` with segments of the data's
        length (the run's shorter length if it is shorter): the mean spectrum of the run's
        segments against the data's spectrum (nan where not finite); ``D_H_segments``: the
        number of the run's segments.
    """
    xm = np.asarray(x_model, dtype=np.float64)
    seg_len = int(min(len(xm), len(x_data)))
    n_seg = len(xm) // seg_len
    if not np.isfinite(xm).all():
        return {"D_stsp": float("inf"), "D_H": float("nan"), "D_H_segments": n_seg}
    return {
        "D_stsp": state_space_divergence(x_data, xm, scale=scale),
        "D_H": segment_spectrum_distance(x_data, xm, seg_len=seg_len),
        "D_H_segments": n_seg,
    }


def data_reference(
    x_train: np.ndarray,
    x_test: np.ndarray,
    n_generate: int,
    keep: np.ndarray | None = None,
    scale: float | np.ndarray | None = 1.0,
) -> dict[str, Any]:
    """What the data score against themselves: the training part's last samples scored like a
    free run against the held-out part (:func:`free_run_scores`).

    The reference is the last ``min(n_generate, len(x_train))`` samples of the training part,
    i.e. as long as the scored free run where the training part is long enough, so that a
    model at the metric's finite-sample floor scores about the reference. A recording whose
    held-out part differs from its training part (drift, a change of state) has a higher
    reference: no model of the training part can score much below it.

    Parameters
    ----------
    x_train, x_test : array (time, N)
        The training and held-out parts, normalised alike (the training statistics).
    n_generate : int
        Length of the scored free run, steps.
    keep : array (N,) of bool, optional
        The dims scored (the near-constant held-out dims left out, as for the model).

    Returns
    -------
    dict
        ``dstsp_data_reference`` (nats), ``dh_data_reference`` (0-1) and
        ``n_data_reference`` (the reference's length, steps).
    """
    xtr = np.asarray(x_train, dtype=np.float64)
    xte = np.asarray(x_test, dtype=np.float64)
    if keep is not None:
        xtr, xte = xtr[:, keep], xte[:, keep]
    n_ref = int(min(int(n_generate), len(xtr)))
    s = free_run_scores(xte, xtr[len(xtr) - n_ref :], scale=scale)
    return {
        "dstsp_data_reference": float(s["D_stsp"]),
        "dh_data_reference": float(s["D_H"]),
        "n_data_reference": n_ref,
    }


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

    ``metrics[e]`` holds D_stsp, D_H (:func:`free_run_scores`), D_H_segments, PE (PE(n)),
    frac_outside and max_excursion (of the whole free run), status and status_reasons
    (:func:`neurodsr.metrics.core.member_health`), diverged (status == "diverged"),
    free_run_finite, n_data, n_model for member e; ``generated`` is (E, n_generate, N);
    ``pe_curve`` is (E, n_pred); ``excluded_dims`` holds the indices of the near-constant
    held-out dims left out of D_stsp, D_H and frac_outside and
    ``excluded_std_ratio`` their std relative to the training std.
    """

    metrics: list[dict[str, Any]]
    generated: np.ndarray
    pe_curve: np.ndarray
    n_pred: int
    excluded_dims: list[int] = field(default_factory=list)
    excluded_std_ratio: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """Median and spread (IQR) over members of each numeric metric."""
        out: dict[str, Any] = {}
        for key in ("D_stsp", "D_H", "PE", "frac_outside"):
            vals = np.array([m[key] for m in self.metrics], dtype=np.float64)
            out[f"{key}_median"] = float(np.median(vals))
            q1, q3 = np.percentile(vals, [25, 75])
            out[f"{key}_iqr"] = float(q3 - q1)
        out["n_diverged"] = int(sum(m["diverged"] for m in self.metrics))
        out["member_status"] = [m.get("status", "ok") for m in self.metrics]
        out["max_excursion_members"] = [m.get("max_excursion") for m in self.metrics]
        out["excluded_dims"] = list(self.excluded_dims)
        out["excluded_std_ratio"] = list(self.excluded_std_ratio)
        return out


def evaluate(
    model: LatentModel,
    x_data: np.ndarray,
    *,
    n_generate: int | None = None,
    transient: int = 1000,
    n_pred: int = 20,
    x_start: np.ndarray | None = None,
) -> Evaluation:
    """Score every member of ``model`` against ``x_data`` (time, N), normalised like training.

    Parameters
    ----------
    x_data : array (time, N)
        The data to compare with (e.g. the held-out test part).
    n_generate : int, optional
        Length of each free run (default :func:`scored_length`: 5x ``len(x_data)``, at most
        10^5 steps). D_stsp compares the whole run with ``x_data`` (compare D_stsp only at
        equal run lengths), D_H averages the run's spectrum over its segments of
        ``len(x_data)`` steps (compare D_H only at equal held-out lengths).
    transient : int
        Free-run steps discarded before the compared part.
    n_pred : int
        Horizon n of PE(n), in steps.
    x_start : array (N,), optional
        Observation the free runs start from (default: the first sample of ``x_data``).
    """
    x_data = np.asarray(x_data, dtype=np.float64)
    n_gen = scored_length(len(x_data)) if n_generate is None else int(n_generate)
    start = x_data[0] if x_start is None else x_start
    gen = free_run(model, start, n_gen, transient)
    pe = prediction_error(model, x_data, n_pred)
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
            **free_run_scores(xd, gk, scale=1.0),
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
            pe_n=n_pred,
            excursion=m["max_excursion"],
        )
        m.update(
            status=health.status,
            status_reasons=list(health.reasons),
            diverged=health.status == "diverged",
        )
        metrics.append(m)
    return Evaluation(
        metrics=metrics,
        generated=gen,
        pe_curve=pe,
        n_pred=n_pred,
        excluded_dims=[int(i) for i in np.flatnonzero(~keep)],
        excluded_std_ratio=[float(v) for v in excluded[~keep]],
    )


# --------------------------------------------------------------------------- predictions
def n_step_predictions(model: LatentModel, x: np.ndarray, n: int) -> np.ndarray:
    """n-step-ahead predictions of every member, started from the state inferred from x_{t-n}.

    Parameters
    ----------
    model : LatentModel
        Trained ensemble (E members), in the units of ``x``.
    x : array (time, N)
        Normalised data.
    n : int
        Horizon, steps (>= 1).

    Returns
    -------
    array (E, time, N)
        ``out[e, t]`` predicts ``x[t]`` from ``x[t - n]``; the first ``n`` rows are NaN.
    """
    x = np.asarray(x, dtype=np.float32)
    if n < 1 or len(x) <= n:
        raise InputError(f"need 1 <= n < {len(x)} for {n}-step predictions")
    out = np.full((model.n_models, *x.shape), np.nan)
    with torch.no_grad():
        xt = torch.as_tensor(x[:-n], device=_device(model))
        z = model.init_state(xt.unsqueeze(0).expand(model.n_models, -1, -1).contiguous())
        for _ in range(n):
            z = model.step(z)
        out[:, n:] = model.readout(z).double().cpu().numpy()
    return out


def prediction_horizon_errors(
    model: LatentModel,
    x: np.ndarray,
    horizon: int,
    member: int,
    n_starts: int = 200,
    progress: bool = False,
    exclude: Sequence[int] = (),
) -> np.ndarray:
    """Normalised RMSE of free predictions k = 1..horizon steps ahead, per start.

    From each of up to ``n_starts`` evenly spaced starts t the state is inferred from x_t and
    run freely; the error at k is sqrt(mean over dims of (pred - x_{t+k})^2 / var(x)), over
    the dims not in ``exclude`` (near-constant held-out dims, whose tiny variance would make
    every prediction "invalid"; :func:`neurodsr.metrics.core.near_constant_dims`).

    Returns
    -------
    array (starts, horizon)
    """
    x = np.asarray(x, dtype=np.float64)
    horizon = int(min(horizon, len(x) - 2))
    if horizon < 1:
        raise InputError(f"the data ({len(x)} steps) are too short for prediction errors")
    starts = np.unique(np.linspace(0, len(x) - horizon - 1, n_starts).astype(int))
    keep = np.ones(x.shape[1], dtype=bool)
    keep[[int(i) for i in exclude if int(i) < x.shape[1]]] = False
    if not keep.any():
        keep[:] = True
    var = x.var(0)
    var = np.where(var > 0, var, 1.0)
    errs = np.empty((len(starts), horizon))
    with torch.no_grad():
        x0 = torch.as_tensor(x[starts], dtype=torch.float32, device=_device(model))
        z = model.init_state(x0.unsqueeze(0).expand(model.n_models, -1, -1).contiguous())
        steps = tqdm(
            range(1, horizon + 1),
            desc="valid prediction time",
            disable=not progress,
            mininterval=1.0,
            leave=False,
        )
        for k in steps:
            z = model.step(z)
            pred = model.readout(z)[member].double().cpu().numpy()
            err = (pred - x[starts + k]) ** 2 / var
            errs[:, k - 1] = np.sqrt(err[:, keep].mean(1))
    return np.where(np.isfinite(errs), errs, np.inf)


def valid_prediction_steps(errors: np.ndarray, threshold: float) -> np.ndarray:
    """Per start, the number of steps before the error first exceeds ``threshold``.

    ``errors`` is (starts, horizon) as from :func:`prediction_horizon_errors`; a start that
    never exceeds it gets ``horizon`` (a lower bound).
    """
    from neurodsr.metrics.core import valid_prediction_time

    return valid_prediction_time(errors, threshold).steps


# --------------------------------------------------------------------------- spectrum
@dataclass
class ModelSpectrum:
    """The Lyapunov spectrum of every member, per unit time (1/s for recordings).

    ``exponents`` and ``std`` are (E, D); ``kaplan_yorke`` and ``diverged`` (E,);
    ``n_steps`` the QR steps averaged over (fewer than asked when the time budget said so,
    ``note`` then says why).
    """

    exponents: np.ndarray
    std: np.ndarray
    kaplan_yorke: np.ndarray
    diverged: np.ndarray
    n_steps: int
    note: str = ""
    #: the :class:`~neurodsr.dynamics.spectrum.LyapunovSpectrum` behind it (per step)
    per_step: Any = None


def model_spectrum(
    model: LatentModel,
    x_starts: np.ndarray,
    dt: float,
    *,
    n_steps: int = 5000,
    n_transient: int = 1000,
    seed: int = 0,
    max_seconds: float | None = None,
) -> ModelSpectrum:
    """Every member's Lyapunov spectrum, by QR along free runs started from data states.

    Parameters
    ----------
    model : LatentModel
    x_starts : array (B, N)
        Normalised observations the orbits start from (their inferred states).
    dt : float
        Model step (s): the exponents are divided by it.
    n_steps, n_transient : int
        QR steps averaged over, and free steps before them.
    seed : int
        Seed of the QR frames.
    max_seconds : float, optional
        Time budget. A pilot of 50 QR steps times one step; when ``n_transient + n_steps``
        would not fit into 80 % of the budget, fewer steps are used (at least 100) and
        ``note`` says so. None: no budget, no pilot.
    """
    from neurodsr.dynamics.spectrum import lyapunov_spectrum

    x0 = torch.as_tensor(np.asarray(x_starts), dtype=torch.float32, device=_device(model))
    with torch.no_grad():
        z0 = model.init_state(x0.unsqueeze(0).expand(model.n_models, -1, -1).contiguous())
    note = ""
    if max_seconds is not None:
        pilot = 50
        t0 = time.perf_counter()
        lyapunov_spectrum(model, n_steps=pilot, n_transient=0, z0=z0, seed=seed, qr_warmup=0)
        per_step = (time.perf_counter() - t0) / pilot
        fits = int(0.8 * max(0.0, max_seconds) / max(per_step, 1e-9))
        if fits < n_transient + n_steps:
            wanted = n_steps
            n_transient = min(n_transient, fits // 5)
            n_steps = max(100, fits - n_transient)
            note = (
                f"the model's spectrum averaged over {n_steps} QR steps instead of {wanted}: "
                f"at {per_step * 1e3:.3g} ms per step more would not fit the evaluation's "
                f"time budget of {max_seconds / 60:.3g} min (evaluate.max_minutes)"
            )
            log.warning(note)
    spec = lyapunov_spectrum(model, n_steps=n_steps, n_transient=n_transient, z0=z0, seed=seed)
    return ModelSpectrum(
        exponents=np.asarray(spec.exponents, dtype=np.float64) / dt,
        std=np.asarray(spec.std, dtype=np.float64) / dt,
        kaplan_yorke=np.asarray(spec.kaplan_yorke, dtype=np.float64),
        diverged=np.asarray(spec.diverged).astype(bool),
        n_steps=int(n_steps),
        note=note,
        per_step=spec,
    )


def trained_forcing(meta: dict[str, Any]) -> tuple[int | None, float, str]:
    """The forcing a fitted ensemble was trained with, as ``(tau, alpha, note)`` for
    :func:`neurodsr.dynamics.gradients.horizon_growth`: STF -> (tau, 1); GTF with a fixed
    alpha -> (1, alpha); no forcing, or an adaptive alpha whose value is not recorded ->
    (None, 1) and a note saying why there is no forced curve.

    ``meta`` is :attr:`neurodsr.api.FittedModel.meta` (fit.json's content).
    """
    forcing = str(meta.get("forcing") or "none")
    tau, alpha = meta.get("tau"), meta.get("alpha")
    if forcing == "stf" and tau:
        return int(tau), 1.0, ""
    if forcing == "gtf":
        try:
            a = float(alpha)
        except (TypeError, ValueError):
            return None, 1.0, f"GTF with alpha = {alpha}: no fixed strength to draw"
        if math.isfinite(a) and 0 < a <= 1:
            return 1, a, ""
    return None, 1.0, f"trained with forcing '{forcing}': no forced curve"


def _gtf_alpha(meta: dict[str, Any] | None) -> float | None:
    """The fixed GTF strength a fit trained with (None: STF, no forcing, adaptive)."""
    tau, alpha, _ = trained_forcing(meta or {})
    return alpha if tau == 1 and alpha < 1 else None


def forcing_growth(
    fitted: FittedModel,
    x_train: np.ndarray,
    dt: float,
    *,
    lambda_max: float | None = None,
    seed: int = 0,
) -> xr.Dataset:
    """Why forcing was needed, on the trained ensemble: Jacobian-product and loss-gradient
    growth with the horizon, without forcing and with the forcing it was trained with, next to
    lambda_max T (:func:`neurodsr.dynamics.gradients.horizon_growth`).

    Parameters
    ----------
    fitted : neurodsr.api.FittedModel
    x_train : array (time, N)
        The training part in data units.
    dt : float
        Step, s.
    lambda_max : float, optional
        The data's lambda_max, per s (drawn as lambda_max T).
    seed : int
        Seed of the windows.

    Returns
    -------
    xarray.Dataset
        ``horizon_growth``'s Dataset; attrs also ``note`` (why there is no forced curve).
    """
    from neurodsr.dynamics.gradients import horizon_growth

    tau, alpha, note = trained_forcing(fitted.meta)
    lam = lambda_max * dt if lambda_max is not None and math.isfinite(lambda_max) else None
    growth = horizon_growth(
        fitted.model,
        fitted.normalise(np.asarray(x_train, dtype=np.float64)),
        tau=tau,
        alpha=alpha,
        lambda_max_per_step=lam,
        dt=dt,
        seed=seed,
    )
    growth.attrs["note"] = note
    return growth


def _growth_within_budget(
    fitted: FittedModel,
    x_train: np.ndarray,
    dt: float,
    lambda_max: float | None,
    seed: int,
    max_minutes: float | None,
    t_start: float,
) -> xr.Dataset:
    """:func:`forcing_growth`, or an empty Dataset whose ``note`` says why it was skipped (the
    evaluation's time budget spent, or a series too short for any horizon)."""
    if max_minutes is not None and time.perf_counter() - t_start > 0.9 * max_minutes * 60:
        note = "gradient growth with the horizon skipped: the evaluation's time budget was spent"
        return xr.Dataset(attrs={"note": note})
    try:
        return forcing_growth(fitted, x_train, dt, lambda_max=lambda_max, seed=seed)
    except ValueError as err:  # no horizon fits into a very short training part
        return xr.Dataset(attrs={"note": f"gradient growth with the horizon skipped: {err}"})


def _growth_variables(growth: xr.Dataset, seeds: list[int]) -> xr.Dataset:
    """:func:`forcing_growth`'s Dataset as reconstruction.nc variables: ``growth_*`` over
    (condition, growth_horizon, member), the forcing in their attrs."""
    g = growth.rename({"horizon": "growth_horizon", "time": "growth_time"})
    g = g.assign_coords(member=np.asarray(seeds))
    g = g.rename({v: f"growth_{v}" for v in g.data_vars})
    for v in g.data_vars:
        g[v].attrs.update(
            {f"growth_{k}": val for k, val in growth.attrs.items() if k not in ("note",)}
        )
    g.attrs = {}
    return g


def _lyapunov_comparison(
    spec: ModelSpectrum,
    dt: float,
    lam_data: float | None,
    lam_data_std: float | None,
    verdict: str | None,
    diverged: Sequence[bool] = (),
    seeds: Sequence[int] = (),
    alpha: float | None = None,
    candidates: bool = False,
) -> dict[str, Any]:
    """The data's and the models' lambda_max side by side
    (:func:`neurodsr.dynamics.spectrum.compare_lyapunov`), as metrics.json fields.

    Members that ``diverged`` on the held-out part are left out of the models' median and
    range (their exponent describes an orbit that left the data's range, not the
    reconstruction), unless every member diverged; ``lyapunov_left_out`` names their seeds.
    ``alpha``: the GTF strength the models trained with (None: not GTF), so that a
    disagreement can name forcing too weak for the data's exponent. ``candidates``: whether
    the models trained with the candidates from lambda_max (see ``compare_lyapunov``).
    """
    from dataclasses import replace

    from neurodsr.dynamics.spectrum import compare_lyapunov

    if spec.per_step is None:
        return {}
    per_step = spec.per_step
    bad = [e for e, d in enumerate(diverged) if d and e < per_step.exponents.shape[0]]
    if bad and len(bad) < per_step.exponents.shape[0]:
        ex = np.array(per_step.exponents, dtype=np.float64, copy=True)
        ex[bad] = np.nan
        per_step = replace(per_step, exponents=ex)
    else:
        bad = []
    data = {"lambda_max": lam_data, "lambda_std": lam_data_std, "verdict": verdict or "unclear"}
    cmp = compare_lyapunov(data, per_step, dt, alpha=alpha, candidates=candidates)
    left_out = [int(seeds[e]) if e < len(seeds) else e for e in bad]
    statement = cmp.statement
    if left_out:
        statement += (
            f" (seed(s) {', '.join(map(str, left_out))} left out: diverged on the held-out part)"
        )
    return {
        "lyapunov_agree": cmp.agree,
        "lyapunov_comparison": statement,
        "lyapunov_left_out": left_out,
        "lambda_max_model_median": _num(cmp.lambda_model_median),
        "lambda_supported": _num(cmp.lambda_supported),
        "lambda_supported_by": cmp.supported_by,
    }


@dataclass
class FitEvaluation:
    """What :func:`evaluate_fit` returns.

    Attributes
    ----------
    dataset : xarray.Dataset
        reconstruction.nc (see :func:`evaluate_fit`).
    metrics : dict
        JSON-able scores (metrics.json without the training facts).
    members : Evaluation
        Every member's scores on the held-out part.
    spectrum : ModelSpectrum
    """

    dataset: xr.Dataset
    metrics: dict[str, Any]
    members: Evaluation
    spectrum: ModelSpectrum


def evaluate_fit(
    fitted: FittedModel,
    x: np.ndarray,
    n_train: int,
    dt: float,
    *,
    lambda_max_data: float | None = None,
    lambda_max_data_std: float | None = None,
    lyapunov_verdict: str | None = None,
    dims: Sequence[str] | None = None,
    time_coord: np.ndarray | None = None,
    n_generate: int | None = None,
    n_pred: int = 20,
    vpt_threshold: float = 0.5,
    vpt_horizon: int = 1000,
    spectrum_steps: int = 5000,
    seed: int = 0,
    max_minutes: float | None = None,
    progress: bool = False,
) -> FitEvaluation:
    """Score a fitted ensemble on the held-out last part of ``x``: the one scorer.

    ``neurodsr evaluate`` (the workflow) and :func:`neurodsr.fit` (the API) both score with it.

    Parameters
    ----------
    fitted : neurodsr.api.FittedModel
        The ensemble and its normalisation; ``fitted.best`` is the member chosen by
        validation on the training part (never by these scores).
    x : array (time, N)
        The whole series in data units; ``x[n_train:]`` is scored.
    n_train : int
        Training samples.
    dt : float
        Step, s (or the system's time units).
    lambda_max_data, lambda_max_data_std : float, optional
        The data's largest exponent and its error, per s (lyapunov.json), for the comparison.
    lyapunov_verdict : str, optional
        The Lyapunov stage's verdict, carried into the metrics.
    dims : list of str, optional
        Names of the dims (default x0, x1, ...).
    time_coord : array (time,), optional
        Times of ``x`` in s (default ``arange(time) * dt``).
    n_generate : int, optional
        Length of the scored free runs, after 1000 discarded transient steps, started from the
        first held-out sample (default :func:`scored_length`: 5x the held-out part's length,
        at most 10^5 steps, never shorter than the held-out part). D_stsp, frac_outside and
        max_excursion are of the whole run, D_H of its spectrum averaged over its segments of
        the held-out part's length (:func:`free_run_scores`); PE(n), the n-step predictions
        and the VPT start from held-out states and do not depend on it.
    n_pred : int
        n of PE(n) and of the stored n-step predictions, steps (default 20).
    vpt_threshold : float
        Normalised RMSE at which a free prediction stops being valid (default 0.5).
    vpt_horizon : int
        Longest prediction checked for the valid prediction time, steps (default 1000).
    spectrum_steps : int
        QR steps of the model's Lyapunov spectrum, after 1000 transient steps (default 5000),
        from 8 states inferred from random training samples.
    seed : int
        Seed of those states and of the QR frames.
    max_minutes : float, optional
        Time budget of the evaluation; the spectrum, its costly part, gets what the rest left
        (fewer QR steps when needed, said in ``metrics["notes"]``). None: no budget.
    progress : bool
        tqdm progress over the evaluation's parts and its long loops.

    Returns
    -------
    FitEvaluation
        ``dataset`` (reconstruction.nc): ``data(time, dim)`` (held-out part, data units),
        ``generated(generated_time, dim)`` (the best member's whole scored free run,
        n_generate steps), ``generated_members(member, member_time, dim)`` (the first
        min(n_test, n_generate) steps of every member's free run, so that the file does not
        grow with the scored length times the members), ``prediction(time, dim)``
        (n_pred-step predictions of the best member), ``prediction_error(member, horizon)``
        (PE(k) curve), ``vpt_error(lead)``, ``vpt_valid_fraction(lead)``,
        ``lyapunov_spectrum(member, exponent)`` per s with ``lyapunov_spectrum_std``,
        ``kaplan_yorke(member)``; metrics in attrs (``metric_*``).
        ``metrics``: the best member's D_stsp, D_H, PE, frac_outside, diverged; median and IQR
        over members, every member's status; the scored length (``n_generate``, also as
        ``scored_length``; ``n_test``; ``dh_segments``, the segments D_H averages over); the
        data's own reference (``dstsp_data_reference``, ``dh_data_reference``,
        ``n_data_reference``: :func:`data_reference`, the training part's last
        ``n_data_reference`` samples scored like a free run: scores near it are at the
        metric's floor); the model's and the data's lambda_max, their
        ratio; VPT (steps, s, Lyapunov times,
        :func:`neurodsr.metrics.core.valid_prediction_time`); the Kaplan-Yorke dimension; the
        near-constant held-out dims left out (``excluded_dims``, ``excluded_dim_names``); the
        high-frequency check (``hf_*``) and the verdict ``health`` / ``health_reasons``
        (:func:`neurodsr.metrics.core.session_health`).
    """
    from neurodsr.metrics.core import high_frequency_fields, session_health, valid_prediction_time
    from neurodsr.provenance import provenance_attrs

    t_start = time.perf_counter()
    x = np.asarray(x, dtype=np.float64)
    n_train = int(n_train)
    test = x[n_train:]
    model = fitted.model
    model.eval()
    best = int(fitted.best)
    seeds = list(model.seeds)
    dims = [f"x{i}" for i in range(x.shape[1])] if dims is None else [str(d) for d in dims]
    x_norm = fitted.normalise(test)
    bar = tqdm(total=5, desc="evaluate", disable=not progress, leave=False)

    bar.set_postfix_str("free runs and scores")
    members = evaluate(model, x_norm, n_generate=n_generate, n_pred=n_pred)
    bar.update()
    bar.set_postfix_str("n-step predictions")
    pred = fitted.denormalise(n_step_predictions(model, x_norm, n_pred)[best])
    bar.update()
    bar.set_postfix_str("valid prediction time")
    # near-constant held-out dims (against the training std) are left out of the VPT too
    excluded = list(members.excluded_dims)
    errors = prediction_horizon_errors(
        model, x_norm, vpt_horizon, best, progress=progress, exclude=excluded
    )
    vpt_result = valid_prediction_time(errors, vpt_threshold)
    vpt_steps = float(vpt_result.vpt_steps)
    bar.update()
    bar.set_postfix_str("Lyapunov spectrum")
    rng = np.random.default_rng(seed)
    starts = fitted.normalise(x[rng.integers(0, n_train, 8)])
    left = None
    if max_minutes is not None:
        left = max_minutes * 60 - (time.perf_counter() - t_start)
    spec = model_spectrum(model, starts, dt, n_steps=spectrum_steps, seed=seed, max_seconds=left)
    bar.update()
    bar.set_postfix_str("gradient growth")
    growth = _growth_within_budget(
        fitted, x[:n_train], dt, lambda_max_data, seed, max_minutes, t_start
    )
    bar.update()
    bar.close()

    # the data's own reference: the training part scored like a free run, on the same dims
    keep = np.ones(x.shape[1], dtype=bool)
    keep[[i for i in excluded if i < x.shape[1]]] = False
    if not keep.any():
        keep[:] = True
    reference = data_reference(
        fitted.normalise(x[:n_train]), x_norm, int(members.metrics[best]["n_model"]), keep
    )

    b = members.metrics[best]
    lam_model = _num(spec.exponents[best, 0])
    lam_data = _num(lambda_max_data)
    lyap_time = 1.0 / lam_data if lam_data and lam_data > 0 else None
    metrics: dict[str, Any] = {k: b[k] for k in ("D_stsp", "D_H", "PE", "frac_outside")}
    metrics.update(
        diverged=bool(b["diverged"]),
        free_run_finite=bool(b["free_run_finite"]),
        n_pred=int(n_pred),
        n_test=int(b["n_data"]),
        n_generate=int(b["n_model"]),
        scored_length=int(b["n_model"]),
        dh_segments=int(b["D_H_segments"]),
        **reference,
        dt=float(dt),
        n_dims=len(dims),
        n_train=n_train,
        seeds=seeds,
        best_member=best,
        best_seed=seeds[best],
        lambda_max_data=lam_data,
        lambda_max_data_std=_num(lambda_max_data_std),
        lyapunov_verdict=lyapunov_verdict,
        lambda_max_model=lam_model,
        lambda_max_model_members=[_num(v) for v in spec.exponents[:, 0]],
        lambda_ratio=lam_model / lam_data if lam_data and lam_model is not None else None,
        kaplan_yorke=_num(spec.kaplan_yorke[best]),
        spectrum_steps=spec.n_steps,
        vpt_steps=vpt_steps,
        vpt_seconds=vpt_steps * dt,
        vpt_lyapunov_times=vpt_steps * dt / lyap_time if lyap_time else None,
        vpt_threshold=vpt_threshold,
        vpt_capped=vpt_result.capped,
        notes=[n for n in (spec.note, growth.attrs.get("note", "")) if n],
        evaluate_seconds=time.perf_counter() - t_start,
    )
    metrics.update(members.summary())
    metrics.update(
        _lyapunov_comparison(
            spec,
            dt,
            lam_data,
            lambda_max_data_std,
            lyapunov_verdict,
            diverged=[bool(m["diverged"]) for m in members.metrics],
            seeds=seeds,
            alpha=_gtf_alpha(fitted.meta),
            candidates=bool((fitted.meta or {}).get("candidates")),
        )
    )

    gen_members = fitted.denormalise(members.generated)
    metrics["excluded_dim_names"] = [dims[i] for i in excluded if i < len(dims)]
    # the high-frequency check compares equal lengths, as before the longer scored run
    n_test = len(test)
    metrics.update(
        high_frequency_fields(test, gen_members[best][:n_test], 1.0 / dt, dims, excluded=excluded)
    )
    # the range check training ran on the kept states (fit.json's range_check): when the kept
    # seed failed it, every seed did, and the verdict must say so (session_health)
    why = ((fitted.meta or {}).get("range_check") or {}).get("why") or []
    if best < len(why) and why[best]:
        metrics["range_check_failed"] = str(why[best])
    health = session_health(metrics)
    metrics.update(
        health=health.status,
        health_reasons=list(health.reasons),
        diverged=bool(metrics.get("diverged")) or health.status == "diverged",
    )
    n_gen = gen_members.shape[1]
    if time_coord is None:
        time_coord = np.arange(len(x)) * dt
    ds = xr.Dataset(
        {
            "data": (
                ("time", "dim"),
                test.astype(np.float32),
                {"long_name": "held-out last part of the data, as given", "units": "data units"},
            ),
            "generated": (
                ("generated_time", "dim"),
                gen_members[best].astype(np.float32),
                {
                    "long_name": "free-running trajectory of the best seed, after a "
                    "discarded transient: the whole scored run (n_generate steps)",
                    "units": "data units",
                },
            ),
            "generated_members": (
                ("member", "member_time", "dim"),
                gen_members[:, :n_test].astype(np.float32),
                {
                    "long_name": "free-running trajectory of every seed, its first steps "
                    "(as many as the held-out part has; the best seed's whole run is "
                    "'generated')",
                    "units": "data units",
                },
            ),
            "prediction": (
                ("time", "dim"),
                pred.astype(np.float32),
                {
                    "long_name": f"{n_pred}-step-ahead prediction of the best seed, "
                    "started from the state inferred from the data n steps earlier",
                    "units": "data units",
                },
            ),
            "prediction_error": (
                ("member", "horizon"),
                members.pe_curve,
                {"long_name": "k-step prediction MSE (normalised units)", "units": "1"},
            ),
            "vpt_valid_fraction": (
                ("lead",),
                vpt_result.valid_fraction(),
                {
                    "long_name": "share of the best seed's free predictions still valid "
                    "(normalised RMSE never above the threshold), by lead time",
                    "units": "1",
                },
            ),
            "vpt_error": (
                ("lead",),
                np.median(np.where(np.isfinite(errors), errors, np.nan), axis=0),
                {
                    "long_name": "median normalised RMSE of free predictions of the "
                    "best seed, by lead time",
                    "units": "1",
                },
            ),
            "lyapunov_spectrum": (
                ("member", "exponent"),
                spec.exponents,
                {"long_name": "Lyapunov spectrum of the model", "units": "1/s"},
            ),
            "lyapunov_spectrum_std": (
                ("member", "exponent"),
                spec.std,
                {"long_name": "spread of the exponents over orbits", "units": "1/s"},
            ),
            "kaplan_yorke": (
                ("member",),
                spec.kaplan_yorke,
                {"long_name": "Kaplan-Yorke dimension of the model", "units": "1"},
            ),
            **{
                key: (
                    ("member",),
                    np.array([m[key] for m in members.metrics], dtype=np.float64),
                    {"long_name": f"{key} of every seed on the held-out part", "units": "1"},
                )
                for key in ("D_stsp", "D_H", "PE", "frac_outside")
            },
        },
        coords={
            "time": (
                "time",
                np.asarray(time_coord)[n_train:],
                {"units": "s", "long_name": "time in the recording"},
            ),
            "generated_time": (
                "generated_time",
                np.arange(n_gen) * dt,
                {"units": "s", "long_name": "time since the free run's start"},
            ),
            "member_time": (
                "member_time",
                np.arange(min(n_test, n_gen)) * dt,
                {"units": "s", "long_name": "time since the free run's start"},
            ),
            "dim": ("dim", np.asarray(dims, dtype=str), {"long_name": "dimension of the data"}),
            "member": ("member", np.asarray(seeds), {"long_name": "seed"}),
            "horizon": (
                "horizon",
                np.arange(1, n_pred + 1),
                {"units": "steps", "long_name": "prediction horizon"},
            ),
            "lead": (
                "lead",
                np.arange(1, errors.shape[1] + 1) * dt,
                {"units": "s", "long_name": "lead time of the prediction"},
            ),
            "exponent": ("exponent", np.arange(spec.exponents.shape[1]), {"long_name": "index"}),
        },
    )
    if "log_jacobian_growth" in growth:
        ds = ds.merge(_growth_variables(growth, seeds))
    ds.attrs = provenance_attrs(
        stage="evaluate",
        dt=float(dt),
        n_train=n_train,
        seeds=seeds,
        best_seed=seeds[best],
        **{f"metric_{k}": v for k, v in metrics.items()},
    )
    return FitEvaluation(dataset=ds, metrics=metrics, members=members, spectrum=spec)
