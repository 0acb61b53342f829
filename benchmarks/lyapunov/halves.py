"""Is a "chaotic" number stable under halving the data, and across neighbour counts and
embedding dimensions? (issue 13 item 2; docs/RESULTS.md 5, session 11).

Run: ``OMP_NUM_THREADS=1 nice -n 19 .venv/bin/python benchmarks/lyapunov/halves.py
[--variants] [--seed S] [--only A,B] [--out FILE]``. Cases: every case of the benchmark (N = 20 000,
seed 0, 5 % noise) that the rows of code versions 6a705eb6e5,25db0eba5a,e700c584d1 of
``results.jsonl`` call "chaotic" (as ``compare.py`` picks them), and every control. For each
it reruns ``lyapunov_from_data`` with its defaults on the whole series (the row's number is
checked against it), then on the first and on the second half of the series (10 000 samples
each) with the whole series' delay and dimension fixed (everything else default, surrogate
test included). ``--variants`` adds, on the whole series, 4 and 16 Kantz neighbours (default
8) and one lag fewer / more per channel (dim - 1 only where it stays >= 1).

Prints one row per case (system half even/odd, class of the row, error of the whole series,
of each data half, the halves' relative difference D = |l1 - l2| / ((l1 + l2) / 2), the same
in bootstrap standard errors z = |l1 - l2| / sqrt(s1^2 + s2^2), and, with ``--variants``,
the largest / smallest lambda over the variants and their verdicts), then candidate rules
(a "chaotic" case made "unclear" where the rule fires) scored per system half: wrong cases
caught against right ones (within 30 %) made "unclear", and the wrong cases against the right
ones per quantity and system half. Every computed case is kept in ``--out``
(default ``.cache/halves.jsonl``, not committed) and not recomputed. ``--seed S`` (orbit,
noise and estimator seed) runs the same cases at another seed; their class there is the
whole series' rerun at that seed (the rows of ``results.jsonl`` are seed 0), and cases that
are not "chaotic" there drop out of the comparison.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare
import run

from neurodsr.dynamics.lyapunov import lyapunov_from_data
from neurodsr.dynamics.zoo import CONTROLS

VERSIONS = ["6a705eb6e5", "25db0eba5a", "e700c584d1"]


def _est(x: np.ndarray, dt: float, seed: int, **kw) -> dict:
    r = lyapunov_from_data(x, dt, seed=seed, **kw)
    lam = r.lambda_max if r.verdict == "chaotic" else None
    std = r.lambda_std if r.verdict == "chaotic" and np.isfinite(r.lambda_std) else None
    return {"verdict": r.verdict, "lambda": lam, "std": std, "delay": r.embedding["delay"],
            "dim": r.embedding["dim"], "reason": r.reason}  # fmt: skip


def compute(s: str, v: str, seed: int, variants: bool, old: dict | None) -> dict:
    x, dt = run.series({"system": s, "view": v, "n": 20_000, "seed": seed})
    out = dict(old or {"system": s, "view": v, "seed": seed})
    if "full" not in out:
        full = _est(x, dt, seed)
        h = x.shape[0] // 2
        fixed = {"delay": full["delay"], "dim": full["dim"]}
        out["full"] = full
        out["first"] = _est(x[:h], dt, seed, **fixed)
        out["second"] = _est(x[h:], dt, seed, **fixed)
    if variants and "variants" not in out:
        d, m = out["full"]["delay"], out["full"]["dim"]
        var = {"nn4": {"n_neighbors": 4, "delay": d, "dim": m},
               "nn16": {"n_neighbors": 16, "delay": d, "dim": m},
               "dim+1": {"delay": d, "dim": m + 1}}  # fmt: skip
        if m > 1:
            var["dim-1"] = {"delay": d, "dim": m - 1}
        out["variants"] = {k: _est(x, dt, seed, **kw) for k, kw in var.items()}
    return out


def _err(lam: float | None, ref: float | None) -> str:
    if lam is None:
        return "-"
    return f"{100 * (lam / ref - 1):+.0f} %" if ref else f"{lam:.3g}"


def _short(verdict: str) -> str:
    return {"chaotic": "C", "unclear": "U", "not chaotic": "N"}[verdict]


def quantities(c: dict) -> dict[str, float]:
    """D (relative difference of the halves), z (in standard errors), the variants' spread
    (max / min); inf where a half (or a variant) is not "chaotic"."""
    a, b = c["first"], c["second"]
    q = {"D": math.inf, "z": math.inf}
    if a["lambda"] is not None and b["lambda"] is not None:
        la, lb = a["lambda"], b["lambda"]
        q["D"] = abs(la - lb) / ((la + lb) / 2)
        s = math.hypot(a["std"] or 0.0, b["std"] or 0.0)
        q["z"] = abs(la - lb) / s if s > 0 else math.inf
    if "variants" in c:
        lams = [w["lambda"] for w in c["variants"].values()] + [c["full"]["lambda"]]
        q["spread"] = (
            max(lams) / min(lams) if all(v is not None and v > 0 for v in lams) else math.inf
        )
    return q


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variants", action="store_true")
    p.add_argument("--only", default=None)
    p.add_argument("--seed", type=int, default=0, help="orbit and noise (and estimator) seed")
    p.add_argument("--out", default=None, help="default .cache/halves[_seedS].jsonl")
    args = p.parse_args(argv)
    if args.out is None:
        tag = "" if args.seed == 0 else f"_seed{args.seed}"
        args.out = str(run.CACHE / f"halves{tag}.jsonl")
    refs = run.references()
    rows = compare.pick(run.load_results(), VERSIONS, 20_000, 0)
    todo = sorted(
        (k for k, r in rows.items() if r["verdict"] == "chaotic" or k[0] in CONTROLS),
        key=lambda k: (k[0] in CONTROLS, run.half(k[0]), k),
    )
    if args.only:
        todo = [k for k in todo if k[0] in args.only.split(",")]
    out = Path(args.out)
    out.parent.mkdir(exist_ok=True)
    done: dict[tuple[str, str], dict] = {}
    if out.exists():
        for line in out.read_text().splitlines():
            if line.strip():
                c = json.loads(line)
                done[(c["system"], c["view"])] = c
    for k in todo:
        c = done.get(k)
        if c is None or "full" not in c or (args.variants and "variants" not in c):
            t0 = time.perf_counter()
            c = compute(*k, args.seed, args.variants, c)
            c["seconds"] = time.perf_counter() - t0
            done[k] = c
            with open(out, "a") as fh:
                fh.write(json.dumps(c, sort_keys=True) + "\n")
            print(f"{k[0]} {k[1]}: {c['seconds']:.0f} s", file=sys.stderr, flush=True)
    if args.seed != 0:
        # the cases are those of seed 0; their class at this seed is the whole series' rerun
        rows = {
            k: {"system": k[0], "view": k[1], "verdict": done[k]["full"]["verdict"],
                "lambda": done[k]["full"]["lambda"]}
            for k in todo
        }  # fmt: skip
    head = "| half | case | view | class | whole | 1st half | 2nd half | D | z |"
    if args.variants:
        head += " variants max / min | variants' verdicts (nn4 nn16 dim+1 dim-1) |"
    print(head)
    print("|---" * (head.count("|") - 1) + "|")
    summary: dict[tuple[str, str], list[float]] = {}
    for k in todo:
        c, r = done[k], rows[k]
        s, v = k
        ref = refs.get(s, {}).get("lambda_max")
        cls = run.classify(r, refs)
        q = quantities(c)
        full = c["full"]
        same = (full["verdict"] == r["verdict"]) and (
            full["lambda"] is None
            or r.get("lambda") is None
            or abs(full["lambda"] / r["lambda"] - 1) < 0.005
        )
        line = (
            f"| {run.half(s)} | {s} | {v} | {cls}{'' if same else ' (rerun differs)'} | "
            f"{_short(full['verdict'])} {_err(full['lambda'], ref)} | "
            f"{_short(c['first']['verdict'])} {_err(c['first']['lambda'], ref)} | "
            f"{_short(c['second']['verdict'])} {_err(c['second']['lambda'], ref)} | "
            f"{q['D']:.2f} | {q['z']:.1f} |"
        )
        if args.variants and "variants" in c:
            line += (
                f" {q['spread']:.2f} | "
                + " ".join(_short(w["verdict"]) for w in c["variants"].values())
                + " |"
            )
        print(line)
        if s in CONTROLS:
            grp = "control"
        elif cls in ("off", "ok20", "ok30"):
            grp = "wrong" if cls == "off" else "right"
        else:
            continue  # not "chaotic" on the whole series at this seed
        for name, val in q.items():
            summary.setdefault((f"{grp} {run.half(s)}", name), []).append(val)

    def rng(vals: list[float]) -> str:
        if not vals:
            return "-"
        fin = sorted(vals)
        txt = ", ".join(f"{v:.2f}" for v in fin) if len(fin) <= 4 else (
            f"{fin[0]:.2f} - {fin[-1]:.2f} (median {fin[len(fin) // 2]:.2f})"
        )  # fmt: skip
        return txt

    # rules: a "chaotic" case becomes "unclear" where the rule fires; scored per system half
    rules = {
        "a half not chaotic": lambda c, q: math.isinf(q["D"]),
        "D > 0.10 (or a half not chaotic)": lambda c, q: q["D"] > 0.10,
        "D > 0.15 (or a half not chaotic)": lambda c, q: q["D"] > 0.15,
        "z > 2 (or a half not chaotic)": lambda c, q: q["z"] > 2,
    }
    if args.variants:
        rules |= {
            "a variant not chaotic": lambda c, q: math.isinf(q.get("spread", 0.0)),
            "dim - 1 not chaotic": lambda c, q: (
                c["variants"].get("dim-1", {}).get("verdict") not in (None, "chaotic")
            ),
            "variants max / min > 1.25 (or a variant not chaotic)": lambda c, q: (
                q.get("spread", 0.0) > 1.25
            ),
        }
    print("\n| rule (-> unclear) | even: wrong caught | even: right made unclear "
          "| odd: wrong caught | odd: right made unclear |")  # fmt: skip
    print("|---|---|---|---|---|")
    for label, fires in rules.items():
        cells = []
        for h in ("even", "odd"):
            wrong = right = n_wrong = n_right = 0
            for k in todo:
                skip = args.variants and "variants" not in done[k]
                cls = run.classify(rows[k], refs)
                if k[0] in CONTROLS or run.half(k[0]) != h or skip:
                    continue
                if cls not in ("off", "ok20", "ok30"):
                    continue
                is_wrong = cls == "off"
                hit = fires(done[k], quantities(done[k]))
                n_wrong += is_wrong
                n_right += not is_wrong
                wrong += hit and is_wrong
                right += hit and not is_wrong
            cells += [f"{wrong} of {n_wrong}", f"{right} of {n_right}"]
        print(f"| {label} | " + " | ".join(cells) + " |")

    print("\n| quantity | group | even half | odd half |")
    print("|---|---|---|---|")
    for name in ("D", "z", "spread"):
        for grp in ("wrong", "right", "control"):
            ev = summary.get((f"{grp} even", name), [])
            od = summary.get((f"{grp} odd", name), [])
            if ev or od:
                print(f"| {name} | {grp} | {rng(ev)} ({len(ev)}) | {rng(od)} ({len(od)}) |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
