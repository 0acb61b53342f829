"""Preprocessing parameters, with their defaults and units."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neurodsr.errors import InputError

__all__ = ["PreprocessConfig", "load_config"]


@dataclass
class PreprocessConfig:
    """Parameters of :func:`neurodsr.preprocess.preprocess`. Times in s, rates in Hz.

    Common
    ------
    dt : float or None
        Model step, s. None: spikes 0.01 s; continuous 1 / min(sampling rate, 100 Hz);
        calcium the frame period.
    train_fraction : float
        Fraction (0, 1) of the series, from its start, that is the training part; the rest is
        the test part (contiguous split, no shuffling).
    zscore : bool
        Subtract the training part's mean and divide by its std per channel.
    pca_components : int or None
        Keep this many principal components (fitted on the z-scored training part).
    pca_variance : float or None
        Or keep the fewest components explaining this fraction of the training variance.
    embed_dim, embed_delay : int
        Delay embedding of the (PCA'd) series: ``embed_dim`` copies, ``embed_delay`` steps
        apart (1 / 1: no embedding).
    min_train_samples : int
        The training part must hold at least this many steps after all steps (see
        :func:`neurodsr.preprocess.common.check_length`).
    max_gap_s : float
        Runs of NaN/Inf up to this long are interpolated (with a warning); longer refused.
        Rows holding NaN/Inf at the start or end of the recording are cut off (with a
        warning; ``steps["trimmed_nonfinite_s"]``).
    flat_tolerance : float
        A channel whose std is below this fraction of the median channel std (or exactly 0)
        is constant and dropped.

    Spikes
    ------
    spike_representation : {"rate", "counts"}
        Gaussian-kernel instantaneous rate (elephant) sampled every dt, or spike counts in bins
        of dt (elephant BinnedSpikeTrain).
    kernel_sigma : float
        Std of the Gaussian kernel, s.
    sqrt : bool
        Square-root transform of rates/counts (variance stabilising).
    min_rate : float
        Units with a mean rate below this (Hz) are silent and dropped.

    Continuous
    ----------
    l_freq, h_freq : float or None
        Band-pass edges, Hz (None: no high-pass / no low-pass beyond the anti-alias filter of
        the resampling).
    line_freq : float or None
        Mains frequency, Hz; notches at it and its harmonics below the Nyquist frequency of the
        model rate. None or 0: no notch.
    reference : {"auto", "average", "none"}
        Re-referencing: "auto" = common average for EEG recordings (all channels of type eeg),
        none otherwise.
    broken_z : float
        Channels whose log-std is this many robust standard deviations (MAD) away from the
        median channel are broken and dropped (needs >= 4 channels).
    railed_uv : float or None
        uV; a voltage channel whose median is beyond this is railed (amplifier saturated,
        e.g. a disconnected reference at -12 V) and dropped before re-referencing; channels
        with half their samples stuck at their minimum or maximum are railed too. None: only
        the stuck test. See :func:`neurodsr.preprocess.continuous.find_railed`.

    Calcium
    -------
    neuropil_coef : float
        F - neuropil_coef * Fneu, when the recording has neuropil traces.
    dff : {"auto", True, False}
        dF/F = (F - F0) / F0; "auto": only for raw fluorescence (signal_kind "F").
    baseline_window : float
        Width of the running-percentile baseline window F0, s.
    baseline_percentile : float
        Percentile (0-100) of the baseline window.
    cells_only : bool
        Keep only ROIs classified as cells (``iscell``) when the recording has the flag.
    """

    dt: float | None = None
    train_fraction: float = 0.8
    zscore: bool = True
    pca_components: int | None = None
    pca_variance: float | None = None
    embed_dim: int = 1
    embed_delay: int = 1
    min_train_samples: int = 100
    max_gap_s: float = 0.1
    flat_tolerance: float = 1e-6
    # spikes
    spike_representation: str = "rate"
    kernel_sigma: float = 0.05
    sqrt: bool = False
    min_rate: float = 0.1
    # continuous
    l_freq: float | None = 0.5
    h_freq: float | None = None
    line_freq: float | None = 50.0
    reference: str = "auto"
    broken_z: float = 6.0
    railed_uv: float | None = 1e6
    # calcium
    neuropil_coef: float = 0.7
    dff: bool | str = "auto"
    baseline_window: float = 60.0
    baseline_percentile: float = 8.0
    cells_only: bool = True

    def __post_init__(self) -> None:
        problems = []
        if self.dt is not None and not self.dt > 0:
            problems.append(f"dt must be > 0 s, got {self.dt}")
        if not 0 < self.train_fraction < 1:
            problems.append(f"train_fraction must be in (0, 1), got {self.train_fraction}")
        if self.pca_components is not None and self.pca_components < 1:
            problems.append(f"pca_components must be >= 1, got {self.pca_components}")
        if self.pca_variance is not None and not 0 < self.pca_variance <= 1:
            problems.append(f"pca_variance must be in (0, 1], got {self.pca_variance}")
        if self.embed_dim < 1 or self.embed_delay < 1:
            problems.append("embed_dim and embed_delay must be >= 1")
        if self.spike_representation not in ("rate", "counts"):
            problems.append(
                f"spike_representation must be 'rate' or 'counts', got "
                f"{self.spike_representation!r}"
            )
        if self.reference not in ("auto", "average", "none", None):
            problems.append(f"reference must be auto/average/none, got {self.reference!r}")
        if self.dff not in ("auto", True, False):
            problems.append(f"dff must be 'auto', true or false, got {self.dff!r}")
        if not 0 <= self.baseline_percentile <= 100:
            problems.append("baseline_percentile must be in [0, 100]")
        if self.kernel_sigma <= 0 or self.baseline_window <= 0:
            problems.append("kernel_sigma and baseline_window must be > 0 s")
        if problems:
            raise InputError(
                "bad preprocessing config: " + "; ".join(problems),
                hint="see neurodsr.preprocess.PreprocessConfig for the meaning of each key",
            )

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> PreprocessConfig:
        """Build from a dict (e.g. a parsed YAML section); unknown keys are an InputError."""
        values = dict(values or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InputError(
                f"unknown preprocessing option(s) {unknown}",
                hint=f"known options: {', '.join(sorted(known))}",
            )
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """The parameters as a plain dict."""
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        """The parameters as a sorted JSON string (stored in ``preprocess_config``)."""
        return json.dumps(self.to_dict(), sort_keys=True)


def load_config(path: str | os.PathLike[str] | None) -> PreprocessConfig:
    """Read a YAML or JSON file of preprocessing options (a ``preprocess:`` section or flat)."""
    if path is None:
        return PreprocessConfig()
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix.lower() == ".json":
            values = json.loads(text)
        else:
            import yaml

            values = yaml.safe_load(text)
    except Exception as err:
        raise InputError(
            f"cannot read the config ({type(err).__name__}: {err})",
            file=path,
            hint="give a YAML or JSON mapping of preprocessing options",
        ) from err
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise InputError("the config is not a mapping", file=path)
    if isinstance(values.get("preprocess"), dict):
        values = values["preprocess"]
    try:
        return PreprocessConfig.from_dict(values)
    except InputError as err:
        raise InputError(err.problem, file=path, hint=err.hint) from err
