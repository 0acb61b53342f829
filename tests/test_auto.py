"""Issue 12: the automatic forcing choice, trustworthy validation, the budget-sized schedule,
the sizing rule, and every flag given being used."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from neurodsr.api import train_fit
from neurodsr.dynamics.systems import lorenz63
from neurodsr.models import make_model
from neurodsr.models.pl import ShallowPLRNN
from neurodsr.session import FitSummary, LyapunovSummary
from neurodsr.training import TrainConfig, train
from neurodsr.training.candidates import (
    FALLBACK_ALPHAS,
    FALLBACK_TAUS,
    Candidate,
    pick_winner,
    propose_candidates,
)
from neurodsr.training.select import best_member as _best_member
from neurodsr.training.sizing import size_model
from neurodsr.training.trainer import KeepBest, TrainLog
from neurodsr.training.validation import validate

QUICK = dict(
    epochs=4,
    seq_len=50,
    batch_size=8,
    batches_per_epoch=3,
    eval_every=2,
    eval_steps=400,
    progress=False,
    device="cpu",
    max_minutes=None,
    patience=None,
)
CHAOTIC = LyapunovSummary(lambda_max=0.9, verdict="chaotic", tau=77)


@pytest.fixture(scope="module")
def lorenz_raw() -> np.ndarray:
    return lorenz63(4000, dt=0.01, seed=7).values


# --------------------------------------------------------------------------- candidates
def test_lambda_max_proposes_stf_fractions_and_gtf_alphas():
    cands, why = propose_candidates(0.9, 0.01, "chaotic", seq_len=100)
    tau_star = math.log(2) / 0.009  # 77 steps
    stf = [c for c in cands if c.forcing == "stf"]
    assert [c.tau for c in stf] == [round(f * tau_star) for f in (0.25, 0.5, 1.0)]
    assert [c.suggested for c in stf] == [False, False, True]
    a_star = 1 - math.exp(-(tau_star / 4) * 0.009)
    gtf = [c.alpha for c in cands if c.forcing == "gtf"]
    assert gtf == pytest.approx([a_star / 2, a_star, 2 * a_star], abs=1e-3)
    assert "tau*" in why
    # intervals beyond the training window are clipped to it (and not repeated)
    short = [c.tau for c in propose_candidates(0.9, 0.01, "chaotic", seq_len=30)[0] if c.tau]
    assert short == [19, 30]


@pytest.mark.parametrize(
    "verdict,lam", [("unclear", 0.9), ("not chaotic", -0.1), ("chaotic", None)]
)
def test_an_unclear_estimate_falls_back_to_the_documented_range(verdict, lam):
    cands, why = propose_candidates(lam, 0.01, verdict, seq_len=100)
    assert [c.tau for c in cands if c.forcing == "stf"] == list(FALLBACK_TAUS)
    assert [c.alpha for c in cands if c.forcing == "gtf"] == list(FALLBACK_ALPHAS)
    assert "fallback" in why and sum(c.suggested for c in cands) == 1


def test_the_winner_has_the_lowest_median_and_invalid_seeds_do_not_count():
    cands = [
        Candidate("stf", tau=10, suggested=True, scores=[0.5, 0.6, 0.7]),
        Candidate("gtf", alpha=0.1, scores=[math.inf, math.inf, 0.01]),  # 2 of 3 blew up
        Candidate("gtf", alpha=0.2, scores=[0.3, 0.4, 0.35]),
    ]
    # the median of the valid seeds: 0.01 for the second (one valid seed)
    i, why = pick_winner(cands)
    assert i == 1 and "GTF alpha=0.1" in why and "Lyapunov suggestion STF tau=10" in why
    cands[1].scores = [math.inf] * 3
    assert pick_winner(cands)[0] == 2


# --------------------------------------------------------------------------- validation
def _blow_up(model, member: int) -> None:
    """Make one member's latent map expanding (its free runs and predictions explode)."""
    with torch.no_grad():
        model.A[member] = 1.3


