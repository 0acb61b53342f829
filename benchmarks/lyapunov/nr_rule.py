"""The noise reduction of the local-Jacobian cross-check, scored per half (docs/RESULTS.md 5).

Run: ``.venv/bin/python benchmarks/lyapunov/nr_rule.py BASE NEW [N] [SEED]``, BASE and NEW two
code versions in ``results.jsonl`` (e.g. d96597735e, before the noise reduction, and the
version with it). For each half (even: where it was chosen; odd: held out) it prints the
benchmark's classes (within 20 %, within 30 %, off, unclear, not chaotic; controls
right/WRONG) of:

- BASE as run;
- NEW as run (the divergence slope and the noise-reduced Jacobian, their geometric mean
  where they agree within x1.5);
- NEW with the Jacobian value reported where the two agree instead of their geometric mean
  (the same verdicts; recomputed from the two numbers stored in each result);
- the Jacobian estimate inside the results alone (BASE and NEW: without and with the noise
  reduction; only where the curve did not say "not chaotic", so the Jacobian was run).

Also the cases whose class changed from BASE to NEW.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from neurodsr.dynamics.zoo import CONTROLS, SYSTEMS

HERE = Path(__file__).resolve().parent
ORDER = ("ok20", "ok30", "off", "unclear", "not chaotic", "right", "WRONG")


def half(name: str) -> str:
    names = list(SYSTEMS) if name in SYSTEMS else list(CONTROLS)
    return "even" if names.index(name) % 2 == 0 else "odd"


def classify(name: str, verdict: str, lam: float | None, refs: dict) -> str:
    if name in CONTROLS:
        return "WRONG" if verdict == "chaotic" else "right"
    if verdict != "chaotic" or lam is None:
        return verdict
    err = abs(lam / refs[name]["lambda_max"] - 1)
    return "ok20" if err <= 0.2 else "ok30" if err <= 0.3 else "off"


def jacobian_value(r: dict) -> tuple[str, float | None]:
    """Report the Jacobian value where the two estimates agreed (same verdict)."""
    j = r.get("jacobian") or {}
    if r["verdict"] == "chaotic" and j.get("rule") == "agree":
        return "chaotic", j.get("lambda_max")
    return r["verdict"], r.get("lambda")


def geometric_mean(r: dict) -> tuple[str, float | None]:
    """Report the geometric mean of the two where they agreed (same verdict)."""
    j, k = r.get("jacobian") or {}, r.get("kantz") or {}
    if r["verdict"] == "chaotic" and j.get("rule") == "agree":
        return "chaotic", math.sqrt(j["lambda_max"] * k["lambda_max"])
    return r["verdict"], r.get("lambda")


def jacobian_alone(r: dict) -> tuple[str, float | None]:
    j = r.get("jacobian") or {}
    lam = j.get("lambda_max")
    if lam is None:
        return "not run", None
    return ("chaotic", lam) if lam > 0 else ("not chaotic", None)


def main(argv: list[str]) -> None:
    base, new = argv[0], argv[1]
    n = int(argv[2]) if len(argv) > 2 else 20_000
    seed = int(argv[3]) if len(argv) > 3 else 0
    refs = json.loads((HERE / "references.json").read_text())
    res: dict[str, dict] = {base: {}, new: {}}
    for line in (HERE / "results.jsonl").read_text().splitlines():
        r = json.loads(line) if line.strip() else None
        if not r or r.get("method") != "neurodsr" or "error" in r:
            continue
        if r["n"] != n or r.get("seed", 0) != seed or r.get("version") not in res:
            continue
        res[r["version"]][(r["system"], r["view"])] = r
    keys = sorted(set(res[base]) & set(res[new]))
    rules = {
        f"{base} as run": lambda k: (res[base][k]["verdict"], res[base][k].get("lambda")),
        f"{new} as run": lambda k: (res[new][k]["verdict"], res[new][k].get("lambda")),
        f"{new}, Jacobian value where they agree": lambda k: jacobian_value(res[new][k]),
        f"{new}, geometric mean where they agree": lambda k: geometric_mean(res[new][k]),
        f"Jacobian alone, {base}": lambda k: jacobian_alone(res[base][k]),
        f"Jacobian alone, {new}": lambda k: jacobian_alone(res[new][k]),
    }
    print(f"N = {n}, seed {seed}: {len(keys)} cases in both versions")
    for h in ("even", "odd"):
        ks = [k for k in keys if half(k[0]) == h]
        print(f"\n{h} half ({len(ks)} cases)")
        for label, rule in rules.items():
            t: dict[str, int] = {}
            for k in ks:
                c = classify(k[0], *rule(k), refs)
                t[c] = t.get(c, 0) + 1
            extra = [c for c in t if c not in ORDER]
            text = ", ".join(f"{c} {t[c]}" for c in (*ORDER, *extra) if c in t)
            print(f"  {label:45s}: {text}")
    print("\nchanged cases (BASE -> NEW as run):")
    for k in keys:
        a, b = res[base][k], res[new][k]
        ca = classify(k[0], a["verdict"], a.get("lambda"), refs)
        cb = classify(k[0], b["verdict"], b.get("lambda"), refs)
        ref = refs.get(k[0], {}).get("lambda_max")

        def rel(r: dict, ref: float | None = ref) -> str:
            lam = r.get("lambda")
            if lam is None or ref is None or not math.isfinite(lam):
                return r["verdict"]
            return f"{100 * (lam / ref - 1):+.0f} %"

        ja = (a.get("jacobian") or {}).get("lambda_max")
        jb = (b.get("jacobian") or {}).get("lambda_max")
        jtxt = ""
        if ref and ja is not None and jb is not None:
            jtxt = f"  (Jacobian {100 * (ja / ref - 1):+.0f} % -> {100 * (jb / ref - 1):+.0f} %)"
        if ca != cb or rel(a) != rel(b):
            print(f"  {k[0]:18s} {k[1]:4s} {half(k[0]):4s}: {rel(a):>12s} -> {rel(b):>12s}"
                  f" [{ca} -> {cb}]{jtxt}")  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1:])
