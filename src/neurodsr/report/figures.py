"""Figures of the session report, drawn with matplotlib's Agg canvas (no display needed).

Every function takes xarray data (the stage outputs) and returns a :class:`Figure`;
:func:`png_base64` turns one into the base64 PNG the HTML embeds.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

__all__ = [
    "attractor_figure",
    "fit_slope",
    "horizon_growth_figure",
    "lyapunov_figure",
    "lyapunov_spectrum_figure",
    "png_base64",
    "power_spectra_figure",
    "prediction_figure",
    "preprocessing_figure",
    "recording_figure",
    "timeseries_figure",
    "training_figure",
]

DATA_COLOR = "#1f4e79"
MODEL_COLOR = "#d1495b"
PRED_COLOR = "#edae49"
MEMBER_COLORS = ("#00798c", "#d1495b", "#edae49", "#66a182", "#2e4057", "#8d96a3", "#9b5de5")


def png_base64(fig: Figure, dpi: int = 90) -> str:
    """The figure as a base64-encoded PNG (no metadata, so no URLs inside)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    return fig


def _attr_json(ds: xr.Dataset, key: str, default: Any = None) -> Any:
    from neurodsr.session import decode_attr

    return decode_attr(ds.attrs[key]) if key in ds.attrs else default


def _welch(x: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """Welch power spectral density along axis 0: (freqs, psd (freqs, ...)); the same
    estimate as the metrics' high-frequency check
    (:func:`neurodsr.metrics.core.power_spectral_density`)."""
    from neurodsr.metrics.core import power_spectral_density

    a = np.asarray(x, dtype=np.float64)
    f, p = power_spectral_density(a.reshape(len(a), -1), fs)
    return f, p.reshape((len(f), *a.shape[1:]))


# --------------------------------------------------------------------------- data
def recording_figure(
    rec: xr.Dataset, seconds: float | None = None, order: np.ndarray | None = None
) -> Figure:
    """What was recorded: a spike raster (spikes) or stacked traces (continuous / calcium).

    ``order`` (unit indices) sorts the raster's rows, e.g. by the units' PCA loadings, so that
    population activity shows as waves.
    """
    modality = str(rec.attrs.get("modality", ""))
    fig = _figure(10, 3.6)
    ax = fig.add_subplot()
    start = float(rec.attrs.get("start_time", 0.0) or 0.0)
    if modality == "spikes" and "spike_times" in rec:
        seconds = seconds or 5.0
        times = np.asarray(rec["spike_times"].values)
        units = np.asarray(rec["spike_unit"].values)
        names = [str(u) for u in rec["unit"].values]
        t0 = float(np.min(times)) if times.size else start
        row = np.empty(len(names), dtype=np.int64)
        order = np.arange(len(names)) if order is None else np.asarray(order)
        row[order] = np.arange(len(order))
        show = min(len(names), 80)
        rows = row[units]
        keep = (rows < show) & (times >= t0) & (times < t0 + seconds)
        ax.plot(times[keep], rows[keep], "|", color=DATA_COLOR, ms=2.5, mew=0.5)
        ax.set_ylabel(f"unit ({show} of {len(names)}, sorted)")
        ax.set_xlim(t0, t0 + seconds)
        ax.set_title(f"Spike raster, first {seconds:g} s")
    else:
        sig = rec["signal"]
        fs = float(rec.attrs.get("sampling_rate", 1.0))
        seconds = seconds or (5.0 if modality == "continuous" else 60.0)
        n = int(min(sig.sizes["time"], round(seconds * fs)))
        t = np.asarray(rec["time"].values[:n])
        chans = [str(c) for c in rec["channel"].values]
        show = min(len(chans), 8)
        vals = np.asarray(sig.values[:n, :show], dtype=np.float64)
        spread = np.nanstd(vals) * 4 or 1.0
        for i in range(show):
            ax.plot(
                t,
                vals[:, i] - np.nanmean(vals[:, i]) - i * spread,
                lw=0.6,
                color=MEMBER_COLORS[i % len(MEMBER_COLORS)],
            )
        ax.set_yticks([-i * spread for i in range(show)], chans[:show])
        units = sig.attrs.get("units", "a.u.")
        ax.set_title(
            f"Raw signal, first {show} of {len(chans)} channels, first {t[-1] - t[0]:.3g}"
            f" s (offsets {spread:.3g} {units} apart)"
        )
    ax.set_xlabel("time (s)")
    return fig


def preprocessing_figure(rec: xr.Dataset, pre: xr.Dataset) -> Figure:
    """What preprocessing made of it: the model-ready series with the train/test split, the
    PCA's explained variance, and for sampled signals the power spectrum before and after."""
    x = np.asarray(pre["x"].values, dtype=np.float64)
    t = np.asarray(pre["time"].values)
    n_train = int(pre.attrs["n_train"])
    dims = [str(d) for d in pre["dim"].values]
    sampled = "signal" in rec and str(rec.attrs.get("modality")) == "continuous"
    ncols = 3 if sampled else 2
    fig = _figure(12, 3.4)
    gs = fig.add_gridspec(1, ncols, width_ratios=[3, 1.2, 1.6][:ncols])
    ax = fig.add_subplot(gs[0])
    show = min(len(dims), 4)
    spread = 1.05 * float(np.nanmax(np.ptp(x[:, :show], axis=0))) or 1.0
    for i in range(show):
        ax.plot(t, x[:, i] - i * spread, lw=0.4, color=MEMBER_COLORS[i % len(MEMBER_COLORS)])
    ax.axvspan(t[n_train], t[-1], color="0.9", zorder=0)
    ax.text(t[n_train], float(np.nanmax(x[:, 0])), " test part", va="top", fontsize=8, color="0.3")
    ax.set_yticks([-i * spread for i in range(show)], dims[:show])
    ax.set_xlabel("time (s)")
    ax.set_title(
        f"Model-ready series x(time, dim): {x.shape[0]} steps of "
        f"{pre.attrs['dt']:g} s, {len(dims)} dims",
        fontsize=10,
    )
    ax2 = fig.add_subplot(gs[1])
    if "explained_variance" in pre:
        ev = np.asarray(pre["explained_variance"].values)
        ax2.bar(np.arange(len(ev)), 100 * ev, color=DATA_COLOR)
        ax2.set_xticks(np.arange(len(ev)), dims, rotation=45, fontsize=8)
        ax2.set_ylabel("% of variance")
        ax2.set_title(f"PCA: {100 * ev.sum():.0f}% kept", fontsize=10)
    else:
        std = np.asarray(pre["std"].values) if "std" in pre else np.ones(len(dims))
        ax2.bar(np.arange(len(std)), std, color=DATA_COLOR)
        ax2.set_title("channel std before z-scoring", fontsize=10)
        ax2.set_xticks([])
    if sampled:
        ax3 = fig.add_subplot(gs[2])
        fs = float(rec.attrs["sampling_rate"])
        raw = np.asarray(rec["signal"].values, dtype=np.float64)
        raw = raw[: int(min(len(raw), 120 * fs))]
        f, p = _welch(raw - raw.mean(0), fs)
        ax3.semilogy(f, p.mean(1) / p.mean(1).max(), color="0.5", lw=0.8, label="raw (mean)")
        f2, p2 = _welch(x[: int(120 / pre.attrs["dt"])], 1.0 / float(pre.attrs["dt"]))
        ax3.semilogy(
            f2, p2.mean(1) / p2.mean(1).max(), color=DATA_COLOR, lw=1.0, label="preprocessed"
        )
        ax3.set_xlabel("frequency (Hz)")
        ax3.set_ylabel("power (normalised)")
        ax3.set_title("Power spectrum before / after", fontsize=10)
        ax3.legend(fontsize=8)
    return fig


# --------------------------------------------------------------------------- lyapunov
def fit_slope(lag: np.ndarray, fit: np.ndarray) -> float:
    """Slope (per unit of ``lag``) of the straight line ``fit`` drawn over ``lag`` (NaN outside
    the fit region); NaN when fewer than two points are finite."""
    lag = np.asarray(lag, dtype=np.float64)
    fit = np.asarray(fit, dtype=np.float64)
    ok = np.isfinite(fit) & np.isfinite(lag)
    if ok.sum() < 2:
        return float("nan")
    return float(np.polyfit(lag[ok], fit[ok], 1)[0])


def lyapunov_figure(ly: xr.Dataset) -> Figure:
    """Mean log divergence S(k) against time lag, the straight part used and its slope."""
    lag = np.asarray(ly["time_lag"].values)
    s = np.asarray(ly["divergence"].values)
    fit = np.asarray(ly["fit"].values)
    slope = np.asarray(ly["local_slope"].values)
    fig = _figure(11, 3.4)
    ax, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.6, 1]})
    ax.plot(lag, s, color=DATA_COLOR, lw=1.2, label="S(k), mean log divergence")
    lam = ly.attrs.get("lambda_max")
    start, stop = ly.attrs.get("fit_start_time"), ly.attrs.get("fit_stop_time")
    if np.isfinite(fit).any() and isinstance(start, int | float) and isinstance(stop, int | float):
        ax.axvspan(start, stop, color=PRED_COLOR, alpha=0.25, label="fit region")
        # the line drawn is the divergence fit: label it with its own slope; the reported
        # lambda_max can differ (e.g. the geometric mean with the local-Jacobian estimate)
        slope_fit = fit_slope(lag, fit)
        ax.plot(
            lag,
            fit,
            "--",
            color=MODEL_COLOR,
            lw=1.5,
            label=f"fit, slope {slope_fit:.3g} / s",
        )
        ax2.axhline(slope_fit, color=MODEL_COLOR, ls="--", lw=1, label="slope of the fit")
        if isinstance(lam, int | float) and np.isfinite(lam) and not np.isclose(lam, slope_fit):
            ax2.axhline(
                float(lam), color=DATA_COLOR, ls=":", lw=1.2, label=f"reported {float(lam):.3g} / s"
            )
        ax2.axvspan(start, stop, color=PRED_COLOR, alpha=0.25)
        ax2.legend(fontsize=7, loc="upper right")
    ax.set_xlabel("time lag (s)")
    ax.set_ylabel("ln distance")
    ax.set_title(
        f"Divergence of nearby states ({ly.attrs.get('method', '')}); verdict: "
        f"{ly.attrs.get('verdict', '?')}",
        fontsize=10,
    )
    ax.legend(fontsize=8, loc="lower right")
    ax2.plot(lag, slope, color=DATA_COLOR, lw=1)
    ax2.set_xlabel("time lag (s)")
    ax2.set_ylabel("local slope (1/s)")
    ax2.set_title("Local slope of S(k)", fontsize=10)
    finite = slope[np.isfinite(slope)]
    if finite.size:
        lo, hi = np.percentile(finite, [2, 98])
        pad = 0.2 * (hi - lo + 1e-9)
        ax2.set_ylim(lo - pad, hi + pad)
    return fig


