"""Lyapunov benchmark: lambda_max from data on a zoo of chaotic systems and controls.

One command prints the table and appends every finished case to a results file (JSON lines),
which ``docs/RESULTS.md`` quotes::

    .venv/bin/python benchmarks/lyapunov/run.py                 # all cases, resumable
    .venv/bin/python benchmarks/lyapunov/run.py --table         # only print the table
    .venv/bin/python benchmarks/lyapunov/run.py --only lorenz63 --methods neurodsr

Cases: every system of :data:`neurodsr.dynamics.zoo.SYSTEMS` and every control of
:data:`~neurodsr.dynamics.zoo.CONTROLS`, seen through one coordinate and through all (or a
subset), with 5 % observation noise, 20 000 samples; 5 000 and 100 000 samples for a subset
(and 5 000 for every control);
``--seeds 0,1`` repeats them with other noise and orbits. Tallies are printed for all systems
and for the even- and odd-indexed halves (rules were chosen on the even half).
References: lambda_max by QR on the equations (``references.json``, computed on the first
run, ``--references`` recomputes).

Resumable and parallel-safe: a case already in the results file is skipped; each finished
case is appended as one line under an exclusive file lock, so several processes can share one
file (give each its own ``--only`` / ``--shard``).

Methods: ``neurodsr`` (lyapunov_from_data, defaults: the Kantz slope cross-checked with the
local-Jacobian lambda_1), ``kantz`` (table only: the divergence-curve estimate alone, as
recorded inside each neurodsr result), ``jacobian`` (spectrum_from_data's lambda_1 alone, its
sign as the verdict, no surrogate test), ``nolds`` (nolds.lyap_r with its
defaults apart from ``emb_dim``, lag and ``min_tsep`` set as neurodsr sets them) and
``neurokit2`` (complexity_lyapunov, Rosenstein, its own delay/dimension). nolds and neurokit2
build full distance matrices (N^2 float64): they are run only where that stays below
``--max-gb`` (default 4 GB), otherwise the cell says why it is empty.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import resource
import sys
import time
import traceback
from pathlib import Path

import numpy as np

from neurodsr.dynamics.zoo import (
    CONTROLS,
    SYSTEMS,
    _add_noise,
    _view,
    control_series,
    reference_lambda,
    simulate_clean,
)

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results.jsonl"
REFS = HERE / "references.json"
SUBSET = ["lorenz63", "roessler", "henon", "hindmarsh_rose", "rate_net_100", "lorenz96_10",
          "mackey_glass", "van_der_pol", "ar1", "noisy_oscillator"]  # fmt: skip


def cases(lengths_subset: bool = True, seeds: tuple[int, ...] = (0,)) -> list[dict]:
    out = []
    for seed in seeds:
        for name in list(SYSTEMS) + list(CONTROLS):
            for view in ("one", "all"):
                ns = [20_000]
                if lengths_subset and name in SUBSET:
                    ns += [5_000, 100_000]
                elif lengths_subset and name in CONTROLS:
                    ns += [5_000]  # every control at the short length too
                for n in ns:
                    out.append({"system": name, "view": view, "n": n, "seed": seed})
    return out


def half(name: str) -> str:
    """'even' or 'odd': the system's index in SYSTEMS (or CONTROLS). Rules of the estimator
    were decided on the even half only; the odd half is the held-out check."""
    names = list(SYSTEMS) if name in SYSTEMS else list(CONTROLS)
    return "even" if names.index(name) % 2 == 0 else "odd"


def code_version() -> str:
    """Hash of the estimator's code (its syntax tree without docstrings, so formatting and
    comments do not count): neurodsr results of other code versions are not reused."""
    import ast
    import hashlib

    import neurodsr.dynamics.data_spectrum as spec
    import neurodsr.dynamics.embedding as emb
    import neurodsr.dynamics.lyapunov as lyap
    import neurodsr.dynamics.noise_reduction as nr
    import neurodsr.dynamics.surrogates as sur
    import neurodsr.dynamics.zero_one as zo

    h = hashlib.sha256()
    for mod in (emb, lyap, sur, spec, zo, nr):
        tree = ast.parse(Path(mod.__file__).read_text())
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if (
                isinstance(body, list)
                and body
                and isinstance(body[0], ast.Expr)
                and isinstance(getattr(body[0], "value", None), ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                node.body = body[1:] or [ast.Pass()]
        h.update(ast.dump(tree).encode())
    return h.hexdigest()[:10]


VERSION = code_version()
OURS = ("neurodsr", "jacobian")  # methods whose results are tied to the code version


def key(c: dict) -> str:
    v = c.get("version", VERSION) if c["method"] in OURS else "-"
    return f"{c['system']}|{c['view']}|{c['n']}|{c['seed']}|{c['method']}|{v}"


def load_results(path: Path = RESULTS) -> dict[str, dict]:
    done = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                if "error" in r and key(r) in done:
                    continue  # a later failure does not hide an earlier result
                done[key(r)] = r
    return done


def append_result(r: dict, path: Path = RESULTS) -> None:
    line = json.dumps(r, sort_keys=True) + "\n"
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())
        fcntl.flock(fh, fcntl.LOCK_UN)


#: Largest relative standard error of a reference (orbit spread / sqrt(orbits) / mean): a
#: reference less precise than this is recomputed over 8 orbits of 10^5 samples. 4 orbits of
#: 10^4 samples left Thomas at 0.0147 +- 7 % against 0.0134 from 2 x 10^5 time units of DOP853
#: (check_reference.py), the 100-unit network at +- 22 %.
REF_MAX_SE = 0.02


def _reference(s: str) -> dict:
    n_samples, n_orbits = 10_000, 4
    mean, per = reference_lambda(s, n_samples=n_samples, n_orbits=n_orbits)
    se = float(per[:, 0].std(ddof=1) / np.sqrt(n_orbits) / abs(mean[0]))
    if se > REF_MAX_SE:
        n_samples, n_orbits = 100_000, 8
        mean, per = reference_lambda(s, n_samples=n_samples, n_orbits=n_orbits)
        se = float(per[:, 0].std(ddof=1) / np.sqrt(n_orbits) / abs(mean[0]))
    return {"lambda_max": float(mean[0]), "orbit_std": float(per[:, 0].std(ddof=1)),
            "rel_se": se, "n_samples": n_samples, "n_orbits": n_orbits,
            "dt": SYSTEMS[s].dt}  # fmt: skip


def references(recompute: bool = False, refine: bool = False) -> dict[str, float]:
    """The references (computed where missing; ``recompute``: all; ``refine``: those whose
    relative standard error exceeds :data:`REF_MAX_SE`)."""
    refs = json.loads(REFS.read_text()) if REFS.exists() and not recompute else {}
    missing = [s for s in SYSTEMS if s not in refs]
    if refine:
        missing += [
            s for s in SYSTEMS
            if s in refs and "n_orbits" not in refs[s] and refs[s]["orbit_std"]
            / np.sqrt(4) / abs(refs[s]["lambda_max"]) > REF_MAX_SE
        ]  # fmt: skip
    for s in missing:
        t0 = time.perf_counter()
        refs[s] = _reference(s)
        print(f"reference {s}: {refs[s]['lambda_max']:.5f} +- {100 * refs[s]['rel_se']:.1f} % "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)  # fmt: skip
        tmp = REFS.with_suffix(".tmp")
        tmp.write_text(json.dumps(refs, indent=1, sort_keys=True) + "\n")
        tmp.replace(REFS)
    return refs


CACHE = HERE / ".cache"


def series(c: dict) -> tuple[np.ndarray, float]:
    """The case's observed series (view, 5 % noise) and dt.

    The noise-free orbits of the systems are simulated once per (system, N, seed) and kept in
    ``.cache/`` (not committed; delete it to re-simulate): the Python RK4 is the slow part.
    """
    name, n, seed = c["system"], c["n"], c["seed"]
    if name in CONTROLS:
        return control_series(name, n, seed=seed, view=c["view"])
    sys_ = SYSTEMS[name]
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"{name}_{n}_{seed}.npy"
    if path.exists():
        x = np.load(path, allow_pickle=False)
    else:
        x = simulate_clean(name, n, seed=seed)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(tmp, x)
        tmp.replace(path)
    return _add_noise(_view(x, sys_, c["view"]), 0.05, seed), sys_.dt


def run_neurodsr(x: np.ndarray, dt: float, seed: int = 0) -> dict:
    from neurodsr.dynamics.lyapunov import lyapunov_from_data

    res = lyapunov_from_data(x, dt, seed=seed)
    s = res.summary()
    out = {"lambda": s["lambda_max"], "verdict": res.verdict, "reason": res.reason,
           "surrogate_p": s.get("surrogate_test", {}).get("p_value")
           if isinstance(s.get("surrogate_test"), dict) else None}  # fmt: skip
    # the two measurements behind the verdict, for the per-method tallies
    out["kantz"] = s.get("kantz")
    out["jacobian"] = s.get("jacobian")
    out["zero_one_K"] = s.get("zero_one_K")
    return out


def run_jacobian(x: np.ndarray, dt: float, seed: int = 0) -> dict:
    """lambda_1 of the spectrum from local Jacobians (spectrum_from_data, defaults), the same
    embedding as lyapunov_from_data; verdict from the sign alone (beyond 2 standard errors),
    no surrogate test: this row measures the number, not the verdict."""
    from neurodsr.dynamics.data_spectrum import spectrum_from_data

    sp = spectrum_from_data(x, dt, seed=seed)
    se = sp.lambda_se
    chaotic = sp.lambda_max > 2 * se if np.isfinite(se) else sp.lambda_max > 0
    return {"lambda": sp.lambda_max, "lambda_se": None if not np.isfinite(se) else se,
            "exponents": [float(v) for v in sp.exponents],
            "verdict": "chaotic" if chaotic else "not chaotic"}  # fmt: skip


def run_nolds(x: np.ndarray, dt: float, max_gb: float) -> dict:
    import nolds

    n = x.shape[0]
    need = 3 * n * n * 8 / 1e9
    if need > max_gb:
        return {"skipped": f"needs ~{need:.0f} GB (N^2 distance matrix) > {max_gb} GB"}
    from neurodsr.dynamics.embedding import ami_delay, mean_period

    x1 = x[:, 0]
    lag, _ = ami_delay(x1)
    lam = nolds.lyap_r(x1, emb_dim=10, lag=lag, min_tsep=round(mean_period(x1)))
    return {"lambda": float(lam) / dt, "verdict": "chaotic" if lam > 0 else "not chaotic"}


def run_neurokit2(x: np.ndarray, dt: float, max_gb: float) -> dict:
    import neurokit2 as nk

    n = x.shape[0]
    need = 3 * n * n * 8 / 1e9
    if need > max_gb:
        return {"skipped": f"needs ~{need:.0f} GB (N^2 distance matrix) > {max_gb} GB"}
    lam, _ = nk.complexity_lyapunov(x[:, 0], method="rosenstein1993", sampling_rate=1.0 / dt)
    return {"lambda": float(lam), "verdict": "chaotic" if lam > 0 else "not chaotic"}


def run_case(c: dict, max_gb: float) -> dict:
    x, dt = series(c)
    t0 = time.perf_counter()
    try:
        if c["method"] == "neurodsr":
            out = run_neurodsr(x, dt, c["seed"])
        elif c["method"] == "jacobian":
            out = run_jacobian(x, dt, c["seed"])
        elif c["method"] == "nolds":
            out = run_nolds(x, dt, max_gb)
        else:
            out = run_neurokit2(x, dt, max_gb)
    except Exception as err:
        out = {"error": f"{type(err).__name__}: {err}"[:300]}
        traceback.print_exc()
    out["seconds"] = time.perf_counter() - t0
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {**c, **out, "dt": dt, "version": VERSION if c["method"] in OURS else "-"}


def classify(r: dict, refs: dict) -> str:
    """'ok20', 'ok30', 'off', 'unclear', 'missed' (chaotic cases); 'right'/'WRONG' controls."""
    v = r.get("verdict")
    if r["system"] in CONTROLS:
        return "WRONG" if v == "chaotic" else "right"
    if v != "chaotic" or r.get("lambda") is None:
        return "unclear" if v == "unclear" else "missed"
    err = abs(r["lambda"] / refs[r["system"]]["lambda_max"] - 1)
    return "ok20" if err <= 0.2 else "ok30" if err <= 0.3 else "off"


def _tally_line(label: str, t: dict) -> str | None:
    chaotic = sum(t.get(k, 0) for k in ("ok20", "ok30", "off", "unclear", "missed"))
    ctrl = t.get("right", 0) + t.get("WRONG", 0)
    if not chaotic:
        return None
    return (
        f"{label}: within 20 % {t.get('ok20', 0)}/{chaotic} "
        f"({100 * t.get('ok20', 0) / chaotic:.0f} %), within 30 % "
        f"{t.get('ok20', 0) + t.get('ok30', 0)}/{chaotic} "
        f"({100 * (t.get('ok20', 0) + t.get('ok30', 0)) / chaotic:.0f} %), off {t.get('off', 0)}, "
        f"unclear {t.get('unclear', 0)}, missed {t.get('missed', 0)}; controls called "
        f"chaotic {t.get('WRONG', 0)}/{ctrl}"
    )


def table(done: dict, refs: dict, methods: list[str], n: int = 20_000, seed: int = 0) -> str:
    """Markdown table of one N and seed, with tallies overall and per half (even/odd)."""
    sel = [r for r in done.values() if r["n"] == n and r.get("seed", 0) == seed]
    # "kantz": the divergence-curve estimate alone, as recorded inside each neurodsr result
    # (the same run, before the cross-check)
    sel += [
        {**r, "method": "kantz", "lambda": r["kantz"]["lambda_max"],
         "verdict": r["kantz"]["verdict"]}
        for r in sel
        if r["method"] == "neurodsr" and isinstance(r.get("kantz"), dict)
    ]  # fmt: skip
    rows = sorted({(r["system"], r["view"]) for r in sel},
                  key=lambda sv: (sv[0] in CONTROLS, sv[0], sv[1]))  # fmt: skip
    # per case: the result of the current code version where there is one, else the latest
    # (the versions used are listed under the table)
    latest: dict[tuple, dict] = {}
    for r in sel:
        k = (r["system"], r["view"], r["method"])
        old = latest.get(k)
        if old is None or old.get("version") != VERSION or r.get("version") == VERSION:
            latest[k] = r
    versions = sorted(
        {r.get("version", "-") for r in latest.values() if r["method"] in (*OURS, "kantz")}
    )
    head = "| system | half | view | reference | " + " | ".join(methods) + " |"
    lines = [head, "|" + "---|" * (4 + len(methods))]
    tally: dict[str, dict[str, dict[str, int]]] = {
        m: {"all": {}, "even": {}, "odd": {}} for m in methods
    }
    for s, v in rows:
        ref = refs[s]["lambda_max"] if s in refs else None
        cells = []
        for m in methods:
            r = latest.get((s, v, m))
            if r is None:
                cells.append("")
                continue
            if "skipped" in r or "error" in r:
                cells.append("skipped" if "skipped" in r else "error")
                continue
            c = classify(r, refs)
            for h in ("all", half(s)):
                tally[m][h][c] = tally[m][h].get(c, 0) + 1
            lam = r.get("lambda")
            txt = r["verdict"] if lam is None else f"{lam:.3g}"
            if ref is not None and lam is not None and r["verdict"] == "chaotic":
                txt += f" ({100 * (lam / ref - 1):+.0f} %)"
            elif ref is not None or r["verdict"] != "chaotic":
                txt += f" [{r['verdict']}]" if lam is not None else ""
            if c in ("WRONG", "off", "missed"):
                txt = f"**{txt}**"
            cells.append(txt)
        rtxt = f"{ref:.4g}" if ref is not None else "not chaotic"
        lines.append(f"| {s} | {half(s)} | {v} | {rtxt} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(f"code version(s) of {'/'.join(OURS)} in this table: {', '.join(versions) or '-'}")
    lines.append("")
    for m in methods:
        for h in ("all", "even", "odd"):
            line = _tally_line(f"{m} (N = {n}, seed {seed}, {h} systems)", tally[m][h])
            if line:
                lines.append(f"- {line}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--methods", default="neurodsr,nolds,neurokit2")
    p.add_argument("--only", default=None, help="comma-separated system names")
    p.add_argument("--lengths", default=None, help="comma-separated N to run (default all)")
    p.add_argument("--shard", default="0/1", help="i/k: run every k-th case from the i-th")
    p.add_argument("--max-gb", type=float, default=4.0)
    p.add_argument("--results", default=str(RESULTS))
    p.add_argument("--table", action="store_true", help="only print the table")
    p.add_argument("--references", action="store_true", help="recompute the references")
    p.add_argument("--refine-references", action="store_true",
                   help="recompute the imprecise references (REF_MAX_SE), then stop")  # fmt: skip
    p.add_argument("--seeds", default="0", help="comma-separated seeds (noise and orbit)")
    args = p.parse_args(argv)
    path = Path(args.results)
    methods = args.methods.split(",")
    if args.refine_references:
        references(refine=True)
        return 0
    refs = references(args.references)
    if not args.table:
        i, k = (int(v) for v in args.shard.split("/"))
        seeds = tuple(int(v) for v in args.seeds.split(","))
        todo = [c | {"method": m} for c in cases(seeds=seeds) for m in methods]
        if args.only:
            keep = set(args.only.split(","))
            todo = [c for c in todo if c["system"] in keep]
        if args.lengths:
            keep_n = {int(v) for v in args.lengths.split(",")}
            todo = [c for c in todo if c["n"] in keep_n]
        todo = todo[i::k]
        done = load_results(path)
        for c in todo:
            if key(c) in done and "error" not in done[key(c)]:
                continue  # finished before (failed cases are tried again)
            r = run_case(c, args.max_gb)
            append_result(r, path)
            print(f"{key(c)}: {r.get('lambda')} {r.get('verdict')} "
                  f"{r.get('skipped', r.get('error', ''))} ({r['seconds']:.1f} s)",
                  flush=True)  # fmt: skip
    done = load_results(path)
    for seed in sorted({r.get("seed", 0) for r in done.values()}):
        for n in (20_000, 5_000, 100_000):
            if any(r["n"] == n and r.get("seed", 0) == seed for r in done.values()):
                print(f"\n#### N = {n}, seed {seed}\n")
                print(table(done, refs, methods, n, seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
