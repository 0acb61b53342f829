"""Chaotic benchmark systems, simulated and returned as xarray.

Every simulator returns an ``xr.DataArray`` with dims ``("time", "dim")``: ``time`` in the
system's time units (``time.attrs["units"]``), ``dim`` the names of the state variables, and
attrs ``system``, ``dt``, ``params`` (JSON), ``seed``, ``noise``, ``transient``.

Observation noise (``noise``) is Gaussian with a standard deviation of ``noise`` times each
variable's own standard deviation (0.05 = 5 % noise), added after the integration: the dynamics
stay noise-free.

Reference values: Lorenz-63 (10, 28, 8/3) has Lyapunov spectrum (0.9056, 0, -14.5723) per unit
time; Rössler (0.2, 0.2, 5.7) has lambda_max = 0.0714.

Run as a script to write a series to disk::

    python -m neurodsr.dynamics.systems lorenz63 --n-steps 20000 --dt 0.01 --out lorenz.npy
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import xarray as xr
from numpy.typing import NDArray
from scipy.integrate import solve_ivp

__all__ = [
    "LORENZ63_SPECTRUM",
    "ROESSLER_LAMBDA_MAX",
    "SYSTEMS",
    "duffing",
    "lorenz63",
    "lorenz96",
    "mackey_glass",
    "roessler",
    "simulate",
]

#: Lyapunov spectrum of Lorenz-63 at (sigma, rho, beta) = (10, 28, 8/3), per unit time.
LORENZ63_SPECTRUM: tuple[float, float, float] = (0.9056, 0.0, -14.5723)
#: Largest Lyapunov exponent of Rössler at (a, b, c) = (0.2, 0.2, 5.7), per unit time.
ROESSLER_LAMBDA_MAX: float = 0.0714

Array = NDArray[np.float64]


def _integrate_ode(
    rhs: Callable[[float, Array], Array],
    x0: Array,
    n_steps: int,
    dt: float,
    transient: float,
) -> Array:
    """Integrate an ODE with scipy's DOP853 (rtol 1e-9) and sample every ``dt`` after the transient.

    Returns an array of shape (n_steps, len(x0)).
    """
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps}")
    if dt <= 0:
        raise ValueError(f"dt must be > 0, got {dt}")
    t_eval = transient + dt * np.arange(n_steps)
    sol = solve_ivp(
        rhs,
        (0.0, float(t_eval[-1])),
        np.asarray(x0, dtype=np.float64),
        method="DOP853",
        t_eval=t_eval,
        rtol=1e-9,
        atol=1e-9,
    )
    if not sol.success:  # pragma: no cover - scipy failure on these smooth systems is a bug
        raise RuntimeError(f"integration failed: {sol.message}")
    return sol.y.T


def _package(
    x: Array,
    *,
    system: str,
    dims: Sequence[str],
    dt: float,
    params: dict,
    seed: int,
    noise: float,
    transient: float,
    time_units: str = "time units",
) -> xr.DataArray:
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    if noise > 0:
        # Noise drawn from a generator separate from the initial-condition one, so that a
        # noisy and a clean series with the same seed share the same underlying orbit.
        x = x + noise * x.std(axis=0) * np.random.default_rng([seed, 1]).standard_normal(x.shape)
    return xr.DataArray(
        x,
        dims=("time", "dim"),
        coords={
            "time": ("time", dt * np.arange(x.shape[0]), {"units": time_units}),
            "dim": list(dims),
        },
        name=system,
        attrs={
            "system": system,
            "dt": dt,
            "params": json.dumps(params),
            "seed": seed,
            "noise": noise,
            "transient": transient,
        },
    )


def _initial_state(seed: int, center: Sequence[float], scale: float) -> Array:
    rng = np.random.default_rng(seed)
    return np.asarray(center, dtype=np.float64) + scale * rng.standard_normal(len(center))


def lorenz63(
    n_steps: int,
    dt: float = 0.01,
    *,
    sigma: float = 10.0,
    rho: float = 28.0,
    beta: float = 8.0 / 3.0,
    transient: float = 50.0,
    seed: int = 0,
    noise: float = 0.0,
) -> xr.DataArray:
    """Simulate Lorenz-63: dx = sigma (y - x), dy = x (rho - z) - y, dz = x y - beta z.

    Parameters
    ----------
    n_steps : int
        Number of samples returned.
    dt : float
        Sampling interval, in the system's time units.
    sigma, rho, beta : float
        System parameters (defaults: the classic chaotic regime).
    transient : float
        Time integrated and discarded before the first sample (time units).
    seed : int
        Seed of the random initial condition and of the observation noise.
    noise : float
        Observation-noise std as a fraction of each variable's std.

    Returns
    -------
    xr.DataArray, shape (n_steps, 3), dims (time, dim), dim = x, y, z.
    """

    def rhs(_t: float, s: Array) -> Array:
        x, y, z = s
        return np.array([sigma * (y - x), x * (rho - z) - y, x * y - beta * z])

    x = _integrate_ode(rhs, _initial_state(seed, [1.0, 1.0, 20.0], 1.0), n_steps, dt, transient)
    return _package(
        x,
        system="lorenz63",
        dims=("x", "y", "z"),
        dt=dt,
        params={"sigma": sigma, "rho": rho, "beta": beta},
        seed=seed,
        noise=noise,
        transient=transient,
    )


def roessler(
    n_steps: int,
    dt: float = 0.1,
    *,
    a: float = 0.2,
    b: float = 0.2,
    c: float = 5.7,
    transient: float = 500.0,
    seed: int = 0,
    noise: float = 0.0,
) -> xr.DataArray:
    """Simulate Rössler: dx = -y - z, dy = x + a y, dz = b + z (x - c).

    Parameters as :func:`lorenz63`; ``a, b, c`` are the system parameters.

    Returns
    -------
    xr.DataArray, shape (n_steps, 3), dims (time, dim), dim = x, y, z.
    """

    def rhs(_t: float, s: Array) -> Array:
        x, y, z = s
        return np.array([-y - z, x + a * y, b + z * (x - c)])

    x = _integrate_ode(rhs, _initial_state(seed, [1.0, 1.0, 0.0], 0.5), n_steps, dt, transient)
    return _package(
        x,
        system="roessler",
        dims=("x", "y", "z"),
        dt=dt,
        params={"a": a, "b": b, "c": c},
        seed=seed,
        noise=noise,
        transient=transient,
    )


def lorenz96(
    n_steps: int,
    dt: float = 0.05,
    *,
    n: int = 10,
    forcing: float = 8.0,
    transient: float = 100.0,
    seed: int = 0,
    noise: float = 0.0,
) -> xr.DataArray:
    """Simulate Lorenz-96 with ``n`` sites: dx_i = (x_{i+1} - x_{i-2}) x_{i-1} - x_i + F.

    Parameters
    ----------
    n : int
        Number of sites (>= 4).
    forcing : float
        The constant forcing F (8 gives chaos).

    Other parameters as :func:`lorenz63`.

    Returns
    -------
    xr.DataArray, shape (n_steps, n), dims (time, dim), dim = x0 .. x{n-1}.
    """
    if n < 4:
        raise ValueError(f"Lorenz-96 needs n >= 4 sites, got {n}")

    i = np.arange(n)
    ip1, im1, im2 = (i + 1) % n, (i - 1) % n, (i - 2) % n

    def rhs(_t: float, x: Array) -> Array:
        return (x[ip1] - x[im2]) * x[im1] - x + forcing

    x0 = forcing + 0.01 * np.random.default_rng(seed).standard_normal(n)
    x = _integrate_ode(rhs, x0, n_steps, dt, transient)
    return _package(
        x,
        system="lorenz96",
        dims=tuple(f"x{i}" for i in range(n)),
        dt=dt,
        params={"n": n, "forcing": forcing},
        seed=seed,
        noise=noise,
        transient=transient,
    )


def duffing(
    n_steps: int,
    dt: float = 0.05,
    *,
    alpha: float = -1.0,
    beta: float = 1.0,
    delta: float = 0.3,
    gamma: float = 0.5,
    omega: float = 1.2,
    transient: float = 200.0,
    seed: int = 0,
    noise: float = 0.0,
) -> xr.DataArray:
    """Simulate the forced Duffing oscillator.

    x'' + delta x' + alpha x + beta x^3 = gamma cos(omega t).

    The defaults (double well, gamma 0.5, omega 1.2) are chaotic. The forcing phase is returned
    as a third variable, so the series is autonomous in (x, dx/dt, cos(omega t)).

    Returns
    -------
    xr.DataArray, shape (n_steps, 3), dims (time, dim), dim = x, v, cos_phase.
    """

    def rhs(t: float, s: Array) -> Array:
        x, v = s
        return np.array([v, -delta * v - alpha * x - beta * x**3 + gamma * np.cos(omega * t)])

    x = _integrate_ode(rhs, _initial_state(seed, [1.0, 0.0], 0.1), n_steps, dt, transient)
    t = transient + dt * np.arange(n_steps)
    x = np.column_stack([x, np.cos(omega * t)])
    return _package(
        x,
        system="duffing",
        dims=("x", "v", "cos_phase"),
        dt=dt,
        params={"alpha": alpha, "beta": beta, "delta": delta, "gamma": gamma, "omega": omega},
        seed=seed,
        noise=noise,
        transient=transient,
    )


def mackey_glass(
    n_steps: int,
    dt: float = 1.0,
    *,
    beta: float = 0.2,
    gamma: float = 0.1,
    n: float = 10.0,
    delay: float = 17.0,
    substeps: int = 10,
    transient: float = 1000.0,
    seed: int = 0,
    noise: float = 0.0,
) -> xr.DataArray:
    """Simulate the Mackey–Glass delay equation.

    dx/dt = beta x(t - delay) / (1 + x(t - delay)^n) - gamma x.

    scipy has no solver for delay equations, so this integrates by hand with RK4 at a fixed
    internal step ``h = dt / substeps``; the delayed value at half steps is the mean of its two
    neighbours on the grid (the delay must be a multiple of ``h``).

    Parameters
    ----------
    delay : float
        The delay (17 gives a chaotic attractor of dimension ~2).
    substeps : int
        Internal RK4 steps per sample.

    Returns
    -------
    xr.DataArray, shape (n_steps, 1), dims (time, dim), dim = x.
    """
    h = dt / substeps
    lag = round(delay / h)
    if not np.isclose(lag * h, delay):
        raise ValueError(f"delay {delay} must be a multiple of dt/substeps = {h}")
    n_trans = round(transient / h)
    total = n_trans + n_steps * substeps
    rng = np.random.default_rng(seed)
    hist = np.empty(lag + total + 1)
    hist[: lag + 1] = 1.2 + 0.05 * rng.standard_normal(lag + 1)

    def f(x: float, xd: float) -> float:
        return beta * xd / (1.0 + xd**n) - gamma * x

    for i in range(lag, lag + total):
        x = hist[i]
        d0, d1 = hist[i - lag], hist[i - lag + 1]
        dm = 0.5 * (d0 + d1)
        k1 = f(x, d0)
        k2 = f(x + 0.5 * h * k1, dm)
        k3 = f(x + 0.5 * h * k2, dm)
        k4 = f(x + h * k3, d1)
        hist[i + 1] = x + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
    x = hist[lag + n_trans + substeps * np.arange(n_steps)][:, None]
    return _package(
        x,
        system="mackey_glass",
        dims=("x",),
        dt=dt,
        params={"beta": beta, "gamma": gamma, "n": n, "delay": delay},
        seed=seed,
        noise=noise,
        transient=transient,
    )


SYSTEMS: dict[str, Callable[..., xr.DataArray]] = {
    "lorenz63": lorenz63,
    "roessler": roessler,
    "lorenz96": lorenz96,
    "duffing": duffing,
    "mackey_glass": mackey_glass,
}


def simulate(system: str, n_steps: int, **kwargs: float) -> xr.DataArray:
    """Simulate one of :data:`SYSTEMS` by name; ``kwargs`` go to its function."""
    try:
        func = SYSTEMS[system]
    except KeyError:
        raise ValueError(f"unknown system {system!r}; choose one of {sorted(SYSTEMS)}") from None
    return func(n_steps, **kwargs)


def _main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Simulate a chaotic system and save it.")
    parser.add_argument("system", choices=sorted(SYSTEMS))
    parser.add_argument("--n-steps", type=int, required=True)
    parser.add_argument("--dt", type=float, default=None, help="sampling interval")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--noise", type=float, default=0.0, help="fraction of each var's std")
    parser.add_argument("--out", type=Path, required=True, help=".npy, .csv or .nc")
    args = parser.parse_args(argv)
    kw: dict = {"seed": args.seed, "noise": args.noise}
    if args.dt is not None:
        kw["dt"] = args.dt
    da = simulate(args.system, args.n_steps, **kw)
    from neurodsr.fileio import atomic_path, write_dataset
    from neurodsr.provenance import provenance_attrs

    if args.out.suffix == ".nc":
        ds = da.to_dataset(name="x")
        ds.attrs.update(provenance_attrs(**da.attrs))
        write_dataset(ds, args.out)
    else:
        with atomic_path(args.out) as tmp:
            if args.out.suffix == ".csv":
                np.savetxt(tmp, da.values, delimiter=",", header=",".join(da.dim.values))
            else:
                with open(tmp, "wb") as fh:
                    np.save(fh, da.values.astype(np.float32))
    print(f"wrote {args.out}: {args.system}, {da.shape[0]} steps x {da.shape[1]} dims")


if __name__ == "__main__":
    _main()
