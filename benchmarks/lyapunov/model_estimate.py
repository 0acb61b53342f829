"""The trained model's lambda_max against the QR references, beside the data estimate (issue 13,
item 4).

For each case (a system of the Lyapunov benchmark and a view of it) this script takes the *same*
series as ``benchmarks/lyapunov/run.py`` (its ``series``: 5 % observation noise, N = 20 000,
seed 0), fits it with the pipeline's automatic choices (:func:`neurodsr.api.train_fit` with dt
and a budget only, 3 seeds as one ensemble) and scores it with the pipeline's one scorer
(:func:`neurodsr.metrics.evaluate.evaluate_fit`), which computes every member's Lyapunov
spectrum by QR along free runs (``model_spectrum``) and compares it with the data's estimate
(``_lyapunov_comparison`` -> :func:`neurodsr.dynamics.spectrum.compare_lyapunov`). Exponents are
per unit time of the system (the fit's dt is the system's).

A series with one channel is delay-embedded first, as ``neurodsr preprocess`` does with
``embed_dim`` / ``embed_delay`` (:func:`neurodsr.preprocess.common.delay_embed`); the pipeline
sets neither by itself, so the delay and dimension are the ones the Lyapunov stage chooses for
that series (:func:`neurodsr.dynamics.embedding.embed_for_lyapunov`: AMI delay, FNN dimension),
computed on the training part only. Where that dimension is 1 the series is fitted as it is.

Stored per case (one JSON line in ``model_estimate.jsonl``; resumable: cases in the file are
skipped): the reference; the data estimate and verdict of ``results.jsonl`` (method neurodsr,
same case, N = 20 000, seed 0, the row ``run.py --table`` shows; read, not recomputed); the fit's
own data estimate on its training part (what ``train_fit`` computes and the pipeline compares
with); each seed's model lambda_max, their median and range; the pipeline's comparison with the
fit's estimate and with the benchmark's; which seed validation kept, the range check's failures,
the health verdict; seconds.

    OMP_NUM_THREADS=1 nice -n 19 .venv/bin/python benchmarks/lyapunov/model_estimate.py
    .venv/bin/python benchmarks/lyapunov/model_estimate.py --groups extra,one
    .venv/bin/python benchmarks/lyapunov/model_estimate.py --table [--fit-seed 3] [--forcing select]
    .venv/bin/python benchmarks/lyapunov/model_estimate.py --combined  # one row per case
"""

from __future__ import annotations

import argparse
import fcntl
import json
import math
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neurodsr.api import train_fit
from neurodsr.dynamics.embedding import embed_for_lyapunov
from neurodsr.dynamics.zoo import CONTROLS, SYSTEMS
from neurodsr.metrics.evaluate import _lyapunov_comparison, evaluate_fit
from neurodsr.preprocess.common import delay_embed

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import run as bench  # noqa: E402  (benchmarks/lyapunov/run.py: the case generator)

