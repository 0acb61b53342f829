"""The Python API: fit a forced RNN ensemble to a time series, save it, load it.

>>> from neurodsr import fit
>>> from neurodsr.dynamics.systems import lorenz63
>>> x = lorenz63(10_000, dt=0.01).values          # array (time, dims), in its own units
>>> result = fit(x, dt=0.01, seeds=4)             # doctest: +SKIP
>>> result.metrics                                # D_stsp, D_H, PE on the held-out last part
>>> result.save("lorenz.pt"); model = load_fit("lorenz.pt")

:func:`train_fit` trains (split, normalise, choose tau and forcing, train, pick the member by
validation: the sequence is :mod:`neurodsr.training.fitting`, the choices by validation
:mod:`neurodsr.training.select`); :func:`neurodsr.metrics.evaluate.evaluate_fit` scores (the
one scorer); :func:`fit` does both. ``neurodsr fit`` runs :func:`train_fit` and writes the
training outputs (:meth:`TrainedFit.write`), ``neurodsr evaluate`` runs the scorer.

This module is the public layer only: the input check of the series, the public functions and
the result classes (which write and load files; the training side returns a plain
:class:`~neurodsr.training.fitting.TrainingResult` that :func:`train_fit` wraps).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr

from neurodsr.errors import InputError
from neurodsr.fileio import atomic_path, write_json
from neurodsr.metrics.evaluate import FitEvaluation, evaluate_fit, free_run
from neurodsr.models import model_from_config
from neurodsr.models.base import LatentModel
from neurodsr.session import FitSummary, LyapunovSummary, fit_outputs
from neurodsr.training import TrainLog
from neurodsr.training.defaults import EVALUATE_DEFAULTS, FIT_DEFAULTS
from neurodsr.training.fitting import run_fit
from neurodsr.training.projection import PCAProjection, ProjectedModel

# re-exported: the tau and forcing choice of train_fit (benchmarks/quality.py takes choose_tau)
from neurodsr.training.resolve import TauChoice, choose_forcing, choose_tau

__all__ = [
    "FitResult",
    "FittedModel",
    "TauChoice",
    "TrainedFit",
    "choose_forcing",
    "choose_tau",
    "fit",
    "load_fit",
    "train_fit",
    "training_facts",
]

D = FIT_DEFAULTS


def _check_series(x: Any, name: str = "x") -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise InputError(f"{name} must have shape (time, dims), got shape {a.shape}")
    if not np.isfinite(a).all():
        bad = int((~np.isfinite(a)).sum())
        raise InputError(
            f"{name} has {bad} NaN/inf values",
            hint="interpolate short gaps or cut the recording (neurodsr preprocess does this)",
        )
    const = np.flatnonzero(a.std(0) == 0)
    if len(const):
        raise InputError(
            f"{name} has constant dims {const.tolist()}", hint="drop them before fitting"
        )
    return a


@dataclass
class FittedModel:
    """A trained ensemble with the normalisation that maps it to data units.

    Attributes
    ----------
    model : LatentModel
        The ensemble (E members), in normalised units (N channels; a model trained on
        principal components is a :class:`~neurodsr.training.projection.ProjectedModel`,
        which reads out the N channels through the PCA loadings).
    mean, std : array (N,)
        The training data's mean and std: data = model output * std + mean.
    dt : float
        Model step, in the data's time units (seconds for recordings).
    best : int
        Index of the member chosen by validation.
    meta : dict
        The :class:`~neurodsr.session.FitSummary` (as JSON) and ``lyapunov``, the data's
        Lyapunov summary the fit used (empty when none).
    """

    model: LatentModel
    mean: np.ndarray
    std: np.ndarray
    dt: float
    best: int = 0
    meta: dict[str, Any] = field(default_factory=dict)

    def normalise(self, x: np.ndarray) -> np.ndarray:
        """Data units -> model units."""
        return (np.asarray(x, dtype=np.float64) - self.mean) / self.std

    def denormalise(self, x: np.ndarray) -> np.ndarray:
        """Model units -> data units."""
        return np.asarray(x) * self.std + self.mean

    def simulate(
        self, x0: np.ndarray, n_steps: int, transient: int = 0, member: int | None = None
    ) -> np.ndarray:
        """Free run from observation ``x0`` (data units), in data units.

        Returns (n_steps, N) for one member (default the best), or (E, n_steps, N) with
        ``member=-1``.
        """
        gen = self.denormalise(free_run(self.model, self.normalise(x0), n_steps, transient))
        if member == -1:
            return gen
        return gen[self.best if member is None else member]

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write weights (state dict) and metadata to one file, atomically.

        Load it with :func:`load_fit` (``torch.load(..., weights_only=True)``: no pickled code).
        """
        net = self.model.inner if isinstance(self.model, ProjectedModel) else self.model
        payload = {
            "format": "neurodsr-fit-1",
            "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()},
            "model_config": json.dumps(net.config()),
            "mean": torch.as_tensor(self.mean),
            "std": torch.as_tensor(self.std),
            "dt": float(self.dt),
            "best": int(self.best),
            "meta": json.dumps(self.meta, default=str),
        }
        if isinstance(self.model, ProjectedModel):  # the PCA observation's transform
            payload["projection"] = self.model.projection.to_tensors()
        with atomic_path(path, suffix=".pt") as tmp:
            torch.save(payload, tmp)
        return Path(path)


