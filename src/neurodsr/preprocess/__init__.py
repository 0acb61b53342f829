"""Preprocessing per modality (spikes, continuous, calcium) and the common steps.

>>> from neurodsr.preprocess import preprocess, inverse_transform
>>> pre = preprocess(recording, {"dt": 0.01, "pca_variance": 0.9})    # doctest: +SKIP
>>> channels = inverse_transform(model_output, pre)                     # doctest: +SKIP

The result follows the ``preprocessed.nc`` contract: ``x(time, dim)`` float32 at step ``dt``,
the first ``n_train`` rows the training part; ``mean(channel)``, ``std(channel)``,
``loadings(dim, channel)`` (PCA) and the attrs listed in :func:`preprocess`.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np
import xarray as xr

from neurodsr.errors import InputError
from neurodsr.io.recording import fill_short_gaps, nonfinite_edges, validate_recording
from neurodsr.preprocess.common import (
    check_length,
    delay_embed,
    find_constant,
    fit_transform,
    inverse_transform,
    pca,
)
from neurodsr.preprocess.config import PreprocessConfig, load_config
from neurodsr.provenance import provenance_attrs

log = logging.getLogger(__name__)

__all__ = [
    "PreprocessConfig",
    "check_length",
    "delay_embed",
    "inverse_transform",
    "load_config",
    "pca",
    "preprocess",
]


def _as_config(config: PreprocessConfig | dict[str, Any] | None) -> PreprocessConfig:
    if config is None:
        return PreprocessConfig()
    if isinstance(config, PreprocessConfig):
        return config
    if isinstance(config, dict):
        return PreprocessConfig.from_dict(config)
    raise TypeError(f"config must be a PreprocessConfig, dict or None, not {type(config)}")


def _json_list(value: Any) -> list | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return None
    return list(value)


def preprocess(
    recording: xr.Dataset, config: PreprocessConfig | dict[str, Any] | None = None
) -> xr.Dataset:
    """Turn a Recording into model-ready data (pure: reads and writes no files).

    Parameters
    ----------
    recording : xarray.Dataset
        Following the ``recording.nc`` contract (see :mod:`neurodsr.io.recording`).
    config : PreprocessConfig or dict, optional
        Parameters (defaults: :class:`PreprocessConfig`).

    Returns
    -------
    xarray.Dataset
        ``x(time, dim)`` float32 (z-scored, possibly PCA'd / embedded), coords ``time`` (s),
        ``dim``; ``mean(channel)``, ``std(channel)``, ``loadings(dim, channel)`` if PCA. Attrs:
        ``dt`` (s), ``n_train``, ``modality``, ``session``, ``source_file``,
        ``preprocess_config`` (JSON), ``dropped_channels`` (JSON list of ``{"channel",
        "reason"}``), ``signal_units`` (units before z-scoring), ``steps`` (JSON: what was
        applied), ``embedding_delay`` / ``embedding_dim`` if embedded, provenance attrs.

    Raises
    ------
    InputError
        Long NaN/Inf gaps, no usable channel / all units silent, a recording too short for
        the requested split and embedding, an inconsistent recording.
    """
    cfg = _as_config(config)
    validate_recording(recording)
    modality = recording.attrs["modality"]
    file = recording.attrs.get("source_file")
    session = recording.attrs.get("session")
    libs: tuple[str, ...] = ()
    steps: dict[str, Any] = {}
    if modality == "spikes":
        from neurodsr.preprocess.spikes import spike_matrix

        if "spike_times" not in recording:
            raise InputError(
                "modality is 'spikes' but the recording has no spike trains",
                file=file,
                session=session,
                hint="re-ingest with --modality continuous",
            )
        dt = cfg.dt or 0.01
        values, time, channels, dropped, units = spike_matrix(
            recording,
            dt=dt,
            representation=cfg.spike_representation,
            kernel_sigma=cfg.kernel_sigma,
            sqrt=cfg.sqrt,
            min_rate=cfg.min_rate,
            file=file,
            session=session,
        )
        libs = ("elephant", "neo", "quantities")
        steps["spikes"] = cfg.spike_representation + (" + sqrt" if cfg.sqrt else "")
    else:
        if "signal" not in recording:
            raise InputError(
                f"modality is {modality!r} but the recording has no sampled signal",
                file=file,
                session=session,
            )
        fs = float(recording.attrs["sampling_rate"])
        names = [str(c) for c in recording["channel"].values]
        raw = np.asarray(recording["signal"].values, dtype=np.float64)
        both = raw
        if modality == "calcium" and "neuropil" in recording and cfg.neuropil_coef:
            both = np.hstack([raw, np.asarray(recording["neuropil"].values, dtype=np.float64)])
        rows = _finite_rows(both, fs, steps, file)
        recording = recording.isel(time=rows)
        values = fill_short_gaps(
            raw[rows],
            fs,
            channel_names=names,
            max_gap_s=cfg.max_gap_s,
            file=file,
            session=session,
            start_time=float(recording["time"].values[0]) if recording.sizes["time"] else 0.0,
        )
        time = np.asarray(recording["time"].values, dtype=np.float64)
        units = str(recording["signal"].attrs.get("units", "a.u."))
        if modality == "continuous":
            from neurodsr.preprocess.continuous import clean_continuous

            values, time, channels, dropped, dt, info = clean_continuous(
                values,
                time,
                names,
                fs,
                dt=cfg.dt,
                l_freq=cfg.l_freq,
                h_freq=cfg.h_freq,
                line_freq=cfg.line_freq,
                reference=cfg.reference or "none",
                channel_types=_json_list(recording.attrs.get("channel_types")),
                flat_tolerance=cfg.flat_tolerance,
                broken_z=cfg.broken_z,
                units=units,
                railed_uv=cfg.railed_uv,
                file=file,
                session=session,
            )
            libs = ("mne",)
            steps.update(info)
        else:
            values, time, channels, dropped, dt, units = _calcium(
                recording, values, time, names, fs, units, cfg, steps, file, session
            )
    if dropped:
        log.warning(
            "dropped %d channel(s): %s%s",
            len(dropped),
            "; ".join(f"{d['channel']}: {d['reason']}" for d in dropped[:20]),
            " ..." if len(dropped) > 20 else "",
        )
    pre = fit_transform(
        values,
        time,
        channels,
        dt=dt,
        train_fraction=cfg.train_fraction,
        zscore=cfg.zscore,
        pca_components=cfg.pca_components,
        pca_variance=cfg.pca_variance,
        embed_dim=cfg.embed_dim,
        embed_delay=cfg.embed_delay,
        min_train_samples=cfg.min_train_samples,
        file=file,
        session=session,
    )
    pre["mean"].attrs["units"] = units
    pre["std"].attrs["units"] = units
    attrs = provenance_attrs(extra_libraries=libs, source_file=file)
    attrs.update(pre.attrs)
    attrs.update(
        modality=modality,
        session=str(session),
        source_file=str(file),
        preprocess_config=cfg.to_json(),
        dropped_channels=json.dumps(dropped),
        signal_units=units,
        steps=json.dumps(steps, default=str),
        recording_reader=str(recording.attrs.get("reader", "")),
        recording_sampling_rate=float(recording.attrs.get("sampling_rate", 0.0)),
    )
    pre.attrs = attrs
    return pre


def _finite_rows(values: np.ndarray, fs: float, steps: dict[str, Any], file: str | None) -> slice:
    """The rows to keep: all but leading/trailing rows that hold NaN/Inf (noted in steps)."""
    import warnings

    n = values.shape[0]
    a, b = nonfinite_edges(values)
    if (a, b) == (0, n) or b <= a:
        return slice(0, n)  # all finite, or nothing finite (fill_short_gaps reports it)
    steps["trimmed_nonfinite_s"] = [a / fs, (n - b) / fs]
    warnings.warn(
        f"{a} leading and {n - b} trailing samples hold NaN/Inf and were cut off"
        + (f" in {file}" if file else ""),
        UserWarning,
        stacklevel=3,
    )
    return slice(a, b)


def _calcium(
    recording: xr.Dataset,
    F: np.ndarray,
    time: np.ndarray,
    names: list[str],
    fs: float,
    units: str,
    cfg: PreprocessConfig,
    steps: dict[str, Any],
    file: str | None,
    session: str | None,
) -> tuple[np.ndarray, np.ndarray, list[str], list[dict[str, str]], float, str]:
    from scipy.signal import resample_poly

    from neurodsr.io.chunked import resample_factors
    from neurodsr.preprocess.calcium import dff, neuropil_correct

    kind = str(recording.attrs.get("signal_kind", "F"))
    dropped: list[dict[str, str]] = []
    keep = np.ones(len(names), bool)
    if cfg.cells_only and "iscell" in recording:
        isc = np.asarray(recording["iscell"].values).astype(bool)
        for n in np.asarray(names)[~isc]:
            dropped.append({"channel": str(n), "reason": "not a cell (iscell = 0)"})
        keep &= isc
    if "neuropil" in recording and cfg.neuropil_coef:
        Fneu = np.asarray(recording["neuropil"].values, dtype=np.float64)
        Fneu = fill_short_gaps(
            Fneu, fs, channel_names=names, max_gap_s=cfg.max_gap_s, file=file, session=session
        )
        F = neuropil_correct(F, Fneu, cfg.neuropil_coef)
        steps["neuropil_coef"] = cfg.neuropil_coef
    const = find_constant(F[:, keep], np.asarray(names)[keep], cfg.flat_tolerance)
    dropped += const
    const_names = {d["channel"] for d in const}
    keep &= np.array([n not in const_names for n in names])
    if not keep.any():
        raise InputError(
            f"no usable ROI left: all {len(names)} are constant or not cells",
            file=file,
            session=session,
            hint="check the ROI classification (iscell) or set cells_only: false",
        )
    F = F[:, keep]
    names = [n for n, k in zip(names, keep, strict=True) if k]
    do_dff = cfg.dff is True or (cfg.dff == "auto" and kind == "F")
    if do_dff:
        F, _ = dff(F, fs, window_s=cfg.baseline_window, percentile=cfg.baseline_percentile)
        units = "dF/F"
        steps["dff"] = {"window_s": cfg.baseline_window, "percentile": cfg.baseline_percentile}
    dt = 1.0 / fs
    if cfg.dt is not None and abs(cfg.dt - dt) > 1e-9 * dt:
        up, down = resample_factors(fs, 1.0 / cfg.dt)
        F = resample_poly(F, up, down, axis=0, padtype="line")
        dt = 1.0 / (fs * up / down)
        time = time[0] + np.arange(F.shape[0]) * dt
        steps["resampled_from"] = fs
    return F, time, names, dropped, dt, units
