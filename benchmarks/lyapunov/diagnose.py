"""Diagnosis of the chaotic cases that are not within 30 % (unclear or wrong numbers).

For each chaotic case of the given results (N, seed, code version) that is "unclear", "not
chaotic" or more than 30 % off, print its reason, the Kantz and local-Jacobian estimates
against the reference, and the same estimator on the *noise-free* series of the same orbit
(``--clean``): where the noise-free series is right, observation noise is the cause; where it
fails as well, the embedding, the curve's shape or the system is. docs/RESULTS.md 5 quotes::

    .venv/bin/python benchmarks/lyapunov/diagnose.py 6a705eb6e5,25db0eba5a --clean
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run
from compare import pick

from neurodsr.dynamics.zoo import SYSTEMS, _view


def pct(v: float | None, ref: float) -> str:
    return "-" if v is None else f"{100 * (v / ref - 1):+.0f} %"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("versions", help="comma-separated code versions, preferred first")
    p.add_argument("--n", type=int, default=20_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--clean", action="store_true", help="rerun each case without noise")
    args = p.parse_args(argv)
    versions = args.versions.split(",")
    refs = run.references()
    best = pick(run.load_results(), versions, args.n, args.seed)
    print("| system | half | view | verdict | reference | Kantz | Jacobian | reason | noise-free |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (s, v), r in sorted(best.items()):
        if s not in SYSTEMS:
            continue
        c = run.classify(r, refs)
        if c in ("ok20", "ok30"):
            continue
        ref = refs[s]["lambda_max"]
        kz = (r.get("kantz") or {}).get("lambda_max")
        jc = (r.get("jacobian") or {}).get("lambda_max")
        lam = r["lambda"] if r["verdict"] == "chaotic" else None
        verdict = r["verdict"] + ("" if lam is None else f" {pct(lam, ref)}")
        clean = ""
        if args.clean:
            from neurodsr.dynamics.lyapunov import lyapunov_from_data

            run.series({"system": s, "view": v, "n": args.n, "seed": args.seed})  # fills cache
            x = np.load(run.CACHE / f"{s}_{args.n}_{args.seed}.npy")
            res = lyapunov_from_data(_view(x, SYSTEMS[s], v), SYSTEMS[s].dt, seed=args.seed)
            sm = res.summary()
            cl = sm["lambda_max"] if res.verdict == "chaotic" else None
            clean = (
                f"{res.verdict}{'' if cl is None else ' ' + pct(cl, ref)}; Kantz "
                f"{pct(sm['kantz']['lambda_max'], ref)}, Jacobian "
                f"{pct((sm.get('jacobian') or {}).get('lambda_max'), ref)}"
            )
        reason = r["reason"].split("; ")[-1][:140]
        print(
            f"| {s} | {run.half(s)} | {v} | {verdict} | {ref:.4g} | {pct(kz, ref)} | "
            f"{pct(jc, ref)} | {reason} | {clean} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
