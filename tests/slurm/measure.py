"""Measure what each rule's jobs use: peak memory and wall time per job, with its input's size.

Runs the workflow (local executor, one job at a time so that jobs do not disturb each other's
timing) in a scratch folder over the demo sessions at a given length and training budget, and
watches every ``neurodsr <stage>`` process it starts: the peak resident memory is the kernel's
high-water mark (``VmHWM`` in /proc/PID/status, read every 0.1 s until the process ends; the
last reading before the exit can miss growth in the final 0.1 s), the wall time is the process's
lifetime. The input size is that of the files the rule's resources scale with
(workflow/rules/common.smk). These figures set ``RESOURCE_MODEL`` in common.smk; the numbers
and the commands are in docs/RESOURCES.md.

    .venv/bin/python tests/slurm/measure.py run --scale 1 --max-minutes 0.5 --out m1.json
    .venv/bin/python tests/slurm/measure.py run --scale 3 --max-minutes 1 --out m3.json
    .venv/bin/python tests/slurm/measure.py fit m1.json m3.json   # -> RESOURCE_MODEL

``fit`` puts a line through each rule's (input size, peak memory) points by least squares
(slope at least 0) and raises it until no measured job lies above it: the fixed part and the
per-MB part of RESOURCE_MODEL. Likewise for the wall time in minutes, where training's budget
(``max_minutes``) is taken off first: what is left is its start-up, last epoch, final free
run and writing.

Not a test (pytest does not collect it); it needs only the installed environment.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import yaml

ROOT = Path(__file__).resolve().parents[2]
STAGES = ("demo", "ingest", "preprocess", "lyapunov", "fit", "evaluate", "report", "summary")
RULE_OF_STAGE = {"demo": "demo_data", "fit": "train"}
#: the files each rule's resources scale with (as RESOURCE_INPUTS / the rules' inputs)
INPUTS = {
    "ingest": lambda s, cfg: [cfg["sessions"][s]["path"]],  # + same-stem siblings, below
    "preprocess": lambda s, cfg: [f"results/{s}/recording.nc"],
    "lyapunov": lambda s, cfg: [f"results/{s}/preprocessed.nc"],
    "train": lambda s, cfg: [f"results/{s}/preprocessed.nc", f"results/{s}/lyapunov.json"],
    "evaluate": lambda s, cfg: [
        f"results/{s}/preprocessed.nc",
        f"results/{s}/lyapunov.json",
        f"results/{s}/models/fit.json",
        f"results/{s}/models/fit.pt",
    ],
    "report": lambda s, cfg: [
        f"results/{s}/{name}"
        for name in (
            "recording.nc",
            "preprocessed.nc",
            "lyapunov.nc",
            "lyapunov.json",
            "reconstruction.nc",
            "metrics.json",
            "models/fit.log.json",
        )
    ],
}


def size_mb(paths: list[Path]) -> float:
    """Total size of files and folders (recursively), MB."""
    total = 0
    for path in paths:
        if path.is_dir():
            total += sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        elif path.exists():
            total += path.stat().st_size
    return total / 1e6


def _stage_of(cmdline: list[str]) -> tuple[str, str] | None:
    """(stage, session) of a `neurodsr STAGE ...` command line, else None."""
    for i, arg in enumerate(cmdline[:-1]):
        if Path(arg).name == "neurodsr" and cmdline[i + 1] in STAGES:
            stage = cmdline[i + 1]
            session = ""
            for a in cmdline[i + 2 :]:
                parts = Path(a).parts
                if len(parts) >= 2 and parts[0] == "results" and stage != "summary":
                    session = parts[1]
                    break
            if stage == "ingest":
                session = cmdline[cmdline.index("--session") + 1]
            return stage, session
    return None


def _vmhwm_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB -> MiB
    except OSError:
        return None
    return None


def watch(root: psutil.Process, seen: dict, stop: threading.Event) -> None:
    """Poll the process tree under ``root``; record each neurodsr stage's peak and lifetime."""
    while not stop.is_set():
        try:
            procs = root.children(recursive=True)
        except psutil.Error:
            procs = []
        now = time.monotonic()
        for proc in procs:
            try:
                key = proc.pid
                if key not in seen:
                    found = _stage_of(proc.cmdline())
                    if found is None:
                        continue
                    seen[key] = {
                        "stage": found[0],
                        "session": found[1],
                        "start": proc.create_time(),
                        "peak_mb": 0.0,
                    }
                hwm = _vmhwm_mb(key)
                if hwm is not None:
                    seen[key]["peak_mb"] = max(seen[key]["peak_mb"], hwm)
                    seen[key]["last_seen"] = time.time()
                    seen[key]["mono"] = now
            except psutil.Error:
                continue
        time.sleep(0.1)


def demo_config(scale: float, max_minutes: float) -> dict:
    """The bundled demo config (config.yaml) with its recordings ``scale`` times as long."""
    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    defaults = {"spikes": 300, "lfp": 120, "calcium": 600}
    for kind in ("spikes", "lfp", "calcium"):
        section = cfg.setdefault("demo", {}).setdefault(kind, {})
        section["duration_s"] = float(section.get("duration_s", defaults[kind])) * scale
    cfg["train"]["max_minutes"] = max_minutes
    return cfg