def load_fit(path: str | os.PathLike[str], device: str = "cpu") -> FittedModel:
    """Load a model written by :meth:`FittedModel.save` (weights only, no code is unpickled)."""
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
    except Exception as err:
        raise InputError(f"cannot load a fitted model: {err}", file=path) from err
    if not isinstance(payload, dict) or payload.get("format") != "neurodsr-fit-1":
        raise InputError("not a neurodsr fitted-model file", file=path)
    model = model_from_config(json.loads(payload["model_config"]))
    model.load_state_dict(payload["state_dict"])
    if "projection" in payload:
        model = ProjectedModel(model, PCAProjection.from_tensors(payload["projection"]))
    model.to(device).eval()
    return FittedModel(
        model=model,
        mean=payload["mean"].numpy(),
        std=payload["std"].numpy(),
        dt=float(payload["dt"]),
        best=int(payload["best"]),
        meta=json.loads(payload["meta"]),
    )


@dataclass
class TrainedFit(FittedModel):
    """What :func:`train_fit` returns: the fitted ensemble, its log and how it was trained.

    Attributes (besides :class:`FittedModel`'s)
    ----------
    log : TrainLog
        Per-epoch losses per member, validations, events.
    summary : FitSummary
        How it was trained (what models/fit.json holds); ``summary.best_member`` is ``best``.
    lyapunov : LyapunovSummary or None
        The data's Lyapunov estimate the fit used (from lyapunov.json or estimated).
    x : array (time, N)
        The whole series, in data units, as given (the first ``n_train`` samples trained).
    n_train : int
    """

    log: TrainLog = field(default_factory=TrainLog)
    summary: FitSummary | None = None
    lyapunov: LyapunovSummary | None = None
    x: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))
    n_train: int = 0

    @property
    def test(self) -> np.ndarray:
        """The held-out last part of the data, in data units, as given."""
        return self.x[self.n_train :]

    def write(self, weights: str | os.PathLike[str]) -> dict[str, Path]:
        """Write the training outputs, each atomically: the weights ``W.pt``
        (:meth:`FittedModel.save`), the summary ``W.json`` and the training log ``W.log.json``
        (:func:`neurodsr.session.fit_outputs`). Returns their paths by name."""
        assert self.summary is not None
        files = fit_outputs(weights)
        self.save(files["weights"])
        write_json(self.summary.to_json(), files["fit_summary"])
        write_json(self.log.to_dict(), files["train_log"])
        return files


@dataclass
class FitResult(TrainedFit):
    """What :func:`fit` returns: the trained fit and its scores on the held-out part.

    Attributes (besides :class:`TrainedFit`'s)
    ----------
    evaluation : FitEvaluation
        Of :func:`neurodsr.metrics.evaluate.evaluate_fit`: the reconstruction dataset, the
        metrics, every member's scores (``evaluation.members``) and the model's spectrum.
    """

    evaluation: FitEvaluation | None = None

    @property
    def generated(self) -> np.ndarray:
        """The best member's free run, (n_generate, N), in data units."""
        assert self.evaluation is not None
        return np.asarray(self.evaluation.dataset["generated"].values, dtype=np.float64)

    @property
    def metrics(self) -> dict[str, Any]:
        """The scores (best member; median and IQR over members) and how it was trained."""
        assert self.evaluation is not None and self.summary is not None
        return {**self.evaluation.metrics, **training_facts(self.summary)}

    def to_dataset(self) -> xr.Dataset:
        """FIT.nc: the reconstruction (as reconstruction.nc, data units) with the training facts
        and the model's config in its attrs."""
        assert self.evaluation is not None and self.summary is not None
        from neurodsr.provenance import netcdf_safe

        ds = self.evaluation.dataset.copy()
        facts = {f"metric_{k}": v for k, v in training_facts(self.summary).items()}
        ds.attrs.update({k: netcdf_safe(v) for k, v in facts.items()})
        ds.attrs.update(
            model_config=netcdf_safe(self.summary.model),
            train_config=netcdf_safe(self.summary.train),
            tau_reason=self.summary.tau_reason,
            forcing_reason=self.summary.forcing_reason,
        )
        return ds


