"""Read ``.npy`` files that hold a pickled Python object (suite2p's ``ops.npy``) without running
code from the file.

``numpy.load(..., allow_pickle=True)`` unpickles the payload, and a pickle can call any
importable function (a ``__reduce__`` returning ``(os.system, ("...",))``): a crafted folder
would run code on ingest. No library reads the object payload of a ``.npy`` file safely, so it
is done here with the standard library's documented remedy ("Restricting Globals" in the
:mod:`pickle` docs): an :class:`pickle.Unpickler` whose ``find_class`` only hands out the few
numpy callables that rebuild arrays, dtypes and scalars (and pathlib's path classes, which
suite2p may store). Everything else a pickle can build
without globals is plain data (dict, list, tuple, str, bytes, int, float, bool, None). After
loading, the object is checked once more to be such plain data (with numpy arrays of numbers,
strings or bools, and numpy scalars).
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path, PurePath
from typing import Any

import numpy as np

__all__ = ["UnsafeContentError", "load_plain_npy"]

#: (module, name) pairs a numpy pickle needs; module names of numpy 1.x and 2.x.
_ALLOWED = {
    (mod, name)
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray")
    for name in ("_reconstruct", "scalar")
} | {("numpy", "ndarray"), ("numpy", "dtype"), ("collections", "OrderedDict")}
#: Paths as suite2p may store them (constructing a path object does no I/O).
_PATHS = {("pathlib", n) for n in ("PosixPath", "WindowsPath", "PurePosixPath", "PureWindowsPath")}


class UnsafeContentError(ValueError):
    """The pickled payload refers to something other than plain data."""


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED or (module, name) in _PATHS:
            return super().find_class(module, name)
        if module.startswith("numpy") and name.endswith("DType"):  # numpy >= 1.25 dtype classes
            return super().find_class(module, name)
        raise UnsafeContentError(f"refers to {module}.{name}, which is not plain data")

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafeContentError("uses persistent ids, which are not plain data")


def _check_plain(obj: Any, depth: int = 0) -> None:
    if depth > 50:
        raise UnsafeContentError("is nested too deeply")
    if obj is None or isinstance(obj, bool | int | float | complex | str | bytes | np.generic):
        if isinstance(obj, np.generic) and obj.dtype.kind == "O":
            raise UnsafeContentError("holds a numpy object scalar")
        return
    if isinstance(obj, PurePath):
        return
    if isinstance(obj, dict):
        for k, v in obj.items():
            _check_plain(k, depth + 1)
            _check_plain(v, depth + 1)
        return
    if isinstance(obj, list | tuple):
        for v in obj:
            _check_plain(v, depth + 1)
        return
    if isinstance(obj, np.ndarray) and type(obj) is np.ndarray:
        if obj.dtype.kind == "O":
            for v in obj.ravel():
                _check_plain(v, depth + 1)
        elif obj.dtype.kind not in "biufcSUV?":
            raise UnsafeContentError(f"holds an array of dtype {obj.dtype}")
        return
    raise UnsafeContentError(f"holds an object of type {type(obj).__name__}")


def load_plain_npy(path: str | os.PathLike[str]) -> Any:
    """Load a ``.npy`` file; an object payload is unpickled without executing code.

    Parameters
    ----------
    path : path
        A ``.npy`` file (any version of the format).

    Returns
    -------
    numpy.ndarray or object
        Numeric/string arrays as ``numpy.load`` gives them; an object array of shape ``()``
        (``np.save(path, np.array(some_dict))``, suite2p's ops.npy) is returned as its item;
        other object arrays as object arrays of plain data.

    Raises
    ------
    UnsafeContentError
        The payload refers to a callable or class other than numpy's array/dtype/scalar
        builders, or holds anything but plain data; nothing from it has run.
    ValueError, OSError
        Not a ``.npy`` file, or truncated.
    """
    with open(Path(path), "rb") as fh:
        version = np.lib.format.read_magic(fh)
        read_header = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0
        )
        # the header is a Python literal, parsed by numpy with ast.literal_eval (no code runs)
        shape, _fortran, dtype = read_header(fh)
        if not dtype.hasobject:
            fh.seek(0)
            return np.load(fh, allow_pickle=False)
        payload = fh.read()
    try:
        arr = _PlainUnpickler(io.BytesIO(payload), encoding="latin1").load()
    except UnsafeContentError:
        raise
    except Exception as err:  # a truncated or malformed pickle
        raise ValueError(
            f"cannot unpickle the object payload ({type(err).__name__}: {err})"
        ) from err
    if not isinstance(arr, np.ndarray):
        raise UnsafeContentError(f"holds an object of type {type(arr).__name__}, not an array")
    _check_plain(arr)
    if arr.shape != tuple(shape):
        raise ValueError(f"payload of shape {arr.shape}, header says {tuple(shape)}")
    return arr.item() if arr.shape == () else arr
