import json

import numpy as np
import pytest
import xarray as xr

from neurodsr import fit, load_fit
from neurodsr.api import train_fit
from neurodsr.cli import main
from neurodsr.dynamics.systems import lorenz63
from neurodsr.errors import InputError

QUICK = dict(
    epochs=6,
    seq_len=50,
    batch_size=8,
    batches_per_epoch=4,
    eval_every=3,
    eval_steps=500,
    progress=False,
    device="cpu",
)


@pytest.fixture(scope="module")
def lorenz_raw():
    from neurodsr.dynamics.systems import lorenz63

    return lorenz63(4000, dt=0.01, seed=7).values  # data units (not z-scored)


def test_fit_returns_model_log_and_metrics_in_data_units(lorenz_raw):
    res = fit(
        lorenz_raw, 0.01, tau=20, forcing="stf", seeds=2, hidden=16, test_fraction=0.25, **QUICK
    )
    assert res.n_train == 3000 and res.test.shape == (1000, 3)
    np.testing.assert_array_equal(res.test, lorenz_raw[3000:])
    m = res.metrics
    for key in ("D_stsp", "D_H", "PE", "D_stsp_median", "D_stsp_iqr", "tau", "best_seed"):
        assert key in m
    # the scored free run: 5x the test part (neurodsr.metrics.evaluate.scored_length)
    assert m["tau"] == 20 and m["n_generate"] == 5000 and m["seeds"] == [0, 1]
    assert res.generated.shape == (5000, 3)
    # generated runs are in data units: the mean of z is near the data's (~23), not 0
    assert abs(res.generated[:, 2].mean() - lorenz_raw[:, 2].mean()) < 15
    ds = res.to_dataset()
    assert ds["data"].dims == ("time", "dim")
    assert ds["generated"].dims == ("generated_time", "dim")
    assert ds.attrs["version_torch"] and ds.attrs["version_numpy"] and ds.attrs["version_xarray"]


def test_save_and_load_round_trip(tmp_path, lorenz_raw):
    res = fit(lorenz_raw, 0.01, tau=20, forcing="stf", seeds=2, hidden=16, **QUICK)
    path = res.save(tmp_path / "m.pt")
    loaded = load_fit(path)
    x0 = lorenz_raw[100]
    np.testing.assert_allclose(loaded.simulate(x0, 50), res.simulate(x0, 50), rtol=1e-6)
    assert loaded.best == res.best and loaded.meta["tau"] == 20
    with pytest.raises(InputError, match="not a neurodsr"):
        import torch

        torch.save({"a": torch.zeros(1)}, tmp_path / "other.pt")
        load_fit(tmp_path / "other.pt")


def test_bad_input_gets_clear_errors(lorenz_raw):
    bad = lorenz_raw.copy()
    bad[10, 1] = np.nan
    with pytest.raises(InputError, match="NaN"):
        fit(bad, 0.01, tau=10, **QUICK)
    const = lorenz_raw.copy()
    const[:, 2] = 1.0
    with pytest.raises(InputError, match=r"constant dims \[2\]"):
        fit(const, 0.01, tau=10, **QUICK)
    with pytest.raises(InputError, match=r"too short.*at least seq_len"):
        fit(lorenz_raw[:60], 0.01, tau=10, **QUICK)


def test_cli_fit_writes_fit_nc_and_prints_one_json_line(tmp_path, lorenz_raw, capsys):
    data = tmp_path / "lorenz.npy"
    np.save(data, lorenz_raw.astype(np.float32))
    out = tmp_path / "fit.nc"
    code = main(
        [
            "fit",
            str(data),
            "--dt",
            "0.01",
            "--tau",
            "20",
            "--forcing",
            "stf",
            "--out",
            str(out),
            "--epochs",
            "4",
            "--seeds",
            "2",
            "--hidden",
            "16",
            "--seq-len",
            "50",
            "--test-fraction",
            "0.2",
            "--n-generate",
            "1500",
            "--no-progress",
        ]
    )
    assert code == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    metrics = json.loads(line)
    assert {"D_stsp", "D_H", "PE", "tau"} <= set(metrics) and metrics["tau"] == 20
    with xr.open_dataset(out, engine="h5netcdf") as ds:
        assert ds["data"].shape == (800, 3)
        assert ds["generated"].shape == (1500, 3)  # at least as long as the test part
        np.testing.assert_allclose(ds["data"].values, lorenz_raw[3200:], rtol=1e-6)
        assert ds.attrs["metric_D_stsp"] == pytest.approx(metrics["D_stsp"])
    assert (tmp_path / "fit.pt").exists()
    summary = json.loads((tmp_path / "fit.json").read_text())
    assert summary["tau"] == 20 and summary["sources"]["tau"] == "user"


