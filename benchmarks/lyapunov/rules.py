"""How the cross-check's rules were chosen: variants scored on the even-indexed systems.

Run: ``.venv/bin/python benchmarks/lyapunov/rules.py [even|odd|both] [N]``. It reads, from
``results.jsonl``, the Kantz-only estimator's results (code versions ``ab91627fa4`` and
``250c8ed2d6``, before the cross-check existed: verdict, slope, surrogate p-value) and the
standalone local-Jacobian results (``--methods jacobian``), and scores each combination rule
(agreement ratio R, which number is reported where both agree, and whether a Kantz-"unclear"
case becomes "chaotic" on a positive, surrogate-significant Jacobian value) with the
benchmark's classes (within 20 %, within 30 %, off, unclear, missed; controls right/WRONG).
The default of ``lyapunov_from_data`` was chosen from the ``even`` rows only; ``odd`` is the
held-out half. The later rule that a Jacobian-only verdict needs the curve's steepest local
slope to agree is not scored here (it needs the curves; see docs/RESULTS.md 5).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from neurodsr.dynamics.zoo import CONTROLS, SYSTEMS

HERE = Path(__file__).resolve().parent
KANTZ_VERSIONS = ("250c8ed2d6", "ab91627fa4")


def half(name: str) -> str:
    names = list(SYSTEMS) if name in SYSTEMS else list(CONTROLS)
    return "even" if names.index(name) % 2 == 0 else "odd"


def combine(k: dict, j: dict, ratio_max: float, number: str, rescue: bool):
    v, lk, lj = k["verdict"], k.get("lambda"), j["lambda"]
    se = j.get("lambda_se") or 0.0
    if v == "not chaotic":
        return v, None
    if v == "chaotic":
        ratio = max(lk, lj) / min(lk, lj) if lj > 0 else math.inf
        if ratio > ratio_max:
            return "unclear", None
        pick = {"kantz": lk, "jacobian": lj, "max": max(lk, lj), "geomean": math.sqrt(lk * lj)}
        return "chaotic", pick[number]
    if rescue and lj > 2 * se and lj > 0 and (k.get("surrogate_p") or 1.0) <= 0.05:
        return "chaotic", lj
    return "unclear", None


def classify(name: str, verdict: str, lam: float | None, refs: dict) -> str:
    if name in CONTROLS:
        return "WRONG" if verdict == "chaotic" else "right"
    if verdict != "chaotic":
        return verdict
    err = abs(lam / refs[name]["lambda_max"] - 1)
    return "ok20" if err <= 0.2 else "ok30" if err <= 0.3 else "off"


def main(argv: list[str]) -> None:
    which = argv[0] if argv else "even"
    n = int(argv[1]) if len(argv) > 1 else 20_000
    refs = json.loads((HERE / "references.json").read_text())
    kan, jac = {}, {}
    for line in (HERE / "results.jsonl").read_text().splitlines():
        r = json.loads(line) if line.strip() else None
        if not r or r.get("seed", 0) != 0 or r["n"] != n or "error" in r:
            continue
        key = (r["system"], r["view"])
        if r["method"] == "neurodsr" and r.get("version") in KANTZ_VERSIONS:
            kan[key] = r
        elif r["method"] == "jacobian":
            jac[key] = r
    keys = sorted(k for k in kan if k in jac and which in ("both", half(k[0])))

    def tally(rule, *args) -> str:
        t: dict[str, int] = {}
        for key in keys:
            c = classify(key[0], *rule(key, *args), refs)
            t[c] = t.get(c, 0) + 1
        order = ("ok20", "ok30", "off", "unclear", "not chaotic", "right", "WRONG")
        return ", ".join(f"{c} {t[c]}" for c in order if c in t)

    print(f"{len(keys)} cases ({which} half, N = {n}, seed 0)")
    print(f"kantz alone    : {tally(lambda k: (kan[k]['verdict'], kan[k].get('lambda')))}")
    print(f"jacobian alone : {tally(lambda k: (jac[k]['verdict'], jac[k].get('lambda')))}")
    for ratio_max in (1.25, 1.5, 2.0):
        for number in ("kantz", "jacobian", "max", "geomean"):
            for rescue in (False, True):
                text = tally(lambda k, *a: combine(kan[k], jac[k], *a), ratio_max, number, rescue)
                print(f"R {ratio_max:<4} {number:8s} rescue {rescue!s:5}: {text}")


if __name__ == "__main__":
    main(sys.argv[1:])