# --------------------------------------------------------------------------- training
def training_figure(train_log: dict[str, Any] | None, seeds: list[int], best: int) -> Figure:
    """Training loss per epoch and validation D_stsp, one line per seed (best seed bold)."""
    fig = _figure(11, 3.2)
    ax, ax2 = fig.subplots(1, 2)
    if not train_log or not train_log.get("epoch"):
        for a in (ax, ax2):
            a.text(
                0.5, 0.5, "no training log found", ha="center", va="center", transform=a.transAxes
            )
        return fig
    epochs = np.asarray(train_log["epoch"])
    loss = np.asarray(train_log["loss"], dtype=np.float64)
    for e in range(loss.shape[1]):
        seed = seeds[e] if e < len(seeds) else e
        ax.plot(
            epochs,
            loss[:, e],
            color=MEMBER_COLORS[e % len(MEMBER_COLORS)],
            lw=2.0 if e == best else 0.9,
            label=f"seed {seed}" + (" (best)" if e == best else ""),
        )
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss (MSE, forced)")
    ax.set_title("Training loss per seed", fontsize=10)
    ax.legend(fontsize=8)
    if train_log.get("eval_epoch"):
        ev_ep = np.asarray(train_log["eval_epoch"])
        # the score that kept each member's state and chose the seed (sqrt(D_stsp,val x
        # D_H,val), inf where invalid); logs written before it existed have D_stsp only
        scored = bool(train_log.get("eval_score"))
        ev = np.asarray(train_log["eval_score" if scored else "eval_dstsp"], dtype=np.float64)
        kept = list(train_log.get("best_epoch") or [])
        top = np.nanmax(np.where(np.isfinite(ev), ev, np.nan)) if np.isfinite(ev).any() else 1.0
        for e in range(ev.shape[1]):
            color = MEMBER_COLORS[e % len(MEMBER_COLORS)]
            ax2.plot(
                ev_ep,
                np.where(np.isfinite(ev[:, e]), ev[:, e], np.nan),
                "o-",
                ms=3,
                color=color,
                lw=2.0 if e == best else 0.9,
            )
            bad = ~np.isfinite(ev[:, e])
            if bad.any():
                ax2.plot(ev_ep[bad], np.full(bad.sum(), top), "x", color=color, ms=6)
            if e < len(kept) and kept[e] in set(ev_ep.tolist()):
                i = int(np.flatnonzero(ev_ep == kept[e])[0])
                if np.isfinite(ev[i, e]):
                    ax2.plot(ev_ep[i], ev[i, e], "*", color=color, ms=12, mec="black", mew=0.6)
        ax2.set_xlabel("epoch")
        if scored:
            ax2.set_ylabel("validation score\nsqrt(D_stsp,val x D_H,val)")
            ax2.set_title("Validation score (star: the state kept, x: invalid)", fontsize=10)
        else:
            ax2.set_ylabel("validation D_stsp")
            ax2.set_title("Validation (free run vs training data)", fontsize=10)
    else:
        ax2.text(0.5, 0.5, "no validation yet", ha="center", va="center", transform=ax2.transAxes)
    return fig