def test_a_blown_up_member_is_invalid_and_never_selected(lorenz_z):
    net = make_model("shplrnn", 3, 3, seeds=[0, 1, 2], hidden_dim=16)
    train(net, lorenz_z[:3000], TrainConfig(forcing="gtf", **{**QUICK, "epochs": 6}))
    _blow_up(net, 1)
    val = validate(net, lorenz_z[3000:4000], 800)
    assert not val.valid[1] and val.score[1] == math.inf and val.why[1]
    assert val.valid[0] and val.valid[2] and all(math.isfinite(val.score[e]) for e in (0, 2))
    # best-member selection and best-state keeping never take it
    assert _best_member(np.asarray(val.score)) != 1
    tlog = TrainLog(best_epoch=[-1, -1, -1])
    keep = KeepBest(3)
    keep.update(net, val.score, 0, tlog)
    assert tlog.best_epoch == [0, -1, 0]


def test_a_member_whose_predictions_leave_the_range_is_invalid_even_if_its_runs_look_fine(
    lorenz_z,
):
    # a model that sits still (A = 1, no input) has a bounded free run inside the range, but
    # an offset b moves its n-step predictions out: invalid by the predictions alone
    net = make_model("shplrnn", 3, 3, seeds=[0, 1], hidden_dim=8)
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
        net.A.fill_(1.0)
    val = validate(net, lorenz_z[:1000], 400, n_pred=20)
    assert all(val.valid)  # a constant inside the range is a poor, but valid, model
    with torch.no_grad():
        net.h1[1] = 0.5  # drifts by 0.5 per step: 10 std after 20 steps
    val = validate(net, lorenz_z[:1000], 400, n_pred=20)
    assert val.valid[0] and not val.valid[1]


def test_validation_uses_several_starts_and_reports_both_metrics(lorenz_z):
    net = make_model("shplrnn", 3, 3, seeds=[0], hidden_dim=8)
    one = validate(net, lorenz_z[:2000], 1200, n_starts=1)
    four = validate(net, lorenz_z[:2000], 1200, n_starts=4)
    for v in (one, four):
        assert math.isfinite(v.dstsp[0]) and 0 <= v.dh[0] <= 1
        assert v.score[0] == pytest.approx(math.sqrt(max(v.dstsp[0], 1e-3) * v.dh[0]))
    assert one.dh != four.dh  # different runs were scored


# --------------------------------------------------------------------------- the auto grid
def test_auto_grid_members_train_exactly_as_separate_fits(lorenz_raw):
    auto = train_fit(
        lorenz_raw, 0.01, forcing="select", lyapunov=CHAOTIC, seeds=2, hidden=8, **QUICK
    )
    s = auto.summary
    assert s.sources["forcing"].startswith("select: candidates")
    assert len(s.candidates) == 6 and sum(c["suggested"] for c in s.candidates) == 1
    assert all(len(c["scores"]) == 2 for c in s.candidates)
    winner = min(s.candidates, key=lambda c: c["median"])
    assert s.forcing == winner["forcing"]
    assert (s.tau if s.forcing == "stf" else s.alpha) == winner[
        "tau" if s.forcing == "stf" else "alpha"
    ]
    assert winner["label"] in s.selection_reason
    for cand in s.candidates:
        if cand["forcing"] == "stf":
            one = train_fit(
                lorenz_raw, 0.01, tau=cand["tau"], forcing="stf", seeds=2, hidden=8, **QUICK
            )
        else:
            one = train_fit(
                lorenz_raw, 0.01, forcing="gtf", alpha=cand["alpha"], seeds=2, hidden=8, **QUICK
            )
        np.testing.assert_allclose(one.summary.validation_score, cand["scores"], rtol=1e-3)
        if cand is winner:
            for k, v in one.model.state_dict().items():
                torch.testing.assert_close(auto.model.state_dict()[k], v, rtol=1e-4, atol=1e-6)
    # recorded in fit.json as written and read back
    again = FitSummary.from_json(json.loads(json.dumps(s.to_json())))
    assert again.candidates == s.candidates and again.selection_reason == s.selection_reason


