"""Report pieces (index, summary table, formatting, figures) and the Chromium harness that
checks a page renders with all its figures and without console errors.

The session report itself is rendered in Chromium by the slow workflow test
(tests/test_workflow.py), which builds it from a real run.
"""

from __future__ import annotations

import csv
import html as html_lib
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from _sessions import write_session
from neurodsr.metrics.evaluate import valid_prediction_steps
from neurodsr.report import SUMMARY_COLUMNS, index_html, summary_csv, write_index
from neurodsr.report import figures as F
from neurodsr.report.html import fmt, page, table
from neurodsr.session import session_status, summarize_sessions

CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    "--enable-logging=stderr",
    "--v=0",
]

_CHECK = """<script>
window.__errors = [];
window.addEventListener('error', e => window.__errors.push(String(e.message || e)));
window.addEventListener('load', () => {
  const imgs = Array.from(document.images);
  const res = {images: imgs.length,
               broken: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt),
               widths: imgs.map(i => i.naturalWidth), errors: window.__errors};
  const pre = document.createElement('pre');
  pre.id = 'neurodsr-check';
  pre.textContent = JSON.stringify(res);
  document.body.appendChild(pre);
});
</script>"""


def require_chromium() -> str:
    """The chromium executable, or skip (CI installs Debian's chromium in .ci/run)."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("chromium is not installed (CI installs it: apt-get install chromium)")
    return exe


def render(chromium: str, page_path: Path, tmp: Path, screenshot: Path | None = None) -> dict:
    """Load a copy of ``page_path`` (with a checking script appended) in headless Chromium.

    Returns {"images": n, "broken": [alt of images not loaded], "errors": [console errors and
    uncaught exceptions]}. The page itself is not modified; its copy sits beside it so that
    relative links resolve the same way.
    """
    text = page_path.read_text(encoding="utf-8")
    probe = page_path.with_name(f".chromium-check-{page_path.name}")
    probe.write_text(text.replace("</body>", _CHECK + "</body>"), encoding="utf-8")
    profile = tmp / "chromium-profile"
    try:
        res = subprocess.run(
            [
                chromium,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                "--virtual-time-budget=10000",
                "--dump-dom",
                probe.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        probe.unlink(missing_ok=True)
    m = re.search(r'<pre id="neurodsr-check">(.*?)</pre>', res.stdout, re.S)
    assert m, f"chromium did not load the page: rc {res.returncode}\n{res.stderr[-2000:]}"
    result = json.loads(html_lib.unescape(m.group(1)))
    console = [
        line
        for line in res.stderr.splitlines()
        if "CONSOLE" in line
        and re.search(r"Uncaught|Error|Failed|Refused", line)
        and "neurodsr-check" not in line
    ]
    result["errors"] = list(result.get("errors", [])) + console
    if screenshot is not None:
        subprocess.run(
            [
                chromium,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                "--window-size=1280,6000",
                f"--screenshot={screenshot}",
                page_path.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    return result


# --------------------------------------------------------------------------- helpers
def _rows(tmp_path: Path) -> list[dict]:
    """A results folder with one finished and one failed session."""
    ok = tmp_path / "good"
    for name in (
        "recording.nc",
        "preprocessed.nc",
        "lyapunov.json",
        "models/fit.json",
        "report.html",
    ):
        (ok / name).parent.mkdir(parents=True, exist_ok=True)
        (ok / name).write_text("{}")
    (ok / "metrics.json").write_text(
        json.dumps(
            {
                "modality": "spikes",
                "D_stsp": 0.4,
                "D_stsp_median": 0.5,
                "D_stsp_iqr": 0.1,
                "D_H": 0.2,
                "D_H_median": 0.25,
                "D_H_iqr": 0.05,
                "PE": 0.1,
                "tau": 40,
                "lambda_max_data": 0.9,
                "lambda_max_model": 0.8,
                "vpt_lyapunov_times": 1.5,
                "seeds": [0, 1, 2],
            }
        )
    )
    bad = tmp_path / "bad" / "logs"
    bad.mkdir(parents=True)
    (bad / "ingest.log").write_text(
        "2026 INFO starting\nneurodsr ingest: error: [session 'bad', file 'x.edf'] MNE cannot "
        "read this file -- check the file is complete\n"
    )
    (tmp_path / "later").mkdir()
    return summarize_sessions(tmp_path, ["good", "bad", "later"])


def test_session_status_and_summary_rows(tmp_path):
    rows = {r["session"]: r for r in _rows(tmp_path)}
    assert rows["good"]["status"] == "ok" and rows["good"]["D_stsp_median"] == 0.5
    assert rows["bad"]["status"] == "failed" and rows["bad"]["stage"] == "ingest"
    assert "x.edf" in rows["bad"]["error"] and rows["bad"]["error"].startswith("neurodsr ingest")
    assert rows["later"]["status"] == "incomplete" and rows["later"]["stage"] == "ingest"
    st = session_status(tmp_path, "bad")
    assert st["log"].endswith("bad/logs/ingest.log") and "MNE cannot read" in st["log_tail"]


def test_index_page_links_reports_and_explains_failures(tmp_path):
    rows = _rows(tmp_path)
    text = index_html(rows)
    assert 'href="good/report.html"' in text
    assert 'href="bad/logs/ingest.log"' in text
    assert "MNE cannot read this file" in text and "x.edf" in text
    assert "1 of 3 sessions reconstructed" in text
    assert "<script" not in text and "http" not in text
    assert "0.5 (0.1)" in text  # median (IQR) of D_stsp
    assert "held-out parts of" not in text  # one finished session: nothing to compare


def test_index_shows_the_data_reference_and_warns_when_lengths_differ(tmp_path):
    rows = _rows(tmp_path)
    good = next(r for r in rows if r["session"] == "good")
    two = {**good, "session": "other", "n_test": 4000, "n_generate": 20_000}
    good.update(n_test=1000, n_generate=5000, dstsp_data_reference=0.7, dh_data_reference=0.02)
    text = index_html([good, two])
    assert "0.5 (0.1) / data 0.7" in text and "0.25 (0.05) / data 0.02" in text
    assert "held-out parts of 1000-4000 steps" in text
    assert "0.5 (0.1) /" not in index_html([two])  # no reference, no slash


def test_summary_csv_has_one_row_per_session(tmp_path):
    rows = _rows(tmp_path)
    table_rows = list(csv.DictReader(io.StringIO(summary_csv(rows))))
    assert [r["session"] for r in table_rows] == ["good", "bad", "later"]
    assert list(table_rows[0]) == list(SUMMARY_COLUMNS)
    assert table_rows[0]["seeds"] == "[0, 1, 2]" and table_rows[0]["tau"] == "40"
    assert table_rows[1]["status"] == "failed" and "x.edf" in table_rows[1]["error"]
    write_index(tmp_path, ["good", "bad"])
    assert (tmp_path / "index.html").is_file() and (tmp_path / "summary.csv").is_file()


def test_formatting_and_tables():
    assert fmt(None) == "-" and fmt(float("nan")) == "-" and fmt(float("inf")) == "diverged"
    assert fmt(0.123456) == "0.123" and fmt(3) == "3" and fmt(True) == "yes"
    t = table(["a", "b"], [["<x>", 1.5]])
    assert "&lt;x&gt;" in t and '<td class="num">1.5</td>' in t
    p = page("t <1>", "<p>body</p>")
    assert p.startswith("<!DOCTYPE html>") and "t &lt;1&gt;" in p and 'charset="utf-8"' in p


def test_valid_prediction_steps():
    errors = np.array([[0.1, 0.2, 0.6, 0.7], [0.1, 0.1, 0.1, 0.1], [0.9, 0.1, 0.1, 0.1]])
    np.testing.assert_array_equal(valid_prediction_steps(errors, 0.5), [2, 4, 0])


def _fake_reconstruction(n: int = 400, dims: int = 3, members: int = 2) -> xr.Dataset:
    rng = np.random.default_rng(0)
    t = np.arange(n) * 0.01
    data = np.stack([np.sin(2 * np.pi * (k + 1) * t) for k in range(dims)], 1)
    gen = data + 0.1 * rng.standard_normal(data.shape)
    pred = data.copy()
    pred[:20] = np.nan
    ds = xr.Dataset(
        {
            "data": (("time", "dim"), data),
            "generated": (("generated_time", "dim"), gen),
            "prediction": (("time", "dim"), pred),
            "prediction_error": (("member", "horizon"), rng.random((members, 20))),
            "vpt_error": (("lead",), np.linspace(0, 1, 50)),
            "lyapunov_spectrum": (("member", "exponent"), rng.standard_normal((members, dims))),
            "lyapunov_spectrum_std": (("member", "exponent"), np.full((members, dims), 0.1)),
        },
        coords={
            "time": t,
            "generated_time": t,
            "dim": [f"pc{i}" for i in range(dims)],
            "member": np.arange(members),
            "horizon": np.arange(1, 21),
            "lead": np.arange(1, 51) * 0.01,
        },
        attrs={
            "dt": 0.01,
            "metric_n_pred": 20,
            "metric_best_member": 1,
            "metric_vpt_threshold": 0.5,
        },
    )
    return ds


@pytest.mark.parametrize("dims", [1, 2, 3, 5])
def test_reconstruction_figures_draw_for_any_number_of_dims(dims):
    rec = _fake_reconstruction(dims=dims)
    for fig in (
        F.timeseries_figure(rec),
        F.attractor_figure(rec),
        F.power_spectra_figure(rec),
        F.prediction_figure(rec, 0.9),
        F.lyapunov_spectrum_figure(rec, 0.9, 0.1),
    ):
        png = F.png_base64(fig)
        assert len(png) > 1000


def test_training_figure_without_a_log():
    assert len(F.png_base64(F.training_figure(None, [0, 1], 0))) > 1000
    log = {
        "epoch": [0, 1, 2],
        "loss": [[1.0, 2.0], [0.5, 1.0], [0.3, 0.9]],
        "eval_epoch": [2],
        "eval_dstsp": [[0.4, float("inf")]],
    }
    assert len(F.png_base64(F.training_figure(log, [0, 1], 0))) > 1000


def test_chromium_renders_the_index_without_errors(tmp_path):
    chromium = require_chromium()
    rows = _rows(tmp_path)
    out = tmp_path / "index.html"
    out.write_text(index_html(rows))
    result = render(chromium, out, tmp_path)
    assert result["images"] == 0
    assert result["errors"] == []


# --------------------------------------------------------------------------- issue 14
def test_a_session_whose_predictions_blew_up_is_never_green(tmp_path):
    base = {"D_stsp": 0.4, "D_stsp_median": 0.5, "D_stsp_iqr": 0.1, "frac_outside": 0.0}
    write_session(tmp_path, "blown", {**base, "PE": 1.07e10, "diverged": False})
    write_session(tmp_path, "fine", {**base, "PE": 0.1, "diverged": False})
    write_session(tmp_path, "doubt", {**base, "PE": 0.1, "frac_outside": 0.3})
    rows = {r["session"]: r for r in summarize_sessions(tmp_path, ["blown", "fine", "doubt"])}
    assert (
        rows["blown"]["status"] == "diverged" and "1.07e+10" in rows["blown"]["health_reasons"][0]
    )
    assert rows["fine"]["status"] == "ok" and rows["fine"]["health_reasons"] == []
    assert rows["doubt"]["status"] == "check"
    text = index_html(list(rows.values()))
    assert '<span class="diverged"' in text and '<span class="check"' in text
    assert '<span class="ok" title' not in text  # no reasons on a good row ...
    blown_row = next(line for line in text.split("<tr>") if ">blown<" in line)
    assert 'class="ok"' not in blown_row and 'href="blown/report.html"' in blown_row
    assert "1 of 3 sessions reconstructed (1 to check, 1 diverged)" in text
    assert "Sessions to look at" in text and "Sessions that did not finish" not in text
    table_rows = {
        r["session"]: r for r in csv.DictReader(io.StringIO(summary_csv(list(rows.values()))))
    }
    assert (
        table_rows["blown"]["status"] == "diverged"
        and "PE(n)" in table_rows["blown"]["health_reasons"]
    )
    assert table_rows["fine"]["status"] == "ok"


def test_index_shows_the_forcing_used_and_the_suggested_tau_with_units(tmp_path):
    m = {"PE": 0.1, "frac_outside": 0.0, "dt": 0.01}
    write_session(
        tmp_path,
        "gtf",
        {**m, "forcing": "gtf", "alpha": 0.1, "tau": None},
        {"tau": 77, "verdict": "chaotic", "tau_explanation": "ln 2 / lambda_max"},
    )
    write_session(tmp_path, "stf", {**m, "forcing": "stf", "alpha": None, "tau": 12}, {"tau": 40})
    write_session(
        tmp_path,
        "flat",
        {**m, "forcing": "gtf", "alpha": 0.1},
        {"tau": None, "verdict": "not chaotic"},
    )
    rows = summarize_sessions(tmp_path, ["gtf", "stf", "flat"])
    text = index_html(rows)
    assert "GTF, alpha = 0.1 every step" in text and "77 steps (0.77 s)" in text
    assert "STF, tau = 12 steps (0.12 s)" in text and "40 steps (0.4 s)" in text
    assert "none (verdict: not chaotic)" in text
    assert "none (not chaotic)" in text  # lambda_max of the data, with the reason
    # every column says its unit and what is good: header tooltips and a legend
    heads = re.findall(r"<th title=\"([^\"]*)\">(.*?)</th>", text)
    assert len(heads) == 12
    named = {re.sub(r"<.*?>", "", h): tip for tip, h in heads}
    assert "nats" in "".join(named) and "Lyapunov times" in "".join(named)
    assert "Good:" in named["D_H median (IQR) (0-1)"] and "1/s" in "".join(named)
    assert 'id="legend"' in text and "what is good" in text
    table_rows = {r["session"]: r for r in csv.DictReader(io.StringIO(summary_csv(rows)))}
    assert table_rows["gtf"]["forcing_used"] == "GTF, alpha = 0.1 every step"
    assert table_rows["gtf"]["tau_suggested"] == "77"


def test_vpt_figure_marks_the_tables_vpt():
    rec = _fake_reconstruction()
    rng = np.random.default_rng(0)
    from neurodsr.metrics.core import valid_prediction_time

    vpt = valid_prediction_time(rng.random((51, 50)) * np.linspace(0.1, 1.5, 50), 0.5)
    rec["vpt_valid_fraction"] = ("lead",), vpt.valid_fraction()
    rec.attrs["metric_vpt_seconds"] = vpt.vpt_steps * 0.01
    fig = F.prediction_figure(rec, 0.9)
    ax = fig.axes[0]
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    vline = next(ln for lab, ln in lines.items() if lab.startswith("VPT ="))
    assert vline.get_xdata()[0] == pytest.approx(vpt.vpt_steps * 0.01)
    step = lines["share still valid"]
    x, y = np.asarray(step.get_xdata()), np.asarray(step.get_ydata())
    at = y[np.searchsorted(x, vpt.vpt_steps * 0.01)]
    after = y[np.searchsorted(x, vpt.vpt_steps * 0.01) + 1]
    assert at >= 0.5 > after  # the curve drops below one half exactly at the table's VPT


def test_power_spectra_figure_flags_spurious_high_frequency_power():
    rec = _fake_reconstruction(n=2000, dims=3)
    m = {"hf_flagged_dims": ["pc2"], "hf_band_start_hz": [5.0, 5.0, 5.0]}
    fig = F.power_spectra_figure(rec, m)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0].startswith("pc2") and "flagged" in titles[0]
    assert fig.axes[0].get_xlim()[1] == pytest.approx(50.0)  # drawn up to Nyquist
    assert not any("flagged" in t for t in titles[1:])
