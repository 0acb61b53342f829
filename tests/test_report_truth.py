"""The reports tell the truth (issue 12 item 4): each figure's labels and caption say what it
draws, a number has one definition wherever it is shown, and doubtful results (an unclear
Lyapunov verdict, a diverged seed, invalid validation runs) are flagged, never neutral.

Found by auditing the demo run of session 11 (results/demo_*) against its JSON and NetCDF
sources; each test is built the way tests/test_report.py builds its inputs.
"""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

from _sessions import write_session
from neurodsr.report import (
    _attractor_extent,
    _diverged_in_median,
    _growth_caption,
    _lambda_text,
    _lyapunov_caption,
    _lyapunov_verdict_note,
    _model_notes,
    _preprocessing_caption,
    _spectrum_caption,
    _spectrum_table,
    _training_caption,
    index_html,
)
from neurodsr.report import figures as F
from neurodsr.report.status import suggested_tau_text
from neurodsr.session import summarize_sessions


def _divergence(slope: float, reported: float) -> xr.Dataset:
    """A lyapunov.nc whose fitted line has ``slope`` while the reported lambda_max (combined
    with the local-Jacobian estimate, as in demo_spikes: 0.799 fitted, 0.699 reported) is
    ``reported``."""
    lag = np.arange(200) * 0.01
    s = np.minimum(slope * lag, 1.0) - 2.0
    fit = np.where((lag >= 0.2) & (lag <= 1.0), slope * lag - 2.0, np.nan)
    return xr.Dataset(
        {
            "divergence": (("time_lag",), s),
            "fit": (("time_lag",), fit),
            "local_slope": (("time_lag",), np.gradient(s, lag)),
        },
        coords={"time_lag": lag},
        attrs={
            "lambda_max": reported,
            "fit_start_time": 0.2,
            "fit_stop_time": 1.0,
            "method": "kantz",
            "verdict": "chaotic",
        },
    )


def test_the_divergence_fit_line_is_labelled_with_its_own_slope():
    fig = F.lyapunov_figure(_divergence(slope=0.8, reported=0.7))
    ax, ax2 = fig.axes[:2]
    fit_label = next(ln.get_label() for ln in ax.get_lines() if ln.get_linestyle() == "--")
    assert "0.8" in fit_label and "0.7" not in fit_label
    levels = {round(float(ln.get_ydata()[0]), 6) for ln in ax2.get_lines()[1:]}
    assert levels == {0.8, 0.7}  # the fit's slope and, dotted, the reported lambda_max
    caption = _lyapunov_caption(
        {"lambda_max": 0.7, "fit_start_time": 0.2, "kantz": {"lambda_max": 0.8}}
    )
    assert "not the fit's slope" in caption and "0.8" in caption


def test_captions_do_not_describe_what_is_not_drawn():
    no_fit = _lyapunov_caption({"lambda_max": None, "fit_start_time": None, "verdict": "unclear"})
    assert "no line is fitted" in no_fit and "shaded" not in no_fit
    assert "dashed" not in _spectrum_caption(None) and "dashed" in _spectrum_caption(0.7)
    growth = xr.Dataset({"log_jacobian_growth": (("horizon",), np.zeros(3))})
    assert "dashed" not in _growth_caption(growth)
    growth["lambda_T"] = ("horizon",), np.arange(3.0)
    assert "lambda_max T of the data (dashed" in _growth_caption(growth)


def test_the_training_figure_draws_the_score_that_chose_the_seed():
    log = {
        "epoch": [0, 1, 2, 3],
        "loss": [[1.0, 2.0], [0.5, 1.0], [0.3, 0.9], [0.2, 0.8]],
        "eval_epoch": [1, 3],
        "eval_dstsp": [[5.0, 6.0], [4.0, 3.0]],
        "eval_dh": [[0.1, 0.2], [0.3, 0.1]],
        "eval_score": [[0.7, float("inf")], [1.1, 0.55]],
        "best_epoch": [1, 3],
    }
    fig = F.training_figure(log, [0, 1], 1)
    ax2 = fig.axes[1]
    assert "sqrt(D_stsp,val x D_H,val)" in ax2.get_ylabel()
    curves = [np.asarray(ln.get_ydata(), float) for ln in ax2.get_lines() if ln.get_marker() == "o"]
    assert np.allclose(curves[0], [0.7, 1.1])
    assert math.isnan(curves[1][0]) and curves[1][1] == 0.55  # not D_stsp's 6.0, 3.0
    stars = [ln for ln in ax2.get_lines() if ln.get_marker() == "*"]
    assert sorted((float(s.get_xdata()[0]), float(s.get_ydata()[0])) for s in stars) == [
        (1.0, 0.7),
        (3.0, 0.55),
    ]
    assert any(ln.get_marker() == "x" for ln in ax2.get_lines())  # the invalid evaluation
    assert "validation score" in _training_caption(log) and "star" in _training_caption(log)
    old = {k: v for k, v in log.items() if k not in ("eval_score", "best_epoch")}
    assert F.training_figure(old, [0, 1], 1).axes[1].get_ylabel() == "validation D_stsp"