# --------------------------------------------------------------------------- reconstruction
def timeseries_figure(rec: xr.Dataset, max_steps: int = 1000) -> Figure:
    """Held-out data with the n-step predictions, and the model's free run, per dim."""
    data = np.asarray(rec["data"].values)
    gen = np.asarray(rec["generated"].values)
    pred = np.asarray(rec["prediction"].values)
    dims = [str(d) for d in rec["dim"].values]
    show = min(len(dims), 3)
    dt = float(rec.attrs["dt"])
    n = int(min(max_steps, len(data), len(gen)))
    t = np.arange(n) * dt
    n_pred = int(rec.attrs.get("metric_n_pred", 0) or 0)
    fig = _figure(11, 1.7 * show + 0.6)
    axes = fig.subplots(show, 2, sharex=True, squeeze=False)
    for i in range(show):
        a, b = axes[i]
        a.plot(t, data[:n, i], color=DATA_COLOR, lw=0.9, label="data (test part)")
        a.plot(t, pred[:n, i], color=PRED_COLOR, lw=0.9, ls="--", label=f"{n_pred}-step prediction")
        b.plot(t, gen[:n, i], color=MODEL_COLOR, lw=0.9, label="model, free run")
        b.set_ylim(a.get_ylim())
        a.set_ylabel(dims[i])
    axes[0, 0].set_title("Data and n-step predictions", fontsize=10)
    axes[0, 1].set_title("Model running freely (no data after its start)", fontsize=10)
    axes[0, 0].legend(fontsize=7, loc="upper right")
    axes[-1, 0].set_xlabel("time (s)")
    axes[-1, 1].set_xlabel("time (s)")
    return fig


