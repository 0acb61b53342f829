"""Does validation keep the right training state, and what does patience cost? (issue 12)

For each data set and repeat: one fit with the pipeline's automatic choices
(:func:`neurodsr.api.train_fit` with nothing set but dt and the budget), except patience off
and a fixed budget, so that every fit trains its whole budget. At every validation (the
trainer's ``on_validate`` hook, whose time is not counted against the budget) the track
records, for each member (seed):

- the validation the trainer saw: its score (sqrt(D_stsp x D_H), inf when invalid), D_stsp,
  D_H and why a member was invalid;
- the score of that same state on the set's separate test part (the last 20 %), as
  ``benchmarks/quality.py`` and the pipeline score it: one free run from the first test
  state, :func:`~neurodsr.metrics.evaluate.scored_length` steps (5x the test part),
  :func:`~neurodsr.metrics.evaluate.free_run_scores` (D_stsp of the whole run, D_H averaged
  over segments of the test part's length), and its fraction outside the test part's range.

The sets, their loading, normalisation and the split are quality.py's (imported, not
copied). Runs in model units, so only for sets the sizing rule gives an identity or affine
observation (below 32 dims: no PCA).

From the tracks (``--analyse``, no new fits):

(a) per member, whether the state with the best validation is (near) the best on test, and the
    Spearman rank correlation of validation against test over the states;
(b) patience replayed: where patience P (10, 20, 40 validations in a row in which no member
    improved, as the trainer counts) would have stopped, the states it would have kept (each
    member's best validation up to then) and the member the pipeline would pick (the lowest
    kept validation score; the final range check is not replayed), against patience off: the
    test score of the picked state and the training time saved;
(c) whether the test score still improves after the point patience 20 would stop.

``--variant KEY=VALUE[,KEY=VALUE]`` (repeatable) trains the fit with train_fit's settings
overridden (``alpha=0.03``, ``lr=1e-3``, ``model=clipped_shplrnn``, ``hidden=200``,
``latent_reg=0.1``, ...); the row's ``variant`` ("" the default) is part of the resume key,
the tables are grouped by it and a last table compares each variant's pick with the
default's (docs/RESULTS.md section 6, session 13). ``--out`` may end in .jsonl.gz.

The test score of a state is sqrt(D_stsp_5x x D_H_5x) (validation's form on the test part;
inf for a run that is not finite); D_stsp_5x alone is reported too.

    .venv/bin/python benchmarks/val_track.py --repeats 2 --max-minutes 2 \\
        --sets shared:eeg_delay_embedded_10d lorenz63_noisy shared:roessler_dt0.1 lorenz96_20
    .venv/bin/python benchmarks/val_track.py --analyse        # tables from the jsonl
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import re
import time
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch
from scipy.stats import spearmanr

from neurodsr.api import train_fit
from neurodsr.metrics.core import fraction_outside
from neurodsr.metrics.evaluate import free_run_scores, scored_length
from neurodsr.models.base import LatentModel
from neurodsr.training.config import TrainConfig
from neurodsr.training.defaults import FIT_DEFAULTS
from neurodsr.training.fitting import validation_split
from neurodsr.training.validation import (
    RANGE_RUN,
    MemberValidation,
    _predictions,
    _range_verdict,
    free_runs,
    validation_score,
)
from quality import (
    HERE,
    load_set,
    split_normalised,
)  # benchmarks/quality.py: the sets, as its rows load them

SETS = [
    "shared:eeg_delay_embedded_10d",
    "lorenz63_noisy",
    "shared:roessler_dt0.1",
    "lorenz96_20",
    "shared:temperature_delay_embedded_5d",
]
PATIENCES = (10, 20, 40)
NEAR = 1.1
# quality.py's "fixed" method (today's fixed default before issue 12), for --method fixed:
# validated on the training part, 1000 epochs (the budget an upper bound)
FIXED = dict(
    forcing="gtf",
    alpha=0.1,
    model="shplrnn",
    hidden=50,
    observation="identity",
    val_fraction=0.0,
    epochs=1000,
)  # "near the test's best": within 10 % of the best test score over the states


# --------------------------------------------------------------------------- variants
def _value(text: str) -> int | float | str | None:
    """A variant's value: int, else float, else "none" -> None, else the string."""
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return None if text.lower() == "none" else text


