"""Selection by validation: which member of an ensemble, which forcing candidate, which size.

Every choice here is made on validation data taken from the training part, never on the test
part, and with one rule: the lowest validation score (of
:func:`~neurodsr.training.validation.validate`, the state training kept) among the members
that passed the range check (:func:`~neurodsr.training.validation.check_range`); a member that
failed it never wins unless every member failed, and then the one with the least of its free
run outside the data's range (the report flags it).

- :func:`select_member`: the member of a trained ensemble (:func:`kept_scores`,
  :func:`best_member`), for :func:`neurodsr.training.fitting.train_one_size`;
- :func:`train_candidates`: the forcing candidates x seeds trained as members of one ensemble
  and the winner's members cut out of it (:func:`subset`, :func:`subset_log`);
- :func:`size_score` and :func:`pick_size`: the size competition's verdict on the two sizes
  :func:`neurodsr.training.fitting.compete_sizes` trained.

Nothing here reads or writes files: a checkpoint folder is passed through to the trainer.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neurodsr.models import model_from_config
from neurodsr.models.base import LatentModel
from neurodsr.training.candidates import Candidate, member_forcing, pick_winner
from neurodsr.training.config import TrainConfig
from neurodsr.training.trainer import TrainLog
from neurodsr.training.validation import RangeCheck, validation_score

__all__ = [
    "CandidateWinner",
    "best_member",
    "kept_scores",
    "log_range_check",
    "pick_size",
    "select_member",
    "size_score",
    "subset",
    "subset_log",
    "train_candidates",
]

#: trains an ensemble: (config, member seeds, checkpoint folder or None) -> (model, log)
RunFn = Callable[
    [TrainConfig, list[int], str | os.PathLike[str] | None], tuple[LatentModel, TrainLog]
]
#: the range check of a trained ensemble's kept states
RangeFn = Callable[[LatentModel], RangeCheck]


# --------------------------------------------------------------------------- members
def kept_scores(tlog: TrainLog, n_models: int) -> tuple[np.ndarray, np.ndarray]:
    """Each member's validation score and D_stsp at the state training kept (its best score).

    Parameters
    ----------
    tlog : TrainLog
        The training log (``eval_score`` and ``eval_dstsp``, (evals, E)).
    n_models : int
        Members E.

    Returns
    -------
    scores, dstsp : array (E,)
        inf / nan for a member that was never valid (and for all when nothing was validated).
    """
    if not tlog.eval_score:
        return np.full(n_models, np.inf), np.full(n_models, np.nan)
    score = np.asarray(tlog.eval_score, dtype=np.float64)  # (evals, E)
    dstsp = np.asarray(tlog.eval_dstsp, dtype=np.float64)
    at = np.argmin(np.where(np.isfinite(score), score, np.inf), axis=0)
    cols = np.arange(n_models)
    return score[at, cols], dstsp[at, cols]


def best_member(scores: np.ndarray, outside: Sequence[float] | None = None) -> int:
    """The member chosen by validation on the *training* part (never by the test scores).

    Parameters
    ----------
    scores : array (E,)
        Validation scores, lower is better; inf (or nan) for an invalid member.
    outside : sequence of float (E,), optional
        Share of each member's free run outside the data's range (of
        :func:`~neurodsr.training.validation.check_range`).

    Returns
    -------
    int
        The lowest score; an invalid member only when every member is, and then the one with
        the smallest ``outside`` (the first when ``outside`` is not given). The report flags a
        chosen member that is invalid.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if not np.isfinite(scores).any() and outside is not None and len(outside) == len(scores):
        return int(np.argmin(np.nan_to_num(np.asarray(outside, dtype=np.float64), nan=np.inf)))
    return int(np.argmin(np.where(np.isfinite(scores), scores, np.inf)))


def select_member(
    tlog: TrainLog, n_models: int, check: RangeCheck
) -> tuple[np.ndarray, np.ndarray, int]:
    """The member of a trained ensemble that validation chooses.

    Returns each member's kept score (inf where it failed ``check``: it never wins unless all
    failed), its D_stsp at that state (arrays (E,)), and the chosen member's index
    (:func:`best_member`)."""
    scores, dstsp = kept_scores(tlog, n_models)
    scores = np.where(check.valid, scores, np.inf)
    return scores, dstsp, best_member(scores, check.outside)


def log_range_check(tlog: TrainLog, check: RangeCheck, seeds: list[int]) -> None:
    """One event in the training log per member that failed the range check."""
    for e, why in enumerate(check.why):
        if why:
            tlog.events.append(
                f"range check ({check.n_starts} free runs of {check.run_steps} steps in the "
                f"{check.space}): member {e} (seed {seeds[e]}) {why}; not chosen unless every "
                "member failed"
            )


