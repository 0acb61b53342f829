"""``neurodsr summary``: results/index.html and results/summary.csv over all sessions."""

from __future__ import annotations

import argparse
import logging

ORDER = 70

log = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``summary`` subcommand."""
    p = subparsers.add_parser(
        "summary",
        help="index over all sessions (key numbers, links, failures) -> index.html, summary.csv",
        description="List every session with its key numbers and a link to its report; for "
        "sessions that failed, the failing stage, the error and the tail of its log. Works "
        "while some sessions are missing outputs.",
    )
    p.add_argument(
        "sessions",
        nargs="*",
        help="session names (default: every folder in RESULTS with a logs/ folder)",
    )
    p.add_argument("--results", default="results", help="results folder (default results)")
    p.add_argument("--html", default=None, help="default: RESULTS/index.html")
    p.add_argument("--csv", default=None, help="default: RESULTS/summary.csv")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Write the index and the table; print one line per session; return 0."""
    from pathlib import Path

    from neurodsr.errors import InputError
    from neurodsr.report import write_index
    from neurodsr.session import SessionLayout

    results = Path(args.results)
    sessions = list(args.sessions)
    if not sessions:
        found = (p.name for p in results.glob("*") if p.is_dir())
        sessions = sorted(s for s in found if SessionLayout(results, s).logs.is_dir())
    if not sessions:
        raise InputError(
            "no sessions found", file=results, hint="name them, or run the pipeline first"
        )
    rows = write_index(results, sessions, args.html, args.csv)
    for r in rows:
        if r["status"] in ("failed", "incomplete"):
            extra = f" at {r['stage']}: {r['error']}"
        elif r.get("health_reasons"):  # "check" or "diverged": why
            extra = ": " + "; ".join(r["health_reasons"])
        else:
            extra = ""
        print(f"{r['session']}: {r['status']}{extra}")
    return 0