def test_all_candidates_and_seeds_train_as_one_ensemble_with_the_whole_budget(tmp_path, lorenz_raw):
    """One training run (one checkpoint) holds every candidate x seed, each member with its
    candidate's forcing; a rerun resumes it and gives the same choice and model."""
    opts = dict(forcing="select", lyapunov=CHAOTIC, seeds=2, hidden=8, **QUICK)
    auto = train_fit(lorenz_raw, 0.01, checkpoint_dir=tmp_path, **opts)
    assert [p.parent.name for p in tmp_path.glob("*/checkpoint.pt")] == ["candidates"]
    ck = torch.load(tmp_path / "candidates" / "checkpoint.pt", weights_only=True)
    settings = json.loads(ck["run_id"])
    cands = auto.summary.candidates
    assert settings["model"]["seeds"] == [0, 1] * len(cands)
    assert settings["train"]["forcing"] == "mixed"
    assert settings["train"]["tau"] == [c["tau"] or 1 for c in cands for _ in (0, 1)]
    assert settings["train"]["alpha"] == [c["alpha"] or 1.0 for c in cands for _ in (0, 1)]
    again = train_fit(lorenz_raw, 0.01, checkpoint_dir=tmp_path, **opts)
    assert any("resumed" in e for e in again.log.events)
    assert again.summary.candidates == auto.summary.candidates
    for k, v in auto.model.state_dict().items():
        torch.testing.assert_close(again.model.state_dict()[k], v)


def test_the_report_shows_each_candidate_the_suggestion_and_the_winner(lorenz_raw):
    from neurodsr.report.candidates import candidates_figure, candidates_html

    auto = train_fit(
        lorenz_raw, 0.01, forcing="select", lyapunov=CHAOTIC, seeds=1, hidden=8, **QUICK
    )
    page = candidates_html(auto.summary.to_json())
    for c in auto.summary.candidates:
        assert c["label"] in page
    assert "Lyapunov suggestion" in page and "<b>chosen</b>" in page
    assert candidates_figure(auto.summary.to_json()).axes
    assert candidates_html({"candidates": []}) == ""


# --------------------------------------------------------------------------- the budget
def test_the_learning_rate_decays_over_the_budget_not_the_epochs(lorenz_z):
    cfg = TrainConfig(
        forcing="gtf", **{**QUICK, "epochs": 100_000, "max_minutes": 0.05, "eval_every": 50}
    )
    net = make_model("shplrnn", 3, 3, seeds=[0], hidden_dim=8)
    tlog = train(net, lorenz_z[:3000], cfg)
    assert "time budget" in tlog.stopped and len(tlog.epoch) < 100_000
    # progress follows the clock: it ends near 1 and the lr near lr_final
    assert tlog.progress[-1] > 0.9
    assert tlog.lr[-1] < cfg.lr * (cfg.lr_final / cfg.lr) ** 0.9
    assert all(b <= a for a, b in zip(tlog.lr, tlog.lr[1:], strict=False))


def test_patience_stops_training_when_validation_stops_improving(lorenz_z):
    cfg = TrainConfig(
        forcing="gtf",
        **{**QUICK, "epochs": 200, "eval_every": 1, "lr": 1e-9, "lr_final": 1e-9, "patience": 3},
    )
    net = make_model("shplrnn", 3, 3, seeds=[0], hidden_dim=8)
    tlog = train(net, lorenz_z[:3000], cfg)
    assert "patience" in tlog.stopped and len(tlog.epoch) < 20


class _DiesAtEpoch4(ShallowPLRNN):
    calls = 0

    def loss_and_grad(self, *a, **k):
        type(self).calls += 1
        if type(self).calls > 4 * QUICK["batches_per_epoch"]:
            raise KeyboardInterrupt
        return super().loss_and_grad(*a, **k)


