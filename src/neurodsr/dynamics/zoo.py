"""A zoo of chaotic systems and non-chaotic controls, with lambda_max by QR on the equations.

Each :class:`System` knows its equations and their tangent map (Jacobian-vector products), so
that one integrator produces both the observed series and the reference exponent: the largest
Lyapunov exponent by Benettin's QR (here: renormalised tangent vectors, and k vectors with a QR
for the leading k exponents) on the same discretisation. dysts also ships equations, but its
stored exponents disagree with QR by up to 4x on some systems (issue 13), so every reference
here is computed, never looked up.

- Flows: fixed-step RK4 on the state and the tangent vectors together (internal step
  ``dt / substeps``), vectorised over several independent orbits.
- Maps: the map and its Jacobian.
- Mackey-Glass (a delay equation): Heun's method on a grid whose step divides the delay; the
  tangent is the linearised delay equation on the same grid, its norm taken over the whole
  history segment (the state of a delay equation is a function on [t - delay, t]).

Controls are stochastic or regular processes (limit cycle, torus, noisy fixed point, AR(1),
1/f noise, noisy oscillator) whose largest exponent is <= 0 by construction.

All times in the system's time units; exponents per unit time (per step for maps, dt = 1).
Written by hand (no library integrates tangent dynamics of delay equations and of large rate
networks in one vectorised loop); every system is a few lines, checked in
``tests/test_lyapunov_zoo.py`` against published values (Lorenz-63, Hénon, logistic).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "CONTROLS",
    "SYSTEMS",
    "System",
    "control_series",
    "reference_lambda",
    "simulate_clean",
    "simulate_system",
]

Array = NDArray[np.float64]


@dataclass(frozen=True)
class System:
    """A chaotic system: equations, tangent map, sampling.

    Attributes
    ----------
    name : str
    kind : {"flow", "map", "dde"}
    f : callable
        Flow: the vector field, (B, n) -> (B, n); map: the map.
    jvp : callable
        ``jvp(x, v)``: Jacobian at x (B, n) times the tangent vectors v (B, k, n) -> (B, k, n).
    x0 : callable
        ``x0(rng, b)``: b initial states, (b, n).
    dt : float
        Sampling interval, time units (1 for maps).
    substeps : int
        Internal RK4 steps per sample (flows).
    transient : float
        Time discarded first, time units.
    observe : int
        Coordinates seen in the "subset" view (the first ``observe``; all if 0).
    family : str
        What kind of system, for the benchmark table.
    """

    name: str
    kind: str
    f: Callable[[Array], Array]
    jvp: Callable[[Array, Array], Array]
    x0: Callable[[np.random.Generator, int], Array]
    dt: float
    substeps: int = 10
    transient: float = 100.0
    observe: int = 0
    family: str = "flow"
    params: dict = field(default_factory=dict)


# ---------------------------------------------------------------- flows


def _lorenz(s: float = 10.0, r: float = 28.0, b: float = 8.0 / 3.0):
    def f(x):
        return np.stack(
            [s * (x[..., 1] - x[..., 0]), x[..., 0] * (r - x[..., 2]) - x[..., 1],
             x[..., 0] * x[..., 1] - b * x[..., 2]], axis=-1)  # fmt: skip

    def jvp(x, v):
        x = x[:, None]
        return np.stack(
            [s * (v[..., 1] - v[..., 0]),
             (r - x[..., 2]) * v[..., 0] - v[..., 1] - x[..., 0] * v[..., 2],
             x[..., 1] * v[..., 0] + x[..., 0] * v[..., 1] - b * v[..., 2]], axis=-1)  # fmt: skip

    return f, jvp


def _chen(a: float = 35.0, b: float = 3.0, c: float = 28.0):
    def f(x):
        X, Y, Z = x[..., 0], x[..., 1], x[..., 2]
        return np.stack([a * (Y - X), (c - a) * X - X * Z + c * Y, X * Y - b * Z], axis=-1)

    def jvp(x, v):
        X, Y, Z = (x[:, None, i] for i in range(3))
        a0, a1, a2 = v[..., 0], v[..., 1], v[..., 2]
        return np.stack(
            [a * (a1 - a0), (c - a - Z) * a0 + c * a1 - X * a2, Y * a0 + X * a1 - b * a2], axis=-1
        )

    return f, jvp


def _roessler(a: float = 0.2, b: float = 0.2, c: float = 5.7):
    def f(x):
        X, Y, Z = x[..., 0], x[..., 1], x[..., 2]
        return np.stack([-Y - Z, X + a * Y, b + Z * (X - c)], axis=-1)

    def jvp(x, v):
        X, Z = x[:, None, 0], x[:, None, 2]
        return np.stack(
            [
                -v[..., 1] - v[..., 2],
                v[..., 0] + a * v[..., 1],
                Z * v[..., 0] + (X - c) * v[..., 2],
            ],
            axis=-1,
        )

    return f, jvp


def _hyper_roessler(a: float = 0.25, b: float = 3.0, c: float = 0.5, d: float = 0.05):
    def f(x):
        X, Y, Z, W = (x[..., i] for i in range(4))
        return np.stack([-Y - Z, X + a * Y + W, b + X * Z, -c * Z + d * W], axis=-1)

    def jvp(x, v):
        X, Z = x[:, None, 0], x[:, None, 2]
        v0, v1, v2, v3 = (v[..., i] for i in range(4))
        return np.stack([-v1 - v2, v0 + a * v1 + v3, Z * v0 + X * v2, -c * v2 + d * v3], axis=-1)

    return f, jvp


def _thomas(b: float = 0.208):
    def f(x):
        return np.sin(np.roll(x, -1, axis=-1)) - b * x

    def jvp(x, v):
        return np.cos(np.roll(x, -1, axis=-1))[:, None] * np.roll(v, -1, axis=-1) - b * v

    return f, jvp


def _halvorsen(a: float = 1.4):
    def f(x):
        X, Y, Z = x[..., 0], x[..., 1], x[..., 2]
        return np.stack(
            [-a * X - 4 * Y - 4 * Z - Y * Y, -a * Y - 4 * Z - 4 * X - Z * Z,
             -a * Z - 4 * X - 4 * Y - X * X], axis=-1)  # fmt: skip

    def jvp(x, v):
        X, Y, Z = (x[:, None, i] for i in range(3))
        v0, v1, v2 = v[..., 0], v[..., 1], v[..., 2]
        return np.stack(
            [-a * v0 - (4 + 2 * Y) * v1 - 4 * v2, -4 * v0 - a * v1 - (4 + 2 * Z) * v2,
             -(4 + 2 * X) * v0 - 4 * v1 - a * v2], axis=-1)  # fmt: skip

    return f, jvp


def _sprott_b():
    def f(x):
        X, Y, Z = x[..., 0], x[..., 1], x[..., 2]
        return np.stack([Y * Z, X - Y, 1 - X * Y], axis=-1)

    def jvp(x, v):
        X, Y, Z = (x[:, None, i] for i in range(3))
        v0, v1, v2 = v[..., 0], v[..., 1], v[..., 2]
        return np.stack([Z * v1 + Y * v2, v0 - v1, -Y * v0 - X * v1], axis=-1)

    return f, jvp


def _lorenz84(a: float = 0.25, b: float = 4.0, F: float = 8.0, G: float = 1.0):
    def f(x):
        X, Y, Z = x[..., 0], x[..., 1], x[..., 2]
        return np.stack(
            [-Y * Y - Z * Z - a * X + a * F, X * Y - b * X * Z - Y + G, b * X * Y + X * Z - Z],
            axis=-1,
        )

    def jvp(x, v):
        X, Y, Z = (x[:, None, i] for i in range(3))
        v0, v1, v2 = v[..., 0], v[..., 1], v[..., 2]
        return np.stack(
            [-a * v0 - 2 * Y * v1 - 2 * Z * v2, (Y - b * Z) * v0 + (X - 1) * v1 - b * X * v2,
             (b * Y + Z) * v0 + b * X * v1 + (X - 1) * v2], axis=-1)  # fmt: skip

    return f, jvp


def _rucklidge(k: float = 2.0, lam: float = 6.7):
    def f(x):
        X, Y, Z = x[..., 0], x[..., 1], x[..., 2]
        return np.stack([-k * X + lam * Y - Y * Z, X, -Z + Y * Y], axis=-1)

    def jvp(x, v):
        Y, Z = x[:, None, 1], x[:, None, 2]
        v0, v1, v2 = v[..., 0], v[..., 1], v[..., 2]
        return np.stack([-k * v0 + (lam - Z) * v1 - Y * v2, v0, 2 * Y * v1 - v2], axis=-1)

    return f, jvp


def _arneodo(a: float = -5.5, b: float = 3.5, c: float = -1.0):
    def f(x):
        X, Y, Z = x[..., 0], x[..., 1], x[..., 2]
        return np.stack([Y, Z, -a * X - b * Y - Z + c * X**3], axis=-1)

    def jvp(x, v):
        X = x[:, None, 0]
        v0, v1, v2 = v[..., 0], v[..., 1], v[..., 2]
        return np.stack([v1, v2, (-a + 3 * c * X * X) * v0 - b * v1 - v2], axis=-1)

    return f, jvp


def _ueda(delta: float = 0.05, gamma: float = 7.5, omega: float = 1.0):
    """Forced Duffing (Ueda): x'' + delta x' + x^3 = gamma cos(theta), theta' = omega."""

    def f(x):
        X, V, T = x[..., 0], x[..., 1], x[..., 2]
        return np.stack([V, -delta * V - X**3 + gamma * np.cos(T), np.full_like(T, omega)], axis=-1)

    def jvp(x, v):
        X, T = x[:, None, 0], x[:, None, 2]
        v0, v1, v2 = v[..., 0], v[..., 1], v[..., 2]
        return np.stack(
            [v1, -3 * X * X * v0 - delta * v1 - gamma * np.sin(T) * v2, 0 * v2], axis=-1
        )

    return f, jvp


def _hindmarsh_rose(I: float = 3.25, r: float = 0.006, s: float = 4.0, xr: float = -1.6):  # noqa: E741
    """Hindmarsh-Rose bursting neuron (a=1, b=3, c=1, d=5): chaotic bursting at I = 3.25."""

    def f(x):
        X, Y, Z = x[..., 0], x[..., 1], x[..., 2]
        return np.stack(
            [Y - X**3 + 3 * X * X - Z + I, 1 - 5 * X * X - Y, r * (s * (X - xr) - Z)], axis=-1
        )

    def jvp(x, v):
        X = x[:, None, 0]
        v0, v1, v2 = v[..., 0], v[..., 1], v[..., 2]
        return np.stack(
            [(-3 * X * X + 6 * X) * v0 + v1 - v2, -10 * X * v0 - v1, r * (s * v0 - v2)], axis=-1
        )

    return f, jvp


def _lorenz96(n: int, F: float = 8.0):
    def f(x):
        return (np.roll(x, -1, -1) - np.roll(x, 2, -1)) * np.roll(x, 1, -1) - x + F

    def jvp(x, v):
        x = x[:, None]
        xp1, xm2, xm1 = np.roll(x, -1, -1), np.roll(x, 2, -1), np.roll(x, 1, -1)
        vp1, vm2, vm1 = np.roll(v, -1, -1), np.roll(v, 2, -1), np.roll(v, 1, -1)
        return (vp1 - vm2) * xm1 + (xp1 - xm2) * vm1 - v

    return f, jvp


def _rate_network(n: int, g: float, seed: int):
    """Sompolinsky-Crisanti-Sommers rate network: dx/dt = -x + g W tanh(x), W_ij ~ N(0, 1/n)."""
    w = np.random.default_rng([seed, 77]).standard_normal((n, n)) / np.sqrt(n)
    gw_t = (g * w).T

    def f(x):
        return -x + np.tanh(x) @ gw_t

    def jvp(x, v):
        return -v + ((1.0 - np.tanh(x) ** 2)[:, None] * v) @ gw_t

    return f, jvp


def _gaussian_x0(center, scale):
    c = np.asarray(center, dtype=np.float64)

    def x0(rng: np.random.Generator, b: int) -> Array:
        return c + scale * rng.standard_normal((b, c.size))

    return x0


# ---------------------------------------------------------------- maps


def _henon(a: float = 1.4, b: float = 0.3):
    def f(x):
        return np.stack([1 - a * x[..., 0] ** 2 + x[..., 1], b * x[..., 0]], axis=-1)

    def jvp(x, v):
        X = x[:, None, 0]
        return np.stack([-2 * a * X * v[..., 0] + v[..., 1], b * v[..., 0]], axis=-1)

    return f, jvp


def _logistic(r: float):
    def f(x):
        return r * x * (1 - x)

    def jvp(x, v):
        return r * (1 - 2 * x[:, None]) * v

    return f, jvp


def _ikeda(u: float = 0.9):
    def f(x):
        X, Y = x[..., 0], x[..., 1]
        t = 0.4 - 6.0 / (1 + X * X + Y * Y)
        c, s = np.cos(t), np.sin(t)
        return np.stack([1 + u * (X * c - Y * s), u * (X * s + Y * c)], axis=-1)

    def jvp(x, v):
        X, Y = x[:, None, 0], x[:, None, 1]
        q = 1 + X * X + Y * Y
        t = 0.4 - 6.0 / q
        c, s = np.cos(t), np.sin(t)
        tx, ty = 12 * X / q**2, 12 * Y / q**2
        a = X * c - Y * s  # d/dt of (X s + Y c) = a ; d/dt of (X c - Y s) = -(X s + Y c)
        bb = X * s + Y * c
        j00 = u * (c - bb * tx)
        j01 = u * (-s - bb * ty)
        j10 = u * (s + a * tx)
        j11 = u * (c + a * ty)
        return np.stack([j00 * v[..., 0] + j01 * v[..., 1], j10 * v[..., 0] + j11 * v[..., 1]], -1)

    return f, jvp


def _lozi(a: float = 1.7, b: float = 0.5):
    def f(x):
        return np.stack([1 - a * np.abs(x[..., 0]) + x[..., 1], b * x[..., 0]], axis=-1)

    def jvp(x, v):
        sg = np.sign(x[:, None, 0])
        return np.stack([-a * sg * v[..., 0] + v[..., 1], b * v[..., 0]], axis=-1)

    return f, jvp


def _tinkerbell(a: float = 0.9, b: float = -0.6013, c: float = 2.0, d: float = 0.5):
    def f(x):
        X, Y = x[..., 0], x[..., 1]
        return np.stack([X * X - Y * Y + a * X + b * Y, 2 * X * Y + c * X + d * Y], axis=-1)

    def jvp(x, v):
        X, Y = x[:, None, 0], x[:, None, 1]
        v0, v1 = v[..., 0], v[..., 1]
        return np.stack(
            [(2 * X + a) * v0 + (b - 2 * Y) * v1, (2 * Y + c) * v0 + (2 * X + d) * v1], axis=-1
        )

    return f, jvp


def _coupled_logistic(r: float = 3.9, eps: float = 0.1, n: int = 4):
    """A ring of diffusively coupled logistic maps."""

    def f(x):
        y = r * x * (1 - x)
        return (1 - eps) * y + 0.5 * eps * (np.roll(y, 1, -1) + np.roll(y, -1, -1))

    def jvp(x, v):
        dv = r * (1 - 2 * x[:, None]) * v
        return (1 - eps) * dv + 0.5 * eps * (np.roll(dv, 1, -1) + np.roll(dv, -1, -1))

    return f, jvp


def _uniform_x0(low, high):
    lo, hi = np.asarray(low, float), np.asarray(high, float)

    def x0(rng: np.random.Generator, b: int) -> Array:
        return lo + (hi - lo) * rng.random((b, lo.size))

    return x0


def _make_systems() -> dict[str, System]:
    S: dict[str, System] = {}

    def flow(name, fj, center, scale, dt, sub, transient=100.0, observe=0, family="flow", **p):
        f, j = fj
        S[name] = System(
            name, "flow", f, j, _gaussian_x0(center, scale), dt, sub, transient, observe,
            family, p,
        )  # fmt: skip

    def amap(name, fj, low, high, transient=1000.0, observe=0, family="map"):
        f, j = fj
        S[name] = System(name, "map", f, j, _uniform_x0(low, high), 1.0, 1, transient, observe,
                         family)  # fmt: skip

    flow("lorenz63", _lorenz(), [0, 1, 25], 1.0, 0.01, 2)
    flow("lorenz63_coarse", _lorenz(), [0, 1, 25], 1.0, 0.05, 10)
    flow("lorenz63_rho45", _lorenz(r=45.0), [0, 1, 40], 1.0, 0.01, 2)
    flow("roessler", _roessler(), [1, 1, 0], 0.5, 0.1, 5)
    flow("roessler_c9", _roessler(c=9.0), [1, 1, 0], 0.5, 0.1, 5)
    flow("hyper_roessler", _hyper_roessler(), [-10, -6, 0, 10], 0.5, 0.1, 10, 300.0)
    flow("chen", _chen(), [-10, 0, 37], 1.0, 0.005, 2)
    flow("thomas", _thomas(), [0.1, 0.0, -0.1], 0.5, 0.3, 10, 500.0)
    flow("halvorsen", _halvorsen(), [-5, 0, 0], 0.5, 0.02, 4)
    flow("sprott_b", _sprott_b(), [0.1, 0.1, 0.1], 0.1, 0.1, 5, 200.0)
    flow("lorenz84", _lorenz84(), [1, 1, 1], 0.2, 0.05, 5, 200.0)
    flow("rucklidge", _rucklidge(), [1, 0, 4.5], 0.2, 0.05, 5, 200.0)
    flow("arneodo", _arneodo(), [0.2, 0.2, -0.75], 0.05, 0.05, 5, 200.0)
    flow("ueda_duffing", _ueda(), [2.5, 0, 0], 0.2, 0.1, 10, 300.0, family="forced")
    flow("hindmarsh_rose", _hindmarsh_rose(), [-1, -5, 3], 0.2, 0.5, 10, 1000.0,
         family="neuron")  # fmt: skip
    flow("lorenz96_10", _lorenz96(10), [8] * 10, 1.0, 0.05, 5, 100.0, observe=5)
    flow("lorenz96_20", _lorenz96(20), [8] * 20, 1.0, 0.05, 5, 100.0, observe=5)
    for n, g in ((50, 3.0), (100, 4.0), (200, 3.0)):
        flow(f"rate_net_{n}", _rate_network(n, g, n), [0] * n, 1.0, 0.25, 5, 200.0, observe=10,
             family="rate network")  # fmt: skip
    amap("henon", _henon(), [-0.1, -0.1], [0.1, 0.1])
    amap("logistic_r4", _logistic(4.0), [0.2], [0.8])
    amap("logistic_r3.8", _logistic(3.8), [0.2], [0.8])
    amap("ikeda", _ikeda(), [-0.5, -0.5], [0.5, 0.5])
    amap("lozi", _lozi(), [-0.1, -0.1], [0.1, 0.1])
    amap("tinkerbell", _tinkerbell(), [-0.72, -0.64], [-0.7, -0.62])
    amap("coupled_logistic", _coupled_logistic(), [0.2] * 4, [0.8] * 4)
    S["mackey_glass"] = System(
        "mackey_glass", "dde", lambda x: x, lambda x, v: v, _uniform_x0([1.1], [1.3]), 1.0, 20,
        1000.0, 0, "delay", {"beta": 0.2, "gamma": 0.1, "n": 10.0, "delay": 17.0},
    )  # fmt: skip
    return S


#: The chaotic benchmark systems by name.
SYSTEMS: dict[str, System] = _make_systems()


# ---------------------------------------------------------------- integration


def _rk4(sys: System, x: Array, v: Array | None, h: float) -> tuple[Array, Array | None]:
    f, j = sys.f, sys.jvp
    k1 = f(x)
    if v is None:
        k2 = f(x + 0.5 * h * k1)
        k3 = f(x + 0.5 * h * k2)
        k4 = f(x + h * k3)
        return x + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4), None
    x2 = x + 0.5 * h * k1
    m1 = j(x, v)
    k2 = f(x2)
    m2 = j(x2, v + 0.5 * h * m1)
    x3 = x + 0.5 * h * k2
    k3 = f(x3)
    m3 = j(x3, v + 0.5 * h * m2)
    x4 = x + h * k3
    k4 = f(x4)
    m4 = j(x4, v + h * m3)
    return (
        x + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4),
        v + h / 6.0 * (m1 + 2 * m2 + 2 * m3 + m4),
    )


def _advance(sys: System, x: Array, v: Array | None) -> tuple[Array, Array | None]:
    """One sampling interval of a flow or one iterate of a map."""
    if sys.kind == "map":
        return sys.f(x), (None if v is None else sys.jvp(x, v))
    h = sys.dt / sys.substeps
    for _ in range(sys.substeps):
        x, v = _rk4(sys, x, v, h)
    return x, v


def _orthonormal(v: Array) -> tuple[Array, Array]:
    """QR of the tangent vectors (B, k, n): the new frame and log|diag R| (B, k)."""
    q, r = np.linalg.qr(np.swapaxes(v, 1, 2))
    return np.swapaxes(q, 1, 2), np.log(np.abs(np.diagonal(r, axis1=1, axis2=2)))


def _mackey_glass(
    n_samples: int,
    n_orbits: int,
    rng: np.random.Generator,
    *,
    tangent: int,
    params: dict,
    dt: float,
    substeps: int,
    transient: float,
) -> tuple[Array, Array | None]:
    """Mackey-Glass samples (n_samples, n_orbits) and, if ``tangent``, log growth per sample.

    Heun on a grid of step h = dt / substeps (the delay is a multiple of h). The tangent is a
    single perturbation of the history segment, renormalised (Euclidean norm over the segment
    times sqrt(h), an L2 norm) every sample.
    """
    beta, gamma, p, delay = params["beta"], params["gamma"], params["n"], params["delay"]
    h = dt / substeps
    lag = round(delay / h)
    n_trans = round(transient / dt)
    total = (n_trans + n_samples) * substeps
    buf = np.empty((lag + total + 1, n_orbits))
    buf[: lag + 1] = 1.1 + 0.2 * rng.random((1, n_orbits))
    vb = None
    if tangent:
        vb = np.zeros_like(buf)
        vb[: lag + 1] = rng.standard_normal((lag + 1, n_orbits))
        vb[: lag + 1] /= np.sqrt(h * np.sum(vb[: lag + 1] ** 2, axis=0))
    growth = np.zeros((n_samples, n_orbits)) if tangent else None

    def g(xd):
        return beta * xd / (1.0 + xd**p)

    def dg(xd):
        return beta * (1.0 + (1.0 - p) * xd**p) / (1.0 + xd**p) ** 2

    out = np.empty((n_samples, n_orbits))
    for s in range(n_trans + n_samples):
        for i in range(lag + s * substeps, lag + (s + 1) * substeps):
            x, d0, d1 = buf[i], buf[i - lag], buf[i - lag + 1]
            k1 = g(d0) - gamma * x
            xe = x + h * k1
            k2 = g(d1) - gamma * xe
            buf[i + 1] = x + 0.5 * h * (k1 + k2)
            if vb is not None:
                v, e0, e1 = vb[i], vb[i - lag], vb[i - lag + 1]
                m1 = dg(d0) * e0 - gamma * v
                ve = v + h * m1
                m2 = dg(d1) * e1 - gamma * ve
                vb[i + 1] = v + 0.5 * h * (m1 + m2)
        end = lag + (s + 1) * substeps
        if vb is not None:
            seg = vb[end - lag : end + 1]
            norm = np.sqrt(h * np.sum(seg * seg, axis=0))
            vb[end - lag : end + 1] = seg / norm
            if s >= n_trans:
                growth[s - n_trans] = np.log(norm)
        if s >= n_trans:
            out[s - n_trans] = buf[end]
    return out, growth


def simulate_system(
    name: str,
    n_samples: int,
    *,
    seed: int = 0,
    noise: float = 0.05,
    view: str = "all",
) -> tuple[Array, float]:
    """Simulate a zoo system and return its observed series and dt.

    Parameters
    ----------
    name : str
        A key of :data:`SYSTEMS`.
    n_samples : int
        Samples after the transient.
    seed : int
        Seed of the initial state and of the observation noise.
    noise : float
        Gaussian observation noise, fraction of each observed coordinate's std (0.05 = 5 %).
    view : {"one", "all"}
        "one": the first coordinate only; "all": every coordinate, or the first
        ``System.observe`` (a subset) where that is set (networks, Lorenz-96).

    Returns
    -------
    x : array, shape (n_samples, n_observed)
    dt : float
        Sampling interval, time units.
    """
    x = simulate_clean(name, n_samples, seed=seed)
    x = _view(x, SYSTEMS[name], view)
    return _add_noise(x, noise, seed), SYSTEMS[name].dt


def simulate_clean(name: str, n_samples: int, *, seed: int = 0) -> Array:
    """The noise-free full state of a zoo system, shape (n_samples, n_state).

    Seeded initial state; the transient (``System.transient``) is discarded.
    """
    sys = SYSTEMS[name]
    rng = np.random.default_rng([seed, 13])
    if sys.kind == "dde":
        x, _ = _mackey_glass(
            n_samples, 1, rng, tangent=0, params=sys.params, dt=sys.dt,
            substeps=sys.substeps, transient=sys.transient,
        )  # fmt: skip
    else:
        z = sys.x0(rng, 1)
        n_trans = round(sys.transient / sys.dt)
        for _ in range(n_trans):
            z, _ = _advance(sys, z, None)
        x = np.empty((n_samples, z.shape[1]))
        for i in range(n_samples):
            x[i] = z[0]
            z, _ = _advance(sys, z, None)
        if not np.isfinite(x).all():  # pragma: no cover - a bad initial state
            raise RuntimeError(f"{name}: orbit diverged")
    return x


def _view(x: Array, sys: System, view: str) -> Array:
    if view == "one":
        return x[:, :1]
    if view == "all":
        k = sys.observe or x.shape[1]
        if sys.name == "ueda_duffing":
            k = 2  # the forcing phase is not an observable
        return x[:, :k]
    raise ValueError(f"view must be 'one' or 'all', got {view!r}")


def _add_noise(x: Array, noise: float, seed: int) -> Array:
    if noise <= 0:
        return x
    rng = np.random.default_rng([seed, 29])
    return x + noise * x.std(axis=0) * rng.standard_normal(x.shape)


def reference_lambda(
    name: str,
    *,
    n_samples: int = 20_000,
    n_orbits: int = 8,
    n_exponents: int = 1,
    seed: int = 0,
) -> tuple[Array, Array]:
    """Leading Lyapunov exponents of a zoo system by QR on its equations.

    Parameters
    ----------
    name : str
        A key of :data:`SYSTEMS`.
    n_samples : int
        Sampling intervals per orbit over which growth is averaged (after the transient and
        a further 10 % for the frame to align).
    n_orbits : int
        Independent orbits integrated at once (vectorised); their spread is the uncertainty.
    n_exponents : int
        Leading exponents (tangent vectors); 1 for the delay equation.

    Returns
    -------
    mean : array, shape (n_exponents,)
        Exponents per unit time, mean over orbits.
    per_orbit : array, shape (n_orbits, n_exponents)
    """
    sys = SYSTEMS[name]
    rng = np.random.default_rng([seed, 31])
    warm = max(100, n_samples // 10)
    if sys.kind == "dde":
        _, growth = _mackey_glass(
            n_samples + warm, n_orbits, rng, tangent=1, params=sys.params, dt=sys.dt,
            substeps=sys.substeps, transient=sys.transient,
        )  # fmt: skip
        per = growth[warm:].sum(axis=0)[:, None] / (n_samples * sys.dt)
        return per.mean(axis=0), per
    z = sys.x0(rng, n_orbits)
    for _ in range(round(sys.transient / sys.dt)):
        z, _ = _advance(sys, z, None)
    n = z.shape[1]
    k = min(n_exponents, n)
    v, _ = _orthonormal(rng.standard_normal((n_orbits, k, n)))
    acc = np.zeros((n_orbits, k))
    for i in range(warm + n_samples):
        z, v = _advance(sys, z, v)
        v, logs = _orthonormal(v)
        if i >= warm:
            acc += logs
    per = acc / (n_samples * sys.dt)
    if not np.isfinite(per).all():  # pragma: no cover
        raise RuntimeError(f"{name}: tangent dynamics diverged")
    return per.mean(axis=0), per


# ---------------------------------------------------------------- controls


def _van_der_pol(n: int, dt: float, rng: np.random.Generator, mu: float = 1.0) -> Array:
    sub, h = 10, dt / 10
    z = np.array([2.0, 0.0]) + 0.1 * rng.standard_normal(2)
    out = np.empty((n + 500, 2))
    for i in range(n + 500):
        for _ in range(sub):

            def f(s):
                return np.array([s[1], mu * (1 - s[0] ** 2) * s[1] - s[0]])

            k1 = f(z)
            k2 = f(z + 0.5 * h * k1)
            k3 = f(z + 0.5 * h * k2)
            k4 = f(z + h * k3)
            z = z + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        out[i] = z
    return out[500:]


def _torus(n: int, dt: float, rng: np.random.Generator) -> Array:
    t = dt * np.arange(n) + rng.random() * 100
    p1, p2 = 2 * np.pi * t, 2 * np.pi * np.sqrt(2) * t
    r = 2 + np.cos(p2)
    return np.column_stack([r * np.cos(p1), r * np.sin(p1), np.sin(p2)])


def _noisy_fixed_point(n: int, dt: float, rng: np.random.Generator) -> Array:
    """2-d linear SDE with a stable focus (Euler-Maruyama)."""
    a = np.array([[-0.2, -2.0], [2.0, -0.2]])
    z = np.zeros(2)
    out = np.empty((n, 2))
    sq = np.sqrt(dt)
    kicks = rng.standard_normal((n, 2))
    for i in range(n):
        z = z + dt * (a @ z) + sq * kicks[i]
        out[i] = z
    return out


def _ar1(n: int, rng: np.random.Generator, phi: float = 0.95) -> Array:
    from scipy import signal

    e = rng.standard_normal((n + 1000, 2))
    return signal.lfilter([1.0], [1.0, -phi], e, axis=0)[1000:]


def _pink(n: int, rng: np.random.Generator) -> Array:
    f = np.fft.rfftfreq(n)
    f[0] = f[1]
    spec = (rng.standard_normal((f.size, 2)) + 1j * rng.standard_normal((f.size, 2))) / np.sqrt(f)[
        :, None
    ]
    return np.fft.irfft(spec, n=n, axis=0)


def _noisy_oscillator(n: int, dt: float, rng: np.random.Generator) -> Array:
    """Stuart-Landau limit cycle (period 1) with dynamical noise, Euler-Maruyama."""
    sub = 10
    h = dt / sub
    w = 2 * np.pi
    z = 1.0 + 0j
    out = np.empty(n + 200, dtype=complex)
    k = (
        0.1
        * np.sqrt(h)
        * (rng.standard_normal((n + 200, sub)) + 1j * rng.standard_normal((n + 200, sub)))
    )
    for i in range(n + 200):
        for j in range(sub):
            z = z + h * ((1 + 1j * w) * z - abs(z) ** 2 * z) + k[i, j]
        out[i] = z
    return np.column_stack([out.real, out.imag])[200:]


#: Non-chaotic controls: name -> dt.
CONTROLS: dict[str, float] = {
    "van_der_pol": 0.05,
    "torus": 0.02,
    "noisy_fixed_point": 0.05,
    "ar1": 1.0,
    "pink_noise": 1.0,
    "noisy_oscillator": 0.02,
    "sine": 0.01,
}


def control_series(
    name: str, n_samples: int, *, seed: int = 0, noise: float = 0.05, view: str = "all"
) -> tuple[Array, float]:
    """A non-chaotic control series (see :data:`CONTROLS`) with observation noise, and its dt.

    Shapes and ``view`` as in :func:`simulate_system`.
    """
    rng = np.random.default_rng([seed, 41])
    dt = CONTROLS[name]
    if name == "van_der_pol":
        x = _van_der_pol(n_samples, dt, rng)
    elif name == "torus":
        x = _torus(n_samples, dt, rng)
    elif name == "noisy_fixed_point":
        x = _noisy_fixed_point(n_samples, dt, rng)
    elif name == "ar1":
        x = _ar1(n_samples, rng)
    elif name == "pink_noise":
        x = _pink(n_samples, rng)
    elif name == "noisy_oscillator":
        x = _noisy_oscillator(n_samples, dt, rng)
    elif name == "sine":
        t = dt * np.arange(n_samples) + rng.random()
        x = np.column_stack([np.sin(2 * np.pi * t), np.cos(2 * np.pi * t)])
    else:
        raise KeyError(name)
    x = x[:, :1] if view == "one" else x
    return _add_noise(x, noise, seed), dt
