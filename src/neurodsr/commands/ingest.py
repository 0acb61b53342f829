"""``neurodsr ingest PATH --out recording.nc``: read a recording into the Recording contract."""

from __future__ import annotations

import argparse
import logging

ORDER = 10

log = logging.getLogger(__name__)


def _selection_list(text: str | None) -> list[int | str] | None:
    if text is None:
        return None
    out: list[int | str] = []
    for item in text.split(","):
        item = item.strip()
        if item:
            out.append(int(item) if item.isdigit() else item)
    return out


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``ingest`` subcommand."""
    p = subparsers.add_parser(
        "ingest",
        help="read a recording (neo / MNE / calcium formats / arrays) -> recording.nc",
        description="Read a recording file or folder and write it as recording.nc (NetCDF4): "
        "signals as signal(time, channel), spike trains as spike times per unit, with units, "
        "sampling rate, channel names and provenance in attrs.",
    )
    p.add_argument("path", help="file or folder (OpenEphys, Phy, suite2p)")
    p.add_argument(
        "--format",
        default="auto",
        help="auto (default), a neo IO class name (NixIO, NWBIO, OpenEphysBinaryIO, PhyIO, "
        "BrainVisionIO, ...), mne, edf, brainvision, fif, eeglab, suite2p, caiman, nwb-ophys, "
        "npy, csv, nc",
    )
    p.add_argument("--modality", choices=("spikes", "continuous", "calcium"), default=None)
    p.add_argument(
        "--sampling-rate",
        type=float,
        default=None,
        metavar="HZ",
        help="sampling rate of plain arrays; frame rate override for calcium",
    )
    p.add_argument("--session", default=None, help="session name (default: the file's stem)")
    p.add_argument(
        "--decimate-to",
        type=float,
        default=None,
        metavar="HZ",
        help="resample signals to this rate on the way in (chunked, anti-aliased)",
    )
    p.add_argument(
        "--max-rate",
        type=float,
        default=None,
        metavar="HZ",
        help="resample only signals faster than this, to this rate",
    )
    p.add_argument("--channels", default=None, help="comma-separated channel names or indices")
    p.add_argument("--units", default=None, help="comma-separated unit names or indices (neo)")
    p.add_argument("--block", type=int, default=None, help="neo block index (default 0)")
    p.add_argument("--segment", type=int, default=None, help="neo segment index (default 0)")
    p.add_argument("--stream", default=None, help="neo signal stream / signal, name or index")
    p.add_argument("--out", required=True, help="output recording.nc")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Read ``args.path`` and write ``args.out`` atomically; return 0."""
    from neurodsr.fileio import write_dataset
    from neurodsr.io import read_recording

    selection: dict = {}
    if args.channels is not None:
        selection["channels"] = _selection_list(args.channels)
    if args.units is not None:
        selection["units"] = _selection_list(args.units)
    for key in ("block", "segment"):
        if getattr(args, key) is not None:
            selection[key] = getattr(args, key)
    if args.stream is not None:
        selection["stream"] = int(args.stream) if args.stream.isdigit() else args.stream
    ds = read_recording(
        args.path,
        format=args.format,
        modality=args.modality,
        sampling_rate=args.sampling_rate,
        session=args.session,
        decimate_to=args.decimate_to,
        max_rate=args.max_rate,
        **selection,
    )
    write_dataset(ds, args.out)
    log.info(
        "ingested %s (%s, %s, %s) -> %s",
        args.path,
        ds.attrs["reader"],
        ds.attrs["modality"],
        dict(ds.sizes),
        args.out,
    )
    return 0
