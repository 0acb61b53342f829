"""Two code versions of the estimator scored per half, and the cases that changed.

Run: ``.venv/bin/python benchmarks/lyapunov/compare.py BASE NEW [N] [SEED]``. BASE and NEW are
comma-separated code versions in ``results.jsonl``, the preferred first (a case is taken from
the first version that has it: the previous round's final rows are split over two versions
that run the same code path, docs/RESULTS.md 5). Prints, for each half (even: where rules
were chosen; odd: held out), the benchmark's classes (``run.classify``: within 20 %, within
30 %, off, unclear, missed; controls right / WRONG) of BASE and NEW, then every case whose
class or number changed.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run

ORDER = ("ok20", "ok30", "off", "unclear", "missed", "right", "WRONG")


def pick(done: dict, versions: list[str], n: int, seed: int) -> dict[tuple[str, str], dict]:
    best: dict[tuple[str, str], dict] = {}
    for r in done.values():
        if (
            r["method"] != "neurodsr" or r["n"] != n or r.get("seed", 0) != seed
            or r.get("version") not in versions or "error" in r
        ):  # fmt: skip
            continue
        k = (r["system"], r["view"])
        if k not in best or versions.index(r["version"]) < versions.index(best[k]["version"]):
            best[k] = r
    return best


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    base_v, new_v = argv[0].split(","), argv[1].split(",")
    n = int(argv[2]) if len(argv) > 2 else 20_000
    seed = int(argv[3]) if len(argv) > 3 else 0
    refs = run.references()
    done = run.load_results()
    base, new = pick(done, base_v, n, seed), pick(done, new_v, n, seed)
    print(f"N = {n}, seed {seed}; BASE {','.join(base_v)}, NEW {','.join(new_v)}")
    print("| half | version | " + " | ".join(ORDER) + " |")
    print("|---|---|" + "---|" * len(ORDER))
    for h in ("even", "odd", "all"):
        for label, res in (("BASE", base), ("NEW", new)):
            t = dict.fromkeys(ORDER, 0)
            for (s, _v), r in res.items():
                if h == "all" or run.half(s) == h:
                    t[run.classify(r, refs)] += 1
            print(f"| {h} | {label} | " + " | ".join(str(t[c]) for c in ORDER) + " |")
    print("\nchanged cases (class, or the number by more than 0.5 %):")
    for k in sorted(set(base) & set(new)):
        a, b = base[k], new[k]
        ca, cb = run.classify(a, refs), run.classify(b, refs)
        la, lb = a.get("lambda"), b.get("lambda")
        moved = (la is None) != (lb is None) or (
            la is not None and lb is not None and abs(lb / la - 1) > 0.005
        )
        if ca == cb and not moved and a["verdict"] == b["verdict"]:
            continue
        ref = refs.get(k[0], {}).get("lambda_max")

        def txt(r: dict, ref: float | None = ref) -> str:
            lam = r.get("lambda")
            if r["verdict"] != "chaotic" or lam is None or ref is None:
                return r["verdict"]
            return f"{lam:.4g} ({100 * (lam / ref - 1):+.0f} %)"

        print(f"- {k[0]} {k[1]} ({run.half(k[0])}): {txt(a)} [{ca}] -> {txt(b)} [{cb}]")
    missing = sorted(set(base) - set(new))
    if missing:
        print(f"\nnot (yet) in NEW: {len(missing)} cases")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
