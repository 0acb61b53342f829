"""Plausibility checks on binary recordings whose header (or side files) give the length: a file
cut short by a failed copy must not ingest silently at a fraction of its length.

MNE and neo infer the number of samples of a BrainVision ``.eeg`` and of an OpenEphys
``continuous.dat`` from the file size alone, so a truncated file reads without a word. The
headers say more, and no library checks it, so it is done here:

- BrainVision: the ``.eeg`` size must be a whole number of samples (channels x bytes per
  value), match ``DataPoints`` when the ``.vhdr`` has it (BrainVision Analyzer writes it), and
  hold every marker of the ``.vmrk`` (a marker beyond the last sample means data are missing).
- OpenEphys binary: ``continuous.dat`` must hold as many samples as ``sample_numbers.npy``
  (or ``timestamps.npy``) lists, for ``num_channels`` channels of int16.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from pathlib import Path

import numpy as np

from neurodsr.errors import InputError

__all__ = ["check_brainvision_length", "check_openephys_lengths"]

_BV_BYTES = {"INT_16": 2, "UINT_16": 2, "INT_32": 4, "IEEE_FLOAT_32": 4}


def _truncated(
    problem: str, path: Path, allow: bool, session: str | None, what: str = "data file"
) -> None:
    if allow:
        warnings.warn(
            f"{path}: {problem}; reading what is there (--allow-truncated)",
            UserWarning,
            stacklevel=3,
        )
        return
    raise InputError(
        f"truncated {what}: {problem}",
        file=path,
        session=session,
        hint="re-copy or re-export the recording; to read what is there, pass --allow-truncated",
    )


def _ini(path: Path) -> dict[str, dict[str, str]]:
    sections: dict[str, dict[str, str]] = {}
    current = sections.setdefault("", {})
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            line = line.strip()
            if not line or line.startswith(";"):
                continue
            if line.startswith("[") and line.endswith("]"):
                current = sections.setdefault(line[1:-1].strip(), {})
            elif "=" in line:
                key, value = line.split("=", 1)
                current[key.strip()] = value.strip()
    return sections


def check_brainvision_length(
    vhdr: str | os.PathLike[str], *, allow_truncated: bool = False, session: str | None = None
) -> int | None:
    """Check a BrainVision ``.eeg`` against its ``.vhdr`` / ``.vmrk``; return its sample count.

    Parameters
    ----------
    vhdr : path
        The header file.
    allow_truncated : bool
        Warn instead of raising (CLI ``--allow-truncated``).

    Returns
    -------
    int or None
        Samples per channel in the ``.eeg``; None when the header cannot be checked (ASCII
        data, unknown binary format, data file missing -- the reader reports those).

    Raises
    ------
    InputError
        The ``.eeg`` ends inside a sample, is shorter than ``DataPoints``, or ends before the
        last marker.
    """
    vhdr = Path(vhdr)
    info = _ini(vhdr)
    common, binary = info.get("Common Infos", {}), info.get("Binary Infos", {})
    if common.get("DataFormat", "BINARY").upper() != "BINARY":
        return None
    nbytes = _BV_BYTES.get(binary.get("BinaryFormat", "").upper())
    try:
        n_ch = int(common["NumberOfChannels"])
    except (KeyError, ValueError):
        return None
    data = vhdr.parent / common.get("DataFile", vhdr.with_suffix(".eeg").name)
    if nbytes is None or n_ch < 1 or not data.is_file():
        return None
    size = data.stat().st_size
    frame = n_ch * nbytes
    n = size // frame
    if size % frame:
        _truncated(
            f"{data.name} is {size} bytes, not a whole number of samples of {n_ch} channels x "
            f"{nbytes} bytes (it ends inside sample {n + 1})",
            data,
            allow_truncated,
            session,
        )
    points = common.get("DataPoints")
    if points is not None and points.strip().isdigit() and int(points) > n:
        _truncated(
            f"{data.name} holds {n} samples but {vhdr.name} says DataPoints={points}",
            data,
            allow_truncated,
            session,
        )
    marker = vhdr.parent / common.get("MarkerFile", vhdr.with_suffix(".vmrk").name)
    if marker.is_file():
        last = 0
        with open(marker, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                m = re.match(r"\s*Mk\d+\s*=\s*[^,]*,[^,]*,\s*(\d+)", line)
                if m:
                    last = max(last, int(m.group(1)))  # 1-based sample position
        if last > n:
            _truncated(
                f"{data.name} holds {n} samples but {marker.name} has a marker at sample {last}",
                data,
                allow_truncated,
                session,
            )
    return n


def check_openephys_lengths(
    path: str | os.PathLike[str], *, allow_truncated: bool = False, session: str | None = None
) -> None:
    """Check every ``continuous.dat`` under an OpenEphys binary recording against its
    ``sample_numbers.npy`` (or ``timestamps.npy``) and ``structure.oebin``.

    Raises
    ------
    InputError
        A ``continuous.dat`` holds fewer samples than its sample numbers list, or ends inside
        a sample.
    """
    path = Path(path)
    root = path.parent if path.name == "structure.oebin" else path
    for oebin in sorted(root.glob("**/structure.oebin")) if root.is_dir() else []:
        try:
            streams = json.loads(oebin.read_text(encoding="utf-8")).get("continuous", [])
        except (OSError, ValueError):
            continue  # neo reports an unreadable oebin
        for st in streams:
            folder = oebin.parent / "continuous" / str(st.get("folder_name", "")).strip("/")
            dat = folder / "continuous.dat"
            n_ch = int(st.get("num_channels", 0) or 0)
            if not dat.is_file() or n_ch < 1:
                continue
            size = dat.stat().st_size
            frame = 2 * n_ch
            n = size // frame
            if size % frame:
                _truncated(
                    f"{dat.name} is {size} bytes, not a whole number of samples of {n_ch} "
                    f"int16 channels",
                    dat,
                    allow_truncated,
                    session,
                )
            for side in ("sample_numbers.npy", "timestamps.npy"):
                if (folder / side).is_file():
                    try:
                        expected = np.load(folder / side, mmap_mode="r").shape[0]
                    except Exception:  # unreadable side file: neo reports it
                        break
                    if expected > n:
                        _truncated(
                            f"{dat.name} holds {n} samples but {side} lists {expected}",
                            dat,
                            allow_truncated,
                            session,
                        )
                    break
