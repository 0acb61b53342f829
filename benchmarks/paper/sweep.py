"""The paper's central experiment: reconstruction quality against the forcing interval tau.

For one system (Lorenz-63 or Rössler, simulated with ``neurodsr.dynamics.systems``), trains each
model with sparse teacher forcing at every tau of a grid, with plain BPTT (no forcing after the
first step), and with plain BPTT plus gradient-norm clipping, all with the same budget: the same
number of gradient steps (``--epochs`` x 20 batches of ``--batch-size`` windows of ``--seq-len``
steps; the learning rate decays over them), with a wall-clock cap (``--cap-min``) as a safety
net only. Steps rather than minutes, because on a shared machine a wall-clock budget gives
configs that ran beside a busy job less training. The seeds of one config train together as
one ensemble. Every member is scored
against a separate reference trajectory (``--n-ref`` steps) with a free run of the same length.

One JSON line per member is appended to ``--out``; configs already there are skipped, so a
cut-off run resumes where it stopped.

    .venv/bin/python benchmarks/paper/sweep.py --system lorenz --models shplrnn,plrnn
    .venv/bin/python benchmarks/paper/sweep.py --system roessler --models lstm \
        --taus 5,30,97,none --clips 10,1000
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from neurodsr.api import train_fit
from neurodsr.dynamics.systems import LORENZ63_SPECTRUM, ROESSLER_LAMBDA_MAX, lorenz63, roessler
from neurodsr.errors import TrainingError
from neurodsr.metrics.evaluate import evaluate

HERE = Path(__file__).resolve().parent

#: system -> (simulator, dt, lambda_max per unit time)
SYSTEMS = {
    "lorenz": (lorenz63, 0.01, LORENZ63_SPECTRUM[0]),
    "roessler": (roessler, 0.1, ROESSLER_LAMBDA_MAX),
}
#: model -> (latent M, hidden L or None); shPLRNN as in benchmarks/lorenz_fit.py, the PLRNN and
#: the LSTM (no hidden layer of their own) get M = 20 so that they can express the attractor.
SIZES = {"shplrnn": (3, 50), "plrnn": (20, None), "lstm": (20, None)}


def tau_star(system: str) -> int:
    """ln 2 / lambda_max in steps, from the known exponent."""
    _, dt, lam = SYSTEMS[system]
    return round(math.log(2) / (lam * dt))


def configs(
    system: str, models: list[str], taus: list[str], clips: list[str], alphas: list[str] = ()
) -> list[dict]:
    """Every (model, method, tau, clip, alpha) of the sweep, in the order they run."""
    out = []
    for m in models:
        for t in taus:
            tau = None if t == "none" else int(tau_star(system) if t == "star" else t)
            out.append({"model": m, "method": "stf" if tau else "bptt", "tau": tau, "clip": None})
        for c in clips:
            out.append({"model": m, "method": "clip", "tau": None, "clip": float(c)})
        for a in alphas:
            alpha = a if a == "adaptive" else float(a)
            out.append({"model": m, "method": "gtf", "tau": None, "clip": None, "alpha": alpha})
    return out


def key(rec: dict) -> tuple:
    return (
        rec["system"],
        rec["model"],
        rec["method"],
        rec["tau"],
        rec["clip"],
        rec.get("alpha"),
        rec.get("seed0", 0),
    )


def done_keys(path: Path) -> set[tuple]:
    if not path.exists():
        return set()
    keys = set()
    for line in path.read_text().splitlines():
        if line.strip():
            keys.add(key(json.loads(line)))
    return keys


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--system", choices=sorted(SYSTEMS), default="lorenz")
    p.add_argument("--models", default="shplrnn,plrnn,lstm")
    p.add_argument(
        "--taus",
        default="1,5,10,20,30,50,star,100,200,none",
        help="comma list; 'star' = ln 2 / lambda_max, 'none' = plain BPTT",
    )
    p.add_argument("--clips", default="1,10,100,1000", help="grad-norm clips of plain BPTT")
    p.add_argument(
        "--alphas", default="", help="GTF strengths (comma list of numbers in [0, 1] or 'adaptive')"
    )
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--seed0", type=int, default=0, help="first seed (more seeds: rerun with 3)")
    p.add_argument("--epochs", type=int, default=100, help="epochs of 20 gradient steps")
    p.add_argument("--cap-min", type=float, default=1.5, help="wall-clock cap per config")
    p.add_argument("--n-train", type=int, default=50_000)
    p.add_argument("--n-ref", type=int, default=20_000)
    p.add_argument("--seq-len", type=int, default=300)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    torch.set_num_threads(1)
    out = args.out or HERE / "results" / f"sweep_{args.system}.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)

    sim, dt, _ = SYSTEMS[args.system]
    x = sim(args.n_train + 200, dt=dt, seed=1).values
    ref = sim(args.n_ref, dt=dt, seed=12345).values  # a separate trajectory
    todo = configs(
        args.system,
        args.models.split(","),
        [t for t in args.taus.split(",") if t],
        [c for c in args.clips.split(",") if c],
        [a for a in args.alphas.split(",") if a],
    )
    done = done_keys(out)
    for cfg in todo:
        rec0 = {"system": args.system, **cfg, "seed0": args.seed0}
        if key(rec0) in done:
            continue
        model = cfg["model"]
        m, h = SIZES[model]
        t0 = time.perf_counter()
        try:
            res = train_fit(
                x,
                dt,
                tau=cfg["tau"],
                model=model,
                forcing="gtf" if cfg["method"] == "gtf" else "stf",
                alpha=cfg.get("alpha", 0.1),
                latent=m,
                hidden=h,
                seeds=args.seeds,
                seed=args.seed0,
                epochs=args.epochs,
                max_minutes=args.cap_min,
                n_train=args.n_train,
                seq_len=args.seq_len,
                batch_size=args.batch_size,
                lr=args.lr,
                grad_clip=cfg["clip"],
                device="cpu",
                progress=False,
                threads=1,
            )
        except TrainingError as err:  # every member failed: record them as diverged
            print(f"{args.system} {model} {cfg}: training failed: {err}", flush=True)
            with out.open("a") as f:
                for sd in range(args.seed0, args.seed0 + args.seeds):
                    f.write(
                        json.dumps(
                            {
                                **rec0,
                                "seed": sd,
                                "D_stsp": float("inf"),
                                "D_H": float("nan"),
                                "PE20": float("nan"),
                                "frac_outside": 1.0,
                                "diverged": True,
                                "epochs_planned": args.epochs,
                                "epochs_run": 0,
                                "train_failed": str(err)[:200],
                                "tau_star": tau_star(args.system),
                            }
                        )
                        + "\n"
                    )
            continue
        train_s = time.perf_counter() - t0
        ev = evaluate(res.model, res.normalise(ref), n_generate=args.n_ref, n_pred=20)
        with out.open("a") as f:
            for mt in ev.metrics:
                rec = {
                    **rec0,
                    "seed": mt["seed"],
                    "D_stsp": mt["D_stsp"],
                    "D_H": mt["D_H"],
                    "PE20": mt["PE"],
                    "frac_outside": mt["frac_outside"],
                    "diverged": bool(mt["diverged"]),
                    "epochs_planned": args.epochs,
                    "epochs_run": len(res.log.epoch),
                    "train_s": round(train_s, 1),
                    "cap_min": args.cap_min,
                    "n_train": args.n_train,
                    "n_ref": args.n_ref,
                    "seq_len": args.seq_len,
                    "batch_size": args.batch_size,
                    "tau_star": tau_star(args.system),
                    "latent": m,
                    "hidden": h,
                }
                f.write(json.dumps(rec) + "\n")
        med = np.median([mt["D_stsp"] for mt in ev.metrics])
        print(
            f"{args.system} {model} {cfg['method']} tau={cfg['tau']} clip={cfg['clip']} "
            f"alpha={cfg.get('alpha')}: "
            f"D_stsp median {med:.3f}, {len(res.log.epoch)} epochs, {train_s:.0f} s",
            flush=True,
        )


if __name__ == "__main__":
    main()
