"""The PL family's forced rollout with a hand-written backward pass: a compiled time loop on
the CPU, torch ops elsewhere.

Autograd through a Python loop over time records ~10 small operations per step and replays them
backwards one by one; at the sizes DSR uses (M ~ 3-100, B ~ 16-32) the time goes into
per-operation overhead, not arithmetic. The PL family's Jacobians are analytic, so the backward
pass can be written by hand. Two implementations of the same equations:

- the compiled loop (``csrc/pl_loop.cpp``, a torch C++ extension built once and cached; float32
  CPU tensors): the trainer's pass (:func:`fused_pl_loss_and_grads`) is one call per window
  batch, forward, adjoint and weight gradients of each (member, chunk of windows) back to back,
  the chunks in parallel on torch's threads (each taken by the next free thread); free runs
  and gradient-free rollouts use its forward loop. No library runs "a recurrent loop of tiny
  products" as one call (torch.compile of a 100-step loop compiles for minutes and still
  replays per-step kernels), hence the hand-written kernel; benchmarks/README.md has the tool
  choice.
  It covers the PLRNN, the shPLRNN, the clipped shPLRNN (``clip``: r = relu(W2 z + h2) -
  relu(W2 z), whose adjoint needs both masks) and the dendPLRNN (``basis``: r_m = sum_b w_b
  relu(z_m - theta_bm) in the PLRNN's layout, with the basis' gradients). The shPLRNN with
  M <= 8 latent units (the pipeline's M = 3) has a kernel of its own (M a compile-time
  constant, one hidden unit at a time in both directions), and the trainer's windows can be
  given as their starts in the series (:class:`~neurodsr.models.base.Windows`), read in place.
- the torch loop (CUDA, other dtypes, or no compiler: then one warning line says so): four
  batched kernels per step for the adjoint and the weight gradients after the loop as one
  product each, with its activation buffers kept in a workspace between calls. PLRNN and
  shPLRNN only: the clipped and dendritic models train through autograd where the compiled
  loop does not run.

Every path takes the forcing interval per member (``tau`` an int, None, or one per member, 0:
not forced) as it takes the strength per member, so that members with different forcing (the
automatic choice's STF and GTF candidates) train as one ensemble.

Model (identity observation, first N of M latent units observed; E members, B windows):

    pre_t = W2 z_{t-1} + h2                (shPLRNN; the PLRNN has W2 = I, h2 = 0)
    r_t   = relu(pre_t)
    z_t   = A * z_{t-1} + W1 r_t + h1       (the PLRNN's W1 is its off-diagonal W)
    p_t   = z_t[:N]                         the prediction of x_t, t = 1..T
    z_t[:N] <- (1 - alpha) z_t[:N] + alpha x_t   at forcing steps (t % tau == 0, t < T; tau and
                                            alpha per member: members force on their own steps)
    z_0   = [x_0, L x_0]

Adjoint, t = T..1, with c the gradient arriving from step t + 1:
    c     <- c * keep at forcing steps      keep = (1 - alpha) on the forced units, 1 elsewhere
    d_t    = c + dLoss/dp_t (on the first N units)
    u_t    = 1[pre_t > 0] * (W1^T d_t)
    c      = A * d_t + W2^T u_t
Gradients: dA = sum d_t * z_{t-1}, dW1 = sum d_t r_t^T, dh1 = sum d_t, dW2 = sum u_t z_{t-1}^T,
dh2 = sum u_t, dL = c_0[N:] x_0^T. tests/test_models.py checks all of them against autograd.
"""

from __future__ import annotations

import hashlib
import os
import platform
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from neurodsr.models.base import Tau, Windows, member_taus

__all__ = ["compiled_loop", "fused_pl_generate", "fused_pl_loss_and_grads", "fused_pl_rollout"]

#: the compiled time loop's source (a torch C++ extension, JIT-built once and cached)
_SOURCE = Path(__file__).with_name("csrc") / "pl_loop.cpp"
#: set to "0" to keep the torch loop on the CPU too (the compiled loop is then never built)
ENV_SWITCH = "NEURODSR_COMPILED"
#: bytes per SIMD vector of the build (32: 8 float32 lanes, 64: 16); unset: 64 where the CPU
#: has AVX-512, else 32 (benchmarks compare the two with it; each builds and caches its own)
ENV_VBYTES = "NEURODSR_VBYTES"
#: the build's target CPU (``-march=``; unset: native). ``haswell`` builds what an AVX2 machine
#: without AVX-512 builds, so that its speed can be measured on an AVX-512 one (benchmarks)
ENV_MARCH = "NEURODSR_MARCH"
#: False: the torch loop on the CPU too, in this process (benchmarks compare the two this way)
use_compiled: bool = True
_ext: Any = None  # the loaded extension, False once it failed to build, None before trying


