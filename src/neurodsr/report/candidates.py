"""The report's view of the automatic choices: validation score against each forcing
candidate, the Lyapunov suggestion marked, which one won and why (from models/fit.json's
``candidates``, :class:`neurodsr.session.FitSummary`); the model sizes that competed
(``sizes``); and the range check of the kept seeds (``range_check``)."""

from __future__ import annotations

import math
from typing import Any

from matplotlib.figure import Figure

from neurodsr.report.html import escape, fmt, table

__all__ = ["candidates_figure", "candidates_html", "range_check_html", "sizes_html"]


def _chosen(fit_summary: dict[str, Any], cand: dict[str, Any]) -> bool:
    if cand.get("forcing") != fit_summary.get("forcing"):
        return False
    if cand.get("forcing") == "stf":
        return cand.get("tau") == fit_summary.get("tau")
    return cand.get("alpha") == fit_summary.get("alpha")


def candidates_figure(fit_summary: dict[str, Any]) -> Figure:
    """Validation score (lower is better, log scale) of each candidate's seeds (dots) and their
    median (bar); the Lyapunov suggestion hatched, the winner in green, invalid seeds as an x
    at the top."""
    cands = fit_summary.get("candidates") or []
    fig = Figure(figsize=(max(4.0, 1.1 * len(cands) + 1.5), 3.2))
    ax = fig.add_subplot(1, 1, 1)
    finite = [s for c in cands for s in c.get("scores", []) if _finite(s)]
    top = max(finite) * 2 if finite else 1.0
    for i, c in enumerate(cands):
        med = c.get("median")
        color = "#1b7f3b" if _chosen(fit_summary, c) else "#8da0b3"
        if _finite(med):
            ax.bar(
                i,
                med,
                color=color,
                hatch="//" if c.get("suggested") else None,
                edgecolor="#1d2630" if c.get("suggested") else color,
                alpha=0.8,
            )
        for s in c.get("scores", []):
            if _finite(s):
                ax.plot(i, s, "o", color="#1d2630", ms=3)
            else:
                ax.plot(i, top, "x", color="#b3261e", ms=6)
    ax.set_xticks(range(len(cands)))
    ax.set_xticklabels([c.get("label", "?") for c in cands], rotation=30, ha="right", fontsize=8)
    if finite:
        ax.set_yscale("log")
    ax.set_ylabel("validation score")
    ax.set_title("forcing candidates (green: chosen, hatched: Lyapunov suggestion)", fontsize=9)
    fig.tight_layout()
    return fig


def _finite(v: Any) -> bool:
    return isinstance(v, int | float) and math.isfinite(v)


def candidates_html(fit_summary: dict[str, Any]) -> str:
    """A paragraph and a table of the candidates; "" when the forcing was not chosen
    automatically (no candidates in fit.json)."""
    cands = fit_summary.get("candidates") or []
    if not cands:
        return ""
    rows = []
    for c in cands:
        scores = [s for s in c.get("scores", []) if _finite(s)]
        n_bad = len(c.get("scores", [])) - len(scores)
        marks = []
        if c.get("suggested"):
            marks.append("Lyapunov suggestion")
        if _chosen(fit_summary, c):
            marks.append("<b>chosen</b>")
        rows.append(
            [
                escape(c.get("label", "?")),
                escape(c.get("note", "")),
                fmt(c.get("median")),
                escape(", ".join(fmt(s) for s in c.get("scores", []))),
                escape(f"{n_bad} of {len(c.get('scores', []))}")
                + (
                    f" ({escape('; '.join(sorted({w for w in c.get('invalid', []) if w})))})"
                    if n_bad
                    else ""
                ),
                ", ".join(marks),
            ]
        )
    spread = [c.get("median") for c in cands if _finite(c.get("median"))]
    note = ""
    if len(spread) > 1:
        note = f" Medians range from {fmt(min(spread))} to {fmt(max(spread))}."
    head = (
        f"<p><b>Forcing chosen by validation.</b> "
        f"{escape(fit_summary.get('candidates_reason', ''))}. "
        f"{escape(fit_summary.get('selection_reason', ''))}.{escape(note)} "
        "Validation score: sqrt(D_stsp,val x D_H,val) of free runs from several data states "
        "of the validation part (the end of the training part, never the test part), scored "
        "against the training part (D_H,val with 1250-sample segments: lower than, and not "
        "comparable with, the test D_H of the metrics table); a seed whose "
        "free run or n-step predictions leave the data's range is invalid and never chosen.</p>"
    )
    return head + table(
        ["candidate", "derived from", "median score", "score per seed", "invalid seeds", ""],
        rows,
        raw=True,
    )


