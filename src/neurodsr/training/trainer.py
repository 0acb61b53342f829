"""The training loop: one readable loop over epochs and batches (nanoGPT style).

An ensemble of E members (seeds) trains as one batched model: every member draws its own random
windows from its own generator and has its own loss, so member e trains exactly as a single
model with seed e would (up to float rounding of batched kernels).

Robustness, per member: a non-finite loss or gradient in one seed restores that seed alone to
its last good state (taken at the end of each epoch) and halves its step size; the other seeds
keep their progress. A seed that fails ``max_failures`` times in a row is stopped (kept at its
last good state) while the others train on; only when every seed is stopped does training end
with a :class:`~neurodsr.errors.TrainingError`. Checkpoints (model, optimizer, sampler state,
log, seconds spent) are written atomically every ``checkpoint_every`` epochs and a rerun with
the same model, settings and data resumes from the last one, its time budget counting the time
already spent; a damaged checkpoint is warned about and training starts afresh.

:func:`train` reads top to bottom: setup, resume, the loop over epochs and batches, the end.
Its helpers: :func:`run_id` / :func:`load_checkpoint` (resume), :class:`MemberGuard` (failure
handling per member), :class:`KeepBest` (each member's best state by validation).
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from neurodsr.errors import InputError, TrainingError
from neurodsr.fileio import atomic_path
from neurodsr.models.base import LatentModel, Windows, as_tensor
from neurodsr.training.config import TrainConfig
from neurodsr.training.validation import MemberValidation, validate

__all__ = [
    "KeepBest",
    "MemberGuard",
    "TrainLog",
    "WindowSampler",
    "gradient_step",
    "load_checkpoint",
    "make_optimizer",
    "resolve_device",
    "run_id",
    "train",
]

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "checkpoint.pt"


def resolve_device(device: str = "auto") -> torch.device:
    """'auto' -> CUDA when available, else CPU; anything else as given."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as err:
        raise InputError(
            f"unknown device {device!r}", hint="use auto, cpu, cuda or cuda:N"
        ) from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(
            f"device {device!r} asked for, but CUDA is not available on this machine",
            hint="use --device auto (CUDA when present, else CPU) or cpu",
        )
    return dev


