"""HTML reports: one self-contained page per session and an index over all sessions.

>>> from neurodsr.report import write_session_report, write_index
>>> write_session_report("results/demo_spikes")                         # doctest: +SKIP
>>> write_index("results", ["demo_spikes", "demo_lfp"])                  # doctest: +SKIP

Pages embed their figures as base64 PNG (matplotlib, Agg) and hold no scripts and no links to
anything outside the results folder, so they open offline and can be mailed around.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from neurodsr.errors import InputError
from neurodsr.metrics.core import HEALTH_RULES, HF_RULES, NEAR_CONSTANT_RATIO
from neurodsr.report import figures as F
from neurodsr.report.html import escape, figure_html, fmt, page, section, table

__all__ = [
    "DATA_REFERENCE_TEXT",
    "METRIC_HELP",
    "SUMMARY_COLUMNS",
    "index_html",
    "session_report_html",
    "summary_csv",
    "write_index",
    "write_session_report",
]

#: metric -> (what it is, what is good). Shown under the metrics table.
METRIC_HELP: dict[str, tuple[str, str]] = {
    "D_stsp": (
        "State-space divergence: Kullback-Leibler divergence between where the data and the "
        "free-running model spend their time (binned below 6 dims, Gaussian mixtures above).",
        "0 means the same attractor geometry, but even a perfect model scores above 0 on "
        "finite series (its floor falls with the free run's length, scored at 5x the held-out "
        "part): compare it with 'the data against itself' (above "
        f"{HEALTH_RULES['dstsp_reference_check']:g} times it the session is marked check), "
        "and sessions only at equal n_generate.",
    ),
    "D_H": (
        "Hellinger distance between the smoothed power spectrum of the held-out data and the "
        "free-running model's spectrum averaged over its segments of the held-out part's "
        "length, mean over dims.",
        "0 = the same temporal structure, 1 = no overlap; below ~0.3 the rhythms match well. "
        "A longer held-out part resolves finer differences (the smoothing is in frequency "
        "bins), so compare sessions only at equal held-out length; validation's D_H,val "
        "(1250-sample segments) is lower and not comparable.",
    ),
    "PE": (
        "PE(n): mean squared error of n-step-ahead predictions started from states inferred "
        "from the data, in units of the training part's variance.",
        f"0 is perfect; 1 is what predicting the mean scores. Above "
        f"{HEALTH_RULES['pe_check']:g} the session is marked check, above "
        f"{HEALTH_RULES['pe_diverged']:g} diverged.",
    ),
    "frac_outside": (
        "Fraction of the free run outside the data's range (plus 10% of its std) or not finite.",
        f"~0. Above {HEALTH_RULES['outside_check']:g} the session is marked check (D_stsp "
        f"flatters it), above {HEALTH_RULES['outside_diverged']:g} diverged.",
    ),
    "lambda_max": (
        "Largest Lyapunov exponent (1/s) of the model (QR along its free runs) and of the data "
        "(divergence of nearby states).",
        "A model that captured the dynamics is about as chaotic as the data: ratio near 1; a "
        "negative model exponent means it settled on a fixed point or cycle.",
    ),
    "VPT": (
        "Valid prediction time: a free prediction from a held-out data state is valid until "
        "its normalised RMSE first exceeds the threshold; the VPT is the longest lead at which "
        "at least half of the predictions are still valid (the median over starts). In s and "
        "in Lyapunov times (1 / lambda_max of the data).",
        "Chaos limits it to a few Lyapunov times; ~1 Lyapunov time or more is good.",
    ),
    "kaplan_yorke": (
        "Kaplan-Yorke dimension of the model's attractor, from its Lyapunov spectrum.",
        "Near the data's fractal dimension (Lorenz-63: 2.06); 0 for a fixed point.",
    ),
}

#: columns of results/summary.csv
SUMMARY_COLUMNS: tuple[str, ...] = (
    "session",
    "status",
    "stage",
    "modality",
    "n_dims",
    "dt",
    "lambda_max_data",
    "lyapunov_verdict",
    "tau",
    "forcing",
    "alpha",
    "forcing_used",
    "tau_suggested",
    "tau_suggested_reason",
    "lambda_max_model",
    "lambda_ratio",
    "D_stsp",
    "D_stsp_median",
    "D_stsp_iqr",
    "D_H",
    "D_H_median",
    "D_H_iqr",
    "dstsp_data_reference",
    "dh_data_reference",
    "PE",
    "PE_median",
    "PE_iqr",
    "vpt_seconds",
    "vpt_lyapunov_times",
    "kaplan_yorke",
    "frac_outside",
    "diverged",
    "health_reasons",
    "member_status",
    "excluded_dim_names",
    "hf_flagged_dims",
    "best_seed",
    "seeds",
    "epochs_run",
    "train_seconds",
    "n_test",
    "n_generate",
    "error",
)


def _read_nc(path: Path, what: str, session: str) -> xr.Dataset:
    from neurodsr.fileio import read_dataset

    if not path.is_file():
        raise InputError(
            f"no {what}",
            file=path,
            session=session,
            hint="run the earlier stages first (snakemake does this for you)",
        )
    try:
        return read_dataset(path)
    except Exception as err:
        raise InputError(
            f"cannot read the {what} ({type(err).__name__}: {err})",
            file=path,
            session=session,
            hint="delete it and run its stage again",
        ) from err


def _read_json(path: Path, what: str, session: str, required: bool = True) -> Any:
    if not path.is_file():
        if required:
            raise InputError(
                f"no {what}", file=path, session=session, hint="run the earlier stages first"
            )
        return None
    try:
        return json.loads(path.read_text())
    except ValueError as err:
        raise InputError(
            f"the {what} is not valid JSON ({err})",
            file=path,
            session=session,
            hint="delete it and run its stage again",
        ) from err


def _img(fig_fn: Any, *args: Any, alt: str, caption: str) -> str:
    """Draw a figure; a figure that fails is reported in place (the rest of the page stands)."""
    try:
        fig = fig_fn(*args)
        return figure_html(F.png_base64(fig), alt, caption)
    except Exception as err:  # one broken figure must not cost the whole report
        return (
            f'<div class="bad">Figure "{escape(alt)}" could not be drawn: '
            f"{escape(type(err).__name__)}: {escape(err)}</div>"
        )


#: What the data's own reference is, said once beside the model's scores.
DATA_REFERENCE_TEXT = (
    "The data against itself: what the data score against themselves (the training part's "
    "last samples, as many as the free run has where the training part is long enough, scored "
    "like a free run against the held-out part): scores near it are at the metric's floor."
)


def _metrics_table(m: dict[str, Any]) -> str:
    n = m.get("PE_n") or m.get("n_pred")
    rows = [
        (
            "D_stsp (nats)",
            m.get("D_stsp"),
            m.get("D_stsp_median"),
            m.get("D_stsp_iqr"),
            m.get("dstsp_data_reference"),
        ),
        (
            "D_H (0-1)",
            m.get("D_H"),
            m.get("D_H_median"),
            m.get("D_H_iqr"),
            m.get("dh_data_reference"),
        ),
        (f"PE({n}) (x variance)", m.get("PE"), m.get("PE_median"), m.get("PE_iqr"), None),
        (
            "frac_outside",
            m.get("frac_outside"),
            m.get("frac_outside_median"),
            m.get("frac_outside_iqr"),
            None,
        ),
        ("lambda_max model (1/s)", m.get("lambda_max_model"), None, None, None),
        ("lambda_max data (1/s)", m.get("lambda_max_data"), None, None, None),
        ("ratio model / data", m.get("lambda_ratio"), None, None, None),
        ("VPT (s)", m.get("vpt_seconds"), None, None, None),
        ("VPT (Lyapunov times)", m.get("vpt_lyapunov_times"), None, None, None),
        ("Kaplan-Yorke dimension", m.get("kaplan_yorke"), None, None, None),
    ]
    out = table(
        [
            "metric",
            f"best seed ({m.get('best_seed')})",
            "median over seeds",
            "IQR over seeds",
            "the data against itself",
        ],
        rows,
    )
    ref_n = m.get("n_data_reference")
    out += (
        f"<p>{escape(DATA_REFERENCE_TEXT)}"
        + (f" Here: {fmt(ref_n)} samples of the training part." if ref_n is not None else "")
        + "</p>"
    )
    help_rows = [(k, what, good) for k, (what, good) in METRIC_HELP.items()]
    out += "<h3>What the metrics mean</h3>" + table(
        ["metric", "what it is", "what is good"], help_rows
    )
    return out


def _model_notes(m: dict[str, Any], fit_summary: dict[str, Any] | None = None) -> str:
    """The verdict on the kept seed (:func:`neurodsr.metrics.core.session_health`, the same
    one the index and summary.csv show), the channels left out of the metrics, and notes.

    When the kept seed failed fit.json's range check (every seed left the data's range on the
    validation part), the page never says it "stays in the data's range" in green: the
    verdict is given with that failure beside it, in red."""
    from neurodsr.metrics.core import session_health

    health = session_health(m)
    out = []
    rc = (fit_summary or {}).get("range_check") or {}
    why = rc.get("why") or []
    best = m.get("best_member", (fit_summary or {}).get("best_member"))
    range_failed = isinstance(best, int) and best < len(why) and bool(why[best])
    if range_failed:
        out.append(
            f'<div class="bad"><b>Status: {escape(health.status)} on the held-out part, but the '
            "kept seed failed the range check</b> (every seed's free run or predictions left "
            f"the data's range on the validation part: {escape(why[best])}); it is not a "
            'trustworthy reconstruction (see <a href="#training">Training</a>)'
            + (": " + escape("; ".join(health.reasons)) if health.reasons else "")
            + ".</div>"
        )
    elif health.status == "ok":
        out.append(
            '<div class="good"><b>Status: ok.</b> The kept seed\'s free run stays finite and in '
            "the data's range, and its n-step predictions beat predicting the mean.</div>"
        )
    else:
        cls = "bad" if health.status == "diverged" else "note"
        out.append(
            f'<div class="{cls}"><b>Status: {escape(health.status)}.</b> '
            + escape("; ".join(health.reasons))
            + ".</div>"
        )
    excluded = m.get("excluded_dim_names") or []
    if excluded:
        ratios = m.get("excluded_std_ratio") or []
        detail = ", ".join(
            f"{name} (std {fmt(ratios[i])} of the training part's)" if i < len(ratios) else name
            for i, name in enumerate(map(str, excluded))
        )
        out.append(
            '<div class="note">Left out of D_stsp, D_H, frac_outside and the VPT: '
            f"{escape(detail)}: near-constant in the held-out part (std below "
            f"{fmt(NEAR_CONSTANT_RATIO)} of the training part's), so there are no dynamics to "
            "compare there. PE still includes them.</div>"
        )
    notes = []
    lam = m.get("lambda_max_model")
    if isinstance(lam, int | float) and lam < -1e-3 * (1 / (m.get("dt") or 1)):
        notes.append(
            "The model's largest exponent is negative: it settled on a fixed point or "
            "limit cycle instead of chaos. Train longer (epochs / max_minutes), or try "
            "a smaller tau or GTF."
        )
    if m.get("vpt_capped"):
        notes.append(
            "Predictions never left the threshold within the horizon checked: the "
            "VPT is a lower bound."
        )
    return "".join(out) + "".join(f'<div class="note">{escape(n)}</div>' for n in notes)


def _forcing_html(m: dict[str, Any], ly_json: dict[str, Any]) -> str:
    """How training was forced (with units), and the tau the data suggest (what STF would
    use); the same words as the index's columns (:mod:`neurodsr.report.status`)."""
    from neurodsr.report.status import forcing_text, suggested_tau_text

    row = {**m, "tau_suggested": ly_json.get("tau"), "dt": m.get("dt") or ly_json.get("dt")}
    used = forcing_text(row)
    suggested = suggested_tau_text(row)
    why_tau = str(ly_json.get("tau_explanation") or m.get("tau_reason") or "")
    why_tau = escape(why_tau[:1].upper() + why_tau[1:])
    forcing = m.get("forcing") or "stf"
    if forcing == "gtf":
        return (
            f"<p><b>Forcing used: {escape(used)}.</b> "
            f"{escape(m.get('forcing_reason') or '')}</p>"
            f"<p>The forcing interval the data suggest for STF (not used by GTF): "
            f"{escape(suggested)}. {why_tau}</p>"
        )
    tau_text = escape(m.get("tau_reason") or ly_json.get("tau_explanation") or "")
    if forcing == "none" or m.get("tau") is None:
        return (
            f"<p><b>Forcing used: plain BPTT</b> (only each window's first state). {tau_text}</p>"
            f"<p>The interval the data suggest: {escape(suggested)}.</p>"
        )
    return (
        f"<p><b>Forcing used: {escape(used)}.</b> {tau_text}</p>"
        f"<p>The interval the data suggest: {escape(suggested)}.</p>"
    )


