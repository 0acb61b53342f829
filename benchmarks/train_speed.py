"""Gradient steps per second of the trainer, measured side by side against a baseline.

    .venv/bin/python benchmarks/train_speed.py --model plrnn --latent 30 --tau 30 \\
        --seq-len 100 --batch 32 --steps 200 --threads 2 --baseline autograd [--repeats 5]

Each step is :func:`neurodsr.training.trainer.gradient_step` on a batch from the trainer's own
:class:`~neurodsr.training.trainer.WindowSampler` (``sample_windows``: window starts, read in
place by the compiled pass, as ``train`` draws them), with the trainer's optimizer: the same
rollout (compiled or fused for the PL family), loss, finiteness check and Adam update as
``fit``. The candidate (the default path) and the baseline run in the same process on the same
sizes, interleaved (candidate, baseline, candidate, baseline, ...; ``--repeats`` pairs), so a
machine shared with other jobs slows both alike; the ratio printed is the median over the
pairs of baseline time / candidate time, with its range. Baselines:

- ``autograd``: the same model through the generic autograd loop over time (``fused = False``);
- ``torch-loop``: the fused pass with its time loops in torch ops (no compiled loop);
- ``one-member``: the same model with one member (``--ensemble`` members against one):
  the candidate's time per step over the one member's is what an ensemble costs.
- ``none``: the candidate alone.

Prints one JSON line: ms per step (median, min, max over the repeats) of both, wall-clock and
process CPU time, steps/s and model steps/s (= steps/s x members) of the candidate, and
``ratio`` and ``cpu_ratio`` (median, min, max over the pairs). On a machine shared with other
jobs the CPU-time ratio of single-threaded runs is the steadier one. No speed measured
elsewhere is printed as a speed-up.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import time
from collections.abc import Callable

import torch

from neurodsr.models import fused, make_model
from neurodsr.training import TrainConfig
from neurodsr.training.trainer import WindowSampler, gradient_step, make_optimizer


def _stepper(
    args: argparse.Namespace, ensemble: int, path: str
) -> Callable[[int], tuple[float, float]]:
    """A function running n gradient steps of one configuration; returns the seconds taken,
    wall-clock and CPU time of this process (all its threads)."""
    device = torch.device(args.device)
    n_obs = args.obs or args.latent
    model = make_model(
        args.model,
        n_obs,
        args.latent,
        seeds=list(range(ensemble)),
        hidden_dim=args.hidden or args.latent,
    ).to(device)
    if path == "autograd":
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

    def run(n: int) -> tuple[float, float]:
        switch = path == "torch-loop"
        before = fused.use_compiled
        fused.use_compiled = not switch and before
        try:
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(n):
                gradient_step(model, opt, sampler.sample_windows(args.batch), tau, alpha, cfg)
            if device.type == "cuda":
                torch.cuda.synchronize()
            return time.perf_counter() - t0, time.process_time() - c0
        finally:
            fused.use_compiled = before

    run.model = model  # type: ignore[attr-defined]
    run.tau, run.alpha = tau, alpha  # type: ignore[attr-defined]
    return run


def _summary(ms: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(ms), 3),
        "min": round(min(ms), 3),
        "max": round(max(ms), 3),
    }


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
    p.add_argument("--steps", type=int, default=200, help="candidate steps per repeat")
    p.add_argument(
        "--baseline-steps",
        type=int,
        default=None,
        help="baseline steps per repeat (default: --steps)",
    )
    p.add_argument("--repeats", type=int, default=5, help="candidate/baseline pairs")
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--ensemble", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--baseline", default="none", choices=["none", "autograd", "torch-loop", "one-member"]
    )
    p.add_argument(
        "--path",
        default="default",
        choices=["default", "autograd", "torch-loop"],
        help="the candidate's path (default: what fit runs)",
    )
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cand = _stepper(args, args.ensemble, args.path)
    base = None
    if args.baseline == "one-member":
        base = _stepper(args, 1, args.path)
    elif args.baseline != "none":
        base = _stepper(args, args.ensemble, args.baseline)
    n_base = args.baseline_steps or args.steps
    cand(args.warmup)
    if base is not None:
        base(args.warmup)
    ms_c, ms_b, ratios, cpu_c, cpu_b, cpu_ratios = [], [], [], [], [], []
    for _ in range(args.repeats):
        wall, cpu = cand(args.steps)
        ms_c.append(1000 * wall / args.steps)
        cpu_c.append(1000 * cpu / args.steps)
        if base is not None:
            wall, cpu = base(n_base)
            ms_b.append(1000 * wall / n_base)
            cpu_b.append(1000 * cpu / n_base)
            ratios.append(ms_b[-1] / ms_c[-1])
            cpu_ratios.append(cpu_b[-1] / cpu_c[-1])
    model = cand.model  # type: ignore[attr-defined]
    compiled = bool(getattr(model, "fused", False)) and model.observation == "identity"
    compiled = (
        compiled
        and args.path == "default"
        and fused._use_compiled(torch.empty(0, device=args.device)) is not None
    )
    med = statistics.median(ms_c)
    out = {
        "model": args.model,
        "latent": args.latent,
        "hidden": args.hidden or args.latent,
        "forcing": "stf" if args.alpha is None else "gtf",
        "tau": cand.tau,  # type: ignore[attr-defined]
        "alpha": cand.alpha,  # type: ignore[attr-defined]
        "seq_len": args.seq_len,
        "batch": args.batch,
        "ensemble": args.ensemble,
        "device": args.device,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "path": args.path,
        "compiled": compiled,
        "repeats": args.repeats,
        "ms_per_step": _summary(ms_c),
        "cpu_ms_per_step": _summary(cpu_c),
        "steps_per_s": round(1000 / med, 1),
        "model_steps_per_s": round(1000 * args.ensemble / med, 1),
    }
    if base is not None:
        out["baseline"] = args.baseline
        out["baseline_ms_per_step"] = _summary(ms_b)
        out["baseline_cpu_ms_per_step"] = _summary(cpu_b)
        # autograd/torch-loop: how many times faster the candidate is; one-member: how many
        # times one member's step the ensemble's step costs. cpu_ratio: the same from CPU
        # time, steadier than wall-clock when other jobs share the cores (1 thread only:
        # with more, CPU time counts every thread, spinning included)
        inv = args.baseline == "one-member"
        out["ratio"] = _summary([1 / q for q in ratios] if inv else ratios)
        out["cpu_ratio"] = _summary([1 / q for q in cpu_ratios] if inv else cpu_ratios)
    print(json.dumps(out))


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