def envelope(x: list[float], y: list[float]) -> tuple[float, float]:
    """(fixed, per_unit): the least-squares line through (x, y), slope >= 0, raised until no
    point lies above it."""
    x_arr, y_arr = np.asarray(x, float), np.asarray(y, float)
    slope = 0.0
    if len(x_arr) > 1 and np.ptp(x_arr) > 0:
        slope = max(0.0, float(np.polyfit(x_arr, y_arr, 1)[0]))
    return float(np.max(y_arr - slope * x_arr)), slope


def fit(paths: list[Path]) -> int:
    """Print RESOURCE_MODEL entries fitted to the measurements in ``paths``."""
    jobs = []
    for path in paths:
        run = json.loads(path.read_text())
        for job in run["jobs"]:
            budget = run["max_minutes"] if job["rule"] == "train" else 0.0
            jobs.append({**job, "minutes": job["wall_s"] / 60 - budget})
    print("rule: (MB fixed, MB per input MB, min fixed, min per input MB); n jobs; max peak MB")
    for rule in dict.fromkeys(j["rule"] for j in jobs):
        mine = [j for j in jobs if j["rule"] == rule]
        x = [j["input_mb"] for j in mine]
        mem = envelope(x, [j["peak_mb"] for j in mine])
        minutes = envelope(x, [j["minutes"] for j in mine])
        print(
            f'    "{rule}": ({mem[0]:.0f}, {mem[1]:.2f}, {minutes[0]:.2f}, {minutes[1]:.4f}),'
            f"  # n={len(mine)}, peak {max(j['peak_mb'] for j in mine):.0f} MB"
        )
    per_epoch = [j["s_per_epoch"] for j in jobs if "s_per_epoch" in j]
    if per_epoch:
        print(f"SECONDS_PER_EPOCH = {max(per_epoch):.2f}  # max of {len(per_epoch)} trainings")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run the demo workflow and measure every job")
    r.add_argument("--scale", type=float, default=1.0, help="demo recording length, x default")
    r.add_argument("--max-minutes", type=float, default=0.5, help="training budget per session")
    r.add_argument("--out", type=Path, required=True, help="JSON file of the measurements")
    r.add_argument("--workdir", type=Path, default=None, help="scratch folder (default: temp)")
    f = sub.add_parser("fit", help="RESOURCE_MODEL from measurement files")
    f.add_argument("files", type=Path, nargs="+")
    args = p.parse_args(argv)
    if args.command == "fit":
        return fit(args.files)

    work = args.workdir or Path(tempfile.mkdtemp(prefix="neurodsr-measure-"))
    work.mkdir(parents=True, exist_ok=True)
    cfg = demo_config(args.scale, args.max_minutes)
    (work / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(work)]
    cmd += ["--cores", "1", "--keep-going"]
    seen: dict = {}
    stop = threading.Event()
    t0 = time.time()
    with open(work / "snakemake.log", "w") as log:
        proc = subprocess.Popen(cmd, cwd=work, stdout=log, stderr=subprocess.STDOUT)
        watcher = threading.Thread(target=watch, args=(psutil.Process(proc.pid), seen, stop))
        watcher.start()
        rc = proc.wait()
        stop.set()
        watcher.join()
    rows = []
    for rec in sorted(seen.values(), key=lambda r: r["start"]):
        rule = RULE_OF_STAGE.get(rec["stage"], rec["stage"])
        files = [work / f for f in INPUTS.get(rule, lambda s, c: [])(rec["session"], cfg)]
        if rule == "ingest" and files and files[0].is_file():  # as _recording_files
            files += [p for p in files[0].parent.glob(files[0].stem + ".*") if p != files[0]]
        rows.append(
            {
                "rule": rule,
                "session": rec["session"],
                "peak_mb": round(rec["peak_mb"], 1),
                "wall_s": round(rec.get("last_seen", rec["start"]) - rec["start"], 1),
                "input_mb": round(size_mb(files), 3),
            }
        )
    for row in rows:  # training: seconds per epoch (validations included), from its log
        log_path = work / "results" / row["session"] / "models" / "log.json"
        if row["rule"] == "train" and log_path.exists():
            train_log = json.loads(log_path.read_text())
            row["s_per_epoch"] = round(train_log["seconds"][-1] / len(train_log["epoch"]), 3)
    result = {
        "scale": args.scale,
        "max_minutes": args.max_minutes,
        "snakemake_rc": rc,
        "total_s": round(time.time() - t0, 1),
        "cpus": psutil.cpu_count(),
        "jobs": rows,
    }
    args.out.write_text(json.dumps(result, indent=1))
    print(f"{'rule':<11} {'session':<13} {'input MB':>9} {'peak MB':>8} {'wall s':>7}")
    for r in rows:
        print(
            f"{r['rule']:<11} {r['session']:<13} {r['input_mb']:>9.2f} {r['peak_mb']:>8.0f} "
            f"{r['wall_s']:>7.1f}"
        )
    print(f"snakemake exit {rc}; {result['total_s']} s; workdir {work}")
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