#: Steps of each series the attractor figure draws (the report's caption says so).
ATTRACTOR_MAX_POINTS: int = 6000


def attractor_figure(rec: xr.Dataset, max_points: int = ATTRACTOR_MAX_POINTS) -> Figure:
    """The geometry: 2-D projections (data vs model) and a 3-D view of both."""
    data = np.asarray(rec["data"].values)[:max_points]
    gen = np.asarray(rec["generated"].values)[:max_points]
    dims = [str(d) for d in rec["dim"].values]
    pairs = [(0, 1), (0, 2), (1, 2)] if len(dims) >= 3 else [(0, 1)] if len(dims) == 2 else []
    fig = _figure(12, 3.6)
    ncols = len(pairs) + (1 if len(dims) >= 3 else 0)
    if ncols == 0:
        ax = fig.add_subplot()
        ax.plot(data[:-1, 0], data[1:, 0], ".", ms=1, color=DATA_COLOR, label="data")
        ax.plot(gen[:-1, 0], gen[1:, 0], ".", ms=1, color=MODEL_COLOR, alpha=0.5, label="model")
        ax.set_xlabel(f"{dims[0]}(t)")
        ax.set_ylabel(f"{dims[0]}(t+1)")
        ax.legend(fontsize=8)
        return fig
    gs = fig.add_gridspec(1, ncols)
    finite = np.isfinite(gen).all(1)
    for k, (i, j) in enumerate(pairs):
        ax = fig.add_subplot(gs[k])
        ax.plot(data[:, i], data[:, j], color=DATA_COLOR, lw=0.3, alpha=0.8, label="data")
        collapsed = finite.any() and np.ptp(gen[finite][:, [i, j]], axis=0).max() < 1e-3 * (
            np.ptp(data[:, [i, j]], axis=0).max() + 1e-12
        )
        ax.plot(
            gen[finite, i],
            gen[finite, j],
            color=MODEL_COLOR,
            lw=0.3,
            alpha=0.6,
            marker="o" if collapsed else None,
            ms=6,
            label="model",
        )
        ax.set_xlabel(dims[i])
        ax.set_ylabel(dims[j])
        lo = np.nanmin(data[:, [i, j]], 0)
        hi = np.nanmax(data[:, [i, j]], 0)
        pad = 0.3 * (hi - lo)
        ax.set_xlim(lo[0] - pad[0], hi[0] + pad[0])
        ax.set_ylim(lo[1] - pad[1], hi[1] + pad[1])
        if k == 0:
            ax.legend(fontsize=8, loc="upper right")
    if len(dims) >= 3:
        ax3 = fig.add_subplot(gs[-1], projection="3d")
        ax3.plot(data[:, 0], data[:, 1], data[:, 2], color=DATA_COLOR, lw=0.25, alpha=0.7)
        ax3.plot(
            gen[finite, 0], gen[finite, 1], gen[finite, 2], color=MODEL_COLOR, lw=0.25, alpha=0.6
        )
        ax3.set_xlabel(dims[0], fontsize=8)
        ax3.set_ylabel(dims[1], fontsize=8)
        ax3.set_zlabel(dims[2], fontsize=8)
        ax3.tick_params(labelsize=6)
        ax3.set_title("3-D view", fontsize=10)
    return fig


