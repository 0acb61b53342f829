"""Validation's floor, its noise and how well it ranks members (issue 12, item 4).

One command, resumable (every (set, seed) row is appended to ``--out`` as soon as it is done,
rows already there are skipped; ``--table`` prints the tables of what is there):

    .venv/bin/python benchmarks/validation_floor.py                  # 4 sets x 5 seeds
    .venv/bin/python benchmarks/validation_floor.py --table

At the pipeline's default split (``test_fraction`` 0.2, ``val_fraction`` 0.15 of the training
part: of a 20 000-sample series, 13 600 samples fit, the next 2 400 validate) and the
validation's other settings (transient 200, n-step predictions of 20 steps, range margin 0.5
std, 5 % allowed outside), for each validation setting of ``SETTINGS`` it measures

a. **the floor**: the validation score of the true system: :func:`score_runs` (what
   :func:`~neurodsr.training.validation.validate` computes once it has the model's free runs)
   on runs cut from an independent clean run of the same equations (another initial state),
   normalised like the data, ``--draws`` independent runs per seed;
b. **its noise**: the same model's score from different start states (``validate``'s
   ``start_shift``: the evenly spaced starts moved on by 1/(K x shifts) of the validation
   series, ``--shifts`` sets), as the coefficient of variation (std / mean) per valid member,
   and the same of the floor over the independent runs;
c. **the ranking**: an ensemble of ``--members`` members (seeds x GTF alphas 0.05, 0.1, 0.2,
   0.4, ``--epochs`` epochs of 20 gradient steps each, its last states: no state picked by
   validation) trained on the fitting part; its members' validation scores against their test
   scores (sqrt(D_stsp x D_H) of :func:`neurodsr.metrics.evaluate.evaluate`'s free run against
   a held-out part: the 20 000 samples after the training part, the clean run for the noisy
   Lorenz-63; inf for a member whose test run is not finite): Spearman's rho per start set,
   and the regret of the pick (:func:`~neurodsr.training.select.best_member` on the
   validation scores): its test score / the best member's (1 = validation picked the best).

Sets (each seed its own trajectory, mixing and noise):

- ``lorenz63_noisy``: Lorenz-63, dt 0.01, 5 % Gaussian observation noise (the validation sees
  the noisy series; the test is scored against the clean run; the true system's runs are
  clean: a perfect deterministic model's),
- ``roessler``: Rössler (a, b, c = 0.2, 0.2, 5.7), dt 0.1,
- ``lorenz96_20``: Lorenz-96, N = 20, F = 8, dt 0.05,
- ``rate64``: the zoo's 100-unit chaotic rate network (``rate_net_100``, g = 4, dt 0.25),
  rates tanh(x) through 64 Gaussian mixtures plus 5 % noise (benchmarks/quality.py's
  stand-in); the model is the sizing rule's: the shPLRNN on the leading principal components
  (PCA observation), validated and tested in the 64 channels.

Models: the shPLRNN with M = N, L = 50 (identity observation) below 32 dims, the rule's PCA
size for rate64; one thread; the compiled training loop where it is built.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.stats import spearmanr

from neurodsr.dynamics.systems import lorenz63, lorenz96, roessler
from neurodsr.dynamics.zoo import SYSTEMS, simulate_clean
from neurodsr.metrics.evaluate import evaluate
from neurodsr.models import make_model
from neurodsr.models.base import LatentModel
from neurodsr.training import TrainConfig, train
from neurodsr.training.projection import ProjectedModel, explained_variance, fit_pca
from neurodsr.training.select import best_member
from neurodsr.training.sizing import size_model
from neurodsr.training.validation import score_runs, validate, validation_score

HERE = Path(__file__).resolve().parent
SETS = ("lorenz63_noisy", "roessler", "lorenz96_20", "rate64")
N_SERIES = 20_000  # the series the pipeline splits (quality.py's --n)
TEST_FRACTION, VAL_FRACTION = 0.2, 0.15  # training/defaults.py
N_TEST = 20_000  # held-out samples after the training part (the pipeline's 4 000 and more)
TRANSIENT = 200  # validate's
ALPHAS = (0.05, 0.1, 0.2, 0.4)


@dataclass(frozen=True)
class Setting:
    """One way to validate: total free-run steps over ``starts`` runs, the score reference
    ("validation": the validation series; "training": the whole training part) and D_H."""

    steps: int
    starts: int
    reference: str
    dh: str

    @property
    def run_len(self) -> int:
        return self.steps // self.starts


#: "current" is the validation before this change (TrainConfig's eval_steps 5000, val_starts 4)
SETTINGS: dict[str, Setting] = {
    "current": Setting(5000, 4, "validation", "runs"),
    "seg": Setting(5000, 4, "validation", "segments"),
    "long": Setting(20000, 4, "validation", "runs"),
    "train_ref": Setting(5000, 4, "training", "segments"),
    "train_long": Setting(20000, 4, "training", "segments"),
    "train_long8": Setting(20000, 8, "training", "segments"),
}


# --------------------------------------------------------------------------- data
def _rate_init(first: int, n: int) -> np.ndarray:
    """A clean run of ``rate_net_100`` from the first initial state from ``first`` on whose
    rates keep their spread over the whole run (benchmarks/quality.py's rule)."""
    for init in range(first, first + 20):
        x = simulate_clean("rate_net_100", n, seed=init)
        spread = [float(np.tanh(p).std(0).mean()) for p in np.array_split(x, 5)]
        if min(spread) > 0.9 * spread[0]:
            return x
    raise RuntimeError("rate_net_100: no initial state stayed chaotic")  # pragma: no cover


def make_set(name: str, seed: int, n: int, n_indep: int, draws: int) -> dict[str, Any]:
    """The series (noisy where the set is noisy), its clean version, dt, and ``draws``
    independent clean runs of ``n_indep`` samples (other initial states), data units."""
    rng = np.random.default_rng([seed, 5])
    if name == "lorenz63_noisy":
        clean = lorenz63(n, dt=0.01, seed=seed).values
        noisy = clean + 0.05 * clean.std(0) * rng.standard_normal(clean.shape)
        indep = [lorenz63(n_indep, dt=0.01, seed=1000 + 10 * seed + j).values for j in range(draws)]
        return dict(x=noisy, clean=clean, dt=0.01, indep=indep)
    if name == "roessler":
        clean = roessler(n, dt=0.1, seed=seed).values
        indep = [roessler(n_indep, dt=0.1, seed=1000 + 10 * seed + j).values for j in range(draws)]
        return dict(x=clean, clean=clean, dt=0.1, indep=indep)
    if name == "lorenz96_20":
        clean = lorenz96(n, dt=0.05, n=20, seed=seed).values
        indep = [
            lorenz96(n_indep, dt=0.05, n=20, seed=1000 + 10 * seed + j).values for j in range(draws)
        ]
        return dict(x=clean, clean=clean, dt=0.05, indep=indep)
    if name == "rate64":
        mix = np.random.default_rng([seed, 64]).standard_normal((100, 64)) / 10.0
        clean = np.tanh(_rate_init(100 * seed, n)) @ mix
        noisy = clean + 0.05 * clean.std(0) * rng.standard_normal(clean.shape)
        indep = [np.tanh(_rate_init(100 * seed + 50 + 3 * j, n_indep)) @ mix for j in range(draws)]
        return dict(x=noisy, clean=clean, dt=SYSTEMS["rate_net_100"].dt, indep=indep)
    raise SystemExit(f"unknown set {name!r}; choose from {SETS}")


def _cut_runs(x: np.ndarray, k: int, run_len: int) -> np.ndarray:
    """``k`` runs of ``run_len`` samples cut from one long run (evenly spaced, a transient
    between them): (k, run_len, N)."""
    stride = (len(x) - TRANSIENT) // k
    if stride < run_len:
        raise ValueError(f"an independent run of {len(x)} samples is too short")
    return np.stack(
        [x[TRANSIENT + i * stride : TRANSIENT + i * stride + run_len] for i in range(k)]
    )


# --------------------------------------------------------------------------- one (set, seed)
def _score(setting: Setting, x_train: np.ndarray) -> dict[str, Any]:
    """The scoring arguments of ``validate`` / ``score_runs`` for a setting."""
    return dict(x_score=x_train if setting.reference == "training" else None, dh=setting.dh)


def run_one(name: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """Floor, noise and ranking of every setting on one set and seed: one jsonl row."""
    t_start = time.perf_counter()
    data = make_set(
        name, seed, N_SERIES + N_TEST - round(N_SERIES * TEST_FRACTION), 21_000, args.draws
    )
    n_train = round(N_SERIES * (1 - TEST_FRACTION))
    n_val = round(n_train * VAL_FRACTION)
    x, clean = data["x"], data["clean"]
    mean, std = x[:n_train].mean(0), x[:n_train].std(0)
    norm = lambda a: (a - mean) / std  # noqa: E731
    x_train = norm(x[:n_train])
    x_fit, x_val = x_train[: n_train - n_val], x_train[n_train - n_val :]
    x_test, clean_test = norm(x[n_train:]), norm(clean[n_train:])
    row: dict[str, Any] = dict(
        set=name, seed=seed, n_train=n_train, n_val=n_val, n_test=len(x_test)
    )

    # a. the floor (and its spread over independent runs of the true system)
    floor: dict[str, list[dict[str, float]]] = {}
    for key, st in SETTINGS.items():
        floor[key] = []
        for indep in data["indep"]:
            runs = _cut_runs(norm(indep), st.starts, st.run_len)
            r = score_runs(x_val, runs, **_score(st, x_train))
            floor[key].append(dict(score=r.score, dstsp=r.dstsp, dh=r.dh, why=r.why))
    row["floor"] = floor

    # c. an ensemble trained on the fitting part
    n_dim = x.shape[1]
    member_seeds = [100 * seed + i for i in range(args.members)]
    alphas = [ALPHAS[i % len(ALPHAS)] for i in range(args.members)]
    proj = None
    if n_dim >= 32:
        size = size_model(n_dim, len(x_fit), variance=explained_variance(x_fit))
        proj = fit_pca(x_fit, size.components)
        net = make_model(
            size.model, proj.k, size.latent, seeds=member_seeds, hidden_dim=size.hidden
        )
        fit_data, row["model"] = (
            proj.transform(x_fit),
            f"{size.model} PCA k={proj.k} L={size.hidden}",
        )
    else:
        net = make_model("shplrnn", n_dim, n_dim, seeds=member_seeds, hidden_dim=50)
        fit_data, row["model"] = x_fit, f"shplrnn M={n_dim} L=50"
    cfg = TrainConfig(
        forcing="mixed",
        tau=[1] * args.members,
        alpha=alphas,
        epochs=args.epochs,
        eval_every=args.epochs,  # one validation, at the end (its states are not used)
        patience=None,
        keep_best=False,
        progress=False,
        device="cpu",
        threads=1,
    )
    t0 = time.perf_counter()
    train(net, fit_data, cfg)
    net.eval()
    row["train_seconds"] = time.perf_counter() - t0
    view: LatentModel = ProjectedModel(net, proj) if proj is not None else net
    row["alphas"], row["member_seeds"] = alphas, member_seeds

    ev = evaluate(view, clean_test, n_generate=len(clean_test), transient=1000, x_start=x_test[0])
    test = []
    for m in ev.metrics:
        finite = m["free_run_finite"] and math.isfinite(m["D_stsp"])
        test.append(validation_score(m["D_stsp"], m["D_H"]) if finite else math.inf)
    row["test_score"] = test
    row["test_dstsp"] = [m["D_stsp"] for m in ev.metrics]
    row["test_dh"] = [m["D_H"] for m in ev.metrics]
    row["test_outside"] = [m["frac_outside"] for m in ev.metrics]

    # b. and c.: validation of the trained members from several start sets
    val: dict[str, dict[str, Any]] = {}
    best_test = min(test)
    for key, st in SETTINGS.items():
        per_shift = []
        for j in range(args.shifts):
            shift = j * (len(x_val) // (st.starts * args.shifts))
            t0 = time.perf_counter()
            v = validate(
                view, x_val, st.steps, n_starts=st.starts, start_shift=shift, **_score(st, x_train)
            )
            secs = time.perf_counter() - t0
            pick = best_member(np.asarray(v.score), v.outside)
            rho = spearmanr(v.score, test).statistic if len(set(v.score)) > 1 else math.nan
            per_shift.append(
                dict(
                    shift=shift,
                    seconds=secs,
                    score=v.score,
                    dstsp=v.dstsp,
                    dh=v.dh,
                    why=v.why,
                    pick=int(pick),
                    regret=test[pick] / best_test if math.isfinite(best_test) else math.nan,
                    spearman=float(rho),
                )
            )
        val[key] = {"shifts": per_shift}
    row["validation"] = val
    row["seconds"] = time.perf_counter() - t_start
    return row


# --------------------------------------------------------------------------- tables
def _med_iqr(v: list[float], fmt: str = ".3g") -> str:
    a = np.asarray([x for x in v if x is not None and not math.isnan(x)], dtype=np.float64)
    if not len(a):
        return "-"
    q1, q2, q3 = np.percentile(a, [25, 50, 75])
    return f"{q2:{fmt}} [{q1:{fmt}}, {q3:{fmt}}]"


def _cv(scores: list[list[float]]) -> list[float]:
    """Per member, std / mean of its score over the start sets (members valid in all; none
    for a row validated from one start set)."""
    a = np.asarray(scores, dtype=np.float64)  # (shifts, E)
    if len(a) < 2:
        return []
    ok = np.isfinite(a).all(0)
    return [float(a[:, e].std() / a[:, e].mean()) for e in np.flatnonzero(ok)]


def args_members(rows: list[dict[str, Any]]) -> str:
    """The ensemble sizes of the rows ("8")."""
    return "/".join(str(n) for n in sorted({len(r["test_score"]) for r in rows}))


def table(path: Path) -> str:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    sets = [s for s in SETS if any(r["set"] == s for r in rows)]
    out = [
        f"{len(rows)} (set, seed) rows; medians [IQR] over sets x seeds (x independent runs for "
        "the floor, x start sets for the rest)",
        "",
        "| setting | steps x starts | reference | D_H | floor score | floor D_stsp | floor D_H | "
        "floor CV over runs | member CV over starts | Spearman rho | regret | "
        "picks the best | seconds per call |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key, st in SETTINGS.items():
        fs = [f for r in rows for f in r["floor"][key]]
        spreads = []
        for r in rows:
            sc = np.asarray([f["score"] for f in r["floor"][key]])
            if np.isfinite(sc).all() and len(sc) > 1:
                spreads.append(float(sc.std() / sc.mean()))
        sh = [s for r in rows for s in r["validation"][key]["shifts"]]
        cvs = [c for r in rows for c in _cv([s["score"] for s in r["validation"][key]["shifts"]])]
        best = [s["regret"] == 1.0 for s in sh if not math.isnan(s["regret"])]
        out.append(
            f"| {key} | {st.run_len} x {st.starts} | {st.reference} | {st.dh} | "
            f"{_med_iqr([f['score'] for f in fs])} | {_med_iqr([f['dstsp'] for f in fs])} | "
            f"{_med_iqr([f['dh'] for f in fs])} | {_med_iqr(spreads, '.2f')} | "
            f"{_med_iqr(cvs, '.2f')} | {_med_iqr([s['spearman'] for s in sh], '.2f')} | "
            f"{_med_iqr([s['regret'] for s in sh], '.3g')} | {np.mean(best):.0%} of {len(best)} | "
            f"{_med_iqr([s['seconds'] for s in sh], '.2f')} |"
        )

    def shifts(key: str, s: str) -> list[dict]:
        return [x for r in rows if r["set"] == s for x in r["validation"][key]["shifts"]]

    def rho_regret(key: str, s: str) -> str:
        sh = shifts(key, s)
        reg = np.nanmedian([x["regret"] for x in sh])
        return f"{_med_iqr([x['spearman'] for x in sh], '.2f')}; regret {reg:.3g}"

    per_set = [
        ("Spearman rho median [IQR] (over seeds x start sets) and regret median", rho_regret),
        (
            "floor score median [IQR] (over seeds x independent runs)",
            lambda key, s: _med_iqr(
                [f["score"] for r in rows if r["set"] == s for f in r["floor"][key]]
            ),
        ),
        (
            f"seconds per validate() call ({args_members(rows)} members) median [IQR]",
            lambda key, s: _med_iqr([x["seconds"] for x in shifts(key, s)], ".2f"),
        ),
    ]
    for title, cell in per_set:
        out += ["", f"Per set: {title}", "", "| setting | " + " | ".join(sets) + " |"]
        out.append("|---|" + "---|" * len(sets))
        out += [f"| {key} | " + " | ".join(cell(key, s) for s in sets) + " |" for key in SETTINGS]
    train_s = [r["train_seconds"] for r in rows]
    out += ["", f"training seconds per ensemble: {_med_iqr(train_s, '.0f')}"]
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    p.add_argument("--seeds", type=int, default=5, help="seeds 0 .. seeds-1 per set")
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--members", type=int, default=8)
    p.add_argument("--epochs", type=int, default=60, help="epochs of 20 gradient steps")
    p.add_argument("--draws", type=int, default=3, help="independent true runs per seed")
    p.add_argument("--shifts", type=int, default=3, help="start sets per validation")
    p.add_argument("--out", type=Path, default=Path("validation_floor.jsonl"))
    p.add_argument("--table", action="store_true", help="print the tables of --out and exit")
    args = p.parse_args()
    if args.table:
        print(table(args.out))
        return
    torch.set_num_threads(1)
    done = set()
    if args.out.exists():
        for line in args.out.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                done.add((r["set"], r["seed"]))
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        for name in args.sets:
            if (name, seed) in done:
                continue
            row = run_one(name, seed, args)
            with args.out.open("a") as f:
                f.write(json.dumps(row, default=float) + "\n")
            summary = {
                k: round(float(np.median([s["spearman"] for s in v["shifts"]])), 2)
                for k, v in row["validation"].items()
            }
            print(name, seed, f"{row['seconds']:.0f} s", "rho", summary, flush=True)
    print(table(args.out))


if __name__ == "__main__":
    main()
