"""``neurodsr demo --out resources/demo``: demo recordings of chaotic dynamics in lab formats."""

from __future__ import annotations

import argparse
import logging

ORDER = 5

log = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``demo`` subcommand."""
    p = subparsers.add_parser(
        "demo",
        help="write demo sessions (spikes as NIX, LFP as BrainVision, calcium as suite2p)",
        description="Simulate chaotic systems behind three kinds of recordings and write them "
        "with the formats' own libraries: a Poisson population driven by Lorenz-63 (neo "
        "NixIO, spikes.nix), a 16-channel LFP of a Rössler system with 50 Hz line noise "
        "(BrainVision via mne.export, lfp.vhdr) and GCaMP-like calcium traces with neuropil "
        "(suite2p folder, calcium/suite2p). Seeded: the same options give the same files.",
    )
    p.add_argument("--out", default="resources/demo", help="folder (default resources/demo)")
    p.add_argument(
        "--only",
        nargs="+",
        choices=["spikes", "lfp", "calcium"],
        default=None,
        help="write only these sessions",
    )
    p.add_argument(
        "--options",
        default=None,
        help="JSON: per session, keyword arguments of its writer, e.g. "
        '\'{"spikes": {"duration_s": 60}}\' (see neurodsr.demo)',
    )
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Write the demo sessions; print their paths; return 0."""
    import json

    from neurodsr.demo import write_demo
    from neurodsr.errors import InputError

    options = {}
    if args.options:
        try:
            options = json.loads(args.options)
        except ValueError as err:
            raise InputError(
                f"--options is not valid JSON: {err}",
                hint='e.g. \'{"spikes": {"duration_s": 60}}\'',
            ) from err
        if not isinstance(options, dict):
            raise InputError("--options must be a JSON object: session -> options")
    written = write_demo(args.out, args.only, options)
    for kind, session in written.items():
        print(f"{kind}: {session.path}")
    return 0
