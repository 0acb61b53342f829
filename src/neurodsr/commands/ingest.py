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
        help="auto (default: by extension / folder content), a neo IO class name (NixIO, "
        "NWBIO, OpenEphysBinaryIO, PhyIO, BrainVisionIO, ...), mne, edf, brainvision, fif, "
        "eeglab, suite2p, caiman, nwb (pynwb ecephys), nwb-ophys, npy, csv, txt, nc",
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
    p.add_argument(
        "--stream",
        default=None,
        help="signal stream (neo) or signal (NIX), name or index; default: the main stream "
        "(OpenEphys: the neural one, not ADC), the others named in a warning",
    )
    p.add_argument(
        "--channel-type",
        default=None,
        metavar="TYPE[,TYPE]",
        help="MNE formats: channel types to read (eeg, seeg, ecog, mag, grad, misc, eog, ...);"
        " default: the brain channels (EEG/iEEG; MEG: gradiometers when there are also "
        "magnetometers), the rest named in the log",
    )
    p.add_argument(
        "--series",
        default=None,
        metavar="NAME",
        help="NWB: the ElectricalSeries or RoiResponseSeries to read (name or path); default: "
        "the raw recording / raw fluorescence (not Deconvolved), the others named in the log",
    )
    p.add_argument(
        "--plane",
        default=None,
        metavar="NAME|INDEX",
        help="suite2p: plane0, plane1, ..., an index, or combined; default: combined when "
        "there are several planes and suite2p wrote it, else plane0 with a warning",
    )
    p.add_argument(
        "--trace",
        default=None,
        choices=("auto", "F_dff", "C", "S", "YrA"),
        help="CaImAn: which estimates/ trace to read (default auto: F_dff, else C)",
    )
    p.add_argument(
        "--max-gap-s",
        type=float,
        default=None,
        metavar="S",
        help="longest run of NaN/Inf samples inside the signal that is interpolated "
        "(default 0.1 s); NaN/Inf at the start or end is cut off",
    )
    p.add_argument(
        "--allow-truncated",
        action="store_true",
        help="read a file whose data end before its header says (EDF/BDF, BrainVision, "
        "OpenEphys), with a warning, instead of refusing it",
    )
    p.add_argument(
        "--allow-maxshield",
        action="store_true",
        help="read a MaxShield FIF that has not been Maxfiltered (distorted; better run "
        "MaxFilter / mne.preprocessing.maxwell_filter first)",
    )
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
    for key in ("channel_type", "series", "trace"):
        if getattr(args, key) is not None:
            selection[key] = getattr(args, key)
    if args.plane is not None:
        selection["plane"] = int(args.plane) if args.plane.isdigit() else args.plane
    for key in ("allow_truncated", "allow_maxshield"):
        if getattr(args, key):
            selection[key] = True
    if args.max_gap_s is not None:
        selection["max_gap_s"] = args.max_gap_s
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
