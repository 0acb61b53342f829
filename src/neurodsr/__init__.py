"""neurodsr: dynamical-systems reconstruction from neural recordings with forced RNNs
(generalized teacher forcing by default, sparse teacher forcing as an option).

The public Python API:

>>> from neurodsr import fit, load_fit
>>> from neurodsr.dynamics.systems import lorenz63
>>> x = lorenz63(20_000, dt=0.01).values         # array (time, dims)
>>> result = fit(x, dt=0.01)                     # doctest: +SKIP
>>> result.metrics["D_stsp"]                     # doctest: +SKIP
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("neurodsr")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["FitResult", "__version__", "fit", "load_fit"]


def __getattr__(name: str):
    # Lazy: `import neurodsr` stays cheap (no torch import) for readers and the CLI's --help.
    if name in {"fit", "load_fit", "FitResult"}:
        from neurodsr import api

        return getattr(api, name)
    raise AttributeError(f"module 'neurodsr' has no attribute {name!r}")
