"""Tables (CSV + markdown), figures (PNG) and docs/RESULTS.md from the sweep and real-data results.

Reads ``benchmarks/paper/results/sweep_*.jsonl``, ``gtf_*.jsonl``, ``long_*.jsonl`` and
``real_data.jsonl*`` (one line per trained member) and writes the summaries
``benchmarks/paper/results/*_summary.csv``, ``docs/figures/*.png`` and sections 1-2 of
``docs/RESULTS.md`` (hand-written prose from ``benchmarks/paper/RESULTS_template.md`` with the
tables filled in). Everything from ``KEEP_FROM`` on (section 3, the defaults, and the later
sections of other benchmarks) is written by hand in docs/RESULTS.md itself and kept as it is.

    .venv/bin/python benchmarks/paper/make_figures.py
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
ROOT = HERE.parents[1]
#: Where the hand-written part of docs/RESULTS.md begins (kept by main(); not in the template)
KEEP_FROM = "## 3. The defaults, and what was applied"
RES = HERE / "results"
FIG = ROOT / "docs" / "figures"
OUT_OF_RANGE = 0.05  # a member whose free run leaves the data's range more than this is flagged
CEIL = 50.0  # D_stsp plotted at most here (diverged members have D_stsp = inf)
NONE_X = 500.0
BIG = 1e300  # stands in for inf in percentiles
FLOORS: dict[str, tuple[float, float]] = {}
MODEL_ORDER = {"shplrnn": 0, "plrnn": 1, "lstm": 2}  # where "no forcing" sits on the tau axis


def load(pattern: str) -> pd.DataFrame:
    rows = []
    for path in sorted(RES.glob(pattern)):
        rows += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return pd.DataFrame(rows)


def q(v: pd.Series, p: float) -> float:
    a = np.asarray(v, dtype=np.float64)
    a = np.where(np.isfinite(a), a, BIG)  # a diverged member (inf / NaN) counts as worst
    if not len(a):
        return math.nan
    v = float(np.percentile(a, p))
    return math.inf if v >= BIG / 10 else v


def summarise(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Median, 25th and 75th percentile per group, and the fraction of bad members."""
    out = []
    for keys, g in df.groupby(by, dropna=False, sort=False):
        row = dict(zip(by, keys if isinstance(keys, tuple) else (keys,), strict=True))
        row["n"] = len(g)
        for k in ("D_stsp", "D_H", "PE20"):
            row[f"{k}_median"] = q(g[k], 50)
            row[f"{k}_q25"] = q(g[k], 25)
            row[f"{k}_q75"] = q(g[k], 75)
        row["frac_diverged"] = float(g["diverged"].mean())
        row["frac_out_of_range"] = float((g["frac_outside"] > OUT_OF_RANGE).mean())
        row["outside_median"] = float(np.median(g["frac_outside"]))
        row["epochs_run_min"] = int(g["epochs_run"].min())
        out.append(row)
    return pd.DataFrame(out)


def fmt(x: float) -> str:
    if not np.isfinite(x):
        return "inf"
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    if abs(x) >= 0.01:
        return f"{x:.2f}"
    return f"{x:.1e}"


def cell(r: pd.Series, k: str) -> str:
    return f"{fmt(r[f'{k}_median'])} [{fmt(r[f'{k}_q25'])}, {fmt(r[f'{k}_q75'])}]"


def label(r: pd.Series) -> str:
    if r["method"] == "stf":
        return f"STF tau={int(r['tau'])}"
    if r["method"] == "bptt":
        return "BPTT, no forcing"
    if r["method"] == "gtf":
        a = r["alpha"]
        return "GTF, adaptive alpha" if a == "adaptive" else f"GTF alpha={float(a):g}"
    return f"BPTT, clip {r['clip']:g}"


