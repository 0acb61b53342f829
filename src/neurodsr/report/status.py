"""What the index, summary.csv and the session report say about a session: its status, the
forcing used, the tau the data suggest, and each column's unit and what is good.

The verdict itself is defined once, in :func:`neurodsr.metrics.core.session_health`; this module
only puts it into rows and words.
"""

from __future__ import annotations

import math
from typing import Any

from neurodsr.metrics.core import HEALTH_RULES, session_health

__all__ = [
    "FINISHED",
    "INDEX_COLUMNS",
    "apply_health",
    "forcing_text",
    "suggested_tau_text",
]

#: Statuses of a session whose report was written (the others: "failed", "incomplete").
FINISHED: tuple[str, ...] = ("ok", "check", "diverged")


def apply_health(row: dict[str, Any]) -> dict[str, Any]:
    """Set a finished session's ``status`` to its verdict ("ok", "check" or "diverged") and
    ``health_reasons`` to why, from the metrics in ``row``; return ``row``."""
    health = session_health(row)
    row["status"] = health.status
    row["health_reasons"] = list(health.reasons)
    row["forcing_used"] = forcing_text(row)
    row["tau_suggested_text"] = suggested_tau_text(row)
    return row


def _num(value: Any) -> float | None:
    if value is None or isinstance(value, bool | str):
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _steps(n: Any, dt: Any) -> str:
    d = _num(dt)
    return f"{int(n)} steps ({n * d:.3g} s)" if d else f"{int(n)} steps"


def forcing_text(m: dict[str, Any]) -> str:
    """The forcing training used, with units: "GTF, alpha = 0.1 every step", "STF, tau = 12
    steps (0.12 s)", "plain BPTT", or "-" when the metrics do not say."""
    forcing = m.get("forcing")
    if forcing == "gtf":
        alpha = m.get("alpha")
        a = "adaptive" if alpha == "adaptive" else f"{_num(alpha):g}" if _num(alpha) else "?"
        return f"GTF, alpha = {a} every step"
    if forcing == "stf":
        tau = m.get("tau")
        if tau is None:
            return "plain BPTT (tau none)"
        return f"STF, tau = {_steps(tau, m.get('dt'))}"
    if forcing == "none":
        return "plain BPTT"
    return "-"


def suggested_tau_text(m: dict[str, Any]) -> str:
    """The interval the data suggest for STF (ln 2 / lambda_max), with units, or why there is
    none (e.g. "none: not chaotic")."""
    tau = m.get("tau_suggested")
    suggested = tau is not None
    if tau is None and m.get("forcing") == "stf":
        tau = m.get("tau")
    if tau is not None and _num(tau) is not None:
        text = _steps(tau, m.get("dt"))
        lam, dt = _num(m.get("lambda_max_data")), _num(m.get("dt"))
        if not suggested:
            pass  # the interval trained with, as given: nothing derived to qualify
        elif lam is None or lam <= 0:
            # no ln 2 / lambda_max to give: the Lyapunov stage's default interval
            if m.get("lyapunov_verdict") or "lambda_max_data" in m:
                text += ", a default (no lambda_max)"
        elif dt:
            raw = math.log(2) / (lam * dt)
            if abs(raw - float(tau)) > max(1.0, 0.05 * raw):
                text += f", clipped from ln 2 / lambda_max = {raw:.3g} steps"
        return text
    verdict = m.get("lyapunov_verdict")
    return f"none (verdict: {verdict})" if verdict else "-"


#: The index's columns: (header, unit, what it is, what is good). Shown as header tooltips and
#: as the legend under the table.
INDEX_COLUMNS: tuple[tuple[str, str, str, str], ...] = (
    ("session", "", "The session's name in config.yaml.", ""),
    (
        "status",
        "",
        "ok: the report was written and the kept seed's free run and n-step predictions are "
        "sound; check: something is doubtful (see the reasons); diverged: the predictions or "
        "the free run blew up or left the data's range; failed / incomplete: a stage did not "
        "finish.",
        f"ok. Marked diverged when PE(n) > {HEALTH_RULES['pe_diverged']:g}, the free run is not "
        f"finite, goes more than {HEALTH_RULES['excursion_diverged']:g} data stds beyond the "
        f"data's range or more than {100 * HEALTH_RULES['outside_diverged']:g}% of it is "
        f"outside it; check when PE(n) > {HEALTH_RULES['pe_check']:g} or more than "
        f"{100 * HEALTH_RULES['outside_check']:g}% is outside, the model has spurious "
        "high-frequency power, or another seed diverged.",
    ),
    ("modality", "", "spikes, continuous (LFP/EEG) or calcium.", ""),
    (
        "lambda_max data",
        "1/s",
        "Largest Lyapunov exponent of the data (divergence of nearby states).",
        "> 0 for chaos; its inverse is the Lyapunov time. 'none' with the Lyapunov stage's "
        "verdict when no exponential divergence was found.",
    ),
    (
        "forcing used",
        "",
        "How training was forced: GTF with strength alpha every step, STF every tau steps, "
        "or plain BPTT.",
        "",
    ),
    (
        "tau suggested",
        "steps (s)",
        "The STF interval the data suggest, tau = ln 2 / lambda_max in steps, clipped to the "
        "Lyapunov stage's range (said where it was), or its default where the data have no "
        "lambda_max (used for training only with STF).",
        "",
    ),
    (
        "lambda_max model",
        "1/s",
        "Largest Lyapunov exponent of the kept seed (QR along its free run).",
        "Close to the data's.",
    ),
    (
        "D_stsp median (IQR)",
        "nats",
        "State-space divergence of the free run from the held-out data, median (IQR) over "
        "seeds; after the slash, the data's own reference (the training part's last samples "
        "scored the same way).",
        "0 = the same geometry, but even a perfect model scores above 0 on finite series "
        "(Lorenz-63, 4000 held-out steps, a run of the true system 5x as long: ~0.4; "
        "docs/RESULTS.md section 6): compare it with the session's data reference.",
    ),
    (
        "D_H median (IQR)",
        "0-1",
        "Hellinger distance of smoothed power spectra (the free run's averaged over its "
        "segments of the held-out length), median (IQR) over seeds; after the slash, the "
        "data's own reference.",
        "0 = the same spectra; below ~0.3 the rhythms match. Compare sessions only at equal "
        "held-out length.",
    ),
    (
        "PE (best)",
        "x training variance",
        "PE(n), mean squared error of the kept seed's n-step predictions, in units of the "
        "training part's variance.",
        "0 is perfect; 1 is what predicting the mean scores.",
    ),
    (
        "VPT",
        "Lyapunov times, or s",
        "Valid prediction time: the longest lead at which at least half of the free "
        "predictions from held-out states stay below the error threshold; in seconds where "
        "the data's lambda_max is unknown.",
        "About 1 Lyapunov time or more.",
    ),
    ("report / log", "", "The session's report, or the log of the stage that failed.", ""),
)
