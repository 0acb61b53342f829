"""A results folder's session written by hand, shared by the tests of the report and the index."""

from __future__ import annotations

import json
from pathlib import Path


def write_session(tmp_path: Path, name: str, metrics: dict, lyapunov: dict | None = None) -> None:
    """``tmp_path/name`` with placeholder outputs, the given metrics.json and lyapunov.json."""
    root = tmp_path / name
    for f in ("recording.nc", "preprocessed.nc", "models/fit.json", "report.html"):
        (root / f).parent.mkdir(parents=True, exist_ok=True)
        (root / f).write_text("{}")
    (root / "lyapunov.json").write_text(json.dumps(lyapunov or {}))
    (root / "metrics.json").write_text(json.dumps(metrics))
