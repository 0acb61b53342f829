# Shared definitions: config validation, the session list with per-session overrides, paths and
# the command-line arguments each stage gets. No rules here (rules live in one file per stage).
#
# This file uses only Snakemake, the standard library, PyYAML and pandas, so the workflow parses
# with a bare Snakemake install (e.g. `--sdm conda`, where neurodsr lives in envs/neurodsr.yaml).
# The file names of a session come from src/neurodsr/session.py (FILES), loaded by path: it
# imports only the standard library.

import copy
import glob
import importlib.util
import json
import math
import os
import shlex
import sys
from pathlib import Path

import pandas as pd
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

SCHEMA = "../schemas/config.schema.yaml"


def _load_session_module():
    """neurodsr.session of this repository, without importing neurodsr (see above)."""
    path = Path(workflow.basedir) / "src" / "neurodsr" / "session.py"
    spec = importlib.util.spec_from_file_location("neurodsr_session_layout", path)
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = loaded  # dataclasses look their module up there
    spec.loader.exec_module(loaded)
    return loaded


_SESSION = _load_session_module()
FILES, INDEX_FILES = _SESSION.FILES, _SESSION.INDEX_FILES
RESULTS = "results"


def out(name):
    """The path pattern of a session's file `name` (a key of neurodsr.session.FILES)."""
    return f"{RESULTS}/{{session}}/{FILES[name]}"


def stage_log(stage):
    """The path pattern of a stage's log."""
    return f"{RESULTS}/{{session}}/{FILES['logs']}/{stage}.log"


SECTIONS = ("preprocess", "lyapunov", "train", "evaluate")
INGEST_KEYS = (
    "format",
    "modality",
    "sampling_rate",
    "decimate_to",
    "max_rate",
    "channels",
    "units",
    "stream",
    "block",
    "segment",
    "channel_type",
    "series",
    "plane",
    "trace",
    "max_gap_s",
    "allow_truncated",
    "allow_maxshield",
)
DEMO_DIR = "resources/demo"
#: the demo sessions' files, as written by `neurodsr demo` (neurodsr.demo.DEMO_KINDS)
DEMO_FILES = {
    "spikes": ["spikes.nix"],
    "lfp": ["lfp.vhdr", "lfp.eeg", "lfp.vmrk"],
    "calcium": ["calcium/suite2p"],
}


def _validate(data, where, set_default=True):
    """Validate ``data`` against the config schema (filling defaults); on failure raise an
    error that names the key (as section.key), the bad value and the schema."""
    import jsonschema

    try:
        validate(data, SCHEMA, set_default=set_default)
    except WorkflowError as err:
        ve = err.__cause__ or err.__context__  # snakemake raises it while handling this
        if not isinstance(ve, jsonschema.ValidationError):
            raise
        key = ".".join(str(p) for p in ve.absolute_path) or "(top level)"
        raise WorkflowError(
            f"{where}: {key}: {ve.message}. The keys and values allowed are described in "
            "workflow/schemas/config.schema.yaml."
        ) from None


def _gpus_from_command_line():
    """`--config` (and a profile's `config:`, as the SLURM profile sets resources.gpus) gives
    nested values as strings: make resources.gpus a number again before validation."""
    gpus = (config.get("resources") or {}).get("gpus")
    if isinstance(gpus, str) and gpus.strip().isdigit():
        config["resources"]["gpus"] = int(gpus)


_gpus_from_command_line()
_validate(config, "config")


def _put_neurodsr_on_path():
    """Shell rules call `neurodsr`: make the one installed beside this Python visible.

    `.venv/bin/snakemake` runs without an activated venv, so its `neurodsr` is not on PATH.
    Under `--sdm conda` the activated environment's bin folder comes first and wins.
    """
    bindir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    if bindir not in path.split(os.pathsep):
        os.environ.update(PATH=os.pathsep.join([bindir, path]) if path else bindir)


_put_neurodsr_on_path()


