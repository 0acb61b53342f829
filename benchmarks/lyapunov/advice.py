"""Does the advice of an "unclear" verdict hold? (issue 13 item 2; docs/RESULTS.md 5, session 12).

Run: ``OMP_NUM_THREADS=1 nice -n 19 .venv/bin/python benchmarks/lyapunov/advice.py
[--table] [--only A,B] [--follow baseline,longer,...] [--max-n N]``.

Cases: every chaotic case of the benchmark at N = 20 000, seed 0 that the rows of code versions
6a705eb6e5,25db0eba5a,e700c584d1 of ``results.jsonl`` (as ``compare.py`` picks them) call
"unclear" or give a number more than 30 % off. Each case is first rerun as it is
("baseline": the benchmark's series, 5 % noise, seed 0, ``lyapunov_from_data`` defaults), which
gives the advice the estimator prints today (``results.jsonl`` does not keep it). Then, in the
benchmark's own way (same system, 5 % observation noise, seed 0), each of:

- ``longer``: 100 000 samples at the zoo's dt (the same orbit continued: its first 20 000
  samples are the baseline's);
- ``finer2`` / ``finer4``: the same time span (20 000 x the zoo's dt) sampled 2x / 4x as often
  (dt / 2 with 40 000 samples, dt / 4 with 80 000; flows and the delay system only; the RK4 /
  Heun step is never coarser than the zoo's);
- ``more_state``: "all" instead of "one" (the benchmark's own "all" view; for an "all" view
  that sees a subset, twice as many coordinates, up to the full state).

The cases' advised follow-ups run first (phase 2, from the advice's "What would decide: ..."),
then the rest (phase 3), so a shortened run still answers the main question. Two more
follow-ups, for the high-dimensional cases (``--follow larger_dim,more_state_longer --cases
...``): ``larger_dim`` (the baseline's delay, two more lags per channel) and
``more_state_longer`` (the ``more_state`` view at 100 000 samples). ``--cases sys:view,...``
runs the named cases instead of the failing ones (no phase 2), ``--seed S`` at another orbit,
noise and estimator seed, ``--check`` reruns 3 baselines at the current code against
e700c584d1. Every result is one JSON line in ``advice.jsonl`` (resumable: a (case, follow-up,
seed) already there at an accepted code version, :data:`ACCEPT`, is skipped). ``--table``
prints the per-case tables (one per seed) and the tallies from the file.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare
import run

from neurodsr.dynamics import zoo
from neurodsr.dynamics.lyapunov import lyapunov_from_data

VERSIONS = ["6a705eb6e5", "25db0eba5a", "e700c584d1"]
OUT = run.HERE / "advice.jsonl"
FOLLOWS = ("baseline", "longer", "finer2", "finer4", "more_state")
N0, NOISE, SEED = 20_000, 0.05, 0
N_LONG = 100_000


def failing_cases() -> list[tuple[str, str, str]]:
    """(system, view, class) of the "unclear" and wrong ("off") chaotic cases at N = 20 000,
    seed 0, as the section 5 tally counts them."""
    refs = run.references()
    best = compare.pick(run.load_results(), VERSIONS, N0, SEED)
    out = []
    for (s, v), r in sorted(best.items()):
        if s in zoo.SYSTEMS and run.classify(r, refs) in ("unclear", "off"):
            out.append((s, v, run.classify(r, refs)))
    return out


def _cache(name: str) -> Path:
    run.CACHE.mkdir(exist_ok=True)
    return run.CACHE / name


def orbit(name: str, n: int, factor: int = 1, seed: int = SEED) -> np.ndarray:
    """Noise-free full state, shape (n, n_state): ``n`` samples at dt / ``factor``.

    factor 1 uses run.py's cache names (and slices a longer cached orbit: the first n samples
    of a longer orbit are the same orbit, same initial state and transient).
    """
    if factor == 1:
        for m in (n, N_LONG):
            p = _cache(f"{name}_{m}_{seed}.npy")
            if m >= n and p.exists():
                return np.load(p, allow_pickle=False)[:n]
        x = zoo.simulate_clean(name, n, seed=seed)
        np.save(_cache(f"{name}_{n}_{seed}.npy"), x)
        return x
    p = _cache(f"{name}_dt{factor}_{n}_{seed}.npy")
    if p.exists():
        return np.load(p, allow_pickle=False)
    base = zoo.SYSTEMS[name]
    fine = dataclasses.replace(
        base, dt=base.dt / factor, substeps=max(1, math.ceil(base.substeps / factor))
    )
    rng = np.random.default_rng([seed, 13])  # as simulate_clean
    if fine.kind == "dde":
        sub = base.substeps // factor  # the Heun step (and so the delay grid) unchanged
        assert sub * factor == base.substeps, "the delay must stay on the step grid"
        x, _ = zoo._mackey_glass(
            n, 1, rng, tangent=0, params=fine.params, dt=fine.dt, substeps=sub,
            transient=fine.transient,
        )  # fmt: skip
    elif fine.kind == "flow":
        z = fine.x0(rng, 1)
        for _ in range(round(fine.transient / fine.dt)):
            z, _ = zoo._advance(fine, z, None)
        x = np.empty((n, z.shape[1]))
        for i in range(n):
            x[i] = z[0]
            z, _ = zoo._advance(fine, z, None)
    else:
        raise ValueError(f"{name} is a map: no finer sampling")
    np.save(p, x)
    return x


def series(name: str, view: str, follow: str, seed: int = SEED) -> tuple[np.ndarray, float] | str:
    """The follow-up's observed series and dt, or why it does not apply.

    ``larger_dim`` is the baseline's series (the embedding changes, see :func:`do`);
    ``more_state_longer`` the ``more_state`` view at 100 000 samples.
    """
    sys_ = zoo.SYSTEMS[name]
    if follow in ("baseline", "longer", "larger_dim"):
        x = orbit(name, N_LONG if follow == "longer" else N0, seed=seed)
        return zoo._add_noise(zoo._view(x, sys_, view), NOISE, seed), sys_.dt
    if follow in ("finer2", "finer4"):
        if sys_.kind == "map":
            return "a map: no finer sampling"
        f = 2 if follow == "finer2" else 4
        x = orbit(name, 4 * N0, 4, seed=seed)[:: 4 // f]
        return zoo._add_noise(zoo._view(x, sys_, view), NOISE, seed), sys_.dt / f
    # more_state, more_state_longer
    x = orbit(name, N_LONG if follow == "more_state_longer" else N0, seed=seed)
    if view == "one":
        return zoo._add_noise(zoo._view(x, sys_, "all"), NOISE, seed), sys_.dt
    k = zoo._view(x, sys_, "all").shape[1]
    full = 2 if name == "ueda_duffing" else x.shape[1]
    if k >= full:
        return "the 'all' view already sees the whole state"
    return zoo._add_noise(x[:, : min(full, 2 * k)], NOISE, seed), sys_.dt


def advised(advice: str | None) -> list[str]:
    """The follow-ups an advice text names."""
    a = advice or ""
    out = []
    if "What would decide: more of the state" in a:
        out.append("more_state")
    if "or a longer recording" in a or "What would decide: a longer recording" in a:
        out.append("longer")
    if "What would decide: a finer sampling" in a:
        out += ["finer2", "finer4"]
    return out


def estimate(x: np.ndarray, dt: float, seed: int = SEED, **kw) -> dict:
    t0 = time.perf_counter()
    r = lyapunov_from_data(x, dt, seed=seed, **kw)
    s = r.summary()
    jac = s.get("jacobian") or {}
    return {
        "verdict": r.verdict,
        "lambda": s["lambda_max"] if r.verdict == "chaotic" else None,
        "lambda_std": s["lambda_std"] if r.verdict == "chaotic" else None,
        "kantz": (s.get("kantz") or {}).get("lambda_max"),
        "kantz_verdict": (s.get("kantz") or {}).get("verdict"),
        "jacobian": jac.get("lambda_max"),
        "reason": r.reason,
        "advice": r.advice,
        "delay": r.embedding.get("delay"),
        "dim": r.embedding.get("dim"),
        "n_samples": int(x.shape[0]),
        "channels": int(x.shape[1]),
        "dt": float(dt),
        "seconds": time.perf_counter() - t0,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


#: Code versions whose rows are reused: e700c584d1 (the code the section-5 tally was confirmed
#: at, and of the first run of this script), 8a8671bec9 (lambda_std of a geometric mean
#: propagated from both estimates), 426fc0d37a and 360335fe67 (the advice text too) and the
#: current one. The code after e700c584d1 changed no verdict or number (checked: ``--check``
#: reruns 3 baselines).
ACCEPT = ("e700c584d1", "8a8671bec9", "426fc0d37a", "360335fe67", run.VERSION)


def key(r: dict) -> str:
    return f"{r['system']}|{r['view']}|{r['follow']}|{r.get('seed', SEED)}"


def load(path: Path = OUT, accept: tuple[str, ...] = ACCEPT) -> dict[str, dict]:
    """The rows of accepted code versions, the latest per (case, follow-up, seed)."""
    done: dict[str, dict] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                if r["version"] in accept:
                    done[key(r)] = r
    return done


def do(s: str, v: str, follow: str, done: dict, path: Path, seed: int = SEED) -> dict:
    k = f"{s}|{v}|{follow}|{seed}"
    if k in done:
        return done[k]
    t0 = time.perf_counter()
    got = series(s, v, follow, seed)
    rec = {"system": s, "view": v, "follow": follow, "version": run.VERSION, "seed": seed}
    if isinstance(got, str):
        rec["skipped"] = got
    elif follow == "larger_dim":
        # the baseline's delay, two more lags per channel than its dimension
        base = do(s, v, "baseline", done, path, seed)
        rec |= estimate(*got, seed, delay=base["delay"], dim=base["dim"] + 2)
    else:
        rec |= estimate(*got, seed)
    rec["wall_seconds"] = time.perf_counter() - t0  # with the orbit's simulation
    run.append_result(rec, path)
    done[k] = rec
    print(f"{k}: {rec.get('verdict', rec.get('skipped'))} {rec.get('lambda')} "
          f"({rec['wall_seconds']:.0f} s)", flush=True)  # fmt: skip
    return rec


def klass(rec: dict, refs: dict) -> str:
    """run.classify's classes; 'n/a' for a follow-up that does not apply."""
    if "skipped" in rec:
        return "n/a"
    return run.classify({"system": rec["system"], "verdict": rec["verdict"],
                         "lambda": rec["lambda"]}, refs)  # fmt: skip


