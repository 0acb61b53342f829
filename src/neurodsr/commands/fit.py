"""``neurodsr fit``: train forced RNNs on the first part of a series (and, with ``--out``,
score them on its held-out last part, as ``neurodsr evaluate`` does)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from neurodsr.training.defaults import FIT_DEFAULTS

ORDER = 40

MODELS = ["auto", "shplrnn", "plrnn", "clipped_shplrnn", "dendplrnn", "rnn", "lstm", "gru"]


def _tau(value: str) -> int | str | None:
    if value in ("auto", "none", "None"):
        return None if value.lower() == "none" else "auto"
    try:
        tau = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"tau must be an integer, 'auto' or 'none': {value!r}"
        ) from None
    if tau < 1:
        raise argparse.ArgumentTypeError("tau must be >= 1")
    return tau


def _minutes(value: str) -> float | None:
    """--max-minutes: minutes > 0, or 'none' (no budget)."""
    if value.lower() == "none":
        return None
    minutes = float(value)
    if minutes <= 0:
        raise argparse.ArgumentTypeError("max-minutes must be > 0 (or 'none': no budget)")
    return minutes


def _components(value: str) -> int | float | None:
    """--components: a number of principal components (an integer >= 1), a share of the
    variance in (0, 1), or 'none' (the rule)."""
    if value.lower() == "none":
        return None
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"components must be a number of principal components (e.g. 8), a share of the "
            f"variance in (0, 1) (e.g. 0.95) or 'none': {value!r}"
        ) from None
    if number.is_integer() and number >= 1:
        return int(number)
    if 0 < number < 1:
        return number
    raise argparse.ArgumentTypeError(
        f"components must be an integer >= 1 or a share of the variance in (0, 1): {value!r}"
    )


def _alpha(value: str) -> float | str:
    return value if value == "adaptive" else float(value)


#: The options that mirror the workflow's ``train`` section (and ``lyapunov.tau``): key,
#: argparse keywords. Defaults come from FIT_DEFAULTS; tests/test_defaults.py checks the
#: schema against both.
TRAIN_OPTIONS: tuple[tuple[str, dict[str, Any]], ...] = (
    (
        "tau",
        dict(
            type=_tau,
            help="STF forcing interval in steps, 'auto' (default: the tau of --lyapunov, else "
            "ln2/lambda_max from the training part; with GTF only compared with the model's) "
            "or 'none' (plain BPTT)",
        ),
    ),
    (
        "model",
        dict(
            choices=MODELS,
            help="auto (default): sized by the data's dims (training/sizing.py: the shPLRNN "
            "with M = N, L = 50 below 32 dims and for delay embeddings, else on the leading "
            "principal components); shplrnn: M = N, L = 50 at any N",
        ),
    ),
    ("latent", dict(type=int, help="latent size M (default: N, or the sizing rule with auto)")),
    ("hidden", dict(type=int, help="hidden width L (default: 50, or the sizing rule)")),
    (
        "observation",
        dict(
            choices=["auto", "identity", "affine", "pca"],
            help="observation model. auto (default): the sizing rule's with --model auto, else "
            "the model's own (identity when M >= N); identity: the first N latent units are "
            "the data (needs M >= N, a PL model); affine: x = B z + b; pca: the model is "
            "trained on the leading principal components of the training part and reads out "
            "the N channels through their loadings (--components)",
        ),
    ),
    (
        "components",
        dict(
            type=_components,
            help="with --observation pca (or auto, which it then makes pca): the number of "
            "principal components (e.g. 8), or the share of the training variance they "
            "explain (e.g. 0.95); default: the rule (90 %%, 4-32 components)",
        ),
    ),
    (
        "forcing",
        dict(
            choices=["auto", "select", "gtf", "stf", "none"],
            help="auto (default): stf when --tau is a number, none when --tau none, gtf when "
            "--alpha is given; else, where the data are chaotic, the STF/GTF candidates "
            "proposed by lambda_max, trained as one ensemble and chosen by validation, and "
            "gtf at 0.1 where not; select: the candidates (a fallback range without a "
            "lambda_max) whatever --tau, --alpha and the verdict say; gtf: every step with "
            "strength --alpha (default 0.1); stf: full forcing every --tau steps; none: "
            "plain BPTT",
        ),
    ),
    (
        "alpha",
        dict(
            type=_alpha,
            help="GTF strength in [0, 1] or 'adaptive' (given without --forcing: GTF at it; "
            "unset: 0.1 where GTF trains)",
        ),
    ),
    ("epochs", dict(type=int, help="upper bound on epochs")),
    ("seq_len", dict(type=int, help="training window, steps")),
    ("batch_size", dict(type=int)),
    ("lr", dict(type=float, help="initial learning rate")),
    ("grad_clip", dict(type=float)),
    ("seeds", dict(type=int, help="number of seeds trained together")),
    ("seed", dict(type=int, help="first seed")),
    (
        "max_minutes",
        dict(
            type=_minutes,
            help="training time budget, minutes (the lr decays over it), or 'none'",
        ),
    ),
    (
        "patience",
        dict(type=int, help="validations without improvement before training stops (0: never)"),
    ),
    (
        "val_fraction",
        dict(type=float, help="last part of the training part held out for validation"),
    ),
    ("device", dict(help="auto, cpu, cuda")),
    ("test_fraction", dict(type=float, help="held-out last part (ignored for preprocessed.nc)")),
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fit",
        help="train forced RNNs (GTF by default, or STF) on a series (time, dims) -> weights, "
        "fit summary, training log",
        description=(
            "Train forced RNNs (several seeds, trained together) on the first part of DATA. "
            "Writes the weights W.pt (--weights), the fit summary W.json (how it was trained, "
            "where tau and the forcing came from, the seed chosen by validation) and the "
            "training log W.log.json. With --out FIT.nc it also scores them on the held-out "
            "last part (as `neurodsr evaluate` does) and prints the metrics as one JSON line; "
            "else it prints the fit summary."
        ),
    )
    p.add_argument(
        "data",
        type=Path,
        help=".npy / .csv / .nc array (time, dims), or "
        "a preprocessed.nc (its dt and train/test split are used)",
    )
    p.add_argument(
        "--dt",
        type=float,
        default=None,
        help="sampling interval in s (or the system's time units); default: the file's dt attr",
    )
    p.add_argument(
        "--lyapunov",
        type=Path,
        default=None,
        help="lyapunov.json of `neurodsr lyapunov`: its tau is taken with --tau auto",
    )
    p.add_argument("--out", type=Path, default=None, help="FIT.nc: score and write it")
    p.add_argument("--weights", type=Path, default=None, help="default: FIT.pt beside --out")
    for key, kwargs in TRAIN_OPTIONS:
        p.add_argument(f"--{key.replace('_', '-')}", default=FIT_DEFAULTS[key], **kwargs)
    p.add_argument(
        "--n-generate",
        type=int,
        default=None,
        help="with --out: length of the scored free run (default: 5x the test part's length, "
        "at most 100000 steps)",
    )
    p.add_argument(
        "--checkpoint-every",
        type=int,
        default=50,
        help="epochs between checkpoints (with --checkpoint-dir)",
    )
    p.add_argument(
        "--refit-on-mismatch",
        action="store_true",
        help="with --tau auto and STF: if the trained model's lambda_max and the data's differ "
        "by more than a factor of 2, refit once with the tau the model suggests",
    )
    p.add_argument(
        "--checkpoint-dir",
        type=Path,
        default=None,
        help="checkpoints; a rerun with the same model, settings and data resumes from them",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads for torch (default: torch's; 1 is fastest for small models "
        "and when several jobs share the cores)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--json",
        type=Path,
        default=None,
        help="also write what is printed (the metrics, or without --out the fit summary) to "
        "this JSON file (atomically: never left half-written, unlike a shell redirect)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from neurodsr.api import fit, train_fit
    from neurodsr.commands._data import load_array
    from neurodsr.errors import InputError
    from neurodsr.fileio import write_dataset, write_json
    from neurodsr.session import LyapunovSummary

    if args.out is None and args.weights is None:
        raise InputError("nowhere to write", hint="give --weights W.pt, or --out FIT.nc")
    data = load_array(args.data)
    dt = args.dt if args.dt is not None else data.dt
    if dt is None:
        raise InputError(
            "no sampling interval: the file has no dt attr", file=args.data, hint="pass --dt"
        )
    lyapunov = LyapunovSummary.read(args.lyapunov) if args.lyapunov else None
    options = {key: getattr(args, key) for key, _ in TRAIN_OPTIONS}
    options.update(
        n_train=data.n_train,
        lyapunov=lyapunov,
        checkpoint_dir=args.checkpoint_dir,
        progress=not args.no_progress,
        refit_on_mismatch=args.refit_on_mismatch,
        threads=args.threads,
        checkpoint_every=args.checkpoint_every,
    )
    try:
        if args.out is not None:
            result = fit(data.values, dt, n_generate=args.n_generate, **options)
        else:
            result = train_fit(data.values, dt, **options)
    except InputError as err:
        if err.file is None:
            raise InputError(err.problem, file=args.data, hint=err.hint) from err
        raise
    weights = args.weights or args.out.with_suffix(".pt")
    files = result.write(weights)
    if args.out is None:
        summary = result.summary.to_json()
        if args.json is not None:
            write_json(summary, args.json, default=str)
        print(json.dumps(summary, default=str))
        return 0
    ds = result.to_dataset()
    if data.dim_names and len(data.dim_names) == ds.sizes["dim"]:
        ds = ds.assign_coords(dim=data.dim_names)
    ds.attrs["source_file"] = str(args.data)
    write_dataset(ds, args.out)
    metrics = dict(result.metrics)
    metrics.update(out=str(args.out), **{k: str(v) for k, v in files.items()})
    if args.json is not None:
        write_json(metrics, args.json, default=float)
    print(json.dumps(metrics, default=float))
    sys.stdout.flush()
    return 0