def power_spectra_figure(rec: xr.Dataset, metrics: dict[str, Any] | None = None) -> Figure:
    """Power spectra of data and free-running model per dim (what D_H compares).

    With ``metrics`` (metrics.json), the band of the high-frequency check is shaded, dims it
    flagged are shown first (marked in their titles) and drawn up to the Nyquist frequency.
    """
    data = np.asarray(rec["data"].values)
    # the first len(data) steps of the free run: equal lengths, as D_H's segments and the
    # high-frequency check compare them
    gen = np.asarray(rec["generated"].values)[: len(data)]
    dims = [str(d) for d in rec["dim"].values]
    fs = 1.0 / float(rec.attrs["dt"])
    m = metrics or {}
    flagged = [d for d in (m.get("hf_flagged_dims") or []) if d in dims]
    band = m.get("hf_band_start_hz") or []
    order = [dims.index(d) for d in flagged] + [i for i, d in enumerate(dims) if d not in flagged]
    show = min(len(dims), max(3, len(flagged[:6])))
    fig = _figure(11 if show <= 3 else 3.7 * show, 2.8)
    axes = fig.subplots(1, show, squeeze=False)[0]
    fd, pd_ = _welch(data, fs)
    finite = np.isfinite(gen).all()
    if finite:
        fg, pg = _welch(gen, fs)
    for k in range(show):
        i = order[k]
        ax = axes[k]
        ax.semilogy(fd, pd_[:, i], color=DATA_COLOR, lw=1, label="data")
        if finite:
            ax.semilogy(fg, pg[:, i], color=MODEL_COLOR, lw=1, label="model")
        ax.set_xlabel("frequency (Hz)")
        is_flagged = dims[i] in flagged
        ax.set_title(
            dims[i] + ("  [flagged: spurious high-frequency power]" if is_flagged else ""),
            fontsize=10,
            color=MODEL_COLOR if is_flagged else "black",
        )
        top = pd_[:, i].max()
        ax.set_ylim(top * 1e-5, top * 3)
        cum = np.cumsum(pd_[:, i]) / pd_[:, i].sum()
        right = min(fs / 2, 2.0 * fd[min(np.searchsorted(cum, 0.999), len(fd) - 1)])
        start = band[i] if i < len(band) else None
        if is_flagged:
            right = fs / 2
        if isinstance(start, int | float) and start < right:
            ax.axvspan(start, right, color=PRED_COLOR, alpha=0.15, lw=0)
        ax.set_xlim(0, right)
    axes[0].set_ylabel("power spectral density")
    axes[0].legend(fontsize=8)
    return fig