def _spectrum_table(recon: xr.Dataset, m: dict[str, Any], seeds: list[int]) -> str:
    """Every seed's Lyapunov spectrum with its status on the held-out part (metrics.json's
    ``member_status``): a diverged seed's exponents are marked, not shown as if sound."""
    ex = recon["lyapunov_spectrum"].values
    ky = recon["kaplan_yorke"].values
    statuses = m.get("member_status") or []
    best = m.get("best_member")
    rows = []
    for e in range(len(seeds)):
        status = str(statuses[e]) if e < len(statuses) else "-"
        cls = status if status in ("ok", "check", "diverged") else ""
        label = escape(seeds[e]) + (" (kept)" if e == best else "")
        cell = f'<span class="{cls}">{escape(status)}</span>' if cls else escape(status)
        rows.append([label] + [float(v) for v in ex[e]] + [float(ky[e]), cell])
    return table(
        ["seed"]
        + [f"lambda_{i + 1} (1/s)" for i in range(ex.shape[1])]
        + ["Kaplan-Yorke", "status on the held-out part"],
        rows,
        raw=True,
    )


def _growth_dataset(recon: xr.Dataset) -> xr.Dataset | None:
    """reconstruction.nc's ``growth_*`` variables back as
    :func:`neurodsr.dynamics.gradients.horizon_growth`'s Dataset (None if absent)."""
    names = [v for v in recon.data_vars if str(v).startswith("growth_")]
    if not names:
        return None
    g = recon[names].rename({v: str(v)[len("growth_") :] for v in names})
    g = g.rename({"growth_horizon": "horizon"})
    attrs = g["log_jacobian_growth"].attrs
    g.attrs = {k[len("growth_") :]: v for k, v in attrs.items() if k.startswith("growth_")}
    return g


