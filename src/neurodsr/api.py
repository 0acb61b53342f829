"""The Python API: fit a forced RNN ensemble to a time series, save it, load it.

>>> from neurodsr import fit
>>> from neurodsr.dynamics.systems import lorenz63
>>> x = lorenz63(10_000, dt=0.01).values          # array (time, dims), in its own units
>>> result = fit(x, dt=0.01, seeds=4)             # doctest: +SKIP
>>> result.metrics                                # D_stsp, D_H, PE on the held-out last part
>>> result.save("lorenz.pt"); model = load_fit("lorenz.pt")

:func:`train_fit` trains (split, normalise, choose tau and forcing, train, pick the member by
validation); :func:`neurodsr.metrics.evaluate.evaluate_fit` scores (the one scorer);
:func:`fit` does both. ``neurodsr fit`` runs :func:`train_fit` and writes the training outputs
(:meth:`TrainedFit.write`), ``neurodsr evaluate`` runs the scorer.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
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
from neurodsr.metrics.evaluate import FitEvaluation, evaluate_fit, free_run, model_spectrum
from neurodsr.models import make_model, model_from_config
from neurodsr.models.base import LatentModel
from neurodsr.provenance import library_versions
from neurodsr.session import FitSummary, LyapunovSummary, fit_outputs
from neurodsr.training import TrainConfig, TrainLog, resolve_device, train
from neurodsr.training.candidates import (
    Candidate,
    member_forcing,
    pick_winner,
    propose_candidates,
)
from neurodsr.training.defaults import EVALUATE_DEFAULTS, FIT_DEFAULTS
from neurodsr.training.projection import PCAProjection, ProjectedModel, explained_variance, fit_pca
from neurodsr.training.sizing import (
    MANY_CHANNELS,
    PCA_MIN_DIMS,
    PL_FAMILY,
    looks_delay_embedded,
    size_model,
)
from neurodsr.training.validation import MIN_RUN, RangeCheck, check_range

__all__ = ["FitResult", "FittedModel", "TrainedFit", "fit", "load_fit", "train_fit"]

D = FIT_DEFAULTS

log = logging.getLogger(__name__)


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


# --------------------------------------------------------------------------- tau and forcing
@dataclass
class TauChoice:
    """The forcing interval and where it came from (see :func:`choose_tau`)."""

    value: int | None
    reason: str
    source: str
    lyapunov: LyapunovSummary | None = None


def choose_tau(
    tau: int | str | None,
    x_train: np.ndarray,
    dt: float,
    *,
    lyapunov: LyapunovSummary | None = None,
    seed: int = 0,
) -> TauChoice:
    """The forcing interval: given (source "user"), None (plain BPTT, "user"), or "auto": the
    Lyapunov stage's choice when ``lyapunov`` is given (source "lyapunov.json"), else ln 2 /
    lambda_max estimated from the training part ("estimated from the training part")."""
    if tau == "auto":
        if lyapunov is not None:
            reason = lyapunov.tau_explanation or f"tau = {lyapunov.tau} from lyapunov.json"
            return TauChoice(lyapunov.tau, reason, "lyapunov.json", lyapunov)
        return _estimate_tau(x_train, dt, seed)
    if tau is None:
        return TauChoice(None, "tau = None: plain BPTT (only the initial state is forced)", "user")
    if isinstance(tau, str) or int(tau) != tau or int(tau) < 1:
        raise InputError(f"tau must be a positive number of steps, 'auto' or None, got {tau!r}")
    return TauChoice(int(tau), f"tau = {int(tau)} steps, given by the user", "user", lyapunov)


def _estimate_tau(x_train: np.ndarray, dt: float, seed: int) -> TauChoice:
    from neurodsr.dynamics.tau import choose_tau as rule
    from neurodsr.dynamics.tau import estimate_tau

    source = "estimated from the training part"
    try:
        value, lyap = estimate_tau(x_train, dt, seed=seed)
    except InputError as err:
        # Too short for a divergence curve (e.g. ~10^4 samples of a slow, delay-embedded
        # EEG): train anyway, with the rule for an unclear estimate, and say why.
        choice = rule(float("nan"), "unclear")
        log.warning("no Lyapunov estimate (%s); tau = %s", err, choice.tau)
        reason = f"No Lyapunov estimate from the training data: {err}. {choice.explanation}"
        summary = LyapunovSummary(
            verdict="unclear", tau=choice.tau, tau_explanation=reason, reason=str(err)
        )
        return TauChoice(choice.tau, reason, source, summary)
    return TauChoice(
        value, str(lyap.tau_explanation), source, LyapunovSummary.from_json(lyap.summary())
    )


def choose_forcing(forcing: str, tau_given: int | str | None) -> tuple[str, str]:
    """The forcing to train with and where it came from. ``"auto"``: STF when tau was given as
    a number of steps, plain BPTT when it was given as None, else GTF (alpha 0.1 by default).
    ``"select"``: candidates proposed by the data's lambda_max (STF intervals and GTF alphas)
    compete by validation (:mod:`neurodsr.training.candidates`)."""
    if forcing == "select":
        return "select", "select: candidates from lambda_max, chosen by validation"
    if forcing != "auto":
        return forcing, "user"
    if tau_given is None:
        return "none", "auto: tau = None given"
    if tau_given != "auto":
        return "stf", f"auto: tau = {tau_given} given"
    # GTF at alpha 0.1 beat the candidate grid on every set of the reduced quality benchmark
    # (docs/RESULTS.md section 6), so the grid is opt-in until the full benchmark says more
    return "gtf", "auto: GTF, the benchmarked default (docs/RESULTS.md); forcing='select' competes"


def _forcing_reason(cfg: TrainConfig, tau: TauChoice, tau_given: int | str | None) -> str:
    """One sentence on how training was forced, for outputs and reports."""
    if cfg.forcing == "stf":
        if cfg.tau is None:
            return "Plain BPTT: only the first state of each window is forced. " + tau.reason
        return f"STF: the latent state is reset from the data every {cfg.tau} steps. " + tau.reason
    if cfg.forcing == "none":
        return "Plain BPTT: only the first state of each window is forced."
    if cfg.alpha == "adaptive":
        text = (
            "GTF: every step the observed units are pulled towards the data with alpha = "
            "max(0, 1 - 1/G), G the Jacobian growth of each member, updated every epoch."
        )
    else:
        text = (
            f"GTF: every step the observed units are pulled towards the data with "
            f"alpha = {float(cfg.alpha):g}."
        )
    if tau_given not in ("auto", None):
        return text + f" tau = {tau_given} was given but GTF does not use it (forcing='stf' does)."
    return text + " tau is not used for training."


# --------------------------------------------------------------------------- training
def _split(
    x: Any, test_fraction: float, n_train: int | None, need_train: int, need_test: int
) -> tuple[np.ndarray, int]:
    data = _check_series(x)
    t_len = len(data)
    if n_train is None:
        if not 0.0 <= test_fraction < 1.0:
            raise InputError(f"test_fraction must be in [0, 1), got {test_fraction}")
        n_train = round(t_len * (1.0 - test_fraction))
    n_train = int(n_train)
    if n_train < need_train or t_len - n_train < need_test:
        raise InputError(
            f"series of {t_len} samples is too short: the training part has {n_train} samples "
            f"(needs at least seq_len + 1 = {need_train}) and the test part {t_len - n_train} "
            f"(needs at least n_pred + 2 = {need_test})",
            hint="give a longer recording, or lower seq_len / test_fraction",
        )
    return data, n_train


def _kept_scores(tlog: TrainLog, n_models: int) -> tuple[np.ndarray, np.ndarray]:
    """Each member's validation score and D_stsp at the state training kept (its best score;
    inf: never valid)."""
    if not tlog.eval_score:
        return np.full(n_models, np.inf), np.full(n_models, np.nan)
    score = np.asarray(tlog.eval_score, dtype=np.float64)  # (evals, E)
    dstsp = np.asarray(tlog.eval_dstsp, dtype=np.float64)
    at = np.argmin(np.where(np.isfinite(score), score, np.inf), axis=0)
    cols = np.arange(n_models)
    return score[at, cols], dstsp[at, cols]


def _best_member(scores: np.ndarray, outside: Sequence[float] | None = None) -> int:
    """The member chosen by validation on the *training* part (never by the test scores): the
    lowest score; an invalid member (inf) only when every member is, and then the one with the
    smallest share of its free run outside the data's range (``outside``, of
    :func:`~neurodsr.training.validation.check_range`; the first when not given). The report
    flags a chosen member that is invalid."""
    scores = np.asarray(scores, dtype=np.float64)
    if not np.isfinite(scores).any() and outside is not None and len(outside) == len(scores):
        return int(np.argmin(np.nan_to_num(np.asarray(outside, dtype=np.float64), nan=np.inf)))
    return int(np.argmin(np.where(np.isfinite(scores), scores, np.inf)))


def _log_range_check(tlog: TrainLog, check: RangeCheck, seeds: list[int]) -> None:
    """One event in the training log per member that failed the range check."""
    for e, why in enumerate(check.why):
        if why:
            tlog.events.append(
                f"range check ({check.n_starts} free runs of {check.run_steps} steps in the "
                f"{check.space}): member {e} (seed {seeds[e]}) {why}; not chosen unless every "
                "member failed"
            )


def _subset(net: LatentModel, members: list[int]) -> LatentModel:
    """The given members of an ensemble as an ensemble of their own (every parameter's and
    buffer's axis 0 is the member)."""
    cfg = net.config()
    cfg["seeds"] = [net.seeds[e] for e in members]
    sub = model_from_config(cfg)
    idx = torch.as_tensor(members, dtype=torch.long)
    state = {k: v.detach().cpu()[idx].clone() for k, v in net.state_dict().items()}
    sub.load_state_dict(state)
    return sub.to(next(net.parameters()).device)


def _subset_log(tlog: TrainLog, members: list[int]) -> TrainLog:
    """The training log of the given members (per-member columns cut; events kept)."""
    d = tlog.to_dict()
    for key in ("loss", "alpha", "eval_dstsp", "eval_dh", "eval_score", "eval_invalid"):
        d[key] = [[row[e] for e in members] for row in d[key]]
    d["best_epoch"] = [d["best_epoch"][e] for e in members]
    return TrainLog.from_dict(d)


def _validation_split(x_train: np.ndarray, val_fraction: float, seq_len: int) -> int:
    """Samples of the training part kept for validation (its last ``val_fraction``); 0 when
    that part would be shorter than 500 samples or the rest shorter than 2 windows (the
    training part itself is then the validation series)."""
    if not 0.0 <= val_fraction < 1.0:
        raise InputError(f"val_fraction must be in [0, 1), got {val_fraction}")
    n_val = round(len(x_train) * val_fraction)
    if n_val < 500 or len(x_train) - n_val < 2 * (seq_len + 1):
        return 0
    return n_val


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
    """
    args = dict(
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
    if _sizes_compete(x, args):
        return _compete_sizes(x, dt, args)
    return _train_fit(x, dt, **args)


def _sizes_compete(x: Any, args: dict[str, Any]) -> bool:
    """Whether train_fit lets two sizes compete (see its docstring)."""
    from neurodsr.training import sizing

    minutes = args.get("max_minutes", D["max_minutes"])
    if args["model"] != "auto" or args["observation"] != "auto" or minutes is None:
        return False
    if any(args[k] is not None for k in ("latent", "hidden", "components")):
        return False
    if float(minutes) < sizing.SIZE_COMPETITION_MINUTES:
        return False
    a = np.asarray(x)
    if a.ndim != 2 or a.shape[1] < sizing.PCA_MIN_DIMS:
        return False
    n_train = args["n_train"] or round(len(a) * (1 - args["test_fraction"]))
    return not looks_delay_embedded(_check_series(a[:n_train]))


def _compete_sizes(x: Any, dt: float, args: dict[str, Any]) -> TrainedFit:
    """The rule's size (the PCA observation) and M = N (identity) trained one after the other
    with half the budget each, scored by the same validation in the N channels (the validation
    part, :func:`~neurodsr.training.validation.validate`); the better chosen seed's fit is
    returned, with both in ``summary.sizes``."""
    from neurodsr.training.validation import validate

    fits: list[TrainedFit] = []
    rows: list[dict[str, Any]] = []
    minutes = float(args.get("max_minutes", D["max_minutes"])) / 2
    for obs in ("pca", "identity"):
        one = {**args, "observation": obs, "max_minutes": minutes}
        if args["checkpoint_dir"] is not None:
            one["checkpoint_dir"] = Path(args["checkpoint_dir"]) / f"size_{obs}"
        if fits and args["lyapunov"] is None:
            one["lyapunov"] = fits[0].lyapunov  # estimate lambda_max once
        f = _train_fit(x, dt, **one)
        s = f.summary
        assert s is not None
        xn = f.normalise(f.x[: f.n_train])
        x_val = xn[f.n_train - s.n_validation :] if s.n_validation else xn
        val = validate(f.model, x_val, int(s.train["eval_steps"]), n_starts=s.train["val_starts"])
        # valid: the range check's verdict (the training part's range, runs as long as the
        # held-out part), the one definition the seeds were chosen by; the score: validate's
        # sqrt(D_stsp x D_H) on the validation part, in the N channels
        why = (s.range_check.get("why") or [""] * len(s.seeds))[f.best]
        d, h = float(val.dstsp[f.best]), float(val.dh[f.best])
        score = math.sqrt(max(d, 1e-3) * max(h, 1e-6)) if not why else math.inf
        if not math.isfinite(score):
            why, score = why or "validation score not finite", math.inf
        fits.append(f)
        rows.append(
            {
                "observation": obs,
                "model": s.model.get("name"),
                "latent": s.model.get("latent_dim"),
                "hidden": s.model.get("hidden_dim"),
                "components": (s.model.get("projection") or {}).get("n_components"),
                "score": score,
                "dstsp": float(val.dstsp[f.best]),
                "dh": float(val.dh[f.best]),
                "invalid": why,
                "train_seconds": float(s.train_seconds),
                "epochs_run": int(s.epochs_run),
                "chosen": False,
            }
        )
    scores = [r["score"] for r in rows]
    win = int(np.argmin(scores)) if any(math.isfinite(v) for v in scores) else 0
    rows[win]["chosen"] = True
    other = rows[1 - win]
    label = {"pca": "the PCA observation (the rule's)", "identity": "M = N, identity"}
    why = (
        f"sizes competed by validation, {minutes:g} min each: {label[rows[win]['observation']]} "
        f"won with score {rows[win]['score']:.3g} against {label[other['observation']]}'s "
        + (
            f"{other['score']:.3g}"
            if math.isfinite(other["score"])
            else f"inf ({other['invalid']})"
        )
    )
    best = fits[win]
    s = best.summary
    assert s is not None
    s.sizes = rows
    s.model_reason = f"{s.model_reason}. {why[0].upper()}{why[1:]}"
    for key in ("model", "latent", "hidden", "observation"):
        s.sources[key] = "sizes competed by validation"
    s.train_seconds = float(sum(r["train_seconds"] for r in rows))
    best.log.events.append(why)
    best.meta = {**s.to_json(), "lyapunov": best.lyapunov.to_json() if best.lyapunov else {}}
    return best


def _train_fit(
    x: Any,
    dt: float,
    *,
    tau: int | str | None,
    forcing: str,
    model: str,
    latent: int | None,
    hidden: int | None,
    observation: str,
    components: int | float | None,
    seeds: int | Sequence[int],
    seed: int,
    test_fraction: float,
    val_fraction: float,
    n_train: int | None,
    lyapunov: LyapunovSummary | None,
    refit_on_mismatch: bool,
    checkpoint_dir: str | os.PathLike[str] | None,
    n_pred: int,
    **train_options: Any,
) -> TrainedFit:
    """:func:`train_fit` for one size (every argument given)."""
    options = {
        k: train_options.pop(k, D[k]) for k in ("alpha", "epochs", "max_minutes", "patience")
    }
    forcing_value, forcing_source = choose_forcing(forcing, tau)
    cfg = TrainConfig(
        forcing="gtf" if forcing_value == "select" else forcing_value, **options, **train_options
    )
    data, n_train = _split(x, test_fraction, n_train, cfg.seq_len + 1, n_pred + 2)
    n_dim = data.shape[1]
    train_raw = data[:n_train]
    mean, std = train_raw.mean(0), train_raw.std(0)
    std = np.where(std > 0, std, 1.0)
    x_train = (train_raw - mean) / std
    n_val = _validation_split(x_train, val_fraction, cfg.seq_len)
    x_fit = x_train[: n_train - n_val] if n_val else x_train
    x_val = x_train[n_train - n_val :] if n_val else None
    rule_decides = model == "auto" and observation == "auto" and components is None
    size = size_model(
        n_dim,
        len(x_fit),
        model=model,
        latent=latent,
        hidden=hidden,
        observation=observation,
        components=components,
        variance=explained_variance(x_fit)
        if n_dim > MANY_CHANNELS or observation == "pca" or components is not None
        else None,
        delay_embedded=looks_delay_embedded(x_fit)
        if rule_decides and n_dim >= PCA_MIN_DIMS
        else "",
    )
    # the PCA observation: the model is trained on the training part's leading principal
    # components (identity observation there; the gated models' own, affine) and wrapped to
    # read out the N channels after
    proj = fit_pca(x_fit, size.components) if size.observation == "pca" else None
    n_model_dims = proj.k if proj else n_dim
    if proj is not None:
        model_obs = "identity" if size.model in PL_FAMILY else "auto"
    else:
        model_obs = size.observation
    x_fit_m = proj.transform(x_fit) if proj else x_fit
    x_val_m = proj.transform(x_val) if proj and x_val is not None else x_val

    tau_choice = choose_tau(tau, x_train, dt, lyapunov=lyapunov, seed=seed)
    if forcing_value == "gtf" and tau not in ("auto", None):
        log.warning("tau = %s was given, but GTF does not use it (use forcing='stf')", tau)
    seed_list = list(range(seed, seed + int(seeds))) if isinstance(seeds, int) else list(seeds)

    def run(
        run_cfg: TrainConfig, member_seeds: list[int], ckpt: str | os.PathLike[str] | None
    ) -> tuple[LatentModel, TrainLog]:
        net = make_model(
            size.model,
            n_model_dims,
            size.latent,
            seeds=member_seeds,
            observation=model_obs,
            hidden_dim=size.hidden,
        )
        log.info(
            "fitting %s (M=%d, L=%s, %d members) on %d x %d samples, forcing=%s, tau=%s, "
            "alpha=%s on %s",
            size.model,
            net.latent_dim,
            size.hidden,
            len(member_seeds),
            len(x_fit),
            n_model_dims,
            run_cfg.forcing,
            run_cfg.tau,
            run_cfg.alpha,
            resolve_device(run_cfg.device),
        )
        tlog = train(net, x_fit_m, run_cfg, x_val=x_val_m, checkpoint_dir=ckpt)
        net.eval()
        return net, tlog

    # the range check of the kept states, in the N channels the user sees (a model on
    # principal components was validated in PC space during training), with free runs as long
    # as the one the evaluation scores (the held-out part's length)
    check_starts = x_val if x_val is not None else x_train
    check_steps = max(MIN_RUN, cfg.eval_steps // max(1, cfg.val_starts), len(data) - n_train)

    def range_check(inner: LatentModel) -> RangeCheck:
        view = ProjectedModel(inner, proj) if proj is not None else inner
        return check_range(
            view, check_starts, check_steps, x_range=x_train, n_starts=cfg.val_starts
        )

    candidates: list[Candidate] = []
    candidates_reason = selection_reason = ""
    if forcing_value == "select":
        ly = tau_choice.lyapunov
        candidates, candidates_reason = propose_candidates(
            ly.lambda_max if ly else None, dt, ly.verdict if ly else "unclear", cfg.seq_len
        )
        net, tlog, cfg, seconds, selection_reason, rcheck = _train_candidates(
            candidates, cfg, seed_list, run, checkpoint_dir, range_check
        )
    else:
        # the interval is STF's alone: GTF forces every step and plain BPTT never
        cfg.tau = tau_choice.value if cfg.forcing == "stf" else None
        net, tlog = run(cfg, seed_list, checkpoint_dir)
        seconds = tlog.seconds[-1] if tlog.seconds else 0.0
        if refit_on_mismatch and tau == "auto" and cfg.forcing == "stf":
            scores, _ = _kept_scores(tlog, net.n_models)
            x_m = proj.transform(x_train) if proj else x_train
            new_tau = _tau_from_model(net, x_m, dt, _best_member(scores), tau_choice, seed)
            if new_tau is not None:
                tau_choice.reason += f" Refitted with tau = {new_tau} from the model's exponent."
                tau_choice.value, tau_choice.source = new_tau, "refitted from the model's exponent"
                cfg.tau = new_tau
                net, tlog = run(cfg, seed_list, checkpoint_dir)
                seconds += tlog.seconds[-1] if tlog.seconds else 0.0
        rcheck = range_check(net)
        _log_range_check(tlog, rcheck, list(net.seeds))
    if proj is not None:
        net = ProjectedModel(net, proj)
    scores, val_dstsp = _kept_scores(tlog, net.n_models)
    scores = np.where(rcheck.valid, scores, np.inf)  # a member that left the range: never
    best = _best_member(scores, rcheck.outside)
    member_seeds = list(net.seeds)

    sources = {"tau": tau_choice.source, "forcing": forcing_source}
    sizing = "sizing rule" if model == "auto" else "the model's default size"
    sources["model"] = (
        "sizing rule" if model == "auto" else "default" if model == D["model"] else "user"
    )
    for key, given in (("latent", latent), ("hidden", hidden), ("observation", observation)):
        sources[key] = sizing if given in ("auto", None) else "user"
    if components is not None:  # it chose the PCA observation even with observation "auto"
        sources["observation"] = sources["components"] = "user"
    elif proj is not None:
        sources["components"] = "sizing rule"
    forcing_reason = _forcing_reason(cfg, tau_choice, tau)
    if forcing_value == "select":
        forcing_reason = (
            f"Chosen by validation among {len(candidates)} candidates ({candidates_reason}): "
            f"{selection_reason}. {forcing_reason}"
        )
    summary = FitSummary(
        model=net.config(),
        train=cfg.to_dict(),
        seeds=member_seeds,
        best_member=best,
        best_seed=member_seeds[best],
        dt=float(dt),
        n_train=n_train,
        forcing=cfg.forcing,
        alpha=cfg.alpha if cfg.forcing == "gtf" else None,
        tau=cfg.tau if cfg.forcing == "stf" else None,
        tau_reason=tau_choice.reason,
        forcing_reason=forcing_reason,
        sources=sources,
        validation_dstsp=[float(v) for v in val_dstsp],
        validation_score=[float(v) for v in scores],
        n_validation=int(n_val),
        range_check=rcheck.to_json(),
        model_reason=size.reason,
        candidates=[c.to_json() for c in candidates],
        candidates_reason=candidates_reason,
        selection_reason=selection_reason,
        train_seconds=float(seconds),
        epochs_run=len(tlog.epoch),
        stopped=tlog.stopped,
        versions=library_versions(),
    )
    ly = tau_choice.lyapunov
    return TrainedFit(
        model=net,
        mean=mean,
        std=std,
        dt=float(dt),
        best=best,
        meta={**summary.to_json(), "lyapunov": ly.to_json() if ly else {}},
        log=tlog,
        summary=summary,
        lyapunov=ly,
        x=data,
        n_train=n_train,
    )


def _train_candidates(
    candidates: list[Candidate],
    cfg: TrainConfig,
    seed_list: list[int],
    run: Any,
    checkpoint_dir: str | os.PathLike[str] | None,
    range_check: Any,
) -> tuple[LatentModel, TrainLog, TrainConfig, float, str, RangeCheck]:
    """Train every candidate x seed as members of one ensemble (each member its own forcing
    interval and strength, :func:`~neurodsr.training.candidates.member_forcing`) with the whole
    budget; check every member's kept state with ``range_check`` (a member that fails is
    invalid: its score is inf); fill in each candidate's validation scores; return the winner's
    members as an ensemble, their log, the winner's config (its own forcing, tau and alpha),
    the seconds of the run, why it won and the winner's members' range check."""
    n_seeds = len(seed_list)
    taus, alphas, owner = member_forcing(candidates, n_seeds)
    run_cfg = dataclasses.replace(cfg, forcing="mixed", tau=taus, alpha=alphas)
    ckpt = None if checkpoint_dir is None else Path(checkpoint_dir) / "candidates"
    net, tlog = run(run_cfg, [s for _ in candidates for s in seed_list], ckpt)
    seconds = tlog.seconds[-1] if tlog.seconds else 0.0
    scores, _ = _kept_scores(tlog, net.n_models)
    check = range_check(net)
    scores = np.where(check.valid, scores, np.inf)
    last_invalid = tlog.eval_invalid[-1] if tlog.eval_invalid else [""] * net.n_models
    for i, cand in enumerate(candidates):
        cols = [e for e, k in enumerate(owner) if k == i]
        cand.scores = [float(scores[e]) for e in cols]
        cand.invalid = [
            ""
            if np.isfinite(scores[e])
            else (
                f"range check: {check.why[e]}" if check.why[e] else last_invalid[e] or "never valid"
            )
            for e in cols
        ]
    win, why = pick_winner(candidates)
    members = [e for e, k in enumerate(owner) if k == win]
    chosen = candidates[win]
    if chosen.forcing == "stf":
        wcfg = dataclasses.replace(cfg, forcing="stf", tau=int(chosen.tau), alpha=cfg.alpha)
    else:
        wcfg = dataclasses.replace(cfg, forcing="gtf", tau=None, alpha=float(chosen.alpha))
    sub_check = RangeCheck(
        outside=[check.outside[e] for e in members],
        pred_outside=[check.pred_outside[e] for e in members],
        why=[check.why[e] for e in members],
        run_steps=check.run_steps,
        n_starts=check.n_starts,
        space=check.space,
    )
    n_failed = sum(1 for w in check.why if w)
    sub_log = _subset_log(tlog, members)
    if n_failed:
        sub_log.events.append(
            f"range check: {n_failed} of {len(check.why)} candidate members left the data's "
            "range and could not win"
        )
    _log_range_check(sub_log, sub_check, [net.seeds[e] for e in members])
    sub_log.events.append(f"forcing chosen by validation: {why}")
    return _subset(net, members), sub_log, wcfg, seconds, why, sub_check


def _tau_from_model(
    net: LatentModel, x_train: np.ndarray, dt: float, best: int, tau: TauChoice, seed: int
) -> int | None:
    """refit_on_mismatch: the tau of the model's own lambda_max when it and the data's differ
    by more than a factor of two (None: no refit)."""
    from neurodsr.dynamics.tau import choose_tau as rule

    lam_data = tau.lyapunov.lambda_max if tau.lyapunov else None
    starts = x_train[np.random.default_rng(seed).integers(0, len(x_train), 8)]
    lam_model = float(model_spectrum(net, starts, dt, seed=seed).exponents[best, 0])
    if not lam_data or lam_data <= 0 or not np.isfinite(lam_model) or lam_model <= 0:
        return None
    ratio = lam_model / lam_data
    if 0.5 <= ratio <= 2:
        return None
    log.info(
        "model lambda_max %.4g vs data %.4g (ratio %.2f): refitting", lam_model, lam_data, ratio
    )
    return rule(lam_model * dt, "chaotic").tau


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
        auto (default): STF when ``tau`` is a number of steps, plain BPTT when it is None, else
        GTF. select: STF intervals and GTF alphas proposed by the data's lambda_max are trained
        together and the one with the best validation score wins (opt-in: docs/RESULTS.md
        section 6). gtf: generalized teacher forcing, every step, strength ``alpha``. stf: sparse
        teacher forcing every ``tau`` steps. none: plain BPTT. GTF with alpha = 0.1 is the
        default because it was the most robust choice in docs/RESULTS.md: as good as the best
        STF interval on Lorenz-63 and Rössler, best or tied-best on every recording, and
        independent of a Lyapunov estimate that short or smoothed recordings do not support.
    model : str
        shplrnn (default), plrnn, clipped_shplrnn, dendplrnn, rnn, lstm, gru, or auto (sized
        from the data, :func:`neurodsr.training.sizing.size_model`).
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
        Length of the scored free run (default: the test part's length).
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
        :class:`~neurodsr.training.TrainConfig` field: alpha (GTF strength in [0, 1], 0.1, or
        "adaptive"), epochs (1000), max_minutes (training budget, 2.5; None: none), device
        ("auto"), seq_len, batch_size, lr, grad_clip, progress, ...

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
