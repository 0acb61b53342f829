"""``neurodsr report SESSION_DIR``: the self-contained HTML report of one session."""

from __future__ import annotations

import argparse
import logging

ORDER = 60

log = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``report`` subcommand."""
    p = subparsers.add_parser(
        "report",
        help="one self-contained HTML page per session -> report.html",
        description="Write the HTML report of a session from its results folder (recording, "
        "preprocessing, lambda_max and tau, training curves, data vs model, metrics, the "
        "model's Lyapunov spectrum). Figures are inline PNG; the page opens offline.",
    )
    p.add_argument("session_dir", help="a session's results folder, e.g. results/mouse1")
    p.add_argument("--out", default=None, help="default: SESSION_DIR/report.html")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Write the report; return 0."""
    import matplotlib

    matplotlib.use("Agg")
    from neurodsr.report import write_session_report

    out = write_session_report(args.session_dir, args.out)
    log.info("wrote %s", out)
    return 0