def _lambda_text(ly_json: dict[str, Any]) -> str:
    """lambda_max of the data with its error. A lyapunov.json with ``lambda_std_of`` gives the
    error of the reported value itself; an older one gave the divergence slope's even where
    the value reported is not that slope (e.g. its geometric mean with the local-Jacobian
    estimate), and that is then said. HTML."""
    lam = ly_json.get("lambda_max")
    if lam is None:
        return "lambda_max could not be estimated"
    sd = ly_json.get("lambda_std")
    slope = (ly_json.get("kantz") or {}).get("lambda_max")
    if sd is None:
        return f"lambda_max = {fmt(lam)} per s"
    old = "lambda_std_of" not in ly_json
    if old and isinstance(slope, int | float) and not np.isclose(float(slope), float(lam)):
        return (
            f"lambda_max = {fmt(lam)} per s (&plusmn; {fmt(sd)}: the standard error of the "
            f"divergence slope, {fmt(slope)} per s, not of this combined value)"
        )
    return f"lambda_max = {fmt(lam)} &plusmn; {fmt(sd)} per s"


def _diverged_in_median(m: dict[str, Any]) -> str:
    """A warning after the data-model comparison of lambda_max when the models' median and
    range include seeds that diverged on the held-out part (metrics.json written before the
    comparison left them out, ``lyapunov_left_out``); "" otherwise."""
    if "lyapunov_left_out" in m:  # the comparison already left diverged seeds out (and says so)
        return ""
    statuses = m.get("member_status") or []
    seeds = m.get("seeds") or list(range(len(statuses)))
    bad = [
        str(seeds[i]) if i < len(seeds) else str(i)
        for i, s in enumerate(statuses)
        if s == "diverged"
    ]
    if not bad:
        return ""
    return (
        f" (The models' median and range include seed(s) {', '.join(bad)}, which diverged on "
        "the held-out part.)"
    )


