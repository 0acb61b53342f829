"""Reconstruction quality of the automatic choice against the fixed GTF default and a tuned ESN.

One command, resumable: every (data set, method, repeat) row is appended to a jsonl file
(default ``benchmarks/quality.jsonl``) as soon as it is done, and rows already there
are skipped on a rerun; ``--table`` prints the median and IQR per set and method.

Data sets (all z-scored with the training part's statistics, the last 20 % held out):

- ``shared:<name>``: the arrays of ``../shared/data`` (read at run time, never copied; a set
  whose file is missing is skipped with a note),
- ``lorenz63_noisy``: Lorenz-63 (dt 0.01) with 5 % Gaussian observation noise, scored against
  the clean run of the same trajectory,
- ``lorenz96_12`` / ``lorenz96_20`` / ``lorenz96_40``: Lorenz-96 with N = 12 / 20 / 40 sites
  (F = 8, dt 0.05), read out directly,
- ``lorenz63_delay12`` / ``lorenz63_delay20``: delay embeddings above 8 dims, like the shared
  10-d EEG: the x coordinate of Lorenz-63 (dt 0.01) with 5 % Gaussian noise, embedded with
  :func:`neurodsr.preprocess.common.delay_embed` (12 dims, delay 10 steps / 20 dims, delay 5
  steps: the window spans about one turn around a wing), scored against the embedding of the
  clean x,
- ``rate64``: a stand-in for a multichannel recording: the 100-unit chaotic rate network of
  :mod:`neurodsr.dynamics.zoo` (``rate_net_100``: dx/dt = -x + g J tanh(x), g = 4, J Gaussian
  with variance 1/100, sampled every 0.25 time units; Sompolinsky et al. 1988), its rates
  tanh(x) read out through 64 random mixtures plus 5 % noise. Its lambda_max by QR on the
  equations (``zoo.reference_lambda("rate_net_100")``) is printed by ``--check-rate64``.
  (Until this change it was g = 2 with dt = 0.1, which an ESN predicted to D_stsp 3e-4:
  far too regular to be evidence.)

Methods (the first five: the whole pipeline's choices and a baseline; the last three: the
model sizes for many channels compared side by side, same forcing, budget and validation,
docs/RESULTS.md section 6):

- ``fixed``: today's fixed default (GTF alpha 0.1, shPLRNN, M = N, L = 50, identity
  observation, validated on the training part),
- ``auto``: :func:`neurodsr.api.train_fit` with nothing set but dt and the budget (since
  session 14 the forcing follows the data's verdict: the candidates on chaotic data, GTF 0.1
  elsewhere; before it, GTF 0.1 everywhere: those rows are labelled ``gtf`` in
  ``quality_forcing.jsonl``),
- ``gtf``: the same with ``forcing="gtf"`` (alpha 0.1, the sizing rule): the default before
  session 14,
- ``select``: ``train_fit(forcing="select", model="auto")``: the forcing candidates from
  lambda_max, all candidates x seeds as one ensemble with the whole budget, the winner chosen
  by validation, and the sizing rule,
- ``esn``: an echo state network (reservoirpy, a ``bench`` extra), ridge readout, spectral
  radius, leak, input scaling, ridge and reservoir size chosen by random search on the training
  part only (its last 20 % as validation, scored by the same validation score as neurodsr:
  sqrt(D_stsp x D_H) of a free run, runs that leave the range disqualified).
- ``size_identity``: the shPLRNN with M = N, L = 50, identity observation (the fixed
  default's size),
- ``size_affine``: the sizing rule before this change: clipped shPLRNN, affine observation,
  M = clip(ceil(N / 4), 8, 32), L = clip(T / 20, 128, 512),
- ``size_pca``: the shPLRNN on the leading k principal components (PCA observation,
  :mod:`neurodsr.training.projection`), M = k, L = clip(10 k, 64, 256).

  All three: GTF alpha 0.1, validation on the last 15 % of the training part, patience off
  (each trains its whole budget: equal wall-clock), the data's Lyapunov estimate computed
  once per set and passed to each (``lyapunov=``); within a repeat the three run one after
  the other, in the reverse order on odd repeats, so that load drifts hit them alike.

Scores on the held-out part (one definition each, the same code for every method):
D_stsp and D_H of a free run of the test part's length started from the first test state
(``dstsp``, ``dh``; the rows before session 11 have only these), the same run continued to
the pipeline's scored length and scored as the pipeline scores it
(:func:`neurodsr.metrics.evaluate.free_run_scores`: D_stsp of the 5x run, D_H of its spectrum
averaged over segments of the test part's length; ``dstsp_5x``, ``dh_5x``),
PE(20) (mean squared 20-step-ahead error from 500 test states), the valid prediction time
(median over 20 test states of the steps until the normalised RMSE exceeds 0.5, at most
500), the fraction of the free run outside the data's range, and training seconds.

    .venv/bin/python benchmarks/quality.py                       # full: 5 repeats, 15 min fits
    .venv/bin/python benchmarks/quality.py --repeats 3 --max-minutes 1 \\
        --sets lorenz63_noisy lorenz96_20 rate64 shared:eeg_delay_embedded_10d  # reduced
    .venv/bin/python benchmarks/quality.py --table               # the table of what is there
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neurodsr.api import train_fit
from neurodsr.dynamics.systems import lorenz63, lorenz96
from neurodsr.dynamics.zoo import SYSTEMS, reference_lambda, simulate_clean
from neurodsr.metrics.core import fraction_outside, power_spectrum_distance, state_space_divergence
from neurodsr.metrics.evaluate import free_run_scores, scored_length

HERE = Path(__file__).resolve().parent
# ../shared/data beside the repository (a git worktree one folder deeper: ../../shared/data);
# NEURODSR_SHARED_DATA overrides
SHARED = next(
    (
        p
        for p in (
            Path(os.environ.get("NEURODSR_SHARED_DATA", HERE.parent.parent / "shared" / "data")),
            HERE.parent.parent.parent / "shared" / "data",
        )
        if p.is_dir()
    ),
    HERE.parent.parent / "shared" / "data",
)
SHARED_DT = {  # the source's sampling steps (EEG / temperature: 1 step as the time unit)
    "lorenz63_dt0.01": 0.01,
    "roessler_dt0.1": 0.1,
    "duffing_forced": 0.01,
    "eeg_delay_embedded_10d": 1.0,
    "temperature_delay_embedded_5d": 1.0,
}
SETS = [
    "lorenz63_noisy",
    "lorenz63_delay12",
    "lorenz63_delay20",
    "lorenz96_12",
    "lorenz96_20",
    "lorenz96_40",
    "rate64",
    *(f"shared:{k}" for k in SHARED_DT),
]
METHODS = ("fixed", "auto", "gtf", "select", "esn", "size_identity", "size_affine", "size_pca")
SIZE_METHODS = ("size_identity", "size_affine", "size_pca")
N_PRED, VPT_THRESHOLD, VPT_HORIZON = 20, 0.5, 500


# --------------------------------------------------------------------------- data
DELAY_SETS = {"lorenz63_delay12": (12, 10), "lorenz63_delay20": (20, 5)}  # (dims, delay)
RATE_SYSTEM = "rate_net_100"  # g = 4, 100 units, dt = 0.25 (neurodsr.dynamics.zoo)


def rate_network(n_steps: int, *, n_obs: int = 64, seed: int = 0) -> tuple:
    """(noisy 64-channel observations, clean observations, dt): the zoo's 100-unit rate
    network (RK4 on the equations), rates tanh(x) mixed into ``n_obs`` channels by a Gaussian
    matrix (variance 1/100), plus 5 % noise per channel.

    A 100-unit network at g = 4 can have a long chaotic transient that ends on a fixed point
    (the zoo's initial states 0 and 1 collapse within 20 000 samples: the rates' spread falls
    from 0.87 to below 0.1), which would make the held-out part a different system. So the
    initial state is the first from ``seed`` on whose rates keep their spread in every fifth of
    the run (each fifth's mean std within 10 % of the first fifth's); the mixing matrix and the
    noise depend on ``seed`` only."""
    for init in range(seed, seed + 20):
        x = simulate_clean(RATE_SYSTEM, n_steps, seed=init)
        spread = [float(np.tanh(p).std(0).mean()) for p in np.array_split(x, 5)]
        if min(spread) > 0.9 * spread[0]:
            break
    else:  # pragma: no cover - never seen
        raise RuntimeError(f"{RATE_SYSTEM}: no initial state stayed chaotic for {n_steps} steps")
    rng = np.random.default_rng([seed, 64])
    mix = rng.standard_normal((x.shape[1], n_obs)) / math.sqrt(x.shape[1])
    clean = np.tanh(x) @ mix
    noisy = clean + 0.05 * clean.std(0) * rng.standard_normal(clean.shape)
    return noisy, clean, SYSTEMS[RATE_SYSTEM].dt


def load_set(name: str, n: int) -> tuple[np.ndarray, np.ndarray, float] | None:
    """(series, clean series to score against, dt) or None when a shared file is missing."""
    if name == "lorenz63_noisy":
        clean = lorenz63(n, dt=0.01, seed=1).values
        rng = np.random.default_rng(1)
        return clean + 0.05 * clean.std(0) * rng.standard_normal(clean.shape), clean, 0.01
    if name in DELAY_SETS:
        from neurodsr.preprocess.common import delay_embed

        dim, delay = DELAY_SETS[name]
        clean = lorenz63(n + (dim - 1) * delay, dt=0.01, seed=1).values[:, :1]
        noisy = clean + 0.05 * clean.std(0) * np.random.default_rng(1).standard_normal(clean.shape)
        return delay_embed(noisy, delay, dim), delay_embed(clean, delay, dim), 0.01
    if name.startswith("lorenz96_"):
        x = lorenz96(n, dt=0.05, n=int(name.split("_")[1]), seed=1).values
        return x, x, 0.05
    if name == "rate64":
        return rate_network(n)
    if name.startswith("shared:"):
        key = name.split(":", 1)[1]
        path = SHARED / f"{key}.npy"
        if not path.exists():
            return None
        x = np.load(path, allow_pickle=False).astype(np.float64)
        x = x[:, None] if x.ndim == 1 else x
        x = x[: max(n, 10_000)] if len(x) > 2 * n else x
        return x, x, SHARED_DT[key]
    raise SystemExit(f"unknown set {name!r}; choose from {SETS}")


# --------------------------------------------------------------------------- scoring
def score(
    free: np.ndarray,
    predict: Callable[[np.ndarray, int], np.ndarray],
    test: np.ndarray,
    ref: np.ndarray,
) -> dict[str, float]:
    """The held-out scores of one model (normalised units throughout).

    free : (T, N) free run from the first test state; predict(states (S, N), k) -> (k, S, N)
    predictions of steps 1..k from those states; test: the (noisy) test part the states come
    from; ref: the (clean) test part the scores are against."""
    out: dict[str, float] = {}
    finite = np.isfinite(free).all()
    out["dstsp"] = float(state_space_divergence(ref, free)) if finite else math.inf
    out["dh"] = float(power_spectrum_distance(ref, free)) if finite else 1.0
    out["outside"] = float(fraction_outside(ref, free))
    starts = np.unique(np.linspace(0, len(test) - N_PRED - 1, 500).astype(int))
    pred = predict(test[starts], N_PRED)
    out["pe20"] = float(np.mean((pred[-1] - ref[starts + N_PRED]) ** 2))
    horizon = min(VPT_HORIZON, len(test) - 1)
    vstarts = np.linspace(0, len(test) - horizon - 1, 20).astype(int)
    traj = predict(test[vstarts], horizon)  # (H, S, N)
    truth = np.stack([ref[s + 1 : s + 1 + horizon] for s in vstarts], axis=1)
    nrmse = np.sqrt(np.mean((traj - truth) ** 2, axis=2))  # ref is z-scored: std 1
    with np.errstate(invalid="ignore"):
        bad = ~(nrmse <= VPT_THRESHOLD)
    steps = np.where(bad.any(0), bad.argmax(0), horizon)
    out["vpt"] = float(np.median(steps))
    return out


def validation_score(free: np.ndarray, ref: np.ndarray) -> float:
    if not np.isfinite(free).all() or fraction_outside(ref, free, margin=0.5) > 0.05:
        return math.inf
    d = state_space_divergence(ref, free)
    return math.sqrt(max(d, 1e-3) * max(power_spectrum_distance(ref, free), 1e-6))


# --------------------------------------------------------------------------- methods
def run_neurodsr(method: str, x: np.ndarray, dt: float, n_train: int, args, seed: int):
    opts: dict[str, Any] = dict(
        seeds=args.ensemble,
        seed=seed,
        n_train=n_train,
        max_minutes=args.max_minutes,
        progress=False,
        threads=1,
    )
    if method in SIZE_METHODS:
        from neurodsr.training.sizing import size_model

        size = size_model(
            x.shape[1],
            round(0.85 * n_train),
            observation={"size_affine": "affine", "size_pca": "pca"}.get(method, "identity"),
            variance=_variance(x, n_train),
        )
        if method == "size_identity":
            size.model, size.latent, size.hidden = "shplrnn", x.shape[1], 50
            size.observation = "identity"
        opts.update(
            forcing="gtf",
            alpha=0.1,
            tau=None,
            model=size.model,
            latent=None if method == "size_pca" else size.latent,
            hidden=size.hidden,
            observation=size.observation,
            patience=None,
            epochs=100_000,
            lyapunov=args.lyapunov.get(args.current_set),
        )
    if method == "select":  # the candidate grid (one ensemble) and the sizing rule
        opts.update(forcing="select", model="auto")
    if method == "gtf":  # GTF 0.1 and the sizing rule: the default before session 14
        opts.update(forcing="gtf", model="auto")
    if method == "fixed":  # today's default before issue 12
        opts.update(
            forcing="gtf",
            alpha=0.1,
            model="shplrnn",
            latent=x.shape[1],
            hidden=50,
            observation="identity",
            val_fraction=0.0,
            patience=None,
            epochs=1000,
        )
    t0 = time.perf_counter()
    fit = train_fit(x, dt, **opts)
    seconds = time.perf_counter() - t0
    net, best = fit.model, fit.best

    @torch.no_grad()
    def predict(states: np.ndarray, k: int) -> np.ndarray:
        xs = torch.as_tensor(states, dtype=torch.float32)
        z = net.init_state(xs.unsqueeze(0).expand(net.n_models, -1, -1).contiguous())
        out = []
        for _ in range(k):
            z = net.step(z)
            out.append(net.readout(z)[best].double().numpy())
        return np.stack(out)

    proj = fit.summary.model.get("projection") or {}
    ly = fit.lyapunov or args.lyapunov.get(args.current_set)
    info = {
        "observation": fit.summary.model.get("observation"),
        "components": proj.get("n_components"),
        "residual_train": proj.get("residual_variance"),
        "lyapunov_verdict": ly.verdict if ly else None,
        "lambda_max_data": ly.lambda_max if ly else None,
        "candidate": _candidate(fit.summary),
        "forcing": fit.summary.forcing,
        "tau": fit.summary.tau,
        "alpha": fit.summary.alpha,
        "model": fit.summary.model.get("name"),
        "latent": fit.summary.model.get("latent_dim"),
        "hidden": fit.summary.model.get("hidden_dim"),
        "epochs": fit.summary.epochs_run,
        "stopped": fit.summary.stopped,
        # seeds whose kept state left the data's range in the range check (never chosen)
        "range_failed": sum(1 for w in fit.summary.range_check.get("why", []) if w),
        "sizes": fit.summary.sizes,
    }
    return predict, seconds, info


def _variance(x: np.ndarray, n_train: int) -> np.ndarray:
    """Explained-variance ratios of the z-scored fitting part (what train_fit computes)."""
    from neurodsr.training.projection import explained_variance

    part = x[: round(0.85 * n_train)]
    sd = part.std(0)
    return explained_variance((part - part.mean(0)) / np.where(sd > 0, sd, 1.0))


def _candidate(summary: Any) -> str:
    """The forcing the fit trained with, in one word (the candidate chosen under select)."""
    if summary.forcing == "gtf":
        return f"gtf alpha={summary.alpha}"
    if summary.forcing == "stf":
        return f"stf tau={summary.tau}"
    return str(summary.forcing)


class ESN:
    """An echo state network: reservoir and ridge readout built and fitted by reservoirpy
    (``Reservoir``, ``Ridge``); the closed-loop runs from many starts at once are a batched
    version of reservoirpy's own update, x <- (1 - lr) x + lr tanh(W x + Win u + bias), with
    its matrices (reservoirpy steps one series at a time, which is 500x slower here)."""

    def __init__(self, p: dict[str, float], seed: int, train: np.ndarray) -> None:
        from reservoirpy.nodes import Reservoir, Ridge

        rng = np.random.default_rng(seed + 1)
        self.res = Reservoir(
            int(p["units"]),
            sr=p["sr"],
            lr=p["leak"],
            input_scaling=p["input_scaling"],
            seed=seed,
        )
        self.ro = Ridge(ridge=p["ridge"])
        u = train[:-1] + p["noise"] * rng.standard_normal(train[:-1].shape)  # input noise
        states = self.res.run(u)
        self.ro.fit(states[WARM:], train[1:][WARM:])
        self.lr = float(p["leak"])

    def _step(self, s: np.ndarray, u: np.ndarray) -> np.ndarray:
        pre = (self.res.W @ s.T).T + (self.res.Win @ u.T).T + np.ravel(self.res.bias)
        return (1 - self.lr) * s + self.lr * np.tanh(pre)

    def _out(self, s: np.ndarray) -> np.ndarray:
        return s @ self.ro.Wout + np.ravel(self.ro.bias)

    def predict(self, series: np.ndarray, starts: np.ndarray, k: int) -> np.ndarray:
        """(k, S, N): steps 1..k after each start, the reservoir driven by the WARM observed
        steps up to the start, then closed-loop."""
        s = np.zeros((len(starts), self.res.output_dim))
        for lag in range(WARM, -1, -1):
            idx = np.clip(starts - lag, 0, None)
            s = self._step(s, series[idx])
        out = np.empty((k, len(starts), series.shape[1]))
        for t in range(k):
            y = self._out(s)
            y = np.where(np.abs(y) > 1e3, np.nan, y)
            out[t] = y
            s = self._step(s, np.nan_to_num(y, nan=0.0))
        return out


WARM = 200


def run_esn(x_train: np.ndarray, args, seed: int):
    """A reservoirpy ESN, tuned by random search on the training part only (its last 20 %
    validates a free run by the validation score of neurodsr)."""
    rng = np.random.default_rng(seed)
    n_val = len(x_train) // 5
    fit_part, val_part = x_train[:-n_val], x_train[-n_val:]
    t0 = time.perf_counter()
    best_p, best_s = None, math.inf
    deadline = t0 + 60 * args.esn_minutes
    trials = 0
    both = np.concatenate([fit_part, val_part])
    while trials < 4 or (time.perf_counter() < deadline and trials < args.esn_trials):
        p = {
            "units": float(rng.choice([300, 500, 1000])),
            "sr": float(rng.uniform(0.5, 1.3)),
            "leak": float(10 ** rng.uniform(-1.3, 0)),
            "input_scaling": float(10 ** rng.uniform(-1, 0.3)),
            "noise": float(10 ** rng.uniform(-4, -1.5)),
            "ridge": float(10 ** rng.uniform(-8, -3)),
        }
        esn = ESN(p, seed, fit_part)
        free = esn.predict(both, np.array([len(fit_part) - 1]), min(len(val_part), 3000))[:, 0]
        s = validation_score(free, val_part)
        trials += 1
        if s < best_s or best_p is None:
            best_p, best_s = p, s
    esn = ESN(best_p, seed, x_train)
    return esn, time.perf_counter() - t0, {"params": best_p, "val_score": best_s, "trials": trials}


# --------------------------------------------------------------------------- main
def split_normalised(
    x: np.ndarray, clean: np.ndarray
) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """The benchmark's split and units: the first 80 % trains, the rest is the test part;
    both series z-scored by the training part's mean and std per dim (train_fit's
    normalisation, so scores are in the model's units). Returns (n_train, xn, test, ref):
    the normalised series (time, N), its test part and the clean series' test part."""
    n_train = round(0.8 * len(x))
    mu, sd = x[:n_train].mean(0), x[:n_train].std(0)
    sd = np.where(sd > 0, sd, 1.0)
    xn = (x - mu) / sd
    return n_train, xn, xn[n_train:], ((clean - mu) / sd)[n_train:]


