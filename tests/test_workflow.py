"""The Snakemake workflow: dry runs, lint, config errors, the SLURM profile, and (slow) a real run
over a tiny config with a broken session, a resumed training and the HTML reports in Chromium.

Snakemake runs in a subprocess (the Python running the tests, ``-m snakemake``) with the
repository's Snakefile and a temporary working directory, so nothing is written to the
repository.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from neurodsr.fileio import read_dataset

ROOT = Path(__file__).resolve().parents[1]
SNAKEFILE = ROOT / "Snakefile"

#: The CI config (.test/config.yaml: two tiny demo sessions) and one broken file.
TEST_CONFIG = yaml.safe_load((ROOT / ".test" / "config.yaml").read_text())
TINY_CONFIG = {
    **TEST_CONFIG,
    "sessions": {
        **TEST_CONFIG["sessions"],
        "broken": {"path": "broken.edf", "description": "a truncated file"},
    },
}


def snakemake(workdir: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the repository's workflow in ``workdir``; return the finished process."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "-d", str(workdir), *args]
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=workdir
    )


def write_config(workdir: Path, config: dict) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def job_counts(output: str) -> dict[str, int]:
    """The 'Job stats' table of a Snakemake run as {rule: count}."""
    block = output[output.index("Job stats:") :]
    counts = {}
    for line in block.splitlines()[3:]:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            break
        counts[parts[0]] = int(parts[1])
    return counts


# --------------------------------------------------------------------------- fast checks
def test_dry_run_of_the_default_config_plans_every_stage(tmp_path):
    shutil.copy(ROOT / "config.yaml", tmp_path / "config.yaml")
    res = snakemake(tmp_path, "-n", "--cores", "8")
    assert res.returncode == 0, res.stderr
    counts = job_counts(res.stdout + res.stderr)
    assert counts["demo_data"] == 1
    for rule in ("ingest", "preprocess", "lyapunov", "train", "evaluate", "report"):
        assert counts[rule] == 3, (rule, counts)
    assert counts["summary"] == 1
    assert not (tmp_path / "results").exists()
    # profiles/default (rerun-incomplete: an interrupted training resumes) is loaded by
    # Snakemake itself from beside the Snakefile, without a flag
    assert f"workflow specific profile {ROOT / 'profiles' / 'default'}" in res.stdout + res.stderr
    profile = yaml.safe_load((ROOT / "profiles" / "default" / "config.yaml").read_text())
    assert profile["rerun-incomplete"] is True


def test_lint_is_clean(tmp_path):
    shutil.copy(ROOT / "config.yaml", tmp_path / "config.yaml")
    res = snakemake(tmp_path, "--lint")
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert "Congratulations, your workflow is in a good condition!" in out


def test_defaults_are_filled_from_the_schema(tmp_path):
    # only sessions given: every other key comes from the schema's defaults
    write_config(tmp_path, {"sessions": {"s1": {"path": "rec.npy", "sampling_rate": 100}}})
    np.save(tmp_path / "rec.npy", np.zeros((10, 2)))
    res = snakemake(tmp_path, "-n", "-p", "--cores", "1", "results/s1/models/fit.pt")
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert "--sampling-rate 100" in out
    assert "--seeds 3" in out and "--forcing auto" in out and "--max-minutes 5.0" in out
    assert "--tau auto" in out and "--lyapunov results/s1/lyapunov.json" in out
    assert "--method kantz" in out and "--tau-max 200" in out


@pytest.mark.parametrize(
    ("config", "names"),
    [
        ({"sessions": {"a": {"path": "x.nix"}}, "train": {"epochz": 5}}, ["epochz", "train"]),
        ({"sessions": {"a": {"path": "x.nix"}}, "train": {"forcing": "xtf"}}, ["xtf", "forcing"]),
        ({"sessions": {"a": {"path": "x.nix", "train": {"lr": "fast"}}}}, ["'a'", "lr", "fast"]),
        (
            {"sessions": {"a": {"path": "x.nix", "preprocess": {"pca_componets": 3}}}},
            ["'a'", "pca_componets"],
        ),
        ({"sessions": {"a": {"pth": "x.nix"}}}, ["pth", "sessions.a"]),
        ({"session": {"a": {"path": "x.nix"}}}, ["session"]),
    ],
)
def test_config_errors_name_the_key(tmp_path, config, names):
    write_config(tmp_path, config)
    res = snakemake(tmp_path, "-n", "--cores", "1")
    out = res.stdout + res.stderr
    assert res.returncode != 0
    for name in names:
        assert name in out, (name, out[-3000:])


def test_sessions_table_with_overrides(tmp_path):
    (tmp_path / "sessions.tsv").write_text(
        "session\tpath\tmodality\tsampling_rate\ttrain.seeds\tpreprocess.pca_components\n"
        "rat1\trat1.npy\tcontinuous\t200\t5\t2\n"
        "rat2\trat2.npy\tcontinuous\t200\t\t\n"
    )
    for name in ("rat1", "rat2"):
        np.save(tmp_path / f"{name}.npy", np.zeros((10, 3)))
    write_config(tmp_path, {"sessions_table": "sessions.tsv", "train": {"seeds": 2}})
    res = snakemake(
        tmp_path,
        "-n",
        "-p",
        "--cores",
        "1",
        "results/rat1/models/fit.pt",
        "results/rat2/models/fit.pt",
        "results/rat1/preprocess.json",
    )
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert "--seeds 5" in out and "--seeds 2" in out
    assert '"pca_components": 2' in out
    assert "--modality continuous --sampling-rate 200" in out


def test_slurm_profile_parses_without_a_cluster(tmp_path):
    shutil.copy(ROOT / "config.yaml", tmp_path / "config.yaml")
    res = snakemake(tmp_path, "-n", "--profile", str(ROOT / "workflow/profiles/slurm"))
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert job_counts(out)["train"] == 3
    import yte  # the profile is a YTE template (Snakemake renders it the same way)

    with open(ROOT / "workflow/profiles/slurm/config.yaml") as f:
        profile = yte.process_yaml(f, require_use_yte=True)
    assert profile["executor"] == "slurm"
    assert profile["set-resources"]["train"]["slurm_partition"] == "gpu"
    assert profile["config"]["resources"]["gpus"] == 1


def test_every_rule_has_log_threads_resources_and_conda():
    rules = (ROOT / "workflow/rules").glob("*.smk")
    seen = set()
    for path in rules:
        text = path.read_text()
        for block in re.split(r"\n(?=rule )", text)[1:]:
            name = block.split()[1].rstrip(":")
            seen.add(name)
            for directive in ("log:", "threads:", "resources:", "conda:"):
                assert directive in block, (name, directive)
            assert "mem_mb=" in block and "runtime=" in block, name
    assert {
        "demo_data",
        "ingest",
        "preprocess",
        "lyapunov",
        "train",
        "evaluate",
        "report",
        "summary",
    } <= seen
    assert "gpu=" in (ROOT / "workflow/rules/train.smk").read_text()
    env = yaml.safe_load((ROOT / "envs/neurodsr.yaml").read_text())
    pip = next(d for d in env["dependencies"] if isinstance(d, dict))["pip"]
    assert any("constraints.txt" in line and line.startswith("-c") for line in pip)


def test_schema_lists_every_preprocessing_option():
    import dataclasses

    from neurodsr.preprocess import PreprocessConfig

    schema = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())
    keys = set(schema["$defs"]["preprocess"]["properties"])
    assert keys == {f.name for f in dataclasses.fields(PreprocessConfig)}


# --------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """Run the workflow once over TINY_CONFIG with --keep-going; return (workdir, process)."""
    work = tmp_path_factory.mktemp("workflow")
    write_config(work, TINY_CONFIG)
    (work / "broken.edf").write_bytes(b"0       truncated header, no data records")
    res = snakemake(work, "--cores", "2", "--keep-going", timeout=600)
    return work, res


@pytest.mark.slow
def test_keep_going_finishes_the_good_sessions(tiny_run):
    work, res = tiny_run
    out = res.stdout + res.stderr
    assert res.returncode != 0  # the broken session fails ...
    for session in ("spikes", "lfp"):  # ... the others finish
        root = work / "results" / session
        for name in (
            "recording.nc",
            "preprocessed.nc",
            "preprocess.json",
            "lyapunov.nc",
            "lyapunov.json",
            "models/fit.pt",
            "models/fit.json",
            "models/fit.log.json",
            "reconstruction.nc",
            "metrics.json",
            "report.html",
        ):
            assert (root / name).is_file(), (session, name, out[-3000:])
        for stage in ("ingest", "preprocess", "lyapunov", "train", "evaluate", "report"):
            assert (root / "logs" / f"{stage}.log").is_file()
    assert "Error in rule ingest" in out


@pytest.mark.slow
def test_outputs_follow_the_data_contracts(tiny_run):
    work, _ = tiny_run
    root = work / "results" / "lfp"
    recon = read_dataset(root / "reconstruction.nc")
    for var in (
        "data",
        "generated",
        "generated_members",
        "prediction",
        "lyapunov_spectrum",
        "kaplan_yorke",
        "prediction_error",
    ):
        assert var in recon, var
        assert "long_name" in recon[var].attrs and "units" in recon[var].attrs
    assert recon["time"].attrs["units"] == "s"
    assert recon.sizes["member"] == 3  # the per-session override of seeds
    assert recon.sizes["dim"] == 3
    assert any(k.startswith("version_") for k in recon.attrs)
    assert "metric_D_stsp_median" in recon.attrs and "seeds" in recon.attrs
    pred = recon["prediction"].values
    assert np.isnan(pred[:20]).all() and np.isfinite(pred[20:]).all()
    metrics = json.loads((root / "metrics.json").read_text())
    for key in (
        "D_stsp",
        "D_H",
        "PE",
        "D_stsp_median",
        "D_stsp_iqr",
        "D_H_median",
        "PE_iqr",
        "lambda_max_model",
        "vpt_seconds",
        "best_seed",
        "tau",
        "tau_reason",
    ):
        assert key in metrics, key
    assert metrics["best_seed"] in metrics["seeds"]
    lyap = json.loads((root / "lyapunov.json").read_text())
    # .test/config.yaml asks for the candidate grid (forcing: select, issue 12)
    assert metrics["forcing"] in ("gtf", "stf") and lyap["tau"] >= 2
    assert metrics["forcing_reason"].startswith("Chosen by validation")
    fit_json = json.loads((root / "models" / "fit.json").read_text())
    assert len(fit_json["candidates"]) >= 4 and fit_json["selection_reason"]
    # tau travelled as a file: fit read lyapunov.json and says so (not "given by the user")
    fit = json.loads((root / "models" / "fit.json").read_text())
    assert fit["sources"]["tau"] == "lyapunov.json" and fit["tau_reason"] == lyap["tau_explanation"]
    assert metrics["tau_source"] == "lyapunov.json" and "by the user" not in metrics["tau_reason"]
    for name in ("recording.nc", "preprocessed.nc", "lyapunov.nc"):
        ds = read_dataset(root / name)
        assert any(k.startswith("version_") for k in ds.attrs), name
    train_log = json.loads((root / "models" / "fit.log.json").read_text())
    assert len(train_log["loss"]) == len(train_log["epoch"]) > 0
    assert len(train_log["loss"][0]) == 3


@pytest.mark.slow
def test_index_lists_the_failure_and_why(tiny_run):
    work, _ = tiny_run
    index = (work / "results" / "index.html").read_text()
    assert "broken" in index and "failed" in index and "ingest" in index
    assert "broken.edf" in index  # the error names the file
    assert 'href="spikes/report.html"' in index and 'href="lfp/report.html"' in index
    assert 'href="broken/logs/ingest.log"' in index
    with open(work / "results" / "summary.csv", newline="") as f:
        rows = {r["session"]: r for r in csv.DictReader(f)}
    # finished sessions carry their verdict (a short training may well be "check"), with
    # the reasons whenever it is not ok
    for session in ("spikes", "lfp"):
        assert rows[session]["status"] in ("ok", "check", "diverged"), rows[session]
        assert (rows[session]["status"] == "ok") == (rows[session]["health_reasons"] == "[]")
    assert rows["broken"]["status"] == "failed" and rows["broken"]["stage"] == "ingest"
    assert float(rows["lfp"]["D_stsp_median"]) >= 0


@pytest.mark.slow
def test_report_is_self_contained(tiny_run):
    work, _ = tiny_run
    html = (work / "results" / "spikes" / "report.html").read_text()
    srcs = re.findall(r'src="([^"]*)"', html)
    assert len(srcs) >= 8 and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert "<script" not in html
    hrefs = re.findall(r'href="([^"]*)"', html)
    assert all(h.startswith(("#", "../index.html", "data:")) for h in hrefs), hrefs
    for text in (
        "lambda_max",
        "tau",
        "training loss",
        "D_stsp",
        "What the metrics mean",
        "Lyapunov spectrum",
        "what is good",
    ):
        assert text in html, text


@pytest.mark.slow
def test_chromium_renders_the_report_with_all_figures(tiny_run, tmp_path):
    from test_report import render, require_chromium

    chromium = require_chromium()
    work, _ = tiny_run
    result = render(
        chromium,
        work / "results" / "lfp" / "report.html",
        tmp_path,
        screenshot=tmp_path / "report.png",
    )
    assert result["images"] >= 8
    assert result["broken"] == [], result
    assert result["errors"] == [], result["errors"]
    assert (tmp_path / "report.png").stat().st_size > 10_000


@pytest.mark.slow
def test_rerun_resumes_an_interrupted_training(tiny_run):
    work, _ = tiny_run
    root = work / "results" / "spikes"
    # the checkpoint of the run (forcing select: one ensemble of all candidates, candidates/)
    assert list((root / "models" / "checkpoints").glob("*/checkpoint.pt"))
    # what a first run killed during training leaves: the stages before it, no outputs of
    # training or after it, and the checkpoint (not a declared output, so Snakemake keeps it)
    for name in (
        "models/fit.pt",
        "models/fit.json",
        "models/fit.log.json",
        "reconstruction.nc",
        "metrics.json",
        "report.html",
    ):
        (root / name).unlink()
    res = snakemake(work, "--cores", "2", "results/spikes/report.html", timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    train_log = (root / "logs" / "train.log").read_text()
    assert "resuming from" in train_log, train_log
    assert "starting afresh" not in train_log
    fit_json = json.loads((root / "models" / "fit.json").read_text())
    # all 20 epochs, unless the candidate's share of the budget ended it first (forcing auto)
    assert fit_json["epochs_run"] >= 20 or "time budget" in fit_json["stopped"], fit_json


@pytest.mark.slow
def test_snakemake_report_with_captions(tiny_run):
    work, _ = tiny_run
    res = snakemake(
        work,
        "--report",
        "report.html",
        "results/spikes/report.html",
        "results/lfp/report.html",
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    text = (work / "report.html").read_text(errors="replace")
    assert "spikes" in text and "forced RNNs" in text