def _merge(base, override):
    """Deep merge of two dicts (override wins); neither is modified."""
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _table_value(text):
    """A cell of the sessions table: YAML scalars (numbers, true/false, null, [lists])."""
    import yaml

    if not isinstance(text, str):
        return text
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _read_sessions_table(path):
    """Sessions from a TSV/CSV table: columns session, path, ... and `section.key` overrides."""
    sep = "," if str(path).endswith(".csv") else "\t"
    try:
        table = pd.read_csv(path, sep=sep, dtype=str, comment="#").fillna("")
    except Exception as err:
        raise WorkflowError(
            f"sessions_table {path!r} cannot be read ({type(err).__name__}: {err}); give a "
            "tab-separated file (or .csv) with a header row: session, path, ..."
        ) from None
    missing = {"session", "path"} - set(table.columns)
    if missing:
        raise WorkflowError(
            f"sessions_table {path!r} lacks the column(s) {sorted(missing)}; its columns are "
            f"{list(table.columns)}"
        )
    sessions = {}
    for i, row in table.iterrows():
        name = row["session"].strip()
        if not name:
            raise WorkflowError(f"sessions_table {path!r}, row {i + 2}: empty session name")
        entry = {}
        for column, cell in row.items():
            if column == "session" or cell == "":
                continue
            value = cell if column == "path" else _table_value(cell)
            if "." in column:
                section, key = column.split(".", 1)
                entry.setdefault(section, {})[key] = value
            else:
                entry[column] = value
        sessions[name] = entry
    return sessions


def _resolve_sessions(cfg):
    """name -> effective session config: ingest keys and every section merged over defaults."""
    sessions = dict(cfg.get("sessions") or {})
    if cfg.get("sessions_table"):
        for name, entry in _read_sessions_table(cfg["sessions_table"]).items():
            if name in sessions:
                raise WorkflowError(
                    f"session {name!r} is listed both in config 'sessions' and in "
                    f"sessions_table {cfg['sessions_table']!r}; keep one"
                )
            sessions[name] = entry
    if not sessions:
        raise WorkflowError(
            "no sessions: list them under 'sessions' in config.yaml (name: {path: ...}) or "
            "point 'sessions_table' to a TSV file"
        )
    out = {}
    for name, entry in sessions.items():
        _validate({"sessions": {name: copy.deepcopy(entry)}}, "config", set_default=False)
        eff = {s: _merge(cfg.get(s, {}), entry.get(s)) for s in SECTIONS}
        _validate(eff, f"config, session {name!r} (its overrides merged over the defaults)")
        if not entry.get("enabled", True):
            continue
        eff.update({k: entry[k] for k in INGEST_KEYS if k in entry})
        eff["path"] = entry["path"]
        out[name] = eff
    return out


SESSIONS = _resolve_sessions(config)


def session_names():
    """The enabled sessions, in config order."""
    return list(SESSIONS)


def session_path(wildcards):
    """The recording file/folder of a session (its demo files when it is a demo session)."""
    return SESSIONS[wildcards.session]["path"]


def ingest_args(wildcards):
    """`neurodsr ingest` options of a session, shell-quoted."""
    s = SESSIONS[wildcards.session]
    args = ["--session", wildcards.session]
    for key in INGEST_KEYS:
        if key not in s:
            continue
        value = s[key]
        if isinstance(value, bool):  # a flag: --allow-truncated
            args += [f"--{key.replace('_', '-')}"] if value else []
            continue
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
        args += [f"--{key.replace('_', '-')}", str(value)]
    return shlex.join(args)


def preprocess_json(wildcards):
    """The session's preprocessing options as JSON (`neurodsr preprocess --config`)."""
    return json.dumps({"preprocess": SESSIONS[wildcards.session]["preprocess"]}, sort_keys=True)


def lyapunov_args(wildcards):
    """`neurodsr lyapunov` options of a session, shell-quoted."""
    ly = SESSIONS[wildcards.session]["lyapunov"]
    args = [
        "--method",
        ly["method"],
        "--tau-min",
        str(ly["tau_min"]),
        "--tau-max",
        str(ly["tau_max"]),
        "--not-chaotic",
        ly["not_chaotic"],
        "--seed",
        str(ly["seed"]),
    ]
    for key in ("delay", "dim"):
        if ly.get(key) is not None:
            args += [f"--{key}", str(ly[key])]
    return shlex.join(args)


def _options(section):
    """`--key value` for every key of a config section that is set; the keys of the schema's
    train and evaluate sections are the flags of `neurodsr fit` / `neurodsr evaluate`
    (tests/test_defaults.py checks this)."""
    args = []
    for key, value in section.items():
        if value is not None:
            args += [f"--{key.replace('_', '-')}", str(value)]
    return args