def _attractor_extent(recon: xr.Dataset, max_points: int = F.ATTRACTOR_MAX_POINTS) -> str:
    """How much of each series the attractor figure draws, when less than D_stsp scores."""
    n_data = int(recon.sizes.get("time", 0))
    n_gen = int(recon.sizes.get("generated_time", 0))
    shown_d, shown_g = min(n_data, max_points), min(n_gen, max_points)
    if shown_d == n_data and shown_g == n_gen:
        return ""
    return (
        f" (drawn: the first {shown_d} of {n_data} held-out steps and the first {shown_g} of "
        f"the free run's {n_gen}; D_stsp scores the whole run)"
    )


def _preprocessing_caption(rec: xr.Dataset, pre: xr.Dataset) -> str:
    """The caption of the preprocessing figure: its panels as
    :func:`~neurodsr.report.figures.preprocessing_figure` draws them (the spectrum only for
    continuous recordings, the PCA panel only with principal components)."""
    panels = ["the model-ready series (the grey part is held out for testing)"]
    panels.append(
        "how much variance the principal components keep"
        if "explained_variance" in pre
        else "each channel's std before z-scoring"
    )
    if "signal" in rec and str(rec.attrs.get("modality")) == "continuous":
        panels.append(
            "the power spectrum before and after filtering (line noise and drifts removed)"
        )
    return "What preprocessing made of it: " + ", ".join(panels[:-1]) + " and " + panels[-1] + "."


def _lyapunov_caption(ly_json: dict[str, Any]) -> str:
    """The caption of the divergence figure: what it draws for this session (no fit line when
    no lambda_max was found; the fit's slope differs from a lambda_max combined with the
    local-Jacobian estimate)."""
    if ly_json.get("lambda_max") is None or ly_json.get("fit_start_time") is None:
        return (
            "How fast nearby states of the data separate, and the local slope (right). No "
            "straight part was found, so no line is fitted and there is no lambda_max "
            f"(verdict: {escape(ly_json.get('verdict') or '?')}); the tau shown above is a "
            "default, not ln 2 / lambda_max."
        )
    text = (
        "How fast nearby states of the data separate: the dashed line is fitted to the "
        "straight part (shaded, found automatically), its slope the divergence estimate of "
        "lambda_max; tau = ln 2 / lambda_max is the time a perturbation takes to double. "
        "Right: the local slope, flat where the divergence is exponential."
    )
    slope = (ly_json.get("kantz") or {}).get("lambda_max")
    lam = ly_json.get("lambda_max")
    if isinstance(slope, int | float) and not np.isclose(float(slope), float(lam)):
        text += (
            f" The lambda_max reported ({fmt(lam)} per s, dotted on the right) is not the "
            f"fit's slope ({fmt(slope)} per s): it combines it with the local-Jacobian "
            "estimate (see the reason above)."
        )
    return text


def _spectrum_caption(lambda_data: Any) -> str:
    """The caption of the model's Lyapunov spectrum figure (the data's line only when drawn)."""
    text = (
        "The model's Lyapunov exponents (QR along free runs, error bars: spread over orbits), "
        "every seed"
    )
    if isinstance(lambda_data, int | float):
        text += (
            ", against the data's lambda_max (dashed; band: its standard error, "
            "lyapunov.json's lambda_std)"
        )
    else:
        text += " (the data's lambda_max is unknown, so no data line is drawn)"
    return text + ". A flow sampled finely has one exponent near 0."


def _growth_caption(growth: xr.Dataset) -> str:
    """The caption of the gradient-growth figure (lambda_max T only when drawn)."""
    ref = (
        ", next to lambda_max T of the data (dashed, lambda_max per step)"
        if "lambda_T" in growth
        else " (no lambda_max T line: the data's lambda_max is unknown)"
    )
    return (
        "How the trained model's Jacobian products (left) and the norm of its loss gradient "
        "(right) grow with the horizon T (steps) on windows of the training part: running "
        f"freely, and with the forcing it was trained with{ref}. Median over seeds, band: "
        "their range. Growth like lambda_max T without forcing is the exploding gradient that "
        "forcing removes."
    )


def _training_caption(train_log: dict[str, Any] | None) -> str:
    """The caption of the training figure: the validation curve drawn is the selection score
    when the log has it."""
    text = (
        "Left: training loss (forced, mean squared error) per epoch, one line per seed, the "
        "kept seed bold. "
    )
    if train_log and train_log.get("eval_score"):
        return text + (
            "Right: the validation score sqrt(D_stsp,val x D_H,val) that kept each seed's "
            "state (star) and chose the kept seed, lower is better; x: an invalid evaluation "
            "(free run or predictions outside the data's range)."
        )
    return text + (
        "Right: validation, D_stsp of a free run against the training data, lower is better."
    )


