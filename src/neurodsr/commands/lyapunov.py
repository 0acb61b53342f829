"""``neurodsr lyapunov DATA --dt DT [--method kantz|rosenstein|spectrum] [--out LYAP.nc]``:
lambda_max of a recording (with a surrogate-backed verdict), optionally its spectrum, and tau.

Prints one JSON line (lambda_max per unit time and per step, tau, verdict, fit range,
embedding, advice) and writes the divergence curve and its fit to LYAP.nc.
"""

from __future__ import annotations

import argparse

ORDER = 30


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``lyapunov`` subcommand."""
    p = subparsers.add_parser(
        "lyapunov",
        help="largest Lyapunov exponent of the data -> forcing interval tau = ln2 / lambda_max",
        description="Estimate lambda_max of a recording (delay embedding or leading principal "
        "components, Kantz or Rosenstein divergence curve, automatic fit range, bootstrap "
        "uncertainty) and choose the forcing interval tau = ln 2 / lambda_max (per step). "
        "Prints one JSON line; --out writes the curve and its fit as NetCDF.",
    )
    p.add_argument(
        "data",
        help="series of shape (time,) or (time, dims): .npy, .csv (one column per dim), or .nc "
        "(variable 'x', e.g. preprocessed.nc, or the only data variable)",
    )
    p.add_argument(
        "--dt",
        type=float,
        default=None,
        help="sampling interval in time units (default: the 'dt' attr of a .nc file)",
    )
    p.add_argument(
        "--method",
        choices=["kantz", "rosenstein", "spectrum"],
        default="kantz",
        help="divergence curve for lambda_max (kantz, rosenstein); 'spectrum' adds the whole "
        "Lyapunov spectrum from local Jacobians in the embedding (Eckmann-Ruelle / "
        "Sano-Sawada) to the Kantz estimate, which still sets the verdict and tau",
    )
    p.add_argument(
        "--surrogates",
        type=int,
        default=19,
        help="IAAFT surrogates behind the verdict (0: no test; 19 gives p >= 0.05)",
    )
    p.add_argument(
        "--cross-check",
        choices=["jacobian", "none"],
        default="jacobian",
        help="second estimate of lambda_max from local Jacobians in the embedding (default): "
        "'chaotic' only where it and the divergence curve agree within x1.5 (their geometric "
        "mean is reported), 'unclear' where they disagree; 'none': the divergence slope alone",
    )
    p.add_argument(
        "--noise-reduction",
        choices=["auto", "simple", "none"],
        default="auto",
        help="Schreiber's simple nonlinear noise reduction (radius from the noise level "
        "estimated on the data) before the local Jacobians of the cross-check and of --method "
        "spectrum: 'auto' (default) where the series is not low-passed and embedded at delay "
        "1 (maps; observation noise shrinks least-squares Jacobians), 'simple' always, "
        "'none' never. The divergence curve never uses it",
    )
    p.add_argument(
        "--zero-one",
        choices=["on", "off"],
        default="on",
        help="the 0-1 test for chaos (Gottwald & Melbourne, subsampled at the embedding delay): "
        "reported as zero_one_K (~1 chaotic or noise, ~0 regular); it decides only where the "
        "divergence curve does not grow (default on)",
    )
    p.add_argument(
        "--all-samples",
        action="store_true",
        help="for a preprocessed.nc: use the test part too (default: the training part only, "
        "since tau is a training setting)",
    )
    p.add_argument("--out", default=None, help="write the curve and fit here (LYAP.nc)")
    p.add_argument(
        "--json",
        default=None,
        help="also write the printed summary to this JSON file (atomically: never left "
        "half-written, unlike a shell redirect)",
    )
    p.add_argument("--delay", type=int, default=None, help="embedding delay, samples")
    p.add_argument("--dim", type=int, default=None, help="embedding dimension (lags)")
    p.add_argument("--theiler", type=int, default=None, help="Theiler window, samples")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tau-min", type=int, default=2)
    p.add_argument("--tau-max", type=int, default=200)
    p.add_argument(
        "--not-chaotic",
        choices=["tau_max", "bptt"],
        default="tau_max",
        help="tau for non-chaotic data: tau_max, or none (plain BPTT)",
    )
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Estimate lambda_max of ``args.data``, print the JSON line, write ``args.out``; return 0."""
    import json

    from neurodsr.commands._data import load_array
    from neurodsr.dynamics.tau import estimate_tau
    from neurodsr.errors import InputError
    from neurodsr.fileio import write_dataset, write_json
    from neurodsr.provenance import provenance_attrs

    data = load_array(args.data)
    x = data.values
    if data.n_train is not None and not args.all_samples:
        # tau is a training setting: estimate it from the training part only (no test leak)
        x = x[: data.n_train]
    dt = args.dt if args.dt is not None else data.dt
    if dt is None:
        raise InputError("no sampling interval", file=args.data, hint="pass --dt")
    try:
        _, result = estimate_tau(
            x,
            dt,
            method="kantz" if args.method == "spectrum" else args.method,
            surrogates=args.surrogates,
            cross_check=args.cross_check,
            noise_reduction=args.noise_reduction,
            zero_one=args.zero_one == "on",
            delay=args.delay,
            dim=args.dim,
            theiler=args.theiler,
            seed=args.seed,
            tau_min=args.tau_min,
            tau_max=args.tau_max,
            not_chaotic=args.not_chaotic,
        )
    except InputError as err:
        if err.file is None:
            raise InputError(err.problem, file=args.data, hint=err.hint) from None
        raise
    summary = result.summary()
    spectrum = None
    if args.method == "spectrum":
        from neurodsr.dynamics.data_spectrum import spectrum_from_data

        try:
            spectrum = spectrum_from_data(
                x, dt, delay=args.delay, dim=args.dim, theiler=args.theiler, seed=args.seed,
                noise_reduction=args.noise_reduction,
            )  # fmt: skip
        except InputError as err:
            raise InputError(err.problem, file=args.data, hint=err.hint) from None
        summary["spectrum"] = spectrum.summary()
    if args.out:
        ds = result.to_dataset()
        if spectrum is not None:
            ds["data_spectrum"] = (
                "exponent",
                spectrum.exponents,
                {"long_name": "Lyapunov spectrum from local Jacobians", "units": "1/time"},
            )
            ds["data_spectrum_std"] = ("exponent", spectrum.std, {"units": "1/time"})
        ds.attrs.update(provenance_attrs(stage="lyapunov", input=str(args.data), **ds.attrs))
        write_dataset(ds, args.out)
        summary["out"] = str(args.out)
    text = json.dumps(summary, sort_keys=True, allow_nan=False)
    if args.json:
        write_json(json.loads(text), args.json)
    print(text)
    return 0
