"""Continuous signals (LFP, EEG, ECoG, ...): channel screening, resampling, notch, band-pass,
re-referencing, all with MNE's filter functions."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence

import numpy as np

from neurodsr.errors import InputError
from neurodsr.io.chunked import resample_factors
from neurodsr.preprocess.common import find_constant

__all__ = ["clean_continuous", "find_broken"]


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
    file: str | os.PathLike[str] | None = None,
    session: str | None = None,
) -> tuple[np.ndarray, np.ndarray, list[str], list[dict[str, str]], float, dict]:
    """Screen, resample, notch, band-pass and re-reference a (time, channel) signal.

    Order: drop constant and broken channels; resample to ``1 / dt`` with
    :func:`mne.filter.resample` (anti-aliased; first, so the filters run at the lower rate);
    notch the line frequency and its harmonics below the new Nyquist frequency
    (:func:`mne.filter.notch_filter`); band-pass ``[l_freq, h_freq]``
    (:func:`mne.filter.filter_data`, zero-phase FIR); common average reference for EEG.

    Parameters
    ----------
    values : array (time, channel)
    time : array (time,), s
    sampling_rate : float, Hz
    dt : float, optional
        Model step, s; default ``1 / min(sampling_rate, 100)``.

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
    if abs(target - fs) > 1e-9 * fs:
        up, down = resample_factors(fs, target)
        x = mne.filter.resample(x, up=float(up), down=float(down), axis=-1, verbose=False)
        fs = fs * up / down
        info["resampled_from"] = float(sampling_rate)
    nyq = fs / 2
    with warnings.catch_warnings():
        # MNE warns when a filter is longer than a short test signal; the result is still
        # well defined (it pads by reflection).
        warnings.simplefilter("ignore", RuntimeWarning)
        if line_freq:
            freqs = np.arange(line_freq, nyq - 1.0, line_freq)
            if freqs.size:
                x = mne.filter.notch_filter(x, fs, freqs, verbose=False)
                info["notch"] = freqs.tolist()
        lo = l_freq if l_freq else None
        hi = h_freq if h_freq and h_freq < nyq else None
        if lo is not None or hi is not None:
            x = mne.filter.filter_data(x, fs, lo, hi, verbose=False)
            info["band"] = [lo, hi]
    do_avg = reference == "average" or (
        reference == "auto"
        and types is not None
        and len(types) > 1
        and all(t == "eeg" for t in types)
    )
    if do_avg:
        x = x - x.mean(axis=0, keepdims=True)
        info["reference"] = "average"
    t0 = float(time[0]) if len(time) else 0.0
    new_time = t0 + np.arange(x.shape[1]) / fs
    return x.T, new_time, names, dropped, 1.0 / fs, info