def training_facts(summary: FitSummary) -> dict[str, Any]:
    """The training facts metrics.json carries beside the scores (one source: fit.json)."""
    return {
        "tau": summary.tau,
        "tau_reason": summary.tau_reason,
        "tau_source": summary.sources.get("tau"),
        "forcing": summary.forcing,
        "alpha": summary.alpha,
        "forcing_reason": summary.forcing_reason,
        "train_seconds": summary.train_seconds,
        "epochs_run": summary.epochs_run,
        "stopped": summary.stopped,
    }


# --------------------------------------------------------------------------- training
def train_fit(
    x: Any,
    dt: float,
    *,
    tau: int | str | None = D["tau"],
    forcing: str = D["forcing"],
    model: str = D["model"],
    latent: int | None = D["latent"],
    hidden: int | None = D["hidden"],
    observation: str = D["observation"],
    components: int | float | None = D["components"],
    seeds: int | Sequence[int] = D["seeds"],
    seed: int = D["seed"],
    test_fraction: float = D["test_fraction"],
    val_fraction: float = D["val_fraction"],
    n_train: int | None = None,
    lyapunov: LyapunovSummary | None = None,
    refit_on_mismatch: bool = False,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    n_pred: int = EVALUATE_DEFAULTS["n_pred"],
    **train_options: Any,
) -> TrainedFit:
    """Train a forced RNN ensemble on the first part of a series (no scoring: see :func:`fit`).

    Parameters are those of :func:`fit` (``lyapunov``: the data's Lyapunov summary, e.g.
    ``LyapunovSummary.read("lyapunov.json")``, whose tau ``tau="auto"`` takes and whose
    lambda_max proposes the forcing candidates; ``n_pred`` only checks that the held-out part
    is long enough to be scored). Returns :class:`TrainedFit`; ``summary.sources`` says where
    tau and forcing came from, ``summary.candidates`` how each forcing candidate validated.

    With ``model="auto"`` and nothing of the size given (latent, hidden, observation,
    components), on data of at least ``sizing.PCA_MIN_DIMS`` dims that are not a delay
    embedding, and a budget ``max_minutes`` of at least ``sizing.SIZE_COMPETITION_MINUTES``:
    two sizes compete, the rule's (the PCA observation) and M = N (identity observation),
    each trained with half the budget, and the one whose chosen seed has the lower validation
    score in the N channels wins (a size whose chosen seed left the data's range never wins);
    ``summary.sizes`` records both.

    The steps are :mod:`neurodsr.training.fitting`'s; the series is checked here (InputError
    for a wrong shape, NaN/inf or constant dims).
    """
    data = _check_series(x)
    trained = run_fit(
        data,
        dt,
        tau=tau,
        forcing=forcing,
        model=model,
        latent=latent,
        hidden=hidden,
        observation=observation,
        components=components,
        seeds=seeds,
        seed=seed,
        test_fraction=test_fraction,
        val_fraction=val_fraction,
        n_train=n_train,
        lyapunov=lyapunov,
        refit_on_mismatch=refit_on_mismatch,
        checkpoint_dir=checkpoint_dir,
        n_pred=n_pred,
        **train_options,
    )
    ly = trained.lyapunov
    return TrainedFit(
        model=trained.model,
        mean=trained.mean,
        std=trained.std,
        dt=trained.dt,
        best=trained.best,
        meta={**trained.summary.to_json(), "lyapunov": ly.to_json() if ly else {}},
        log=trained.log,
        summary=trained.summary,
        lyapunov=ly,
        x=trained.x,
        n_train=trained.n_train,
    )