def test_cli_reports_bad_files_without_a_traceback(tmp_path, capsys):
    bad = tmp_path / "x.parquet"
    bad.write_text("nope")
    assert (
        main(["fit", str(bad), "--dt", "0.1", "--tau", "5", "--out", str(tmp_path / "f.nc")]) == 2
    )
    err = capsys.readouterr().err
    assert "x.parquet" in err and "unknown file type" in err
    assert not (tmp_path / "f.nc").exists()


def test_cli_chain_ingest_preprocess_fit(tmp_path, lorenz_raw, capsys):
    """fit reads a preprocessed.nc: its dt, its train/test split and its dim names."""
    raw = tmp_path / "lorenz.npy"
    np.save(raw, lorenz_raw.astype(np.float32))
    rec, pre, out = tmp_path / "recording.nc", tmp_path / "preprocessed.nc", tmp_path / "fit.nc"
    assert (
        main(
            [
                "ingest",
                str(raw),
                "--sampling-rate",
                "100",
                "--modality",
                "continuous",
                "--out",
                str(rec),
            ]
        )
        == 0
    )
    cfg = tmp_path / "pre.yaml"
    cfg.write_text("preprocess:\n  dt: 0.01\n  l_freq: null\n  line_freq: null\n")
    assert main(["preprocess", str(rec), "--config", str(cfg), "--out", str(pre)]) == 0
    with xr.open_dataset(pre, engine="h5netcdf") as p:
        n_train, n_total, dims = p.attrs["n_train"], p.sizes["time"], list(p.dim.values)
    capsys.readouterr()
    assert (
        main(
            [
                "fit",
                str(pre),
                "--tau",
                "20",
                "--forcing",
                "stf",
                "--out",
                str(out),
                "--epochs",
                "2",
                "--hidden",
                "8",
                "--seq-len",
                "50",
                "--no-progress",
            ]
        )
        == 0
    )
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert metrics["n_test"] == n_total - n_train
    log = json.loads((tmp_path / "fit.log.json").read_text())
    assert len(log["loss"]) == 2
    assert json.loads((tmp_path / "fit.json").read_text())["tau"] == 20
    # tau is a training setting: lyapunov on a preprocessed.nc sees the training part only
    assert main(["lyapunov", str(pre)]) == 0
    lyap = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert lyap["n_samples"] == n_train
    with xr.open_dataset(out, engine="h5netcdf") as ds:
        assert ds.attrs["dt"] == 0.01 and ds.attrs["n_train"] == n_train
        assert list(ds.dim.values) == dims


def test_tau_auto_uses_the_data_exponent_and_compares_with_the_model(lorenz_raw):
    from neurodsr.dynamics.systems import lorenz63

    x = lorenz63(12_000, dt=0.01, seed=11).values
    res = fit(x, 0.01, tau="auto", forcing="stf", seeds=2, hidden=16, **QUICK)
    lam = res.meta["lyapunov"]["lambda_max"]
    assert 0.8 < lam < 1.05  # Lorenz-63: 0.9056 per unit time
    assert res.meta["tau"] == round(np.log(2) / (lam * 0.01))
    assert "ln 2" in res.meta["tau_reason"]
    assert res.summary.sources["tau"] == "estimated from the training part"
    spec = res.evaluation.spectrum
    assert spec.exponents.shape == (2, 3) and len(res.metrics["lambda_max_model_members"]) == 2
    assert res.metrics["lambda_ratio"] == pytest.approx(res.metrics["lambda_max_model"] / lam)
    assert res.metrics["lambda_max_data"] == pytest.approx(lam)
    assert res.metrics["lambda_max_model"] == pytest.approx(spec.exponents[res.best, 0])