def train_args(wildcards):
    """`neurodsr fit` options of a session (all but the files), shell-quoted. --tau is the
    config's (auto: the tau in lyapunov.json, which fit reads)."""
    s = SESSIONS[wildcards.session]
    return shlex.join(["--tau", str(s["lyapunov"]["tau"]), *_options(s["train"])])


def evaluate_args(wildcards):
    """`neurodsr evaluate` options of a session, shell-quoted."""
    return shlex.join(_options(SESSIONS[wildcards.session]["evaluate"]))


def demo_options():
    """`neurodsr demo --options` JSON: the config's demo section."""
    opts = {k: v for k, v in config["demo"].items() if k in DEMO_FILES and v}
    return json.dumps(opts, sort_keys=True)


def all_targets():
    """Every session's report and the index over all sessions."""
    return expand(out("report"), session=session_names()) + [
        f"{RESULTS}/{INDEX_FILES['index']}",
        f"{RESULTS}/{INDEX_FILES['summary_csv']}",
    ]


# Job resources (SLURM and local runs): memory and run time of each rule's job from what its
# jobs used on the demo and on the demo at 3x the recording length (tests/slurm/measure.py: the
# kernel's peak-memory mark and the wall time of every job; figures in docs/RESOURCES.md),
# scaled with the size of the job's input and, for training, its budget. The config's
# `resources` section overrides any rule (mem_mb, runtime). A retry (the SLURM profile's
# `retries: 1`) gets 1.5x the memory and 2x the time: an out-of-memory or timed-out job then
# fits, and a training resumes from its checkpoint.
#: per rule (MB fixed, MB per MB of input, minutes fixed, minutes per MB of input), the upper
#: envelope of the measured peaks and wall times (`measure.py fit`), before the headroom below;
#: training's minutes are on top of its budget `max_minutes`
RESOURCE_MODEL = {
    "demo_data": (480, 0.0, 2.49, 0.0),
    "ingest": (174, 3.76, 0.25, 0.0016),
    "preprocess": (168, 7.10, 0.24, 0.0032),
    "lyapunov": (180, 8.68, 0.35, 0.1216),
    "train": (397, 1.39, 0.88, 0.0),
    "evaluate": (315, 17.29, 0.70, 0.0),
    "report": (222, 1.16, 1.08, 0.0),
    "summary": (111, 0.0, 0.10, 0.0),
}
MEM_HEADROOM = 1.5  # x the measured envelope: recordings unlike the demo's, other libraries
TIME_HEADROOM = 2.0  # x the measured minutes (taken on 2 busy cores): slower or busier nodes
MIN_RUNTIME = 10  # minutes at least: room for what was not measured (slow file systems)
#: s per epoch of training (20 batches of 32 windows of 100 steps, 3 seeds, shPLRNN M=3 L=50,
#: validations included; the slowest of the measured trainings, 1 CPU thread on a busy node)
SECONDS_PER_EPOCH = 1.03
#: MB of host memory added per GPU of a training job, for what a CUDA build of torch loads on
#: the host (CUDA, cuBLAS, cuDNN). NOT a measurement: no GPU was available to measure it (the
#: figures above are from CPU runs); a conservative allowance so that a GPU job does not get
#: the CPU figures. `measure.py run` on a GPU node gives the real figure.
GPU_HOST_MB = 3000
#: the inputs whose size a rule's memory and time scale with
RESOURCE_INPUTS = {
    "ingest": lambda wildcards: _recording_files(session_path(wildcards)),
    "summary": lambda wildcards: [],
    "demo_data": lambda wildcards: [],
}


def _recording_files(path):
    """The files a recording consists of: a folder; an Open Ephys structure.oebin's folder; a
    file and its siblings of the same stem (BrainVision .vhdr + .eeg + .vmrk, .bin + .meta)."""
    path = Path(path)
    if path.is_dir():
        return [path]
    if path.suffix == ".oebin":
        return [path.parent]
    return [path] + [p for p in path.parent.glob(glob.escape(path.stem) + ".*") if p != path]