def test_an_unclear_lyapunov_verdict_is_flagged_not_neutral(tmp_path):
    m = {"PE": 0.1, "frac_outside": 0.0, "dt": 0.01, "forcing": "gtf", "alpha": 0.1}
    write_session(tmp_path, "lfp", m, {"tau": 20, "verdict": "unclear", "lambda_max": None})
    write_session(tmp_path, "spk", m, {"tau": 40, "verdict": "chaotic", "lambda_max": 0.699})
    rows = {r["session"]: r for r in summarize_sessions(tmp_path, ["lfp", "spk"])}
    assert rows["lfp"]["status"] == "ok"  # the verdict on the model is not changed ...
    text = index_html(list(rows.values()))
    lfp_row = next(line for line in text.split("<tr>") if ">lfp<" in line)
    assert '<span class="check"' in lfp_row and "none (unclear)" in lfp_row  # ... but flagged
    spk_row = next(line for line in text.split("<tr>") if ">spk<" in line)
    assert '<span class="check"' not in spk_row
    note = _lyapunov_verdict_note({"verdict": "unclear", "lambda_max": None, "tau": 20})
    assert 'class="note"' in note and "unclear" in note and "tau is a default" in note
    flat = _lyapunov_verdict_note({"verdict": "not chaotic", "lambda_max": None, "tau": None})
    assert "not chaotic" in flat and "no suggested tau" in flat
    assert _lyapunov_verdict_note({"verdict": "chaotic", "lambda_max": 0.7}) == ""


def test_the_suggested_tau_says_when_it_is_clipped_or_a_default(tmp_path):
    # demo_spikes: ln 2 / (0.699 / s x 0.01 s) = 99.2 steps, clipped to 40
    m = {"PE": 0.1, "frac_outside": 0.0, "dt": 0.01, "forcing": "gtf", "alpha": 0.1}
    write_session(tmp_path, "spk", m, {"tau": 40, "verdict": "chaotic", "lambda_max": 0.699})
    write_session(tmp_path, "lfp", m, {"tau": 20, "verdict": "unclear", "lambda_max": None})
    write_session(tmp_path, "ok", m, {"tau": 99, "verdict": "chaotic", "lambda_max": 0.699})
    rows = {r["session"]: r for r in summarize_sessions(tmp_path, ["spk", "lfp", "ok"])}
    assert rows["spk"]["tau_suggested_text"] == (
        "40 steps (0.4 s), clipped from ln 2 / lambda_max = 99.2 steps"
    )
    assert rows["lfp"]["tau_suggested_text"] == "20 steps (0.2 s), a default (no lambda_max)"
    assert rows["ok"]["tau_suggested_text"] == "99 steps (0.99 s)"
    # the interval trained with (STF, no suggestion) is shown as given
    assert suggested_tau_text({"forcing": "stf", "tau": 12, "dt": 0.01}) == "12 steps (0.12 s)"


def test_the_spectrum_table_marks_a_diverged_seed():
    # demo_calcium: seed 2 diverged on the held-out part; its lambda_1 (0.018) sat unmarked
    recon = xr.Dataset(
        {
            "lyapunov_spectrum": (("member", "exponent"), [[0.17, -0.3], [0.36, -0.28]]),
            "kaplan_yorke": (("member",), [1.5, 2.0]),
        },
        coords={"member": [1, 2]},
    )
    m = {"member_status": ["ok", "diverged"], "best_member": 0}
    text = _spectrum_table(recon, m, [1, 2])
    assert "status on the held-out part" in text
    assert '<span class="diverged">diverged</span>' in text and "1 (kept)" in text


