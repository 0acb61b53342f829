"""Continuous signals (LFP, EEG, ECoG, ...): channel screening (constant, railed, broken),
resampling (scipy's polyphase FIR), notch and band-pass (MNE's FIR filters), re-referencing.

Edges: a filter's output within its reach of either end depends on samples beyond the
recording, which padding can only guess (reflection padding still left errors of the order of
the signal's std at the end of a 0.5 Hz high-passed series), so those outputs are cut off: each
end loses the resampler's reach plus half the length of every FIR filter applied (3.3 s for
the default 0.5 Hz high-pass). What is left equals filtering a longer recording (tested).
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence

import numpy as np
from scipy.signal import resample_poly

from neurodsr.errors import InputError
from neurodsr.io.chunked import resample_factors
from neurodsr.preprocess.common import find_constant

__all__ = ["clean_continuous", "find_broken", "find_railed"]

#: Units whose values are voltages in uV (for the railed level).
_UV = ("uV", "µV")


def find_railed(
    x: np.ndarray,
    names: Sequence[str],
    *,
    units: str = "a.u.",
    level_uv: float | None = 1e6,
    stuck_fraction: float = 0.5,
) -> list[dict[str, str]]:
    """Channels stuck at an amplifier rail (a disconnected reference at -12 V).

    A channel is railed when at least ``stuck_fraction`` of its samples sit exactly at its
    minimum or its maximum (clipped at the converter's end), or, for voltages in uV, when its
    median is beyond ``level_uv`` (1e6 uV = 1 V: no electrode potential comes near it, DC
    offsets of DC-coupled amplifiers stay below a few hundred mV). Such channels can look like
    ordinary ones to a variance test (a railed channel that flickers has an EEG-sized std)
    and an average reference would spread them into every channel.

    Returns
    -------
    list of dict ``{"channel", "reason"}``
    """
    out = []
    n = x.shape[0]
    if n == 0:
        return out
    med = np.median(x, axis=0)
    lo, hi = x.min(axis=0), x.max(axis=0)
    at_lo = (x == lo).sum(axis=0) / n
    at_hi = (x == hi).sum(axis=0) / n
    for i, name in enumerate(names):
        if lo[i] == hi[i]:
            continue  # constant: find_constant reports it
        if max(at_lo[i], at_hi[i]) >= stuck_fraction:
            value = lo[i] if at_lo[i] >= at_hi[i] else hi[i]
            share = max(at_lo[i], at_hi[i])
            out.append(
                {
                    "channel": str(name),
                    "reason": f"railed ({share:.0%} of samples stuck at {value:.6g} {units})",
                }
            )
        elif level_uv is not None and units in _UV and abs(med[i]) > level_uv:
            out.append(
                {
                    "channel": str(name),
                    "reason": f"railed (median {med[i] / 1e6:.3g} V, beyond "
                    f"{level_uv / 1e6:g} V: amplifier saturated or electrode disconnected)",
                }
            )
    return out


def find_broken(x: np.ndarray, names: Sequence[str], z: float = 6.0) -> list[dict[str, str]]:
    """Channels whose log-std is more than ``z`` robust SDs (1.4826 MAD) from the median.

    Catches dead-but-noisy and saturating/disconnected channels. Needs >= 4 channels (with
    fewer, there is no population to compare against and nothing is flagged).
    """
    if x.shape[1] < 4:
        return []
    log_std = np.log(np.std(x, axis=0) + 1e-300)
    med = np.median(log_std)
    mad = 1.4826 * np.median(np.abs(log_std - med))
    if mad == 0:
        return []
    score = (log_std - med) / mad
    out = []
    for name, s, ls in zip(names, score, log_std, strict=True):
        if abs(s) > z:
            ratio = float(np.exp(ls - med))
            out.append(
                {
                    "channel": str(name),
                    "reason": f"broken (std {ratio:.3g} x the median channel, robust z {s:.1f})",
                }
            )
    return out


def clean_continuous(
    values: np.ndarray,
    time: np.ndarray,
    channels: Sequence[str],
    sampling_rate: float,
    *,
    dt: float | None = None,
    l_freq: float | None = 0.5,
    h_freq: float | None = None,
    line_freq: float | None = 50.0,
    reference: str = "auto",
    channel_types: Sequence[str] | None = None,
    flat_tolerance: float = 1e-6,
    broken_z: float = 6.0,
    units: str = "a.u.",
    railed_uv: float | None = 1e6,
    file: str | os.PathLike[str] | None = None,
    session: str | None = None,
) -> tuple[np.ndarray, np.ndarray, list[str], list[dict[str, str]], float, dict]:
    """Screen, resample, notch, band-pass and re-reference a (time, channel) signal.

    Order: drop constant, railed (:func:`find_railed`) and broken channels; resample to
    ``1 / dt`` with :func:`scipy.signal.resample_poly` (polyphase anti-aliasing FIR; first, so
    the filters run at the lower rate; not MNE's FFT resampling, which wraps the end of the
    series onto its start); notch the line frequency and its harmonics below the new Nyquist
    frequency (:func:`mne.filter.notch_filter`); band-pass ``[l_freq, h_freq]``
    (:func:`mne.filter.filter_data`, zero-phase FIR); cut off each end's samples within the
    filters' reach (``info["edge_trim_s"]``, s per end); common average reference for EEG.

    Parameters
    ----------
    values : array (time, channel)
    time : array (time,), s
    sampling_rate : float, Hz
    dt : float, optional
        Model step, s; default ``1 / min(sampling_rate, 100)``.
    units : str
        Units of ``values`` (for the railed level).
    railed_uv : float or None
        uV; a voltage channel whose median is beyond it is railed (None: only the
        stuck-at-extreme test).

    Returns
    -------
    values : array (time', channel') float64
    time : array (time',) s
    channels : list of str, kept
    dropped : list of dict ``{"channel", "reason"}``
    dt : float
        The step actually reached, s (``1 / (sampling_rate * up / down)``).
    info : dict
        What was applied (notch frequencies, band, reference).
    """
    import mne

    names = [str(c) for c in channels]
    x = np.asarray(values, dtype=np.float64)
    dropped = find_constant(x, names, flat_tolerance)
    flat = {d["channel"] for d in dropped}
    keep = [i for i, n in enumerate(names) if n not in flat]
    railed = find_railed(x[:, keep], [names[i] for i in keep], units=units, level_uv=railed_uv)
    dropped += railed
    gone = flat | {d["channel"] for d in railed}
    keep = [i for i, n in enumerate(names) if n not in gone]
    broken = find_broken(x[:, keep], [names[i] for i in keep], broken_z)
    dropped += broken
    bad = {d["channel"] for d in dropped}
    keep = [i for i, n in enumerate(names) if n not in bad]
    if not keep:
        raise InputError(
            f"no usable channel left: all {len(names)} channels are constant or broken",
            file=file,
            session=session,
            hint="check the recording (reference, amplifier saturation, channel selection)",
        )
    x = x[:, keep].T  # MNE works on (channel, time)
    names = [names[i] for i in keep]
    types = [channel_types[i] for i in keep] if channel_types is not None else None
    fs = float(sampling_rate)
    target = min(fs, 100.0) if dt is None else 1.0 / float(dt)
    info: dict = {}
    n_in = x.shape[1]
    reach = 0  # output samples at each end that depend on samples beyond the recording
    if abs(target - fs) > 1e-9 * fs:
        up, down = resample_factors(fs, target)
        # scipy's filter: 2 * 10 * max(up, down) + 1 taps at the upsampled rate
        x = resample_poly(x, up, down, axis=-1, padtype="line")
        reach += math.ceil(10 * max(up, down) / down) + 1
        fs = fs * up / down
        info["resampled_from"] = float(sampling_rate)
    nyq = fs / 2
    with warnings.catch_warnings():
        # MNE warns when a filter is longer than a short test signal; the result is still
        # well defined (it pads by reflection), and the edges are cut off below.
        warnings.simplefilter("ignore", RuntimeWarning)
        if line_freq:
            freqs = np.arange(line_freq, nyq - 1.0, line_freq)
            if freqs.size:
                # MNE's "auto" length for its default notch: 1 Hz transition bandwidth, split
                # into 0.5 Hz on each side of the stop band; hamming needs 3.3 / 0.5 Hz
                length = 2 * math.ceil(3.3 / 0.5 * fs / 2) + 1
                x = mne.filter.notch_filter(x, fs, freqs, filter_length=length, verbose=False)
                reach += length // 2
                info["notch"] = freqs.tolist()
        lo = l_freq if l_freq else None
        hi = h_freq if h_freq and h_freq < nyq else None
        if lo is not None or hi is not None:
            h = mne.filter.create_filter(x, fs, lo, hi, verbose=False)
            x = mne.filter.filter_data(x, fs, lo, hi, verbose=False)
            reach += len(h) // 2
            info["band"] = [lo, hi]
    t0 = float(time[0]) if len(time) else 0.0
    if reach:
        if 2 * reach >= x.shape[1]:
            raise InputError(
                f"recording too short for its filters: {n_in / sampling_rate:.3g} s, but the "
                f"resampling and filters reach {reach / fs:.3g} s into each end, which is cut "
                "off (those samples depend on data beyond the recording)",
                file=file,
                session=session,
                hint="give a longer recording, or raise l_freq / set l_freq: null and "
                "line_freq: null in the preprocess options",
            )
        x = x[:, reach : x.shape[1] - reach]
        t0 += reach / fs
        info["edge_trim_s"] = reach / fs
    do_avg = reference == "average" or (
        reference == "auto"
        and types is not None
        and len(types) > 1
        and all(t == "eeg" for t in types)
    )
    if do_avg:
        x = x - x.mean(axis=0, keepdims=True)
        info["reference"] = "average"
    new_time = t0 + np.arange(x.shape[1]) / fs
    return x.T, new_time, names, dropped, 1.0 / fs, info
