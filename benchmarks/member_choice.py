"""Which member should validation keep? The training track's best score against a fresh look
at the kept states (issue 12, item 4).

One command, resumable (each (set, repeat) row is appended to ``--out`` when done; rows there
are skipped; ``--table`` prints the table of what is there):

    .venv/bin/python benchmarks/member_choice.py --sets lorenz63_noisy rate64 --repeats 3
    .venv/bin/python benchmarks/member_choice.py --table

Why: training keeps each member's state with the lowest validation score over its track and
then the pipeline keeps the member whose *kept* score is lowest. A minimum over a noisy track
is biased low (the winner's curse): the member whose track dipped furthest by chance wins,
whether or not its state is better. The demo's spike session in session 14 kept such a
member (validation 0.065 against its candidate's 0.070 and 0.072; test D_stsp 5.5 against a
median of 2.8). After training, the range check
(:func:`neurodsr.training.validation.check_range`) already runs every kept state freely for
as long as the evaluation does (``val_starts`` runs of 5x the held-out part each); scoring
those runs (:func:`~neurodsr.training.validation.score_runs`, against the training part, as
validation scores) costs only the metrics and is not biased by the choice of state.

For each set and repeat, one fit by the pipeline (``train_fit``: the sizing rule, GTF at the
default 0.1, ``--seeds`` members, ``--max-minutes``), then per member:

- ``track``: the kept score training recorded (inf where the range check failed): what the
  pipeline chooses by today;
- ``fresh``: the score of the range check's long runs from the kept state (inf where it
  failed);
- ``test``: sqrt(D_stsp x D_H) of the pipeline's scored free run (``evaluate``: 5x the held-out
  part from its first state) against the held-out part (the clean run for the noisy
  Lorenz-63), and its mean over ``--test-starts`` start states (less noisy);

and the regret of each rule's pick: its test score / the best member's test score
(1 = picked the best). The sets are ``benchmarks/quality.py``'s (its split: the last 20 % is
the test part). One thread per process; run two processes side by side on two cores at most.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.stats import spearmanr

from neurodsr.api import train_fit
from neurodsr.metrics.evaluate import evaluate, scored_length
from neurodsr.training.projection import ProjectedModel
from neurodsr.training.validation import MIN_RUN, RANGE_RUN, free_runs, score_runs
from quality import HERE, load_set, split_normalised  # the sets, as quality.py loads them

SETS = [
    "lorenz63_noisy",
    "shared:roessler_dt0.1",
    "lorenz96_20",
    "rate64",
    "shared:eeg_delay_embedded_10d",
    "shared:temperature_delay_embedded_5d",
]
RULES = ("track", "fresh")


def _score(d: float, h: float) -> float:
    """sqrt(D_stsp x D_H) (validation's combination), inf where not finite."""
    v = (
        math.sqrt(max(d, 1e-3) * max(h, 1e-6))
        if math.isfinite(d) and math.isfinite(h)
        else math.inf
    )
    return v if math.isfinite(v) else math.inf


def run_one(set_name: str, repeat: int, args: argparse.Namespace) -> dict[str, Any] | None:
    data = load_set(set_name, args.n)
    if data is None:
        print(f"skip {set_name}: no such shared file")
        return None
    x, clean, dt = data
    n_train, xn, test, ref = split_normalised(x, clean)
    t0 = time.perf_counter()
    fit = train_fit(
        x,
        dt,
        n_train=n_train,
        seeds=args.seeds,
        seed=1000 * repeat,
        forcing="gtf",
        model="auto",
        max_minutes=args.max_minutes,
        progress=False,
        threads=1,
    )
    seconds = time.perf_counter() - t0
    net = fit.model
    # the range check's runs, as train_fit made them: from the validation series' states
    n_val = fit.summary.n_validation
    x_train = xn[:n_train]
    x_val = x_train[n_train - n_val :]
    check_steps = max(MIN_RUN, scored_length(len(test)))
    n_starts = int(fit.summary.train.get("val_starts", 4))
    runs = free_runs(net, x_val, n_starts * check_steps, n_starts, 200)  # (E, K, T, N)
    head = max(MIN_RUN, RANGE_RUN, len(test))
    track = np.asarray(fit.summary.validation_score, dtype=np.float64)
    fresh, fresh_d, fresh_h = [], [], []
    for e in range(net.n_models):
        r = score_runs(x_val, runs[e], x_score=x_train, range_steps=head)
        ok = not fit.summary.range_check["why"][e]
        fresh.append(r.score if ok else math.inf)
        fresh_d.append(r.dstsp)
        fresh_h.append(r.dh)
    # the test: the pipeline's scored run from the first test state, and more starts
    starts = np.linspace(0, len(test) - 1, args.test_starts + 1)[:-1].astype(int)
    per_start = []
    for s in starts:
        ev = evaluate(net, ref, x_start=test[s])
        per_start.append([_score(m["D_stsp"], m["D_H"]) for m in ev.metrics])
    per_start = np.asarray(per_start)  # (starts, E)
    test_first = per_start[0]
    with np.errstate(invalid="ignore"):
        test_mean = np.where(np.isfinite(per_start).all(0), per_start.mean(0), np.inf)
    row = {
        "set": set_name,
        "repeat": repeat,
        "seeds": list(net.seeds),
        "members": int(net.n_models),
        "pipeline_best": int(fit.best),
        "track": [float(v) for v in track],
        "fresh": [float(v) for v in fresh],
        "fresh_dstsp": [float(v) for v in fresh_d],
        "fresh_dh": [float(v) for v in fresh_h],
        "test_first": [float(v) for v in test_first],
        "test_mean": [float(v) for v in test_mean],
        "range_failed": [bool(w) for w in fit.summary.range_check["why"]],
        "observation": fit.summary.model.get("observation"),
        "epochs": fit.summary.epochs_run,
        "train_seconds": fit.summary.train_seconds,
        "seconds": seconds,
        "budget_min": args.max_minutes,
        "check_steps": check_steps,
        "n_starts": n_starts,
        "test_starts": int(args.test_starts),
        "projected": isinstance(net, ProjectedModel),
        "cpu": _cpu(),
    }
    return row


def _cpu() -> str:
    """The CPU's model name, family and model (/proc/cpuinfo), or the machine type."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.machine()
    field = {
        k: re.search(rf"^{k}\s*:\s*(.*)$", info, re.M)
        for k in ("model name", "cpu family", "model")
    }
    return (
        " ".join(f"{k} {m.group(1).strip()}" for k, m in field.items() if m) or platform.machine()
    )


def _pick(scores: list[float]) -> int | None:
    v = np.asarray(scores, dtype=np.float64)
    return int(np.argmin(v)) if np.isfinite(v).any() else None


def _regret(pick: int | None, test: list[float]) -> float:
    t = np.asarray(test, dtype=np.float64)
    if pick is None or not np.isfinite(t).any():
        return math.nan
    best = np.min(t[np.isfinite(t)])
    return float(t[pick] / best) if math.isfinite(t[pick]) else math.inf


def _rho(a: list[float], b: list[float]) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3:
        return math.nan
    return float(spearmanr(a[ok], b[ok]).statistic)


def table(path: Path) -> str:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    lines = [
        "| set | fits | members | rho(track, test) | rho(fresh, test) | regret track "
        "| regret fresh | fresh better / worse / same pick |",
        "|---|---|---|---|---|---|---|---|",
    ]
    every: dict[str, list[float]] = {r: [] for r in RULES}
    tally_all = [0, 0, 0]
    for s in dict.fromkeys(r["set"] for r in rows):
        sub = [r for r in rows if r["set"] == s]
        reg: dict[str, list[float]] = {r: [] for r in RULES}
        rho: dict[str, list[float]] = {r: [] for r in RULES}
        tally = [0, 0, 0]
        for r in sub:
            test = r["test_mean"]
            picks = {k: _pick(r[k]) for k in RULES}
            for k in RULES:
                reg[k].append(_regret(picks[k], test))
                rho[k].append(_rho(r[k], test))
            a, b = reg["track"][-1], reg["fresh"][-1]
            i = 2 if picks["track"] == picks["fresh"] else (0 if b < a else 1)
            tally[i] += 1
            tally_all[i] += 1
        for k in RULES:
            every[k] += reg[k]

        def med(v: list[float]) -> str:
            v = [x for x in v if not math.isnan(x)]
            if not v:
                return "-"
            q = np.percentile(v, [50, 25, 75], method="nearest")  # inf-safe
            return f"{q[0]:.3g} [{q[1]:.3g}, {q[2]:.3g}]"

        lines.append(
            f"| {s} | {len(sub)} | {sub[0]['members']} | {med(rho['track'])} | "
            f"{med(rho['fresh'])} | {med(reg['track'])} | {med(reg['fresh'])} | "
            f"{tally[0]} / {tally[1]} / {tally[2]} |"
        )
    mean = {k: np.nanmean([v for v in every[k] if math.isfinite(v)] or [math.nan]) for k in RULES}
    lines.append(
        f"\nAll fits: mean regret (finite) track {mean['track']:.3g}, fresh {mean['fresh']:.3g}; "
        f"fresh picks a better / worse / the same member in {tally_all[0]} / {tally_all[1]} / "
        f"{tally_all[2]} fits. Regret = the pick's test score (mean over the test starts) / "
        "the best member's."
    )
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sets", nargs="+", default=SETS)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seeds", type=int, default=6, help="members per fit")
    p.add_argument("--max-minutes", type=float, default=2.0, help="training budget per fit")
    p.add_argument("--test-starts", type=int, default=3, help="start states of the test runs")
    p.add_argument("--n", type=int, default=20_000, help="samples of the simulated sets")
    p.add_argument("--out", type=Path, default=HERE / "member_choice.jsonl")
    p.add_argument("--table", action="store_true", help="print the table of --out and exit")
    args = p.parse_args()
    if args.table:
        print(table(args.out))
        return
    torch.set_num_threads(1)
    done = set()
    if args.out.exists():
        for line in args.out.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                done.add((r["set"], r["repeat"]))
    for repeat in range(args.repeats):
        for s in args.sets:
            if (s, repeat) in done:
                continue
            row = run_one(s, repeat, args)
            if row is None:
                continue
            with args.out.open("a") as f:
                f.write(json.dumps(row) + "\n")
            print(json.dumps(row), flush=True)
    print(table(args.out))


if __name__ == "__main__":
    main()
