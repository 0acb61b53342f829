"""What trains: tau and the forcing resolved from the user's settings and the data.

- :func:`choose_tau`: the forcing interval (given, None, or "auto": the Lyapunov stage's
  choice, else ln 2 / lambda_max estimated from the training part) and where it came from;
- :func:`choose_forcing`: the forcing ("auto" resolved from how tau was given) and why;
- :func:`forcing_reason`: the sentence on how training was forced, for fit.json and reports;
- :func:`tau_from_model`: ``refit_on_mismatch``'s new tau, from the trained model's lambda_max
  when it and the data's disagree.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from neurodsr.errors import InputError
from neurodsr.metrics.evaluate import model_spectrum
from neurodsr.models.base import LatentModel
from neurodsr.session import LyapunovSummary
from neurodsr.training.candidates import proposes_from_lambda
from neurodsr.training.config import TrainConfig
from neurodsr.training.defaults import GTF_ALPHA

__all__ = [
    "TauChoice",
    "choose_forcing",
    "choose_tau",
    "forcing_reason",
    "tau_from_model",
    "unused_settings",
]

log = logging.getLogger(__name__)


@dataclass
class TauChoice:
    """The forcing interval and where it came from (see :func:`choose_tau`).

    Attributes
    ----------
    value : int or None
        Steps (None: plain BPTT).
    reason : str
        A sentence for fit.json (``tau_reason``).
    source : str
        "user", "lyapunov.json", "estimated from the training part" or "refitted from the
        model's exponent".
    lyapunov : LyapunovSummary or None
        The data's Lyapunov summary the choice used (given or estimated).
    """

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
    lambda_max estimated from the training part ("estimated from the training part").

    Parameters
    ----------
    tau : int, "auto" or None
        As given to :func:`neurodsr.api.train_fit`, steps.
    x_train : array (time, N)
        The normalised training part (for the estimate).
    dt : float
        Sampling interval, in the data's time units.
    lyapunov : LyapunovSummary, optional
        The Lyapunov stage's summary.
    seed : int, default 0
        Seed of the estimate.
    """
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


def choose_forcing(
    forcing: str,
    tau_given: int | str | None,
    alpha_given: float | str | None = None,
    lyapunov: LyapunovSummary | None = None,
    dt: float = 1.0,
) -> tuple[str, str]:
    """The forcing to train with and where it came from.

    ``"auto"``: STF when tau was given as a number of steps, plain BPTT when it was given as
    None, GTF when an alpha was given; with none of these the data decide: where their
    Lyapunov verdict is "chaotic" (``lyapunov``, lambda_max per time unit of ``dt``) the
    candidates its lambda_max proposes (``"select"``), else GTF at alpha 0.1; without
    ``lyapunov`` (not estimated yet) ``("auto", ...)``, to be resolved once it is.
    ``"select"``: the candidates (STF intervals and GTF alphas from lambda_max, or the
    fallback range) compete by validation (:mod:`neurodsr.training.candidates`), whatever
    tau and alpha say. Why auto is this rule: docs/RESULTS.md section 6 (session 14): at the
    default budget the candidates from lambda_max predicted better than GTF 0.1 on Lorenz-63
    and Rössler (PE(20) lower in 4 of 5 repeats each) with the attractor scores within the
    seed spread, and on maps GTF 0.1 is too weak to train (section 5), while the fallback
    range tied or lost (the EEG, the temperature, rate64's D_H).
    """
    if forcing == "select":
        return "select", "select: candidates from lambda_max, chosen by validation"
    if forcing != "auto":
        return forcing, "user"
    if tau_given is None:
        return "none", "auto: tau = None given"
    if tau_given != "auto":
        return "stf", f"auto: tau = {tau_given} given"
    if alpha_given is not None:
        return "gtf", f"auto: alpha = {alpha_given} given"
    if lyapunov is None:
        return "auto", "auto: to be decided by the data's Lyapunov verdict"
    if proposes_from_lambda(lyapunov.lambda_max, dt, lyapunov.verdict):
        return "select", (
            f"auto: the data are chaotic (lambda_max = {lyapunov.lambda_max:.3g}): candidates "
            "from it, chosen by validation"
        )
    return "gtf", (
        f"auto: GTF alpha = {GTF_ALPHA:g}, the benchmarked default, because the data's "
        f"Lyapunov verdict is {lyapunov.verdict!r} (no lambda_max to propose candidates; "
        "forcing='select' trains the fallback range)"
    )


def unused_settings(forcing: str, tau_given: int | str | None, alpha_given: Any) -> str:
    """A sentence naming what was given but the resolved ``forcing`` does not use ("" when
    everything given is used): alpha under STF or plain BPTT, tau (a number) or alpha under
    the candidate grid. GTF's unused tau is :func:`forcing_reason`'s."""
    unused = []
    if alpha_given is not None and forcing in ("stf", "none", "select"):
        unused.append(f"alpha = {alpha_given}")
    if forcing == "select" and tau_given not in ("auto", None):
        unused.append(f"tau = {tau_given}")
    if not unused:
        return ""
    what = {"stf": "STF", "none": "plain BPTT", "select": "the candidate grid"}[forcing]
    fix = "forcing='gtf'" if forcing != "select" else "forcing='gtf' or 'stf'"
    return f"{' and '.join(unused)} given but {what} does not use it ({fix} does)."


def forcing_reason(cfg: TrainConfig, tau: TauChoice, tau_given: int | str | None) -> str:
    """One sentence on how training was forced, for outputs and reports.

    Parameters
    ----------
    cfg : TrainConfig
        The config that trained (its forcing, tau and alpha).
    tau : TauChoice
        The resolved interval (its reason is quoted for STF).
    tau_given : int, "auto" or None
        Tau as the user gave it (a number GTF cannot use is said, not dropped).
    """
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


def tau_from_model(
    net: LatentModel, x_train: np.ndarray, dt: float, best: int, tau: TauChoice, seed: int
) -> int | None:
    """``refit_on_mismatch``: the tau of the model's own lambda_max when it and the data's
    differ by more than a factor of two (None: no refit).

    Parameters
    ----------
    net : LatentModel
        The trained ensemble, in the units of ``x_train``.
    x_train : array (time, dims)
        The normalised training part as the model sees it (principal components for the PCA
        observation); 8 random states of it start the model's spectrum.
    dt : float
        Sampling interval.
    best : int
        The member whose exponent is compared.
    tau : TauChoice
        The data's choice (its ``lyapunov.lambda_max``, per time unit).
    seed : int
        Seed of the start states and the spectrum.
    """
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