def run_one(set_name: str, method: str, repeat: int, args) -> dict[str, Any] | None:
    data = load_set(set_name, args.n)
    if data is None:
        print(f"skip {set_name}: {SHARED} has no such file")
        return None
    x, clean, dt = data
    n_train, xn, test, ref = split_normalised(x, clean)
    seed = 1000 * repeat
    if method == "esn":
        esn, seconds, info = run_esn(xn[:n_train], args, seed)

        def predict(states: np.ndarray, k: int) -> np.ndarray:
            # states are rows of the test part: find them to warm the reservoir before each
            starts = np.array(
                [n_train + int(np.flatnonzero((test == st).all(1))[0]) for st in states]
            )
            return esn.predict(xn, starts, k)
    else:
        args.current_set = set_name
        if method in SIZE_METHODS and set_name not in args.lyapunov:
            args.lyapunov[set_name] = _lyapunov(x[:n_train], dt)
        predict, seconds, info = run_neurodsr(method, x, dt, n_train, args, seed)
        if info.get("components"):
            info["residual_test"] = _pca_residual_test(x, n_train, info["components"])
    # one free run from the first test state, as long as the pipeline scores
    # (scored_length: 5x the test part, at most 10^5 steps); its first len(test) steps are
    # the 1x run the columns dstsp / dh have always been computed on
    free_long = predict(test[:1], scored_length(len(test)))[:, 0]
    free = free_long[: len(test)]
    pipeline = free_run_scores(ref, free_long)
    row = {
        "set": set_name,
        "method": method,
        "repeat": repeat,
        "seconds": seconds,
        "budget_min": args.max_minutes,
        "ensemble": None if method == "esn" else args.ensemble,  # seeds per fit (per candidate)
        **score(free, predict, test, ref),
        # the pipeline's definitions (neurodsr.metrics.evaluate.free_run_scores): D_stsp of
        # the 5x run, D_H of its spectrum averaged over segments of the test part's length
        "dstsp_5x": float(pipeline["D_stsp"]),
        "dh_5x": float(pipeline["D_H"]) if math.isfinite(pipeline["D_H"]) else 1.0,
        **info,
    }
    return row


