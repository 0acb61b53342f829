"""The rule for a flat divergence curve, and whether the 0-1 test helps it: variants scored.

Run: ``.venv/bin/python benchmarks/lyapunov/flat_rule.py [VERSION]`` (default: the current
code version of ``run.py``). It reads the neurodsr results of that code version from
``results.jsonl`` and takes the cases whose divergence curve stayed flat (S(k) rose by less
than the minimum while far below saturation: ``lyapunov_from_data``'s first "no exponential
divergence" branch, recognised by its reason). For those it records the surrogate p-value and
the 0-1 test's K (both computed in every such case) and scores four rules for that branch:

- ``always``: "not chaotic" (the rule before this change);
- ``surrogates``: "unclear" where the data beat every surrogate (p <= 0.05);
- ``zero_one``: "unclear" where K >= 0.5;
- ``both`` (the default): "unclear" where p <= 0.05 and K >= 0.5.

Scored per half (even/odd systems, as in ``run.py``): chaotic cases called "not chaotic"
(wrong) and controls kept "not chaotic" (right; "unclear" on a control is a loss of
information, not an error). The verdict before any cross-check is scored (a case made
"unclear" here may still become "chaotic" by the local-Jacobian rescue in the full run).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run  # noqa: E402  (the benchmark's own case list and halves)

RULES = {
    "always": lambda p, k: False,
    "surrogates": lambda p, k: p is not None and p <= 0.05,
    "zero_one": lambda p, k: k is not None and k >= 0.5,
    "both": lambda p, k: p is not None and p <= 0.05 and k is not None and k >= 0.5,
}


def flat_cases(version: str) -> list[dict]:
    out = []
    for line in (HERE / "results.jsonl").read_text().splitlines():
        r = json.loads(line)
        if r.get("method") != "neurodsr" or r.get("version") != version or "error" in r:
            continue
        reason = (r.get("kantz") or {}).get("reason") or r.get("reason", "")
        if reason.startswith(
            ("no exponential divergence: S(k) grows by only", "S(k) grows by only")
        ):
            out.append(r)
    return out


def main(argv: list[str]) -> int:
    version = argv[0] if argv else run.VERSION
    rows = flat_cases(version)
    print(f"flat-curve cases of code version {version}: {len(rows)}\n")
    print("| system | half | view | N | seed | control | surrogate p | 0-1 K |")
    print("|---|---|---|---|---|---|---|---|")
    for r in sorted(rows, key=lambda r: (r["system"], r["view"], r["n"], r["seed"])):
        k = r.get("zero_one_K")
        print(
            f"| {r['system']} | {run.half(r['system'])} | {r['view']} | {r['n']} | {r['seed']} "
            f"| {'yes' if r['system'] in run.CONTROLS else 'no'} | {r.get('surrogate_p')} | "
            f"{'' if k is None else f'{k:.2f}'} |"
        )
    print("\n| rule | half | chaotic cases called 'not chaotic' | controls kept 'not chaotic' |")
    print("|---|---|---|---|")
    for name, unclear in RULES.items():
        for h in ("even", "odd"):
            sel = [r for r in rows if run.half(r["system"]) == h]
            chaotic = [r for r in sel if r["system"] not in run.CONTROLS]
            ctrl = [r for r in sel if r["system"] in run.CONTROLS]
            missed = sum(not unclear(r.get("surrogate_p"), r.get("zero_one_K")) for r in chaotic)
            kept = sum(not unclear(r.get("surrogate_p"), r.get("zero_one_K")) for r in ctrl)
            print(f"| {name} | {h} | {missed}/{len(chaotic)} | {kept}/{len(ctrl)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
