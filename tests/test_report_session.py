"""A whole session report built by the real stages on small data (issue 14): it says the
verdict that the index says, the forcing used and the tau suggested with units, lists the
held-out channels left out of the metrics and why, and its VPT figure agrees with its table.

The folder is built without Snakemake: ingest (.npy), lyapunov and evaluate / report run
through the command line; preprocessed.nc is written directly (a channel that falls silent in
the held-out part survives no preprocessing step unchanged) and the training runs through the
API (``train_fit``).
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
import xarray as xr

from neurodsr.api import train_fit
from neurodsr.cli import main
from neurodsr.dynamics.systems import lorenz63
from neurodsr.fileio import read_dataset, write_dataset
from neurodsr.metrics.core import session_health
from neurodsr.report import index_html
from neurodsr.session import FILES, LyapunovSummary, SessionLayout, summarize_sessions

DT = 0.02
N, N_TRAIN = 3000, 2400


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    results = tmp_path_factory.mktemp("results")
    layout = SessionLayout(results, "silent")
    files = {name: layout.path(name) for name in FILES}
    x = lorenz63(N, dt=DT, seed=1).values
    rng = np.random.default_rng(0)
    unit = rng.standard_normal(N)
    unit[N_TRAIN:] = 0.0 + 6e-7 * rng.standard_normal(N - N_TRAIN)  # silent in the test part
    x = np.c_[x, unit]
    x = (x - x[:N_TRAIN].mean(0)) / x[:N_TRAIN].std(0)
    raw = tmp_path_factory.mktemp("raw") / "silent.npy"
    np.save(raw, x.astype(np.float32))
    assert (
        main(["ingest", str(raw), "--sampling-rate", str(1 / DT), "--out", str(files["recording"])])
        == 0
    )
    dims = ["pc0", "pc1", "pc2", "unit7"]
    pre = xr.Dataset(
        {"x": (("time", "dim"), x.astype(np.float32))},
        coords={"time": ("time", np.arange(N) * DT, {"units": "s"}), "dim": dims},
        attrs={"dt": DT, "n_train": N_TRAIN, "session": "silent", "modality": "continuous"},
    )
    write_dataset(pre, files["preprocessed"])
    assert (
        main(
            [
                "lyapunov",
                str(files["preprocessed"]),
                "--out",
                str(files["lyapunov"]),
                "--json",
                str(files["lyapunov_json"]),
            ]
        )
        == 0
    )
    torch.set_num_threads(1)  # module fixtures run before conftest's per-test setting
    result = train_fit(
        x,
        DT,
        tau="auto",  # as the workflow trains: GTF (the default), tau from lyapunov.json
        lyapunov=LyapunovSummary.read(files["lyapunov_json"]),
        seeds=2,
        epochs=3,
        n_train=N_TRAIN,
        seq_len=30,
        batch_size=4,
        progress=False,
        checkpoint_dir=files["checkpoints"],
        eval_every=1,
        eval_steps=500,
    )
    result.write(files["weights"])  # models/fit.pt, fit.json, fit.log.json
    args = ["--n-pred", "5", "--vpt-horizon", "60", "--spectrum-steps", "200"]
    assert main(["evaluate", str(files["metrics"].parent), *args]) == 0
    assert main(["report", str(files["metrics"].parent)]) == 0
    return results, files


def test_held_out_silent_channel_is_excluded_and_named(session):
    _, files = session
    m = json.loads(files["metrics"].read_text())
    assert m["excluded_dim_names"] == ["unit7"] and m["excluded_std_ratio"][0] < 1e-5
    assert m["D_stsp"] < 100 and m["frac_outside"] < 1.0  # once 5e27 and 1.0
    assert m["diverged"] == (m["health"] == "diverged")
    html = files["report"].read_text()
    assert "Left out of D_stsp, D_H, frac_outside and the VPT: unit7" in html
    assert "near-constant in the held-out part" in html


def test_report_index_and_csv_share_one_verdict(session):
    results, files = session
    m = json.loads(files["metrics"].read_text())
    verdict = session_health(m)
    assert m["health"] == verdict.status and m["health_reasons"] == list(verdict.reasons)
    html = files["report"].read_text()
    assert f"<b>Status: {verdict.status}.</b>" in html
    row = summarize_sessions(results, ["silent"])[0]
    assert row["status"] == verdict.status and row["health_reasons"] == list(verdict.reasons)
    assert f'<span class="{verdict.status}"' in index_html([row])


def test_report_states_the_forcing_used_and_the_suggested_tau_with_units(session):
    _, files = session
    html = files["report"].read_text()
    ly = json.loads(files["lyapunov_json"].read_text())
    assert "Forcing used: GTF, alpha = 0.1 every step." in html
    if ly["tau"] is not None:
        assert f"{ly['tau']} steps ({ly['tau'] * DT:.3g} s)" in html
    assert "x variance" in html and "D_stsp (nats)" in html


def test_vpt_in_the_table_is_where_the_figure_drops_below_one_half(session):
    _, files = session
    m = json.loads(files["metrics"].read_text())
    recon = read_dataset(files["reconstruction"])
    frac = recon["vpt_valid_fraction"].values
    k = int(m["vpt_steps"])
    assert m["vpt_seconds"] == pytest.approx(k * DT)
    assert k == 0 or frac[k - 1] >= 0.5
    assert k == len(frac) or frac[k] < 0.5
    assert k > 0  # the silent unit's tiny variance no longer invalidates every prediction
    assert float(recon.attrs["metric_vpt_seconds"]) == pytest.approx(m["vpt_seconds"])
    html = files["report"].read_text()
    assert re.search(
        r"VPT \(s\)</td><td class=\"num\">" + re.escape(f"{m['vpt_seconds']:.3g}"), html
    )


def test_report_renders_with_all_figures(session, tmp_path):
    from test_report import render, require_chromium

    chromium = require_chromium()
    _, files = session
    result = render(chromium, files["report"], tmp_path, screenshot=tmp_path / "report.png")
    assert result["images"] >= 8 and result["broken"] == [], result
    assert result["errors"] == [], result["errors"]


def test_report_gives_the_lyapunov_tests_outcome(session):
    _, files = session
    ly = json.loads(files["lyapunov_json"].read_text())
    html = files["report"].read_text()
    assert ly["zero_one_K"] is not None and "0-1 test for chaos K = " in html
    if ly["surrogate_p_value"] is not None:
        assert "surrogate test p = " in html


def test_the_data_reference_is_in_the_metrics_the_file_and_the_report(session, tmp_path):
    import shutil

    from neurodsr.report import DATA_REFERENCE_TEXT, session_report_html
    from neurodsr.report.html import escape

    _, files = session
    m = json.loads(files["metrics"].read_text())
    recon = read_dataset(files["reconstruction"])
    n_test = N - N_TRAIN
    assert m["n_generate"] == 5 * n_test and m["dh_segments"] == 5
    assert m["n_data_reference"] == N_TRAIN  # min(n_generate, the training part)
    assert recon.sizes["generated_time"] == 5 * n_test and recon.sizes["member_time"] == n_test
    for key in ("dstsp_data_reference", "dh_data_reference"):
        assert np.isfinite(m[key]) and recon.attrs[f"metric_{key}"] == pytest.approx(m[key])
    html = files["report"].read_text()
    assert escape(DATA_REFERENCE_TEXT) in html and "floor" in DATA_REFERENCE_TEXT
    row = re.search(r"D_stsp \(nats\)</td>(.*?)</tr>", html).group(1)
    assert f'<td class="num">{m["dstsp_data_reference"]:.3g}</td>' in row
    # one definition: the report shows the value in metrics.json, it never recomputes it
    copy = tmp_path / "silent"
    shutil.copytree(files["metrics"].parent, copy)
    (copy / "metrics.json").write_text(json.dumps({**m, "dstsp_data_reference": 123.456}))
    row = re.search(r"D_stsp \(nats\)</td>(.*?)</tr>", session_report_html(copy)).group(1)
    assert '<td class="num">123</td>' in row
