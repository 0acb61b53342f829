"""Validation during training: a score that can be trusted to pick states and members.

One free run is a poor judge of a chaotic model: D_stsp of a single run jumps from one
evaluation to the next, and a member whose n-step predictions blow up can still have a free
run that looks fine. :func:`validate` therefore

- starts ``n_starts`` free runs from different data states of the validation series (evenly
  spaced), drops a transient from each and scores their union against the series with D_stsp
  and each run's spectrum against the series' with D_H (mean over runs);
- checks the member's n-step predictions from data states (every ``pred_stride``-th state)
  and its free runs for leaving the data's range: a member with a non-finite value, or with
  more than ``max_outside`` of its predictions or free-run points outside the data's range
  (+- ``margin`` standard deviations per dim), is *invalid*: its score is inf, so it is never
  chosen as a best state nor as the best member.

The score of a valid member is the geometric mean sqrt(D_stsp * D_H) (both "lower is better";
the product weighs a relative improvement in either the same, so neither metric's scale
dominates; D_stsp is floored at 1e-3 because its Gaussian-mixture estimate can dip below 0).

:func:`check_range` is the same range test without the scores, for the states training kept
(:func:`neurodsr.training.fitting.train_one_size` runs it before a member or a forcing
candidate is chosen, :mod:`neurodsr.training.select`): free runs as long as the free run the
evaluation scores (the held-out part's length) rather than the validation's short ones, judged
in the N channels the user sees. Training validates a model on principal components (the PCA
observation) in PC space; a run inside the components' range can still leave the channels'
range (the components combine), and a member can leave it only after the validation's runs
end: on the 64-channel stand-in of docs/RESULTS.md section 6, 2 of 5 kept PCA members left the
range in the scored free run although every validation passed them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from neurodsr.metrics.core import fraction_outside, power_spectrum_distance, state_space_divergence
from neurodsr.models.base import LatentModel

__all__ = [
    "MIN_RUN",
    "MemberValidation",
    "RangeCheck",
    "check_range",
    "validate",
    "validation_score",
]

MIN_RUN = 500


def validation_score(dstsp: float, dh: float) -> float:
    """The validation score of a valid member: sqrt(D_stsp * D_H), D_stsp floored at 1e-3 and
    D_H at 1e-6 (lower is better; see the module's docstring)."""
    return math.sqrt(max(dstsp, 1e-3) * max(dh, 1e-6))


@dataclass
class MemberValidation:
    """Validation of every member (lists of length E).

    Attributes
    ----------
    score : list of float
        sqrt(D_stsp * D_H) of valid members, inf for invalid ones (lower is better).
    dstsp, dh : list of float
        D_stsp of the union of the free runs, and the mean D_H of the runs (nan when invalid
        because not finite).
    outside : list of float
        Fraction of free-run points outside the data's range (or not finite).
    pred_outside : list of float
        Fraction of n-step predictions outside the data's range (or not finite).
    valid : list of bool
    why : list of str
        Why a member is invalid ("" when valid).
    """

    score: list[float] = field(default_factory=list)
    dstsp: list[float] = field(default_factory=list)
    dh: list[float] = field(default_factory=list)
    outside: list[float] = field(default_factory=list)
    pred_outside: list[float] = field(default_factory=list)
    valid: list[bool] = field(default_factory=list)
    why: list[str] = field(default_factory=list)


def _device_of(model: LatentModel) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def validate(
    model: LatentModel,
    x_ref: np.ndarray,
    n_steps: int,
    *,
    n_starts: int = 4,
    transient: int = 200,
    n_pred: int = 20,
    pred_stride: int = 10,
    margin: float = 0.5,
    max_outside: float = 0.05,
) -> MemberValidation:
    """Score each member of ``model`` on the normalised validation series ``x_ref`` (time, N).

    Parameters
    ----------
    n_steps : int
        Total free-run steps scored, split over the ``n_starts`` runs.
    n_starts : int, default 4
        Free runs, started from data states evenly spaced over ``x_ref`` (fewer when
        ``n_steps`` would give runs shorter than ``MIN_RUN`` = 500 steps).
    transient : int, default 200
        Steps dropped at the start of each run, steps.
    n_pred : int, default 20
        Horizon of the n-step predictions that are checked for leaving the range, steps.
    pred_stride : int, default 10
        Every ``pred_stride``-th data state starts an n-step prediction.
    margin : float, default 0.5
        The data's range is widened by ``margin`` standard deviations per dim.
    max_outside : float, default 0.05
        A member with a larger fraction of free-run points or of predictions outside that
        range is invalid.

    Returns
    -------
    MemberValidation
    """
    x_ref = np.asarray(x_ref, dtype=np.float64)
    runs = _free_runs(model, x_ref, n_steps, n_starts, transient)
    preds = _predictions(model, x_ref, n_pred, pred_stride)
    out = MemberValidation()
    for e in range(model.n_models):
        xe = runs[e].reshape(-1, x_ref.shape[1])
        outside, pred_out, why = _range_verdict(
            x_ref, xe, preds[e], margin=margin, max_outside=max_outside, n_pred=n_pred
        )
        if why == "not finite":
            dstsp, dh = math.nan, math.nan
        else:
            dstsp = float(state_space_divergence(x_ref, xe))
            dh = float(np.mean([power_spectrum_distance(x_ref, r) for r in runs[e]]))
        score = math.inf if why else validation_score(dstsp, dh)
        if not math.isfinite(score) and not why:
            why, score = "score not finite", math.inf
        out.score.append(score)
        out.dstsp.append(dstsp)
        out.dh.append(dh)
        out.outside.append(float(outside))
        out.pred_outside.append(float(pred_out))
        out.valid.append(not why)
        out.why.append(why)
    return out


def _free_runs(
    model: LatentModel, x_starts: np.ndarray, n_steps: int, n_starts: int, transient: int
) -> np.ndarray:
    """Free runs of every member from ``n_starts`` data states evenly spaced over ``x_starts``
    (fewer when runs would be shorter than ``MIN_RUN``), ``transient`` steps dropped:
    array (E, K, run_len, N) of read-outs."""
    device = _device_of(model)
    # runs of at least MIN_RUN steps: a spectrum (D_H) of a shorter run is mostly noise
    n_starts = max(1, min(n_starts, len(x_starts), n_steps // MIN_RUN))
    run_len = max(MIN_RUN, n_steps // n_starts)
    starts = np.linspace(0, len(x_starts) - 1, n_starts + 1)[:-1].astype(int)
    x0 = torch.as_tensor(x_starts[starts], dtype=torch.float32, device=device)
    z0 = model.init_state(x0.unsqueeze(0).expand(model.n_models, -1, -1).contiguous())
    states = model.generate(z0, transient + run_len)[transient:]  # (T, E, K, D)
    e, k = model.n_models, len(starts)
    flat = states.permute(1, 2, 0, 3).reshape(e, k * run_len, -1)  # readout takes (E, B, D)
    return model.readout(flat).reshape(e, k, run_len, -1).double().cpu().numpy()


def _predictions(
    model: LatentModel, x_starts: np.ndarray, n_pred: int, pred_stride: int
) -> np.ndarray:
    """Every member's ``n_pred``-step predictions from every ``pred_stride``-th data state of
    ``x_starts``: array (E, S, N) (S = 0 when the series is too short)."""
    if len(x_starts) <= n_pred + 1:
        return np.empty((model.n_models, 0, x_starts.shape[1]))
    device = _device_of(model)
    idx = np.arange(0, len(x_starts) - n_pred, pred_stride)
    xp = torch.as_tensor(x_starts[idx], dtype=torch.float32, device=device)
    z = model.init_state(xp.unsqueeze(0).expand(model.n_models, -1, -1).contiguous())
    for _ in range(n_pred):
        z = model.step(z)
    return model.readout(z).double().cpu().numpy()  # (E, starts, N)


def _range_verdict(
    x_range: np.ndarray,
    run: np.ndarray,
    preds: np.ndarray,
    *,
    margin: float,
    max_outside: float,
    n_pred: int,
) -> tuple[float, float, str]:
    """(fraction of the free run outside the range of ``x_range``, fraction of predictions
    outside it, why the member is invalid or "")."""
    outside = fraction_outside(x_range, run, margin=margin)
    pred_out = fraction_outside(x_range, preds, margin=margin) if len(preds) else 0.0
    why = ""
    if not np.isfinite(run).all() or not np.isfinite(preds).all():
        why = "not finite"
    elif outside > max_outside:
        why = f"{outside:.0%} of its free run outside the data's range"
    elif pred_out > max_outside:
        why = f"{pred_out:.0%} of its {n_pred}-step predictions outside the data's range"
    return float(outside), float(pred_out), why


@dataclass
class RangeCheck:
    """What :func:`check_range` found for every member (lists of length E).

    Attributes
    ----------
    outside, pred_outside : list of float
        Fraction of the free-run points / of the n-step predictions outside the data's range
        (or not finite).
    why : list of str
        Why a member failed ("" when it passed).
    run_steps : int
        Steps of each free run (after the transient).
    n_starts : int
        Free runs per member.
    space : str
        Where the range was judged ("channels": the N channels the user sees).
    """

    outside: list[float] = field(default_factory=list)
    pred_outside: list[float] = field(default_factory=list)
    why: list[str] = field(default_factory=list)
    run_steps: int = 0
    n_starts: int = 0
    space: str = "channels"

    @property
    def valid(self) -> list[bool]:
        return [not w for w in self.why]

    def subset(self, members: list[int]) -> RangeCheck:
        """The check of the given members only (the run settings kept)."""
        return RangeCheck(
            outside=[self.outside[e] for e in members],
            pred_outside=[self.pred_outside[e] for e in members],
            why=[self.why[e] for e in members],
            run_steps=self.run_steps,
            n_starts=self.n_starts,
            space=self.space,
        )

    def to_json(self) -> dict:
        return {
            "outside": [float(v) for v in self.outside],
            "pred_outside": [float(v) for v in self.pred_outside],
            "why": list(self.why),
            "run_steps": int(self.run_steps),
            "n_starts": int(self.n_starts),
            "space": self.space,
        }


@torch.no_grad()
def check_range(
    model: LatentModel,
    x_starts: np.ndarray,
    run_steps: int,
    *,
    x_range: np.ndarray | None = None,
    n_starts: int = 4,
    transient: int = 200,
    n_pred: int = 20,
    pred_stride: int = 10,
    margin: float = 0.5,
    max_outside: float = 0.05,
    space: str = "channels",
) -> RangeCheck:
    """Whether each member's free runs and n-step predictions stay in the data's range.

    The test of :func:`validate` (the same margin and threshold), without the scores, with
    runs of a given length: ``n_starts`` free runs of ``run_steps`` steps each (after
    ``transient``), from data states evenly spaced over ``x_starts``, and the ``n_pred``-step
    predictions from every ``pred_stride``-th state of it.

    Parameters
    ----------
    model : LatentModel
        The ensemble as the user sees it (a
        :class:`~neurodsr.training.projection.ProjectedModel` reads out the N channels).
    x_starts : array (time, N)
        Normalised data whose states start the runs and predictions (the validation part).
    run_steps : int
        Steps of each free run (at least ``MIN_RUN``).
    x_range : array (time, N), optional
        Normalised data whose range (+- ``margin`` std per dim) the runs must stay in
        (default ``x_starts``; train_fit gives the whole training part).
    n_starts, transient, n_pred, pred_stride, margin, max_outside
        As in :func:`validate`.
    space : str
        Recorded with the result ("channels").

    Returns
    -------
    RangeCheck
    """
    x_starts = np.asarray(x_starts, dtype=np.float64)
    x_range = x_starts if x_range is None else np.asarray(x_range, dtype=np.float64)
    run_steps = max(MIN_RUN, int(run_steps))
    n_starts = max(1, min(int(n_starts), len(x_starts)))
    runs = _free_runs(model, x_starts, n_starts * run_steps, n_starts, transient)
    preds = _predictions(model, x_starts, n_pred, pred_stride)
    out = RangeCheck(run_steps=runs.shape[2], n_starts=runs.shape[1], space=space)
    for e in range(model.n_models):
        outside, pred_out, why = _range_verdict(
            x_range,
            runs[e].reshape(-1, x_range.shape[1]),
            preds[e],
            margin=margin,
            max_outside=max_outside,
            n_pred=n_pred,
        )
        out.outside.append(outside)
        out.pred_outside.append(pred_out)
        out.why.append(why)
    return out
