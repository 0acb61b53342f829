"""``neurodsr evaluate SESSION_DIR``: score a session's fitted model on its held-out data."""

from __future__ import annotations

import argparse
import logging

from neurodsr.training.defaults import EVALUATE_DEFAULTS

ORDER = 50

log = logging.getLogger(__name__)

#: The options that mirror the workflow's ``evaluate`` section: key, argparse keywords.
#: Defaults come from EVALUATE_DEFAULTS; tests/test_defaults.py checks the schema against both.
EVALUATE_OPTIONS = (
    ("n_pred", dict(type=int, help="n of PE(n) and of the stored n-step predictions, steps")),
    ("vpt_threshold", dict(type=float, help="normalised RMSE that ends a valid prediction")),
    ("vpt_horizon", dict(type=int, help="longest prediction checked, steps")),
    ("spectrum_steps", dict(type=int, help="QR steps of the model's Lyapunov spectrum")),
    (
        "max_minutes",
        dict(
            type=float,
            help="time budget of the evaluation, minutes (default: the training budget in "
            "models/fit.json); the model's spectrum takes fewer QR steps to keep it",
        ),
    ),
)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``evaluate`` subcommand."""
    p = subparsers.add_parser(
        "evaluate",
        help="data vs fitted model: free runs, scores, n-step predictions, Lyapunov spectrum "
        "-> reconstruction.nc, metrics.json",
        description="Score the model fitted by `neurodsr fit` on a session's held-out data (the "
        "only place that scores; see neurodsr.session for the files). Reads "
        "SESSION_DIR/preprocessed.nc, lyapunov.json, models/fit.pt and models/fit.json; writes "
        "reconstruction.nc (data, free-running model, n-step predictions, the model's "
        "Lyapunov spectrum; metrics in attrs) and metrics.json. Prints the metrics as JSON.",
    )
    p.add_argument("session_dir", help="a session's results folder, e.g. results/mouse1")
    for key, options in EVALUATE_OPTIONS:
        kwargs = dict(options)
        default = EVALUATE_DEFAULTS[key]
        text = kwargs.pop("help") + ("" if default is None else f" (default {default})")
        p.add_argument(f"--{key.replace('_', '-')}", default=default, help=text, **kwargs)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Evaluate ``args.session_dir`` and write its outputs atomically; return 0."""
    import json

    from neurodsr.api import load_fit, training_facts
    from neurodsr.errors import InputError
    from neurodsr.fileio import read_dataset, write_dataset, write_json
    from neurodsr.metrics.evaluate import evaluate_fit
    from neurodsr.session import FitSummary, LyapunovSummary, SessionLayout

    layout = SessionLayout.of(args.session_dir)
    session = layout.session
    for key in ("preprocessed", "lyapunov_json", "weights", "fit_summary"):
        if not layout.path(key).is_file():
            raise InputError(
                f"missing {layout.path(key).name}",
                file=layout.path(key),
                session=session,
                hint="run the earlier stages (ingest, preprocess, lyapunov, fit)",
            )
    try:
        pre = read_dataset(layout.preprocessed)
    except Exception as err:
        raise InputError(
            f"cannot read the preprocessed data ({type(err).__name__}: {err})",
            file=layout.preprocessed,
            session=session,
            hint="delete the damaged file and run its stage again",
        ) from err
    lyap = LyapunovSummary.read(layout.lyapunov_json, session)
    summary = FitSummary.read(layout.fit_summary, session)
    fitted = load_fit(layout.weights, device=args.device)
    budget = args.max_minutes
    if budget is None:
        budget = summary.train.get("max_minutes")
    ev = evaluate_fit(
        fitted,
        pre["x"].values,
        int(pre.attrs["n_train"]),
        float(pre.attrs["dt"]),
        lambda_max_data=lyap.lambda_max,
        lambda_max_data_std=lyap.lambda_std,
        lyapunov_verdict=lyap.verdict,
        dims=[str(d) for d in pre["dim"].values],
        time_coord=pre["time"].values,
        n_pred=args.n_pred,
        vpt_threshold=args.vpt_threshold,
        vpt_horizon=args.vpt_horizon,
        spectrum_steps=args.spectrum_steps,
        seed=args.seed,
        max_minutes=budget,
        progress=not args.no_progress,
    )
    metrics = {
        "session": session,
        "modality": str(pre.attrs.get("modality", "")),
        **ev.metrics,
        **training_facts(summary),
    }
    recon = ev.dataset
    recon.attrs.update({f"metric_{k}": v for k, v in training_facts(summary).items()})
    recon.attrs.update(
        session=session,
        model_config=json.dumps(summary.model, sort_keys=True),
        train_config=json.dumps(summary.train, sort_keys=True, default=str),
    )
    write_dataset(recon, layout.reconstruction)
    write_json(metrics, layout.metrics)
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