# --------------------------------------------------------------------------- fit = train + score
def fit(
    x: Any,
    dt: float,
    *,
    tau: int | str | None = D["tau"],
    forcing: str = D["forcing"],
    model: str = D["model"],
    latent: int | None = D["latent"],
    hidden: int | None = D["hidden"],
    observation: str = D["observation"],
    components: int | float | None = D["components"],
    seeds: int | Sequence[int] = D["seeds"],
    n_generate: int | None = None,
    n_pred: int = EVALUATE_DEFAULTS["n_pred"],
    evaluate: dict[str, Any] | None = None,
    **options: Any,
) -> FitResult:
    """Fit a forced RNN ensemble to a multivariate time series and score it on held-out data.

    :func:`train_fit` trains, :func:`neurodsr.metrics.evaluate.evaluate_fit` scores.

    Parameters
    ----------
    x : array (time, dims)
        The series, in its own units (it is z-scored with the training part's statistics).
    dt : float
        Sampling interval (seconds for recordings; the system's time units for simulations).
    tau : int, "auto" or None
        STF forcing interval in steps. "auto" (default): the ``lyapunov`` summary's tau when
        given, else ln 2 / lambda_max estimated from the training part
        (:func:`neurodsr.dynamics.tau.estimate_tau`); None: plain BPTT. With GTF tau is not
        used for training, but "auto" still estimates the data's lambda_max, which the
        trained model's is compared with.
    forcing : {"auto", "select", "gtf", "stf", "none"}
        auto (default): STF when ``tau`` is a number of steps, plain BPTT when it is None, GTF
        when ``alpha`` is given; else, where the data's Lyapunov verdict is "chaotic", the
        candidates of "select", and GTF at alpha 0.1 where it is not. select: STF intervals
        and GTF alphas proposed by the data's lambda_max (:mod:`neurodsr.training.candidates`;
        a fallback range where the estimate is not "chaotic") are trained together, ``seeds``
        members each, as one ensemble, and the one with the best validation score wins,
        whatever ``tau`` and ``alpha`` say. gtf: generalized teacher forcing, every step,
        strength ``alpha`` (0.1 when unset). stf: sparse teacher forcing every ``tau`` steps.
        none: plain BPTT. Why: docs/RESULTS.md section 6 (session 14; the candidates from
        lambda_max against GTF 0.1 at the default budget) and section 5 (maps, where GTF 0.1
        is too weak to train).
    model : str
        auto (default: sized from the data, :func:`neurodsr.training.sizing.size_model`; the
        shPLRNN with M = N, L = 50 below 32 dims and for delay embeddings, else on the leading
        principal components), shplrnn (M = N, L = 50 at any N), plrnn, clipped_shplrnn,
        dendplrnn, rnn, lstm, gru.
    latent, hidden : int, optional
        Latent size M (default: the data dims N) and hidden width L (shallow PLRNNs, default 50).
    observation : {"auto", "identity", "affine", "pca"}
        The observation model. auto (default): the sizing rule's with ``model="auto"``, else
        the model's own (identity for the PL family when M >= N, affine otherwise). identity:
        the first N latent units are the data (needs M >= N and a PL model, else InputError).
        affine: x = B z + b. pca: the model is trained on the training part's leading
        principal components and reads out the N channels through their loadings
        (:mod:`neurodsr.training.projection`).
    components : int, float or None
        With the PCA observation: the number of principal components (1 to N) or the share
        of the training variance they explain (in (0, 1)); None (default): the rule (90 %,
        4-32 components). Given with observation "auto" it selects the PCA observation; with
        "identity" or "affine" it is refused (InputError).
    seeds : int or sequence of int
        Number of seeds (``seed, seed + 1, ...``; default 3) or the seeds themselves; all are
        trained together as one batched ensemble.
    n_generate : int, optional
        Length of the scored free run (default: 5x the test part's length, at most 10^5
        steps; :func:`neurodsr.metrics.evaluate.scored_length`).
    n_pred : int
        Horizon n of PE(n) and of the n-step predictions, in steps (default 20).
    evaluate : dict, optional
        Other options of :func:`~neurodsr.metrics.evaluate.evaluate_fit` (vpt_threshold,
        vpt_horizon, spectrum_steps, max_minutes, seed).
    **options
        Of :func:`train_fit`: seed (first seed, 0),
        test_fraction (0.2; ignored if n_train), n_train, lyapunov (a LyapunovSummary),
        refit_on_mismatch (with tau="auto" and STF: when the best member's lambda_max and the
        data's differ by more than a factor of two, refit once with the model's tau),
        checkpoint_dir (a rerun with the same settings resumes); and any
        :class:`~neurodsr.training.TrainConfig` field: alpha (GTF strength in [0, 1] or
        "adaptive"; unset: 0.1 where GTF trains; given with forcing "auto": GTF at it),
        epochs (an upper bound, 100 000), max_minutes (training budget, 5; None: none),
        patience (20 validations), device ("auto"), seq_len, batch_size, lr, grad_clip,
        progress, ...

    Returns
    -------
    FitResult
    """
    trained = train_fit(
        x,
        dt,
        tau=tau,
        forcing=forcing,
        model=model,
        latent=latent,
        hidden=hidden,
        observation=observation,
        components=components,
        seeds=seeds,
        n_pred=n_pred,
        **options,
    )
    ev_options = dict(evaluate or {})
    ev_options.setdefault("max_minutes", EVALUATE_DEFAULTS["max_minutes"])
    ly = trained.lyapunov
    ev = evaluate_fit(
        trained,
        trained.x,
        trained.n_train,
        dt,
        lambda_max_data=ly.lambda_max if ly else None,
        lambda_max_data_std=ly.lambda_std if ly else None,
        lyapunov_verdict=ly.verdict if ly else None,
        n_generate=n_generate,
        n_pred=n_pred,
        **ev_options,
    )
    return FitResult(**trained.__dict__, evaluation=ev)
