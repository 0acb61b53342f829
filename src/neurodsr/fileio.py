"""Atomic writing of results: a temporary file in the same folder, then a rename.

A crash, a full disk or a killed job never leaves a half-written output behind: the target
either holds the previous complete file or the new complete file.

Temporary files are hidden and unmistakable: ``.{target name}.neurodsr-tmp-{host}-{pid}-{random}
{suffix}`` in the target's folder. Any exception (Ctrl-C and, through the command line's
handler, SIGTERM included) removes them. A SIGKILL cannot be caught, so the next write of the
same target removes the temporary files that dead processes on this host left behind (and any
older than :data:`STALE_SECONDS`, from other hosts of a cluster).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import xarray as xr

from neurodsr.provenance import netcdf_safe

__all__ = [
    "STALE_SECONDS",
    "TMP_MARK",
    "atomic_path",
    "read_dataset",
    "remove_stale_temporaries",
    "write_dataset",
    "write_json",
]

#: Marks the temporary files of :func:`atomic_path` (after ``.{target name}.``).
TMP_MARK = "neurodsr-tmp-"
#: A temporary file from another host is taken as abandoned after this long, s.
STALE_SECONDS = 24 * 3600.0


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _host() -> str:
    return "".join(c if c.isalnum() else "_" for c in socket.gethostname())[:40] or "host"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_stale_temporaries(target: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary files of :func:`atomic_path` for ``target`` that no live process
    owns: from a dead process on this host, or older than :data:`STALE_SECONDS`.

    Returns the paths removed. Temporary files of live writers are left alone.
    """
    target = Path(target)
    removed = []
    host = _host()
    for tmp in target.parent.glob(f".{target.name}.{TMP_MARK}*"):
        owner = tmp.name[len(f".{target.name}.{TMP_MARK}") :].split("-")
        try:
            pid = int(owner[1])
            same_host = owner[0] == host
        except (IndexError, ValueError):
            pid, same_host = -1, False
        try:
            old = time.time() - tmp.stat().st_mtime > STALE_SECONDS
        except OSError:
            continue
        if (same_host and pid != os.getpid() and not _alive(pid)) or old:
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


@contextmanager
def atomic_path(target: str | os.PathLike[str], suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` on success.

    On any exception the temporary file is removed and ``target`` is left untouched. The
    temporary file's name is unique and hidden (see the module docstring); those that killed
    writers left behind for the same target are removed first.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target)
    # The name is drawn before the file is created (not tempfile.mkstemp): a signal turned
    # into an exception (Ctrl-C, SIGTERM) between the file's creation and the `try` would
    # otherwise leave a temporary whose name nothing knows. Here the name is known first, and
    # the file is created inside the `try` (O_EXCL: never someone else's file).
    tmp_path: Path | None = target.parent / (
        f".{target.name}.{TMP_MARK}{_host()}-{os.getpid()}-{secrets.token_hex(8)}"
        f"{suffix or target.suffix or '.tmp'}"
    )
    try:
        try:
            fd = os.open(tmp_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            tmp_path = None  # not ours: never removed
            raise
        os.close(fd)
        yield tmp_path
        # the file was created 0600; give the result the permissions a plain open() would (0666
        # less the umask), so labmates on a shared cluster can read it
        tmp_path.chmod(0o666 & ~_umask())
        os.replace(tmp_path, target)
    except BaseException:
        if tmp_path is not None:
            tmp_path.unlink(missing_ok=True)
        raise


def _clean_attrs(attrs: dict[str, Any]) -> dict[str, Any]:
    return {str(k): netcdf_safe(v) for k, v in attrs.items()}


def write_dataset(ds: xr.Dataset, path: str | os.PathLike[str]) -> Path:
    """Write ``ds`` as NetCDF4 (h5netcdf engine, HDF5 underneath) atomically; return the path.

    Attrs that NetCDF cannot hold (dicts, lists, None, bools) are stored as JSON/str/int.
    """
    ds = ds.copy(deep=False)
    ds.attrs = _clean_attrs(ds.attrs)
    for name in list(ds.variables):
        ds[name].attrs = _clean_attrs(ds[name].attrs)
    with atomic_path(path, suffix=".nc") as tmp:
        ds.to_netcdf(tmp, engine="h5netcdf")
    return Path(path)


def read_dataset(path: str | os.PathLike[str]) -> xr.Dataset:
    """Read a NetCDF4 file written by :func:`write_dataset` fully into memory."""
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        return ds.load()


def write_json(obj: Any, path: str | os.PathLike[str], default: Callable | None = str) -> Path:
    """Write ``obj`` as indented JSON atomically; return the path."""
    with atomic_path(path, suffix=".json") as tmp:
        tmp.write_text(json.dumps(obj, indent=2, default=default, sort_keys=True) + "\n")
    return Path(path)
