"""Demo sessions: chaotic dynamics behind three kinds of lab recordings, in real file formats.

Each generator simulates a chaotic system, maps it to what a lab would record and writes it
with the format's own library, so that the pipeline reads it like any lab's data:

- :func:`write_spikes_demo`: a population of Poisson-spiking units whose rates follow
  Lorenz-63 through a random positive (log-linear) readout, written with neo's ``NixIO``.
- :func:`write_lfp_demo`: multi-channel LFP of a Rössler system (random mixing, 1/f-like noise
  and 50 Hz line noise), written as BrainVision with ``mne.export.export_raw``.
- :func:`write_calcium_demo`: GCaMP-like fluorescence of ROIs (Lorenz-63 rates convolved with a
  rise/decay kernel, shot noise and neuropil contamination) as a suite2p plane folder.

Every function is pure apart from the files it writes, seeded, and returns the path the
pipeline reads (and the ground truth it came from, for tests).

>>> from neurodsr.demo import write_demo
>>> paths = write_demo("resources/demo")          # doctest: +SKIP
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from neurodsr.dynamics.systems import lorenz63, roessler

__all__ = [
    "DEMO_KINDS",
    "DemoSession",
    "write_calcium_demo",
    "write_demo",
    "write_lfp_demo",
    "write_spikes_demo",
]

log = logging.getLogger(__name__)

#: The demo sessions: name -> (what it is, the path the pipeline reads, relative to the folder).
DEMO_KINDS: dict[str, tuple[str, str]] = {
    "spikes": ("240 Poisson units driven by Lorenz-63, neo NixIO", "spikes.nix"),
    "lfp": ("16-channel LFP of a Rössler system with 50 Hz line noise, BrainVision", "lfp.vhdr"),
    "calcium": ("45 GCaMP-like ROIs driven by Lorenz-63, suite2p folder", "calcium/suite2p"),
}


@dataclass
class DemoSession:
    """What a generator wrote.

    Attributes
    ----------
    path : Path
        The file or folder the pipeline ingests.
    files : list of Path
        Every file written.
    truth : array (time, dims)
        The chaotic system's states behind the recording (z-scored), at ``truth_dt``.
    truth_dt : float
        Sampling interval of ``truth``, s.
    info : dict
        The generator's parameters (JSON-able).
    """

    path: Path
    files: list[Path]
    truth: NDArray[np.float64]
    truth_dt: float
    info: dict[str, Any] = field(default_factory=dict)


def _zscore(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return (x - x.mean(0)) / x.std(0)


def _whiten(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """Decorrelate and scale ``x`` (time, dims) to unit covariance (PCA whitening).

    Lorenz-63's x and y are strongly correlated; whitening gives every direction of the
    attractor the same weight in a random readout, so none drowns in Poisson noise.
    """
    xc = x - x.mean(0)
    evals, evecs = np.linalg.eigh(np.cov(xc, rowvar=False))
    return xc @ evecs / np.sqrt(evals)


def _chaotic_states(
    system: str, duration_s: float, dt_s: float, seconds_per_unit: float, seed: int
) -> NDArray[np.float64]:
    """z-scored states (time, 3) of ``system`` over ``duration_s`` seconds at ``dt_s``.

    ``seconds_per_unit`` maps the system's time unit onto seconds (Lorenz-63's mean period is
    about 0.75 units, Rössler's about 6).
    """
    n = round(duration_s / dt_s)
    sim = {"lorenz63": lorenz63, "roessler": roessler}[system]
    return _zscore(sim(n, dt=dt_s / seconds_per_unit, seed=seed).values)


def _check_positive(**values: float) -> None:
    for name, value in values.items():
        if not value > 0:
            raise ValueError(f"{name} must be > 0, got {value}")


def write_spikes_demo(
    out: str | os.PathLike[str],
    *,
    duration_s: float = 300.0,
    n_units: int = 240,
    seconds_per_unit: float = 1.0,
    mean_rate_hz: tuple[float, float] = (30.0, 90.0),
    gain: float = 0.5,
    seed: int = 0,
) -> DemoSession:
    """Poisson spike trains of a population driven by Lorenz-63, written with neo's NixIO.

    Each unit's rate is r_i(t) = r0_i exp(gain w_i . z(t) - gain^2 / 2), with z(t) the
    z-scored Lorenz-63 state, w_i a random unit vector and r0_i uniform in ``mean_rate_hz``
    (a random positive readout). Spikes are drawn per 1 ms bin (inhomogeneous Poisson) and
    jittered uniformly within the bin.

    Parameters
    ----------
    out : path
        The ``.nix`` file to write (overwritten).
    duration_s : float
        Recording length, s.
    n_units : int
        Number of units. Poisson noise hides the dynamics from the Lyapunov estimate unless
        the population is large and fast: at 240 units of 30-90 Hz smoothed with 60 ms
        kernels lambda_max is found, at 100 units of 20-60 Hz it is not.
    seconds_per_unit : float
        Seconds per Lorenz time unit (1: a mean period of ~0.75 s, lambda_max ~0.9 / s).
    mean_rate_hz : (float, float)
        Range of the units' baseline rates, Hz.
    gain : float
        Log-rate modulation per standard deviation of the drive.
    seed : int

    Returns
    -------
    DemoSession
    """
    import neo
    import quantities as pq
    from neo.io import NixIO

    _check_positive(duration_s=duration_s, seconds_per_unit=seconds_per_unit)
    if n_units < 1:
        raise ValueError(f"n_units must be >= 1, got {n_units}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 11])
    dt_sim = 0.005
    z = _whiten(_chaotic_states("lorenz63", duration_s, dt_sim, seconds_per_unit, seed))
    w = rng.standard_normal((n_units, 3))
    w /= np.linalg.norm(w, axis=1, keepdims=True)
    r0 = rng.uniform(*mean_rate_hz, size=n_units)
    bin_s = 0.001
    t_fine = np.arange(round(duration_s / bin_s)) * bin_s
    t_sim = np.arange(len(z)) * dt_sim
    drive = np.stack([np.interp(t_fine, t_sim, z[:, k]) for k in range(3)], axis=1)
    block = neo.Block(name="demo_spikes", description="Lorenz-63 driven Poisson population")
    seg = neo.Segment(name="session")
    block.segments.append(seg)
    n_spikes = 0
    for i in range(n_units):
        rate = r0[i] * np.exp(gain * drive @ w[i] - gain**2 / 2)
        counts = rng.poisson(rate * bin_s)
        idx = np.repeat(np.flatnonzero(counts), counts[counts > 0])
        times = np.sort(t_fine[idx] + rng.uniform(0, bin_s, idx.size))
        n_spikes += times.size
        seg.spiketrains.append(
            neo.SpikeTrain(
                times * pq.s,
                t_start=0.0 * pq.s,
                t_stop=duration_s * pq.s,
                name=f"unit{i:02d}",
            )
        )
    if out.exists():
        out.unlink()
    with NixIO(str(out), mode="ow") as io:
        io.write_block(block)
    info = {
        "kind": "spikes",
        "system": "lorenz63",
        "duration_s": duration_s,
        "n_units": n_units,
        "seconds_per_unit": seconds_per_unit,
        "gain": gain,
        "seed": seed,
        "n_spikes": int(n_spikes),
        "lambda_max_per_s": 0.9056 / seconds_per_unit,
    }
    log.info("wrote %s: %d units, %d spikes over %g s", out, n_units, n_spikes, duration_s)
    return DemoSession(out, [out], z, dt_sim, info)


def _pink_noise(rng: np.random.Generator, n: int, n_ch: int) -> NDArray[np.float64]:
    """Unit-variance noise with a 1/f power spectrum, (n, n_ch)."""
    spec = rng.standard_normal((n // 2 + 1, n_ch)) + 1j * rng.standard_normal((n // 2 + 1, n_ch))
    f = np.arange(n // 2 + 1, dtype=np.float64)
    f[0] = 1.0
    x = np.fft.irfft(spec / np.sqrt(f)[:, None], n=n, axis=0)
    return x / x.std(0)


def write_lfp_demo(
    out: str | os.PathLike[str],
    *,
    duration_s: float = 120.0,
    n_channels: int = 16,
    sfreq: float = 250.0,
    seconds_per_unit: float = 0.05,
    amplitude_uv: float = 80.0,
    noise: float = 0.05,
    line_uv: float = 25.0,
    line_freq: float = 50.0,
    seed: int = 1,
) -> DemoSession:
    """Multi-channel LFP of a Rössler system, written as BrainVision with MNE's exporter.

    Channel c records amplitude_uv * (m_c . z(t)) with z the z-scored Rössler state and m_c a
    random mixing vector, plus 1/f noise (``noise`` times the signal's std) and a 50 Hz line
    component with a channel-specific amplitude and phase.

    Parameters
    ----------
    out : path
        The ``.vhdr`` header to write (``.eeg`` and ``.vmrk`` beside it).
    duration_s : float
        Recording length, s.
    n_channels : int
    sfreq : float
        Sampling rate, Hz.
    seconds_per_unit : float
        Seconds per Rössler time unit (0.05: a ~0.3 s period, ~3 Hz).
    amplitude_uv : float
        Scale of the dynamics, microvolts.
    noise : float
        Std of the 1/f noise relative to the dynamics.
    line_uv : float
        Amplitude of the line noise, microvolts.
    line_freq : float
        Mains frequency, Hz.
    seed : int

    Returns
    -------
    DemoSession
    """
    import mne

    _check_positive(duration_s=duration_s, sfreq=sfreq, seconds_per_unit=seconds_per_unit)
    out = Path(out)
    if out.suffix.lower() != ".vhdr":
        raise ValueError(f"the LFP demo is BrainVision: out must end in .vhdr, got {out}")
    out.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 12])
    z = _chaotic_states("roessler", duration_s, 1.0 / sfreq, seconds_per_unit, seed)
    n = len(z)
    mix = rng.standard_normal((n_channels, 3))
    clean = z @ mix.T
    clean /= clean.std(0)
    t = np.arange(n) / sfreq
    line = (
        line_uv
        * rng.uniform(0.5, 1.5, n_channels)
        * np.sin(2 * np.pi * line_freq * t[:, None] + rng.uniform(0, 2 * np.pi, n_channels))
    )
    data_uv = amplitude_uv * (clean + noise * _pink_noise(rng, n, n_channels)) + line
    names = [f"LFP{c + 1:02d}" for c in range(n_channels)]
    info = mne.create_info(names, sfreq, ch_types="eeg")
    raw = mne.io.RawArray(data_uv.T * 1e-6, info, verbose="error")
    raw.set_meas_date(_dt.datetime(2024, 1, 1, 12, tzinfo=_dt.UTC))
    mne.export.export_raw(out, raw, fmt="brainvision", overwrite=True, verbose="error")
    files = [out, out.with_suffix(".eeg"), out.with_suffix(".vmrk")]
    meta = {
        "kind": "lfp",
        "system": "roessler",
        "duration_s": duration_s,
        "n_channels": n_channels,
        "sfreq": sfreq,
        "seconds_per_unit": seconds_per_unit,
        "noise": noise,
        "line_uv": line_uv,
        "line_freq": line_freq,
        "seed": seed,
        "lambda_max_per_s": 0.0714 / seconds_per_unit,
    }
    log.info("wrote %s: %d channels at %g Hz over %g s", out, n_channels, sfreq, duration_s)
    return DemoSession(out, files, z, 1.0 / sfreq, meta)


def gcamp_kernel(fs: float, rise_s: float = 0.05, decay_s: float = 0.5) -> NDArray[np.float64]:
    """Difference-of-exponentials calcium kernel sampled at ``fs`` Hz, peak 1, (n_taps,)."""
    _check_positive(fs=fs, rise_s=rise_s, decay_s=decay_s)
    t = np.arange(int(np.ceil(6 * decay_s * fs))) / fs
    k = np.exp(-t / decay_s) - np.exp(-t / rise_s)
    return k / k.max()


def write_calcium_demo(
    out: str | os.PathLike[str],
    *,
    duration_s: float = 600.0,
    n_rois: int = 45,
    n_not_cells: int = 5,
    fs: float = 30.0,
    seconds_per_unit: float = 2.0,
    decay_s: float = 0.5,
    gain: float = 0.8,
    noise: float = 0.03,
    neuropil_coef: float = 0.7,
    seed: int = 2,
) -> DemoSession:
    """Calcium traces of ROIs driven by Lorenz-63, written as a suite2p plane folder.

    Each cell's rate r_i = exp(gain w_i . z(t)) (z-scored Lorenz-63, random unit w_i) is
    convolved with a GCaMP-like kernel (rise 50 ms, decay ``decay_s``) into the calcium
    signal c_i. Raw fluorescence is F_i = F0_i (1 + 0.5 c_i / mean(c_i)) + neuropil_coef *
    Fneu_i + shot noise, with Fneu a slow drifting background shared across ROIs. The last
    ``n_not_cells`` ROIs are background patches (no calcium signal, iscell = 0).

    Parameters
    ----------
    out : path
        The suite2p folder to write (``<out>/plane0/F.npy``, ``Fneu.npy``, ``iscell.npy``,
        ``ops.npy``).
    duration_s : float
        Recording length, s.
    n_rois, n_not_cells : int
        ROIs in total; of them, background ROIs classified as not cells.
    fs : float
        Frame rate, Hz (stored as ops["fs"]).
    seconds_per_unit : float
        Seconds per Lorenz time unit (2: a mean period of ~1.5 s).
    decay_s : float
        Decay time of the indicator, s.
    gain : float
        Log-rate modulation per standard deviation of the drive.
    noise : float
        Shot-noise std relative to F0.
    neuropil_coef : float
        How much neuropil leaks into the ROI signal (suite2p's default correction is 0.7).
    seed : int

    Returns
    -------
    DemoSession
    """
    _check_positive(duration_s=duration_s, fs=fs, seconds_per_unit=seconds_per_unit)
    if not 0 <= n_not_cells < n_rois:
        raise ValueError(f"need 0 <= n_not_cells < n_rois, got {n_not_cells}, {n_rois}")
    out = Path(out)
    plane = out / "plane0"
    plane.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 13])
    z = _chaotic_states("lorenz63", duration_s, 1.0 / fs, seconds_per_unit, seed)
    n = len(z)
    n_cells = n_rois - n_not_cells
    w = rng.standard_normal((n_cells, 3))
    w /= np.linalg.norm(w, axis=1, keepdims=True)
    rate = np.exp(gain * z @ w.T)
    kernel = gcamp_kernel(fs, decay_s=decay_s)
    from scipy.signal import fftconvolve

    calcium = fftconvolve(rate, kernel[:, None], axes=0)[:n]
    calcium /= calcium.mean(0)
    f0 = rng.uniform(200.0, 600.0, n_rois)
    t = np.arange(n) / fs
    background = 1.0 + 0.2 * np.sin(2 * np.pi * t / 97.0)[:, None] + 0.1 * _pink_noise(rng, n, 1)
    fneu = 150.0 * background * rng.uniform(0.8, 1.2, n_rois) + 5.0 * rng.standard_normal(
        (n, n_rois)
    )
    signal = np.ones((n, n_rois))
    signal[:, :n_cells] += 0.5 * calcium
    F = f0 * signal + noise * f0 * rng.standard_normal((n, n_rois)) + neuropil_coef * fneu
    iscell = np.zeros(n_rois)
    iscell[:n_cells] = 1.0
    prob = np.where(iscell > 0, rng.uniform(0.7, 1.0, n_rois), rng.uniform(0.0, 0.3, n_rois))
    np.save(plane / "F.npy", F.T.astype(np.float32))
    np.save(plane / "Fneu.npy", fneu.T.astype(np.float32))
    np.save(plane / "iscell.npy", np.stack([iscell, prob], axis=1))
    ops = {"fs": float(fs), "nframes": int(n), "nplanes": 1, "tau": float(decay_s)}
    np.save(plane / "ops.npy", np.array(ops, dtype=object), allow_pickle=True)
    files = [plane / f for f in ("F.npy", "Fneu.npy", "iscell.npy", "ops.npy")]
    meta = {
        "kind": "calcium",
        "system": "lorenz63",
        "duration_s": duration_s,
        "n_rois": n_rois,
        "n_not_cells": n_not_cells,
        "fs": fs,
        "seconds_per_unit": seconds_per_unit,
        "decay_s": decay_s,
        "seed": seed,
        "lambda_max_per_s": 0.9056 / seconds_per_unit,
    }
    log.info(
        "wrote %s: %d ROIs (%d cells) at %g Hz over %g s", out, n_rois, n_cells, fs, duration_s
    )
    return DemoSession(out, files, z, 1.0 / fs, meta)


_WRITERS = {
    "spikes": write_spikes_demo,
    "lfp": write_lfp_demo,
    "calcium": write_calcium_demo,
}


def write_demo(
    out: str | os.PathLike[str],
    kinds: list[str] | tuple[str, ...] | None = None,
    options: dict[str, dict[str, Any]] | None = None,
) -> dict[str, DemoSession]:
    """Write the demo sessions under ``out``, each with a ``<kind>.json`` describing it.

    Parameters
    ----------
    out : path
        Folder (created).
    kinds : sequence of {"spikes", "lfp", "calcium"}, optional
        Which sessions (default all).
    options : dict, optional
        Per kind, keyword arguments of its writer (e.g. ``{"spikes": {"duration_s": 60}}``).

    Returns
    -------
    dict
        kind -> :class:`DemoSession`.
    """
    from neurodsr.errors import InputError
    from neurodsr.fileio import write_json
    from neurodsr.provenance import library_versions

    out = Path(out)
    kinds = list(kinds or DEMO_KINDS)
    options = dict(options or {})
    unknown = sorted((set(kinds) | set(options)) - set(DEMO_KINDS))
    if unknown:
        raise InputError(
            f"unknown demo session(s) {unknown}", hint=f"choose from {', '.join(DEMO_KINDS)}"
        )
    written: dict[str, DemoSession] = {}
    for kind in kinds:
        try:
            written[kind] = _WRITERS[kind](out / DEMO_KINDS[kind][1], **options.get(kind, {}))
        except TypeError as err:
            raise InputError(
                f"bad options for the {kind} demo: {err}",
                hint=f"see neurodsr.demo.{_WRITERS[kind].__name__} for its parameters",
            ) from err
    versions = library_versions(("neo", "mne", "nixio", "pybv"))
    for kind, s in written.items():
        write_json(
            {
                "path": str(s.path),
                "description": DEMO_KINDS[kind][0],
                **s.info,
                "versions": versions,
            },
            out / f"{kind}.json",
        )
    return written
