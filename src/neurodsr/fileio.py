"""Atomic writing of results: a temporary file in the same folder, then a rename.

A crash, a full disk or a killed job never leaves a half-written output behind: the target
either holds the previous complete file or the new complete file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import xarray as xr

from neurodsr.provenance import netcdf_safe

__all__ = ["atomic_path", "read_dataset", "write_dataset", "write_json"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(target: str | os.PathLike[str], suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` on success.

    On any exception the temporary file is removed and ``target`` is left untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=suffix or target.suffix or ".tmp", dir=target.parent
    )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600; give the result the permissions a plain open() would (0666
        # less the umask), so labmates on a shared cluster can read it
        tmp_path.chmod(0o666 & ~_umask())
        os.replace(tmp_path, target)
    except BaseException:
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
