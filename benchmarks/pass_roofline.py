"""How far the compiled training pass is from the machine: its GFLOP/s beside measured peaks.

    .venv/bin/python benchmarks/pass_roofline.py --threads 1 [--clock cpu]
    .venv/bin/python benchmarks/pass_roofline.py --threads 2
    .venv/bin/python benchmarks/pass_roofline.py --threads 1 --clock cpu --against /tmp/before.cpp

In one process, at the given thread count, this times

- the compiled training pass of the shPLRNN (:func:`neurodsr.models.fused.fused_pl_loss_and_grads`:
  forward, adjoint and weight gradients of one window batch, its Python wrapper included; the
  pass :mod:`benchmarks.ensemble_floor` times) with E = 1 and E = 16 members, at the pipeline's
  sizes (M = N = 3 latent and observed units, L = 50 hidden, seq 100, batch 32, GTF 0.1) and at
  the Lorenz sizes (seq 200, batch 16; GTF 0.1, and STF every 77 steps);
- a practical peak: ``torch.mm`` of two float32 ``--mm-size`` square matrices (MKL's SGEMM);
- an instruction peak: a C loop of independent fused multiply-adds on the build's widest
  float32 vectors (``-O2 -march=native``, 16 chains per thread, OpenMP over the threads),
  compiled here with the system's C compiler and called through ctypes;

with ``--against FILE`` also another version of ``pl_loop.cpp`` built as an extension of its
own (``against``) and this build called the same way (``direct``, without the Python wrapper),
so that before and after are measured in one process; all interleaved (peaks, pass sizes,
peaks, ...; best of ``--rounds``), and prints one JSON line per
measurement with its ms per call, its GFLOP/s, and for the passes the fraction of each peak.

FLOP of one pass (:func:`pass_flops`; a fused multiply-add counts 2, a plain add or multiply 1;
ReLU, masks, copies and loads count 0), per window and time step (a "lane-step"), shPLRNN with
M latent, N observed, L hidden units:

forward
    pre = W2 z + h2 (L M multiply-adds: 2 L M), r = relu(pre) (0),
    z' = A * z + W1 r + h1 (M L + M multiply-adds: 2 M L + 2 M), the error z'_n - x_n and its
    square summed (N + 2 N = 3 N), the forcing z'_n - alpha err_n where it applies (2 N; counted
    at every step, an upper bound for STF);
adjoint
    d = keep * c + scale * err on the observed units (3 N), dA += d * z and dh1 += d (3 M),
    g = W1^T d (2 L M), u = 1[r > 0] g (0), c = W2^T u + A * d (2 L M + 2 M);
weight gradients
    dW1 += d r^T (2 M L), dW2 += u z^T (2 L M), dh2 += u (L).

Total per lane-step: 12 L M + 7 M + 8 N + L; for M = N = 3, L = 50: 1895 FLOP. A pass is E x B x T
lane-steps (both sizes: 16 x 32 x 100 = 16 x 16 x 200 = 51 200 at E = 16, so 97.0 MFLOP; E = 1:
6.1 MFLOP); the initial map and the final reductions over lanes and chunks are
O(E B M N + E C L M) and left out. The lanes of a chunk (16 windows per AVX-512 vector, 8 per
AVX2 one) are all filled at both sizes, so no padding is counted or done.

Clocks: every timed block is measured by wall clock and by this process's CPU time (all its
threads); ``--clock`` chooses which one the GFLOP/s and fractions use. With 1 thread on a shared
machine the CPU time is the steadier; with 2 threads OpenMP's waiting threads spin and count as
CPU time, so use the wall clock on an idle machine there.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from neurodsr.models import fused, make_model

#: the sizes of issue 17: name -> (M, L, seq_len, batch, tau, alpha)
SIZES = {
    "pipeline": (3, 50, 100, 32, 1, 0.1),
    "lorenz-gtf": (3, 50, 200, 16, 1, 0.1),
    "lorenz-stf": (3, 50, 200, 16, 77, 1.0),
}

#: the FMA loop: 16 independent chains on the widest vectors, ``iters`` rounds per thread
_FMA_SOURCE = r"""
#include <omp.h>
#include <stdint.h>
#if defined(__AVX512F__)
#define VB 64
#else
#define VB 32
#endif
typedef float vf __attribute__((vector_size(VB)));
int lanes(void) { return VB / 4; }
/* one pass of iters rounds of 16 vector FMAs on each of nthreads threads; returns a sum so
   that nothing is optimised away */