def _build_dir() -> Path | None:
    """Where the extension is built and cached: ``$TORCH_EXTENSIONS_DIR`` when set, else
    inside the virtual environment (``<prefix>/var/neurodsr/torch_extensions``, so that each
    environment has a build for its own torch), else torch's default (None)."""
    if os.environ.get("TORCH_EXTENSIONS_DIR"):
        return None
    d = Path(sys.prefix) / "var" / "neurodsr" / "torch_extensions"
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return d if os.access(d, os.W_OK) else None


def _cpu_tag() -> str:
    """A short hash of this CPU's model and instruction-set flags: the build uses
    ``-march=native``, so a cached library is only loaded on the kind of CPU it was built for
    (an environment copied to another machine builds its own instead of crashing)."""
    info = platform.machine()
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        lines = [platform.processor()]
    keep = ("model name", "flags", "Features", "CPU part")
    info += "".join(sorted({ln for ln in lines if ln.startswith(keep)}))
    return hashlib.sha1(info.encode()).hexdigest()[:10]


def _ninja_on_path() -> None:
    """torch's builder runs ``ninja`` from PATH; the pinned ``ninja`` package puts it beside
    the environment's python, which is not on PATH when .venv is not activated."""
    try:
        import ninja
    except ImportError:  # then the system's ninja, if any
        return
    path = os.environ.get("PATH", "")
    if ninja.BIN_DIR not in path.split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join([ninja.BIN_DIR, path]) if path else ninja.BIN_DIR


def compiled_loop(verbose: bool = False, report: bool = False) -> Any | None:
    """The compiled PL time loop (``csrc/pl_loop.cpp``), or None where it cannot be had.

    Built on first use with ``torch.utils.cpp_extension.load`` (ninja and a C++ compiler;
    ``make install`` builds it once, and later processes load the cached library). When the
    build fails, or ``NEURODSR_COMPILED=0`` is set, returns None and the torch loop runs; a
    failed build says so once, in one line. ``verbose``: the compiler's output; ``report``:
    print where the build is (what ``make install`` shows)."""
    global _ext
    if _ext is None:
        if os.environ.get(ENV_SWITCH, "1") == "0":
            _ext = False
        else:
            try:
                from torch.utils import cpp_extension

                _ninja_on_path()
                build_dir = _build_dir()
                kwargs = {} if build_dir is None else {"build_directory": str(build_dir)}
                march = os.environ.get(ENV_MARCH, "") or "native"
                if not march.replace("-", "").replace("_", "").isalnum():
                    raise ValueError(f"{ENV_MARCH}={march!r}: not a -march= target")
                flags, suffix = ["-O3", f"-march={march}", "-fopenmp"], ""
                if march != "native":
                    suffix += "_" + march.replace("-", "_")
                vbytes = os.environ.get(ENV_VBYTES, "")
                if vbytes:
                    if vbytes not in ("32", "64"):
                        raise ValueError(f"{ENV_VBYTES}={vbytes!r}: use 32 or 64")
                    flags.append(f"-DNEURODSR_VBYTES={vbytes}")
                    suffix += f"_v{vbytes}"
                if suffix and build_dir is not None:  # its own directory (ninja's files)
                    build_dir = build_dir / suffix.lstrip("_")
                    build_dir.mkdir(exist_ok=True)
                    kwargs = {"build_directory": str(build_dir)}
                _ext = cpp_extension.load(
                    name=f"neurodsr_pl_loop_{_cpu_tag()}{suffix}",
                    sources=[str(_SOURCE)],
                    extra_cflags=flags,
                    verbose=verbose,
                    **kwargs,
                )
            except Exception as err:  # no compiler, no ninja, a failed build: the torch loop
                _ext = False
                reason = str(err).strip().splitlines()[-1:] or [type(err).__name__]
                warnings.warn(
                    f"neurodsr: compiled PL time loop unavailable ({reason[0][:160]}); "
                    "using the torch loop (slower, same results)",
                    RuntimeWarning,
                    stacklevel=2,
                )
    if report:
        where = getattr(_ext, "__file__", None) if _ext else None
        print(f"neurodsr: compiled PL time loop: {where or 'not available (torch loop)'}")
    return _ext or None


def _use_compiled(like: Tensor) -> Any | None:
    """The compiled loop for float32 CPU tensors; None (the torch loop: CUDA, other dtypes)."""
    if not use_compiled or like.device.type != "cpu" or like.dtype != torch.float32:
        return None
    return compiled_loop()


#: a normalised forcing interval (:func:`neurodsr.models.base.member_taus`): one for the
#: ensemble, None, or one per member (0: not forced)
_Taus = int | None | tuple[int, ...]


def _forcing_steps(n_t: int, tau: _Taus, alpha: Tensor) -> dict[int, Tensor]:
    """The steps t (0 < t < T) at which some member is forced, each with every member's
    strength there (E,): alpha for a single interval, alpha_e or 0 (not forced at t) per
    member."""
    if tau is None:
        return {}
    if isinstance(tau, int):
        return {t: alpha for t in range(tau, n_t, tau)}
    # the (T, E) strengths built on the host and moved once (not one small copy per step)
    on = [[tk > 0 and t % tk == 0 for tk in tau] for t in range(n_t)]
    at = torch.tensor(on, dtype=alpha.dtype).to(alpha.device) * alpha
    return {t: at[t] for t in range(1, n_t) if any(on[t])}