def parse_variant(spec: str) -> dict[str, Any]:
    """``"alpha=0.3,lr=1e-3"`` -> ``{"alpha": 0.3, "lr": 0.001}``: overrides of
    :func:`~neurodsr.api.train_fit`'s settings (its own and TrainConfig's); "" or "default":
    none. Values are parsed as int, float, None ("none") or str."""
    if spec in ("", "default"):
        return {}
    out: dict[str, Any] = {}
    for item in spec.split(","):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SystemExit(f"--variant {spec!r}: expected key=value[,key=value...]")
        out[key.strip()] = _value(value.strip())
    return out


def variant_label(spec: str) -> str:
    """The variant as stored (``variant`` of a row): its settings sorted by key, "" for the
    default."""
    return ",".join(f"{k}={v}" for k, v in sorted(parse_variant(spec).items()))


# --------------------------------------------------------------------------- scoring
def test_score(d: float, h: float) -> float:
    """sqrt(D_stsp x D_H) with validation's floors (inf when D_stsp is not finite)."""
    if not math.isfinite(d):
        return math.inf
    h = 1.0 if not math.isfinite(h) else h
    return math.sqrt(max(d, 1e-3) * max(h, 1e-6))


@torch.no_grad()
def score_states(model: LatentModel, test: np.ndarray, ref: np.ndarray) -> dict[str, list]:
    """Every member's current state on the test part: a free run of scored_length(len(test))
    steps from the first test state (quality.py's run), scored by free_run_scores against
    ``ref``. test, ref: (n_test, N) normalised; returns lists of length E."""
    x0 = torch.as_tensor(test[:1], dtype=torch.float32)  # (1, N)
    z = model.init_state(x0.unsqueeze(0).expand(model.n_models, -1, -1).contiguous())
    states = model.generate(z, scored_length(len(test)))  # (T, E, 1, D)
    free = model.readout(states[:, :, 0].transpose(0, 1)).double().cpu().numpy()  # (E, T, N)
    out: dict[str, list] = {"test_dstsp": [], "test_dh": [], "test_outside": []}
    for run in free:
        s = free_run_scores(ref, run)
        out["test_dstsp"].append(float(s["D_stsp"]))
        out["test_dh"].append(float(s["D_H"]) if math.isfinite(s["D_H"]) else 1.0)
        out["test_outside"].append(float(fraction_outside(ref, run)))
    return out


@torch.no_grad()
def range_by(
    model: LatentModel, x_ref: np.ndarray, n_eval: int, n_starts: int, x_range: np.ndarray
) -> dict[str, list]:
    """Validation's range verdict on its own runs and predictions (the same starts, lengths
    and transient as :func:`~neurodsr.training.validation.validate`), judged by the range of
    ``x_ref`` (``why_ref``: what validation did before 69c83c8) and by the range of the whole
    training part ``x_range`` (``why_train``: what validation does since, and the range check
    after training), and the fraction of the runs outside each."""
    runs = free_runs(model, x_ref, n_eval, n_starts, 200)
    preds = _predictions(model, x_ref, 20, 10)
    out: dict[str, list] = {"why_ref": [], "why_train": [], "out_ref": [], "out_train": []}
    for e in range(model.n_models):
        for key, rng in (("ref", x_ref), ("train", x_range)):
            o, _, why = _range_verdict(
                rng,
                runs[e],
                preds[e],
                margin=0.5,
                max_outside=0.05,
                n_pred=20,
                range_steps=RANGE_RUN,
            )
            out[f"why_{key}"].append(why)
            out[f"out_{key}"].append(o)
    return out