class WindowSampler:
    """Random training windows from one series, independently for each ensemble member.

    Each member's window starts come from its own generator, so a member draws the same
    windows in an ensemble as in a fit of its own. The starts are drawn ahead, ``BLOCK``
    batches per member in one call (see :attr:`BLOCK`); which starts each batch gets, and the
    generator states that :meth:`state` returns, are exactly those of one draw per batch.

    Parameters
    ----------
    x : Tensor, shape (time, N)
        The (normalised) training series.
    seq_len : int
        T; each window holds T + 1 consecutive samples.
    seeds : list of int
        One generator per member (E = len(seeds)).
    """

    #: Batches of starts drawn per member and generator call. One ``torch.randint`` call costs
    #: ~6 us whatever its size at these sizes, so one call per member and gradient step was
    #: ~0.1 ms of a 16-member step of ~1.7 ms (benchmarks/README.md, "Ensembles"). Drawing
    #: ahead gives the same starts: torch's CPU ``randint`` fills its output serially from the
    #: generator, so one call of k x B values equals k calls of B (tests/test_training.py).
    BLOCK = 64

    def __init__(self, x: Tensor, seq_len: int, seeds: list[int]) -> None:
        if x.shape[0] < seq_len + 1:
            raise ValueError(
                f"the training series has {x.shape[0]} samples, fewer than one window of "
                f"seq_len + 1 = {seq_len + 1}; use a shorter seq_len or more data"
            )
        self.x = x.contiguous()
        self.seq_len = seq_len
        self.gens = [torch.Generator().manual_seed(int(s) + 104729) for s in seeds]
        self._hi = self.x.shape[0] - seq_len  # starts in [0, hi)
        self._block: Tensor | None = None  # (BLOCK, E, B) starts drawn ahead
        self._next = 0  # the block's next unused batch
        self._marks: list[Tensor] = []  # each generator's state at the block's first batch

    def sample_windows(self, batch_size: int) -> Windows:
        """A batch of windows by their starts, (E, batch_size), in the series (not copied:
        the compiled PL pass reads them in place; :meth:`Windows.tensor` copies them). The
        same random draws as :meth:`sample`."""
        b = int(batch_size)
        blk = self._block
        if blk is None or self._next == len(blk) or blk.shape[2] != b:
            self._restart()  # the generators where the batches handed out so far leave them
            self._marks = [g.get_state() for g in self.gens]
            draws = [torch.randint(0, self._hi, (self.BLOCK * b,), generator=g) for g in self.gens]
            blk = self._block = torch.stack(draws).view(-1, self.BLOCK, b).transpose(0, 1)
            self._block = blk = blk.contiguous()  # each blk[k] a contiguous (E, B)
        starts = blk[self._next]
        self._next += 1
        return Windows(self.x, starts, self.seq_len)

    def sample(self, batch_size: int) -> Tensor:
        """A batch of windows, time-major and contiguous: (T + 1, E, batch_size, N)."""
        return self.sample_windows(batch_size).tensor()

    def state(self) -> list[Tensor]:
        """Each member's generator state after the batches handed out so far, as if each had
        been drawn on its own (what a checkpoint stores; independent of :attr:`BLOCK`)."""
        blk = self._block
        if blk is None or self._next == len(blk):
            return [g.get_state() for g in self.gens]
        used = self._next * blk.shape[2]  # values each generator has handed out of the block
        states = []
        for mark in self._marks:  # replay the used part from the block's start (rare: checkpoints)
            g = torch.Generator()
            g.set_state(mark)
            torch.randint(0, self._hi, (used,), generator=g)
            states.append(g.get_state())
        return states

    def set_state(self, states: list[Tensor]) -> None:
        for g, s in zip(self.gens, states, strict=True):
            g.set_state(s)
        self._block, self._next = None, 0

    def _restart(self) -> None:
        """Drop the starts drawn ahead, the generators set back to :meth:`state`."""
        if self._block is not None and self._next < len(self._block):
            self.set_state(self.state())
        self._block, self._next = None, 0


@dataclass
class TrainLog:
    """What happened during training, one row per epoch (lists, JSON-able)."""

    epoch: list[int] = field(default_factory=list)
    loss: list[list[float]] = field(default_factory=list)  # (epochs, E)
    lr: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    alpha: list[list[float]] = field(default_factory=list)  # (epochs, E): forcing strength
    progress: list[float] = field(default_factory=list)  # run progress in [0, 1] (lr schedule)
    eval_epoch: list[int] = field(default_factory=list)
    eval_dstsp: list[list[float]] = field(default_factory=list)  # (evals, E)
    eval_dh: list[list[float]] = field(default_factory=list)  # (evals, E)
    eval_score: list[list[float]] = field(default_factory=list)  # (evals, E); inf: invalid
    eval_invalid: list[list[str]] = field(default_factory=list)  # (evals, E): why ("" valid)
    events: list[str] = field(default_factory=list)
    best_epoch: list[int] = field(default_factory=list)  # (E,)
    stopped: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainLog:
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in names})


def _member_norms(params: list[Tensor]) -> Tensor:
    """Per-member gradient norm over all parameters (every parameter's axis 0 is the member):
    (E,). One norm over the gradients side by side: 2 kernels instead of 3 per parameter
    (~15 against ~70 us per step at the pipeline's sizes, 1 to 16 members)."""
    grads = [p.grad.flatten(1) for p in params if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.cat(grads, 1), dim=1)


def _adaptive_alpha(model: LatentModel, x: Tensor, n_states: int, gen: torch.Generator) -> Tensor:
    """GTF's alpha = max(0, 1 - 1/G) per member, G = geometric mean of ||J(z_t)||_2 over states
    inferred from ``n_states`` random data points (Hess et al. 2023)."""
    idx = torch.randint(0, x.shape[0], (n_states,), generator=gen).to(x.device)
    with torch.no_grad():
        z = model.init_state(x[idx].unsqueeze(0).expand(model.n_models, -1, -1))
        norms = torch.linalg.matrix_norm(model.jacobian(z), ord=2)  # (E, n_states)
        g = norms.clamp_min(1e-12).log().mean(1).exp()
    return (1.0 - 1.0 / g).clamp(0.0, 1.0)