def range_check_html(fit_summary: dict[str, Any]) -> str:
    """The range check of the kept seeds (fit.json's ``range_check``,
    :func:`neurodsr.training.validation.check_range`): which seeds' free runs or n-step
    predictions left the data's range in the N channels, and a red flag when the kept seed is
    one of them (every seed failed); "" when every seed passed or fit.json has no check."""
    rc = fit_summary.get("range_check") or {}
    why = rc.get("why") or []
    if not any(why):
        return ""
    seeds = fit_summary.get("seeds") or list(range(len(why)))
    best = int(fit_summary.get("best_member", 0))
    failed = [
        f"seed {escape(seeds[e] if e < len(seeds) else e)}: {escape(w)}"
        for e, w in enumerate(why)
        if w
    ]
    runs = (
        f"{fmt(rc.get('n_starts'))} free runs of {fmt(rc.get('run_steps'))} steps from the "
        f"validation part, in the {escape(rc.get('space', 'channels'))}"
    )
    text = (
        f"Range check of the kept states ({runs}): {len(failed)} of {len(why)} seeds left the "
        f"data's range and were not chosen ({'; '.join(failed)})."
    )
    if best < len(why) and why[best]:
        return (
            f'<p class="bad"><b>Every seed left the data\'s range</b> in the range check, '
            f"so the kept seed ({escape(seeds[best] if best < len(seeds) else best)}, the one "
            f"least outside) is not a trustworthy reconstruction. {text} Try a longer budget "
            "(--max-minutes), --model clipped_shplrnn (bounded orbits) or fewer "
            "--components.</p>"
        )
    return f"<p>{text}</p>"


def sizes_html(fit_summary: dict[str, Any]) -> str:
    """The model sizes that competed by validation (fit.json's ``sizes``,
    :func:`neurodsr.training.fitting.compete_sizes`): one row per size with its validation
    score (sqrt(D_stsp,val x D_H,val) in the N channels; inf when its kept seed left the
    data's range, and why), its training time and epochs, the winner marked; "" when no sizes
    competed."""
    rows = fit_summary.get("sizes") or []
    if not rows:
        return ""
    label = {"pca": "principal components", "identity": "identity (M = N)"}
    body = []
    for r in rows:
        score = r.get("score")
        body.append(
            [
                escape(f"{r.get('model')}, M = {r.get('latent')}, L = {r.get('hidden')}"),
                escape(
                    label.get(str(r.get("observation")), str(r.get("observation")))
                    + (f", k = {r['components']}" if r.get("components") else "")
                ),
                escape(fmt(score) if _finite(score) else f"inf ({r.get('invalid') or '-'})"),
                escape(fmt(r.get("val_dstsp"))),
                escape(fmt(r.get("val_dh"))),
                escape(f"{fmt(r.get('train_seconds'))} s, {fmt(r.get('epochs_run'))} epochs"),
                "<b>chosen</b>" if r.get("chosen") else "",
            ]
        )
    head = (
        "<p><b>Model sizes competed by validation</b> (each with half the budget; the lower "
        "validation score in the N channels wins, a size whose kept seed left the data's "
        "range never does).</p>"
    )
    return head + table(
        ["model", "observation", "validation score", "D_stsp,val", "D_H,val", "training", ""],
        body,
        raw=True,
    )
