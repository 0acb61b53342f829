"""The automatic forcing choice: candidates proposed by the data's lambda_max, trained together,
the winner picked on validation.

Proposal (:func:`propose_candidates`), with lambda = lambda_max * dt the data's largest
Lyapunov exponent per step and tau* = ln 2 / lambda the predictability time in steps:

- STF intervals at the fractions ``STF_FRACTIONS`` (1/4, 1/2, 1) of tau*, rounded and clipped
  to [2, seq_len] (1 would be full teacher forcing; past seq_len a window is never forced).
  tau* itself is the Lyapunov suggestion (Mikhaeil et al. 2022).
- GTF alphas around alpha* = 1 - exp(-lambda * tau* / 4) = 1 - 2^(-1/4) ~ 0.16 scaled by
  the data: with forcing alpha every step, a deviation grows by exp(lambda) and shrinks by
  (1 - alpha) per step, so alpha* = 1 - exp(-k * lambda) keeps the growth over k steps in
  check; we take k = tau*/4 (the shortest STF interval), i.e. the alpha that removes, on
  average, what one quarter predictability time lets an error grow. Because k is tied to
  tau*, alpha* is the same for every chaotic series (1 - 2^-1/4); what the data decide is
  whether GTF or STF wins. Candidates: alpha* / 2, alpha*, 2 alpha* (clipped to [0.02, 0.5]).
- Fallback when the verdict is not "chaotic" or no finite positive estimate exists: STF
  intervals ``FALLBACK_TAUS`` (10, 25 steps) and GTF alphas ``FALLBACK_ALPHAS``
  (0.05, 0.1, 0.2), the range over which docs/RESULTS.md found the forced methods work; the
  suggestion marked is GTF 0.1 (the fixed default).

Training (:func:`member_forcing`): the model's rollout takes a forcing interval and a strength
per member, so every candidate x seed is a member of *one* batched ensemble (an STF member
forced every tau_e steps with alpha 1, a GTF member every step with its alpha), trained with
the whole time budget; each member trains exactly as a separate fit of its candidate and seed
would (tests/test_auto.py).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "FALLBACK_ALPHAS",
    "FALLBACK_TAUS",
    "STF_FRACTIONS",
    "Candidate",
    "member_forcing",
    "pick_winner",
    "propose_candidates",
    "proposes_from_lambda",
]

STF_FRACTIONS = (0.25, 0.5, 1.0)
FALLBACK_TAUS = (10, 25)
FALLBACK_ALPHAS = (0.05, 0.1, 0.2)
ALPHA_RANGE = (0.02, 0.5)


@dataclass
class Candidate:
    """One forcing setting that competes by validation.

    Attributes
    ----------
    forcing : {"stf", "gtf"}
    tau : int or None
        STF interval, steps (None for GTF).
    alpha : float or None
        GTF strength (None for STF).
    suggested : bool
        The Lyapunov suggestion (STF at ln 2 / lambda_max; GTF 0.1 in the fallback).
    note : str
        How it was derived.
    scores : list of float
        Validation score of each seed (inf: invalid), filled after training.
    invalid : list of str
        Why each seed is invalid ("" when valid).
    """

    forcing: str
    tau: int | None = None
    alpha: float | None = None
    suggested: bool = False
    note: str = ""
    scores: list[float] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"STF tau={self.tau}" if self.forcing == "stf" else f"GTF alpha={self.alpha:g}"

    @property
    def median(self) -> float:
        """Median validation score over the seeds (inf when none is valid)."""
        valid = [s for s in self.scores if math.isfinite(s)]
        return float(np.median(valid)) if valid else math.inf

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["label"] = self.label
        d["median"] = self.median
        return d


def proposes_from_lambda(lambda_max: float | None, dt: float, verdict: str) -> bool:
    """Whether the data's exponent proposes the candidates (verdict "chaotic" and a finite
    positive lambda_max), not the fallback range. ``forcing="auto"`` trains the candidates
    only then (:func:`neurodsr.training.resolve.choose_forcing`)."""
    lam = None if lambda_max is None else float(lambda_max) * float(dt)
    return verdict == "chaotic" and lam is not None and math.isfinite(lam) and lam > 0


def propose_candidates(
    lambda_max: float | None, dt: float, verdict: str, seq_len: int
) -> tuple[list[Candidate], str]:
    """The candidates for ``forcing="auto"`` and a sentence on how they were proposed.

    Parameters
    ----------
    lambda_max : float or None
        The data's largest Lyapunov exponent, per time unit of ``dt`` (s for recordings).
    dt : float
        Sampling interval.
    verdict : str
        "chaotic", "not chaotic" or "unclear" (of the Lyapunov stage or the estimate).
    seq_len : int
        Training window, steps (the largest useful STF interval).
    """
    lam = None if lambda_max is None else float(lambda_max) * float(dt)
    if not proposes_from_lambda(lambda_max, dt, verdict):
        why = (
            f"lambda_max verdict {verdict!r}"
            + ("" if lam is None or not math.isfinite(lam) else f" (lambda = {lam:.3g}/step)")
            + f": fallback range STF tau {list(FALLBACK_TAUS)}, GTF alpha "
            f"{list(FALLBACK_ALPHAS)}"
        )
        cands = [Candidate("stf", tau=t, note="fallback") for t in FALLBACK_TAUS]
        cands += [
            Candidate("gtf", alpha=a, suggested=a == 0.1, note="fallback") for a in FALLBACK_ALPHAS
        ]
        return cands, why
    tau_star = math.log(2) / lam
    cands: list[Candidate] = []
    taus: list[int] = []
    for f in STF_FRACTIONS:
        t = int(min(max(2, round(f * tau_star)), seq_len))
        if t not in taus:
            taus.append(t)
            cands.append(
                Candidate(
                    "stf",
                    tau=t,
                    suggested=f == 1.0,
                    note=f"{f:g} x ln2/lambda_max = {f * tau_star:.1f} steps",
                )
            )
    if not any(c.suggested for c in cands):
        cands[-1].suggested = True
    k = max(1.0, tau_star / 4)
    a_star = 1.0 - math.exp(-k * lam)
    alphas: list[float] = []
    for f in (0.5, 1.0, 2.0):
        a = round(float(np.clip(f * a_star, *ALPHA_RANGE)), 3)
        if a not in alphas:
            alphas.append(a)
            cands.append(Candidate("gtf", alpha=a, note=f"{f:g} x alpha* = {f * a_star:.3f}"))
    why = (
        f"lambda_max = {lambda_max:.4g} per time unit ({lam:.3g}/step): tau* = ln2/lambda = "
        f"{tau_star:.1f} steps; STF at {list(STF_FRACTIONS)} x tau*, GTF around alpha* = "
        f"1 - exp(-lambda tau*/4) = {a_star:.3f}"
    )
    return cands, why


def member_forcing(
    cands: list[Candidate], n_seeds: int
) -> tuple[list[int], list[float], list[int]]:
    """The one ensemble that trains every candidate x seed: member ``k * n_seeds + s`` is
    candidate k with the s-th seed. Returns each member's forcing interval (STF: its tau; GTF:
    1), strength (STF: 1; GTF: its alpha) and candidate index, lists of length
    ``len(cands) * n_seeds`` (for ``TrainConfig(forcing="mixed", tau=..., alpha=...)``)."""
    taus: list[int] = []
    alphas: list[float] = []
    owner: list[int] = []
    for k, c in enumerate(cands):
        if c.forcing == "stf":
            tau, alpha = int(c.tau), 1.0
        elif c.forcing == "gtf":
            tau, alpha = 1, float(c.alpha)
        else:  # pragma: no cover - candidates are STF or GTF
            raise ValueError(f"candidate forcing {c.forcing!r}")
        taus += [tau] * n_seeds
        alphas += [alpha] * n_seeds
        owner += [k] * n_seeds
    return taus, alphas, owner


def pick_winner(cands: list[Candidate]) -> tuple[int, str]:
    """The candidate with the lowest median validation score over its seeds (invalid seeds
    left out; a candidate with no valid seed never wins unless none has one). Returns its
    index and why."""
    medians = [c.median for c in cands]
    if not any(math.isfinite(m) for m in medians):
        return 0, "no candidate had a valid seed (every free run left the data's range)"
    i = int(np.argmin(medians))
    ranked = sorted(range(len(cands)), key=lambda j: medians[j])
    runner = next((j for j in ranked if j != i), None)
    why = f"{cands[i].label} has the lowest median validation score ({medians[i]:.3g})"
    if runner is not None and math.isfinite(medians[runner]):
        why += f"; next {cands[runner].label} ({medians[runner]:.3g})"
    sug = next((c for c in cands if c.suggested), None)
    if sug is not None and sug is not cands[i]:
        why += f"; the Lyapunov suggestion {sug.label} scored {sug.median:.3g}"
    return i, why