def test_tau_auto_on_a_short_slow_recording_shortens_the_theiler_window():
    # a slow oscillation (period ~600 samples) of 4000 samples: one period on each side of
    # every reference point does not fit, so the window is shortened and the estimate is made
    t = np.arange(4000)
    rng = np.random.default_rng(0)
    x = np.c_[np.sin(2 * np.pi * t / 600), np.cos(2 * np.pi * t / 610)]
    x = x + 0.05 * rng.standard_normal(x.shape)
    res = fit(x, 1.0, tau="auto", forcing="stf", hidden=8, **QUICK)
    lyap = res.meta["lyapunov"]
    assert lyap["verdict"] == "not chaotic"
    assert "Theiler window shortened" in lyap["reason"]
    assert res.meta["tau"] == 200 and "not chaotic" in res.meta["tau_reason"]


def test_tau_auto_on_a_recording_too_short_for_lyapunov_falls_back_and_says_why():
    # 100 training samples: too few for any divergence curve
    rng = np.random.default_rng(0)
    x = rng.standard_normal((130, 2)).cumsum(0)
    res = fit(x, 1.0, tau="auto", forcing="stf", hidden=8, n_train=100, **QUICK)
    assert res.meta["lyapunov"]["verdict"] == "unclear"
    assert res.meta["tau"] == 20 and "No Lyapunov estimate" in res.meta["tau_reason"]


def test_default_forcing_follows_the_data_verdict_and_an_alpha_given_is_gtf_at_it():
    # docs/RESULTS.md section 6 (session 14): chaotic data train the candidates their
    # lambda_max proposes, chosen by validation; other data GTF 0.1; an alpha given without a
    # forcing trains GTF at it
    from neurodsr.session import LyapunovSummary

    x = lorenz63(3000, dt=0.01, seed=3).values
    chaotic = LyapunovSummary(lambda_max=0.9, verdict="chaotic", tau=77)
    opts = dict(seeds=1, hidden=8, max_minutes=None, patience=None, **QUICK)
    s = train_fit(x, 0.01, lyapunov=chaotic, **opts).summary
    assert s.sources["forcing"].startswith("auto: the data are chaotic (lambda_max = 0.9)")
    assert len(s.candidates) >= 4 and s.forcing in ("gtf", "stf")
    assert "tau*" in s.candidates_reason and s.forcing_reason.startswith("Chosen by validation")
    assert (s.model["name"], s.model["latent_dim"]) == ("shplrnn", 3)
    for verdict in ("unclear", "not chaotic"):
        calm = LyapunovSummary(lambda_max=None, verdict=verdict, tau=200)
        c = train_fit(x, 0.01, lyapunov=calm, **opts).summary
        assert (c.forcing, c.alpha, c.candidates) == ("gtf", 0.1, [])
        assert (
            c.sources["forcing"].startswith("auto: GTF alpha = 0.1")
            and verdict in (c.sources["forcing"])
        )
    g = train_fit(x, 0.01, alpha=0.3, lyapunov=chaotic, **opts).summary
    assert (g.forcing, g.alpha, g.candidates) == ("gtf", 0.3, [])
    assert g.sources["forcing"] == "auto: alpha = 0.3 given"


def test_select_forcing_chooses_among_candidates_and_still_compares_lyapunov_exponents():
    x = lorenz63(6000, dt=0.01, seed=3).values
    res = fit(
        x, 0.01, forcing="select", seeds=2, hidden=16, max_minutes=None, patience=None, **QUICK
    )
    s = res.summary
    assert s.sources["forcing"].startswith("select: candidates")
    assert len(s.candidates) >= 4 and s.forcing in ("gtf", "stf")
    assert res.metrics["forcing"] == s.forcing
    assert s.forcing_reason.startswith("Chosen by validation")
    # tau="auto" (the default) estimates the data's exponent, which proposed the candidates
    assert res.meta["lyapunov"]["verdict"] == "chaotic" and "tau*" in s.candidates_reason
    assert res.metrics["lambda_ratio"] is not None
    assert res.to_dataset().attrs["forcing_reason"] == res.meta["forcing_reason"]