def _lyapunov_verdict_note(ly_json: dict[str, Any]) -> str:
    """A flag at the top of the page when the data's chaos was not established: an "unclear"
    or "not chaotic" verdict (or no lambda_max) leaves the VPT without Lyapunov times, the
    model's lambda_max unconfirmed and the suggested tau a default (or none); "" when
    chaotic."""
    verdict = ly_json.get("verdict")
    if verdict == "chaotic" and ly_json.get("lambda_max") is not None:
        return ""
    tau = (
        " and the suggested tau is a default"
        if ly_json.get("tau") is not None
        else " and there is no suggested tau"
    )
    return (
        f'<div class="note"><b>Lyapunov verdict: {escape(verdict or "none")}.</b> The data\'s '
        "lambda_max could not be established, so the model's lambda_max is not checked "
        f"against the data, the VPT has no Lyapunov times{tau} "
        '(see "How chaotic is it?").</div>'
    )


def session_report_html(session_dir: str | os.PathLike[str]) -> str:
    """The HTML report of one session from its results folder (see :mod:`neurodsr.session`).

    Needs recording.nc, preprocessed.nc, lyapunov.nc/.json, reconstruction.nc and
    metrics.json; models/fit.log.json (training curves) and models/fit.json are optional.
    """
    from neurodsr.session import FILES, SessionLayout

    layout = SessionLayout.of(session_dir)
    session = layout.session
    files = {name: layout.path(name) for name in FILES}
    rec = _read_nc(files["recording"], "recording", session)
    pre = _read_nc(files["preprocessed"], "preprocessed data", session)
    ly = _read_nc(files["lyapunov"], "Lyapunov estimate", session)
    ly_json = _read_json(files["lyapunov_json"], "Lyapunov summary", session)
    recon = _read_nc(files["reconstruction"], "reconstruction", session)
    m = _read_json(files["metrics"], "metrics", session)
    train_log = _read_json(files["train_log"], "training log", session, required=False)
    model_cfg = _read_json(files["fit_summary"], "fit summary", session, required=False) or {}

    modality = str(rec.attrs.get("modality", "?"))
    source = str(rec.attrs.get("source_file", ""))
    seeds = [int(s) for s in recon["member"].values]
    best = int(m.get("best_member", 0))
    steps = F._attr_json(pre, "steps", {}) or {}
    dropped = F._attr_json(pre, "dropped_channels", []) or []
    pp_set = (
        _read_json(files["preprocess_options"], "preprocessing options", session, required=False)
        or {}
    ).get("preprocess", {})

    parts: list[str] = []
    parts.append(f"<h1>Session {escape(session)}</h1>")
    parts.append(
        f'<p class="lead">{escape(modality)} recording <code>{escape(source)}</code>, read with '
        f"{escape(rec.attrs.get('reader', '?'))}. Dynamical-systems reconstruction with a "
        f"{escape(model_cfg.get('model', {}).get('name', 'forced RNN'))} trained on "
        f"{len(seeds)} seeds. Report written "
        f"{_dt.datetime.now(_dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}.</p>"
    )
    parts.append(
        '<nav><a href="#data">Data</a><a href="#lyapunov">Chaos and tau</a>'
        '<a href="#training">Training</a><a href="#reconstruction">Reconstruction</a>'
        '<a href="#metrics">Metrics</a><a href="#spectrum">Lyapunov spectrum</a>'
        '<a href="../index.html">All sessions</a></nav>'
    )
    parts.append(_model_notes(m, model_cfg))
    parts.append(_lyapunov_verdict_note(ly_json))

    # ---- data and preprocessing
    fs = rec.attrs.get("sampling_rate")
    kv = [
        ("modality", modality),
        ("sampling rate", f"{fmt(fs)} Hz" if fs else "spike times (not sampled)"),
        ("channels / units", str(rec.sizes.get("channel", rec.sizes.get("unit", "-")))),
        ("model step dt", f"{fmt(pre.attrs.get('dt'))} s"),
        (
            "steps (train / test)",
            f"{pre.attrs['n_train']} / {pre.sizes['time'] - int(pre.attrs['n_train'])}",
        ),
        ("dims after preprocessing", str(pre.sizes["dim"])),
        ("steps applied", json.dumps(steps) if steps else "z-scoring"),
        (
            "options set",
            ", ".join(f"{k}={v}" for k, v in sorted(pp_set.items())) or "none (defaults)",
        ),
    ]
    dl = (
        '<dl class="kv">'
        + "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in kv)
        + "</dl>"
    )
    if dropped:
        dl += (
            "<p>Dropped channels: "
            + escape(", ".join(f"{d.get('channel')} ({d.get('reason')})" for d in dropped[:20]))
            + (f" and {len(dropped) - 20} more" if len(dropped) > 20 else "")
            + "</p>"
        )
    body = dl
    order = None
    if modality == "spikes" and "loadings" in pre and pre.sizes["dim"] >= 2:
        load = np.asarray(pre["loadings"].values)
        names = [str(u) for u in rec["unit"].values] if "unit" in rec else []
        chans = [str(c) for c in pre["channel"].values]
        angle = np.arctan2(load[1], load[0])
        pos = {c: i for i, c in enumerate(names)}
        ranked = [pos[c] for c in np.asarray(chans)[np.argsort(angle)] if c in pos]
        order = np.asarray(ranked + [i for i in range(len(names)) if i not in set(ranked)])
    body += _img(
        F.recording_figure,
        rec,
        None,
        order,
        alt="recording",
        caption="The recording as read (first seconds).",
    )
    body += _img(
        F.preprocessing_figure,
        rec,
        pre,
        alt="preprocessing",
        caption=_preprocessing_caption(rec, pre),
    )
    parts.append(section("Data and preprocessing", body, "data"))

    # ---- lyapunov and tau
    lam = ly_json.get("lambda_max")
    lam_text = _lambda_text(ly_json)
    body = (
        f"<p><b>{lam_text}</b> (verdict: {escape(ly_json.get('verdict'))}): "
        f"{escape(ly_json.get('reason', ''))}.</p>"
        f"{_forcing_html(m, ly_json)}"
        f"<p>{escape(ly_json.get('advice', ''))}</p>"
    )
    tests = []
    if ly_json.get("surrogate_p_value") is not None:
        n_sur = (ly_json.get("surrogate_test") or {}).get("n_surrogates")
        tests.append(
            f"surrogate test p = {fmt(ly_json['surrogate_p_value'])} (the data against "
            f"{fmt(n_sur)} IAAFT surrogates with the same spectrum; p = 1 / (n + 1): more "
            "deterministic than all)"
        )
    if ly_json.get("zero_one_K") is not None:
        tests.append(
            f"0-1 test for chaos K = {fmt(ly_json['zero_one_K'])} (~1 chaotic or noisy, ~0 regular)"
        )
    if tests:
        body += f"<p>Tests: {escape('; '.join(tests))}.</p>"
    body += _img(
        F.lyapunov_figure,
        ly,
        alt="lyapunov divergence",
        caption=_lyapunov_caption(ly_json),
    )
    parts.append(section("How chaotic is it? lambda_max and the forcing", body, "lyapunov"))

    # ---- training
    stopped = (train_log or {}).get("stopped") or m.get("stopped") or ""
    events = (train_log or {}).get("events") or []
    body = (
        f"<p>{fmt(m.get('epochs_run'))} epochs in {fmt(m.get('train_seconds'))} s "
        f"({escape(stopped)}). The seed kept is the one with the best validation score "
        "sqrt(D_stsp,val x D_H,val) of free runs from states of the last part of the "
        "training data, scored against the training part (D_H,val: the D_H of the metrics "
        "table with 1250-sample segments; neither is the test metric); a seed whose free "
        "run or predictions leave the data's range is never kept: seed "
        f"{escape(m.get('best_seed'))}.</p>"
    )
    body += _img(
        F.training_figure,
        train_log,
        seeds,
        best,
        alt="training curves",
        caption=_training_caption(train_log),
    )
    from neurodsr.report.candidates import range_check_html, sizes_html

    body += sizes_html(model_cfg)  # the model sizes that competed, the winner marked
    body += range_check_html(model_cfg)  # seeds whose free run left the data's range
    if model_cfg.get("candidates"):  # forcing="auto": the candidates and the winner
        from neurodsr.report.candidates import candidates_figure, candidates_html

        body += candidates_html(model_cfg) + _img(
            candidates_figure,
            model_cfg,
            alt="forcing candidates",
            caption="Validation score of each forcing candidate: dots per seed, bar the median "
            "(x: invalid seed), green the chosen one, hatched the Lyapunov suggestion.",
        )
    if events:
        body += (
            "<details><summary>Training events</summary><pre>"
            + escape("\n".join(events[-30:]))
            + "</pre></details>"
        )
    parts.append(section("Training", body, "training"))

    # ---- reconstruction
    body = _img(
        F.timeseries_figure,
        recon,
        alt="time series",
        caption="Held-out data with the model's n-step predictions (left) and the model "
        "running on its own from the first held-out state, after a discarded transient "
        "(right). A chaotic model's free run is not expected to follow the data in "
        "time, only to look like it.",
    )
    body += _img(
        F.attractor_figure,
        recon,
        alt="attractor",
        caption="The attractor: where data (blue) and free-running model (red) go in "
        "state space, as 2-D projections and a 3-D view" + _attractor_extent(recon) + ".",
    )
    hf_dims = m.get("hf_flagged_dims") or []
    body += _img(
        F.power_spectra_figure,
        recon,
        m,
        alt="power spectra",
        caption="Power spectra (Welch) per dim of the held-out data and of the free run's "
        "first steps, as many as the held-out part has: the rhythms D_H compares, in the "
        "estimate the high-frequency check uses (D_H itself averages the smoothed "
        "periodogram over the whole run's segments). Shaded: the band above the frequency "
        "below which the data hold 99% of their power."
        + (
            f" <b>Flagged: in {escape(', '.join(map(str, hf_dims)))} the model puts at least "
            f"{fmt(HF_RULES['ratio'])} times the data's share of power in that band</b> "
            "(spurious fast dynamics, often rising towards the Nyquist frequency)."
            if hf_dims
            else ""
        ),
    )
    body += _img(
        F.prediction_figure,
        recon,
        lam,
        alt="prediction error",
        caption="Left: the share of free predictions, started from held-out data states, "
        "that are still valid at each lead time (a prediction is valid until its normalised "
        f"RMSE first exceeds {fmt(m.get('vpt_threshold'))}); the VPT in the table is where "
        "this share falls below one half (dashed). Right: k-step prediction error per seed.",
    )
    parts.append(section("Data against the reconstructed model", body, "reconstruction"))

    # ---- metrics
    parts.append(
        section(
            "Metrics",
            f"<p>On the held-out last part ({fmt(m.get('n_test'))} steps; free runs of "
            f"{fmt(m.get('n_generate'))} steps; D_H of the run's spectrum averaged over "
            f"its {fmt(m.get('dh_segments'))} segments of the held-out part's length). Best "
            "seed chosen by validation on the training part, never by these test scores.</p>"
            + _metrics_table(m),
            "metrics",
        )
    )

    # ---- spectrum
    body = _img(
        F.lyapunov_spectrum_figure,
        recon,
        m.get("lambda_max_data"),
        m.get("lambda_max_data_std"),
        alt="lyapunov spectrum",
        caption=_spectrum_caption(m.get("lambda_max_data")),
    )
    body += _spectrum_table(recon, m, seeds)
    if m.get("lyapunov_comparison"):
        body += f"<p>{escape(m['lyapunov_comparison'])}{escape(_diverged_in_median(m))}</p>"
    parts.append(section("Lyapunov spectrum of the model", body, "spectrum"))

    # ---- why forcing: growth of Jacobian products and gradients with the horizon
    growth = _growth_dataset(recon)
    if growth is not None:
        body = _img(
            F.horizon_growth_figure,
            growth,
            alt="gradient growth with the horizon",
            caption=_growth_caption(growth),
        )
        parts.append(section("Why forcing: gradient growth with the horizon", body, "growth"))

    # ---- provenance
    versions = {k[len("version_") :]: v for k, v in recon.attrs.items() if k.startswith("version_")}
    model = model_cfg.get("model") or {}
    train = model_cfg.get("train") or {}
    setup = [
        (
            "model",
            f"{model.get('name', '?')}, latent M = {model.get('latent_dim', '?')}, "
            f"hidden L = {model.get('hidden_dim', '-')}, "
            f"{model.get('observation', '?')} observation",
        ),
        ("model choice", model_cfg.get("model_reason") or "-"),
        (
            "training",
            ", ".join(
                f"{k} = {train[k]}"
                for k in (
                    "forcing",
                    "tau",
                    "alpha",
                    "seq_len",
                    "batch_size",
                    "lr",
                    "epochs",
                    "max_minutes",
                )
                if k in train
            ),
        ),
        ("seeds", f"{seeds} (kept: {m.get('best_seed')})"),
    ] + [(f"version {k}", v) for k, v in sorted(versions.items())]
    body = (
        '<dl class="kv">'
        + "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in setup)
        + "</dl>"
    )
    shown = ("recording", "preprocessed", "lyapunov", "weights", "fit_summary")
    shown += ("train_log", "reconstruction", "metrics")
    body += f"<p>Files: {escape(', '.join(FILES[k] for k in shown))} (beside this page).</p>"
    parts.append(section("Provenance", body, "provenance"))
    return page(f"neurodsr: {session}", "".join(parts))


