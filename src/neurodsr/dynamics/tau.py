"""The forcing interval tau from the chaoticity of a recording: tau = ln 2 / lambda_max.

tau is the predictability time, the number of steps over which a perturbation doubles. Forcing
every tau steps keeps every Jacobian product in a training window shorter than that, so the
gradients stay bounded (see DESIGN.md, "Choosing tau").
"""

from __future__ import annotations

import math
from typing import Any, Literal, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from neurodsr.dynamics.lyapunov import LyapunovResult, lyapunov_from_data

__all__ = ["TauChoice", "choose_tau", "estimate_tau"]


class TauChoice(NamedTuple):
    """tau in steps (None: plain BPTT, no forcing after the first step) and why."""

    tau: int | None
    explanation: str


def choose_tau(
    lambda_max_per_step: float,
    verdict: str,
    *,
    tau_min: int = 2,
    tau_max: int = 200,
    not_chaotic: Literal["tau_max", "bptt"] = "tau_max",
    tau_unclear: int = 20,
) -> TauChoice:
    """Choose the forcing interval from lambda_max and the verdict of the Lyapunov estimate.

    Parameters
    ----------
    lambda_max_per_step : float
        Largest Lyapunov exponent, per step (per unit time x dt). May be NaN.
    verdict : {"chaotic", "not chaotic", "unclear"}
        From :class:`~neurodsr.dynamics.lyapunov.LyapunovResult`.
    tau_min, tau_max : int
        Bounds on tau, steps.
    not_chaotic : {"tau_max", "bptt"}
        For non-chaotic data (bounded gradients): force every ``tau_max`` steps, or not at all
        (returns None: plain BPTT).
    tau_unclear : int
        Conservative (short) tau when the estimate is unclear, steps (clipped to the bounds).

    Returns
    -------
    TauChoice
        ``(tau, explanation)``; tau in steps or None.
    """
    if not 1 <= tau_min <= tau_max:
        raise ValueError(f"need 1 <= tau_min <= tau_max, got {tau_min}, {tau_max}")
    if verdict == "chaotic":
        if not (np.isfinite(lambda_max_per_step) and lambda_max_per_step > 0):
            raise ValueError(
                f"verdict 'chaotic' needs lambda_max_per_step > 0, got {lambda_max_per_step}"
            )
        raw = math.log(2.0) / lambda_max_per_step
        tau = int(np.clip(round(raw), tau_min, tau_max))
        text = (
            f"tau = ln 2 / lambda_max = ln 2 / {lambda_max_per_step:.4g} per step = {raw:.1f} steps"
        )
        if tau != round(raw):
            text += f", clipped to [{tau_min}, {tau_max}] -> {tau}"
        else:
            text += f" -> {tau}"
        return TauChoice(tau, text + " (the time a perturbation takes to double).")
    if verdict == "not chaotic":
        if not_chaotic == "bptt":
            return TauChoice(
                None,
                "the data are not chaotic, so BPTT gradients stay bounded: plain BPTT "
                "(no forcing after the first step).",
            )
        if not_chaotic != "tau_max":
            raise ValueError(f"not_chaotic must be 'tau_max' or 'bptt', got {not_chaotic!r}")
        return TauChoice(
            tau_max,
            f"the data are not chaotic, so gradients stay bounded: long forcing interval "
            f"tau = tau_max = {tau_max} steps.",
        )
    if verdict == "unclear":
        tau = int(np.clip(tau_unclear, tau_min, tau_max))
        return TauChoice(
            tau,
            f"lambda_max could not be estimated (no straight part in the divergence curve): "
            f"conservative default tau = {tau} steps; frequent forcing keeps gradients bounded "
            f"even if the data are strongly chaotic. Compare a few values on held-out data.",
        )
    raise ValueError(f"verdict must be 'chaotic', 'not chaotic' or 'unclear', got {verdict!r}")


def estimate_tau(
    x: ArrayLike,
    dt: float = 1.0,
    *,
    tau_min: int = 2,
    tau_max: int = 200,
    not_chaotic: Literal["tau_max", "bptt"] = "tau_max",
    tau_unclear: int = 20,
    **kw: Any,
) -> tuple[int | None, LyapunovResult]:
    """Embed ``x``, estimate lambda_max and choose tau, in one call.

    Parameters
    ----------
    x : array, shape (time,) or (time, channels)
    dt : float
        Sampling interval, unit time per step.
    tau_min, tau_max, not_chaotic, tau_unclear
        See :func:`choose_tau`.
    **kw
        Passed to :func:`~neurodsr.dynamics.lyapunov.lyapunov_from_data` (``method``,
        ``seed``, embedding options, ...).

    Returns
    -------
    tau : int or None
        Steps; None means plain BPTT.
    result : LyapunovResult
        With ``tau`` and ``tau_explanation`` filled in.
    """
    result = lyapunov_from_data(x, dt, **kw)
    choice = choose_tau(
        result.lambda_max_per_step,
        result.verdict,
        tau_min=tau_min,
        tau_max=tau_max,
        not_chaotic=not_chaotic,
        tau_unclear=tau_unclear,
    )
    result.tau, result.tau_explanation = choice.tau, choice.explanation
    return choice.tau, result
