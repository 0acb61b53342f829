"""Fit Lorenz-63 with sparse teacher forcing and score it against a separate long trajectory.

Lorenz-63 (10, 28, 8/3), dt = 0.01, three observed dims, z-scored; tau = 77 steps from the known
exponent (ln 2 / (0.9056 * 0.01) = 76.5). The scored free run and the reference trajectory both
have 10^5 steps (binned D_stsp grows as series get shorter: compare only at equal lengths).

    .venv/bin/python benchmarks/lorenz_fit.py            # the issue's setting, ~10 min budget
    .venv/bin/python benchmarks/lorenz_fit.py --max-minutes 2 --seeds 1   # quicker look

Prints a table and one JSON line with D_stsp, D_H, PE(20) and seconds, and the time to a
validation D_stsp below ``--target`` (0.5): the training seconds at the first validation
(every ``--eval-every`` epochs, a 5000-step free run scored against the validation part) at
which any seed scored below it. ``--loop torch`` runs the fused pass's torch loop instead of
the compiled one (the "before" of issue 17); run both at once for a side-by-side comparison:

    .venv/bin/python benchmarks/lorenz_fit.py --max-minutes 5 --loop compiled &
    .venv/bin/python benchmarks/lorenz_fit.py --max-minutes 5 --loop torch
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
import torch

from neurodsr.api import train_fit
from neurodsr.dynamics.systems import LORENZ63_SPECTRUM, lorenz63
from neurodsr.metrics.evaluate import evaluate
from neurodsr.models import fused


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-train", type=int, default=100_000)
    p.add_argument("--n-ref", type=int, default=100_000)
    p.add_argument("--model", default="shplrnn")
    p.add_argument("--latent", type=int, default=3)
    p.add_argument("--hidden", type=int, default=50)
    p.add_argument("--tau", type=int, default=round(math.log(2) / (LORENZ63_SPECTRUM[0] * 0.01)))
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--epochs", type=int, default=3000)
    p.add_argument("--seq-len", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--max-minutes", type=float, default=9.0)
    p.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest here)")
    p.add_argument("--forcing", default="stf", choices=["stf", "gtf"])
    p.add_argument("--alpha", type=float, default=0.1, help="GTF's forcing strength")
    p.add_argument("--eval-every", type=int, default=25, help="epochs between validations")
    p.add_argument("--target", type=float, default=0.5, help="validation D_stsp to reach")
    p.add_argument(
        "--loop",
        default="compiled",
        choices=["compiled", "torch"],
        help="the fused pass's time loop: compiled (default) or torch ops",
    )
    args = p.parse_args()
    fused.use_compiled = args.loop == "compiled"
    if args.threads:
        torch.set_num_threads(args.threads)

    x = lorenz63(args.n_train + 1000, dt=0.01, seed=1).values
    ref = lorenz63(args.n_ref, dt=0.01, seed=12345).values  # a separate trajectory
    mu, sd = x.mean(0), x.std(0)
    x, ref = (x - mu) / sd, (ref - mu) / sd

    t0 = time.perf_counter()
    result = train_fit(
        x,
        0.01,
        tau=args.tau,
        model=args.model,
        latent=args.latent,
        hidden=args.hidden,
        seeds=args.seeds,
        epochs=args.epochs,
        max_minutes=args.max_minutes,
        n_train=args.n_train,
        seq_len=args.seq_len,
        batch_size=args.batch_size,
        lr=args.lr,
        forcing=args.forcing,
        alpha=args.alpha,
        eval_every=args.eval_every,
        device="cpu",
        progress=False,
    )
    train_s = time.perf_counter() - t0
    log = result.log
    reached = [
        (log.seconds[log.epoch.index(ep)], ep)
        for ep, scores in zip(log.eval_epoch, log.eval_dstsp, strict=True)
        if min(scores) < args.target and ep in log.epoch
    ]
    ev = evaluate(result.model, result.normalise(ref), n_generate=args.n_ref, n_pred=20)
    total_s = time.perf_counter() - t0
    print(f"{'seed':>6} {'D_stsp':>8} {'D_H':>7} {'PE(20)':>8} {'outside':>8}")
    for m in ev.metrics:
        mark = " <- best by validation" if m["seed"] == result.model.seeds[result.best] else ""
        print(
            f"{m['seed']:>6} {m['D_stsp']:8.3f} {m['D_H']:7.3f} {m['PE']:8.4f} "
            f"{m['frac_outside']:8.4f}{mark}"
        )
    best = ev.metrics[result.best]
    print(
        json.dumps(
            {
                "D_stsp": best["D_stsp"],
                "D_H": best["D_H"],
                "PE20": best["PE"],
                "D_stsp_median": float(np.median([m["D_stsp"] for m in ev.metrics])),
                "train_seconds": round(train_s, 1),
                "total_seconds": round(total_s, 1),
                "epochs_run": len(result.log.epoch),
                "seconds_to_target": round(reached[0][0], 1) if reached else None,
                "epoch_at_target": reached[0][1] if reached else None,
                "target_val_dstsp": args.target,
                "best_val_dstsp": min(min(s) for s in log.eval_dstsp) if log.eval_dstsp else None,
                "loop": args.loop,
                "forcing": args.forcing,
                "tau": args.tau,
                "seeds": args.seeds,
                "n_ref": args.n_ref,
                "model": args.model,
                "hidden": args.hidden,
                "torch_threads": torch.get_num_threads(),
            }
        )
    )


if __name__ == "__main__":
    main()
