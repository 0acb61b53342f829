"""``neurodsr evaluate SESSION_DIR``: compare a session's fitted model with its held-out data."""

from __future__ import annotations

import argparse
import logging

ORDER = 50

log = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``evaluate`` subcommand."""
    p = subparsers.add_parser(
        "evaluate",
        help="data vs fitted model: free runs, n-step predictions, Lyapunov spectrum, metrics "
        "-> reconstruction.nc, metrics.json",
        description="Evaluate the model fitted by `neurodsr fit` on a session's held-out data. "
        "Reads SESSION_DIR/preprocessed.nc, lyapunov.json, models/fit.nc, models/fit.pt and the "
        "training log in models/checkpoints; writes reconstruction.nc (data, free-running "
        "model, n-step predictions, the model's Lyapunov spectrum; metrics in attrs), "
        "metrics.json, models/log.json and models/config.json. Prints the metrics as JSON.",
    )
    p.add_argument("session_dir", help="a session's results folder, e.g. results/mouse1")
    p.add_argument(
        "--n-pred",
        type=int,
        default=20,
        help="horizon of the stored n-step predictions, steps (default 20)",
    )
    p.add_argument(
        "--vpt-threshold",
        type=float,
        default=0.5,
        help="normalised RMSE that ends a valid prediction (default 0.5)",
    )
    p.add_argument(
        "--vpt-horizon",
        type=int,
        default=1000,
        help="longest prediction checked, steps (default 1000)",
    )
    p.add_argument(
        "--spectrum-steps",
        type=int,
        default=5000,
        help="QR steps of the model's Lyapunov spectrum (default 5000)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Evaluate ``args.session_dir`` and write its outputs atomically; return 0."""
    import json
    from pathlib import Path

    from neurodsr.api import load_fit
    from neurodsr.errors import InputError
    from neurodsr.fileio import read_dataset, write_dataset, write_json
    from neurodsr.pipeline import evaluate_session, load_train_log, session_files

    root = Path(args.session_dir)
    session = root.name
    files = session_files(root.parent, session)
    for key in ("preprocessed", "lyapunov_json", "fit", "weights"):
        if not files[key].is_file():
            raise InputError(
                f"missing {files[key].name}",
                file=files[key],
                session=session,
                hint="run the earlier stages (ingest, preprocess, lyapunov, fit)",
            )
    try:
        pre = read_dataset(files["preprocessed"])
        fit_ds = read_dataset(files["fit"])
        lyap = json.loads(files["lyapunov_json"].read_text())
    except Exception as err:
        raise InputError(
            f"cannot read the stage outputs ({type(err).__name__}: {err})",
            file=root,
            session=session,
            hint="delete the damaged file and run its stage again",
        ) from err
    fitted = load_fit(files["weights"], device=args.device)
    recon, metrics = evaluate_session(
        pre,
        fit_ds,
        fitted,
        lyap,
        n_pred=args.n_pred,
        vpt_threshold=args.vpt_threshold,
        vpt_horizon=args.vpt_horizon,
        spectrum_steps=args.spectrum_steps,
        seed=args.seed,
    )
    metrics["session"] = session
    recon.attrs["session"] = session
    train_log = load_train_log(files["checkpoints"])
    write_json(
        train_log or {"epoch": [], "note": "no checkpoint with a training log found"},
        files["train_log"],
    )
    write_json(
        {
            "model": fitted.model.config(),
            "train": fitted.meta.get("train_config"),
            "tau": fitted.meta.get("tau"),
            "tau_reason": fitted.meta.get("tau_reason"),
            "best_seed": metrics["best_seed"],
            "dt": fitted.dt,
            "versions": fitted.meta.get("versions"),
        },
        files["model_config"],
    )
    write_dataset(recon, files["reconstruction"])
    write_json(metrics, files["metrics"])
    log.info(
        "%s: D_stsp %.3g (median %.3g, IQR %.3g), D_H %.3g, PE %.3g, lambda_max model %s vs "
        "data %s per s, VPT %.3g s",
        session,
        metrics.get("D_stsp") or float("nan"),
        metrics.get("D_stsp_median") or 0,
        metrics.get("D_stsp_iqr") or 0,
        metrics.get("D_H") or float("nan"),
        metrics.get("PE") or float("nan"),
        metrics.get("lambda_max_model"),
        metrics.get("lambda_max_data"),
        metrics["vpt_seconds"],
    )
    print(json.dumps(metrics, sort_keys=True, default=str))
    return 0
