"""Tool-choice prototype (issue 17): the PLRNN's forced forward, adjoint and weight gradients
in numba (per window, inner loops over units left to LLVM's vectoriser): the numba candidate
of issue 17's tool choice, the same pass as the compiled extension's ``train``.

    pip install -c envs/constraints.txt -e ".[bench]"     # numba, benchmark-only
    NUMBA_NUM_THREADS=1 .venv/bin/python benchmarks/tool_choice_numba.py

Prints the CPU milliseconds of one call (PLRNN M = 30, 32 windows of 100 steps, STF tau 30),
best of 15 x 20 calls, and the first call's compile (or cache-load) time.
"""

import time

import numba as nb
import numpy as np


@nb.njit(fastmath=True, cache=True, parallel=False)
def train(x, A, W, h, tau, alpha, scale):
    T1, B, N = x.shape
    T = T1 - 1
    M = A.shape[0]
    gA = np.zeros(M, np.float32)
    gh = np.zeros(M, np.float32)
    gW = np.zeros((M, M), np.float32)
    zs = np.empty((T + 1, M), np.float32)
    rs = np.empty((T, M), np.float32)
    es = np.empty((T, N), np.float32)
    d = np.empty(M, np.float32)
    c = np.empty(M, np.float32)
    u = np.empty(M, np.float32)
    sse = 0.0
    for b in range(B):
        for k in range(M):
            zs[0, k] = x[0, b, k] if k < N else 0.0
        for t in range(T):
            for k in range(M):
                rs[t, k] = max(zs[t, k], 0.0)
            for j in range(M):
                acc = h[j] + A[j] * zs[t, j]
                for k in range(M):
                    acc += W[j, k] * rs[t, k]
                zs[t + 1, j] = acc
            f = tau > 0 and (t + 1) % tau == 0 and t + 1 < T
            for k in range(N):
                e = zs[t + 1, k] - x[t + 1, b, k]
                es[t, k] = e
                sse += e * e
                if f:
                    zs[t + 1, k] -= alpha * e
        c[:] = 0.0
        for t in range(T - 1, -1, -1):
            f = tau > 0 and (t + 1) % tau == 0 and t + 1 < T
            for k in range(M):
                d[k] = c[k]
            for k in range(N):
                d[k] = (d[k] * (1 - alpha) if f else d[k]) + scale * es[t, k]
            for j in range(M):
                gA[j] += d[j] * zs[t, j]
                gh[j] += d[j]
                for k in range(M):
                    gW[j, k] += d[j] * rs[t, k]
            for k in range(M):
                acc = 0.0
                for j in range(M):
                    acc += W[j, k] * d[j]
                u[k] = acc if rs[t, k] > 0 else 0.0
            for k in range(M):
                c[k] = u[k] + A[k] * d[k]
    return sse, gA, gh, gW


def main():
    M, B, T = 30, 32, 100
    rng = np.random.default_rng(0)
    x = rng.standard_normal((T + 1, B, M)).astype(np.float32)
    A = (0.5 + 0.4 * rng.random(M)).astype(np.float32)
    W = (rng.standard_normal((M, M)) * 0.5 / np.sqrt(M)).astype(np.float32)
    np.fill_diagonal(W, 0)
    h = np.zeros(M, np.float32)
    t0 = time.perf_counter()
    train(x, A, W, h, 30, 1.0, 1.0)
    first = time.perf_counter() - t0
    best = 1e9
    for _ in range(15):
        c0 = time.process_time()
        for _ in range(20):
            train(x, A, W, h, 30, 1.0, 1.0)
        best = min(best, (time.process_time() - c0) / 20 * 1e3)
    print(
        f"numba PLRNN M30 B32 T100 STF: {best:.3f} ms cpu per call "
        f"(first call, compile or cache load: {first:.2f} s)"
    )


if __name__ == "__main__":
    main()