def prediction_figure(rec: xr.Dataset, lambda_max: float | None) -> Figure:
    """How long free predictions stay valid, and PE(k).

    Left: the share of predictions still valid by lead time (``vpt_valid_fraction``, from
    :func:`neurodsr.metrics.core.valid_prediction_time`, the same result as the table's VPT,
    which is marked). Reconstructions written before that variable existed show the median
    error by lead instead.
    """
    lead = np.asarray(rec["lead"].values)
    thr = float(rec.attrs.get("metric_vpt_threshold", 0.5))
    fig = _figure(11, 3.0)
    ax, ax2 = fig.subplots(1, 2)
    if "vpt_valid_fraction" in rec:
        frac = np.asarray(rec["vpt_valid_fraction"].values)
        ax.step(lead, frac, where="post", color=MODEL_COLOR, lw=1.2, label="share still valid")
        ax.axhline(0.5, color="0.6", lw=0.8)
        vpt = rec.attrs.get("metric_vpt_seconds")
        if isinstance(vpt, int | float | np.floating) and np.isfinite(vpt):
            ax.axvline(float(vpt), color="0.3", ls="--", lw=1, label=f"VPT = {float(vpt):.3g} s")
        ax.set_ylabel(f"share of predictions valid\n(normalised RMSE <= {thr:g})")
        ax.set_ylim(0, 1.05)
        ax.set_title("Valid predictions by lead time (best seed)", fontsize=10)
    else:
        err = np.asarray(rec["vpt_error"].values)
        ax.plot(lead, err, color=MODEL_COLOR, lw=1.2, label="median error over starts")
        ax.axhline(thr, color="0.4", ls="--", lw=1, label=f"threshold {thr:g}")
        ax.set_ylabel("normalised RMSE")
        ax.set_ylim(0, max(1.6, thr * 1.5))
        ax.set_title("Free prediction error by lead time (best seed)", fontsize=10)
    ax.set_xlabel("lead time (s)")
    if lambda_max and lambda_max > 0:
        sec = ax.secondary_xaxis(
            "top", functions=(lambda s: s * lambda_max, lambda lt: lt / lambda_max)
        )
        sec.set_xlabel("Lyapunov times", fontsize=8)
    ax.legend(fontsize=8)
    pe = np.asarray(rec["prediction_error"].values)
    horizon = np.asarray(rec["horizon"].values)
    seeds = [int(s) for s in rec["member"].values]
    best = int(rec.attrs.get("metric_best_member", 0))
    for e in range(pe.shape[0]):
        ax2.plot(
            horizon,
            pe[e],
            color=MEMBER_COLORS[e % len(MEMBER_COLORS)],
            lw=2 if e == best else 0.9,
            label=f"seed {seeds[e]}",
        )
    ax2.set_xlabel("steps ahead k")
    ax2.set_ylabel("PE(k), MSE (x training variance)")
    ax2.set_title("k-step prediction error per seed", fontsize=10)
    ax2.legend(fontsize=8)
    return fig


