"""The workflow's stage functions and commands, on small data: n-step predictions, the one
scorer (evaluate_fit) on a fitted model, the training outputs of fit, and the evaluate /
report / summary commands over a session folder built without Snakemake."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import xarray as xr

from neurodsr.api import load_fit, train_fit
from neurodsr.cli import main
from neurodsr.errors import InputError
from neurodsr.fileio import read_dataset, write_dataset, write_json
from neurodsr.metrics.evaluate import (
    evaluate_fit,
    n_step_predictions,
    prediction_horizon_errors,
)
from neurodsr.models import make_model
from neurodsr.session import FitSummary, LyapunovSummary, SessionLayout


def test_n_step_predictions_match_stepping_by_hand(lorenz_z):
    model = make_model("shplrnn", 3, None, seeds=[0, 1], hidden_dim=8)
    x = lorenz_z[:200]
    pred = n_step_predictions(model, x, 5)
    assert pred.shape == (2, 200, 3)
    assert np.isnan(pred[:, :5]).all() and np.isfinite(pred[:, 5:]).all()
    with torch.no_grad():
        z = model.init_state(
            torch.as_tensor(x[10:11], dtype=torch.float32)
            .unsqueeze(0)
            .expand(2, -1, -1)
            .contiguous()
        )
        for _ in range(5):
            z = model.step(z)
        manual = model.readout(z)[:, 0].double().numpy()
    np.testing.assert_allclose(pred[:, 15], manual, rtol=1e-5, atol=1e-6)
    with pytest.raises(InputError):
        n_step_predictions(model, x[:5], 5)


def test_prediction_horizon_errors_grow_from_zero_for_the_identity_map(lorenz_z):
    model = make_model("shplrnn", 3, None, seeds=[0], hidden_dim=4)
    with torch.no_grad():  # z_{t+1} = z_t: predictions stay at the start
        for p in model.parameters():
            p.zero_()
        model.A.fill_(1.0)
    err = prediction_horizon_errors(model, lorenz_z[:3000], 100, member=0, n_starts=20)
    assert err.shape == (20, 100)
    assert np.median(err[:, 0]) < 0.2 < np.median(err[:, -1])


@pytest.fixture(scope="module")
def session_dir(tmp_path_factory):
    """A session folder as the workflow leaves it before `evaluate`, from a tiny fit."""
    from neurodsr.dynamics.systems import lorenz63

    root = tmp_path_factory.mktemp("results") / "lorenz"
    files = SessionLayout.of(root)
    x = lorenz63(3000, dt=0.02, seed=1).values
    x = (x - x[:2400].mean(0)) / x[:2400].std(0)
    pre = xr.Dataset(
        {"x": (("time", "dim"), x.astype(np.float32))},
        coords={
            "time": ("time", np.arange(3000) * 0.02, {"units": "s"}),
            "dim": ["pc0", "pc1", "pc2"],
        },
        attrs={"dt": 0.02, "n_train": 2400, "session": "lorenz", "modality": "continuous"},
    )
    write_dataset(pre, files.preprocessed)
    write_json(
        {
            "lambda_max": 0.9,
            "lambda_std": 0.05,
            "tau": 38,
            "verdict": "chaotic",
            "tau_explanation": "tau = ln 2 / lambda_max -> 38",
        },
        files.lyapunov_json,
    )
    torch.set_num_threads(1)
    result = train_fit(
        x,
        0.02,
        tau="auto",  # the Lyapunov stage's tau, from lyapunov.json
        lyapunov=LyapunovSummary.read(files.lyapunov_json),
        forcing="stf",
        seeds=2,
        epochs=3,
        n_train=2400,
        seq_len=30,
        batch_size=4,
        progress=False,
        checkpoint_dir=files.checkpoints,
        eval_every=1,
        eval_steps=500,
        max_minutes=None,
    )
    result.write(files.weights)
    return root


def test_evaluate_fit_returns_the_reconstruction_and_metrics(session_dir):
    files = SessionLayout.of(session_dir)
    pre = read_dataset(files.preprocessed)
    fitted = load_fit(files.weights)
    ev = evaluate_fit(
        fitted,
        pre["x"].values,
        2400,
        0.02,
        lambda_max_data=0.9,
        n_pred=10,
        vpt_horizon=50,
        spectrum_steps=300,
    )
    recon, metrics = ev.dataset, ev.metrics
    assert recon["data"].shape == (600, 3)
    assert recon["prediction"].shape == (600, 3)
    assert recon["lyapunov_spectrum"].shape == (2, 3)
    assert recon["lyapunov_spectrum"].attrs["units"] == "1/s"
    np.testing.assert_allclose(recon["data"].values, pre["x"].values[2400:])
    assert metrics["best_seed"] == [0, 1][fitted.best]
    assert metrics["lambda_max_data"] == 0.9 and metrics["n_pred"] == 10
    assert recon["prediction_error"].shape == (2, 10)
    assert metrics["lambda_max_model"] == pytest.approx(
        float(recon["lyapunov_spectrum"].values[fitted.best, 0])
    )
    assert metrics["vpt_seconds"] == pytest.approx(metrics["vpt_steps"] * 0.02)
    for key in ("D_stsp", "D_stsp_median", "D_stsp_iqr", "D_H_median", "PE_median"):
        assert key in metrics, key


def test_fit_writes_its_training_log_and_summary(session_dir):
    files = SessionLayout.of(session_dir)
    log = json.loads(files.train_log.read_text())
    assert log["epoch"] == [0, 1, 2]
    assert np.asarray(log["loss"]).shape == (3, 2)
    summary = FitSummary.read(files.fit_summary)
    # tau travelled as a file: lyapunov.json's tau, and its explanation, not "given by the user"
    assert summary.tau == 38 and summary.sources["tau"] == "lyapunov.json"
    assert "ln 2" in summary.tau_reason and summary.epochs_run == 3
    assert summary.model["name"] == "shplrnn" and summary.best_seed in summary.seeds


def test_evaluate_report_and_summary_commands(session_dir, capsys):
    assert (
        main(
            [
                "evaluate",
                str(session_dir),
                "--n-pred",
                "5",
                "--vpt-horizon",
                "40",
                "--spectrum-steps",
                "200",
            ]
        )
        == 0
    )
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    files = SessionLayout.of(session_dir)
    for key in ("reconstruction", "metrics"):
        assert files.path(key).is_file(), key
    assert json.loads(files.metrics.read_text())["D_stsp"] == metrics["D_stsp"]
    assert metrics["tau"] == 38 and "ln 2" in metrics["tau_reason"]
    assert metrics["tau_source"] == "lyapunov.json"
    # the report needs the earlier stages' files: it names what is missing
    assert main(["report", str(session_dir)]) == 2
    assert "recording" in capsys.readouterr().err
    assert main(["summary", "lorenz", "--results", str(session_dir.parent)]) == 0
    assert "lorenz: incomplete" in capsys.readouterr().out  # no report yet
    assert (session_dir.parent / "index.html").is_file()


def test_evaluate_names_the_missing_file(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err
    assert "preprocessed.nc" in err and "session 'nothing'" in err


def test_evaluate_keeps_its_time_budget_and_shows_progress(session_dir, tmp_path, capsys):
    import shutil

    copy = tmp_path / "lorenz"
    shutil.copytree(session_dir, copy)
    args = ["evaluate", str(copy), "--vpt-horizon", "40", "--spectrum-steps", "200000"]
    assert main([*args, "--max-minutes", "0.02"]) == 0  # 1.2 s for 200000 QR steps: no
    out = capsys.readouterr()
    metrics = json.loads(out.out.strip().splitlines()[-1])
    assert 100 <= metrics["spectrum_steps"] < 200_000
    assert any("time budget" in n and "evaluate.max_minutes" in n for n in metrics["notes"])
    assert metrics["evaluate_seconds"] < 0.02 * 60 * 1.5 + 5
    assert "valid prediction time" in out.err and "evaluate" in out.err  # tqdm progress
    recon = read_dataset(SessionLayout.of(copy).reconstruction)
    assert np.isfinite(recon["lyapunov_spectrum"].values).all()