OUT = HERE / "model_estimate.jsonl"
GIT = subprocess.run(
    ["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True
).stdout.strip()
# the pipeline's comparison fields (metrics.json) stored per row, as the fit made them and
# again against the benchmark's data estimate
COMPARISON_KEYS = (
    "lyapunov_agree",
    "lyapunov_comparison",
    "lyapunov_left_out",
    "lambda_max_model_median",
    "lambda_supported",
    "lambda_supported_by",
)
N, SEED, NOISE_NOTE = 20_000, 0, "5 % observation noise (run.py's series)"
#: compare_lyapunov's zero_tol: a model exponent below this per step counts as "not chaotic"
ZERO_TOL = 0.001

#: Cases: (system, view). "main": a spread of kinds and speeds through all coordinates, and
#: three controls; "extra": cases the data estimate gets wrong or leaves unclear; "rest": the
#: other systems and controls through all coordinates; "one": flows through their first
#: coordinate (delay-embedded).
GROUPS: dict[str, list[tuple[str, str]]] = {
    "main": [
        ("lorenz63", "all"),
        ("roessler", "all"),
        ("chen", "all"),
        ("halvorsen", "all"),
        ("hindmarsh_rose", "all"),
        ("lorenz96_10", "all"),
        ("rate_net_100", "all"),
        ("mackey_glass", "all"),
        ("henon", "all"),
        ("lozi", "all"),
        ("logistic_r4", "all"),
        ("van_der_pol", "all"),
        ("torus", "all"),
        ("noisy_oscillator", "all"),
    ],
    "extra": [
        ("thomas", "all"),
        ("roessler_c9", "all"),
        ("ueda_duffing", "all"),
        ("lorenz84", "all"),
    ],
    "rest": [
        *(
            (s, "all")
            for s in (
                "lorenz63_coarse",
                "lorenz63_rho45",
                "hyper_roessler",
                "sprott_b",
                "rucklidge",
                "arneodo",
                "lorenz96_20",
                "rate_net_50",
                "rate_net_200",
                "logistic_r3.8",
                "ikeda",
                "tinkerbell",
                "coupled_logistic",
            )
        ),
        *((c, "all") for c in ("noisy_fixed_point", "ar1", "pink_noise", "sine")),
    ],
    "one": [
        ("lorenz63", "one"),
        ("roessler", "one"),
        ("hindmarsh_rose", "one"),
        ("lorenz96_10", "one"),
    ],
}


def case_key(
    system: str, view: str, fit_seed: int = 0, forcing: str = "auto", data_seed: int = SEED
) -> str:
    """A result's key: the case, the data realisation, the ensemble's first seed and the
    forcing option."""
    return f"{system}|{view}|{N}|{data_seed}|{fit_seed}|{forcing}"


def row_key(r: dict[str, Any]) -> str:
    return case_key(
        r["system"],
        r["view"],
        r.get("fit_seed", 0),
        r.get("forcing_option", "auto"),
        r.get("seed", SEED),
    )


def data_row(system: str, view: str, data_seed: int = SEED) -> dict[str, Any] | None:
    """The benchmark's neurodsr row of this case as ``run.py --table`` picks it (the current
    estimator version where there is one, else the latest in the file); None where the
    benchmark has no row for this data realisation."""
    pick = None
    for r in bench.load_results().values():
        if (r["system"], r["view"], r["n"], r.get("seed", 0), r["method"]) != (
            system,
            view,
            N,
            data_seed,
            "neurodsr",
        ):
            continue
        if (
            pick is None
            or pick.get("version") != bench.VERSION
            or r.get("version") == bench.VERSION
        ):
            pick = r
    return pick


def embed_if_one_channel(x: np.ndarray, n_train: int) -> tuple[np.ndarray, dict[str, Any]]:
    """A one-channel series delay-embedded at the Lyapunov stage's delay and dimension (chosen
    on the training part); other series unchanged. Returns (series (time, dims), how)."""
    if x.shape[1] > 1:
        return x, {"embedded": False}
    emb = embed_for_lyapunov(x[:n_train])
    how = {"embedded": emb.dim > 1, "delay": int(emb.delay), "dim": int(emb.dim)}
    if emb.dim <= 1:
        return x, how
    return delay_embed(x, emb.delay, emb.dim), how


def classify_model(lam: float | None, ref: float | None, dt: float) -> str:
    """'ok20', 'ok30', 'off', 'not chaotic', 'none' for a chaotic case's model median."""
    if lam is None or not math.isfinite(lam):
        return "none"
    if lam <= ZERO_TOL / dt:
        return "not chaotic"
    err = abs(lam / ref - 1)
    return "ok20" if err <= 0.2 else "ok30" if err <= 0.3 else "off"


def classify_data(r: dict[str, Any] | None, ref: float | None) -> str:
    """run.py's classes of the data estimate ('ok20', 'ok30', 'off', 'unclear', 'missed';
    controls 'right' / 'WRONG')."""
    if r is None:
        return "none"
    refs = {r["system"]: {"lambda_max": ref}} if ref is not None else {}
    return bench.classify(r, refs)


def run_case(
    system: str,
    view: str,
    minutes: float,
    seeds: int,
    fit_seed: int = 0,
    forcing: str = "auto",
    data_seed: int = SEED,
) -> dict[str, Any]:
    """Fit and score one case (see the module docstring); ``fit_seed`` is the ensemble's first
    seed, ``forcing`` train_fit's forcing option (default "auto", the pipeline's),
    ``data_seed`` the realisation (orbit and noise) of run.py's series."""
    c = {"system": system, "view": view, "n": N, "seed": data_seed}
    x, dt = bench.series(c)
    n_train_raw = round(0.8 * len(x))
    xm, how = embed_if_one_channel(np.asarray(x, dtype=np.float64), n_train_raw)
    t0 = time.perf_counter()
    fit = train_fit(
        xm,
        dt,
        seeds=seeds,
        seed=fit_seed,
        forcing=forcing,
        max_minutes=minutes,
        progress=False,
        threads=1,
    )
    t_fit = time.perf_counter() - t0
    ly = fit.lyapunov
    t1 = time.perf_counter()
    ev = evaluate_fit(
        fit,
        fit.x,
        fit.n_train,
        dt,
        lambda_max_data=ly.lambda_max if ly else None,
        lambda_max_data_std=ly.lambda_std if ly else None,
        lyapunov_verdict=ly.verdict if ly else None,
        max_minutes=minutes,
    )
    t_ev = time.perf_counter() - t1
    m = ev.metrics
    row = data_row(system, view, data_seed)
    # the pipeline's comparison again, with the benchmark's data estimate (its standard error
    # is not in results.jsonl: None, so the band is the 30 % alone)
    cmp_bench = _lyapunov_comparison(
        ev.spectrum,
        dt,
        row.get("lambda") if row else None,
        None,
        row.get("verdict") if row else None,
        diverged=[bool(s["diverged"]) for s in ev.members.metrics],
        seeds=list(fit.model.seeds),
    )
    members = [v for v in m["lambda_max_model_members"]]
    finite = [v for v in members if v is not None and math.isfinite(v)]
    s = fit.summary
    return {
        **c,
        "dt": dt,
        "n_dims": int(xm.shape[1]),
        "embedding": how,
        "budget_min": minutes,
        "n_seeds": seeds,
        "fit_seed": fit_seed,
        "forcing_option": forcing,
        "lambda_members": members,
        "lambda_orbit_std": [float(v) for v in ev.spectrum.std[:, 0]],
        "lambda_median": float(np.median(finite)) if finite else None,
        "lambda_min": min(finite) if finite else None,
        "lambda_max": max(finite) if finite else None,
        "spectrum_steps": int(m["spectrum_steps"]),
        "kaplan_yorke": m.get("kaplan_yorke"),
        "data_bench": None
        if row is None
        else {
            "lambda": row.get("lambda"),
            "verdict": row.get("verdict"),
            "version": row.get("version"),
        },
        "data_fit": None
        if ly is None
        else {"lambda": ly.lambda_max, "lambda_std": ly.lambda_std, "verdict": ly.verdict},
        "pipeline": {k: m.get(k) for k in COMPARISON_KEYS},
        "pipeline_bench": {k: cmp_bench.get(k) for k in COMPARISON_KEYS},
        "fit": {
            "model": s.model.get("name"),
            "latent": s.model.get("latent_dim"),
            "hidden": s.model.get("hidden_dim"),
            "forcing": s.forcing,
            "alpha": s.alpha,
            "tau": s.tau,
            "epochs": s.epochs_run,
            "stopped": s.stopped,
            "best_seed": s.best_seed,
            "validation_score": s.validation_score,
            "range_failed": sum(1 for w in s.range_check.get("why", []) if w),
            "range_why": s.range_check.get("why", []),
        },
        "health": m.get("health"),
        "diverged_members": [bool(v["diverged"]) for v in ev.members.metrics],
        "D_stsp": m.get("D_stsp"),
        "D_H": m.get("D_H"),
        "notes": m.get("notes"),
        "seconds_fit": t_fit,
        "seconds_evaluate": t_ev,
        "torch_threads": torch.get_num_threads(),
        "estimator_version": bench.VERSION,
        "git": GIT,
    }


def append(r: dict[str, Any], path: Path) -> None:
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.write(json.dumps(r, sort_keys=True, default=float) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
        fcntl.flock(fh, fcntl.LOCK_UN)


def load(path: Path) -> dict[str, dict[str, Any]]:
    done: dict[str, dict[str, Any]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                if "error" in r and row_key(r) in done:
                    continue
                done[row_key(r)] = r
    return done


# --------------------------------------------------------------------------- table
def _pct(lam: float | None, ref: float | None) -> str:
    if lam is None or ref is None:
        return ""
    return f" ({100 * (lam / ref - 1):+.0f} %)"


def _fmt(v: float | None) -> str:
    return "-" if v is None or not math.isfinite(v) else f"{v:.3g}"


def classes(r: dict[str, Any], refs: dict[str, Any]) -> dict[str, Any]:
    """One finished case's classes: the data estimate's (run.py's), the model median's, what
    the pipeline supports (compare_lyapunov on the benchmark's data estimate), the seeds'
    range over their median. Controls: the model is "chaotic" where every seed's lambda_max
    exceeds compare_lyapunov's zero (beyond its spread over seeds)."""
    ctrl = r["system"] in CONTROLS
    ref = None if ctrl else refs[r["system"]]["lambda_max"]
    d = r["data_bench"] or {}
    data = classify_data(
        {"system": r["system"], "verdict": d.get("verdict"), "lambda": d.get("lambda")}, ref
    )
    med, lo, hi = r["lambda_median"], r["lambda_min"], r["lambda_max"]
    if ctrl:
        zero = ZERO_TOL / r["dt"]
        model = "chaotic" if lo is not None and lo > zero else "not chaotic"
    else:
        model = classify_model(med, ref, r["dt"])
    lam_s = r["pipeline_bench"].get("lambda_supported")
    supported = "none" if lam_s is None or ctrl else classify_model(lam_s, ref, r["dt"])
    spread = (hi - lo) / abs(med) if med else None
    return {"ref": ref, "data": data, "model": model, "supported": supported, "spread": spread}


def _within(c: dict[str, int], who: str, n: int) -> str:
    a = c.get(f"{who} ok20", 0)
    b = a + c.get(f"{who} ok30", 0)
    return f"{a}/{n} within 20 %, {b}/{n} within 30 %, off {c.get(f'{who} off', 0)}"


def tallies(rows: list[dict[str, Any]], cls: list[dict[str, Any]]) -> list[str]:
    """The tallies under the table: all chaotic cases, those the data get right (within 30 %),
    leave unclear or get wrong, the maps, the flows (and the delay system), the controls."""
    groups: dict[str, list[dict[str, Any]]] = {"chaotic": [], "data right": [],
                                               "data unclear": [], "data wrong": [],
                                               "maps": [], "flows": [],
                                               "controls": []}  # fmt: skip
    for r, c in zip(rows, cls, strict=True):
        if r["system"] in CONTROLS:
            groups["controls"].append(c)
            continue
        groups["chaotic"].append(c)
        groups["maps" if SYSTEMS[r["system"]].kind == "map" else "flows"].append(c)
        if c["data"] in ("ok20", "ok30"):
            groups["data right"].append(c)
        elif c["data"] == "unclear":
            groups["data unclear"].append(c)
        elif c["data"] in ("off", "missed"):
            groups["data wrong"].append(c)
    out = []
    for g, cs in groups.items():
        if not cs:
            continue
        n = len(cs)
        if g == "controls":
            out.append(
                f"- controls ({n}): model chaotic (every seed > {ZERO_TOL} per step) in "
                f"{sum(c['model'] == 'chaotic' for c in cs)}; data chaotic in "
                f"{sum(c['data'] == 'WRONG' for c in cs)}"
            )
            continue
        t: dict[str, int] = {}
        for c in cs:
            for who in ("data", "model", "supported"):
                t[f"{who} {c[who]}"] = t.get(f"{who} {c[who]}", 0) + 1
        spreads = sorted(c["spread"] for c in cs if c["spread"] is not None)
        spread = f"median {np.median(spreads):.2f}, max {spreads[-1]:.2f}" if spreads else "-"
        out.append(
            f"- {g} ({n}): data {_within(t, 'data', n)}, unclear {t.get('data unclear', 0)}, "
            f"missed {t.get('data missed', 0)}; model {_within(t, 'model', n)}, 'not chaotic' "
            f"{t.get('model not chaotic', 0)}; what the pipeline supports (compare_lyapunov on "
            f"the benchmark's data estimate) {_within(t, 'supported', n)}, nothing "
            f"{t.get('supported none', 0)}; seeds' range / median: {spread}"
        )
    return out


def table(done: dict[str, dict[str, Any]]) -> str:
    """Markdown table and tallies of the finished cases."""
    refs = json.loads(bench.REFS.read_text())
    order = [k for g in GROUPS.values() for k in g]

    def rank(r: dict[str, Any]) -> int:
        k = (r["system"], r["view"])
        return order.index(k) if k in order else len(order)

    rows = sorted((r for r in done.values() if "error" not in r), key=rank)
    cls = [classes(r, refs) for r in rows]
    lines = [
        "| system | view | dims | reference | data (benchmark) | model seeds | model median "
        "| seeds' range / median | pipeline supports | kept seed, range fails | s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r, c in zip(rows, cls, strict=True):
        ref = c["ref"]
        d = r["data_bench"] or {}
        dtxt = str(d.get("verdict", "-"))
        if d.get("verdict") == "chaotic" and d.get("lambda") is not None:
            dtxt = f"{d['lambda']:.3g}{_pct(d['lambda'], ref)}"
        if c["data"] in ("off", "missed", "WRONG"):
            dtxt = f"**{dtxt}**"
        med = r["lambda_median"]
        numbered = c["model"] in ("ok20", "ok30", "off")
        mtxt = f"{_fmt(med)}{_pct(med, ref) if numbered else ''}"
        if not numbered:
            mtxt += f" [{c['model']}]"
        if c["model"] in ("off", "not chaotic", "none") and ref is not None:
            mtxt = f"**{mtxt}**"
        if ref is None and c["model"] == "chaotic":
            mtxt = f"**{mtxt}**"
        sup = r["pipeline_bench"]
        stxt = str(sup.get("lambda_supported_by", "-"))
        if sup.get("lambda_supported") is not None:
            stxt += f" {sup['lambda_supported']:.3g}{_pct(sup['lambda_supported'], ref)}"
        emb = r["embedding"]
        view = r["view"] + (
            f" (delay {emb['delay']} x {emb['dim']})" if emb.get("embedded") else ""
        )
        spread = "-" if c["spread"] is None else f"{c['spread']:.2f}"
        f = r["fit"]
        lines.append(
            f"| {r['system']} | {view} | {r['n_dims']} | "
            f"{'not chaotic' if ref is None else f'{ref:.4g}'} | {dtxt} | "
            f"{', '.join(_fmt(v) for v in r['lambda_members'])} | {mtxt} | {spread} | {stxt} | "
            f"{f['best_seed']}, {f['range_failed']} | "
            f"{r['seconds_fit'] + r['seconds_evaluate']:.0f} |"
        )
    return "\n".join([*lines, "", *tallies(rows, cls)])


def _model_cell(r: dict[str, Any] | None, refs: dict[str, Any]) -> str:
    """The model median with its error (bold where off, 'not chaotic' or a chaotic control),
    the seeds' range in brackets."""
    if r is None:
        return ""
    c = classes(r, refs)
    med = r["lambda_median"]
    numbered = c["model"] in ("ok20", "ok30", "off")
    txt = f"{_fmt(med)}{_pct(med, c['ref']) if numbered else ''}"
    if not numbered:
        txt += f" [{c['model']}]"
    wrong = ("chaotic",) if c["ref"] is None else ("off", "not chaotic", "none")
    if c["model"] in wrong:
        txt = f"**{txt}**"
    return f"{txt} [{_fmt(r['lambda_min'])}, {_fmt(r['lambda_max'])}]"


def combined(done: dict[str, dict[str, Any]]) -> str:
    """One row per case: the data estimate, the model median of each ensemble (seeds 0-2 and
    3-5, the pipeline's forcing) and of seeds 0-2 with ``forcing="select"``, and what the
    pipeline supports (compare_lyapunov on the benchmark's data estimate) for each ensemble."""
    refs = json.loads(bench.REFS.read_text())
    order = [k for g in GROUPS.values() for k in g]
    lines = [
        "| system | view | reference | data (benchmark) | model, seeds 0-2 [range] "
        "| model, seeds 3-5 [range] | model, forcing select, seeds 0-2 | supported (0-2 / 3-5) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for system, view in order:
        base = done.get(case_key(system, view))
        if base is None or "error" in base:
            continue
        other = done.get(case_key(system, view, 3))
        sel = done.get(case_key(system, view, 0, "select"))
        c = classes(base, refs)
        d = base["data_bench"] or {}
        dtxt = str(d.get("verdict", "-"))
        if d.get("verdict") == "chaotic" and d.get("lambda") is not None:
            dtxt = f"{d['lambda']:.3g}{_pct(d['lambda'], c['ref'])}"
        if c["data"] in ("off", "missed", "WRONG"):
            dtxt = f"**{dtxt}**"
        sup = []
        for r in (base, other):
            if r is None or "error" in r:
                sup.append("")
                continue
            ps = r["pipeline_bench"]
            lam = ps.get("lambda_supported")
            by = str(ps.get("lambda_supported_by"))
            sup.append(by if lam is None else f"{by} {_fmt(lam)}{_pct(lam, c['ref'])}")
        emb = base["embedding"]
        vtxt = view + (f" (delay {emb['delay']} x {emb['dim']})" if emb.get("embedded") else "")
        ref = c["ref"]
        lines.append(
            f"| {system} | {vtxt} | {'not chaotic' if ref is None else f'{ref:.4g}'} | {dtxt} | "
            f"{_model_cell(base, refs)} | {_model_cell(other, refs)} | "
            f"{_model_cell(sel, refs)} | {' / '.join(sup)} |"
        )
    return "\n".join(lines)


def variants(done: dict[str, dict[str, Any]]) -> str:
    """Rows fitted with another first seed or forcing option, beside the default fit of the
    same case (model median per unit time, its error against the reference)."""
    refs = json.loads(bench.REFS.read_text())
    lines = [
        "| system | view | variant | model seeds | model median | default fit's median | data |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in done.values():
        if "error" in r or (r.get("fit_seed", 0), r.get("forcing_option", "auto")) == (0, "auto"):
            continue
        ref = refs.get(r["system"], {}).get("lambda_max") if r["system"] not in CONTROLS else None
        base = done.get(case_key(r["system"], r["view"]))
        var = f"seeds {r['fit_seed']}-{r['fit_seed'] + r['n_seeds'] - 1}"
        if r.get("seed", SEED) != SEED:
            var += f", data seed {r['seed']}"
        if r.get("forcing_option", "auto") != "auto":
            var += f", forcing {r['forcing_option']} ({r['fit']['forcing']}"
            var += f" alpha {r['fit']['alpha']})" if r["fit"]["forcing"] == "gtf" else ")"
        d = r["data_bench"] or {}
        dtxt = str(d.get("verdict"))
        if d.get("verdict") == "chaotic" and d.get("lambda") is not None:
            dtxt = f"{d['lambda']:.3g}{_pct(d['lambda'], ref)}"
        bmed = base["lambda_median"] if base else None
        lines.append(
            f"| {r['system']} | {r['view']} | {var} | "
            f"{', '.join(_fmt(v) for v in r['lambda_members'])} | "
            f"{_fmt(r['lambda_median'])}{_pct(r['lambda_median'], ref)} | "
            f"{_fmt(bmed)}{_pct(bmed, ref)} | {dtxt} |"
        )
    return "\n".join(lines) if len(lines) > 2 else ""


def supported(done: dict[str, dict[str, Any]], forcing: str) -> str:
    """Which number to report where data and models agree: the fit's own data estimate (on
    its training part, what the pipeline compares with), the models' median, or their
    geometric mean, against the reference. Every finished chaotic case trained with
    ``forcing``, over every data realisation and ensemble; the tally counts the cases where
    the pipeline's comparison says "data and model" agree."""
    refs = json.loads(bench.REFS.read_text())
    lines = [
        "| system | view | data seed | fit seeds | reference | data (fit's) | models' median "
        "| geometric mean | pipeline says | forcing won |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    errs: dict[str, list[float]] = {"data": [], "model": [], "geo": []}
    closer = 0
    for r in sorted(done.values(), key=lambda r: (r["system"], r["view"], r.get("seed", 0))):
        if "error" in r or r["system"] in CONTROLS or r.get("forcing_option") != forcing:
            continue
        ref = refs[r["system"]]["lambda_max"]
        d = r["data_fit"] or {}
        p = r["pipeline"]
        lam_d = d.get("lambda") if d.get("verdict") == "chaotic" else None
        lam_m = p.get("lambda_max_model_median")
        ok = lam_d is not None and lam_m is not None and lam_d > 0 and lam_m > 0
        geo = math.sqrt(lam_d * lam_m) if ok else None
        agree = p.get("lambda_supported_by") == "data and model"
        if agree and ok:
            for k, v in (("data", lam_d), ("model", lam_m), ("geo", geo)):
                errs[k].append(abs(v / ref - 1))
            closer += abs(lam_m / ref - 1) < abs(lam_d / ref - 1)
        f = r["fit"]
        won = f["forcing"] + (f" {f['alpha']:.3g}" if f["forcing"] == "gtf" else f" {f.get('tau')}")
        lines.append(
            f"| {r['system']} | {r['view']} | {r.get('seed', 0)} | {r['fit_seed']}-"
            f"{r['fit_seed'] + r['n_seeds'] - 1} | {ref:.4g} | "
            f"{d.get('verdict') if lam_d is None else _fmt(lam_d) + _pct(lam_d, ref)} | "
            f"{_fmt(lam_m)}{_pct(lam_m, ref)} | {_fmt(geo)}{_pct(geo, ref)} | "
            f"{p.get('lambda_supported_by')} | {won} |"
        )
    n = len(errs["data"])
    out = [*lines, ""]
    if n:
        out.append(f"Where the pipeline says data and models agree ({n} fits):")
        for k, name in (("data", "data"), ("model", "models' median"), ("geo", "geometric mean")):
            e = np.asarray(errs[k])
            out.append(
                f"- {name}: within 20 % {int((e <= 0.2).sum())}/{n}, within 30 % "
                f"{int((e <= 0.3).sum())}/{n}, median |error| {100 * np.median(e):.1f} %, "
                f"IQR [{100 * np.percentile(e, 25):.1f}, {100 * np.percentile(e, 75):.1f}] %, "
                f"max {100 * e.max():.0f} %"
            )
        out.append(f"- the models' median closer to the reference than the data in {closer}/{n}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--groups", default="main", help=f"comma-separated of {list(GROUPS)}")
    p.add_argument("--only", default=None, help="comma-separated system names")
    p.add_argument("--max-minutes", type=float, default=1.0, help="training budget per fit")
    p.add_argument("--seeds", type=int, default=3, help="seeds (one ensemble)")
    p.add_argument("--fit-seed", type=int, default=0, help="the ensemble's first seed")
    p.add_argument("--forcing", default="auto", help="train_fit's forcing option")
    p.add_argument(
        "--data-seed", type=int, default=SEED, help="the series' realisation (orbit, noise)"
    )
    p.add_argument(
        "--supported",
        action="store_true",
        help="only print the data, the models' median and their geometric mean where the "
        "pipeline says they agree, over every ensemble trained with --forcing",
    )
    p.add_argument("--results", default=str(OUT))
    p.add_argument(
        "--combined", action="store_true", help="only print one row per case, every variant"
    )
    p.add_argument(
        "--table", action="store_true", help="only print the table (of --fit-seed, --forcing)"
    )
    args = p.parse_args(argv)
    path = Path(args.results)
    if not args.table:
        todo = [k for g in args.groups.split(",") for k in GROUPS[g]]
        if args.only:
            keep = set(args.only.split(","))
            todo = [k for k in todo if k[0] in keep]
        for system, view in todo:
            k = case_key(system, view, args.fit_seed, args.forcing, args.data_seed)
            if k in load(path):
                continue
            t0 = time.perf_counter()
            try:
                r = run_case(
                    system,
                    view,
                    args.max_minutes,
                    args.seeds,
                    args.fit_seed,
                    args.forcing,
                    args.data_seed,
                )
            except Exception as err:
                traceback.print_exc()
                r = {"system": system, "view": view, "n": N, "seed": args.data_seed,
                     "fit_seed": args.fit_seed, "forcing_option": args.forcing,
                     "error": f"{type(err).__name__}: {err}"[:300]}  # fmt: skip
            append(r, path)
            print(
                f"{k}: model {r.get('lambda_members')} data "
                f"{(r.get('data_bench') or {}).get('lambda')} "
                f"({time.perf_counter() - t0:.0f} s)",
                flush=True,
            )
    done = load(path)
    if args.combined:
        print(combined(done))
        return 0
    if args.supported:
        print(supported(done, args.forcing))
        return 0
    chosen = {
        k: r
        for k, r in done.items()
        if (r.get("fit_seed", 0), r.get("forcing_option", "auto"), r.get("seed", SEED))
        == (args.fit_seed, args.forcing, args.data_seed)
    }
    print(table(chosen))
    other = variants(done)
    if other:
        print("\nOther seeds and forcing options, beside the default fit:\n")
        print(other)
    return 0


if __name__ == "__main__":
    sys.exit(main())
