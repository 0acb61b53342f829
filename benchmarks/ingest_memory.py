"""Peak memory and time of ingesting a long, wide recording decimated on the way in.

Writes an int16 OpenEphys-binary recording (structure.oebin + continuous.dat, chunk by chunk
through np.memmap; default 64 channels x 30 kHz x 10 minutes = 2.3 GB), then reads it in a
fresh process with ``read_recording(..., decimate_to=1000)`` (neo's OpenEphysBinaryRawIO,
chunked, scipy polyphase anti-alias filter) and reports:

- wall time of the read;
- tracemalloc peak (memory allocated through Python / numpy);
- peak anonymous resident memory (RssAnon, sampled from /proc every 20 ms): memory that is
  really the process's; and peak file-backed RSS (RssFile), the memory-mapped pages of
  continuous.dat that the kernel can drop at any time (page cache);
- VmHWM, the exact peak RSS of the reading process (both kinds together). (``ru_maxrss`` is
  not used: Linux carries the parent's high-water mark across fork + exec, so it would show
  the writer's memory-mapped pages.)

Usage::

    .venv/bin/python benchmarks/ingest_memory.py [--minutes 10] [--channels 64] \
        [--rate 30000] [--target 1000] [--dir /tmp/neurodsr_bench] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np


def write_openephys(root: Path, n_samples: int, n_ch: int, fs: float) -> Path:
    """Write an int16 OpenEphys binary recording chunk by chunk; return the recording folder."""
    rec = root / "Record Node 101" / "experiment1" / "recording1"
    stream = "Acquisition_Board-100.Rhythm Data"
    cont = rec / "continuous" / stream
    cont.mkdir(parents=True, exist_ok=True)
    mm = np.memmap(cont / "continuous.dat", dtype="<i2", mode="w+", shape=(n_samples, n_ch))
    rng = np.random.default_rng(0)
    sec = int(fs)
    t = np.arange(sec) / fs
    noise = rng.normal(0, 40, (sec, n_ch))
    for a in range(0, n_samples, sec):
        b = min(a + sec, n_samples)
        k = a // sec
        # 7 Hz rhythm + 50 Hz mains + noise (rolled so seconds differ) + a 5 kHz tone that
        # the anti-alias filter must remove
        sig = (
            300 * np.sin(2 * np.pi * 7 * (t + k))[:, None]
            + 100 * np.sin(2 * np.pi * 50 * t)[:, None]
            + np.roll(noise, k * 97, axis=0)
            + 200 * np.sin(2 * np.pi * 5000 * t)[:, None]
        )
        mm[a:b] = sig[: b - a].astype(np.int16)
    mm.flush()
    del mm
    np.save(cont / "sample_numbers.npy", np.arange(n_samples, dtype=np.int64))
    oebin = {
        "GUI version": "0.6.7",
        "continuous": [
            {
                "folder_name": stream + "/",
                "sample_rate": fs,
                "source_processor_name": "Acquisition Board",
                "source_processor_id": 100,
                "stream_name": "Rhythm Data",
                "recorded_processor": "Acquisition Board",
                "recorded_processor_id": 100,
                "num_channels": n_ch,
                "channels": [
                    {
                        "channel_name": f"CH{i + 1}",
                        "description": "",
                        "identifier": "",
                        "history": "",
                        "bit_volts": 0.195,
                        "units": "uV",
                    }
                    for i in range(n_ch)
                ],
            }
        ],
        "events": [],
        "spikes": [],
    }
    (rec / "structure.oebin").write_text(json.dumps(oebin))
    return rec


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def read_and_measure(root: Path, target: float) -> dict:
    """Read ``root`` decimated to ``target`` Hz; return time and memory figures."""
    import neo.io  # noqa: F401 - imported before timing: the read, not the imports, is measured
    import scipy.signal  # noqa: F401

    from neurodsr.io import read_recording

    peaks = {"RssAnon": 0, "RssFile": 0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            for k in peaks:
                peaks[k] = max(peaks[k], _status_kb(k))
            time.sleep(0.02)

    base_anon = _status_kb("RssAnon")
    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    tracemalloc.start()
    t0 = time.perf_counter()
    ds = read_recording(root, decimate_to=target)
    seconds = time.perf_counter() - t0
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    stop.set()
    thread.join()
    sig = ds["signal"].values
    spec = np.abs(np.fft.rfft(sig[: int(target) * 10, 0] - sig[: int(target) * 10, 0].mean()))
    freqs = np.fft.rfftfreq(int(target) * 10, 1 / target)
    return {
        "read_seconds": round(seconds, 2),
        "out_shape": list(sig.shape),
        "out_MB": round(sig.nbytes / 1e6, 1),
        "sampling_rate": ds.attrs["sampling_rate"],
        "tracemalloc_peak_MB": round(traced_peak / 1e6, 1),
        "peak_RssAnon_MB": round(peaks["RssAnon"] / 1e3, 1),
        "RssAnon_before_read_MB": round(base_anon / 1e3, 1),
        "peak_RssFile_MB": round(peaks["RssFile"] / 1e3, 1),
        "VmHWM_peak_RSS_MB": round(_status_kb("VmHWM") / 1e3, 1),
        "dominant_freq_Hz": float(freqs[np.argmax(spec)]),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--channels", type=int, default=64)
    p.add_argument("--rate", type=float, default=30000.0)
    p.add_argument("--target", type=float, default=1000.0)
    p.add_argument("--dir", default="/tmp/neurodsr_bench")
    p.add_argument("--keep", action="store_true", help="keep the written recording")
    p.add_argument("--read-only", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    root = Path(args.dir)
    if args.read_only:
        print(json.dumps(read_and_measure(root, args.target)))
        return
    n = int(args.minutes * 60 * args.rate)
    if root.exists():
        shutil.rmtree(root)
    t0 = time.perf_counter()
    write_openephys(root, n, args.channels, args.rate)
    write_s = time.perf_counter() - t0
    size_gb = n * args.channels * 2 / 1e9
    print(
        f"wrote {args.channels} ch x {args.rate:g} Hz x {args.minutes:g} min int16 "
        f"({size_gb:.2f} GB; {size_gb * 4:.1f} GB as float64) in {write_s:.1f} s"
    )
    # the read runs in a fresh process so that its memory figures are its own
    out = subprocess.run(
        [sys.executable, __file__, "--read-only", "--dir", str(root), "--target", str(args.target)],
        check=True,
        capture_output=True,
        text=True,
    )
    res = json.loads(out.stdout.strip().splitlines()[-1])
    for k, v in res.items():
        print(f"  {k}: {v}")
    hours = 60.0 / args.minutes
    print(
        f"scale to 1 h: read ~{res['read_seconds'] * hours:.0f} s; the output grows to "
        f"~{res['out_MB'] * hours:.0f} MB float32; the working memory beyond the output "
        f"(chunks + filter) does not grow with the length "
        f"(whole recording as float64 would be {size_gb * 4 * hours:.0f} GB)"
    )
    if not args.keep:
        shutil.rmtree(root)
    os.sync()


if __name__ == "__main__":
    main()