def _tau_tensor(tau: _Taus, e: int) -> Tensor:
    """The compiled loop's forcing intervals: an int64 tensor (E,), 0 for no forcing."""
    if isinstance(tau, tuple):
        return torch.tensor(tau, dtype=torch.int64)
    return torch.full((e,), tau or 0, dtype=torch.int64)


def _per_member(alpha: float | Tensor, e: int, like: Tensor) -> Tensor:
    """The forcing strength as a detached (E,) tensor."""
    if isinstance(alpha, Tensor):
        return alpha.detach()
    return torch.full((e,), float(alpha), dtype=like.dtype, device=like.device)


# The torch loop (CUDA; the CPU without a compiled loop) makes two choices that depend on the
# machine: whether an ensemble's small batched products run faster on one thread (OpenMP's
# fork and join in each small kernel can cost more than the other cores give), and whether
# GTF's forcing is folded into the step's weights (no per-step forcing ops, the prediction
# errors recomputed after the loop in one product) or done as two ops per step. On the CPU
# each is measured once per shape, at first use (a few ms), and remembered for the process;
# on CUDA GTF is always folded (per-step kernel launches dominate there, and the recomputation
# is one large product) and threads do not apply.
_measured: dict[tuple, bool] = {}


def _faster(first: Callable[[], object], second: Callable[[], object], calls: int = 20) -> bool:
    """True when ``first`` is faster than ``second``: best of three interleaved rounds of
    ``calls`` calls each (after one warm-up call of both)."""
    first(), second()
    best = [float("inf"), float("inf")]
    for _ in range(3):
        for i, f in enumerate((first, second)):
            t0 = time.perf_counter()
            for _ in range(calls):
                f()
            best[i] = min(best[i], time.perf_counter() - t0)
    return best[0] < best[1]


def _single_thread_faster(like: Tensor, e: int, b: int, k: int, n: int) -> bool:
    """Whether (E, B, K) x (E, K, N) batched products (the loop's per-step kernels) run
    faster on one thread than on torch's current thread count; measured once per shape."""
    n_threads = torch.get_num_threads()
    if like.device.type != "cpu" or n_threads == 1 or e == 1:
        return False  # a single model's product is one GEMM call that MKL threads well
    key = ("threads", e, b, k, n, n_threads)
    if key not in _measured:
        p, q, out = like.new_ones(e, b, k), like.new_ones(e, k, n), like.new_empty(e, b, n)

        def kernel() -> None:
            for _ in range(5):
                torch.bmm(p, q, out=out)

        def on_one() -> None:
            torch.set_num_threads(1)
            try:
                kernel()
            finally:
                torch.set_num_threads(n_threads)

        _measured[key] = _faster(on_one, kernel)
    return _measured[key]


def _fold_gtf(like: Tensor, n_t: int, e: int, b: int, lw: int, n: int) -> bool:
    """Whether GTF's forcing is folded into the step (see above): on CUDA always; on the CPU
    when the recomputation after the loop, (T, E, B, L) x (E, L, N), is measured to cost less
    than the 2 T forcing ops on (E, B, N) it replaces; measured once per shape."""
    if like.device.type != "cpu":
        return True
    key = ("fold", n_t, e, b, lw, n, torch.get_num_threads())
    if key not in _measured:
        r, w = like.new_ones(n_t, e, b, lw), like.new_ones(e, lw, n)
        diff = like.new_empty(n_t, e, b, n)
        h, xs, d, al = like.new_ones(e, b, n), like.new_ones(e, b, n), like.new_empty(e, b, n), 0.1

        def recompute() -> None:
            torch.matmul(r, w.unsqueeze(0), out=diff)

        def per_step() -> None:
            for _ in range(n_t):
                h.addcmul_(torch.sub(h, xs, out=d), h, value=-al)

        _measured[key] = _faster(recompute, per_step, calls=3)
    return _measured[key]


@contextmanager
def _loop_threads(like: Tensor, single: bool) -> Iterator[None]:
    """Run the enclosed time loop on one thread when ``single`` (from
    :func:`_single_thread_faster`); the thread count is restored afterwards."""
    n_threads = torch.get_num_threads()
    if not single or n_threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n_threads)