def make_optimizer(model: LatentModel, config: TrainConfig) -> torch.optim.Optimizer:
    """Adam or RAdam over the model's parameters; the fused kernel where torch has one."""
    if config.optimizer == "radam":
        return torch.optim.RAdam(model.parameters(), lr=config.lr)
    try:
        return torch.optim.Adam(model.parameters(), lr=config.lr, fused=True)
    except (RuntimeError, TypeError):  # pragma: no cover - devices without a fused Adam
        return torch.optim.Adam(model.parameters(), lr=config.lr)


def gradient_step(
    model: LatentModel,
    opt: torch.optim.Optimizer,
    xb: Tensor | Windows,
    tau: int | list[int] | None,
    alpha: float | Tensor,
    config: TrainConfig,
    step_scale: Tensor | None = None,
    frozen: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """One gradient step on a batch of windows (T + 1, E, B, N) for every member at once.

    Loss: each member's MSE of its predictions of x_1..x_T (plus the optional manifold-
    attractor penalty, :meth:`~neurodsr.models.base.LatentModel.latent_penalty`),
    summed over members so that each member gets the gradient of its own loss (members share
    no parameters, so one member's NaN does not reach the others' gradients).
    This is the whole hot path of training; ``benchmarks/train_speed.py`` times exactly it.

    Parameters
    ----------
    xb : Tensor (T + 1, E, B, N) or Windows
        The batch: the windows, or their starts in the series
        (:meth:`WindowSampler.sample_windows`; copied only for a path that needs the copy).
    step_scale : Tensor (E,), optional
        Per-member factor on the optimizer's update (a member whose loss blew up gets a smaller
        step than the others; Adam's update ignores a gradient's scale, hence on the update).
    frozen : Tensor (E,) bool, optional
        Members that are no longer trained (their parameters stay as they are).

    Returns
    -------
    member_loss : Tensor (E,)
    bad : Tensor (E,) bool
        Members (not frozen) whose loss or gradient is not finite. If any, no update is made.
    """
    any_frozen = frozen is not None and bool(frozen.any())
    opt.zero_grad(set_to_none=True)
    # the PL family's fused pass writes the gradients itself (no autograd graph); other
    # models, and the fused ones with an affine read-out, go through autograd
    dtype = xb.series.dtype if isinstance(xb, Windows) else xb.dtype
    weight = (~frozen).to(dtype) if any_frozen else None
    member_loss = model.loss_and_grad(xb, tau, alpha, weight)  # (E,) or None
    if member_loss is None:
        member_loss = model.rollout_loss(
            as_tensor(xb), tau, alpha
        )  # (E,): MSE of predicting x_1..x_T
        if any_frozen:
            member_loss = torch.where(frozen, torch.zeros_like(member_loss), member_loss)
        loss = member_loss.sum()
    else:
        if any_frozen:
            member_loss = torch.where(frozen, torch.zeros_like(member_loss), member_loss)
        loss = None
    if config.latent_reg > 0:
        penalty = config.latent_reg * model.latent_penalty(config.latent_reg_fraction).sum()
        loss = penalty if loss is None else loss + penalty
    if loss is not None:
        loss.backward()
    params = [p for p in model.parameters() if p.grad is not None]
    norms = _member_norms(params)
    bad = ~torch.isfinite(member_loss.detach() + norms)
    if frozen is not None:
        bad &= ~frozen
    if bool(bad.any()):
        return member_loss.detach(), bad
    if config.grad_clip is not None:
        scale = (config.grad_clip / (norms + 1e-6)).clamp(max=1.0)
        for p in params:
            p.grad.mul_(scale.view(-1, *([1] * (p.ndim - 1))))
    if step_scale is None:
        opt.step()
        return member_loss.detach(), bad
    # only after a member failed: scale each member's update (0 keeps a frozen member as is)
    for p in params:
        p.grad.nan_to_num_(0.0, 0.0, 0.0)
    old = [p.detach().clone() for p in params]
    opt.step()
    with torch.no_grad():
        for p, o in zip(params, old, strict=True):
            f = step_scale.view(-1, *([1] * (p.ndim - 1)))
            p.copy_(torch.where(f > 0, o + f * (p - o), o))
    return member_loss.detach(), bad


@torch.no_grad()
def _restore_members(
    model: LatentModel,
    opt: torch.optim.Optimizer,
    good_model: dict[str, Tensor],
    good_opt: dict,
    members: Tensor,
) -> None:
    """Put the given members (bool (E,)) back to the snapshot: parameters and Adam moments.
    The other members keep their progress."""
    for k, v in model.state_dict().items():
        v[members] = good_model[k][members]
    params = [p for g in opt.param_groups for p in g["params"]]
    for i, p in enumerate(params):
        saved = good_opt["state"].get(i, {})
        for key, value in opt.state.get(p, {}).items():
            if key in saved and value.ndim > 0 and value.shape[0] == members.shape[0]:
                value[members] = saved[key][members]


def _device_of(model: LatentModel) -> torch.device:
    return next(model.parameters()).device


# --------------------------------------------------------------------------- helpers of train
def run_id(model: LatentModel, config: TrainConfig, x: Tensor) -> str:
    """What a checkpoint must share to be resumed: the model, the numeric settings, the data.

    The one checkpoint-compatibility check (the workflow has none of its own)."""
    data_id = hashlib.sha1(np.ascontiguousarray(x.cpu().numpy()).tobytes()).hexdigest()
    return json.dumps(
        {"model": model.config(), "train": config.numerics(), "data": data_id}, sort_keys=True
    )


def load_checkpoint(path: Path | None, expected_run_id: str, device: torch.device) -> dict | None:
    """The checkpoint at ``path`` when it can be resumed, else None (and a warning that names
    the file and why: another run's settings or data, or a damaged / truncated file)."""
    if path is None or not path.exists():
        return None
    try:
        ck = torch.load(path, map_location=device, weights_only=True)
        found = ck["run_id"]
    except Exception as err:  # truncated, not a checkpoint, another format: start afresh
        log.warning(
            "checkpoint %s cannot be read (%s: %s): starting afresh (it is overwritten by the "
            "next checkpoint)",
            path,
            type(err).__name__,
            err,
        )
        return None
    if found != expected_run_id:
        log.warning("checkpoint %s is from other settings or data: starting afresh", path)
        return None
    return ck


class MemberGuard:
    """Per-member failure handling: a member whose loss or gradient is not finite goes back to
    its last good state with half its step size; after ``max_failures`` in a row it is frozen
    (kept at its last good state). Training fails only when every member is frozen."""

    def __init__(self, n_members: int, max_failures: int, device: torch.device) -> None:
        self.step_scale = torch.ones(n_members, device=device)  # factor on each update
        self.fails = torch.zeros(n_members, dtype=torch.long, device=device)  # in a row
        self.frozen = torch.zeros(n_members, dtype=torch.bool, device=device)
        self.max_failures = max_failures

    @property
    def scaled(self) -> bool:
        """Whether any member's step is scaled (until then the hot path stays lean)."""
        return bool((self.step_scale < 1).any())

    def state(self) -> dict[str, Tensor]:
        return {"step_scale": self.step_scale, "frozen": self.frozen}

    def load(self, ck: dict[str, Any]) -> None:
        self.step_scale = ck["step_scale"].to(self.step_scale.device)
        self.frozen = ck["frozen"].to(self.frozen.device)

    def ok(self) -> None:
        self.fails.zero_()

    def failed(self, bad: Tensor, model: LatentModel, epoch: int) -> str:
        """Record the failure of members ``bad`` (bool (E,)); return what happened. Raises
        TrainingError when no member is left."""
        self.fails[bad] += 1
        self.step_scale[bad] *= 0.5
        seeds = [model.seeds[e] for e in bad.nonzero().flatten().tolist()]
        msg = (
            f"epoch {epoch}: non-finite loss or gradient in seed(s) {seeds}; "
            f"restored their last good state and halved their step size"
        )
        give_up = bad & (self.fails >= self.max_failures)
        if bool(give_up.any()):
            self.frozen |= give_up
            self.step_scale[give_up] = 0.0
            lost = [model.seeds[e] for e in give_up.nonzero().flatten().tolist()]
            msg += (
                f"; seed(s) {lost} stopped after {self.max_failures} non-finite "
                f"losses in a row (kept at their last good state)"
            )
        log.warning(msg)
        if bool(self.frozen.all()):
            raise TrainingError(
                f"training of {model.name} (seeds {model.seeds}) stopped at epoch "
                f"{epoch}: every seed had {self.max_failures} non-finite losses in "
                f"a row although its step size was lowered each time. Try a smaller "
                f"tau, forcing='gtf', a lower lr, or check the data for outliers."
            )
        return msg


class KeepBest:
    """Each member's best state by validation (lower score is better; an invalid member's
    score is inf, so a blown-up state is never kept over a valid one)."""

    def __init__(self, n_members: int) -> None:
        self.score = [math.inf] * n_members
        self.state: dict[str, Tensor] | None = None

    def update(self, model: LatentModel, scores: list[float], epoch: int, tlog: TrainLog) -> bool:
        """Keep the members whose score improved; returns whether any did."""
        if self.state is None:
            self.state = {k: v.clone() for k, v in model.state_dict().items()}
        improved = False
        for e, s in enumerate(scores):
            if s < self.score[e]:
                self.score[e] = s
                improved = True
                tlog.best_epoch[e] = epoch
                for k, v in model.state_dict().items():
                    self.state[k][e] = v[e]
        return improved

    def apply(self, model: LatentModel, tlog: TrainLog) -> None:
        if self.state is not None:
            model.load_state_dict(self.state)
            tlog.events.append(
                f"kept each member's best state by validation: epochs {tlog.best_epoch}"
            )


def _score_reference(
    x_train: np.ndarray | Tensor, x_val: np.ndarray | None, reference: str
) -> np.ndarray | None:
    """The states validation scores the free runs against (None: the validation series):
    with ``reference="training"`` the whole training part, ``x_train`` followed by ``x_val``
    (time, N), whose range the runs must stay in too; the runs still start from the validation
    series."""
    if reference == "validation":
        return None
    xt = x_train.detach().cpu().numpy() if isinstance(x_train, Tensor) else x_train
    xt = np.asarray(xt, dtype=np.float64)
    return xt if x_val is None else np.concatenate([xt, np.asarray(x_val, dtype=np.float64)])


def train(
    model: LatentModel,
    x_train: np.ndarray | Tensor,
    config: TrainConfig,
    *,
    x_val: np.ndarray | None = None,
    checkpoint_dir: str | Path | None = None,
    on_validate: Callable[[int, LatentModel, MemberValidation, float], None] | None = None,
) -> TrainLog:
    """Train ``model`` (in place) on a normalised series with forcing.

    Parameters
    ----------
    model : LatentModel
        The ensemble to train; it is moved to ``config.device``.
    x_train : array, shape (time, N)
        Training series, already normalised (z-scored).
    config : TrainConfig
    x_val : array, shape (time, N), optional
        Normalised validation series (:func:`~neurodsr.training.validation.validate`: the
        free runs start from its states; they are scored against, and must stay in the range
        of, ``x_train`` followed by ``x_val`` with ``config.val_reference="training"``, and
        ``x_val`` alone with "validation"); default: the first ``eval_steps`` samples of
        ``x_train`` (scored against the whole of ``x_train`` with "training").
    checkpoint_dir : path, optional
        Where to write ``checkpoint.pt``; a checkpoint there from a run with the same model,
        settings and data is resumed (:func:`run_id`), with the time it already spent counted
        against ``config.max_minutes``. One that cannot be read is warned about and replaced.
    on_validate : callable, optional
        Called after every validation as ``on_validate(epoch, model, validation, seconds)``
        with the model in its current (not the kept) state, the
        :class:`~neurodsr.training.validation.MemberValidation` of that state and the training
        seconds so far. It must leave the model as it is (e.g. score it on other data:
        ``benchmarks/val_track.py``); the time it takes is not counted against
        ``config.max_minutes``, nor in the log's seconds or the learning-rate schedule.

    Returns
    -------
    TrainLog
        Per-epoch losses per member, learning rates, seconds since the start (a resumed run's
        earlier part included), validations, events (restores, resume).
    """
    # ---- setup: device, data, sampler, optimizer, schedules
    device = resolve_device(config.device)
    if config.threads is not None:
        torch.set_num_threads(int(config.threads))
    model.to(device)
    x = torch.as_tensor(np.asarray(x_train), dtype=torch.float32, device=device)
    if x.ndim != 2 or x.shape[1] != model.obs_dim:
        raise ValueError(f"x_train must have shape (time, {model.obs_dim}), got {tuple(x.shape)}")
    x_ref = np.asarray(x_val if x_val is not None else x_train, dtype=np.float64)
    n_eval = min(config.eval_steps, len(x_ref)) if x_val is None else config.eval_steps
    x_ref = x_ref[:n_eval] if x_val is None else x_ref
    x_score = _score_reference(x_train, x_val, config.val_reference)
    sampler = WindowSampler(x, config.seq_len, model.seeds)
    opt = make_optimizer(model, config)
    tau, alpha_setting = config.forcing_schedule()
    for name, setting in (("alpha", alpha_setting), ("tau", tau)):
        if isinstance(setting, list) and len(setting) != model.n_models:
            raise ValueError(
                f"{name} has {len(setting)} values for an ensemble of {model.n_models} members"
            )
    alpha_gen = torch.Generator().manual_seed(model.seeds[0] + 15485863)
    tlog = TrainLog(best_epoch=[-1] * model.n_models)
    guard = MemberGuard(model.n_models, config.max_failures, device)
    best = KeepBest(model.n_models)
    start_epoch, spent = 0, 0.0  # spent: seconds of the run(s) this one resumes
    since_best = 0  # validations in a row that improved no member (patience)

    # ---- resume
    ckpt_path = Path(checkpoint_dir) / CHECKPOINT_NAME if checkpoint_dir else None
    rid = run_id(model, config, x)
    ck = load_checkpoint(ckpt_path, rid, device)
    if ck is not None:
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        sampler.set_state(ck["sampler"])
        alpha_gen.set_state(ck["alpha_gen"])
        tlog = TrainLog.from_dict(json.loads(ck["log"]))
        guard.load(ck)
        best.score, best.state = [float(v) for v in ck["best_score"]], ck.get("best_state")
        start_epoch, spent = int(ck["epoch"]) + 1, float(ck.get("seconds", 0.0))
        since_best = int(ck.get("since_best", 0))
        tlog.events.append(f"resumed from checkpoint at epoch {start_epoch} ({spent:.0f} s spent)")
        log.info("resuming from %s at epoch %d, %.0f s spent", ckpt_path, start_epoch, spent)

    def save_checkpoint(epoch: int) -> None:
        if ckpt_path is None:
            return
        state = {
            "run_id": rid,
            "epoch": epoch,
            "seconds": elapsed(),
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "sampler": sampler.state(),
            "alpha_gen": alpha_gen.get_state(),
            "log": json.dumps(tlog.to_dict()),
            "best_score": best.score,
            "best_state": best.state,
            "since_best": since_best,
            **guard.state(),
        }
        with atomic_path(ckpt_path, suffix=".pt") as tmp:
            torch.save(state, tmp)

    t0 = time.perf_counter()
    hooked = [0.0]  # seconds spent in on_validate (not training time)

    def elapsed() -> float:
        return spent + time.perf_counter() - t0 - hooked[0]

    # ---- the loop
    good_model, good_opt = copy.deepcopy(model.state_dict()), copy.deepcopy(opt.state_dict())
    bar = tqdm(
        range(start_epoch, config.epochs),
        initial=start_epoch,
        total=config.epochs,
        desc=f"train {model.name} x{model.n_models}",
        disable=not config.progress,
        mininterval=1.0,
        dynamic_ncols=True,
    )
    budget_s = None if config.max_minutes is None else 60.0 * config.max_minutes

    def progress(epoch: int) -> float:
        """Fraction of the run done: epochs, or with a budget the time spent if larger (the
        schedule then ends with the budget, however many epochs fit in it)."""
        p = epoch / max(1, config.epochs - 1)
        if budget_s is not None:
            p = max(p, elapsed() / budget_s)
        return min(1.0, p)

    for epoch in bar:
        prog = progress(epoch)
        lr = config.lr * (config.lr_final / config.lr) ** prog
        for group in opt.param_groups:
            group["lr"] = lr
        if alpha_setting == "adaptive":
            alpha: float | Tensor = _adaptive_alpha(model, x, 256, alpha_gen)
        elif isinstance(alpha_setting, list):
            alpha = torch.tensor(alpha_setting, dtype=torch.float32, device=device)
        else:
            alpha = float(alpha_setting)
        epoch_loss = torch.zeros(model.n_models, device=device)
        n_good = 0
        for _ in range(config.batches_per_epoch):
            scaled = guard.scaled
            member_loss, bad = gradient_step(
                model,
                opt,
                sampler.sample_windows(config.batch_size),
                tau,
                alpha,
                config,
                step_scale=guard.step_scale if scaled else None,
                frozen=guard.frozen if scaled else None,
            )
            if bool(bad.any()):
                _restore_members(model, opt, good_model, good_opt, bad)
                try:
                    tlog.events.append(guard.failed(bad, model, epoch))
                except TrainingError:
                    tlog.stopped = "diverged"
                    raise
                continue
            guard.ok()
            epoch_loss += member_loss
            n_good += 1
        if n_good == 0:
            continue
        good_model, good_opt = copy.deepcopy(model.state_dict()), copy.deepcopy(opt.state_dict())

        mean_loss = epoch_loss / n_good
        tlog.epoch.append(epoch)
        tlog.loss.append(torch.where(guard.frozen, torch.nan, mean_loss).tolist())
        tlog.lr.append(lr)
        tlog.progress.append(prog)
        now = elapsed()  # the epoch's time: logged, and what the budget is judged on
        tlog.seconds.append(now)
        a = alpha if isinstance(alpha, Tensor) else torch.full((model.n_models,), alpha)
        tlog.alpha.append([float(v) for v in a])
        bar.set_postfix(loss=f"{float(mean_loss[~guard.frozen].mean()):.4f}")

        last = epoch == config.epochs - 1
        out_of_time = config.max_minutes is not None and now / 60 > config.max_minutes
        patience_out = False
        if (epoch + 1) % config.eval_every == 0 or last or out_of_time:
            val = validate(
                model, x_ref, n_eval, n_starts=config.val_starts, x_score=x_score, dh=config.val_dh
            )
            tlog.eval_epoch.append(epoch)
            tlog.eval_dstsp.append(val.dstsp)
            tlog.eval_dh.append(val.dh)
            tlog.eval_score.append(val.score)
            tlog.eval_invalid.append(val.why)
            if on_validate is not None:
                t_hook = time.perf_counter()
                on_validate(epoch, model, val, now)
                hooked[0] += time.perf_counter() - t_hook
            if best.update(model, val.score, epoch, tlog):
                since_best = 0
            else:
                since_best += 1
            patience_out = config.patience is not None and since_best >= config.patience
        if patience_out and not out_of_time:
            tlog.stopped = (
                f"validation did not improve for {config.patience} validations "
                f"(patience), stopped at epoch {epoch}"
            )
            tlog.events.append(tlog.stopped)
            save_checkpoint(epoch)
            break
        if out_of_time:
            tlog.stopped = f"time budget of {config.max_minutes} min reached at epoch {epoch}"
            tlog.events.append(tlog.stopped)
            save_checkpoint(epoch)
            break
        if (epoch + 1) % config.checkpoint_every == 0 or last:
            save_checkpoint(epoch)
    bar.close()

    # ---- the end: free buffers, keep the best states
    model.release_buffers()
    if not tlog.stopped:
        tlog.stopped = "completed"
    if config.keep_best:
        best.apply(model, tlog)
    return tlog