float fma_loop(int64_t iters, int nthreads) {
  float total = 0.0f;
#pragma omp parallel num_threads(nthreads) reduction(+ : total)
  {
    /* sixteen named accumulators (an array would stay in memory, its chains then wait on
       store-to-load forwarding); 16 chains cover the FMA latency (4 cycles) x 2 pipes */
    const vf m = (vf){} + 0.999999f, a = (vf){} + 1e-7f;
    const float t0 = (float)omp_get_thread_num();
#define DECL(i) vf c##i = (vf){} + (t0 + i);
#define STEP(i) c##i = c##i * m + a;
#define SUM(i) s += c##i;
#define ALL(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) \
  X(14) X(15)
    ALL(DECL)
    for (int64_t i = 0; i < iters; ++i) {
      ALL(STEP)
      __asm__ volatile("" : "+v"(c0), "+v"(c5), "+v"(c10), "+v"(c15));
    }
    vf s = (vf){};
    ALL(SUM)
    for (int k = 0; k < VB / 4; ++k) total += s[k];
  }
  return total;
}
"""


def pass_flops(e: int, m: int, n: int, hidden: int, seq_len: int, batch: int) -> int:
    """FLOP of one training pass of the shPLRNN (the module docstring's count).

    Parameters
    ----------
    e, m, n, hidden : int
        Members, latent units M, observed units N, hidden units L.
    seq_len, batch : int
        Time steps T per window and windows B per member.

    Returns
    -------
    int
        Floating-point operations (a multiply-add counts 2) of forward, adjoint and weight
        gradients: ``e * batch * seq_len * (12 L M + 7 M + 8 N + L)``.
    """
    per_lane_step = 12 * hidden * m + 7 * m + 8 * n + hidden
    return e * batch * seq_len * per_lane_step


def fma_kernel() -> tuple[Callable[[int, int], float], int]:
    """The FMA loop (see the module docstring) built with ``$CC`` (default ``cc``) into a
    temporary shared library; returns the function ``(iters, threads) -> checksum`` and the
    float32 lanes per vector. Raises SystemExit naming the compiler when it cannot build."""
    tmp = Path(tempfile.mkdtemp(prefix="neurodsr_fma_"))
    src, lib = tmp / "fma.c", tmp / "fma.so"
    src.write_text(_FMA_SOURCE)
    cc = os.environ.get("CC", "cc")
    cmd = [cc, "-O2", "-march=native", "-fopenmp", "-shared", "-fPIC", str(src), "-o", str(lib)]
    try:
        subprocess.run(cmd, check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as err:
        msg = f"cannot build the FMA loop with {cc!r} ({err}); set CC or pass --no-fma"
        raise SystemExit(msg) from err
    so = ctypes.CDLL(str(lib))
    so.fma_loop.restype = ctypes.c_float
    so.fma_loop.argtypes = [ctypes.c_int64, ctypes.c_int]
    return so.fma_loop, so.lanes()


def pass_call(
    e: int, m: int, hidden: int, seq_len: int, batch: int, tau: int, alpha: float
) -> Callable[[], None]:
    """One call of the compiled training pass of an e-member shPLRNN on random windows
    (T+1, E, B, N), N = M observed."""
    model = make_model("shplrnn", m, m, seeds=list(range(e)), hidden_dim=hidden)
    x = torch.randn(seq_len + 1, e, batch, m, generator=torch.Generator().manual_seed(0))
    args = [t.detach() for t in model._fused_args()]
    return lambda: fused.fused_pl_loss_and_grads(x, *args, tau, alpha)


def direct_call(
    ext: object, e: int, m: int, hidden: int, seq_len: int, batch: int, tau: int, alpha: float
) -> Callable[[], object]:
    """The same pass as :func:`pass_call` through a build's ``train`` directly (no Python
    wrapper): how ``--against`` times this build and another one alike."""
    model = make_model("shplrnn", m, m, seeds=list(range(e)), hidden_dim=hidden)
    x = torch.randn(seq_len + 1, e, batch, m, generator=torch.Generator().manual_seed(0))
    a, w1, w2, h1, h2, init = (t.detach().contiguous() for t in model._fused_args())
    args = [x, init, a, w1, w2, h1, h2, torch.full((e,), float(alpha))]
    args += [torch.full((e,), 2.0 / (seq_len * batch * m)), torch.full((e,), tau)]
    args += [False, None, None, None, 0]
    return lambda: ext.train(*args)  # type: ignore[attr-defined]


def timed(call: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Seconds per call over ``repeats`` calls: (wall clock, process CPU time)."""
    w0, c0 = time.perf_counter(), time.process_time()
    for _ in range(repeats):
        call()
    return (time.perf_counter() - w0) / repeats, (time.process_time() - c0) / repeats


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds (best is kept)")
    p.add_argument("--repeats", type=int, default=20, help="pass calls per timed block")
    p.add_argument("--mm-size", type=int, default=1024, help="side of torch.mm's matrices")
    p.add_argument("--fma-iters", type=int, default=2_000_000, help="FMA loop rounds")
    p.add_argument("--no-fma", action="store_true", help="skip the FMA loop (no C compiler)")
    p.add_argument("--ensembles", type=int, nargs="+", default=[1, 16])
    p.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    p.add_argument("--clock", default="wall", choices=["wall", "cpu"])
    p.add_argument(
        "--against",
        default=None,
        help="another pl_loop.cpp (e.g. git show REV:src/neurodsr/models/csrc/pl_loop.cpp > "
        "/tmp/before.cpp), built as its own extension: its pass is timed too, interleaved, "
        "called directly ('against'), beside this build called the same way ('direct')",
    )
    args = p.parse_args()
    if args.threads < 1:
        raise SystemExit(f"--threads {args.threads}: give 1 or more")
    torch.set_num_threads(args.threads)
    if fused.compiled_loop() is None:
        raise SystemExit("the compiled loop is not available here (see the notice above)")

    n = args.mm_size
    a_mm, b_mm = torch.randn(n, n), torch.randn(n, n)
    out_mm = torch.empty(n, n)
    calls: dict[str, tuple[Callable[[], object], float, int]] = {
        "torch.mm": (lambda: torch.mm(a_mm, b_mm, out=out_mm), 2.0 * n**3, 5)
    }
    lanes = None
    if not args.no_fma:
        fma, lanes = fma_kernel()
        flops = 2.0 * 16 * lanes * args.fma_iters * args.threads
        calls["fma loop"] = (lambda: fma(args.fma_iters, args.threads), flops, 3)
    builds: dict[str, object] = {}
    if args.against:
        from ensemble_floor import other_build  # (this folder: run as benchmarks/...)

        builds = {"direct": fused.compiled_loop(), "against": other_build(args.against)}
    for size in args.sizes:
        m, hidden, seq_len, batch, tau, alpha = SIZES[size]
        for e in args.ensembles:
            flops = pass_flops(e, m, m, hidden, seq_len, batch)
            call = pass_call(e, m, hidden, seq_len, batch, tau, alpha)
            calls[f"pass {size} E={e}"] = (call, float(flops), args.repeats)
            for name, ext in builds.items():
                call = direct_call(ext, e, m, hidden, seq_len, batch, tau, alpha)
                calls[f"pass {size} E={e} {name}"] = (call, float(flops), args.repeats)
    for call, _, _ in calls.values():
        call()  # warm-up: MKL's and the pass's buffers, the OpenMP pool
    best = {k: [float("inf"), float("inf")] for k in calls}
    for _ in range(args.rounds):
        for k, (call, _, reps) in calls.items():
            wall, cpu = timed(call, reps)
            best[k] = [min(best[k][0], wall), min(best[k][1], cpu)]
    use = 0 if args.clock == "wall" else 1
    gflops = {k: calls[k][1] / best[k][use] / 1e9 for k in calls}
    load = os.getloadavg()[0]
    for k in calls:
        row = {
            "what": k,
            "threads": args.threads,
            "clock": args.clock,
            "ms_wall": round(best[k][0] * 1e3, 4),
            "ms_cpu": round(best[k][1] * 1e3, 4),
            "mflop": round(calls[k][1] / 1e6, 2),
            "gflop_s": round(gflops[k], 2),
        }
        if k.startswith("pass"):
            row["of_mm_peak"] = round(gflops[k] / gflops["torch.mm"], 3)
            if "fma loop" in gflops:
                row["of_fma_peak"] = round(gflops[k] / gflops["fma loop"], 3)
        elif k == "fma loop":
            row["lanes"] = lanes
        row["load_1min"] = round(load, 2)
        print(json.dumps(row))


if __name__ == "__main__":
    main()