def _buffer(
    ws: dict[str, Tensor] | None, name: str, shape: tuple[int, ...], like: Tensor
) -> Tensor:
    """An uninitialised tensor of ``shape`` like ``like``: from the workspace ``ws`` when one
    is given (allocated there once, reused by later calls of the same shape), else fresh.

    Reuse matters for ensembles: the activation buffers are ~10 MB each at E = 16, which the
    C allocator maps fresh from the OS on every call, and the first-touch page faults then
    cost about a third of the step (measured 21 -> 15 ms per step, Lorenz-sized shPLRNN)."""
    if ws is None:
        return like.new_empty(shape)
    buf = ws.get(name)
    if buf is None or buf.shape != shape or buf.dtype != like.dtype or buf.device != like.device:
        buf = ws[name] = like.new_empty(shape)
    return buf


def _states(
    ws: dict[str, Tensor] | None, x: Tensor, init_map: Tensor, m1: int, aug: bool
) -> Tensor:
    """The state buffer z_0..z_T (T+1, E, B, M') of the forward loop (M' = ``m1``), z_0
    written: the first observation, the unobserved units from it through ``init_map``, and
    for the shPLRNN (``aug``) the constant unit 1 last; z_1..z_T left for the loop to write."""
    n_t = x.shape[0] - 1
    e, b, _ = x.shape[1:]
    zs = _buffer(ws, "zs", (n_t + 1, e, b, m1), x)
    parts = [x[0], torch.bmm(x[0], init_map.transpose(1, 2))]
    if aug:
        parts.append(x.new_ones(e, b, 1))
    torch.cat(parts, dim=-1, out=zs[0])
    return zs


