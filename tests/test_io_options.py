"""The ingest options reach `neurodsr ingest` from the command line and from a workflow
session's keys (config.yaml -> workflow/rules/common.smk -> the ingest rule's shell line)."""

from __future__ import annotations

import numpy as np

from _writers import write_suite2p_planes
from neurodsr.cli import main
from neurodsr.fileio import read_dataset
from test_workflow import snakemake, write_config


def test_session_keys_become_ingest_options(tmp_path):
    session = {
        "path": "rec.fif",
        "channel_type": ["mag"],
        "series": "LFP",
        "plane": 1,
        "trace": "C",
        "max_gap_s": 0.5,
        "allow_truncated": True,
        "allow_maxshield": False,
    }
    write_config(tmp_path, {"sessions": {"s1": session}})
    (tmp_path / "rec.fif").write_bytes(b"")
    res = snakemake(tmp_path, "-n", "-p", "--cores", "1", "results/s1/recording.nc")
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    for part in (
        "--channel-type mag",
        "--series LFP",
        "--plane 1",
        "--trace C",
        "--max-gap-s 0.5",
        "--allow-truncated",
    ):
        assert part in out, (part, out)
    assert "--allow-maxshield" not in out


def test_cli_plane_option(tmp_path):
    rng = np.random.default_rng(0)
    planes = [
        (100 + rng.normal(0, 1, (k, 120)), 40 + np.zeros((k, 120)), np.ones(k, bool))
        for k in (3, 2)
    ]
    s2p = write_suite2p_planes(tmp_path, planes, 10.0)
    out = tmp_path / "rec.nc"
    assert main(["ingest", str(s2p), "--plane", "1", "--out", str(out)]) == 0
    ds = read_dataset(out)
    assert ds.attrs["suite2p_plane"] == "plane1" and ds.sizes["channel"] == 2
    assert main(["ingest", str(s2p), "--plane", "combined", "--out", str(out)]) == 0
    assert read_dataset(out).sizes["channel"] == 5
