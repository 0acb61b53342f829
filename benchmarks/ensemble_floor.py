"""The floor under an ensemble's gradient step: the fused PL pass's per-step kernels alone.

    .venv/bin/python benchmarks/ensemble_floor.py [--latent 3 --hidden 50 --seq-len 200
        --batch 16 --threads 1 --ensembles 1 4 16]

Runs, for each ensemble size E, the eight batched kernels that the shPLRNN's fused pass
(:mod:`neurodsr.models.fused`) issues per time step (forward: hidden-layer product, ReLU, state
update, read-out product; adjoint: product, ReLU mask, state adjoint, product), on small
tensors that stay in cache, with no activation buffers, no forcing, no weight gradients and no
optimizer. Prints one JSON line per E with ``ms_per_step`` (one gradient step's worth of these
kernels) and ``ratio_to_e1``.

What it shows: the time of the whole step cannot fall below this, so where ``ratio_to_e1`` at
E = 16 is above 2, "16 seeds in at most 2x the time of one" cannot be reached by eager
per-step kernels on this machine, whatever the buffer layout; it would take fewer, larger
kernels (a compiled time loop) or a GPU. Compare with ``train_speed.py --ensemble E``.
"""

from __future__ import annotations

import argparse
import json
import time

import torch


def kernels_ms(e: int, m: int, hidden: int, seq_len: int, batch: int, repeats: int) -> float:
    """Best-of-3 mean milliseconds of one gradient step's per-step kernels at ensemble size e."""
    gen = torch.Generator().manual_seed(0)

    def rand(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen)

    z, a, h = rand(e, batch, m + 1), rand(e, 1, m + 1), rand(e, batch, m + 1)
    w2t, w1t = rand(e, m + 1, hidden), rand(e, hidden, m + 1)
    r, z_next = torch.empty(e, batch, hidden), torch.empty(e, batch, m + 1)
    d, d_prev, a_m = rand(e, batch, m), rand(e, batch, m), rand(e, 1, m)
    w1, w2, mask = rand(e, m, hidden), rand(e, hidden, m), rand(e, batch, hidden).sign()
    u = torch.empty(e, batch, hidden)

    def step() -> None:
        for _ in range(seq_len):
            torch.bmm(z, w2t, out=r).clamp_min_(0.0)
            torch.addcmul(h, a, z, out=z_next).baddbmm_(r, w1t)
        for _ in range(seq_len):
            torch.bmm(d, w1, out=u).mul_(mask)
            d_prev.addcmul_(a_m, d).baddbmm_(u, w2)

    step()
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(repeats):
            step()
        best = min(best, (time.perf_counter() - t0) / repeats * 1e3)
    return best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--latent", type=int, default=3)
    p.add_argument("--hidden", type=int, default=50)
    p.add_argument("--seq-len", type=int, default=200)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--ensembles", type=int, nargs="+", default=[1, 4, 16])
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    sizes = (args.latent, args.hidden, args.seq_len, args.batch, args.repeats)
    base = kernels_ms(1, *sizes)
    for e in args.ensembles:
        ms = base if e == 1 else kernels_ms(e, *sizes)
        print(
            json.dumps(
                {
                    "ensemble": e,
                    "latent": args.latent,
                    "hidden": args.hidden,
                    "seq_len": args.seq_len,
                    "batch": args.batch,
                    "threads": args.threads,
                    "ms_per_step": round(ms, 3),
                    "ratio_to_e1": round(ms / base, 2),
                }
            )
        )


if __name__ == "__main__":
    main()
