"""The divergence curve's slope after the Kantz fit region against the slope over it.

Issue 13 item 2, docs/RESULTS.md 5 (session 10). Run:
``PYTHONPATH=src .venv/bin/python benchmarks/lyapunov/plateau_after.py SYSTEM ...`` (the "one"
view, N = 20 000, seed 0, the estimator's defaults). For a fit over steps a..b prints the
ratio of the mean slope of S(k) over b..min(2b - a, end) to the one over a..b, the rise of S
after b (nats) and the distance of S(b) to the saturation level (nats).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run

from neurodsr.dynamics.lyapunov import lyapunov_from_data


def main(argv: list[str] | None = None) -> int:
    for name in sys.argv[1:] if argv is None else argv:
        x, dt = run.series({"system": name, "view": "one", "n": 20_000, "seed": 0})
        res = lyapunov_from_data(x, dt, seed=0)
        a, b, c = res.fit_start, res.fit_stop, np.asarray(res.curve)
        if a is None or b is None:
            print(f"{name}: {res.verdict}, no fit region", flush=True)
            continue
        e = min(2 * b - a, c.size - 1)
        s_fit = (c[b] - c[a]) / (b - a)
        s_after = (c[e] - c[b]) / max(e - b, 1)
        print(
            f"{name}: fit {a}..{b}, after {b}..{e}: slope after / slope over the fit "
            f"{s_after / s_fit:.2f}, rise after {c[e] - c[b]:.2f}, "
            f"to saturation {res.saturation - c[b]:.2f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
