"""Training settings, validated on construction (scikit-learn style: fail early, say why)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from neurodsr.training.defaults import FIT_DEFAULTS, GTF_ALPHA

__all__ = ["TrainConfig"]


@dataclass
class TrainConfig:
    """How to train a forced RNN. Defaults shared with the API, the command line and the
    workflow come from :data:`neurodsr.training.defaults.FIT_DEFAULTS`.

    Parameters
    ----------
    forcing : {"gtf", "stf", "none", "mixed"}
        As trained (:func:`neurodsr.fit` resolves its "auto" before). gtf (default):
        generalized teacher forcing, every step with strength ``alpha``. stf:
        sparse teacher forcing, full forcing every ``tau`` steps. none: plain BPTT (only z_0
        forced). mixed: each member its own interval ``tau[e]`` and strength ``alpha[e]``
        (an STF member is (tau_e, 1), a GTF member (1, alpha_e), a BPTT member (0, 0)), so
        that the automatic forcing choice trains all its candidates as one ensemble. GTF at
        alpha = 0.1 is the default on the evidence of docs/RESULTS.md.
    tau : int, None or list of int
        STF forcing interval in steps (ln 2 / lambda_max is the principled choice). None with
        forcing="stf" means plain BPTT. A list (forcing "stf" or "mixed") gives one interval per
        ensemble member, 0 (or None) for a member that is not forced.
    alpha : float, list of float or "adaptive"
        GTF strength in [0, 1]; a list gives one strength per ensemble member (the automatic
        forcing choice trains several alphas as members of one ensemble); "adaptive" sets
        alpha = max(0, 1 - 1/G) per member from G, the geometric mean of the Jacobian spectral
        norms along the training data (updated every epoch).
    seq_len : int
        Length T of each training window, in steps (the window holds T + 1 samples).
    batch_size : int
        Windows per gradient step (per ensemble member).
    batches_per_epoch : int
        Gradient steps per epoch.
    epochs : int
        Upper bound on the number of epochs (with ``max_minutes`` the budget or ``patience``
        usually ends training first).
    lr, lr_final : float
        Learning rate at the start and at the end of training; it decays exponentially with the
        run's progress, which is the larger of the epoch fraction (epoch / (epochs - 1)) and,
        with ``max_minutes``, the time fraction (seconds spent / budget). So a budgeted run
        reaches ``lr_final`` when its budget ends, however many epochs that is.
    optimizer : {"radam", "adam"}
    grad_clip : float or None
        Clip each member's gradient norm to this value (the baseline that STF beats).
    latent_reg : float
        Weight of the manifold-attractor regularisation (Schmidt et al. 2021): a fraction of
        the latent units is pulled towards a line attractor (A_ii -> 1, their weights and bias
        -> 0), which keeps slow directions for long time scales; 0 = off (PL family only).
    latent_reg_fraction : float
        Fraction of the latent units that the regularisation acts on.
    max_minutes : float or None
        Wall-clock budget (None: none; :func:`neurodsr.fit` gives 2.5); training stops at the
        end of the epoch that exceeds it. A resumed run counts the time already spent.
    eval_every : int
        Epochs between validations (:func:`neurodsr.training.validation.validate`: free runs
        from several data states scored by D_stsp and D_H, blown-up members marked invalid);
        the best state per member by validation is kept when ``keep_best``.
    eval_steps : int
        Total length of the validation free runs, in steps (split over ``val_starts`` runs;
        20 000 = 4 runs of 5 000, chosen with ``val_reference`` and ``val_dh`` by
        ``benchmarks/validation_floor.py``: the true system's score floor halves and the
        ranking of members by their test scores improves against 4 runs of 1 250 scored
        against the validation series, docs/RESULTS.md section 6).
    val_starts : int
        Number of free runs per validation, each from a different data state.
    val_reference : {"training", "validation"}
        What the validation's free runs are scored against, and whose range they must stay
        in: the whole training part (the fitting part and the validation series; its range
        since session 12, the validation series' before) or the validation series alone
        (before issue 12 item 4). Either way the runs start from the validation series'
        states, and no held-out data is used (docs/RESULTS.md section 6, "Validation's floor
        and its ranking", "Does validation keep the right state?").
    val_dh : {"segments", "runs"}
        How validation computes D_H (:func:`neurodsr.training.validation.score_runs`): from
        spectra averaged over segments, or per run against the reference's first samples.
    patience : int or None
        Stop when ``patience`` validations in a row improved no member's score (None or 0: never;
        the budget or ``epochs`` ends training).
    keep_best : bool
        Return each member's best state by validation instead of its last.
    checkpoint_every : int
        Epochs between checkpoints (when a checkpoint directory is given).
    max_failures : int
        Consecutive non-finite losses of one seed (each restores that seed's last good state
        and halves its step size) after which that seed is stopped; training ends with an
        error only when every seed is stopped.
    device : str
        "auto" (CUDA when present), "cpu", "cuda", "cuda:1", ...
    threads : int or None
        CPU threads for torch during training (None: leave torch's setting). The kernels of
        small models (M, L < ~100) are fastest on 1 thread, and more threads than free cores
        (several pipeline jobs at once) slow training down many times over.
    progress : bool
        Show a tqdm progress bar.
    """

    forcing: str = "gtf"
    tau: int | None = 30
    alpha: float | list[float] | str = GTF_ALPHA
    seq_len: int = FIT_DEFAULTS["seq_len"]
    batch_size: int = FIT_DEFAULTS["batch_size"]
    batches_per_epoch: int = 20
    epochs: int = FIT_DEFAULTS["epochs"]
    lr: float = FIT_DEFAULTS["lr"]
    lr_final: float = 1e-4
    optimizer: str = "adam"
    grad_clip: float | None = FIT_DEFAULTS["grad_clip"]
    latent_reg: float = 0.0
    latent_reg_fraction: float = 0.5
    max_minutes: float | None = None
    eval_every: int = 25
    eval_steps: int = 20_000
    val_starts: int = 4
    val_reference: str = "training"
    val_dh: str = "segments"
    patience: int | None = FIT_DEFAULTS["patience"]
    keep_best: bool = True
    checkpoint_every: int = 50
    max_failures: int = 5
    device: str = FIT_DEFAULTS["device"]
    threads: int | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        def bad(name: str, why: str) -> ValueError:
            return ValueError(f"TrainConfig.{name}={getattr(self, name)!r}: {why}")

        if self.forcing not in ("stf", "gtf", "none", "mixed"):
            raise bad("forcing", "must be 'stf', 'gtf', 'none' or 'mixed'")
        if isinstance(self.tau, list | tuple):
            if self.forcing not in ("stf", "mixed"):
                raise bad("tau", "a per-member list needs forcing='stf' or 'mixed'")
            taus = [0 if t is None else t for t in self.tau]
            if not taus or not all(
                isinstance(t, int | float) and int(t) == t and t >= 0 for t in taus
            ):
                raise bad("tau", "a per-member list must hold integers >= 0 (0: not forced)")
            self.tau = [int(t) for t in taus]
        elif self.tau is not None and (int(self.tau) != self.tau or self.tau < 1):
            raise bad("tau", "must be a positive integer number of steps, or None (plain BPTT)")
        if isinstance(self.alpha, str):
            if self.alpha != "adaptive":
                raise bad("alpha", "must be a number in [0, 1] or 'adaptive'")
        elif isinstance(self.alpha, list | tuple):
            if not self.alpha or not all(0.0 <= float(a) <= 1.0 for a in self.alpha):
                raise bad("alpha", "a per-member list must hold numbers in [0, 1]")
            self.alpha = [float(a) for a in self.alpha]
        elif not 0.0 <= float(self.alpha) <= 1.0:
            raise bad("alpha", "must be in [0, 1]")
        for name in (
            "seq_len",
            "batch_size",
            "batches_per_epoch",
            "epochs",
            "eval_every",
            "eval_steps",
            "val_starts",
            "checkpoint_every",
            "max_failures",
        ):
            if int(getattr(self, name)) < 1:
                raise bad(name, "must be >= 1")
        if self.val_reference not in ("training", "validation"):
            raise bad("val_reference", "must be 'training' or 'validation'")
        if self.val_dh not in ("segments", "runs"):
            raise bad("val_dh", "must be 'segments' or 'runs'")
        if self.lr <= 0 or self.lr_final <= 0:
            raise bad("lr", "learning rates must be > 0")
        if self.optimizer not in ("radam", "adam"):
            raise bad("optimizer", "must be 'radam' or 'adam'")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise bad("grad_clip", "must be > 0 or None")
        if self.latent_reg < 0:
            raise bad("latent_reg", "must be >= 0")
        if not 0.0 <= self.latent_reg_fraction <= 1.0:
            raise bad("latent_reg_fraction", "must be in [0, 1]")
        if self.threads is not None and int(self.threads) < 1:
            raise bad("threads", "must be >= 1 or None")
        if self.patience is not None and int(self.patience) < 0:
            raise bad("patience", "must be >= 0 (0 or None: never stop early)")
        if self.patience == 0:
            self.patience = None
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise bad("max_minutes", "must be > 0 or None")
        if self.forcing == "mixed":
            if isinstance(self.alpha, str):
                raise bad("alpha", "forcing='mixed' needs a number or a per-member list")
            lists = [v for v in (self.tau, self.alpha) if isinstance(v, list)]
            if len({len(v) for v in lists}) > 1:
                raise bad("tau", f"per-member tau and alpha differ in length ({self.alpha!r})")
        if self.tau is not None and not isinstance(self.tau, list):
            self.tau = int(self.tau)

    def forcing_schedule(
        self,
    ) -> tuple[int | list[int] | None, float | list[float] | str]:
        """(interval, strength) for the rollout: STF (tau, 1), GTF (1, alpha), none (None, 0),
        mixed (tau, alpha) (each per member or one for all)."""
        if self.forcing == "stf":
            return self.tau, 1.0
        if self.forcing == "gtf":
            return 1, self.alpha
        if self.forcing == "mixed":
            return self.tau, self.alpha
        return None, 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict of every setting."""
        return dataclasses.asdict(self)

    def numerics(self) -> dict[str, Any]:
        """The settings that change the trained numbers (what a resumed run must share)."""
        d = self.to_dict()
        for k in (
            "max_minutes",
            "progress",
            "device",
            "threads",
            "checkpoint_every",
            "epochs",
            "patience",
        ):
            d.pop(k)
        return d
