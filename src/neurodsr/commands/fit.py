"""``neurodsr fit``: train forced RNNs on a series and score them on its held-out last part."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ORDER = 40


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


def _alpha(value: str) -> float | str:
    return value if value == "adaptive" else float(value)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fit",
        help="train forced RNNs (GTF by default, or STF) on a series (time, dims) and score them",
        description=(
            "Fit forced RNNs (several seeds, trained together) on the first part of DATA and "
            "score them on the held-out last part. FIT.nc holds test(time, dim), "
            "generated(generated_time, dim) (free run of the best seed, data units), every "
            "seed's run and metrics; the metrics are printed as one JSON line. The weights go "
            "to FIT.pt beside it, the training log per seed and the tau reasoning to "
            "FIT.log.json."
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
        "--tau",
        type=_tau,
        default="auto",
        help="STF forcing interval in steps, 'auto' (ln2/lambda_max from the data, "
        "default; with GTF only compared with the model's) or 'none' (plain BPTT)",
    )
    p.add_argument("--out", type=Path, required=True, help="FIT.nc to write")
    p.add_argument("--weights", type=Path, default=None, help="default: FIT.pt beside --out")
    p.add_argument(
        "--model",
        default="shplrnn",
        choices=["shplrnn", "plrnn", "clipped_shplrnn", "dendplrnn", "rnn", "lstm", "gru"],
    )
    p.add_argument("--latent", type=int, default=None, help="latent size M (default: dims)")
    p.add_argument("--hidden", type=int, default=None, help="hidden width L (default 50)")
    p.add_argument(
        "--forcing",
        default="gtf",
        choices=["gtf", "stf", "none"],
        help="gtf (default): every step with strength --alpha; stf: full forcing "
        "every --tau steps; none: plain BPTT",
    )
    p.add_argument("--alpha", type=_alpha, default=0.1, help="GTF strength or 'adaptive'")
    p.add_argument("--epochs", type=int, default=1000)
    p.add_argument("--seq-len", type=int, default=100, help="training window, steps")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=5e-3, help="initial learning rate")
    p.add_argument("--grad-clip", type=float, default=None)
    p.add_argument("--seeds", type=int, default=1, help="number of seeds trained together")
    p.add_argument("--seed", type=int, default=0, help="first seed")
    p.add_argument("--max-minutes", type=float, default=None, help="training time budget")
    p.add_argument("--test-fraction", type=float, default=0.2)
    p.add_argument(
        "--n-generate",
        type=int,
        default=None,
        help="length of the scored free run (default: the test part's length)",
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
        help="with --tau auto: if the trained model's lambda_max and the data's differ "
        "by more than a factor of 2, refit once with the tau the model suggests",
    )
    p.add_argument(
        "--checkpoint-dir",
        type=Path,
        default=None,
        help="checkpoints; a rerun with the same settings resumes from them",
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda")
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
        help="also write the printed metrics to this JSON file (atomically: never left "
        "half-written, unlike a shell redirect)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from neurodsr.api import fit
    from neurodsr.commands._data import load_array
    from neurodsr.errors import InputError
    from neurodsr.fileio import write_dataset, write_json

    data = load_array(args.data)
    dt = args.dt if args.dt is not None else data.dt
    if dt is None:
        raise InputError(
            "no sampling interval: the file has no dt attr", file=args.data, hint="pass --dt"
        )
    try:
        result = fit(
            data.values,
            dt,
            tau=args.tau,
            model=args.model,
            latent=args.latent,
            hidden=args.hidden,
            forcing=args.forcing,
            alpha=args.alpha,
            epochs=args.epochs,
            seeds=args.seeds,
            seed=args.seed,
            max_minutes=args.max_minutes,
            test_fraction=args.test_fraction,
            n_train=data.n_train,
            n_generate=args.n_generate,
            device=args.device,
            checkpoint_dir=args.checkpoint_dir,
            progress=not args.no_progress,
            seq_len=args.seq_len,
            batch_size=args.batch_size,
            lr=args.lr,
            grad_clip=args.grad_clip,
            refit_on_mismatch=args.refit_on_mismatch,
            threads=args.threads,
            checkpoint_every=args.checkpoint_every,
        )
    except InputError as err:
        if err.file is None:
            raise InputError(err.problem, file=args.data, hint=err.hint) from err
        raise
    ds = result.to_dataset()
    if data.dim_names and len(data.dim_names) == ds.sizes["dim"]:
        ds = ds.assign_coords(dim=data.dim_names)
    ds.attrs["source_file"] = str(args.data)
    write_dataset(ds, args.out)
    weights = args.weights or args.out.with_suffix(".pt")
    result.save(weights)
    log_path = weights.with_name(weights.stem + ".log.json")
    write_json({"train_log": result.log.to_dict(), **result.meta}, log_path)
    metrics = {k: v for k, v in result.metrics.items()}
    metrics.update(out=str(args.out), weights=str(weights), log=str(log_path))
    if args.json is not None:
        write_json(metrics, args.json, default=float)
    print(json.dumps(metrics, default=float))
    sys.stdout.flush()
    return 0