def test_the_error_shown_with_lambda_max_is_said_whose_it_is():
    # an older lyapunov.json (no lambda_std_of), demo_spikes: 0.699 reported (geometric mean of
    # 0.799 and the Jacobians' 0.611), but lambda_std = 0.026 is the Kantz slope's error
    ly = {"lambda_max": 0.699, "lambda_std": 0.0261, "kantz": {"lambda_max": 0.799}}
    text = _lambda_text(ly)
    assert "0.699 per s" in text and "standard error of the divergence slope, 0.799" in text
    same = {"lambda_max": 0.799, "lambda_std": 0.0261, "kantz": {"lambda_max": 0.799}}
    assert _lambda_text(same) == "lambda_max = 0.799 &plusmn; 0.0261 per s"
    assert _lambda_text({"lambda_max": None}) == "lambda_max could not be estimated"
    # a lyapunov.json that says whose error lambda_std is (lambda_std_of) gives the reported
    # value's own: propagated to the geometric mean
    new = {**ly, "lambda_std": 0.0215, "lambda_std_of": "geometric mean"}
    assert _lambda_text(new) == "lambda_max = 0.699 &plusmn; 0.0215 per s"
    # the spectrum figure's band around the reported value is lambda_std
    assert "band: its standard error, lyapunov.json's lambda_std" in _spectrum_caption(0.699)


def test_a_diverged_seed_in_the_models_median_is_said():
    # demo_calcium: "data and models agree ... median of 3 seeds 0.165 [0.0181, 0.364]", the
    # 0.0181 being seed 2, which diverged on the held-out part
    m = {"member_status": ["ok", "ok", "diverged"], "seeds": [0, 1, 2]}
    assert "seed(s) 2, which diverged" in _diverged_in_median(m)
    assert _diverged_in_median({"member_status": ["ok", "ok"], "seeds": [0, 1]}) == ""


def test_the_attractor_caption_says_how_much_is_drawn():
    def recon(n_data: int, n_gen: int) -> xr.Dataset:
        return xr.Dataset(
            {
                "data": (("time", "dim"), np.zeros((n_data, 2))),
                "generated": (("generated_time", "dim"), np.zeros((n_gen, 2))),
            }
        )

    # demo_calcium: 2400 held-out steps, a scored run of 12000, of which the figure drew 6000
    text = _attractor_extent(recon(2400, 12000))
    assert "first 6000 of the free run's 12000" in text and "D_stsp scores the whole run" in text
    assert _attractor_extent(recon(400, 400)) == ""


def test_the_index_says_its_d_stsp_and_d_h_are_medians_over_seeds(tmp_path):
    # the session page's D_stsp is the kept seed's (demo_calcium 9.53), the index's the median
    # over seeds (10.9): the same header must not name two numbers
    m = {"PE": 0.1, "frac_outside": 0.0, "D_stsp": 9.53, "D_stsp_median": 10.9}
    write_session(tmp_path, "ca", {**m, "D_stsp_iqr": 1.89})
    text = index_html(summarize_sessions(tmp_path, ["ca"]))
    assert "D_stsp median (IQR) <small>(nats)</small>" in text
    assert "D_H median (IQR) <small>(0-1)</small>" in text
    assert "10.9 (1.89)" in text and "9.53" not in text


def test_a_kept_seed_that_failed_the_range_check_is_never_green():
    # metrics.json's verdict does not see fit.json's range check: the page said "Status: ok.
    # ... stays in the data's range" in green above a red "Every seed left the data's range"
    m = {"PE": 0.1, "frac_outside": 0.0, "D_stsp": 0.4, "best_member": 1, "seeds": [0, 1]}
    fit = {"best_member": 1, "range_check": {"why": ["60% outside", "20% outside"]}}
    text = _model_notes(m, fit)
    assert 'class="good"' not in text and 'class="bad"' in text
    assert "failed the range check" in text and "20% outside" in text
    passed = {"best_member": 1, "range_check": {"why": ["60% outside", ""]}}
    assert 'class="good"' in _model_notes(m, passed)
    assert 'class="good"' in _model_notes(m)


def test_the_preprocessing_caption_names_only_the_panels_drawn():
    # demo_calcium (sampled at 30 Hz, not "continuous"): no spectrum panel is drawn
    pre = xr.Dataset({"explained_variance": (("dim",), [0.6, 0.3])})
    calcium = xr.Dataset({"signal": (("time", "channel"), np.zeros((4, 2)))})
    calcium.attrs["modality"] = "calcium"
    assert "power spectrum" not in _preprocessing_caption(calcium, pre)
    lfp = calcium.assign_attrs(modality="continuous")
    assert "power spectrum before and after" in _preprocessing_caption(lfp, pre)
    assert "std before z-scoring" in _preprocessing_caption(calcium, xr.Dataset())
