"""The ``neurodsr`` command: one subcommand per pipeline stage.

Each subcommand lives in ``neurodsr.commands.<name>`` and defines ``ORDER`` (its place in
``--help``), ``add_parser(subparsers)`` and, through ``set_defaults(func=...)``, the function that
runs it. The subcommands call the same stage functions as the Snakemake rules.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

import neurodsr.commands
from neurodsr import __version__
from neurodsr.errors import NeurodsrError

DESCRIPTION = """\
Dynamical-systems reconstruction from neural recordings with forced RNNs: generalized teacher
forcing (GTF, alpha 0.1) by default, sparse teacher forcing (STF, every tau steps) as an option.

Per session the stages run in this order, each one a subcommand below:
  ingest -> preprocess -> lyapunov -> fit -> evaluate -> report,   then summary (all sessions)
`snakemake --cores 8` runs them over every session in config.yaml (see README.md, "The
pipeline"); `neurodsr demo` writes three demo sessions in lab formats. Every stage reads and
writes NetCDF4 (HDF5) files; `neurodsr STAGE --help` lists a stage's options.
"""


def _command_modules() -> list:
    mods = [
        importlib.import_module(f"neurodsr.commands.{m.name}")
        for m in pkgutil.iter_modules(neurodsr.commands.__path__)
        if not m.name.startswith("_")
    ]
    return sorted(mods, key=lambda m: getattr(m, "ORDER", 100))


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every stage's subcommand."""
    parser = argparse.ArgumentParser(
        prog="neurodsr",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"neurodsr {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="STAGE")
    for mod in _command_modules():
        mod.add_parser(sub)
    return parser


class Terminated(BaseException):
    """Raised in the main thread on SIGTERM (a cancelled or preempted job), so that the same
    clean-up runs as on Ctrl-C: temporary files are removed, nothing half-written stays."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise Terminated


def interrupted_message(args: argparse.Namespace) -> str:
    """The one line printed when a stage is interrupted: whether a rerun resumes."""
    ckpt = getattr(args, "checkpoint_dir", None)
    # the forcing candidates and the competing sizes keep theirs in subfolders of the one given
    if ckpt is not None and any(Path(ckpt).rglob("checkpoint.pt")):
        return f"interrupted; rerun resumes from the checkpoint in {ckpt}"
    if getattr(args, "command", None) == "fit":
        return (
            "interrupted; no checkpoint was written yet (see --checkpoint-dir, "
            "--checkpoint-every), so a rerun starts afresh; no output is left half-written"
        )
    return "interrupted; no output is left half-written, rerun to start the stage again"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (0 ok, 2 bad input, 1 other failure,
    130 interrupted by Ctrl-C, 143 terminated by SIGTERM)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread (e.g. called from a test's worker thread)
        previous = None
    try:
        return int(args.func(args) or 0)
    except NeurodsrError as err:
        print(f"neurodsr {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"neurodsr {args.command}: {interrupted_message(args)}", file=sys.stderr)
        return 130
    except Terminated:
        msg = interrupted_message(args).replace("interrupted", "terminated (SIGTERM)", 1)
        print(f"neurodsr {args.command}: {msg}", file=sys.stderr)
        return 143
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
