"""Gradient steps per second of the trainer, on exactly the code path that ``fit`` trains.

    .venv/bin/python benchmarks/train_speed.py --model plrnn --latent 30 --tau 30 \\
        --seq-len 100 --batch 32 --steps 200 --threads 2 [--ensemble 16] [--device cuda]

Prints one JSON line: ``steps_per_s`` (gradient steps of the whole ensemble per second, after
warm-up) and ``model_steps_per_s`` (= steps_per_s x ensemble). Each step is
:func:`neurodsr.training.trainer.gradient_step` on a batch from the trainer's own
:class:`~neurodsr.training.trainer.WindowSampler`, with the trainer's optimizer: the same
rollout (fused for the PL family), loss, finiteness check and Adam update as ``fit``.

The reference STF code (an eager autograd loop over time) runs the PLRNN at these sizes at
about 26 steps/s on 1 thread and 33 on 2 threads of this kind of machine; its LSTM at about 11.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from neurodsr.models import make_model
from neurodsr.training import TrainConfig
from neurodsr.training.trainer import WindowSampler, gradient_step, make_optimizer

REFERENCE_STEPS_PER_S = {"plrnn": 33.0, "shplrnn": 33.0, "lstm": 11.0}  # 2 threads


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--model",
        default="plrnn",
        choices=["plrnn", "shplrnn", "clipped_shplrnn", "dendplrnn", "lstm", "gru", "rnn"],
    )
    p.add_argument("--latent", type=int, default=30)
    p.add_argument("--hidden", type=int, default=None, help="L (default: latent)")
    p.add_argument("--obs", type=int, default=None, help="observed dims N (default: latent)")
    p.add_argument("--tau", type=int, default=30)
    p.add_argument(
        "--alpha",
        type=float,
        default=None,
        help="GTF instead of STF: forcing strength alpha at every step (tau = 1)",
    )
    p.add_argument("--seq-len", type=int, default=100)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--ensemble", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--autograd",
        action="store_true",
        help="force the generic autograd rollout (for comparison)",
    )
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    n_obs = args.obs or args.latent
    model = make_model(
        args.model,
        n_obs,
        args.latent,
        seeds=list(range(args.ensemble)),
        hidden_dim=args.hidden or args.latent,
    ).to(device)
    if args.autograd:
        model.fused = False
    forcing = "stf" if args.alpha is None else "gtf"
    cfg = TrainConfig(
        forcing=forcing,
        tau=args.tau,
        alpha=args.alpha or 0.1,
        seq_len=args.seq_len,
        batch_size=args.batch,
        device=args.device,
        progress=False,
    )
    tau, alpha = cfg.forcing_schedule()  # STF: (tau, 1); GTF: (1, alpha), as train() uses
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(max(20_000, 4 * args.seq_len), n_obs, generator=gen).to(device)
    sampler = WindowSampler(x, args.seq_len, model.seeds)
    opt = make_optimizer(model, cfg)

    def run(n: int) -> None:
        for _ in range(n):
            gradient_step(model, opt, sampler.sample(args.batch), tau, alpha, cfg)
        if device.type == "cuda":
            torch.cuda.synchronize()

    run(args.warmup)
    t0 = time.perf_counter()
    run(args.steps)
    seconds = time.perf_counter() - t0
    sps = args.steps / seconds
    ref = REFERENCE_STEPS_PER_S.get(args.model)
    print(
        json.dumps(
            {
                "model": args.model,
                "latent": args.latent,
                "hidden": args.hidden or args.latent,
                "forcing": forcing,
                "tau": tau,
                "alpha": alpha,
                "seq_len": args.seq_len,
                "batch": args.batch,
                "ensemble": args.ensemble,
                "device": str(device),
                "threads": torch.get_num_threads(),
                "fused": bool(getattr(model, "fused", False)) and model.observation == "identity",
                "steps_per_s": round(sps, 1),
                "model_steps_per_s": round(sps * args.ensemble, 1),
                "ms_per_step": round(1000 / sps, 3),
                "speedup_vs_reference": None if ref is None else round(sps / ref, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
