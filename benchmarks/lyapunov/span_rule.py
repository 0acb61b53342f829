"""Does the Kantz fit region's span, in dominant periods or in e-foldings, tell the wrong
"chaotic" numbers from the right ones? (issue 13 item 2; docs/RESULTS.md 5, session 10).

Run: ``.venv/bin/python benchmarks/lyapunov/span_rule.py [VERSIONS]`` (default the rows of
code versions 6a705eb6e5,25db0eba5a,e700c584d1, N = 20 000, seed 0). For every case called
"chaotic" through the divergence fit (the reason names "steps a..b (E e-foldings)") prints the
half, the class (``run.classify``), the error against the reference (per cent), E, and the fit
span (b - a) in units of the dominant period of the observed first channel (the peak of its
periodogram, the case's "one" view with its 5 % noise, in samples), and the cross-check's
Kantz / Jacobian ratio. Simulates the orbits that
``.cache/`` lacks (the slow part: about 8 s per flow here).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare
import run

FIT = re.compile(r"steps (\d+)\.\.(\d+) \(([\d.]+) e-foldings")


def dominant_period(name: str, n: int, seed: int) -> float:
    """Period (samples) of the periodogram's peak of the first observed channel."""
    x, _dt = run.series({"system": name, "view": "one", "n": n, "seed": seed})
    y = np.asarray(x, float).reshape(len(x), -1)[:, 0]
    p = np.abs(np.fft.rfft(y - y.mean())) ** 2
    f = np.fft.rfftfreq(len(y))
    return float(1.0 / f[1 + int(np.argmax(p[1:]))])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    versions = (argv[0] if argv else "6a705eb6e5,25db0eba5a,e700c584d1").split(",")
    refs = run.references()
    rows = compare.pick(run.load_results(), versions, 20_000, 0)
    print(
        "| half | case | view | class | error | e-foldings | fit | period | span / period "
        "| K / J ratio |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    periods: dict[str, float] = {}
    for (s, v), r in sorted(rows.items(), key=lambda kv: (run.half(kv[0][0]), kv[0])):
        m = FIT.search(r.get("reason", ""))
        ref = refs.get(s, {}).get("lambda_max")
        if r["verdict"] != "chaotic" or m is None or ref is None:
            continue
        a, b, ef = int(m[1]), int(m[2]), float(m[3])
        if s not in periods:
            periods[s] = dominant_period(s, 20_000, 0)
        err = 100 * (r["lambda"] / ref - 1)
        print(
            f"| {run.half(s)} | {s} | {v} | {run.classify(r, refs)} | {err:+.0f} % | {ef:.2f} "
            f"| {a}..{b} | {periods[s]:.0f} | {(b - a) / periods[s]:.2f} "
            f"| {(r.get('jacobian') or {}).get('ratio', float('nan')):.2f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
