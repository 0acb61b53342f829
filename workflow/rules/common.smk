# Shared definitions: config validation, the session list with per-session overrides, paths and
# the command-line arguments each stage gets. No rules here (rules live in one file per stage).
#
# This file uses only Snakemake, the standard library, PyYAML and pandas, so the workflow parses
# with a bare Snakemake install (e.g. `--sdm conda`, where neurodsr lives in envs/neurodsr.yaml).
# The file names of a session come from src/neurodsr/session.py (FILES), loaded by path: it
# imports only the standard library.

import copy
import importlib.util
import json
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


def train_runtime(wildcards):
    """Minutes a training job may run: its budget plus room for evaluation, at least 30."""
    minutes = SESSIONS[wildcards.session]["train"].get("max_minutes") or 120
    return int(max(30, 1.5 * minutes + 15))


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


def mem(rule_name):
    """mem_mb of a rule from the config's resources section."""
    return config["resources"]["mem_mb"].get(rule_name, 4000)


def threads(rule_name):
    """threads of a rule from the config's resources section."""
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
