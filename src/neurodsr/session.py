"""One session's results folder: where each stage writes, what it writes, and how to read it.

Follow one session from raw file to report here. Every path below is built by
:class:`SessionLayout`; the Snakemake rules take the same names from :data:`FILES` (the
Snakefile loads this module by path, which is why it imports only the standard library), the
commands and the report take them from :class:`SessionLayout`. Nothing else spells a file
name of a session.

======================= ===================================== ==============================
file                    written by                            read by
======================= ===================================== ==============================
recording.nc            ``neurodsr ingest``                   preprocess, report
preprocess.json         the preprocess rule (its options)     preprocess, report
preprocessed.nc         ``neurodsr preprocess``               lyapunov, fit, evaluate, report
lyapunov.nc             ``neurodsr lyapunov --out``           report
lyapunov.json           ``neurodsr lyapunov`` (stdout)        fit (tau), evaluate, report,
                        -> :class:`LyapunovSummary`           summary
models/fit.pt           ``neurodsr fit`` (weights + meta)     evaluate
models/fit.json         ``neurodsr fit`` -> :class:`FitSummary` evaluate, report, summary
models/fit.log.json     ``neurodsr fit`` (:class:`TrainLog`)  report
models/checkpoints/     the trainer (resume only)             the trainer
reconstruction.nc       ``neurodsr evaluate``                 report
metrics.json            ``neurodsr evaluate``                 report, summary
report.html             ``neurodsr report``                   (people)
logs/{stage}.log        every rule                            summary (failures)
======================= ===================================== ==============================

Over all sessions (:data:`INDEX_FILES`): ``results/index.html`` and ``results/summary.csv``,
written by ``neurodsr summary`` from every session's metrics.json, fit.json, lyapunov.json and
logs (:func:`summarize_sessions`).

Attributes of NetCDF files are written by :func:`neurodsr.provenance.netcdf_safe` (lists and
dicts as JSON strings, None as ``"none"``, bools as ints) and read back by :func:`decode_attrs`,
the one decoder.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "FILES",
    "INDEX_FILES",
    "STAGES",
    "FitSummary",
    "LyapunovSummary",
    "SessionLayout",
    "decode_attr",
    "decode_attrs",
    "read_json",
    "session_status",
    "summarize_sessions",
]

#: name -> path inside ``results/{session}/`` (the one table of a session's file names).
FILES: dict[str, str] = {
    "recording": "recording.nc",
    "preprocess_options": "preprocess.json",
    "preprocessed": "preprocessed.nc",
    "lyapunov": "lyapunov.nc",
    "lyapunov_json": "lyapunov.json",
    "weights": "models/fit.pt",
    "fit_summary": "models/fit.json",
    "train_log": "models/fit.log.json",
    "checkpoints": "models/checkpoints",
    "reconstruction": "reconstruction.nc",
    "metrics": "metrics.json",
    "report": "report.html",
    "logs": "logs",
}

#: name -> path inside ``results/``: the files over all sessions (``neurodsr summary``).
INDEX_FILES: dict[str, str] = {"index": "index.html", "summary_csv": "summary.csv"}

#: The per-session stages in order, with the file each one writes last (see FILES).
STAGES: tuple[tuple[str, str], ...] = (
    ("ingest", "recording"),
    ("preprocess", "preprocessed"),
    ("lyapunov", "lyapunov_json"),
    ("train", "fit_summary"),
    ("evaluate", "metrics"),
    ("report", "report"),
)


def fit_outputs(weights: str | os.PathLike[str]) -> dict[str, Path]:
    """The files ``neurodsr fit`` writes beside its weights ``W.pt``: ``W.json`` (the
    :class:`FitSummary`) and ``W.log.json`` (the training log). In a session folder these are
    ``models/fit.pt``, ``models/fit.json`` and ``models/fit.log.json`` (:data:`FILES`)."""
    weights = Path(weights)
    return {
        "weights": weights,
        "fit_summary": weights.with_suffix(".json"),
        "train_log": weights.with_name(weights.stem + ".log.json"),
    }


@dataclass(frozen=True)
class SessionLayout:
    """The paths of one session's results: ``SessionLayout("results", "mouse1").metrics``.

    Parameters
    ----------
    results : path
        The results folder (``results``).
    session : str
        The session's name (its folder in ``results``).
    """

    results: Path
    session: str

    @classmethod
    def of(cls, session_dir: str | os.PathLike[str]) -> SessionLayout:
        """The layout of the session folder ``session_dir`` (``results/mouse1``)."""
        root = Path(session_dir)
        return cls(root.parent, root.name)

    @property
    def root(self) -> Path:
        return Path(self.results) / self.session

    def path(self, name: str) -> Path:
        """The path of file ``name`` (a key of :data:`FILES`)."""
        return self.root / FILES[name]

    def log(self, stage: str) -> Path:
        """The log of ``stage``: ``logs/{stage}.log``."""
        return self.path("logs") / f"{stage}.log"

    def __getattr__(self, name: str) -> Path:
        if name in FILES:
            return self.path(name)
        raise AttributeError(f"SessionLayout has no file {name!r}; the files are {list(FILES)}")


# --------------------------------------------------------------------------- decoding
def decode_attr(value: Any) -> Any:
    """One attribute as written by :func:`neurodsr.provenance.netcdf_safe`, decoded: JSON
    strings of lists/dicts back to lists/dicts, ``"none"`` back to None, numpy scalars to
    Python numbers; anything else as it is."""
    if isinstance(value, str):
        if value == "none":
            return None
        if value[:1] in "[{":
            try:
                return json.loads(value)
            except ValueError:
                return value
        return value
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:  # numpy scalar
        return value.item()
    return value


def decode_attrs(attrs: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """The attrs that start with ``prefix``, decoded (:func:`decode_attr`), prefix removed."""
    return {
        key[len(prefix) :]: decode_attr(value)
        for key, value in attrs.items()
        if key.startswith(prefix)
    }


def read_json(path: str | os.PathLike[str], what: str, session: str | None = None) -> Any:
    """JSON of a stage output; a missing or damaged file is an InputError naming it."""
    from neurodsr.errors import InputError

    path = Path(path)
    if not path.is_file():
        raise InputError(
            f"no {what}",
            file=path,
            session=session,
            hint="run the earlier stages first (snakemake does this for you)",
        )
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise InputError(
            f"the {what} is not valid JSON ({err})",
            file=path,
            session=session,
            hint="delete it and run its stage again",
        ) from err


# --------------------------------------------------------------------------- records
def _num(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


@dataclass
class LyapunovSummary:
    """What ``neurodsr lyapunov`` writes to lyapunov.json (the data's lambda_max and tau).

    Attributes
    ----------
    lambda_max, lambda_std : float or None
        Largest Lyapunov exponent of the data and its standard error, per s (None: no estimate).
    verdict : str
        "chaotic", "not chaotic" or "unclear".
    tau : int or None
        The STF interval the data suggest, steps (None: plain BPTT).
    tau_explanation : str
        Why that tau.
    reason, advice : str
        The verdict's reason, and what to do about it.
    extra : dict
        Every other key of the file, as it is (the Lyapunov stage may add fields).
    """

    lambda_max: float | None = None
    lambda_std: float | None = None
    verdict: str = "unclear"
    tau: int | None = None
    tau_explanation: str = ""
    reason: str = ""
    advice: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LyapunovSummary:
        """From lyapunov.json's dict; unknown keys go to ``extra``."""
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        tau = data.get("tau")
        return cls(
            lambda_max=_num(data.get("lambda_max")),
            lambda_std=_num(data.get("lambda_std")),
            verdict=str(data.get("verdict") or "unclear"),
            tau=None if tau is None else int(tau),
            tau_explanation=str(data.get("tau_explanation") or ""),
            reason=str(data.get("reason") or ""),
            advice=str(data.get("advice") or ""),
            extra={k: v for k, v in data.items() if k not in known},
        )

    @classmethod
    def read(cls, path: str | os.PathLike[str], session: str | None = None) -> LyapunovSummary:
        """Read lyapunov.json (InputError naming the file when missing or damaged)."""
        data = read_json(path, "Lyapunov summary (lyapunov.json)", session)
        if not isinstance(data, dict):
            from neurodsr.errors import InputError

            raise InputError("is not a JSON object", file=path, session=session)
        return cls.from_json(data)

    def to_json(self) -> dict[str, Any]:
        out = {k: v for k, v in dataclasses.asdict(self).items() if k != "extra"}
        return {**self.extra, **out}


@dataclass
class FitSummary:
    """What ``neurodsr fit`` writes to models/fit.json: how the ensemble was trained.

    Attributes
    ----------
    model : dict
        The model's config (name, latent_dim, hidden_dim, observation, seeds, ...).
    train : dict
        The :class:`neurodsr.training.TrainConfig` used (its ``tau`` is the trained interval).
    seeds : list of int
        The members' seeds.
    best_member : int
        Index of the member chosen by validation on the training part.
    best_seed : int
        Its seed.
    dt : float
        Model step, s.
    n_train : int
        Training samples (the first part of the data).
    forcing : str
        gtf, stf or none, as trained.
    alpha : float, str or None
        GTF strength (None unless GTF).
    tau : int or None
        The STF interval trained with, steps (None unless STF).
    tau_reason, forcing_reason : str
        Why that tau and that forcing, in words.
    sources : dict
        Where each chosen value came from: ``{"tau": "lyapunov.json", "forcing": "config"}``
        and so on (values: "config" for what the user set, "default", "lyapunov.json", or
        "estimated from the training part").
    validation_dstsp : list of float
        Each member's validation D_stsp at the state training kept (its best validation score).
    validation_score : list of float
        Each member's validation score at that state (:mod:`neurodsr.training.validation`:
        sqrt(D_stsp,val * D_H,val) of free runs from several data states against the training
        part, D_H,val with 1250-sample segments, lower than and not comparable with the
        test D_H; inf: the member's free runs
        or n-step predictions left the data's range at every validation). The best member is
        the one with the lowest.
    n_validation : int
        Samples at the end of the training part that were held out for validation (0: the
        training part itself was the validation series).
    range_check : dict
        :func:`neurodsr.training.validation.check_range` of the kept members, in the N
        channels: ``outside`` and ``pred_outside`` (fractions per member), ``why`` (why a
        member failed, "" when it passed; a failed member is never chosen unless all failed),
        ``run_steps``, ``n_starts``, ``space``.
    model_reason : str
        Why that model size and observation (:func:`neurodsr.training.sizing.size_model`).
    sizes : list of dict
        When sizes competed (``train_fit`` with ``model="auto"``, a budget of at least
        ``sizing.SIZE_COMPETITION_MINUTES``): each size's observation, model, latent, hidden,
        components, validation score (in the N channels; inf when its chosen seed left the
        range), ``val_dstsp`` and ``val_dh`` (the validation's D_stsp,val and D_H,val, not the
        test metrics), seconds, epochs and whether it was chosen.
    candidates : list of dict
        With ``forcing="auto"``: every forcing candidate
        (:class:`neurodsr.training.candidates.Candidate` as JSON: forcing, tau, alpha, label,
        suggested (the Lyapunov suggestion), note, scores (per seed), invalid, median); empty
        when the forcing was given.
    candidates_reason, selection_reason : str
        How the candidates were proposed, and which won and why.
    train_seconds : float
        Wall-clock seconds of training (all runs, a resumed run's earlier part included).
    epochs_run : int
    stopped : str
        Why training ended (completed, time budget, diverged).
    versions : dict
        Library versions.
    """

    model: dict[str, Any]
    train: dict[str, Any]
    seeds: list[int]
    best_member: int
    best_seed: int
    dt: float
    n_train: int
    forcing: str
    alpha: float | str | None
    tau: int | None
    tau_reason: str = ""
    forcing_reason: str = ""
    sources: dict[str, str] = field(default_factory=dict)
    validation_dstsp: list[float] = field(default_factory=list)
    validation_score: list[float] = field(default_factory=list)
    n_validation: int = 0
    range_check: dict[str, Any] = field(default_factory=dict)
    sizes: list[dict[str, Any]] = field(default_factory=list)
    model_reason: str = ""
    candidates: list[dict[str, Any]] = field(default_factory=list)
    candidates_reason: str = ""
    selection_reason: str = ""
    train_seconds: float = 0.0
    epochs_run: int = 0
    stopped: str = ""
    versions: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FitSummary:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    @classmethod
    def read(cls, path: str | os.PathLike[str], session: str | None = None) -> FitSummary:
        data = read_json(path, "fit summary (models/fit.json)", session)
        try:
            return cls.from_json(data)
        except TypeError as err:
            from neurodsr.errors import InputError

            raise InputError(
                f"is not a fit summary ({err})",
                file=path,
                session=session,
                hint="run `neurodsr fit` (the train rule) again",
            ) from err


# --------------------------------------------------------------------------- status / summary
_ERROR_LINE = re.compile(r"(neurodsr \w+: error: .*|\w*Error: .*|Error .*|error: .*)")


def _log_excerpt(path: Path, n_lines: int = 30) -> tuple[str, str]:
    """(the most telling error line, the last ``n_lines`` lines) of a log file."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return "", ""
    tail = "\n".join(lines[-n_lines:])
    for line in reversed(lines):
        m = _ERROR_LINE.search(line)
        if m and "Traceback" not in line:
            return m.group(0).strip(), tail
    return (lines[-1].strip() if lines else ""), tail


def session_status(results: str | os.PathLike[str], session: str) -> dict[str, Any]:
    """Where a session stands: ``ok`` (report written), ``failed`` (a stage's log holds an
    error and its output is missing), ``incomplete`` (not run yet / still running).

    Returns a dict with ``status``, ``stage`` (the first stage without output), ``error``
    (the error line of its log), ``log`` (the log's path) and ``log_tail`` (its last lines).
    """
    layout = SessionLayout(Path(results), session)
    out: dict[str, Any] = {
        "session": session,
        "status": "ok",
        "stage": None,
        "error": "",
        "log": None,
        "log_tail": "",
    }
    for stage, name in STAGES:
        if layout.path(name).is_file():
            continue
        logfile = layout.log(stage)
        out["stage"] = stage
        if logfile.is_file():
            error, tail = _log_excerpt(logfile)
            out.update(status="failed", error=error, log=str(logfile), log_tail=tail)
        else:
            out.update(
                status="incomplete",
                error=f"not run: no {FILES[name]} and no log of the {stage} stage",
            )
        return out
    return out


def _json_or_none(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def summarize_sessions(
    results: str | os.PathLike[str], sessions: Sequence[str]
) -> list[dict[str, Any]]:
    """One row per session: its status and key numbers (metrics.json, then fit.json and
    lyapunov.json for what a session that stopped early has).

    Sessions that failed carry the failing stage, the error line and the log's tail; finished
    ones get their verdict ("ok", "check" or "diverged") and its reasons as ``status`` and
    ``health_reasons`` (:func:`neurodsr.report.status.apply_health`).
    """
    rows = []
    for session in sessions:
        layout = SessionLayout(Path(results), session)
        row = session_status(results, session)
        for k, v in (_json_or_none(layout.metrics) or {}).items():
            row.setdefault(k, v)
        fit = _json_or_none(layout.fit_summary)
        if fit is not None:
            for key in ("seeds", "best_seed", "epochs_run", "train_seconds", "forcing"):
                row.setdefault(key, fit.get(key))
        ly = _json_or_none(layout.lyapunov_json)
        if ly is not None:
            summary = LyapunovSummary.from_json(ly)
            row.setdefault("lambda_max_data", summary.lambda_max)
            row.setdefault("lyapunov_verdict", summary.verdict)
            row.setdefault("tau", summary.tau)
            row.setdefault("tau_suggested", summary.tau)
            row.setdefault("tau_suggested_reason", summary.tau_explanation)
        if row["status"] == "ok":
            # lazily: this module imports only the standard library (Snakemake loads it by path)
            from neurodsr.report.status import apply_health

            apply_health(row)
        rows.append(row)
    return rows
