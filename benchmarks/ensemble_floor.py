"""The floor under an ensemble's gradient step: the PL pass's time loop alone.

    .venv/bin/python benchmarks/ensemble_floor.py [--latent 3 --hidden 50 --seq-len 200
        --batch 16 --threads 2 --ensembles 1 4 16] [--kernels compiled|torch]

``--kernels compiled`` (default) times one call of the compiled loop's training pass
(:func:`neurodsr.models.fused.fused_pl_loss_and_grads`: forward, adjoint and weight gradients
of a GTF 0.1 window batch, or STF every ``--tau`` steps, the pass's own tensor preparation
included) for each ensemble size E, without the sampler, the finiteness check or the
optimizer. ``--kernels torch`` runs the eight
batched torch kernels that the torch loop issues per time step (forward: hidden-layer product,
ReLU, state update, read-out product; adjoint: product, ReLU mask, state adjoint, product), on
small tensors that stay in cache, with no buffers, forcing, weight gradients or optimizer.
The ensemble sizes are timed interleaved (E = 1, 4, 16, 1, 4, 16, ...), best of ``--rounds``.
Prints one JSON line per E with ``ms_per_step`` and ``ratio_to_e1``. ``--against FILE`` builds
another version of ``pl_loop.cpp`` as a second extension and times its pass on the same sizes,
interleaved with this one's (before/after in one process); its rows are ``against``, and
this build called the same way (the extension's ``train`` directly, no Python wrapper) is
``direct``: compare ``against`` with ``direct``.

The build's vector width: ``NEURODSR_VBYTES=32`` (8 float32 lanes) or ``64`` (16 lanes, the
default where the CPU has AVX-512) before the command builds and caches that variant of the
compiled loop, so the two can be timed in turn on one machine (benchmarks/README.md);
``NEURODSR_MARCH=haswell`` builds both this and the ``--against`` extension for AVX2 without
AVX-512 (what such a machine builds), to time that build on an AVX-512 one.

What it shows: the whole step cannot cost less than this, so ``ratio_to_e1`` at E = 16 bounds
what "16 members at most k times one member's time" can reach with that loop on this machine
(the rest of the step, about the same at every E, only brings the ratio down).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable

import torch

from neurodsr.models import fused, make_model

#: the forcing of the timed pass: (tau, alpha); GTF alpha 0.1 unless ``--tau`` gives STF
FORCING = [1, 0.1]


def compiled_step(e: int, m: int, hidden: int, seq_len: int, batch: int) -> Callable[[], None]:
    """One call of the compiled training pass (shPLRNN, N = M observed; GTF alpha 0.1, or
    STF every ``--tau`` steps with alpha 1)."""
    if fused.compiled_loop() is None:
        raise SystemExit("the compiled loop is not available here (see the notice above)")
    model = make_model("shplrnn", m, m, seeds=list(range(e)), hidden_dim=hidden)
    x = torch.randn(seq_len + 1, e, batch, m, generator=torch.Generator().manual_seed(0))
    args = [t if t is None else t.detach() for t in model._fused_args()]
    tau, alpha = FORCING
    return lambda: fused.fused_pl_loss_and_grads(x, *args, tau, alpha)


def other_build(source: str) -> object:
    """Another version of ``pl_loop.cpp`` (e.g. ``git show cebab56:src/neurodsr/models/csrc/
    pl_loop.cpp > /tmp/old.cpp``) built as an extension of its own, in a temporary directory."""
    import tempfile

    from torch.utils import cpp_extension

    fused._ninja_on_path()
    return cpp_extension.load(
        name="neurodsr_pl_loop_against",
        sources=[source],
        extra_cflags=["-O3", f"-march={os.environ.get(fused.ENV_MARCH) or 'native'}", "-fopenmp"],
        build_directory=tempfile.mkdtemp(prefix="neurodsr_against_"),
    )


def against_step(
    ext: object, e: int, m: int, hidden: int, seq_len: int, batch: int
) -> Callable[[], None]:
    """The same pass as :func:`compiled_step` through another build's ``train`` (the one
    before issue 17's members branch took 13 arguments, this one 15: the last two are the
    window starts and their length, unused here)."""
    model = make_model("shplrnn", m, m, seeds=list(range(e)), hidden_dim=hidden)
    x = torch.randn(seq_len + 1, e, batch, m, generator=torch.Generator().manual_seed(0))
    a, w1, w2, h1, h2, init = (t.detach().contiguous() for t in model._fused_args())
    alpha = torch.full((e,), float(FORCING[1]))
    scale = torch.full((e,), 2.0 / (seq_len * batch * m))
    taus = torch.full((e,), FORCING[0], dtype=torch.int64)
    args = [x, init, a, w1, w2, h1, h2, alpha, scale, taus, False, None, None]
    try:
        ext.train(*args)  # type: ignore[attr-defined]
    except TypeError:
        args += [None, 0]
    return lambda: ext.train(*args)  # type: ignore[attr-defined]


def torch_step(e: int, m: int, hidden: int, seq_len: int, batch: int) -> Callable[[], None]:
    """One gradient step's worth of the torch loop's per-step kernels at ensemble size e."""
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

    return step


def timed_ms(step: Callable[[], None], repeats: int, clock: Callable[[], float]) -> float:
    """Mean milliseconds of one call over ``repeats`` calls, by ``clock``."""
    t0 = clock()
    for _ in range(repeats):
        step()
    return (clock() - t0) / repeats * 1e3


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--latent", type=int, default=3)
    p.add_argument("--hidden", type=int, default=50)
    p.add_argument("--seq-len", type=int, default=200)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--ensembles", type=int, nargs="+", default=[1, 4, 16])
    p.add_argument("--kernels", default="compiled", choices=["compiled", "torch"])
    p.add_argument(
        "--tau", type=int, default=None, help="STF every TAU steps (alpha 1) instead of GTF 0.1"
    )
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds (best is kept)")
    p.add_argument(
        "--clock",
        default="wall",
        choices=["wall", "cpu"],
        help="cpu: this process's CPU time (steadier on a shared machine; 1 thread only)",
    )
    p.add_argument(
        "--against",
        default=None,
        help="another pl_loop.cpp: its pass is timed too, interleaved (kernels 'against'; "
        "'direct': this build called the same way)",
    )
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.tau is not None:
        FORCING[:] = [args.tau, 1.0]
    make = compiled_step if args.kernels == "compiled" else torch_step
    sizes = (args.latent, args.hidden, args.seq_len, args.batch)
    ensembles = sorted({1, *args.ensembles})
    steps = {(args.kernels, e): make(e, *sizes) for e in ensembles}
    if args.against:
        ext = other_build(args.against)
        steps.update({("against", e): against_step(ext, e, *sizes) for e in ensembles})
        # this build through the same direct call (without the pass's Python wrapper, which
        # the 'compiled' rows include), so that 'direct' and 'against' compare like with like
        this = fused.compiled_loop()
        steps.update({("direct", e): against_step(this, e, *sizes) for e in ensembles})
    for step in steps.values():
        step()  # warm-up (and the compiled loop's scratch)
    best = {k: float("inf") for k in steps}
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    for _ in range(args.rounds):
        for k, step in steps.items():
            best[k] = min(best[k], timed_ms(step, args.repeats, clock))
    for kernels, e in steps:
        if e not in args.ensembles:
            continue
        ms = best[(kernels, e)]
        base = best[(kernels, 1)]
        print(
            json.dumps(
                {
                    "ensemble": e,
                    "latent": args.latent,
                    "hidden": args.hidden,
                    "seq_len": args.seq_len,
                    "batch": args.batch,
                    "threads": args.threads,
                    "kernels": kernels,
                    "forcing": f"stf {args.tau}" if args.tau else "gtf 0.1",
                    "clock": args.clock,
                    "ms_per_step": round(ms, 3),
                    "ratio_to_e1": round(ms / base, 2),
                }
            )
        )


if __name__ == "__main__":
    main()
