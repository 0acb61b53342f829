"""``neurodsr preprocess recording.nc --out preprocessed.nc``: model-ready data."""

from __future__ import annotations

import argparse
import logging

ORDER = 20

log = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``preprocess`` subcommand."""
    p = subparsers.add_parser(
        "preprocess",
        help="rates, filtering, dF/F, z-scoring, PCA, train/test split -> preprocessed.nc",
        description="Preprocess a recording.nc per modality (spikes: rates/counts; continuous: "
        "resample, notch, band-pass, re-reference; calcium: neuropil, dF/F), then z-score, "
        "optionally PCA and delay-embed, and split into train/test; writes preprocessed.nc.",
    )
    p.add_argument("recording", help="recording.nc written by `neurodsr ingest`")
    p.add_argument(
        "--config",
        default=None,
        help="YAML or JSON file of preprocessing options (flat, or a 'preprocess:' "
        "section); see neurodsr.preprocess.PreprocessConfig",
    )
    p.add_argument("--out", required=True, help="output preprocessed.nc")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Preprocess ``args.recording`` into ``args.out`` (atomic write); return 0."""
    from pathlib import Path

    from neurodsr.errors import InputError
    from neurodsr.fileio import read_dataset, write_dataset
    from neurodsr.preprocess import load_config, preprocess

    cfg = load_config(args.config)
    path = Path(args.recording)
    if not path.is_file():
        raise InputError("file not found", file=path, hint="run `neurodsr ingest` first")
    try:
        rec = read_dataset(path)
    except Exception as err:
        raise InputError(
            f"cannot read the recording ({type(err).__name__}: {err})",
            file=path,
            hint="the file is probably truncated; run `neurodsr ingest` again",
        ) from err
    pre = preprocess(rec, cfg)
    write_dataset(pre, args.out)
    _record_outcome(args.config, pre)
    log.info(
        "preprocessed %s: x %s at dt = %g s, n_train %d -> %s",
        path,
        tuple(pre["x"].shape),
        pre.attrs["dt"],
        pre.attrs["n_train"],
        args.out,
    )
    return 0


def _record_outcome(config, pre) -> None:
    """Add what preprocessing dropped and applied to a JSON options file (the workflow's
    preprocess.json), beside its ``preprocess`` section, so that it says which channels were
    left out and why. Other config files are left alone."""
    import json
    from pathlib import Path

    from neurodsr.fileio import write_json

    if config is None or Path(config).suffix.lower() != ".json":
        return
    try:
        values = json.loads(Path(config).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if not isinstance(values, dict) or not isinstance(values.get("preprocess"), dict):
        return
    values["dropped_channels"] = json.loads(pre.attrs["dropped_channels"])
    values["steps"] = json.loads(pre.attrs["steps"])
    write_json(values, config)
