"""Stage functions of the workflow that go beyond one library call: evaluate a fitted session,
read its training log, and summarise every session (done or failed).

The Snakemake rules call these through the command line (``neurodsr evaluate``, ``neurodsr
summary``); they read and return xarray Datasets and dicts, and only the ``*_files`` helpers
touch the disk. Nothing here imports Snakemake.

Layout of one session's results (DESIGN.md, data contracts)::

    results/{session}/recording.nc      neurodsr ingest
    results/{session}/preprocessed.nc   neurodsr preprocess (+ preprocess.json: its options)
    results/{session}/lyapunov.nc/.json neurodsr lyapunov
    results/{session}/models/           neurodsr fit: fit.nc, fit.pt, fit.json, checkpoints/;
                                        neurodsr evaluate: log.json, config.json
    results/{session}/reconstruction.nc neurodsr evaluate (+ metrics.json)
    results/{session}/report.html       neurodsr report
    results/{session}/logs/{stage}.log  every stage's log
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from neurodsr.errors import InputError

__all__ = [
    "STAGES",
    "evaluate_session",
    "load_train_log",
    "n_step_predictions",
    "prediction_horizon_errors",
    "session_files",
    "session_status",
    "summarize_sessions",
    "valid_prediction_steps",
]

log = logging.getLogger(__name__)

#: The per-session stages in order, with the file each one writes last.
STAGES: tuple[tuple[str, str], ...] = (
    ("ingest", "recording.nc"),
    ("preprocess", "preprocessed.nc"),
    ("lyapunov", "lyapunov.json"),
    ("train", "models/fit.json"),
    ("evaluate", "metrics.json"),
    ("report", "report.html"),
)


def session_files(results: str | os.PathLike[str], session: str) -> dict[str, Path]:
    """The paths of a session's outputs, by name (see the module docstring)."""
    root = Path(results) / session
    return {
        "recording": root / "recording.nc",
        "preprocessed": root / "preprocessed.nc",
        "preprocess_config": root / "preprocess.json",
        "lyapunov": root / "lyapunov.nc",
        "lyapunov_json": root / "lyapunov.json",
        "fit": root / "models" / "fit.nc",
        "weights": root / "models" / "fit.pt",
        "fit_json": root / "models" / "fit.json",
        "checkpoints": root / "models" / "checkpoints",
        "train_log": root / "models" / "log.json",
        "model_config": root / "models" / "config.json",
        "reconstruction": root / "reconstruction.nc",
        "metrics": root / "metrics.json",
        "report": root / "report.html",
        "logs": root / "logs",
    }