@pytest.mark.parametrize("budget", [None, 10.0])
def test_an_interrupted_run_resumes_its_schedule_and_patience(tmp_path, lorenz_z, budget):
    cfg = TrainConfig(
        forcing="gtf",
        **{
            **QUICK,
            "epochs": 8,
            "eval_every": 1,
            "checkpoint_every": 1,
            "patience": 50,
            "max_minutes": budget,
        },
    )
    x = lorenz_z[:3000]
    whole = make_model("shplrnn", 3, 3, seeds=[0], hidden_dim=8)
    full = train(whole, x, cfg)
    _DiesAtEpoch4.calls = 0
    with pytest.raises(KeyboardInterrupt):
        train(_DiesAtEpoch4(3, 3, [0], "identity", hidden_dim=8), x, cfg, checkpoint_dir=tmp_path)
    ck = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert "since_best" in ck and ck["seconds"] > 0
    resumed_net = make_model("shplrnn", 3, 3, seeds=[0], hidden_dim=8)
    resumed = train(resumed_net, x, cfg, checkpoint_dir=tmp_path)
    assert any("resumed from checkpoint at epoch 4" in e for e in resumed.events)
    assert resumed.epoch == list(range(8))
    # the schedule continues where it stopped (time-based progress counts the time spent)
    assert resumed.progress[4] >= resumed.progress[3]
    if budget is None:  # epoch-based progress: exactly the uninterrupted run
        assert resumed.lr == pytest.approx(full.lr)
        for k, v in whole.state_dict().items():
            torch.testing.assert_close(resumed_net.state_dict()[k], v, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- sizing
def test_many_channels_get_an_affine_observation_with_fewer_latents_and_a_wide_layer():
    # the affine rule on request (the rule's own choice for many channels is the PCA
    # observation: tests/test_sizing.py)
    s = size_model(64, 8000, observation="affine")
    assert s.model == "clipped_shplrnn" and s.observation == "affine"
    assert s.latent == 16 and s.latent < 64 and s.hidden == 400
    small = size_model(3, 8000)
    assert (small.model, small.latent, small.observation) == ("shplrnn", 3, "identity")
    assert small.hidden == 50
    kept = size_model(64, 8000, model="shplrnn", latent=70, hidden=20, observation="identity")
    assert (kept.model, kept.latent, kept.hidden, kept.observation) == (
        "shplrnn",
        70,
        20,
        "identity",
    )
    assert size_model(3, 8000, latent=2).observation == "affine"  # identity needs M >= N
    assert "M = 16" in s.reason


def test_the_sizing_rule_reaches_the_model_and_fit_json():
    rng = np.random.default_rng(0)
    mix = rng.standard_normal((3, 32))
    x = lorenz63(3000, dt=0.01, seed=1).values @ mix + 0.05 * rng.standard_normal((3000, 32))
    res = train_fit(x, 0.01, forcing="gtf", model="auto", seeds=1, **QUICK)
    cfg = res.summary.model
    # 32 channels, not a delay embedding: the shPLRNN on the leading principal components
    assert cfg["name"] == "shplrnn" and cfg["observation"] == "pca"
    assert cfg["latent_dim"] == cfg["projection"]["n_components"] == 4
    assert res.summary.sources["latent"] == "sizing rule"
    assert "neurodsr.training.sizing" in res.summary.model_reason


# --------------------------------------------------------------------------- flags are used
FLAG_FAMILIES = {
    "forcing": (
        ["--tau", "7", "--forcing", "stf", "--alpha", "0.3"],
        {"tau": 7, "forcing": "stf", "alpha": 0.3},
    ),
    "model": (
        ["--model", "clipped_shplrnn", "--latent", "5", "--hidden", "9"],
        {"model": "clipped_shplrnn", "latent": 5, "hidden": 9},
    ),
    "observation": (
        ["--observation", "pca", "--components", "0.95"],
        {"observation": "pca", "components": 0.95},
    ),
    "schedule": (
        [
            "--epochs",
            "3",
            "--max-minutes",
            "0.5",
            "--patience",
            "4",
            "--lr",
            "0.002",
            "--seq-len",
            "40",
            "--batch-size",
            "4",
            "--grad-clip",
            "2.5",
        ],
        {
            "epochs": 3,
            "max_minutes": 0.5,
            "patience": 4,
            "lr": 0.002,
            "seq_len": 40,
            "batch_size": 4,
            "grad_clip": 2.5,
        },
    ),
    "data": (
        ["--seeds", "2", "--seed", "5", "--test-fraction", "0.3", "--val-fraction", "0.1"],
        {"seeds": 2, "seed": 5, "test_fraction": 0.3, "val_fraction": 0.1},
    ),
    "run": (
        [
            "--device",
            "cpu",
            "--threads",
            "1",
            "--checkpoint-every",
            "2",
            "--refit-on-mismatch",
            "--no-progress",
        ],
        {
            "device": "cpu",
            "threads": 1,
            "checkpoint_every": 2,
            "refit_on_mismatch": True,
            "progress": False,
        },
    ),
}


@pytest.mark.parametrize("family", sorted(FLAG_FAMILIES))
def test_every_fit_flag_given_reaches_train_fit(family, tmp_path, monkeypatch, lorenz_raw):
    import neurodsr.api
    from neurodsr.cli import main

    np.save(tmp_path / "x.npy", lorenz_raw)
    seen: dict = {}

    class Stop(Exception):
        pass

    def record(x, dt, **kwargs):
        seen.update(kwargs)
        raise Stop

    monkeypatch.setattr(neurodsr.api, "train_fit", record)
    flags, expected = FLAG_FAMILIES[family]
    with pytest.raises(Stop):
        main(
            [
                "fit",
                str(tmp_path / "x.npy"),
                "--dt",
                "0.01",
                "--weights",
                str(tmp_path / "w.pt"),
                *flags,
            ]
        )
    for key, value in expected.items():
        assert seen[key] == value, key
    if family == "schedule":  # 'none' is a budget too
        with pytest.raises(Stop):
            main(
                [
                    "fit",
                    str(tmp_path / "x.npy"),
                    "--dt",
                    "0.01",
                    "--weights",
                    str(tmp_path / "w.pt"),
                    "--max-minutes",
                    "none",
                ]
            )
        assert seen["max_minutes"] is None


def test_every_train_fit_option_reaches_the_trained_model_and_fit_json(lorenz_raw):
    res = train_fit(
        lorenz_raw,
        0.01,
        tau=7,
        model="clipped_shplrnn",
        latent=5,
        hidden=9,
        seeds=2,
        seed=5,
        test_fraction=0.3,
        val_fraction=0.2,
        epochs=3,
        max_minutes=0.5,
        patience=4,
        lr=0.002,
        seq_len=40,
        batch_size=4,
        grad_clip=2.5,
        batches_per_epoch=2,
        eval_every=1,
        eval_steps=500,
        progress=False,
        device="cpu",
    )
    s = res.summary
    assert (s.forcing, s.tau) == ("stf", 7)  # a tau given without a forcing trains STF at it
    assert (s.model["name"], s.model["latent_dim"], s.model["hidden_dim"]) == (
        "clipped_shplrnn",
        5,
        9,
    )
    assert s.seeds == [5, 6] and s.n_train == round(0.7 * len(lorenz_raw))
    assert s.n_validation == round(0.2 * s.n_train)
    t = s.train
    assert (t["epochs"], t["max_minutes"], t["patience"], t["lr"]) == (3, 0.5, 4, 0.002)
    assert (t["seq_len"], t["batch_size"], t["grad_clip"]) == (40, 4, 2.5)
    assert all(s.sources[k] == "user" for k in ("tau", "model", "latent", "hidden"))
    assert s.epochs_run == 3
