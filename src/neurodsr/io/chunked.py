"""Read long recordings chunk by chunk and decimate them on the way in.

A 1-hour, 64-channel, 30 kHz recording is 6.9e9 samples (13.8 GB as int16, 55 GB as float64);
it never sits in memory whole. Readers hand :func:`read_decimated` a function that returns raw
samples ``[start, stop)`` (a memmap slice, a neo rawio chunk, ``mne.io.Raw.get_data``), and get
back float32 samples at the target rate.

Anti-aliasing is scipy's polyphase FIR resampler (:func:`scipy.signal.resample_poly`, Kaiser
window, the same filter it designs itself). Each chunk is read with ``pad`` extra samples on
each side (more than the filter's reach, rounded to a multiple of the down factor) and the
outputs those pads produce are dropped, so the chunked result equals filtering the whole series
at once, up to float32 rounding (tested).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from fractions import Fraction

import numpy as np
from scipy.signal import firwin, resample_poly

__all__ = [
    "DEFAULT_CHUNK_VALUES",
    "LARGE_READ_BYTES",
    "read_decimated",
    "resample_factors",
    "target_rate",
]

#: Values (samples x channels) read per chunk: 4 M values = 16 MB as float32.
DEFAULT_CHUNK_VALUES = 4_000_000
#: A read whose result exceeds this many bytes warns and names ``--decimate-to`` (1 GB: five
#: minutes of 64 channels at 30 kHz are 2.3 GB).
LARGE_READ_BYTES = 1_000_000_000


def target_rate(
    sampling_rate: float, *, decimate_to: float | None = None, max_rate: float | None = None
) -> float:
    """The rate to read at, Hz: ``decimate_to`` if given, else ``min(sampling_rate, max_rate)``.

    Upsampling is never done on the way in: a ``decimate_to`` above ``sampling_rate`` keeps
    the original rate.
    """
    rate = float(sampling_rate)
    if decimate_to is not None:
        rate = min(rate, float(decimate_to))
    elif max_rate is not None:
        rate = min(rate, float(max_rate))
    return rate


def resample_factors(
    sampling_rate: float, target: float, max_denominator: int = 1000
) -> tuple[int, int]:
    """Integers ``(up, down)`` with ``up / down ~ target / sampling_rate``.

    The new rate is ``sampling_rate * up / down`` exactly; it differs from ``target`` by less
    than 0.1 % for ratios that are not simple fractions.
    """
    frac = Fraction(float(target) / float(sampling_rate)).limit_denominator(max_denominator)
    if frac <= 0:
        raise ValueError(f"cannot resample {sampling_rate} Hz to {target} Hz")
    return frac.numerator, frac.denominator


def read_decimated(
    get_chunk: Callable[[int, int], np.ndarray],
    n_samples: int,
    n_channels: int,
    sampling_rate: float,
    target: float | None,
    *,
    chunk_values: int = DEFAULT_CHUNK_VALUES,
    scale: float | np.ndarray = 1.0,
) -> tuple[np.ndarray, float]:
    """Read ``n_samples`` samples chunk by chunk, resample to ``target`` Hz, return float32.

    Parameters
    ----------
    get_chunk : callable ``(start, stop) -> array (stop - start, n_channels)``
        Raw samples of any numeric dtype, in sample indices of the recording.
    n_samples, n_channels : int
        Size of the recording.
    sampling_rate : float
        Hz of the raw samples.
    target : float or None
        Rate to resample to, Hz (None or >= ``sampling_rate``: keep the rate; the samples are
        still converted chunk by chunk).
    chunk_values : int
        Samples x channels read per chunk (memory per chunk ~ 4 bytes x chunk_values x 3).
    scale : float or array (n_channels,)
        Multiplies the raw samples (e.g. ADC gain to uV), applied per chunk.

    Returns
    -------
    samples : float32 array (n_out, n_channels)
        At ``new_rate``; ``n_out = ceil(n_samples * up / down)``. Sample k is at time
        ``k / new_rate`` after the first input sample.
    new_rate : float
        Hz, ``sampling_rate * up / down``.
    """
    scale_arr = np.asarray(scale, dtype=np.float32)
    if target is None or target >= sampling_rate:
        up = down = 1
    else:
        up, down = resample_factors(sampling_rate, target)
    new_rate = sampling_rate * up / down
    n_out = -(-n_samples * up // down)
    size = n_out * n_channels * 4
    if size > LARGE_READ_BYTES:
        warnings.warn(
            f"reading {n_samples / sampling_rate:.0f} s of {n_channels} channels at "
            f"{new_rate:g} Hz takes {size / 1e9:.1f} GB in memory (float32)"
            + (" without decimation" if up == down else "")
            + "; resample on the way in with --decimate-to HZ (e.g. --decimate-to 1000: "
            "preprocessing works at 100 Hz by default)",
            UserWarning,
            stacklevel=3,
        )
    out = np.empty((n_out, n_channels), dtype=np.float32)
    step = max(1, chunk_values // max(n_channels, 1))
    if up == down == 1:
        for a in range(0, n_samples, step):
            b = min(a + step, n_samples)
            out[a:b] = np.asarray(get_chunk(a, b), dtype=np.float32) * scale_arr
        return out, new_rate

    # The filter scipy.signal.resample_poly would design; designed once and passed in so that
    # every chunk uses the same one. Its reach is half_len samples at the upsampled rate.
    max_ud = max(up, down)
    half_len = 10 * max_ud
    h = firwin(2 * half_len + 1, 1.0 / max_ud, window=("kaiser", 5.0)).astype(np.float32)
    reach = math.ceil(half_len / up) + 1  # input samples on each side that affect an output
    pad = math.ceil(reach / down) * down  # a multiple of down keeps the output grid aligned
    step = max(down, (step // down) * down)  # chunk starts on multiples of down, too
    # A constant offset per channel (the median of the first second) is removed before
    # filtering so that the zero padding at the recording's two ends does not ring on a DC
    # level; the same offset for every chunk keeps the operation linear and chunk-independent.
    n_first = min(n_samples, max(1, int(sampling_rate)))
    first = np.asarray(get_chunk(0, n_first), dtype=np.float32) * scale_arr
    offset = np.median(first, axis=0).astype(np.float32)
    del first
    for a in range(0, n_samples, step):
        b = min(a + step, n_samples)
        lo, hi = max(0, a - pad), min(n_samples, b + pad)
        x = np.asarray(get_chunk(lo, hi), dtype=np.float32) * scale_arr - offset
        y = resample_poly(x, up, down, axis=0, window=h, padtype="constant")
        skip = (a - lo) * up // down
        o0 = a * up // down
        o1 = min(n_out, -(-b * up // down))
        out[o0:o1] = y[skip : skip + (o1 - o0)] + offset
    return out, new_rate
