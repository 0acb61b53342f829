"""The training sequence behind :func:`neurodsr.api.train_fit`, on a checked array.

:func:`run_fit` lets two sizes compete (:func:`sizes_compete`, :func:`compete_sizes`) or
trains one (:func:`train_one_size`), which goes:

1. split: the first ``n_train`` samples train, the rest is held out for scoring
   (:func:`split`); the training part's last ``val_fraction`` validates
   (:func:`validation_split`);
2. normalise with the training part's mean and std;
3. size the model (:func:`~neurodsr.training.sizing.size_model`; the PCA observation fits
   the projection on the fitting part);
4. resolve tau and the forcing (:mod:`neurodsr.training.resolve`);
5. train the ensemble (:func:`~neurodsr.training.train`), or every forcing candidate x seed as
   one ensemble (``forcing="select"``, :func:`~neurodsr.training.select.train_candidates`),
   with an optional refit at the model's tau (``refit_on_mismatch``);
6. check the kept states' range in the N channels and pick the member by validation
   (:mod:`neurodsr.training.select`);
7. record how it was trained (:class:`~neurodsr.session.FitSummary`).

It returns a :class:`TrainingResult` of arrays, the model, the log and the summary; the public
layer (:mod:`neurodsr.api`) wraps it as a :class:`~neurodsr.api.TrainedFit`, which can write
itself. Nothing here reads or writes files: a checkpoint folder is passed through to the
trainer.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neurodsr.errors import InputError
from neurodsr.metrics.evaluate import scored_length
from neurodsr.models import make_model
from neurodsr.models.base import LatentModel
from neurodsr.provenance import library_versions
from neurodsr.session import FitSummary, LyapunovSummary
from neurodsr.training import sizing
from neurodsr.training.candidates import Candidate, propose_candidates
from neurodsr.training.config import TrainConfig
from neurodsr.training.defaults import FIT_DEFAULTS, GTF_ALPHA
from neurodsr.training.projection import PCAProjection, ProjectedModel, explained_variance, fit_pca
from neurodsr.training.resolve import (
    TauChoice,
    choose_forcing,
    choose_tau,
    forcing_reason,
    tau_from_model,
    unused_settings,
)
from neurodsr.training.select import (
    best_member,
    kept_scores,
    log_range_check,
    pick_size,
    select_member,
    size_score,
    train_candidates,
)
from neurodsr.training.sizing import (
    MANY_CHANNELS,
    PCA_MIN_DIMS,
    PL_FAMILY,
    ModelSize,
    looks_delay_embedded,
    size_model,
)
from neurodsr.training.trainer import TrainLog, resolve_device, train
from neurodsr.training.validation import MIN_RUN, RANGE_RUN, RangeCheck, check_range, validate

__all__ = [
    "TrainingResult",
    "compete_sizes",
    "run_fit",
    "sizes_compete",
    "split",
    "train_one_size",
    "validation_split",
]

D = FIT_DEFAULTS

log = logging.getLogger(__name__)


@dataclass
class TrainingResult:
    """A trained ensemble, its normalisation, its log and how it was trained.

    Attributes
    ----------
    model : LatentModel
        The ensemble (E members), in normalised units (a
        :class:`~neurodsr.training.projection.ProjectedModel` for the PCA observation).
    mean, std : array (N,)
        The training part's mean and std: data = model output * std + mean.
    dt : float
        Sampling interval, in the data's time units.
    best : int
        The member chosen by validation (``summary.best_member``).
    log : TrainLog
    summary : FitSummary
        What models/fit.json holds.
    lyapunov : LyapunovSummary or None
        The data's Lyapunov summary the fit used (given or estimated).
    x : array (time, N)
        The whole series, data units (the first ``n_train`` samples trained).
    n_train : int
    """

    model: LatentModel
    mean: np.ndarray
    std: np.ndarray
    dt: float
    best: int
    log: TrainLog
    summary: FitSummary
    lyapunov: LyapunovSummary | None = None
    x: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))
    n_train: int = 0

    def normalise(self, x: np.ndarray) -> np.ndarray:
        """Data units -> model units."""
        return (np.asarray(x, dtype=np.float64) - self.mean) / self.std


# --------------------------------------------------------------------------- split
def split(
    data: np.ndarray, test_fraction: float, n_train: int | None, need_train: int, need_test: int
) -> int:
    """Samples of ``data`` (time, N) that train: ``n_train`` when given, else the first
    ``1 - test_fraction``; InputError when the training part is shorter than ``need_train``
    or the held-out part shorter than ``need_test`` samples."""
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
    return n_train


def validation_split(x_train: np.ndarray, val_fraction: float, seq_len: int) -> int:
    """Samples of the training part kept for validation (its last ``val_fraction``); 0 when
    that part would be shorter than 500 samples or the rest shorter than 2 windows (the
    training part itself is then the validation series)."""
    if not 0.0 <= val_fraction < 1.0:
        raise InputError(f"val_fraction must be in [0, 1), got {val_fraction}")
    n_val = round(len(x_train) * val_fraction)
    if n_val < 500 or len(x_train) - n_val < 2 * (seq_len + 1):
        return 0
    return n_val


# --------------------------------------------------------------------------- sizes
def run_fit(data: np.ndarray, dt: float, **args: Any) -> TrainingResult:
    """:func:`neurodsr.api.train_fit` on a checked series ``data`` (time, N), every argument
    of it given by name: two sizes compete when :func:`sizes_compete` says so, else one size
    trains (:func:`train_one_size`)."""
    if sizes_compete(data, args):
        return compete_sizes(data, dt, args)
    return train_one_size(data, dt, **args)


def sizes_compete(data: np.ndarray, args: dict[str, Any]) -> bool:
    """Whether two sizes compete: ``model="auto"`` with nothing of the size given (latent,
    hidden, observation, components), a budget ``max_minutes`` of at least
    ``sizing.SIZE_COMPETITION_MINUTES``, and at least ``sizing.PCA_MIN_DIMS`` dims that are not
    a delay embedding."""
    minutes = args.get("max_minutes", D["max_minutes"])
    if args["model"] != "auto" or args["observation"] != "auto" or minutes is None:
        return False
    if any(args[k] is not None for k in ("latent", "hidden", "components")):
        return False
    if float(minutes) < sizing.SIZE_COMPETITION_MINUTES:
        return False
    if data.shape[1] < sizing.PCA_MIN_DIMS:
        return False
    n_train = args["n_train"] or round(len(data) * (1 - args["test_fraction"]))
    return not looks_delay_embedded(data[:n_train])


def compete_sizes(data: np.ndarray, dt: float, args: dict[str, Any]) -> TrainingResult:
    """The rule's size (the PCA observation) and M = N (identity) trained one after the other
    with half the budget each, scored by the same validation in the N channels (the validation
    part, :func:`~neurodsr.training.validation.validate`); the better chosen seed's fit is
    returned (:func:`~neurodsr.training.select.pick_size`), with both in ``summary.sizes``."""
    fits: list[TrainingResult] = []
    rows: list[dict[str, Any]] = []
    minutes = float(args.get("max_minutes", D["max_minutes"])) / 2
    for obs in ("pca", "identity"):
        one = {**args, "observation": obs, "max_minutes": minutes}
        if args["checkpoint_dir"] is not None:
            one["checkpoint_dir"] = Path(args["checkpoint_dir"]) / f"size_{obs}"
        reused = bool(fits) and args["lyapunov"] is None
        if reused:
            one["lyapunov"] = fits[0].lyapunov  # estimate lambda_max once
        f = train_one_size(data, dt, **one)
        s = f.summary
        if reused:  # the estimate came from the training part, not from a lyapunov.json
            s.sources["tau"] = fits[0].summary.sources["tau"]
        xn = f.normalise(f.x[: f.n_train])
        x_val = xn[f.n_train - s.n_validation :] if s.n_validation else xn
        val = validate(
            f.model,
            x_val,
            int(s.train["eval_steps"]),
            n_starts=s.train["val_starts"],
            x_score=xn if s.train.get("val_reference", "training") == "training" else None,
            dh=s.train.get("val_dh", "segments"),
        )
        # valid: the range check's verdict (the training part's range, runs as long as the
        # held-out part), the one definition the seeds were chosen by; the score: validate's
        # sqrt(D_stsp x D_H) on the validation part, in the N channels
        range_why = (s.range_check.get("why") or [""] * len(s.seeds))[f.best]
        d, h = float(val.dstsp[f.best]), float(val.dh[f.best])
        score, why = size_score(range_why, d, h)
        fits.append(f)
        rows.append(
            {
                "observation": obs,
                "model": s.model.get("name"),
                "latent": s.model.get("latent_dim"),
                "hidden": s.model.get("hidden_dim"),
                "components": (s.model.get("projection") or {}).get("n_components"),
                "score": score,
                "val_dstsp": d,
                "val_dh": h,
                "invalid": why,
                "train_seconds": float(s.train_seconds),
                "epochs_run": int(s.epochs_run),
                "chosen": False,
            }
        )
    win, why = pick_size(rows, minutes)
    best = fits[win]
    s = best.summary
    s.sizes = rows
    s.model_reason = f"{s.model_reason}. {why[0].upper()}{why[1:]}"
    for key in ("model", "latent", "hidden", "observation"):
        s.sources[key] = "sizes competed by validation"
    s.train_seconds = float(sum(r["train_seconds"] for r in rows))
    best.log.events.append(why)
    return best


# --------------------------------------------------------------------------- one size
def _size(
    x_fit: np.ndarray,
    model: str,
    latent: int | None,
    hidden: int | None,
    observation: str,
    components: int | float | None,
) -> ModelSize:
    """The sizing rule on the fitting part, for what the user left at "auto"."""
    n_dim = x_fit.shape[1]
    rule_decides = model == "auto" and observation == "auto" and components is None
    return size_model(
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


def _sources(
    tau: TauChoice,
    forcing_source: str,
    model: str,
    given: dict[str, Any],
    components: int | float | None,
    proj: PCAProjection | None,
) -> dict[str, str]:
    """Where each setting came from (fit.json's ``sources``): ``given`` holds latent, hidden
    and observation as the user gave them."""
    sources = {"tau": tau.source, "forcing": forcing_source}
    sizing_source = "sizing rule" if model == "auto" else "the model's default size"
    sources["model"] = (
        "sizing rule" if model == "auto" else "default" if model == D["model"] else "user"
    )
    for key, value in given.items():
        sources[key] = sizing_source if value in ("auto", None) else "user"
    if components is not None:  # it chose the PCA observation even with observation "auto"
        sources["observation"] = sources["components"] = "user"
    elif proj is not None:
        sources["components"] = "sizing rule"
    return sources


def train_one_size(
    data: np.ndarray,
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
) -> TrainingResult:
    """:func:`neurodsr.api.train_fit` for one size (every argument given) on a checked series
    ``data`` (time, N); the steps are in this module's docstring."""
    keys = ("alpha", "epochs", "max_minutes", "patience")
    options = {k: train_options.pop(k, D[k]) for k in keys}
    # a callable for the trainer, not a setting (benchmarks/val_track.py): see train()
    on_validate = train_options.pop("on_validate", None)
    # "auto" with nothing given is decided by the data's Lyapunov verdict, below
    forcing_value, forcing_source = choose_forcing(forcing, tau, options["alpha"])
    alpha_given = options["alpha"]
    if alpha_given is None:  # unset: GTF's default strength where GTF trains
        options["alpha"] = GTF_ALPHA
    cfg = TrainConfig(
        forcing="gtf" if forcing_value in ("select", "auto") else forcing_value,
        **options,
        **train_options,
    )
    n_train = split(data, test_fraction, n_train, cfg.seq_len + 1, n_pred + 2)
    train_raw = data[:n_train]
    mean, std = train_raw.mean(0), train_raw.std(0)
    std = np.where(std > 0, std, 1.0)
    x_train = (train_raw - mean) / std
    n_val = validation_split(x_train, val_fraction, cfg.seq_len)
    x_fit = x_train[: n_train - n_val] if n_val else x_train
    x_val = x_train[n_train - n_val :] if n_val else None
    size = _size(x_fit, model, latent, hidden, observation, components)
    # the PCA observation: the model is trained on the training part's leading principal
    # components (identity observation there; the gated models' own, affine) and wrapped to
    # read out the N channels after
    proj = fit_pca(x_fit, size.components) if size.observation == "pca" else None
    n_model_dims = proj.k if proj else data.shape[1]
    if proj is not None:
        model_obs = "identity" if size.model in PL_FAMILY else "auto"
    else:
        model_obs = size.observation
    x_fit_m = proj.transform(x_fit) if proj else x_fit
    x_val_m = proj.transform(x_val) if proj and x_val is not None else x_val

    tau_choice = choose_tau(tau, x_train, dt, lyapunov=lyapunov, seed=seed)
    if forcing_value == "auto":
        forcing_value, forcing_source = choose_forcing(
            forcing, tau, alpha_given, tau_choice.lyapunov or LyapunovSummary(), dt
        )
    unused = unused_settings(forcing_value, tau, alpha_given)
    if unused:  # said in the log and in the forcing reason, never dropped silently
        log.warning("%s", unused)
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
        tlog = train(
            net, x_fit_m, run_cfg, x_val=x_val_m, checkpoint_dir=ckpt, on_validate=on_validate
        )
        net.eval()
        return net, tlog

    # the range check of the kept states, in the N channels the user sees (a model on
    # principal components was validated in PC space during training), with free runs as long
    # as the run the evaluation scores (scored_length: 5x the held-out part, at most 10^5
    # steps): runs as long as the held-out part passed members whose scored run became
    # non-finite later (rate64, docs/RESULTS.md section 6, "The quality benchmark scored as
    # the pipeline scores")
    check_starts = x_val if x_val is not None else x_train
    n_test = len(data) - n_train
    check_steps = max(
        MIN_RUN,
        cfg.eval_steps // max(1, cfg.val_starts),
        scored_length(n_test) if n_test >= 1 else 0,
    )
    # the runs' first part as long as before the validation's runs grew (RANGE_RUN) is judged
    # on its own too: longer runs never pass a member the shorter ones failed
    head_steps = max(MIN_RUN, RANGE_RUN, len(data) - n_train)

    def range_check(inner: LatentModel) -> RangeCheck:
        view = ProjectedModel(inner, proj) if proj is not None else inner
        return check_range(
            view,
            check_starts,
            check_steps,
            x_range=x_train,
            n_starts=cfg.val_starts,
            range_steps=head_steps,
        )

    candidates: list[Candidate] = []
    candidates_reason = selection_reason = ""
    if forcing_value == "select":
        ly = tau_choice.lyapunov
        candidates, candidates_reason = propose_candidates(
            ly.lambda_max if ly else None, dt, ly.verdict if ly else "unclear", cfg.seq_len
        )
        won = train_candidates(candidates, cfg, seed_list, run, checkpoint_dir, range_check)
        net, tlog, cfg, seconds = won.model, won.log, won.config, won.seconds
        selection_reason, rcheck = won.why, won.check
    else:
        # the interval is STF's alone: GTF forces every step and plain BPTT never
        cfg.tau = tau_choice.value if cfg.forcing == "stf" else None
        net, tlog = run(cfg, seed_list, checkpoint_dir)
        seconds = tlog.seconds[-1] if tlog.seconds else 0.0
        if refit_on_mismatch and tau == "auto" and cfg.forcing == "stf":
            first = best_member(kept_scores(tlog, net.n_models)[0])  # before the range check
            x_m = proj.transform(x_train) if proj else x_train
            new_tau = tau_from_model(net, x_m, dt, first, tau_choice, seed)
            if new_tau is not None:
                tau_choice.reason += f" Refitted with tau = {new_tau} from the model's exponent."
                tau_choice.value, tau_choice.source = new_tau, "refitted from the model's exponent"
                cfg.tau = new_tau
                net, tlog = run(cfg, seed_list, checkpoint_dir)
                seconds += tlog.seconds[-1] if tlog.seconds else 0.0
        rcheck = range_check(net)
        log_range_check(tlog, rcheck, list(net.seeds))
    if proj is not None:
        net = ProjectedModel(net, proj)
    scores, val_dstsp, best = select_member(tlog, net.n_models, rcheck)
    member_seeds = list(net.seeds)

    sources = _sources(
        tau_choice,
        forcing_source,
        model,
        {"latent": latent, "hidden": hidden, "observation": observation},
        components,
        proj,
    )
    reason = forcing_reason(cfg, tau_choice, tau)
    if forcing_value == "select":
        reason = (
            f"Chosen by validation among {len(candidates)} candidates ({candidates_reason}): "
            f"{selection_reason}. {reason}"
        )
    if unused:
        reason += " " + unused
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
        forcing_reason=reason,
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
    return TrainingResult(
        model=net,
        mean=mean,
        std=std,
        dt=float(dt),
        best=best,
        log=tlog,
        summary=summary,
        lyapunov=tau_choice.lyapunov,
        x=data,
        n_train=n_train,
    )