def run_one(
    set_name: str,
    repeat: int,
    args: argparse.Namespace,
    method: str = "auto",
    variant: str = "",
) -> dict[str, Any] | None:
    """One fit and its track: ``method`` "auto" (the pipeline's automatic choices, patience
    off) or "fixed" (quality.py's fixed default, :data:`FIXED`), with the settings of
    ``variant`` (:func:`parse_variant`: "key=value,..." overriding train_fit's; "" none)."""
    data = load_set(set_name, args.n)
    if data is None:
        print(f"skip {set_name}: no such shared file")
        return None
    x, clean, dt = data
    n_train, xn, test, ref = split_normalised(x, clean)
    # the series validation starts its runs from (train()'s x_ref: the validation part, or
    # the first eval_steps samples without one), and the whole training part, whose range
    # validation (since 69c83c8; before: x_ref's) and the range check after training judge by
    cfg = TrainConfig()
    opts: dict[str, Any] = {}
    if method == "fixed":
        opts = {**FIXED, "latent": x.shape[1]}
    overrides = parse_variant(variant)
    opts = {**opts, **overrides}
    val_fraction = opts.get("val_fraction", FIT_DEFAULTS["val_fraction"])
    n_val = validation_split(xn[:n_train], val_fraction, cfg.seq_len)
    x_ref = xn[n_train - n_val : n_train] if n_val else xn[: min(cfg.eval_steps, n_train)]
    n_eval = cfg.eval_steps if n_val else len(x_ref)
    x_range = xn[:n_train]
    track: list[dict[str, Any]] = []
    hook_s = [0.0]

    def on_validate(epoch: int, model: LatentModel, val: MemberValidation, seconds: float):
        t = time.perf_counter()
        row = {
            "epoch": epoch,
            "seconds": seconds,
            "val_score": list(val.score),
            "val_dstsp": list(val.dstsp),
            "val_dh": list(val.dh),
            "val_why": list(val.why),
            **score_states(model, test, ref),
            **(
                range_by(model, x_ref, n_eval, cfg.val_starts, x_range)
                if args.range_replay
                # validation judges by the training part's range since 69c83c8: its own
                # verdicts and fractions are the "train" columns (no replay of the old one)
                else {"why_train": list(val.why), "out_train": list(val.outside)}
            ),
        }
        track.append(row)
        hook_s[0] += time.perf_counter() - t

    t0 = time.perf_counter()
    fit = train_fit(
        x,
        dt,
        seeds=args.ensemble,
        seed=1000 * repeat,
        n_train=n_train,
        max_minutes=args.max_minutes,
        patience=None,
        progress=False,
        threads=1,
        on_validate=on_validate,
        **opts,
    )
    wall = time.perf_counter() - t0
    s = fit.summary
    if s.model.get("projection"):
        raise SystemExit(f"{set_name}: a PCA observation (the track scores model units)")
    final = score_states(fit.model, test, ref)  # the kept states, as the pipeline returns them
    return {
        "set": set_name,
        "method": method,
        "variant": variant,
        "overrides": overrides,
        "repeat": repeat,
        "budget_min": args.max_minutes,
        "seeds": list(s.seeds),
        "best_member": int(fit.best),
        "best_epoch": list(fit.log.best_epoch),
        "range_why": list(s.range_check.get("why", [])),
        "model": s.model.get("name"),
        "latent": s.model.get("latent_dim"),
        "hidden": s.model.get("hidden_dim"),
        "observation": s.model.get("observation"),
        "forcing": s.forcing,
        "alpha": s.alpha,
        "tau": s.tau,
        "n_train": n_train,
        "n_validation": s.n_validation,
        "n_test": len(test),
        "scored_steps": scored_length(len(test)),
        "epochs": s.epochs_run,
        "stopped": s.stopped,
        "train_seconds": float(s.train_seconds),
        "lr": fit.summary.train.get("lr"),
        "latent_reg": fit.summary.train.get("latent_reg"),
        "hook_seconds": hook_s[0],
        "wall_seconds": wall,
        "final": final,
        "track": track,
    }