def subset(net: LatentModel, members: list[int]) -> LatentModel:
    """The given members of an ensemble as an ensemble of their own (every parameter's and
    buffer's axis 0 is the member), on the ensemble's device."""
    cfg = net.config()
    cfg["seeds"] = [net.seeds[e] for e in members]
    sub = model_from_config(cfg)
    idx = torch.as_tensor(members, dtype=torch.long)
    state = {k: v.detach().cpu()[idx].clone() for k, v in net.state_dict().items()}
    sub.load_state_dict(state)
    return sub.to(next(net.parameters()).device)


def subset_log(tlog: TrainLog, members: list[int]) -> TrainLog:
    """The training log of the given members (per-member columns cut; events kept)."""
    d = tlog.to_dict()
    for key in ("loss", "alpha", "eval_dstsp", "eval_dh", "eval_score", "eval_invalid"):
        d[key] = [[row[e] for e in members] for row in d[key]]
    d["best_epoch"] = [d["best_epoch"][e] for e in members]
    return TrainLog.from_dict(d)


# --------------------------------------------------------------------------- forcing candidates
@dataclass
class CandidateWinner:
    """What :func:`train_candidates` returns.

    Attributes
    ----------
    model : LatentModel
        The winning candidate's members (one per seed) as an ensemble.
    log : TrainLog
        Their training log, with the range check's and the choice's events.
    config : TrainConfig
        The winner's config: its own forcing ("stf" or "gtf"), tau and alpha.
    seconds : float
        Seconds of the one training run of all candidates.
    why : str
        Why the winner won (:func:`~neurodsr.training.candidates.pick_winner`).
    check : RangeCheck
        The winner's members' range check.
    """

    model: LatentModel
    log: TrainLog
    config: TrainConfig
    seconds: float
    why: str
    check: RangeCheck


def train_candidates(
    candidates: list[Candidate],
    cfg: TrainConfig,
    seed_list: list[int],
    run: RunFn,
    checkpoint_dir: str | os.PathLike[str] | None,
    range_check: RangeFn,
) -> CandidateWinner:
    """Train every candidate x seed as members of one ensemble and pick the winner.

    Each member has its own forcing interval and strength
    (:func:`~neurodsr.training.candidates.member_forcing`) and all train with the whole
    budget (``run(config, seeds, checkpoint_dir / "candidates")``). Every member's kept state
    is checked with ``range_check`` (a member that fails is invalid: its score is inf); each
    candidate's ``scores`` and ``invalid`` are filled in (the candidates are changed in
    place); the winner is the candidate with the lowest median score
    (:func:`~neurodsr.training.candidates.pick_winner`).
    """
    n_seeds = len(seed_list)
    taus, alphas, owner = member_forcing(candidates, n_seeds)
    run_cfg = dataclasses.replace(cfg, forcing="mixed", tau=taus, alpha=alphas)
    ckpt = None if checkpoint_dir is None else Path(checkpoint_dir) / "candidates"
    net, tlog = run(run_cfg, [s for _ in candidates for s in seed_list], ckpt)
    seconds = tlog.seconds[-1] if tlog.seconds else 0.0
    check = range_check(net)
    scores, _, _ = select_member(tlog, net.n_models, check)
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
    sub_check = check.subset(members)
    n_failed = sum(1 for w in check.why if w)
    sub_log = subset_log(tlog, members)
    if n_failed:
        sub_log.events.append(
            f"range check: {n_failed} of {len(check.why)} candidate members left the data's "
            "range and could not win"
        )
    log_range_check(sub_log, sub_check, [net.seeds[e] for e in members])
    sub_log.events.append(f"forcing chosen by validation: {why}")
    return CandidateWinner(subset(net, members), sub_log, wcfg, seconds, why, sub_check)


# --------------------------------------------------------------------------- sizes
def size_score(range_why: str, dstsp: float, dh: float) -> tuple[float, str]:
    """A competing size's score and why it is invalid ("" when valid).

    Parameters
    ----------
    range_why : str
        The range check's verdict on the size's chosen member ("" when it passed): the one
        definition its seeds were chosen by.
    dstsp, dh : float
        That member's D_stsp and D_H on the validation part, in the N channels
        (:func:`~neurodsr.training.validation.validate`).

    Returns
    -------
    score : float
        :func:`~neurodsr.training.validation.validation_score` of ``dstsp`` and ``dh``; inf
        when the member failed the range check or the score is not finite.
    why : str
    """
    score = validation_score(dstsp, dh) if not range_why else math.inf
    if not math.isfinite(score):
        return math.inf, range_why or "validation score not finite"
    return score, range_why


def pick_size(rows: list[dict[str, Any]], minutes: float) -> tuple[int, str]:
    """The winner of two competing sizes: the lower ``score`` (a size with an infinite score
    wins only when both have one, then the first). Marks its row ``chosen`` and returns its
    index and a sentence on why it won.

    Parameters
    ----------
    rows : list of dict
        One per size, in training order, with ``observation`` ("pca" or "identity"),
        ``score`` and ``invalid`` (of :func:`size_score`).
    minutes : float
        The budget each size trained with, minutes.
    """
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
    return win, why
