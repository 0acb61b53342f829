"""Loading a (time, dims) array for the commands: .npy, .csv or .nc (a preprocessed.nc or a
file with a single data variable)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neurodsr.errors import InputError


@dataclass
class ArrayData:
    """A series loaded from disk: values (time, dims), and what the file said about itself."""

    values: np.ndarray
    dt: float | None = None
    n_train: int | None = None
    dim_names: list[str] | None = None


def load_array(path: str | Path) -> ArrayData:
    """Load DATA for ``neurodsr fit`` / ``neurodsr lyapunov``; errors name the file."""
    path = Path(path)
    if not path.exists():
        raise InputError("no such file", file=path, hint="check the path")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            values = np.load(path, allow_pickle=False)
            out = ArrayData(values)
        elif suffix in (".csv", ".txt"):
            try:
                values = np.loadtxt(path, delimiter=",", ndmin=2)
            except ValueError:  # a header row of names
                values = np.loadtxt(path, delimiter=",", ndmin=2, skiprows=1)
            out = ArrayData(values)
        elif suffix == ".nc":
            from neurodsr.fileio import read_dataset

            ds = read_dataset(path)
            if "x" in ds:
                var = ds["x"]
            elif len(ds.data_vars) == 1:
                var = next(iter(ds.data_vars.values()))
            else:
                raise InputError(
                    f"has variables {sorted(ds.data_vars)}; expected 'x' (a preprocessed.nc) or "
                    "exactly one variable",
                    file=path,
                )
            n_train = ds.attrs.get("n_train")
            dt = ds.attrs.get("dt", var.attrs.get("dt"))
            dims = [str(d) for d in var.coords["dim"].values] if "dim" in var.coords else None
            out = ArrayData(
                var.values,
                None if dt is None else float(dt),
                None if n_train is None else int(n_train),
                dims,
            )
        else:
            raise InputError(
                f"unknown file type {suffix!r}",
                file=path,
                hint="give a .npy, .csv or .nc array of shape (time, dims)",
            )
    except InputError:
        raise
    except Exception as err:
        raise InputError(f"cannot read the file: {err}", file=path) from err
    v = np.asarray(out.values)
    if v.ndim == 1:
        v = v[:, None]
    if v.ndim != 2 or not np.issubdtype(v.dtype, np.number):
        raise InputError(
            f"expected a numeric array of shape (time, dims), got {v.shape} {v.dtype}", file=path
        )
    out.values = v
    return out
