"""Interrupted stages (issue 14): Ctrl-C and SIGTERM end `neurodsr fit` with one line that says
whether a rerun resumes, exit status 130 / 143, and nothing half-written; `--json` writes the
printed metrics atomically (the workflow's rules use it instead of a shell redirect)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from neurodsr.dynamics.systems import lorenz63


def _fit_cmd(tmp_path: Path, *extra: str) -> list[str]:
    data = tmp_path / "lorenz.npy"
    if not data.exists():
        np.save(data, lorenz63(3000, dt=0.02, seed=1).values.astype(np.float32))
    return [
        sys.executable,
        "-m",
        "neurodsr.cli",
        "fit",
        str(data),
        "--dt",
        "0.02",
        "--seeds",
        "1",
        "--seq-len",
        "30",
        "--batch-size",
        "4",
        "--hidden",
        "8",
        "--threads",
        "1",
        "--no-progress",
        "--out",
        str(tmp_path / "out" / "fit.nc"),
        "--json",
        str(tmp_path / "out" / "fit.json"),
        *extra,
    ]


# a fit that runs until it is interrupted: no epoch limit to speak of and no early stop
_RUNS_ON = ("--epochs", "100000", "--patience", "0")


def _default_sigint() -> None:
    """In the child, before exec: SIGINT as a terminal delivers it. A test runner started in
    the background of a non-interactive shell inherits SIGINT ignored, Python then keeps it
    ignored, and the child would never see the Ctrl-C this test sends."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _interrupt(cmd: list[str], sig: int, ready: Path | None) -> tuple[int, str]:
    """Run ``cmd``; once a checkpoint.pt exists under the folder ``ready`` (or, without it,
    once training has started, as its log line says) send ``sig``; return the exit status and
    stderr."""
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_sigint,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, "")))
    reader.start()
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < 120 and proc.poll() is None:
            started = any("fitting" in line for line in lines)
            if (ready is not None and any(ready.rglob("checkpoint.pt"))) or (
                ready is None and started
            ):
                time.sleep(1.0)
                proc.send_signal(sig)
                break
            time.sleep(0.1)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        reader.join(30)
    return proc.returncode, "".join(lines)


@pytest.mark.parametrize(
    "sig, code, forcing",
    [(signal.SIGINT, 130, "gtf"), (signal.SIGTERM, 143, "gtf"), (signal.SIGINT, 130, "auto")],
)
def test_interrupted_fit_says_one_line_and_resumes(tmp_path, sig, code, forcing):
    # auto on this chaotic series: the forcing candidates, whose checkpoint is in a subfolder
    ckpt = tmp_path / "checkpoints"
    cmd = _fit_cmd(
        tmp_path,
        *_RUNS_ON,
        "--forcing",
        forcing,
        "--checkpoint-dir",
        str(ckpt),
        "--checkpoint-every",
        "1",
    )
    rc, err = _interrupt(cmd, sig, ckpt)
    assert rc == code, err[-3000:]
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    last = err.strip().splitlines()[-1]
    assert (
        last == f"neurodsr fit: {'interrupted' if code == 130 else 'terminated (SIGTERM)'}; "
        f"rerun resumes from the checkpoint in {ckpt}"
    )
    out = tmp_path / "out"
    assert not out.exists() or not any(out.iterdir())  # nothing, not even a temporary
    assert [p.relative_to(ckpt).as_posix() for p in ckpt.rglob("*") if p.is_file()] == [
        "checkpoint.pt" if forcing == "gtf" else "candidates/checkpoint.pt"
    ]


def test_interrupt_before_any_checkpoint_says_a_rerun_starts_afresh(tmp_path):
    rc, err = _interrupt(_fit_cmd(tmp_path, *_RUNS_ON), signal.SIGINT, None)
    assert rc == 130, err[-3000:]
    assert "Traceback" not in err
    assert "starts afresh" in err.strip().splitlines()[-1]


def test_fit_json_is_written_atomically_and_matches_stdout(tmp_path):
    res = subprocess.run(
        _fit_cmd(tmp_path, "--epochs", "2"), capture_output=True, text=True, timeout=300
    )
    assert res.returncode == 0, res.stderr[-3000:]
    printed = json.loads(res.stdout.strip().splitlines()[-1])
    written = json.loads((tmp_path / "out" / "fit.json").read_text())
    assert written["D_stsp"] == printed["D_stsp"] and written["epochs_run"] == 2
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]
