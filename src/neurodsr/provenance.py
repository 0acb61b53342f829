"""Provenance: library versions and run information recorded in the attrs of every output."""

from __future__ import annotations

import datetime as _dt
import importlib.metadata as _md
import json
import platform
from collections.abc import Iterable, Mapping
from typing import Any

#: Libraries whose versions go into every file neurodsr writes.
CORE_LIBRARIES: tuple[str, ...] = ("neurodsr", "torch", "numpy", "xarray", "scipy")


def library_versions(extra: Iterable[str] = ()) -> dict[str, str]:
    """Return ``{library: version}`` for the core libraries and any ``extra`` ones.

    Libraries that are not installed are reported as ``"not installed"``.
    """
    out: dict[str, str] = {}
    for name in (*CORE_LIBRARIES, *extra):
        try:
            out[name] = _md.version(name)
        except _md.PackageNotFoundError:
            out[name] = "not installed"
    return out


def provenance_attrs(extra_libraries: Iterable[str] = (), **info: Any) -> dict[str, Any]:
    """Return netCDF-safe attrs: ``version_<lib>`` for each library, python, time, and ``info``.

    Values in ``info`` that are not str/int/float are stored as JSON strings so that every
    attr survives a round trip through NetCDF4.
    """
    attrs: dict[str, Any] = {
        f"version_{k}": v for k, v in library_versions(extra_libraries).items()
    }
    attrs["version_python"] = platform.python_version()
    attrs["created"] = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    for key, value in info.items():
        attrs[key] = netcdf_safe(value)
    return attrs


def netcdf_safe(value: Any) -> Any:
    """Return ``value`` as something NetCDF4 attrs accept (str, number, or JSON string)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str | int | float):
        return value
    if value is None:
        return "none"
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, default=str, sort_keys=True)
    return str(value)