def test_fixed_gtf_is_still_there_when_asked_for():
    x = lorenz63(6000, dt=0.01, seed=3).values
    res = fit(x, 0.01, forcing="gtf", seeds=2, hidden=16, **QUICK)
    cfg = res.meta["train"]
    assert cfg["forcing"] == "gtf" and cfg["alpha"] == 0.1 and res.summary.candidates == []
    assert res.meta["tau"] is None and res.meta["forcing_reason"].startswith("GTF")


def test_a_tau_given_without_forcing_trains_stf_at_that_tau(lorenz_raw):
    res = fit(lorenz_raw, 0.01, tau=20, seeds=1, hidden=8, **QUICK)  # no forcing given
    assert res.summary.forcing == "stf" and res.summary.tau == 20
    assert res.summary.train["tau"] == 20 and res.summary.train["forcing"] == "stf"
    sources = res.summary.sources
    assert (sources["tau"], sources["forcing"]) == ("user", "auto: tau = 20 given")
    bptt = fit(lorenz_raw, 0.01, tau=None, seeds=1, hidden=8, **QUICK)
    assert bptt.summary.forcing == "none" and bptt.summary.tau is None


def test_a_tau_that_gtf_cannot_use_is_said_not_dropped(lorenz_raw, caplog):
    with caplog.at_level("WARNING", logger="neurodsr.api"):
        res = fit(lorenz_raw, 0.01, tau=20, forcing="gtf", seeds=1, hidden=8, **QUICK)
    assert res.summary.forcing == "gtf" and res.summary.tau is None
    assert "tau = 20 was given but GTF does not use it" in res.summary.forcing_reason
    assert any("GTF does not use it" in r.message for r in caplog.records)


def test_forcing_auto_resolves_from_what_was_given_and_says_what_is_unused():
    from neurodsr.session import LyapunovSummary
    from neurodsr.training.resolve import choose_forcing, unused_settings

    chaotic = LyapunovSummary(lambda_max=0.9, verdict="chaotic")
    assert choose_forcing("auto", "auto")[0] == "auto"  # nothing given: the data decide
    assert choose_forcing("auto", "auto", None, chaotic, 0.01)[0] == "select"
    assert choose_forcing("auto", "auto", None, LyapunovSummary(), 0.01)[0] == "gtf"
    assert (
        choose_forcing("select", 12, 0.2)[0] == "select" and choose_forcing("gtf", 12)[0] == "gtf"
    )
    assert choose_forcing("auto", 12) == ("stf", "auto: tau = 12 given")
    assert choose_forcing("auto", None)[0] == "none"
    assert choose_forcing("auto", "auto", 0.2) == ("gtf", "auto: alpha = 0.2 given")
    assert choose_forcing("auto", 12, 0.2)[0] == "stf"  # tau wins; alpha is said unused:
    assert unused_settings("stf", 12, 0.2) == (
        "alpha = 0.2 given but STF does not use it (forcing='gtf' does)."
    )
    assert "alpha = 0.2 and tau = 12 given but the candidate grid" in unused_settings(
        "select", 12, 0.2
    )
    assert unused_settings("gtf", "auto", 0.2) == unused_settings("select", "auto", None) == ""


def test_tau_auto_takes_the_lyapunov_stage_tau_and_says_so(lorenz_raw):
    from neurodsr.session import LyapunovSummary

    ly = LyapunovSummary.from_json(
        {"lambda_max": 0.9, "tau": 33, "verdict": "chaotic", "tau_explanation": "ln 2 rule"}
    )
    res = fit(lorenz_raw, 0.01, forcing="stf", lyapunov=ly, seeds=1, hidden=8, **QUICK)
    assert res.summary.tau == 33 and res.summary.sources["tau"] == "lyapunov.json"
    assert "given by the user" not in res.summary.tau_reason
    assert "ln 2 rule" in res.summary.tau_reason
    assert res.metrics["lambda_max_data"] == 0.9
