"""Recompute the 0-1 test's K of benchmark results with the current code and compare.

Run: ``.venv/bin/python benchmarks/lyapunov/check_zero_one.py VERSION``. For every neurodsr
result of code version VERSION in ``results.jsonl`` (N = 5 000 and 20 000; 100 000 skipped for
time) it rebuilds the embedding and reruns :func:`~neurodsr.dynamics.zero_one.zero_one_test`
exactly as ``lyapunov_from_data`` does, and prints the largest difference to the recorded K.
Used to show that a change confined to the 0-1 test's numerics (FFT length, chunking) leaves
the results of VERSION valid (docs/RESULTS.md 5, *Code versions*).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run  # noqa: E402

from neurodsr.dynamics.embedding import embed_for_lyapunov  # noqa: E402
from neurodsr.dynamics.zero_one import zero_one_test  # noqa: E402


def main(argv: list[str]) -> int:
    version = argv[0]
    ref = {}
    for line in (HERE / "results.jsonl").read_text().splitlines():
        r = json.loads(line)
        if r.get("method") == "neurodsr" and r.get("version") == version and r["n"] < 100_000:
            ref[(r["system"], r["view"], r["n"], r["seed"])] = r.get("zero_one_K")
    worst = 0.0
    for (name, view, n, seed), k_ref in sorted(ref.items()):
        x, _ = run.series({"system": name, "view": view, "n": n, "seed": seed})
        e = embed_for_lyapunov(x, seed=seed)
        k = zero_one_test(e.channels[:, 0], subsample=e.delay, seed=seed).K
        if k_ref is None:
            if np.isfinite(k):
                print(f"{name} {view} {n} {seed}: recorded None, now {k}")
                worst = np.inf
            continue
        worst = max(worst, abs(k - k_ref))
    print(f"cases {len(ref)}, largest |K - recorded K| = {worst:.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