def _lyapunov(x_train: np.ndarray, dt: float):
    """The data's Lyapunov summary on the training part, once per set (as ``neurodsr fit``
    estimates it)."""
    from neurodsr.api import choose_tau

    mu, sd = x_train.mean(0), x_train.std(0)
    return choose_tau("auto", (x_train - mu) / np.where(sd > 0, sd, 1.0), dt).lyapunov


def _pca_residual_test(x: np.ndarray, n_train: int, k: int) -> float:
    """Share of the held-out part's variance outside the k components of the fitting part."""
    from neurodsr.training.projection import fit_pca

    part = x[: round(0.85 * n_train)]
    mu, sd = x[:n_train].mean(0), x[:n_train].std(0)
    sd = np.where(sd > 0, sd, 1.0)
    proj = fit_pca((part - mu) / sd, k)
    return proj.residual((x[n_train:] - mu) / sd)


def check_rate64(n: int) -> None:
    """Print the rate network's lambda_max by QR on its equations and the stand-in's PCA."""
    lam, per = reference_lambda(RATE_SYSTEM, n_samples=n, n_orbits=4)
    dt = SYSTEMS[RATE_SYSTEM].dt
    print(
        f"{RATE_SYSTEM}: lambda_max = {lam[0]:.4f} per time unit "
        f"(orbits {np.round(per[:, 0], 4).tolist()}), {lam[0] * dt:.4f} per sample (dt {dt})"
    )
    noisy, _, _ = rate_network(n)
    from neurodsr.training.projection import explained_variance, n_components

    ev = explained_variance((noisy - noisy.mean(0)) / noisy.std(0))
    print(
        f"rate64: PCA k = {n_components(ev, n)} (90 % rule); cumulative variance of the first "
        f"10 components {np.round(np.cumsum(ev[:10]), 3).tolist()}"
    )