def write_session_report(
    session_dir: str | os.PathLike[str], out: str | os.PathLike[str] | None = None
) -> Path:
    """Write ``report.html`` of a session (default inside its folder) atomically."""
    from neurodsr.fileio import atomic_path
    from neurodsr.session import SessionLayout

    out = Path(out) if out is not None else SessionLayout.of(session_dir).report
    text = session_report_html(session_dir)
    with atomic_path(out, suffix=".html") as tmp:
        tmp.write_text(text, encoding="utf-8")
    return out


def _status_cell(row: dict[str, Any]) -> str:
    status = str(row.get("status"))
    reasons = row.get("health_reasons") or []
    title = f' title="{escape("; ".join(reasons))}"' if reasons else ""
    return f'<span class="{escape(status)}"{title}>{escape(status)}</span>'


def _header_cell(name: str, unit: str, what: str, good: str) -> str:
    tip = what + (f" Good: {good}" if good else "")
    label = escape(name) + (f" <small>({escape(unit)})</small>" if unit else "")
    return f'<th title="{escape(tip)}">{label}</th>'


def _with_reference(row: dict[str, Any], metric: str, reference: str) -> str:
    """An index cell: the metric's median (IQR) over seeds and, where the session has one,
    what the data score against themselves ("/ data ...")."""
    text = f"{fmt(row.get(metric + '_median'))} ({fmt(row.get(metric + '_iqr'))})"
    if row.get(reference) is not None:
        text += f" / data {fmt(row.get(reference))}"
    return text