def _size_mb(paths):
    """Total size in MB of files and folders (recursively). A missing path raises
    FileNotFoundError naming it, so that Snakemake evaluates the resource again once the
    input exists (a dry run shows it as <TBD>)."""
    total = 0
    for path in paths:
        path = Path(path)
        if path.is_dir():
            total += sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        else:
            total += path.stat().st_size
    return total / 1e6


def _job_input_mb(rule_name, wildcards, input):
    pick = RESOURCE_INPUTS.get(rule_name)
    return _size_mb(pick(wildcards) if pick else list(input))


def mem(rule_name):
    """``mem_mb`` of a rule's jobs: a function of the job (its input's size, the attempt).

    Returns
    -------
    callable (wildcards, input, attempt) -> int
        MB: the config's ``resources.mem_mb.<rule>`` when set, else the measured model
        (fixed part + per MB of input, times MEM_HEADROOM; training adds GPU_HOST_MB per
        GPU of ``resources.gpus``); times 1.5 per retry.
    """

    def mem_mb(wildcards, input, attempt):
        fixed = config["resources"]["mem_mb"].get(rule_name)
        if fixed is None:
            base, per_mb, _, _ = RESOURCE_MODEL[rule_name]
            fixed = MEM_HEADROOM * (base + per_mb * _job_input_mb(rule_name, wildcards, input))
            if rule_name == "train":
                fixed += GPU_HOST_MB * config["resources"]["gpus"]
        return int(math.ceil(fixed * 1.5 ** (attempt - 1)))

    return mem_mb


def runtime(rule_name):
    """``runtime`` (minutes) of a rule's jobs: a function of the job.

    Returns
    -------
    callable (wildcards, input, attempt) -> int
        Minutes: the config's ``resources.runtime.<rule>`` when set, else the measured model
        (fixed + per MB of input, times TIME_HEADROOM; training adds its budget, see
        ``train_minutes``; at least MIN_RUNTIME); times 2 per retry.
    """

    def minutes(wildcards, input, attempt):
        fixed = config["resources"]["runtime"].get(rule_name)
        if fixed is None:
            _, _, base, per_mb = RESOURCE_MODEL[rule_name]
            fixed = TIME_HEADROOM * (base + per_mb * _job_input_mb(rule_name, wildcards, input))
            if rule_name == "train":
                fixed += train_minutes(wildcards)
            fixed = max(MIN_RUNTIME, fixed)
        return int(math.ceil(fixed * 2 ** (attempt - 1)))

    return minutes


def train_minutes(wildcards):
    """Minutes of training proper in a training job: the session's budget ``max_minutes``
    (wall-clock; the last epoch's overrun is in RESOURCE_MODEL's fixed minutes); without a
    budget, ``epochs`` at SECONDS_PER_EPOCH scaled with the work per epoch (window length,
    batch size, seeds) and TIME_HEADROOM."""
    tr = SESSIONS[wildcards.session]["train"]
    if tr.get("max_minutes"):
        return tr["max_minutes"]
    work = ((tr["seq_len"] or 100) / 100) * ((tr["batch_size"] or 32) / 32) * tr["seeds"] / 3
    return TIME_HEADROOM * tr["epochs"] * SECONDS_PER_EPOCH * work / 60


def threads(rule_name):
    """Threads of a rule's jobs, from the config's resources section (on SLURM, the jobs'
    --cpus-per-task)."""
    return config["resources"]["threads"].get(rule_name, 1)


def write_index_after_failure():
    """onerror: write results/index.html and summary.csv from what exists, so that the index
    shows which sessions failed, at which stage and why (their logs stay in results/*/logs)."""
    sessions = " ".join(shlex.quote(s) for s in session_names())
    Path(RESULTS, "logs").mkdir(parents=True, exist_ok=True)
    try:
        shell(
            f"neurodsr summary {sessions} --results {RESULTS} " f"> {RESULTS}/logs/summary.log 2>&1"
        )
    except Exception as err:
        print(
            f"could not write results/index.html after the failure ({err}); run "
            f"`neurodsr summary {sessions}` to list what failed",
            file=sys.stderr,
        )
        return
    print(
        "Some jobs failed: results/index.html lists every session with the failing stage, "
        "its error and log; fix the cause and rerun (finished sessions are kept).",
        file=sys.stderr,
    )