def table(path: Path) -> str:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    keys = ("dstsp", "dh", "dstsp_5x", "dh_5x", "pe20", "vpt", "outside", "seconds", "epochs")
    lines = [
        "| set | method | n | " + " | ".join(f"{k} median [IQR]" for k in keys) + " |",
        "|---|---|---|" + "---|" * len(keys),
    ]
    # rows with a --ensemble other than the default are their own group ("select x1": one
    # seed per candidate); rows before session 14 carry no ensemble (the default, 3)
    groups = dict.fromkeys(
        (m, r.get("ensemble") or 3) for m in METHODS for r in rows if r["method"] == m
    )
    for s in dict.fromkeys(r["set"] for r in rows):
        for m, k_ens in groups:
            sel = [
                r
                for r in rows
                if r["set"] == s and r["method"] == m and (r.get("ensemble") or 3) == k_ens
            ]
            if not sel:
                continue
            label = m if k_ens == 3 or m == "esn" else f"{m} x{k_ens}"
            cells = []
            for k in keys:
                v = np.array([r.get(k) for r in sel], dtype=float)
                v = v[~np.isnan(v)]  # ESN rows: no epochs; rows before session 11: no *_5x
                if not len(v):
                    cells.append("-")
                    continue
                # inf (a diverged run) would turn the interpolated quartiles into nan
                how = "nearest" if np.isinf(v).any() else "linear"
                q1, med, q3 = np.percentile(v, [25, 50, 75], method=how)
                cells.append(
                    f"{med:.3g} [{q1:.3g}, {q3:.3g}]"
                    + ("" if len(v) == len(sel) else f" (n = {len(v)})")
                )
            lines.append(f"| {s} | {label} | {len(sel)} | " + " | ".join(cells) + " |")
    chosen = [
        f"{r['set']} {r['method']} #{r['repeat']}: {r.get('model')} M = {r.get('latent')}, "
        f"L = {r.get('hidden')}, {r.get('observation')}"
        + (
            f" (k = {r['components']}, residual {r['residual_test']:.3f})"
            if r.get("components")
            else ""
        )
        + f", {r.get('candidate')}, Lyapunov verdict {r.get('lyapunov_verdict')}"
        for r in rows
        if r["method"] != "esn"
    ]
    if chosen:
        lines += ["", "Per row: the model, its observation and the forcing it trained with:", ""]
        lines += [f"- {c}" for c in chosen]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sets", nargs="+", default=SETS)
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    p.add_argument("--repeats", type=int, default=5, help="independent fits per set and method")
    p.add_argument("--ensemble", type=int, default=3, help="seeds per neurodsr fit")
    p.add_argument("--max-minutes", type=float, default=15.0, help="neurodsr budget per fit")
    p.add_argument("--esn-minutes", type=float, default=12.0, help="ESN random-search budget")
    p.add_argument("--esn-trials", type=int, default=60)
    p.add_argument("--n", type=int, default=20_000, help="samples of the simulated sets")
    p.add_argument("--out", type=Path, default=HERE / "quality.jsonl")
    p.add_argument("--table", action="store_true", help="print the table of --out and exit")
    p.add_argument(
        "--check-rate64", action="store_true", help="print rate64's lambda_max (QR) and exit"
    )
    args = p.parse_args()
    if args.table:
        print(table(args.out))
        return
    if args.check_rate64:
        check_rate64(args.n)
        return
    args.lyapunov = {}
    torch.set_num_threads(1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    done = set()
    if args.out.exists():
        for line in args.out.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                done.add((r["set"], r["method"], r["repeat"]))
    for repeat in range(args.repeats):
        for s in args.sets:
            # the order flips on odd repeats, so that a drift in load hits every method alike
            for m in args.methods if repeat % 2 == 0 else args.methods[::-1]:
                if (s, m, repeat) in done:
                    continue
                row = run_one(s, m, repeat, args)
                if row is None:
                    break
                with args.out.open("a") as f:
                    f.write(json.dumps(row, default=float) + "\n")
                print(json.dumps(row, default=float), flush=True)
    print(table(args.out))


if __name__ == "__main__":
    main()