# --------------------------------------------------------------------------- analysis
def arrays(row: dict[str, Any]) -> dict[str, np.ndarray]:
    """The track as arrays (V validations x E members); ``test``: the test score."""
    t = row["track"]
    a = {k: np.array([r[k] for r in t], dtype=float) for k in ("val_score", "test_dstsp")}
    a["test_dh"] = np.array([r["test_dh"] for r in t], dtype=float)
    a["test"] = np.vectorize(test_score)(a["test_dstsp"], a["test_dh"])
    # the validation score had its range been judged by the whole training part: D_stsp and
    # D_H are computed for runs that stay finite, so only the verdict changes
    a["val_alt"] = np.array(
        [
            [
                validation_score(d, h)
                if not w and math.isfinite(d) and math.isfinite(h)
                else math.inf
                for d, h, w in zip(r["val_dstsp"], r["val_dh"], r["why_train"], strict=True)
            ]
            for r in t
        ]
    )
    a["seconds"] = np.array([r["seconds"] for r in t], dtype=float)
    a["out_train"] = np.array([r["out_train"] for r in t], dtype=float)
    a["epoch"] = np.array([r["epoch"] for r in t])
    return a


def replay(
    val: np.ndarray, patience: int | None, outside: np.ndarray | None = None
) -> tuple[int, np.ndarray, int]:
    """The trainer's patience on a track of validation scores (V, E): (index of the last
    validation run, each member's kept index (best validation so far, the first of equals;
    the first when never valid), the member picked: the lowest kept score)."""
    best = np.full(val.shape[1], math.inf)
    # KeepBest copies the whole state at the first validation: a member never valid is kept
    # (and returned) as it was then
    kept = np.zeros(val.shape[1], dtype=int)
    since = 0
    stop = len(val) - 1
    for v, scores in enumerate(val):
        better = scores < best
        kept[better], best[better] = v, scores[better]
        since = 0 if better.any() else since + 1
        if patience is not None and since >= patience:
            stop = v
            break
    # select.best_member: the lowest kept score, the first of equals; when no member was ever
    # valid, the one whose kept state's runs were least outside the range (``outside`` (V, E):
    # validation's runs judged by the training part, a stand-in for the range check after
    # training, which runs the kept states again)
    if np.isfinite(best).any() or outside is None:
        member = int(np.argmin(best))
    else:
        member = int(np.argmin(outside[kept, np.arange(len(kept))]))
    return stop, kept, member


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Rank correlation over states (inf ranks last; nan when either side is constant)."""
    ok = ~(np.isnan(a) | np.isnan(b))
    a, b = np.where(np.isinf(a[ok]), 1e300, a[ok]), np.where(np.isinf(b[ok]), 1e300, b[ok])
    if len(a) < 3 or np.all(a == a[0]) or np.all(b == b[0]):
        return math.nan
    return float(spearmanr(a, b).statistic)


def fmt(v: float) -> str:
    return "inf" if math.isinf(v) else "nan" if math.isnan(v) else f"{v:.3g}"


def med_range(vals: list[float]) -> str:
    v = np.array([u for u in vals if not math.isnan(u)], dtype=float)
    if not len(v):
        return "-"
    how = "nearest" if np.isinf(v).any() else "linear"
    return f"{fmt(float(np.percentile(v, 50, method=how)))} [{fmt(v.min())}, {fmt(v.max())}]"


def analyse(rows: list[dict[str, Any]], key: str = "val_score") -> str:
    """The tables (a)-(c) with validation's score ``key``: "val_score" (what training saw) or
    "val_alt" (its range judged by the whole training part)."""
    out: list[str] = []
    # (a) per member
    out += [
        "(a) Per member (seed): validation's best state against the test's best",
        "",
        "| set | runs x seeds | validations per run | invalid validations | Spearman "
        "val vs test, median [min, max] | test at val-best / test-best, median [min, max] | "
        f"val-best within {NEAR:g}x of test-best | epoch of val-best, median [min, max] | "
        "epoch of test-best, median [min, max] |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    per_set: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        per_set.setdefault(label(r), []).append(r)
    for name, rs in per_set.items():
        rho, ratio, near, ep_v, ep_t, n_inv, n_all = [], [], 0, [], [], 0, 0
        n_val = []
        for r in rs:
            a = arrays(r)
            n_val.append(len(a["epoch"]))
            n_inv += int(np.isinf(a[key]).sum())
            n_all += a[key].size
            for e in range(a[key].shape[1]):
                v, t = a[key][:, e], a["test"][:, e]
                rho.append(spearman(v, t))
                if np.isinf(v).all():
                    continue
                iv, it = int(np.argmin(v)), int(np.argmin(t))
                ratio.append(t[iv] / t[it])
                near += bool(t[iv] <= NEAR * t[it])
                ep_v.append(float(a["epoch"][iv]))
                ep_t.append(float(a["epoch"][it]))
        n_m = sum(len(r["seeds"]) for r in rs)
        out.append(
            f"| {name} | {len(rs)} x {len(rs[0]['seeds'])} | {med_range(n_val)} | "
            f"{n_inv}/{n_all} | {med_range(rho)} | {med_range(ratio)} | {near}/{n_m} | "
            f"{med_range(ep_v)} | {med_range(ep_t)} |"
        )
    # (b) patience replayed
    out += [
        "",
        "(b) Patience replayed on the tracks (patience off: the whole budget). Test score "
        "sqrt(D_stsp_5x x D_H_5x) and D_stsp_5x of the picked member's kept state, each run; "
        "seconds trained",
        "",
        "| set | repeat | off: test (D_stsp_5x) | "
        + " | ".join(f"P = {p}: stop s, test (D_stsp_5x)" for p in PATIENCES)
        + " | best test state of the run (D_stsp_5x) | the fit's own pick, after its range "
        "check (D_stsp_5x) |",
        "|---|---|---|" + "---|" * len(PATIENCES) + "---|---|",
    ]
    summary: dict[str, dict[str, list[float]]] = {}
    for r in rows:
        a = arrays(r)
        cells = []
        sm = summary.setdefault(label(r), {})
        for p in (None, *PATIENCES):
            stop, kept, m = replay(a[key], p, a["out_train"])
            k = kept[m]
            t, d = a["test"][k, m], a["test_dstsp"][k, m]
            sec = a["seconds"][stop]
            cells.append((f"{sec:.0f} s, " if p is not None else "") + f"{fmt(t)} ({fmt(d)})")
            sm.setdefault(f"test_{p}", []).append(t)
            sm.setdefault(f"saved_{p}", []).append(1 - sec / a["seconds"][-1])
        ib = np.unravel_index(np.argmin(a["test"]), a["test"].shape)
        cells.append(
            f"{fmt(a['test'][ib])} ({fmt(a['test_dstsp'][ib])}), epoch {a['epoch'][ib[0]]}"
        )
        fin, b = r["final"], r["best_member"]
        t_fin = test_score(fin["test_dstsp"][b], fin["test_dh"][b])
        cells.append(f"seed {r['seeds'][b]}: {fmt(t_fin)} ({fmt(fin['test_dstsp'][b])})")
        out.append(f"| {label(r)} | {r['repeat']} | " + " | ".join(cells) + " |")
    out += [
        "",
        "Per set: the picked state's test score relative to patience off (median [min, max] "
        "over repeats; < 1: better than off) and the share of the budget saved",
        "",
        "| set | " + " | ".join(f"P = {p}: test / off, budget saved" for p in PATIENCES) + " |",
        "|---|" + "---|" * len(PATIENCES),
    ]
    for name, sm in summary.items():
        off = np.array(sm["test_None"])
        cells = []
        for p in PATIENCES:
            rel = [
                (t / o if math.isfinite(o) else math.nan)
                for t, o in zip(sm[f"test_{p}"], off, strict=True)
            ]
            cells.append(f"{med_range(rel)}, {med_range(sm[f'saved_{p}'])}")
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    cells = []
    for p in PATIENCES:
        pairs = [
            (t, o)
            for sm in summary.values()
            for t, o in zip(sm[f"test_{p}"], sm["test_None"], strict=True)
        ]
        worse = sum(t > 1.1 * o for t, o in pairs)
        better = sum(t < o / 1.1 for t, o in pairs)
        saved = [v for sm in summary.values() for v in sm[f"saved_{p}"]]
        cells.append(
            f"worse by > 10 % in {worse}, better in {better}, within 10 % in "
            f"{len(pairs) - worse - better} of {len(pairs)}; saved {med_range(saved)}"
        )
    out.append("| all runs | " + " | ".join(cells) + " |")
    # (c) late improvement
    out += [
        "",
        "(c) After the point patience 20 would stop: the best test score of any member's "
        "state before and after it, and of the validation-picked state (off) before / after",
        "",
        "| set | repeat | P = 20 stops at validation (of V), s | best test before stop | "
        "best test after stop | after / before | kept at stop -> kept with patience off |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        a = arrays(r)
        stop, kept, m = replay(a[key], 20, a["out_train"])
        if stop == len(a["test"]) - 1:
            out.append(f"| {label(r)} | {r['repeat']} | never (of {len(a['test'])}) | | | | |")
            continue
        before, after = np.min(a["test"][: stop + 1]), np.min(a["test"][stop + 1 :])
        _, k_off, m_off = replay(a[key], None, a["out_train"])
        t_stop, t_off = a["test"][kept[m], m], a["test"][k_off[m_off], m_off]
        out.append(
            f"| {label(r)} | {r['repeat']} | {stop + 1} (of {len(a['test'])}), "
            f"{a['seconds'][stop]:.0f} s | {fmt(before)} | {fmt(after)} | "
            f"{fmt(after / before)} | {fmt(t_stop)} -> {fmt(t_off)} |"
        )
    # the runs
    out += ["", "Runs:", ""]
    for r in rows:
        a = arrays(r)
        inv = [re.sub(r"[0-9.]+%", "N%", w) for t in r["track"] for w in t["val_why"] if w]
        inv = [
            w.replace("run N%", "free run outside").replace("pred N%", "n-step predictions outside")
            for w in inv
        ]
        n_inv = np.isinf(a[key]).sum(0).tolist()
        # the reproduction of validation's verdict against what it said
        n_diff = compact(r)["verdicts_differ"]
        out.append(
            f"- {label(r)} #{r['repeat']}: {r['model']} M = {r['latent']}, L = {r['hidden']}, "
            f"{r['observation']}, {r['forcing']} alpha {r['alpha']}, {r['epochs']} epochs in "
            f"{r['train_seconds']:.0f} s (+{r['hook_seconds']:.0f} s of test scoring), "
            f"{len(a['epoch'])} validations, n_val {r['n_validation']}, n_test {r['n_test']}; "
            f"picked seed {r['seeds'][r['best_member']]} (kept epochs {r['best_epoch']}), "
            f"range check {['ok' if not w else 'failed' for w in r['range_why']]}"
            + (f"; invalid validations per seed {n_inv}: {sorted(set(inv))}" if inv else "")
            + f"; verdicts reproduced differently: {n_diff}"
        )
    return "\n".join(out)


def variants_table(rows: list[dict[str, Any]]) -> str:
    """Per set and variant, median [min, max] over repeats: the fit's own pick (after its range
    check; the kept state of the chosen member) on test (D_stsp_5x, D_H_5x, fraction of its run
    outside the test part's range, runs not finite), the invalid member-validations, the epoch
    of the run's best test state (any member, any validation), and the epochs trained; "vs
    default": in how many repeats the pick's D_stsp_5x (D_H_5x) is lower than the default
    variant's pick of the same set and repeat."""
    out = [
        "| set | variant | repeats | pick D_stsp_5x | pick D_H_5x | pick outside | pick not "
        "finite | vs default: D_stsp_5x, D_H_5x lower | invalid validations | best test state: "
        "epoch | best test state: D_stsp_5x | epochs trained |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    default: dict[tuple[str, str, int], tuple[float, float]] = {}
    for r in rows:
        if not r.get("variant", ""):
            b = r["best_member"]
            key = (r["set"], r.get("method", "auto"), r["repeat"])
            default[key] = (r["final"]["test_dstsp"][b], r["final"]["test_dh"][b])
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        name = r["set"] if r.get("method", "auto") == "auto" else f"{r['set']} ({r['method']})"
        groups.setdefault((name, r.get("variant", "")), []).append(r)
    for (name, variant), rs in groups.items():
        d, h, o, ep_best, d_best, epochs = [], [], [], [], [], []
        n_inv = n_all = n_nonfinite = n_pair = d_lower = h_lower = 0
        for r in rs:
            b, fin = r["best_member"], r["final"]
            d.append(float(fin["test_dstsp"][b]))
            h.append(float(fin["test_dh"][b]))
            ref = default.get((r["set"], r.get("method", "auto"), r["repeat"]))
            if ref is not None and r.get("variant", ""):
                n_pair += 1
                d_lower += d[-1] < ref[0]
                h_lower += h[-1] < ref[1]
            o.append(float(fin["test_outside"][b]))
            n_nonfinite += not math.isfinite(d[-1])
            a = arrays(r)
            n_inv += int(np.isinf(a["val_score"]).sum())
            n_all += a["val_score"].size
            ib = np.unravel_index(np.argmin(a["test"]), a["test"].shape)
            ep_best.append(float(a["epoch"][ib[0]]))
            d_best.append(float(a["test_dstsp"][ib]))
            epochs.append(float(r["epochs"]))
        out.append(
            f"| {name} | {variant or 'default'} | {len(rs)} | {med_range(d)} | {med_range(h)} "
            f"| {med_range(o)} | {n_nonfinite}/{len(rs)} | "
            + (f"{d_lower}/{n_pair}, {h_lower}/{n_pair}" if n_pair else "-")
            + f" | {n_inv}/{n_all} | "
            f"{med_range(ep_best)} | {med_range(d_best)} | {med_range(epochs)} |"
        )
    return "\n".join(out)


def label(row: dict[str, Any]) -> str:
    """The set's name, with the method when it is not "auto" and the variant when it is not
    the default (rows stored before variants: the default)."""
    method, variant = row.get("method", "auto"), row.get("variant", "")
    name = row["set"] if method == "auto" else f"{row['set']} ({method})"
    return f"{name} [{variant}]" if variant else name


def short_why(why: str) -> str:
    """Why a member was invalid, in a few characters ("run 45%": of its free run outside the
    range; "pred 12%": of its n-step predictions; "" valid)."""
    m = re.match(r"([0-9.]+%) of its (free run|[0-9]+-step predictions)", why)
    if m:
        return ("run " if m.group(2) == "free run" else "pred ") + m.group(1)
    return why


def compact(row: dict[str, Any]) -> dict[str, Any]:
    """The row as stored: floats to 4 significant digits, the reasons short, the check of the
    reproduced verdicts (``why_train``, the training part's range that validation judges by
    since 69c83c8, against what validation said) as one count, the track column-wise
    (:func:`expand` undoes it). Rows stored before 69c83c8 counted ``why_ref`` instead."""

    def r4(v: Any) -> Any:
        if isinstance(v, float):
            return float(f"{v:.4g}") if math.isfinite(v) else v
        if isinstance(v, list):
            return [r4(u) for u in v]
        return v

    track = []
    n_diff = 0
    for t in row["track"]:
        t = dict(t)
        if t.pop("why_ref", None) is not None:  # a fresh row (a stored one keeps the count)
            pairs = zip(t["why_train"], t["val_why"], strict=True)
            n_diff += sum(bool(u) != bool(w) for u, w in pairs)
        for k in ("val_why", "why_train"):
            t[k] = [short_why(w) for w in t[k]]
        track.append({k: r4(v) for k, v in t.items()})
    # column-wise: one key per quantity, not per validation
    columns = {k: [t[k] for t in track] for k in track[0]} if track else {}
    return {**row, "verdicts_differ": row.get("verdicts_differ", 0) + n_diff, "track": columns}


def expand(row: dict[str, Any]) -> dict[str, Any]:
    """A stored row with its track as a list of validations again (as run_one returns it)."""
    t = row["track"]
    if isinstance(t, dict):
        n = len(next(iter(t.values()), []))
        row = {**row, "track": [{k: v[i] for k, v in t.items()} for i in range(n)]}
    return row


def _open(path: Path, mode: str) -> IO[str]:
    """The rows' file as text: gzip-compressed when its name ends in .gz (appending adds a
    gzip member, which reading joins)."""
    if path.suffix == ".gz":
        return gzip.open(path, mode + "t", encoding="utf-8")
    return path.open(mode, encoding="utf-8")


def read(path: Path) -> list[dict[str, Any]]:
    """The stored rows of ``path`` (.jsonl, or .jsonl.gz), their tracks expanded."""
    if not path.exists():
        return []
    with _open(path, "r") as f:
        return [expand(json.loads(line)) for line in f if line.strip()]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sets", nargs="+", default=SETS)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument(
        "--method", default="auto", choices=("auto", "fixed"), help="auto, or quality.py's fixed"
    )
    p.add_argument("--ensemble", type=int, default=3, help="seeds per fit")
    p.add_argument("--max-minutes", type=float, default=2.0, help="budget per fit")
    p.add_argument("--n", type=int, default=20_000, help="samples of the simulated sets")
    p.add_argument(
        "--out", type=Path, default=HERE / "val_track.jsonl", help="rows (.jsonl or .jsonl.gz)"
    )
    p.add_argument(
        "--variant",
        action="append",
        default=None,
        metavar="KEY=VALUE[,KEY=VALUE]",
        help="overrides of train_fit's settings for one variant (repeatable; 'default' or '' "
        "for none), e.g. --variant default --variant alpha=0.3 --variant model=clipped_shplrnn "
        "--variant hidden=200,lr=1e-3; values parsed as int/float/str",
    )
    p.add_argument(
        "--no-range-replay",
        dest="range_replay",
        action="store_false",
        help="do not rerun validation's runs in the hook to judge them by the old range (the "
        "validation series'); the stored range columns are then validation's own verdicts",
    )
    p.add_argument("--analyse", action="store_true", help="print the tables of --out and exit")
    args = p.parse_args()
    if args.analyse:
        rows = read(args.out)
        print(analyse(rows))
        print("\n## The same, validation's range judged by the whole training part\n")
        print(analyse(rows, "val_alt"))
        print("\n## Variants: the fit's own pick\n")
        print(variants_table(rows))
        return
    torch.set_num_threads(1)
    variants = [variant_label(v) for v in (args.variant or [""])]
    done = {
        (r["set"], r.get("method", "auto"), r.get("variant", ""), r["repeat"])
        for r in read(args.out)
    }
    for repeat in range(args.repeats):
        for s in args.sets:
            for v in variants:
                if (s, args.method, v, repeat) in done:
                    continue
                row = run_one(s, repeat, args, args.method, v)
                if row is None:
                    continue
                with _open(args.out, "a") as f:
                    f.write(json.dumps(compact(row), default=float) + "\n")
                a = arrays(row)
                b = row["best_member"]
                print(
                    f"{s} [{v}] #{repeat}: {row['epochs']} epochs, {len(a['epoch'])} "
                    f"validations, {row['train_seconds']:.0f} s (+{row['hook_seconds']:.0f} s "
                    f"scoring, {row['wall_seconds']:.0f} s wall); pick D_stsp_5x "
                    f"{row['final']['test_dstsp'][b]:.3g}, D_H_5x {row['final']['test_dh'][b]:.3g}",
                    flush=True,
                )
    print(variants_table(read(args.out)))


if __name__ == "__main__":
    main()