def _lambda_data_cell(row: dict[str, Any]) -> str:
    """The index's lambda_max of the data; flagged (class "check") where the Lyapunov stage did
    not find chaos ("none (unclear)", "none (not chaotic)"): the VPT then has no Lyapunov
    times and the model's lambda_max is not checked against the data."""
    lam, verdict = row.get("lambda_max_data"), row.get("lyapunov_verdict")
    if lam is not None or not verdict:
        return escape(fmt(lam))
    return (
        f'<span class="check" title="the data\'s chaos was not established: the model\'s '
        f'lambda_max is not checked against the data">none ({escape(verdict)})</span>'
    )


def index_html(rows: list[dict[str, Any]], title: str = "neurodsr: all sessions") -> str:
    """The index page: one row per session with key numbers (each column with its unit and
    what is good, as a tooltip and in the legend), its report and, for failures, the stage,
    the error and the tail of its log. Sessions whose model diverged or needs checking say
    why."""
    from neurodsr.report.status import FINISHED, INDEX_COLUMNS

    n_ok = sum(r.get("status") == "ok" for r in rows)
    n_check = sum(r.get("status") == "check" for r in rows)
    n_div = sum(r.get("status") == "diverged" for r in rows)
    extra = []
    if n_check:
        extra.append(f"{n_check} to check")
    if n_div:
        extra.append(f"{n_div} diverged")
    parts = [
        f"<h1>{escape(title)}</h1>",
        f'<p class="lead">{n_ok} of {len(rows)} sessions reconstructed'
        + (f" ({escape(', '.join(extra))})" if extra else "")
        + ". Generated "
        f"{_dt.datetime.now(_dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}. Table also in "
        '<a href="summary.csv">summary.csv</a>; hover over a column for its meaning, or see '
        '<a href="#legend">the legend</a>.</p>',
    ]
    head = "".join(_header_cell(*c) for c in INDEX_COLUMNS)
    body_rows = []
    for r in rows:
        s = str(r["session"])
        finished = r.get("status") in FINISHED
        if finished:
            link = f'<a href="{escape(s)}/report.html">report</a>'
        elif r.get("log"):
            rel = Path(r["log"])
            rel_s = "/".join(rel.parts[-3:])
            link = f'<a href="{escape(rel_s)}">{escape(r.get("stage"))} log</a>'
        else:
            link = "-"
        cells = [
            f'<a href="#{escape(s)}">{escape(s)}</a>' if r.get("status") != "ok" else escape(s),
            _status_cell(r) + (f" at {escape(r.get('stage'))}" if r.get("stage") else ""),
            escape(r.get("modality") or "-"),
            _lambda_data_cell(r),
            escape(r.get("forcing_used") or "-"),
            escape(r.get("tau_suggested_text") or fmt(r.get("tau_suggested"))),
            escape(fmt(r.get("lambda_max_model"))),
            escape(_with_reference(r, "D_stsp", "dstsp_data_reference")),
            escape(_with_reference(r, "D_H", "dh_data_reference")),
            escape(fmt(r.get("PE"))),
            escape(
                fmt(r.get("vpt_lyapunov_times"))
                if r.get("vpt_lyapunov_times") is not None or r.get("vpt_seconds") is None
                else f"{fmt(r.get('vpt_seconds'))} s"
            ),
            link,
        ]
        body_rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    parts.append(
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body_rows)}</tbody></table>"
    )
    lengths = {
        (r.get("n_test"), r.get("n_generate"))
        for r in rows
        if r.get("status") in FINISHED and r.get("n_test") is not None
    }
    if len(lengths) > 1:
        span = sorted(int(n) for n, _ in lengths)
        parts.append(
            '<p class="note">These sessions were scored on held-out parts of '
            f"{span[0]}-{span[-1]} steps. D_stsp and D_H depend on that length (and on the "
            "scored run's), so compare each session's numbers with its own data reference "
            "(after the slash), not across rows.</p>"
        )
    flagged = [r for r in rows if r.get("status") in ("check", "diverged")]
    if flagged:
        parts.append("<h2>Sessions to look at</h2>")
        for r in flagged:
            cls = "bad" if r.get("status") == "diverged" else "note"
            reasons = "; ".join(r.get("health_reasons") or [])
            parts.append(
                f'<div class="{cls}" id="{escape(r["session"])}"><b>{escape(r["session"])}</b>: '
                f"{escape(r.get('status'))}: {escape(reasons)}.</div>"
            )
    failed = [r for r in rows if r.get("status") not in FINISHED]
    if failed:
        parts.append("<h2>Sessions that did not finish</h2>")
        for r in failed:
            parts.append(
                f'<div class="bad" id="{escape(r["session"])}"><b>{escape(r["session"])}</b>: '
                f"{escape(r.get('status'))} at the {escape(r.get('stage'))} stage. "
                f"{escape(r.get('error') or '')}</div>"
            )
            if r.get("log_tail"):
                parts.append(
                    f"<details><summary>last lines of {escape(r.get('log'))}</summary>"
                    f"<pre>{escape(r['log_tail'])}</pre></details>"
                )
        parts.append(
            "<p>Fix the cause and run <code>snakemake --cores 8 --keep-going</code> "
            "again: finished sessions are not recomputed.</p>"
        )
    legend = [
        (name + (f" ({unit})" if unit else ""), what, good)
        for name, unit, what, good in INDEX_COLUMNS
        if what
    ]
    parts.append(
        '<h2 id="legend">What the columns mean</h2>'
        + table(["column (unit)", "what it is", "what is good"], legend)
    )
    return page(title, "".join(parts))


