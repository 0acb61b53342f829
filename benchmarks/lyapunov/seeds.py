"""The spread of the verdict and of lambda_max over seeds, per case, at one code version.

The tolerances of ``tests/test_lyapunov_verdicts.py`` come from this table. Run the cases at
several seeds first (the benchmark's own command), then print::

    .venv/bin/python benchmarks/lyapunov/run.py --methods neurodsr --lengths 20000 \
        --seeds 0,1,2,3,4 --only lorenz63,henon,...
    .venv/bin/python benchmarks/lyapunov/seeds.py [--version V] [--n 20000]

For every (system, view) with results at the version: the verdict at each seed, the error of
lambda_max against the QR reference per seed (chaotic systems), and the worst one. Controls:
how many seeds called them chaotic (must be 0).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run

from neurodsr.dynamics.zoo import CONTROLS

SHORT = {"chaotic": "C", "not chaotic": "N", "unclear": "U"}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--version", default=run.VERSION, help="code version (default: the current)")
    p.add_argument("--n", type=int, default=20_000)
    args = p.parse_args(argv)
    refs = run.references()
    rows: dict[tuple[str, str], dict[int, dict]] = {}
    for r in run.load_results().values():
        if (
            r["method"] != "neurodsr" or r["n"] != args.n or r.get("version") != args.version
            or "error" in r
        ):  # fmt: skip
            continue
        rows.setdefault((r["system"], r["view"]), {})[r.get("seed", 0)] = r
    print(f"code version {args.version}, N = {args.n}; verdicts: C chaotic, N not chaotic, "
          "U unclear; errors against the QR reference")  # fmt: skip
    print()
    print("| system | view | seeds | verdicts | error per seed | worst error | median |")
    print("|---|---|---|---|---|---|---|")
    order = sorted(rows, key=lambda sv: (sv[0] in CONTROLS, sv[0], sv[1]))
    for s, v in order:
        per = rows[(s, v)]
        seeds = sorted(per)
        verdicts = "".join(SHORT.get(per[k]["verdict"], "?") for k in seeds)
        errs = []
        if s not in CONTROLS:
            ref = refs[s]["lambda_max"]
            errs = [
                100 * (per[k]["lambda"] / ref - 1) if per[k]["verdict"] == "chaotic" else None
                for k in seeds
            ]
        txt = ", ".join("-" if e is None else f"{e:+.1f}" for e in errs) or "-"
        got = [abs(e) for e in errs if e is not None]
        worst = f"{max(got):.1f} %" if got else "-"
        med = f"{float(np.median([e for e in errs if e is not None])):+.1f} %" if got else "-"
        label = ",".join(str(k) for k in seeds)
        print(f"| {s} | {v} | {label} | {verdicts} | {txt} | {worst} | {med} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