def _cell(rec: dict | None, refs: dict) -> str:
    if rec is None:
        return "not run"
    if "skipped" in rec:
        return "n/a"
    if rec["verdict"] != "chaotic":
        return {"unclear": "U", "not chaotic": "**N**"}.get(rec["verdict"], rec["verdict"])
    err = 100 * (rec["lambda"] / refs[rec["system"]]["lambda_max"] - 1)
    txt = f"{rec['lambda']:.3g} ({err:+.0f} %)"
    return f"**{txt}**" if abs(err) > 30 else txt


def _short(advice: str | None) -> str:
    a = advised(advice)
    if advice and advice.startswith("What would decide: not known"):
        return "not known (the revised text)"
    if not a:
        return "none (chaotic)" if advice and advice.startswith("lambda_max > 0") else "-"
    names = {"more_state": "more state", "longer": "longer", "finer2": "finer", "finer4": ""}
    return ", ".join(names[f] for f in a if names[f])


EXTRAS = ("larger_dim", "more_state_longer")
TITLES = {"baseline": "baseline", "longer": "longer (1e5)", "finer2": "finer x2",
          "finer4": "finer x4", "more_state": "more state", "larger_dim": "dim + 2",
          "more_state_longer": "more state, 1e5"}  # fmt: skip


def table(done: dict, refs: dict, seed: int = SEED) -> str:
    """Markdown: one row per case at ``seed`` (cells: verdict U / N, or the number and its
    error; n/a where the follow-up does not apply; bold: wrong), then the tally of the
    follow-ups, advised (named by the baseline's advice) or not."""
    rows = [r for r in done.values() if r.get("seed", SEED) == seed]
    by = {(r["system"], r["view"], r["follow"]): r for r in rows}
    cases = sorted({(r["system"], r["view"]) for r in rows})
    cols = [f for f in (*FOLLOWS, *EXTRAS) if any(k[2] == f for k in by)]
    lines = [
        "| system | view | half | ref. | advice (baseline) | "
        + " | ".join(TITLES[f] for f in cols) + " |",
        "|---|---|---|---|---|" + "---|" * len(cols),
    ]  # fmt: skip
    tally: dict[str, dict[str, int]] = {}
    for s, v in cases:
        base = by.get((s, v, "baseline"))
        adv = advised(base.get("advice")) if base else []
        cells = [_cell(by.get((s, v, f)), refs) for f in cols]
        lines.append(
            f"| {s} | {v} | {run.half(s)} | {refs[s]['lambda_max']:.4g} | "
            f"{_short(base.get('advice') if base else None)} | " + " | ".join(cells) + " |"
        )
        for f in cols[1:]:
            rec = by.get((s, v, f))
            if rec is None:
                continue
            group = ("advised " if f in adv else "not advised ") + f
            c = klass(rec, refs)
            tally.setdefault(group, {})[c] = tally.setdefault(group, {}).get(c, 0) + 1
    lines.append("")
    lines.append("Tally per follow-up (advised: the baseline's advice names it; run.py's classes):")
    order = ("ok20", "ok30", "off", "unclear", "missed", "n/a")
    lines.append("| follow-up | " + " | ".join(order) + " |")
    lines.append("|---|" + "---|" * len(order))
    for g in sorted(tally):
        lines.append(f"| {g} | " + " | ".join(str(tally[g].get(c, 0)) for c in order) + " |")
    versions = sorted({r["version"] for r in rows})
    lines.append(f"\nseed {seed}; code version(s) {', '.join(versions)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--table", action="store_true", help="only print the table")
    p.add_argument("--only", default=None, help="comma-separated system names")
    p.add_argument("--cases", default=None, help="comma-separated system:view (with --seed)")
    p.add_argument(
        "--follow",
        default="more_state,finer2,finer4,longer",
        help="follow-ups of phase 3, in this order",
    )
    p.add_argument("--seed", type=int, default=SEED, help="orbit, noise and estimator seed")
    p.add_argument("--check", action="store_true",
                   help="rerun 3 baselines, compare with e700c584d1")  # fmt: skip
    p.add_argument("--out", default=str(OUT))
    args = p.parse_args(argv)
    path = Path(args.out)
    refs = run.references()
    done = load(path)
    if args.check:
        old = load(path, ("e700c584d1",))
        for s, v in (("hyper_roessler", "one"), ("thomas", "all"), ("ueda_duffing", "one")):
            k = f"{s}|{v}|baseline|{SEED}"
            done.pop(k, None)
            new, was = do(s, v, "baseline", done, path), old[k]
            print(f"{k}: {was['verdict']} {was['lambda']} -> {new['verdict']} {new['lambda']}"
                  f"; lambda_std {was['lambda_std']} -> {new['lambda_std']}")  # fmt: skip
        return 0
    if not args.table:
        if args.cases:
            todo = [(*c.split(":"), "") for c in args.cases.split(",")]
        else:
            todo = failing_cases()
        if args.only:
            keep = set(args.only.split(","))
            todo = [c for c in todo if c[0] in keep]
        print(f"{len(todo)} cases: " + ", ".join(f"{s} {v} ({c})" for s, v, c in todo))
        for s, v, _c in todo:  # phase 1: the advice given today
            do(s, v, "baseline", done, path, args.seed)
        if not args.cases:
            for s, v, _c in todo:  # phase 2: what the advice says
                base = done[f"{s}|{v}|baseline|{args.seed}"]
                for f in advised(base.get("advice")):
                    do(s, v, f, done, path, args.seed)
        for f in args.follow.split(","):  # phase 3: the rest
            for s, v, _c in todo:
                do(s, v, f, done, path, args.seed)
    for seed in sorted({r.get("seed", SEED) for r in done.values()}):
        print(f"\n{table(done, refs, seed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