def summary_csv(rows: list[dict[str, Any]]) -> str:
    """results/summary.csv's text: :data:`SUMMARY_COLUMNS`, one row per session."""
    buf = io.StringIO()
    writer = csv.DictWriter(
        buf, fieldnames=list(SUMMARY_COLUMNS), extrasaction="ignore", lineterminator="\n"
    )
    writer.writeheader()
    for r in rows:
        writer.writerow(
            {
                k: (json.dumps(v) if isinstance(v, list | dict) else ("" if v is None else v))
                for k, v in r.items()
            }
        )
    return buf.getvalue()


def write_index(
    results: str | os.PathLike[str],
    sessions: list[str],
    html_out: str | os.PathLike[str] | None = None,
    csv_out: str | os.PathLike[str] | None = None,
) -> list[dict[str, Any]]:
    """Write results/index.html and results/summary.csv (atomically); return the rows."""
    from neurodsr.fileio import atomic_path
    from neurodsr.session import INDEX_FILES, summarize_sessions

    rows = summarize_sessions(results, sessions)
    html_out = Path(html_out) if html_out else Path(results) / INDEX_FILES["index"]
    csv_out = Path(csv_out) if csv_out else Path(results) / INDEX_FILES["summary_csv"]
    with atomic_path(html_out, suffix=".html") as tmp:
        tmp.write_text(index_html(rows), encoding="utf-8")
    with atomic_path(csv_out, suffix=".csv") as tmp:
        tmp.write_text(summary_csv(rows), encoding="utf-8")
    return rows
