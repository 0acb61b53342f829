"""Independent check of the QR references in references.json (issue 13).

Written apart from ``neurodsr.dynamics.zoo``: its own vector fields and Jacobians, scipy's
DOP853 (the Fortran code of Hairer & Wanner, through ``scipy.integrate.ode``, rtol 1e-10,
atol 1e-12) on the state and three tangent vectors together, a QR every ``--qr`` time units,
over ``--time`` time units after a transient, from several initial conditions. Prints the
running estimate of the whole spectrum at checkpoints (small exponents converge slowly, so a
short run misleads) and the sum of the exponents against the trace of the Jacobian where
that is a constant (Thomas: -3b; Lorenz-63: -(sigma + 1 + beta)).

    .venv/bin/python benchmarks/lyapunov/check_reference.py thomas --time 100000 --ics 4
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
from scipy.integrate import ode

HERE = Path(__file__).resolve().parent


def thomas(b=0.208):
    def f(t, y):
        x, yy, z = y[0], y[1], y[2]
        cx, cy, cz = math.cos(x), math.cos(yy), math.cos(z)
        out = [math.sin(yy) - b * x, math.sin(z) - b * yy, math.sin(x) - b * z]
        # tangent vectors, row-major 3 x 3 (vector i is y[3 + 3 i : 6 + 3 i])
        for i in range(3):
            v0, v1, v2 = y[3 + 3 * i], y[4 + 3 * i], y[5 + 3 * i]
            out += [cy * v1 - b * v0, cz * v2 - b * v1, cx * v0 - b * v2]
        return out

    return f, -3 * b, [0.1, 0.0, -0.1], 500.0


def roessler(a=0.2, b=0.2, c=5.7):
    def f(t, y):
        x, yy, z = y[0], y[1], y[2]
        out = [-yy - z, x + a * yy, b + z * (x - c)]
        for i in range(3):
            v0, v1, v2 = y[3 + 3 * i], y[4 + 3 * i], y[5 + 3 * i]
            out += [-v1 - v2, v0 + a * v1, z * v0 + (x - c) * v2]
        return out

    return f, None, [1.0, 1.0, 0.0], 100.0


def lorenz63(s=10.0, r=28.0, beta=8.0 / 3.0):
    def f(t, y):
        x, yy, z = y[0], y[1], y[2]
        out = [s * (yy - x), x * (r - z) - yy, x * yy - beta * z]
        for i in range(3):
            v0, v1, v2 = y[3 + 3 * i], y[4 + 3 * i], y[5 + 3 * i]
            out += [s * (v1 - v0), (r - z) * v0 - v1 - x * v2, yy * v0 + x * v1 - beta * v2]
        return out

    return f, -(s + 1 + beta), [0.0, 1.0, 25.0], 100.0


def halvorsen(a=1.4):
    def f(t, y):
        x, yy, z = y[0], y[1], y[2]
        out = [-a * x - 4 * yy - 4 * z - yy * yy, -a * yy - 4 * z - 4 * x - z * z,
               -a * z - 4 * x - 4 * yy - x * x]  # fmt: skip
        for i in range(3):
            v0, v1, v2 = y[3 + 3 * i], y[4 + 3 * i], y[5 + 3 * i]
            out += [-a * v0 - (4 + 2 * yy) * v1 - 4 * v2, -4 * v0 - a * v1 - (4 + 2 * z) * v2,
                    -(4 + 2 * x) * v0 - 4 * v1 - a * v2]  # fmt: skip
        return out

    return f, -3 * a, [-5.0, 0.0, 0.0], 100.0


SYSTEMS = {"thomas": thomas, "roessler": roessler, "lorenz63": lorenz63, "halvorsen": halvorsen}


def run(name: str, total: float, qr: float, seed: int, checkpoints: list[float]) -> dict:
    f, trace, center, transient = SYSTEMS[name]()
    rng = np.random.default_rng([seed, 71])
    x0 = np.asarray(center) + 0.5 * rng.standard_normal(3)
    # transient on the state alone (tangent vectors zero, then reset)
    y = np.concatenate([x0, np.eye(3).ravel()])
    solver = ode(f).set_integrator("dop853", rtol=1e-10, atol=1e-12, nsteps=10**7)
    solver.set_initial_value(y, 0.0)
    solver.integrate(transient)
    state = solver.y[:3].copy()
    y = np.concatenate([state, np.eye(3).ravel()])
    solver.set_initial_value(y, 0.0)
    acc = np.zeros(3)
    t, out, marks = 0.0, [], sorted(checkpoints)
    n_steps = round(total / qr)
    for k in range(1, n_steps + 1):
        solver.integrate(k * qr)
        if not solver.successful():
            raise RuntimeError(f"{name}: DOP853 failed at t = {k * qr}")
        yv = solver.y
        vecs = yv[3:].reshape(3, 3).T  # columns = tangent vectors
        q, r = np.linalg.qr(vecs)
        d = np.diag(r)
        q = q * np.sign(d)
        acc += np.log(np.abs(d))
        solver.set_initial_value(np.concatenate([yv[:3], q.T.ravel()]), k * qr)
        t = k * qr
        while marks and t >= marks[0] - 1e-9:
            out.append({"T": marks.pop(0), "spectrum": (acc / t).tolist()})
    return {"system": name, "seed": seed, "x0": x0.tolist(), "trace": trace, "running": out}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("system", choices=sorted(SYSTEMS))
    p.add_argument("--time", type=float, default=1e5)
    p.add_argument("--qr", type=float, default=1.0)
    p.add_argument("--ics", type=int, default=4)
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=HERE / "reference_check.jsonl")
    a = p.parse_args()
    marks = [m for m in (1e3, 3e3, 1e4, 3e4, 1e5, 3e5, 1e6) if m < a.time] + [a.time]
    for seed in range(a.first_seed, a.first_seed + a.ics):
        t0 = time.perf_counter()
        res = run(a.system, a.time, a.qr, seed, marks)
        res["seconds"] = time.perf_counter() - t0
        with a.out.open("a") as fh:
            fh.write(json.dumps(res) + "\n")
        last = res["running"][-1]["spectrum"]
        runs = ", ".join(f"T={r['T']:g}: {r['spectrum'][0]:.5f}" for r in res["running"])
        print(f"{a.system} seed {seed}: lambda = {np.round(last, 5).tolist()}, "
              f"sum {sum(last):.6f} (trace {res['trace']}); running lambda_1 {runs}; "
              f"{res['seconds']:.0f} s", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