def lyapunov_spectrum_figure(
    rec: xr.Dataset, lambda_data: float | None, lambda_data_std: float | None
) -> Figure:
    """The model's Lyapunov exponents (every seed; left all, right the largest) against the
    data's lambda_max."""
    ex = np.asarray(rec["lyapunov_spectrum"].values)
    sd = np.asarray(rec["lyapunov_spectrum_std"].values)
    seeds = [int(s) for s in rec["member"].values]
    best = int(rec.attrs.get("metric_best_member", 0))
    fig = _figure(11, 3.2)
    ax, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.5, 1]})
    k = np.arange(ex.shape[1])
    width = 0.8 / max(1, ex.shape[0])
    for e in range(ex.shape[0]):
        color = MEMBER_COLORS[e % len(MEMBER_COLORS)]
        label = f"seed {seeds[e]}" + (" (best)" if e == best else "")
        ax.errorbar(
            k + (e - (ex.shape[0] - 1) / 2) * width,
            ex[e],
            yerr=sd[e],
            fmt="o",
            ms=6 if e == best else 4,
            color=color,
            label=label,
        )
        ax2.errorbar([e], ex[e, :1], yerr=sd[e, :1], fmt="o", ms=8 if e == best else 5, color=color)
    for a in (ax, ax2):
        a.axhline(0, color="0.6", lw=0.8)
        if lambda_data is not None:
            a.axhline(
                lambda_data,
                color=DATA_COLOR,
                ls="--",
                lw=1.2,
                label=f"data lambda_max = {lambda_data:.3g} / s",
            )
            if lambda_data_std:
                a.axhspan(
                    lambda_data - lambda_data_std,
                    lambda_data + lambda_data_std,
                    color=DATA_COLOR,
                    alpha=0.12,
                )
    ax.set_xticks(k, [f"lambda_{i + 1}" for i in k])
    ax.set_ylabel("exponent (1/s)")
    ax.set_title("Model spectrum, every seed", fontsize=10)
    ax.legend(fontsize=8, loc="lower left")
    ax2.set_xticks(np.arange(len(seeds)), [f"seed {s}" for s in seeds])
    ax2.set_xlim(-0.6, len(seeds) - 0.4)
    ax2.set_ylabel("lambda_max (1/s)")
    ax2.set_title("Largest exponent: model vs data", fontsize=10)
    return fig


def horizon_growth_figure(growth: xr.Dataset) -> Figure:
    """Why forcing was needed: Jacobian-product growth (left) and loss-gradient norm (right)
    against the horizon, without forcing and with the chosen forcing, next to lambda_max T.

    ``growth`` is :func:`neurodsr.dynamics.gradients.horizon_growth`'s Dataset (median over
    members drawn, the members' range shaded).
    """
    hz = np.asarray(growth["horizon"].values, dtype=float)
    tau, alpha = int(growth.attrs.get("tau", -1)), float(growth.attrs.get("alpha", 1.0))
    forced = (
        "no forcing chosen"
        if tau < 0
        else f"GTF alpha = {alpha:g}"
        if tau == 1 and alpha < 1
        else f"STF tau = {tau}"
        if alpha == 1
        else f"tau = {tau}, alpha = {alpha:g}"
    )
    fig = _figure(11, 3.4)
    axes = fig.subplots(1, 2)
    styles = {"free": (MODEL_COLOR, "without forcing"), "forced": (DATA_COLOR, forced)}
    for ax, var, title in (
        (axes[0], "log_jacobian_growth", "Jacobian product ln ||J_T ... J_1 v||"),
        (axes[1], "log_grad_norm", "loss gradient ln ||dL_T / d theta||"),
    ):
        for cond in growth["condition"].values:
            vals = np.asarray(growth[var].sel(condition=cond).values, dtype=float)
            if not np.isfinite(vals).any():
                continue
            color, label = styles.get(str(cond), ("0.4", str(cond)))
            ax.plot(hz, np.nanmedian(vals, axis=1), "o-", ms=3, color=color, label=label)
            ax.fill_between(
                hz, np.nanmin(vals, axis=1), np.nanmax(vals, axis=1), color=color, alpha=0.15
            )
        if "lambda_T" in growth and var == "log_jacobian_growth":
            lam_t = np.asarray(growth["lambda_T"].values, dtype=float)
            ax.plot(hz, lam_t, "--", color="0.3", label="lambda_max T (data)")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("horizon T (steps)")
        ax.set_ylabel("nats")
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8, loc="upper left")
    return fig
