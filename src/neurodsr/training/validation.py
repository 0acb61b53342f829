"""Validation during training: a score that can be trusted to pick states and members.

One free run is a poor judge of a chaotic model: D_stsp of a single run jumps from one
evaluation to the next, and a member whose n-step predictions blow up can still have a free
run that looks fine. :func:`validate` therefore

- starts ``n_starts`` free runs from different data states of the validation series (evenly
  spaced), drops a transient from each (:func:`free_runs`) and scores them
  (:func:`score_runs`): D_stsp of their union and D_H against the *score reference*, by default
  the whole training part (the fitting part and the validation series; ``x_score``), not
  only the short validation series, whose finite-sample floor hides the differences between
  members (docs/RESULTS.md section 6, "Validation's floor and its ranking");
- computes D_H by the metrics' one definition
  (:func:`neurodsr.metrics.core.segment_spectrum_distance`: the mean spectrum of the runs'
  segments against the mean spectrum of the reference's) with segments of ``DH_SEGMENT`` =
  1250 samples (or the runs' length if shorter), not from each run against the reference's
  first samples. The evaluation's D_H uses segments of the held-out part's length, which
  resolve finer spectral differences: validation's D_H ("D_H,val" in fit.json and the
  report) is lower than the test's D_H on the same runs and not comparable with it
  (docs/RESULTS.md section 6, "One definition of D_H");
- checks the member's n-step predictions from data states (every ``pred_stride``-th state)
  and its free runs for leaving the data's range, that of the score reference (the whole
  training part, as the range check after training judges it; until session 12 the
  validation series' own, which on recordings is narrower than the data: 25 % of the shared
  EEG's test part and 58 % of the temperature's lay outside it, and nearly every member was
  invalid at every validation, docs/RESULTS.md section 6, "Does validation keep the right
  state?"): a member with a non-finite
  value, or with more than ``max_outside`` of its predictions or free-run points outside that
  range (+- ``margin`` standard deviations per dim), is *invalid*: its score is inf, so it is
  never chosen as a best state nor as the best member. The free runs are judged both whole and
  on their first ``range_steps`` steps each (``RANGE_RUN`` = 1250, the runs' length before
  the runs were made longer), so that a longer run cannot dilute a burst outside the range:
  a member invalid under the shorter runs stays invalid.

The score of a valid member is the geometric mean sqrt(D_stsp * D_H) (both "lower is better";
the product weighs a relative improvement in either the same, so neither metric's scale
dominates; D_stsp is floored at 1e-3 because its Gaussian-mixture estimate can dip below 0).

Scoring against the training part is no leak of test data (nothing of the held-out part is
used) and no leak of the fit in the sense that matters here: the training loss is the
forced one-step (GTF) or interval (STF) prediction error on windows, while the score compares
the long-run statistics (state density, spectra) of *free* runs with the data's; a model that
has memorised windows does not reproduce their invariant density by free-running. The
validation series is held out from the windows as before, and it still starts the runs.

:func:`check_range` is the same range test without the scores, for the states training kept
(:func:`neurodsr.training.fitting.train_one_size` runs it before a member or a forcing
candidate is chosen, :mod:`neurodsr.training.select`): ``val_starts`` free runs, each as long
as the run the evaluation scores (:func:`neurodsr.metrics.evaluate.scored_length`: 5x the
held-out part; until session 11 1x, which passed members whose scored run became non-finite
later), judged in the N channels the user sees. Training validates a model on
principal components (the PCA observation) in PC space; a run inside the components' range can
still leave the channels' range (the components combine), and a member can leave it only after
the validation's runs end: on the 64-channel stand-in of docs/RESULTS.md section 6, 2 of 5 kept
PCA members left the range in the scored free run although every validation passed them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from neurodsr.metrics.core import (
    fraction_outside,
    mean_spectra,
    power_spectrum_distance,
    segment_spectrum_distance,
    state_space_divergence,
)
from neurodsr.models.base import LatentModel

__all__ = [
    "DH_MODES",
    "DH_SEGMENT",
    "MAX_REF_SEGMENTS",
    "MIN_RUN",
    "RANGE_RUN",
    "MemberValidation",
    "RangeCheck",
    "RunScore",
    "check_range",
    "dh_segment",
    "free_runs",
    "score_runs",
    "validate",
    "validation_score",
]

MIN_RUN = 500
#: Steps at the start of each free run that the range test also judges on their own, steps
#: (the validation's run length before issue 12 item 4: 5000 steps over 4 runs)
RANGE_RUN = 1250
#: How D_H is computed: "segments" (:func:`segment_spectrum_distance`, the default) or "runs"
#: (the mean over runs of :func:`~neurodsr.metrics.core.power_spectrum_distance` of each run
#: against the reference's first samples: the validation before issue 12 item 4)
DH_MODES = ("segments", "runs")


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
        D_stsp of the union of the free runs, and D_H of the runs (nan when invalid because
        not finite), both against the score reference.
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


@dataclass
class RunScore:
    """The validation of one member's free runs (:func:`score_runs`); fields as in
    :class:`MemberValidation`, one value each."""

    score: float
    dstsp: float
    dh: float
    outside: float
    pred_outside: float
    why: str

    @property
    def valid(self) -> bool:
        return not self.why


def _device_of(model: LatentModel) -> torch.device:
    return next(model.parameters()).device


# --------------------------------------------------------------------------- spectra
#: Segments of the score reference its mean spectrum is taken over at most (evenly spaced):
#: bounds validation's cost on long training parts
MAX_REF_SEGMENTS = 64
#: Length of the segments D_H's spectra are averaged over at most, samples (the runs' length
#: before issue 12 item 4): longer runs and references give more segments, not a finer
#: frequency grid
DH_SEGMENT = 1250


def dh_segment(run_len: int, ref_len: int) -> int:
    """The segment length of D_H "segments" for runs of ``run_len`` and a reference of
    ``ref_len`` samples: min(``DH_SEGMENT``, run_len, ref_len)."""
    return int(min(DH_SEGMENT, run_len, ref_len))


# --------------------------------------------------------------------------- scoring
def score_runs(
    x_ref: np.ndarray,
    runs: np.ndarray,
    preds: np.ndarray | None = None,
    *,
    x_score: np.ndarray | None = None,
    dh: str = "segments",
    range_steps: int | None = RANGE_RUN,
    margin: float = 0.5,
    max_outside: float = 0.05,
    n_pred: int = 20,
    ref_spectra: np.ndarray | None = None,
) -> RunScore:
    """The validation of one member from arrays: its free runs and n-step predictions.

    What :func:`validate` computes for each member once it has run the model; it takes any
    runs, e.g. an independent run of the true system (the floor of the score,
    ``benchmarks/validation_floor.py``).

    Parameters
    ----------
    x_ref : array (time, N)
        The normalised validation series: the score reference, and the range (+- ``margin``
        std per dim) the runs and predictions must stay in, when ``x_score`` is None.
    runs : array (K, T, N) or (T, N)
        Free runs (after their transient), model units.
    preds : array (S, N), optional
        n-step predictions from data states (none: not checked).
    x_score : array (time, N), optional
        The states the runs are scored against (D_stsp of their union, D_H) and whose range
        they must stay in; default ``x_ref``. :func:`validate` in training gives the whole
        training part.
    dh : {"segments", "runs"}
        D_H from averaged spectra (:func:`segment_spectrum_distance`), or the mean over runs
        of each run's D_H against ``x_score``'s first T samples (before issue 12 item 4).
    range_steps : int or None
        Each run's first ``range_steps`` steps are judged on their own too (the larger
        fraction outside counts); None: the whole runs only.
    margin, max_outside, n_pred
        As in :func:`validate`.
    ref_spectra : array, optional
        ``x_score``'s mean spectra for D_H "segments", when already computed
        (:func:`segment_spectrum_distance`).

    Returns
    -------
    RunScore
    """
    if dh not in DH_MODES:
        raise ValueError(f"dh must be one of {DH_MODES}, got {dh!r}")
    x_ref = np.asarray(x_ref, dtype=np.float64)
    runs = np.asarray(runs, dtype=np.float64)
    runs = runs[None] if runs.ndim == 2 else runs
    n_dim = x_ref.shape[1]
    x_score = x_ref if x_score is None else np.asarray(x_score, dtype=np.float64)
    preds = np.empty((0, n_dim)) if preds is None else np.asarray(preds, dtype=np.float64)
    outside, pred_out, why = _range_verdict(
        x_score,
        runs,
        preds,
        margin=margin,
        max_outside=max_outside,
        n_pred=n_pred,
        range_steps=range_steps,
    )
    if why == "not finite":
        dstsp, dh_value = math.nan, math.nan
    else:
        dstsp = float(state_space_divergence(x_score, runs.reshape(-1, n_dim)))
        if dh == "segments":
            dh_value = segment_spectrum_distance(
                x_score,
                runs,
                seg_len=dh_segment(runs.shape[1], len(x_score)),
                max_ref_segments=MAX_REF_SEGMENTS,
                ref_spectra=ref_spectra,
            )
        else:
            dh_value = float(np.mean([power_spectrum_distance(x_score, r) for r in runs]))
    score = math.inf if why else validation_score(dstsp, dh_value)
    if not math.isfinite(score) and not why:
        why, score = "score not finite", math.inf
    return RunScore(score, dstsp, dh_value, outside, pred_out, why)


@torch.no_grad()
def validate(
    model: LatentModel,
    x_ref: np.ndarray,
    n_steps: int,
    *,
    n_starts: int = 4,
    x_score: np.ndarray | None = None,
    dh: str = "segments",
    transient: int = 200,
    n_pred: int = 20,
    pred_stride: int = 10,
    margin: float = 0.5,
    max_outside: float = 0.05,
    range_steps: int | None = RANGE_RUN,
    start_shift: int = 0,
) -> MemberValidation:
    """Score each member of ``model`` on the normalised validation series ``x_ref`` (time, N).

    Parameters
    ----------
    n_steps : int
        Total free-run steps scored, split over the ``n_starts`` runs.
    n_starts : int, default 4
        Free runs, started from data states evenly spaced over ``x_ref`` (fewer when
        ``n_steps`` would give runs shorter than ``MIN_RUN`` = 500 steps).
    x_score : array (time, N), optional
        The states the runs are scored against and whose range (+- ``margin`` std per dim)
        they and the predictions must stay in (default ``x_ref``; training gives the whole
        training part, :class:`~neurodsr.training.config.TrainConfig`'s ``val_reference``).
    dh : {"segments", "runs"}
        How D_H is computed (:func:`score_runs`).
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
    range_steps : int or None, default ``RANGE_RUN``
        Each run's first steps judged on their own as well (:func:`score_runs`).
    start_shift : int, default 0
        Every start state moved on by this many samples (cyclically): the benchmark measures
        the score's spread over start states with it.

    Returns
    -------
    MemberValidation
    """
    x_ref = np.asarray(x_ref, dtype=np.float64)
    runs = free_runs(model, x_ref, n_steps, n_starts, transient, shift=start_shift)
    preds = _predictions(model, x_ref, n_pred, pred_stride)
    ref = x_ref if x_score is None else np.asarray(x_score, dtype=np.float64)
    ref_spectra = (
        mean_spectra(ref, dh_segment(runs.shape[2], len(ref)), max_segments=MAX_REF_SEGMENTS)
        if dh == "segments"
        else None
    )
    out = MemberValidation()
    for e in range(model.n_models):
        r = score_runs(
            x_ref,
            runs[e],
            preds[e],
            x_score=ref,
            dh=dh,
            range_steps=range_steps,
            margin=margin,
            max_outside=max_outside,
            n_pred=n_pred,
            ref_spectra=ref_spectra,
        )
        out.score.append(r.score)
        out.dstsp.append(r.dstsp)
        out.dh.append(r.dh)
        out.outside.append(float(r.outside))
        out.pred_outside.append(float(r.pred_outside))
        out.valid.append(r.valid)
        out.why.append(r.why)
    return out


@torch.no_grad()
def free_runs(
    model: LatentModel,
    x_starts: np.ndarray,
    n_steps: int,
    n_starts: int,
    transient: int,
    *,
    shift: int = 0,
) -> np.ndarray:
    """Free runs of every member from ``n_starts`` data states evenly spaced over ``x_starts``
    (time, N) (fewer when runs would be shorter than ``MIN_RUN``; each moved on by ``shift``
    samples, cyclically), ``transient`` steps dropped: array (E, K, run_len, N) of read-outs,
    run_len = max(``MIN_RUN``, ``n_steps`` // K)."""
    device = _device_of(model)
    # runs of at least MIN_RUN steps: a spectrum (D_H) of a shorter run is mostly noise
    n_starts = max(1, min(n_starts, len(x_starts), n_steps // MIN_RUN))
    run_len = max(MIN_RUN, n_steps // n_starts)
    starts = np.linspace(0, len(x_starts) - 1, n_starts + 1)[:-1].astype(int)
    starts = (starts + int(shift)) % len(x_starts)
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
    range_steps: int | None = None,
) -> tuple[float, float, str]:
    """(fraction of the free run ``run`` ((K, T, N) runs or (T, N)) outside the range of
    ``x_range``, fraction of predictions outside it, why the member is invalid or ""). With
    ``range_steps``, the fraction of the runs' first ``range_steps`` steps counts when larger."""
    n_dim = x_range.shape[1]
    outside = fraction_outside(x_range, run.reshape(-1, n_dim), margin=margin)
    if range_steps is not None and run.ndim == 3 and run.shape[1] > range_steps:
        head = run[:, :range_steps].reshape(-1, n_dim)
        outside = max(outside, fraction_outside(x_range, head, margin=margin))
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
    range_steps: int | None = None,
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
    range_steps : int, optional
        Each run's first ``range_steps`` steps are judged on their own too (the larger
        fraction outside counts, as in :func:`score_runs`), so that runs made longer than
        before do not dilute a burst outside the range; None: the whole runs only.

    Returns
    -------
    RangeCheck
    """
    x_starts = np.asarray(x_starts, dtype=np.float64)
    x_range = x_starts if x_range is None else np.asarray(x_range, dtype=np.float64)
    run_steps = max(MIN_RUN, int(run_steps))
    n_starts = max(1, min(int(n_starts), len(x_starts)))
    runs = free_runs(model, x_starts, n_starts * run_steps, n_starts, transient)
    preds = _predictions(model, x_starts, n_pred, pred_stride)
    out = RangeCheck(run_steps=runs.shape[2], n_starts=runs.shape[1], space=space)
    for e in range(model.n_models):
        outside, pred_out, why = _range_verdict(
            x_range,
            runs[e],
            preds[e],
            margin=margin,
            max_outside=max_outside,
            n_pred=n_pred,
            range_steps=range_steps,
        )
        out.outside.append(outside)
        out.pred_outside.append(pred_out)
        out.why.append(why)
    return out