def _forward(
    x: Tensor,
    A: Tensor,
    W1: Tensor,
    W2: Tensor | None,
    h1: Tensor,
    h2: Tensor | None,
    init_map: Tensor,
    tau: _Taus,
    alpha: Tensor,
    ws: dict[str, Tensor] | None = None,
    clip: bool = False,
    basis: tuple[Tensor, Tensor] | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """The forced forward loop. Returns the states z_0..z_T (T+1, E, B, M'; z_t after forcing),
    the hidden activations r_1..r_T (T, E, B, L) and the prediction errors
    z_t[:N] - x_t before forcing, t = 1..T (T, E, B, N).

    For the shPLRNN (W2 given) the states carry one more unit that stays exactly 1 (M' = M + 1):
    h2 then rides in the hidden layer's matrix product as its last row (no per-step bias copy),
    and its gradient comes out of W2's as the last column. The PLRNN's states are M wide.

    CPU float32 tensors go to the compiled loop (one call; any forcing, no folding needed);
    others (CUDA) to the torch loop below."""
    ext = _use_compiled(x)
    if ext is not None:
        return _forward_compiled(ext, x, A, W1, W2, h1, h2, init_map, tau, alpha, ws, clip, basis)
    if clip or basis is not None:  # these models ask for it only where the compiled loop runs
        raise ValueError("the clipped shPLRNN's and the dendPLRNN's pass need the compiled loop")
    n_t = x.shape[0] - 1
    e, b, n = x.shape[1:]
    m = A.shape[1]
    lw = W1.shape[2]
    every = tau == 1  # GTF: every step of every member is forced (one interval for all)
    fold = every and _fold_gtf(x, n_t, e, b, lw, n)
    # STF, and per-member intervals: the forced steps, each with its members' -alpha_t
    forced = {} if every else _forcing_steps(n_t, tau, alpha)
    neg_at = {t: a_t.neg().reshape(-1, 1, 1) for t, a_t in forced.items()}
    aug = W2 is not None
    m1 = m + 1 if aug else m
    a = A.unsqueeze(1)  # (E, 1, M)
    # transposed weights made contiguous once: the batched GEMM then reads them row-wise
    w1t = W1.transpose(1, 2).contiguous()  # (E, L, M)
    h1f = h1.unsqueeze(1)
    if aug:  # the constant unit: A = 1, h1 = 0, no input from r; W2's extra row is h2
        ones = x.new_ones(e, 1)
        a = torch.cat([A, ones], dim=1).unsqueeze(1)
        w1t = torch.cat([w1t, x.new_zeros(e, lw, 1)], dim=2)
        h1f = torch.cat([h1, ones.new_zeros(e, 1)], dim=1).unsqueeze(1)
        w2t = torch.cat([W2.transpose(1, 2), h2.unsqueeze(1)], dim=1)  # (E, M + 1, L)
    neg_al = alpha.neg().reshape(-1, 1, 1)
    # h1 expanded to full, contiguous (E, B, M') once: each step then writes its result in
    # place (addcmul into the state buffer) instead of copying a broadcast bias into a fresh
    # output, which costs as much as the matrix product at these sizes.
    h1f = h1f.expand(e, b, m1).contiguous()
    # states z_0..z_T written in place (z_t after forcing); an STF forcing step first takes
    # its prediction error (the loss needs the state before forcing), then forces:
    # z[:N] <- z[:N] - alpha (z[:N] - x) = (1 - alpha) z[:N] + alpha x
    zs = _states(ws, x, init_map, m1, aug)
    if fold:
        # GTF's forcing is linear in the state the step computes, so it folds into the step:
        # the forced units' rows of A, W1 and h1 scaled by keep = 1 - alpha, and alpha x added
        # to their bias, which is written for all steps at once; each step then adds onto its
        # bias in place. The loop is the unforced one; the prediction errors (before forcing)
        # are recomputed after it from the saved activations.
        keep = x.new_ones(e, 1, m1)
        keep[..., :n] = (1.0 - alpha).reshape(-1, 1, 1)
        a, w1t = a * keep, w1t * keep
        torch.mul(h1f, keep, out=zs[1])
        zs[2:] = zs[1]
        zs[1:, ..., :n].addcmul_(x[1:], alpha.reshape(-1, 1, 1))
    r_all = _buffer(ws, "r", (n_t, e, b, lw), x)
    diff = _buffer(ws, "diff", (n_t, e, b, n), x)
    errors = {}
    # views of every step made once (unbind, in C++), and kernels bound to local names:
    # at ~1 us per kernel, Python's indexing and attribute lookups are a third of the time
    zv, rv = zs.unbind(0), r_all.unbind(0)
    in_loop = every and not fold  # GTF forcing as two ops per step
    if in_loop:  # the observed units' views, the data's and the errors'
        hv, xv, dv = zs[..., :n].unbind(0), x.unbind(0), diff.unbind(0)
    bmm, addcmul, clamp_min, sub = torch.bmm, torch.addcmul, torch.clamp_min, torch.sub
    with _loop_threads(x, _single_thread_faster(x, e, b, m1, lw)):
        for i in range(n_t):
            z = zv[i]
            if aug:
                r = bmm(z, w2t, out=rv[i]).clamp_min_(0.0)
            else:
                r = clamp_min(z, 0.0, out=rv[i])
            if fold:
                zv[i + 1].addcmul_(a, z).baddbmm_(r, w1t)
            else:
                addcmul(h1f, a, z, out=zv[i + 1]).baddbmm_(r, w1t)
            if in_loop:
                hv[i + 1].addcmul_(sub(hv[i + 1], xv[i + 1], out=dv[i]), neg_al)
            elif i + 1 in forced:
                head = zv[i + 1][..., :n]
                err = errors[i] = sub(head, x[i + 1])
                head.addcmul_(err, neg_at[i + 1])
    if fold:
        # z_{t+1}[:N] before forcing = A z_t + W1 r_t + h1 on the first N units, all t at once
        w1h = W1[:, :n, :]  # (E, N, L)
        if e == 1:  # one (T*B, L) x (L, N) product
            torch.mm(r_all.view(-1, lw), w1h[0].t(), out=diff.view(-1, n))
        else:
            torch.matmul(r_all, w1h.transpose(1, 2), out=diff)
        diff.add_(h1[:, :n].unsqueeze(1)).addcmul_(A[:, :n].unsqueeze(1), zs[:-1, ..., :n])
        diff.sub_(x[1:])
    elif not every:
        torch.sub(zs[1:, ..., :n], x[1:], out=diff)  # rows of forcing steps replaced below
        for i, err in errors.items():
            diff[i] = err
    return zs, r_all, diff


def _opt(t: Tensor | None) -> Tensor | None:
    return None if t is None else t.contiguous()


def _forward_compiled(
    ext: Any,
    x: Tensor,
    A: Tensor,
    W1: Tensor,
    W2: Tensor | None,
    h1: Tensor,
    h2: Tensor | None,
    init_map: Tensor,
    tau: _Taus,
    alpha: Tensor,
    ws: dict[str, Tensor] | None,
    clip: bool = False,
    basis: tuple[Tensor, Tensor] | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """:func:`_forward` as one call of the compiled loop (same buffers, same layout)."""
    n_t = x.shape[0] - 1
    e, b, n = x.shape[1:]
    m1 = A.shape[1] + (W2 is not None)
    x = x.contiguous()
    zs = _states(ws, x, init_map, m1, W2 is not None)
    r_all = _buffer(ws, "r", (n_t, e, b, W1.shape[2]), x)
    diff = _buffer(ws, "diff", (n_t, e, b, n), x)
    ext.forward(
        x, zs, r_all, diff, A.contiguous(), W1.contiguous(), _opt(W2), h1.contiguous(),
        _opt(h2), alpha.to(x).contiguous(), _tau_tensor(tau, e), clip, *_basis_args(basis),
    )  # fmt: skip
    return zs, r_all, diff


def _basis_args(basis: tuple[Tensor, Tensor] | None) -> tuple[Tensor | None, Tensor | None]:
    """The dendPLRNN's (basis weights (E, B), thresholds (E, B, M)) for the compiled loop."""
    if basis is None:
        return None, None
    return basis[0].contiguous(), basis[1].contiguous()


def _backward(
    g_pred: Tensor,
    x: Tensor,
    A: Tensor,
    W1: Tensor,
    W2: Tensor | None,
    alpha: Tensor,
    zs: Tensor,
    r_all: Tensor,
    tau: _Taus,
    ws: dict[str, Tensor] | None = None,
) -> tuple[Tensor, ...]:
    """The adjoint loop and the weight gradients, from dLoss/dpredictions (T, E, B, N) and
    :func:`_forward`'s states and activations. Returns the gradients of
    (A, W1, W2, h1, h2, init_map); W2's and h2's are None for the PLRNN."""
    n_t, e, b, _ = r_all.shape
    m = A.shape[1]
    n = x.shape[-1]
    z_in = zs[:-1]  # (T, E, B, M'), the shPLRNN's with its constant unit last
    ext = _use_compiled(x)
    if ext is not None:  # the adjoint loop as one compiled call
        delta = _buffer(ws, "delta", (n_t + 1, e, b, m), x)
        u_all = _buffer(ws, "u", r_all.shape, r_all)
        w2t = None if W2 is None else W2.transpose(1, 2).contiguous()
        ext.backward(
            g_pred.contiguous(), r_all, delta, u_all, A.contiguous(),
            W1.transpose(1, 2).contiguous(), w2t, alpha.to(x).contiguous(), _tau_tensor(tau, e),
        )  # fmt: skip
    else:
        delta, u_all = _adjoint_torch(g_pred, x, A, W1, W2, alpha, r_all, tau, ws)
    c = delta[0]  # dLoss/dz_0
    delta = delta[1:]

    # weight gradients: sums over all steps and windows of outer products
    g_a = (delta * z_in[..., :m]).sum(dim=(0, 2))
    g_h1 = delta.sum(dim=(0, 2))
    g_w1 = _outer_sum(delta, r_all)
    g_w2 = g_h2 = None
    if W2 is not None:
        g_w2h = _outer_sum(u_all, z_in)  # (E, L, M + 1): W2's gradient, then h2's
        g_w2, g_h2 = g_w2h[..., :m].contiguous(), g_w2h[..., m].contiguous()
    g_init = torch.bmm(c[..., n:].transpose(1, 2), x[0])
    return g_a, g_w1, g_w2, g_h1, g_h2, g_init


def _adjoint_torch(
    g_pred: Tensor,
    x: Tensor,
    A: Tensor,
    W1: Tensor,
    W2: Tensor | None,
    alpha: Tensor,
    r_all: Tensor,
    tau: _Taus,
    ws: dict[str, Tensor] | None,
) -> tuple[Tensor, Tensor]:
    """The adjoint loop in torch ops (CUDA, or no compiled loop): returns delta (T+1, E, B, M),
    dLoss/dz_t before forcing, and u (T, E, B, L), the hidden layer's adjoint."""
    n_t, e, b, _ = r_all.shape
    m = A.shape[1]
    n = x.shape[-1]
    forced = _forcing_steps(n_t, tau, alpha)
    a = A.unsqueeze(1)
    # relu'(pre) = 1[r > 0] = sign(r) for r >= 0; one float op over all steps (a bool
    # mask converted to float costs ~4x more, a bool mask in the loop promotes each step,
    # aten's threshold_backward in the loop is ~20 % slower)
    mask = torch.sign(r_all, out=_buffer(ws, "mask", r_all.shape, r_all))
    # delta[i] = dLoss/dz_i (z_i before forcing), filled backwards. It starts out holding
    # the loss gradient of each prediction (rows 1..T, first N units), and each step adds
    # what flows back from the step after it: delta[i] += A*d + W2^T u. At a forcing step
    # the forcing came after the prediction, so only the part that flowed back through the
    # forced units is scaled by keep = 1 - alpha, not the loss term.
    delta = _buffer(ws, "delta", (n_t + 1, e, b, m), x).zero_()
    delta[1:, ..., :n] = g_pred
    keep = torch.ones(e, 1, m, dtype=x.dtype, device=x.device)
    keep[..., :n] = (1.0 - alpha).reshape(-1, 1, 1)
    # each forced step's keep on the observed units (per member: 1 where not forced at t)
    keep_at = {t: (1.0 - a_t).reshape(-1, 1, 1).expand(e, 1, n) for t, a_t in forced.items()}
    every = tau == 1  # GTF: every step but the last is forced, for every member
    a_in, w2_in = a, W2  # what flows into a forced row: the same, scaled by keep
    if every:
        # fold keep into the weights of the recursion (A*keep, W2*keep; the PLRNN, whose u
        # flows back unweighted, into the mask rows of the forced steps): no per-step op
        a_in = a * keep
        if W2 is None:
            mask[1:].mul_(keep)
        else:
            w2_in = W2 * keep
    else:
        for t in forced:  # few (STF): these rows get their loss term after the scaling
            delta[t, ..., :n] = 0.0
    u_all = _buffer(ws, "u", r_all.shape, r_all)
    dv, uv, mv = delta.unbind(0), u_all.unbind(0), mask.unbind(0)
    bmm, addcmul = torch.bmm, torch.addcmul
    with _loop_threads(x, _single_thread_faster(x, e, b, W1.shape[1], W1.shape[2])):
        for i in range(n_t - 1, -1, -1):
            d = dv[i + 1]
            if not every and i + 1 in forced:
                head = d[..., :n]
                addcmul(g_pred[i], head, keep_at[i + 1], out=head)
            u = bmm(d, W1, out=uv[i]).mul_(mv[i])
            if i > 0:
                nxt = dv[i].addcmul_(a_in, d)
                if W2 is None:
                    nxt.add_(u)
                else:
                    nxt.baddbmm_(u, w2_in)
            else:  # into z_0, which is not forced
                nxt = dv[0].addcmul_(a, d)
                if W2 is None:
                    nxt.add_(u)
                else:
                    nxt.baddbmm_(u, W2)
    return delta, u_all


def _outer_sum(p: Tensor, q: Tensor) -> Tensor:
    """sum over steps t and windows b of p[t, e, b]^T q[t, e, b]: (T, E, B, P), (T, E, B, Q)
    -> (E, P, Q).

    One member's rows are not one matrix in the time-major layout (E sits between T and B),
    and transposing the buffers member-major costs two copies of ~10 MB at E = 16. So for an
    ensemble, one product per (step, member), batched, then a sum over steps; for a single
    model the layout is already one (T*B, .) matrix."""
    n_t, e, b, _ = p.shape
    if e == 1:
        return torch.mm(p.reshape(-1, p.shape[-1]).t(), q.reshape(-1, q.shape[-1])).unsqueeze(0)
    pq = torch.bmm(p.reshape(n_t * e, b, -1).transpose(1, 2), q.reshape(n_t * e, b, -1))
    return pq.view(n_t, e, *pq.shape[1:]).sum(0)


@torch.no_grad()
def fused_pl_rollout(
    x: Tensor,
    A: Tensor,
    W1: Tensor,
    W2: Tensor | None,
    h1: Tensor,
    h2: Tensor | None,
    init_map: Tensor,
    tau: Tau,
    alpha: float | Tensor,
    clip: bool = False,
    basis: tuple[Tensor, Tensor] | None = None,
) -> Tensor:
    """Forced rollout of a PL model with identity observation, without gradients; returns the
    predictions (T, E, B, N) of x_1..x_T (before forcing), as ``LatentModel.rollout`` does.

    Parameters
    ----------
    x : Tensor (T+1, E, B, N)
        Time-major observation windows.
    A : Tensor (E, M); W1 : Tensor (E, M, L); W2 : Tensor (E, L, M) or None (PLRNN: identity);
    h1 : Tensor (E, M); h2 : Tensor (E, L) or None; init_map : Tensor (E, M - N, N)
        The parameters (the PLRNN's W1 is its off-diagonal W, L = M).
    tau : int, None, or a sequence / integer Tensor (E,)
        Forcing interval (None: only z_0 forced; 1 with alpha < 1: GTF), or one per member
        (0 or None there: not forced), as :meth:`neurodsr.models.base.LatentModel.rollout`.
    alpha : float or Tensor (E,)
        Forcing strength at the forcing steps.
    clip : bool, default False
        The clipped shPLRNN (r = relu(W2 z + h2) - relu(W2 z)); the compiled loop only.
    basis : (Tensor (E, B), Tensor (E, B, M)) or None
        The dendPLRNN's basis weights and thresholds (PLRNN layout, r_m = sum_b w_b
        relu(z_m - theta_bm)); the compiled loop only.
    """
    alpha = _per_member(alpha, A.shape[0], x)
    tau = member_taus(tau, A.shape[0])
    _, _, diff = _forward(x, A, W1, W2, h1, h2, init_map, tau, alpha, clip=clip, basis=basis)
    return diff.add_(x[1:])


@torch.no_grad()
def fused_pl_generate(
    z0: Tensor,
    n_steps: int,
    A: Tensor,
    W1: Tensor,
    W2: Tensor | None,
    h1: Tensor,
    h2: Tensor | None,
    clip: bool = False,
    basis: tuple[Tensor, Tensor] | None = None,
) -> Tensor | None:
    """A free run of a PL model from z0 (E, B, M) for ``n_steps`` steps in the compiled loop:
    the states (n_steps, E, B, M), as ``LatentModel.generate`` returns them. None where the
    compiled loop does not run (CUDA, other dtypes, no build): the caller's torch loop then.
    Parameters as :func:`fused_pl_rollout`."""
    ext = _use_compiled(z0)
    if ext is None:
        return None
    e, b, m = z0.shape
    aug = W2 is not None
    zs = z0.new_empty(n_steps + 1, e, b, m + aug)
    zs[0, ..., :m] = z0
    if aug:
        zs[0, ..., m] = 1.0
    none = z0.new_empty(n_steps + 1, e, b, 0)  # no data, no forcing, no activations kept
    ext.forward(
        none, zs, z0.new_empty(0, e, b, W1.shape[2]), none[1:], A.contiguous(),
        W1.contiguous(), _opt(W2), h1.contiguous(), _opt(h2), z0.new_zeros(e),
        _tau_tensor(None, e), clip, *_basis_args(basis),
    )  # fmt: skip
    return zs[1:, ..., :m].contiguous() if aug else zs[1:]


@torch.no_grad()
def fused_pl_loss_and_grads(
    x: Tensor | Windows,
    A: Tensor,
    W1: Tensor,
    W2: Tensor | None,
    h1: Tensor,
    h2: Tensor | None,
    init_map: Tensor,
    tau: Tau,
    alpha: float | Tensor,
    weight: Tensor | None = None,
    workspace: dict[str, Tensor] | None = None,
    clip: bool = False,
    basis: tuple[Tensor, Tensor] | None = None,
) -> tuple[Tensor, tuple[Tensor | None, ...]]:
    """Each member's MSE (E,) and the gradients of ``sum(weight * loss)`` with respect to
    (A, W1, W2, h1, h2, init_map), without autograd.

    The training step's fast path: the same numbers as autograd through the model's plain
    loop (``rollout_loss`` and ``backward()``), without an autograd graph.
    ``weight`` (E,) defaults to ones (0 for a member means no gradient for it).
    ``workspace``, a dict the caller keeps between calls (the model does), holds the
    activation buffers for reuse; the returned tensors never alias it. Other parameters as
    :func:`fused_pl_rollout` (``clip``: the clipped shPLRNN, ``basis``: the dendPLRNN,
    compiled loop only); the gradients of W2 and h2 are None for the PLRNN; with ``basis`` the
    gradients of its weights and thresholds follow. ``x`` may be
    :class:`~neurodsr.models.base.Windows` (window starts in a series): the compiled loop reads
    them from the series in place, the torch loop takes their copy.
    """
    like = x.series if isinstance(x, Windows) else x
    alpha = _per_member(alpha, A.shape[0], like)
    tau = member_taus(tau, A.shape[0])
    if isinstance(x, Windows):
        n_t, (e, b), n = x.seq_len, x.starts.shape, x.series.shape[1]
    else:
        n_t, e, b, n = x.shape[0] - 1, *x.shape[1:]
    scale = torch.full((e,), 2.0 / (n_t * b * n), dtype=like.dtype, device=like.device)
    if weight is not None:
        scale = scale * weight.to(scale)
    ext = _use_compiled(like)
    if ext is not None:
        return _loss_and_grads_compiled(
            ext, x, A, W1, W2, h1, h2, init_map, tau, alpha, scale, clip, basis
        )
    if isinstance(x, Windows):
        x = x.tensor()
    if clip or basis is not None:
        raise ValueError("the clipped shPLRNN's and the dendPLRNN's pass need the compiled loop")
    zs, r_all, diff = _forward(x, A, W1, W2, h1, h2, init_map, tau, alpha, workspace)
    loss = diff.square().mean(dim=(0, 2, 3))
    g_pred = diff.mul_(scale.view(1, -1, 1, 1))
    return loss, _backward(g_pred, x, A, W1, W2, alpha, zs, r_all, tau, workspace)


def _loss_and_grads_compiled(
    ext: Any,
    x: Tensor | Windows,
    A: Tensor,
    W1: Tensor,
    W2: Tensor | None,
    h1: Tensor,
    h2: Tensor | None,
    init_map: Tensor,
    tau: _Taus,
    alpha: Tensor,
    scale: Tensor,
    clip: bool = False,
    basis: tuple[Tensor, Tensor] | None = None,
) -> tuple[Tensor, tuple[Tensor | None, ...]]:
    """:func:`fused_pl_loss_and_grads` as one compiled call: forward, adjoint and weight
    gradients of each (member, chunk of one or two SIMD vectors of windows) back to back, the
    chunks in parallel, their partial sums added in a fixed order (the same numbers at every
    run)."""
    if isinstance(x, Windows):  # read in place from the series
        n_t, (e, b), n = x.seq_len, x.starts.shape, x.series.shape[1]
        data, starts = x.series.contiguous(), x.starts.contiguous()
    else:
        n_t, e, b, n = x.shape[0] - 1, *x.shape[1:]
        data, starts = x.contiguous(), None
    sse, g_a, g_h1, g_w1, g_w2, g_h2, g_init, g_bw, g_th = ext.train(
        data, init_map.contiguous(), A.contiguous(), W1.contiguous(), _opt(W2),
        h1.contiguous(), _opt(h2), alpha.to(data).contiguous(), scale.contiguous(),
        _tau_tensor(tau, e), clip, *_basis_args(basis), starts, n_t,
    )  # fmt: skip
    if W2 is None:
        g_w2 = g_h2 = None
    grads = (g_a, g_w1, g_w2, g_h1, g_h2, g_init)
    return sse / (n_t * b * n), grads + ((g_bw, g_th) if basis is not None else ())