# --------------------------------------------------------------------------- training log
def load_train_log(checkpoint_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The training log (loss per epoch per member, validations, events) from a checkpoint.

    ``neurodsr fit --checkpoint-dir`` saves the log with every checkpoint, the last one at the
    end of training. Returns the :class:`neurodsr.training.TrainLog` fields as a dict, or None
    when there is no readable checkpoint.
    """
    import torch

    from neurodsr.training.trainer import CHECKPOINT_NAME

    path = Path(checkpoint_dir) / CHECKPOINT_NAME
    if not path.is_file():
        return None
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
        return dict(json.loads(ck["log"]))
    except Exception as err:  # a damaged checkpoint costs the curves, not the evaluation
        log.warning("cannot read the training log from %s: %s", path, err)
        return None


# --------------------------------------------------------------------------- predictions
def _device(model: Any) -> Any:
    return next(model.parameters()).device


def n_step_predictions(model: Any, x: np.ndarray, n: int) -> np.ndarray:
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
    import torch

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
    model: Any,
    x: np.ndarray,
    horizon: int,
    member: int,
    n_starts: int = 200,
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
    import torch

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
        for k in range(1, horizon + 1):
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


# --------------------------------------------------------------------------- evaluation
def _num(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _fit_metrics(fit_ds: xr.Dataset) -> dict[str, Any]:
    """The ``metric_*`` attrs of FIT.nc, decoded (JSON strings back to lists)."""
    out: dict[str, Any] = {}
    for key, value in fit_ds.attrs.items():
        if not key.startswith("metric_"):
            continue
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                pass
            if value == "none":
                value = None
        elif isinstance(value, np.generic):
            value = value.item()
        out[key[len("metric_") :]] = value
    return out


def _tau_reason(fit_ds: xr.Dataset, lyapunov: dict[str, Any], tau: Any) -> str:
    """Why tau: the Lyapunov stage's explanation when the fit used its tau, else the fit's."""
    given = str(fit_ds.attrs.get("tau_reason", ""))
    if lyapunov.get("tau_explanation") and lyapunov.get("tau") == tau:
        return str(lyapunov["tau_explanation"])
    return given


def evaluate_session(
    preprocessed: xr.Dataset,
    fit_ds: xr.Dataset,
    fitted: Any,
    lyapunov: dict[str, Any],
    *,
    n_pred: int = 20,
    vpt_threshold: float = 0.5,
    vpt_horizon: int = 1000,
    spectrum_steps: int = 5000,
    seed: int = 0,
) -> tuple[xr.Dataset, dict[str, Any]]:
    """Compare a fitted model with a session's held-out data.

    Parameters
    ----------
    preprocessed : xarray.Dataset
        ``preprocessed.nc`` (``x(time, dim)``, attrs ``dt`` in s and ``n_train``).
    fit_ds : xarray.Dataset
        ``models/fit.nc`` written by ``neurodsr fit`` (free runs of every seed, their metrics).
    fitted : neurodsr.api.FittedModel
        The weights (``neurodsr.load_fit("models/fit.pt")``); ``fitted.best`` is the seed
        chosen by validation on the training part.
    lyapunov : dict
        ``lyapunov.json`` (the data's lambda_max per s, tau and why).
    n_pred : int
        Horizon of the n-step predictions stored, steps.
    vpt_threshold : float
        Normalised RMSE at which a free prediction stops being valid.
    vpt_horizon : int
        Longest prediction checked for the valid prediction time, steps.
    spectrum_steps : int
        QR steps of the model's Lyapunov spectrum (after 1000 transient steps).
    seed : int
        Seed of the spectrum's initial states.

    Returns
    -------
    reconstruction : xarray.Dataset
        ``data(time, dim)`` (held-out part), ``generated(generated_time, dim)`` (free run of the
        best seed), ``generated_members(member, generated_time, dim)``,
        ``prediction(time, dim)`` (n_pred-step predictions of the best seed),
        ``prediction_error(member, horizon)``, ``lyapunov_spectrum(member, exponent)`` per s
        with ``lyapunov_spectrum_std``, ``kaplan_yorke(member)``, ``vpt_error(lead)``,
        ``vpt_valid_fraction(lead)``; metrics in attrs (``metric_*``).
    metrics : dict
        JSON-able: the fit's metrics (best seed, median and IQR over seeds), the data's and
        the model's lambda_max (per s), their ratio, the valid prediction time (s and Lyapunov
        times, :func:`neurodsr.metrics.core.valid_prediction_time`), the Kaplan-Yorke
        dimension, tau and its reason, the high-frequency check (``hf_*``) and the verdict
        ``health`` / ``health_reasons`` (:func:`neurodsr.metrics.core.session_health`).
    """
    import torch

    from neurodsr.dynamics.spectrum import lyapunov_spectrum
    from neurodsr.metrics.core import high_frequency_fields, session_health, valid_prediction_time
    from neurodsr.provenance import provenance_attrs

    dt = float(preprocessed.attrs["dt"])
    n_train = int(preprocessed.attrs["n_train"])
    x_all = np.asarray(preprocessed["x"].values, dtype=np.float64)
    test = x_all[n_train:]
    dims = [str(d) for d in preprocessed["dim"].values]
    model = fitted.model
    model.eval()
    best = int(fitted.best)
    seeds = list(model.seeds)
    x_norm = fitted.normalise(test)

    pred = fitted.denormalise(n_step_predictions(model, x_norm, n_pred)[best])
    excluded = [int(i) for i in _fit_metrics(fit_ds).get("excluded_dims") or []]
    errors = prediction_horizon_errors(model, x_norm, vpt_horizon, best, exclude=excluded)
    vpt_result = valid_prediction_time(errors, vpt_threshold)
    vpt_steps = float(vpt_result.vpt_steps)

    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n_train, 8)
    x0 = torch.as_tensor(fitted.normalise(x_all[idx]), dtype=torch.float32, device=_device(model))
    with torch.no_grad():
        z0 = model.init_state(x0.unsqueeze(0).expand(model.n_models, -1, -1).contiguous())
    spec = lyapunov_spectrum(model, n_steps=spectrum_steps, n_transient=1000, z0=z0, seed=seed)
    exps = np.asarray(spec.exponents) / dt
    exps_std = np.asarray(spec.std) / dt

    metrics = _fit_metrics(fit_ds)
    lam_data = _num(lyapunov.get("lambda_max"))
    lam_model = _num(exps[best, 0])
    ratio = lam_model / lam_data if lam_data and lam_model is not None else None
    lyap_time = 1.0 / lam_data if lam_data and lam_data > 0 else None
    metrics.update(
        session=str(preprocessed.attrs.get("session", "")),
        modality=str(preprocessed.attrs.get("modality", "")),
        dt=dt,
        n_dims=len(dims),
        n_train=n_train,
        best_member=best,
        best_seed=seeds[best],
        lambda_max_data=lam_data,
        lambda_max_data_std=_num(lyapunov.get("lambda_std")),
        lyapunov_verdict=lyapunov.get("verdict"),
        lambda_max_model=lam_model,
        lambda_max_model_members=[_num(v) for v in exps[:, 0]],
        lambda_ratio=ratio,
        kaplan_yorke=_num(spec.kaplan_yorke[best]),
        tau=metrics.get("tau"),
        tau_reason=_tau_reason(fit_ds, lyapunov, metrics.get("tau")),
        forcing_reason=str(fit_ds.attrs.get("forcing_reason", "")),
        vpt_steps=vpt_steps,
        vpt_seconds=vpt_steps * dt,
        vpt_lyapunov_times=vpt_steps * dt / lyap_time if lyap_time else None,
        vpt_threshold=vpt_threshold,
        vpt_capped=vpt_result.capped,
        n_pred=n_pred,
        n_pred_mse=_num(np.nanmean((fitted.normalise(pred) - x_norm)[n_pred:] ** 2)),
    )
    for key in ("D_stsp", "D_H", "PE"):
        metrics.setdefault(key, None)

    gen_members = np.asarray(fit_ds["generated_members"].values)
    metrics["excluded_dim_names"] = [dims[i] for i in excluded if i < len(dims)]
    metrics.update(
        high_frequency_fields(test, gen_members[best], 1.0 / dt, dims, excluded=excluded)
    )
    health = session_health(metrics)
    metrics.update(
        health=health.status,
        health_reasons=list(health.reasons),
        diverged=bool(metrics.get("diverged")) or health.status == "diverged",
    )
    n_gen = gen_members.shape[1]
    time_test = preprocessed["time"].values[n_train:]
    ds = xr.Dataset(
        {
            "data": (
                ("time", "dim"),
                test.astype(np.float32),
                {
                    "long_name": "held-out data (last part of preprocessed x)",
                    "units": "preprocessed units (z-scored / principal components)",
                },
            ),
            "generated": (
                ("generated_time", "dim"),
                gen_members[best].astype(np.float32),
                {
                    "long_name": "free-running trajectory of the best seed, after a "
                    "discarded transient",
                    "units": "preprocessed units",
                },
            ),
            "generated_members": (
                ("member", "generated_time", "dim"),
                gen_members.astype(np.float32),
                {
                    "long_name": "free-running trajectory of every seed",
                    "units": "preprocessed units",
                },
            ),
            "prediction": (
                ("time", "dim"),
                pred.astype(np.float32),
                {
                    "long_name": f"{n_pred}-step-ahead prediction of the best seed, "
                    "started from the state inferred from the data n steps earlier",
                    "units": "preprocessed units",
                },
            ),
            "prediction_error": (
                ("member", "horizon"),
                np.asarray(fit_ds["pe_curve"].values),
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
                exps,
                {"long_name": "Lyapunov spectrum of the model", "units": "1/s"},
            ),
            "lyapunov_spectrum_std": (
                ("member", "exponent"),
                exps_std,
                {"long_name": "spread of the exponents over orbits", "units": "1/s"},
            ),
            "kaplan_yorke": (
                ("member",),
                np.asarray(spec.kaplan_yorke, dtype=np.float64),
                {"long_name": "Kaplan-Yorke dimension of the model", "units": "1"},
            ),
        },
        coords={
            "time": ("time", time_test, {"units": "s", "long_name": "time in the recording"}),
            "generated_time": (
                "generated_time",
                np.arange(n_gen) * dt,
                {"units": "s", "long_name": "time since the free run's start"},
            ),
            "dim": ("dim", np.asarray(dims, dtype=str), {"long_name": "preprocessed dimension"}),
            "member": ("member", np.asarray(seeds), {"long_name": "seed"}),
            "horizon": (
                "horizon",
                np.asarray(fit_ds["horizon"].values),
                {"units": "steps", "long_name": "prediction horizon"},
            ),
            "lead": (
                "lead",
                np.arange(1, errors.shape[1] + 1) * dt,
                {"units": "s", "long_name": "lead time of the prediction"},
            ),
            "exponent": ("exponent", np.arange(exps.shape[1]), {"long_name": "index"}),
        },
    )
    ds.attrs = provenance_attrs(
        stage="evaluate",
        session=metrics["session"],
        dt=dt,
        seeds=seeds,
        best_seed=seeds[best],
        model_config=fit_ds.attrs.get("model_config", ""),
        train_config=fit_ds.attrs.get("train_config", ""),
        **{f"metric_{k}": v for k, v in metrics.items() if k not in ("session",)},
    )
    return ds, metrics


# --------------------------------------------------------------------------- status / summary
_ERROR_LINE = re.compile(r"(neurodsr \w+: error: .*|\w*Error: .*|Error .*|error: .*)")


def _log_excerpt(path: Path, n_lines: int = 30) -> tuple[str, str]:
    """(the most telling error line, the last ``n_lines`` lines) of a log file."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return "", ""
    tail = "\n".join(lines[-n_lines:])
    for line in reversed(lines):
        m = _ERROR_LINE.search(line)
        if m and "Traceback" not in line:
            return m.group(0).strip(), tail
    return (lines[-1].strip() if lines else ""), tail


def session_status(results: str | os.PathLike[str], session: str) -> dict[str, Any]:
    """Where a session stands: ``ok`` (report written), ``failed`` (a stage's log holds an
    error and its output is missing), ``incomplete`` (not run yet / still running).

    Returns a dict with ``status``, ``stage`` (the first stage without output), ``error``
    (the error line of its log), ``log`` (the log's path) and ``log_tail`` (its last lines).
    """
    root = Path(results) / session
    out: dict[str, Any] = {
        "session": session,
        "status": "ok",
        "stage": None,
        "error": "",
        "log": None,
        "log_tail": "",
    }
    for stage, name in STAGES:
        if (root / name).is_file():
            continue
        logfile = root / "logs" / f"{stage}.log"
        out["stage"] = stage
        if logfile.is_file():
            error, tail = _log_excerpt(logfile)
            out.update(status="failed", error=error, log=str(logfile), log_tail=tail)
        else:
            out.update(
                status="incomplete", error=f"not run: no {name} and no log of the {stage} stage"
            )
        return out
    return out


def summarize_sessions(
    results: str | os.PathLike[str], sessions: Sequence[str]
) -> list[dict[str, Any]]:
    """One row per session: its status and key numbers (from metrics.json / lyapunov.json).

    Sessions that failed carry the failing stage, the error line and the log's tail.
    """
    rows = []
    for session in sessions:
        files = session_files(results, session)
        row = session_status(results, session)
        for key in ("metrics", "lyapunov_json"):
            if files[key].is_file():
                try:
                    data = json.loads(files[key].read_text())
                except ValueError:
                    continue
                if key == "lyapunov_json":
                    data = {
                        "lambda_max_data": data.get("lambda_max"),
                        "lyapunov_verdict": data.get("verdict"),
                        "tau": data.get("tau"),
                        "tau_suggested": data.get("tau"),
                        "tau_suggested_reason": data.get("tau_explanation"),
                    }
                for k, v in data.items():
                    row.setdefault(k, v)
        if row["status"] == "ok":
            from neurodsr.report.status import apply_health

            apply_health(row)
        rows.append(row)
    return rows