def sweep_table(s: pd.DataFrame) -> str:
    lines = [
        "| system | model | training | n | D_stsp | D_H | PE(20) | diverged | outside |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for _, r in s.iterrows():
        lines.append(
            f"| {r['system']} | {r['model']} | {label(r)} | {r['n']} | {cell(r, 'D_stsp')} | "
            f"{cell(r, 'D_H')} | {cell(r, 'PE20')} | {r['frac_diverged']:.0%} | "
            f"{r['outside_median']:.1%} |"
        )
    return "\n".join(lines)


def floor(system: str, n_train: int, n_ref: int) -> tuple[float, float]:
    """D_stsp and D_H of a second independent trajectory against the reference (the best a
    perfect model can score at these lengths)."""
    from sweep import SYSTEMS

    from neurodsr.metrics.core import power_spectrum_distance, state_space_divergence

    sim, dt, _ = SYSTEMS[system]
    x = sim(n_train + 200, dt=dt, seed=1).values[:n_train]
    ref = sim(n_ref, dt=dt, seed=12345).values
    other = sim(n_ref, dt=dt, seed=777).values
    mu, sd = x.mean(0), x.std(0)
    r, o = (ref - mu) / sd, (other - mu) / sd
    return state_space_divergence(r, o), power_spectrum_distance(r, o)


def plot_sweep(df: pd.DataFrame, s: pd.DataFrame, system: str) -> Path:
    sub = s[s["system"] == system]
    d = df[df["system"] == system]
    tau_star = int(d["tau_star"].iloc[0])
    fl = floor(system, int(d["n_train"].dropna().iloc[0]), int(d["n_ref"].dropna().iloc[0]))
    FLOORS[system] = fl
    fig, axes = plt.subplots(
        2, 2, figsize=(10, 6.5), gridspec_kw={"width_ratios": [3, 1.3]}, sharey="row"
    )
    colors = {"shplrnn": "C0", "plrnn": "C1", "lstm": "C2"}
    for row, k in enumerate(("D_stsp", "D_H")):
        ax, axc = axes[row]
        for model, g in sub.groupby("model", sort=False):
            f = g[g["method"] != "clip"].copy()
            f["x"] = [
                NONE_X if m == "bptt" else t for m, t in zip(f["method"], f["tau"], strict=True)
            ]
            f = f.sort_values("x")
            ceil = CEIL if k == "D_stsp" else 1.0
            med = np.minimum(f[f"{k}_median"].to_numpy(dtype=float), ceil)
            lo = np.minimum(f[f"{k}_q25"].to_numpy(dtype=float), ceil)
            hi = np.minimum(f[f"{k}_q75"].to_numpy(dtype=float), ceil)
            c = colors.get(str(model), None)
            ax.errorbar(
                f["x"],
                med,
                yerr=[med - lo, hi - med],
                marker="o",
                color=c,
                capsize=3,
                label=str(model),
            )
            cl = g[g["method"] == "clip"].sort_values("clip")
            if len(cl):
                med = np.minimum(cl[f"{k}_median"].to_numpy(dtype=float), ceil)
                lo = np.minimum(cl[f"{k}_q25"].to_numpy(dtype=float), ceil)
                hi = np.minimum(cl[f"{k}_q75"].to_numpy(dtype=float), ceil)
                axc.errorbar(
                    cl["clip"],
                    med,
                    yerr=[med - lo, hi - med],
                    marker="s",
                    color=c,
                    capsize=3,
                    label=str(model),
                )
        ax.axvline(tau_star, color="k", ls="--", lw=1)
        ax.text(tau_star, 0.02, " ln2/lambda", transform=ax.get_xaxis_transform(), fontsize=8)
        for a in (ax, axc):
            a.axhline(fl[row], color="grey", ls=":", lw=1)
        ax.text(1, fl[row], "data vs data", color="grey", fontsize=7, va="bottom")
        ax.set_xscale("log")
        ticks = [*sorted({int(t) for t in sub["tau"].dropna()}), NONE_X]
        labels = [
            str(t) if i == 0 or t / ticks[i - 1] > 1.15 else "" for i, t in enumerate(ticks[:-1])
        ]
        ax.set_xticks(ticks, [*labels, "none"], fontsize=8)
        ax.minorticks_off()
        axc.set_xscale("log")
        axc.set_xticks([1, 10, 100, 1000], ["1", "10", "100", "1000"], fontsize=8)
        axc.minorticks_off()
        if k == "D_stsp":
            ax.set_yscale("log")
        ax.set_ylabel(f"{k} (median, IQR)")
        ax.grid(alpha=0.3)
        axc.grid(alpha=0.3)
    axes[1, 0].set_xlabel("STF forcing interval tau (steps)")
    axes[1, 1].set_xlabel("BPTT, grad-norm clip")
    axes[0, 0].legend(fontsize=8)
    axes[0, 0].set_title(f"{system}: sparse teacher forcing")
    axes[0, 1].set_title("gradient clipping")
    fig.tight_layout()
    FIG.mkdir(parents=True, exist_ok=True)
    path = FIG / f"tau_sweep_{system}.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def plot_gtf(gs: pd.DataFrame, s: pd.DataFrame) -> Path:
    """D_stsp and D_H against GTF's alpha per system, with the best STF interval's median."""
    systems = list(dict.fromkeys(gs["system"]))
    fig, axes = plt.subplots(2, len(systems), figsize=(4.2 * len(systems), 5.5), squeeze=False)
    for col, system in enumerate(systems):
        g = gs[(gs["system"] == system) & (gs["alpha"] != "adaptive")]
        a = g["alpha"].astype(float).to_numpy()
        stf = s[(s["system"] == system) & (s["model"].isin(g["model"])) & (s["method"] == "stf")]
        for row, k in enumerate(("D_stsp", "D_H")):
            ax = axes[row, col]
            ceil = CEIL if k == "D_stsp" else 1.0
            med = np.minimum(g[f"{k}_median"].to_numpy(dtype=float), ceil)
            lo = np.minimum(g[f"{k}_q25"].to_numpy(dtype=float), ceil)
            hi = np.minimum(g[f"{k}_q75"].to_numpy(dtype=float), ceil)
            ax.errorbar(
                a, med, yerr=[med - lo, hi - med], marker="o", capsize=3, label="GTF (shPLRNN)"
            )
            if len(stf):
                b = stf.loc[stf[f"{k}_median"].idxmin()]
                ax.axhline(
                    min(b[f"{k}_median"], ceil),
                    color="C3",
                    ls="--",
                    lw=1,
                    label=f"best STF (tau={int(b['tau'])})",
                )
            if system in FLOORS:
                ax.axhline(FLOORS[system][row], color="grey", ls=":", lw=1, label="data vs data")
            ax.set_xscale("log")
            ax.set_xticks(a, [f"{v:g}" for v in a], fontsize=8)
            ax.minorticks_off()
            if k == "D_stsp":
                ax.set_yscale("log")
                ax.set_title(f"{system}: generalized teacher forcing")
            ax.set_ylabel(f"{k} (median, IQR)")
            ax.grid(alpha=0.3)
        axes[1, col].set_xlabel("GTF alpha")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    path = FIG / "gtf_alpha.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def real_table(s: pd.DataFrame) -> str:
    lines = [
        "| data | forcing | tau | n | D_stsp | D_H | PE(20) | diverged | outside |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for _, r in s.iterrows():
        tau = "" if pd.isna(r["tau"]) else str(int(r["tau"]))
        lines.append(
            f"| {r['data']} | {r['config']} | {tau} | {r['n']} | {cell(r, 'D_stsp')} | "
            f"{cell(r, 'D_H')} | "
            f"{cell(r, 'PE20')} | {r['frac_diverged']:.0%} | {r['outside_median']:.1%} |"
        )
    return "\n".join(lines)


def plot_real(s: pd.DataFrame) -> Path:
    data = list(dict.fromkeys(s["data"]))
    configs = list(dict.fromkeys(s["config"]))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    w = 0.8 / len(configs)
    for ax, k in zip(axes, ("D_stsp", "D_H"), strict=True):
        ceil = CEIL if k == "D_stsp" else 1.0
        for j, c in enumerate(configs):
            g = s[s["config"] == c].set_index("data").reindex(data)
            med = np.minimum(g[f"{k}_median"].to_numpy(dtype=float), ceil)
            lo = np.minimum(g[f"{k}_q25"].to_numpy(dtype=float), ceil)
            hi = np.minimum(g[f"{k}_q75"].to_numpy(dtype=float), ceil)
            x = np.arange(len(data)) + (j - (len(configs) - 1) / 2) * w
            ax.bar(x, med, w, label=c, yerr=[med - lo, hi - med], capsize=2)
        ax.set_xticks(np.arange(len(data)), data, fontsize=8, rotation=15)
        ax.set_ylabel(f"{k} (median, IQR)")
        if k == "D_stsp":
            ax.set_yscale("log")
        ax.grid(alpha=0.3, axis="y")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    path = FIG / "real_data.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def main() -> None:
    FIG.mkdir(parents=True, exist_ok=True)
    fills: dict[str, str] = {}
    sw = load("sweep_*.jsonl")
    if len(sw):
        sw["tau"] = sw["tau"].astype("Float64")
        sw["clip"] = sw["clip"].astype("Float64")
        s = summarise(sw, ["system", "model", "method", "tau", "clip"])
        order = {"stf": 0, "bptt": 1, "clip": 2}
        s = (
            s.assign(_o=s["method"].map(order), _m=s["model"].map(MODEL_ORDER))
            .sort_values(["system", "_m", "_o", "tau", "clip"])
            .drop(columns=["_o", "_m"])
        )
        s.to_csv(RES / "sweep_summary.csv", index=False, float_format="%.5g")
        for system in s["system"].unique():
            plot_sweep(sw, s, system)
            fills[f"SWEEP_TABLE_{system.upper()}"] = sweep_table(s[s["system"] == system])
        stars = sw.groupby("system")["tau_star"].first().astype(int).to_dict()
        gt = load("gtf_*.jsonl")
        gs = None
        if len(gt):
            gt["alpha"] = gt["alpha"].astype(str)
            gs = summarise(gt, ["system", "model", "method", "alpha"])
            gs = gs.assign(_a=[9.0 if a == "adaptive" else float(a) for a in gs["alpha"]])
            gs = gs.sort_values(["system", "_a"]).drop(columns=["_a"])
            gs.to_csv(RES / "gtf_summary.csv", index=False, float_format="%.5g")
            fills["GTF_TABLE"] = sweep_table(gs)
            plot_gtf(gs, s)
        fills["SWEEP_MINIMA"] = minima(s, stars, gs)
        fills["FLOORS"] = "; ".join(
            f"{k}: D_stsp {v[0]:.2f}, D_H {v[1]:.3f}" for k, v in FLOORS.items()
        )
    lg = load("long_*.jsonl")
    if len(lg):
        lg["tau"] = lg["tau"].astype("Float64")
        lg["clip"] = lg["clip"].astype("Float64")
        lg["alpha"] = lg["alpha"].astype(str) if "alpha" in lg else "nan"
        s = summarise(lg, ["system", "model", "method", "tau", "clip", "alpha"])
        s.to_csv(RES / "long_summary.csv", index=False, float_format="%.5g")
        fills["LONG_TABLE"] = sweep_table(s)
    rd = load("real_data.jsonl*")
    if len(rd):
        rd = rd.drop_duplicates(["data", "config", "seed"], keep="last")
        r = summarise(rd, ["data", "config", "tau"])
        data_order = {
            d: i
            for i, d in enumerate(
                dict.fromkeys(
                    ["eeg_10d", "temperature_5d", "duffing", "lorenz63", "roessler", *r["data"]]
                )
            )
        }
        cfg_order = {
            c: i
            for i, c in enumerate(
                dict.fromkeys(["stf_auto", "stf_auto/3", "gtf_adaptive", "gtf_0.1", *r["config"]])
            )
        }
        r = (
            r.assign(_d=r["data"].map(data_order), _c=r["config"].map(cfg_order))
            .sort_values(["_d", "_c"])
            .drop(columns=["_d", "_c"])
        )
        r.to_csv(RES / "real_data_summary.csv", index=False, float_format="%.5g")
        plot_real(r)
        fills["REAL_TABLE"] = real_table(r)
    template = (HERE / "RESULTS_template.md").read_text()
    for k, v in fills.items():
        template = template.replace("{{" + k + "}}", v)
    page = ROOT / "docs" / "RESULTS.md"
    kept = page.read_text() if page.exists() else ""
    if KEEP_FROM in kept:  # the hand-written sections stay; this script owns sections 1-2
        template = template.rstrip("\n") + "\n\n" + kept[kept.index(KEEP_FROM) :]
    page.write_text(template)
    print("wrote docs/RESULTS.md,", ", ".join(p.name for p in sorted(FIG.glob("*.png"))))


def minima(s: pd.DataFrame, tau_star: dict[str, int], gtf: pd.DataFrame | None = None) -> str:
    """Per system and model: the best tau by median D_stsp, tau = ln 2 / lambda_max, no forcing,
    the best clipping run and GTF at alpha = 0.1 (median D_stsp)."""
    lines = [
        "| system | model | best STF tau: D_stsp | tau = ln2/lambda: D_stsp | no forcing | "
        "best clip: D_stsp | GTF alpha=0.1: D_stsp |",
        "|---|---|---|---|---|---|---|",
    ]
    for (system, model), g in s.groupby(["system", "model"], sort=False):
        stf = g[g["method"] == "stf"]
        cl = g[g["method"] == "clip"]
        bp = g[g["method"] == "bptt"]
        star = stf[stf["tau"] == tau_star[system]]
        cells = [str(system), str(model)]
        if len(stf):
            b = stf.loc[stf["D_stsp_median"].idxmin()]
            cells.append(f"{int(b['tau'])}: {fmt(b['D_stsp_median'])}")
        else:
            cells.append("-")
        cells.append(
            f"{tau_star[system]}: {fmt(star['D_stsp_median'].iloc[0])}" if len(star) else "-"
        )
        cells.append(fmt(bp["D_stsp_median"].iloc[0]) if len(bp) else "-")
        if len(cl):
            b = cl.loc[cl["D_stsp_median"].idxmin()]
            cells.append(f"{b['clip']:g}: {fmt(b['D_stsp_median'])}")
        else:
            cells.append("-")
        g01 = (
            gtf[(gtf["system"] == system) & (gtf["model"] == model) & (gtf["alpha"] == "0.1")]
            if gtf is not None
            else []
        )
        cells.append(fmt(g01["D_stsp_median"].iloc[0]) if len(g01) else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
