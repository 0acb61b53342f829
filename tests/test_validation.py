"""The range check of the kept members (issue 12, item 4): a member whose free run or n-step
predictions leave the data's range is never chosen, judged in the N channels the user sees,
also for a model trained on principal components; the report flags it."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import neurodsr.training.fitting
from _series import mixed_lorenz
from neurodsr.api import train_fit
from neurodsr.models import make_model
from neurodsr.report.candidates import range_check_html, sizes_html
from neurodsr.session import LyapunovSummary
from neurodsr.training.projection import ProjectedModel, fit_pca
from neurodsr.training.select import best_member as _best_member
from neurodsr.training.validation import check_range, validate

QUICK = dict(
    epochs=3,
    seq_len=40,
    batch_size=8,
    batches_per_epoch=3,
    eval_every=1,
    eval_steps=600,
    progress=False,
    device="cpu",
    max_minutes=None,
    patience=None,
)


@pytest.fixture(scope="module")
def many() -> np.ndarray:
    return mixed_lorenz()


def _drift(inner, member: int, per_step: float) -> None:
    """Make one member of a shPLRNN sit still and drift by ``per_step`` per step in its first
    unit: inside the range for a while, outside it later."""
    with torch.no_grad():
        for p in (inner.W1, inner.W2, inner.h2, inner.h1):
            p[member] = 0.0
        inner.A[member] = 1.0
        inner.h1[member, 0] = per_step


# --------------------------------------------------------------------------- check_range
def test_a_slow_drift_passes_short_validation_runs_but_not_the_range_check(many):
    """The failure docs/RESULTS.md section 6 saw on rate64: kept PCA members whose scored free
    run left the range, although every validation (short runs, in PC space) passed them."""
    x = (many - many.mean(0)) / many.std(0)
    proj = fit_pca(x[:2000], 4)
    inner = make_model("shplrnn", 4, 4, seeds=[0, 1], hidden_dim=8)
    with torch.no_grad():
        for p in inner.parameters():
            p.zero_()
        inner.A.fill_(1.0)  # both members sit still at their start: inside the range
    _drift(inner, 1, 0.002)  # ~1.4 PC units after 700 steps, ~8 after 4000
    short = validate(inner, proj.transform(x[2000:2600]), 500, n_starts=1, transient=200)
    assert all(short.valid)  # the validation's runs are too short to see it
    view = ProjectedModel(inner, proj)
    check = check_range(view, x[2000:2600], 4000, x_range=x[:2600], n_starts=2)
    assert check.valid == [True, False]
    assert "free run outside the data's range" in check.why[1]
    assert check.outside[1] > 0.5 and check.outside[0] == 0.0
    assert check.run_steps == 4000 and check.n_starts == 2 and check.space == "channels"
    assert check.to_json()["why"] == check.why


def test_the_range_is_judged_in_the_channels_not_on_the_components(many):
    """A run at the corner of the components' box is inside every component's range, but the
    channels combine the components: the check reads the N channels."""
    x = (many - many.mean(0)) / many.std(0)
    proj = fit_pca(x, 4)
    pcs = proj.transform(x)
    inner = make_model("shplrnn", 4, 4, seeds=[0], hidden_dim=8)
    # a state that sits still at each component's own extreme (+ the margin), signs chosen so
    # that they add up in some channel
    corner = np.where(pcs.max(0) > -pcs.min(0), pcs.max(0), pcs.min(0))
    j = int(np.argmax(np.abs(proj.inverse(corner))))  # the channel they add up in most
    signs = np.sign(proj.components[:, j] * proj.scale)
    point = np.where(signs > 0, pcs.max(0), pcs.min(0)) + 0.4 * signs * pcs.std(0)
    with torch.no_grad():
        for p in inner.parameters():
            p.zero_()
        inner.A.fill_(1.0)
    start = np.tile(proj.inverse(point), (50, 1))  # every start at that state
    in_pcs = check_range(inner, proj.transform(start), 500, x_range=pcs, n_starts=1)
    assert in_pcs.valid[0] and in_pcs.outside[0] == 0.0  # inside every component's range
    check = check_range(ProjectedModel(inner, proj), start, 500, x_range=x, n_starts=1)
    assert not check.valid[0]  # outside channel j's range


def test_when_every_member_fails_the_least_outside_is_kept():
    assert _best_member(np.array([np.inf, np.inf, np.inf]), [0.9, 0.2, 0.5]) == 1
    assert _best_member(np.array([3.0, np.inf, 1.0]), [0.0, 1.0, 0.0]) == 2


# --------------------------------------------------------------------------- train_fit
def _train_then_break(victims: list[int], per_step: float = 0.02):
    """A stand-in for the trainer: trains for real, then makes the ``victims`` drift out of the
    range and gives them the best validation scores, so that only the range check can stop
    them from being chosen."""
    real = neurodsr.training.fitting.train

    def run(net, x, cfg, **kwargs):
        tlog = real(net, x, cfg, **kwargs)
        for v in victims:
            _drift(net, v, per_step)
            for row in tlog.eval_score:
                row[v] = 1e-6
        return tlog

    return run


def test_a_blown_up_pca_member_is_never_selected(many, monkeypatch):
    monkeypatch.setattr(neurodsr.training.fitting, "train", _train_then_break([1]))
    res = train_fit(many, 0.01, forcing="gtf", model="auto", seeds=3, **QUICK)
    s = res.summary
    assert isinstance(res.model, ProjectedModel) and s.model["observation"] == "pca"
    assert res.best != 1  # its validation score was the best: only the range check stops it
    assert s.validation_score[1] == math.inf
    assert s.range_check["why"][1] and not s.range_check["why"][res.best]
    assert s.range_check["space"] == "channels"
    assert s.range_check["run_steps"] >= len(res.x) - res.n_train  # as long as the scored run
    assert any("range check" in e and "seed 1" in e for e in res.log.events)
    html = range_check_html(s.to_json())
    assert "1 of 3 seeds" in html and "seed 1" in html and 'class="bad"' not in html


def test_a_blown_up_candidate_never_wins_the_forcing_choice(many, monkeypatch):
    ly = LyapunovSummary(lambda_max=0.9, verdict="chaotic", tau=77)
    monkeypatch.setattr(neurodsr.training.fitting, "train", _train_then_break([0]))
    res = train_fit(many, 0.01, forcing="select", model="auto", lyapunov=ly, seeds=1, **QUICK)
    first = res.summary.candidates[0]  # member 0 is the first candidate's only seed
    assert first["scores"] == [math.inf] and first["invalid"][0].startswith("range check")
    assert first["median"] == math.inf
    won = next(c for c in res.summary.candidates if c["median"] < math.inf)
    assert res.summary.forcing in ("stf", "gtf") and won is not first
    assert not (res.summary.forcing == first["forcing"] and res.summary.tau == first["tau"])


def test_when_every_member_left_the_range_the_report_says_so(many, monkeypatch):
    monkeypatch.setattr(neurodsr.training.fitting, "train", _train_then_break([0, 1]))
    res = train_fit(many, 0.01, forcing="gtf", observation="pca", seeds=2, **QUICK)
    s = res.summary
    assert all(s.range_check["why"]) and all(v == math.inf for v in s.validation_score)
    html = range_check_html(s.to_json())
    assert 'class="bad"' in html and "Every seed left the data" in html
    assert range_check_html({"range_check": {"why": ["", ""]}}) == ""
    # the verdict (metrics.json, the index, summary.csv) says so too, never a plain "ok"
    from neurodsr.metrics.evaluate import evaluate_fit

    ev = evaluate_fit(res, res.x, res.n_train, 0.01, max_minutes=0.5)
    assert ev.metrics["range_check_failed"] == s.range_check["why"][res.best]
    assert ev.metrics["health"] != "ok"
    assert any("range check after training" in r for r in ev.metrics["health_reasons"])


# --------------------------------------------------------------------------- sizes compete
@pytest.fixture()
def compete(monkeypatch):
    """Sizes compete from any budget (the threshold lowered for a fast test)."""
    from neurodsr.training import sizing

    monkeypatch.setattr(sizing, "SIZE_COMPETITION_MINUTES", 0.01)
    return {**QUICK, "max_minutes": 0.2, "epochs": 3}


def test_two_sizes_compete_and_the_lower_validation_score_wins(many, compete):
    res = train_fit(many, 0.01, forcing="gtf", model="auto", seeds=2, **compete)
    s = res.summary
    assert [r["observation"] for r in s.sizes] == ["pca", "identity"]
    chosen = [r for r in s.sizes if r["chosen"]]
    assert len(chosen) == 1
    assert chosen[0]["score"] == min(r["score"] for r in s.sizes)
    assert s.model["observation"] == chosen[0]["observation"]
    assert isinstance(res.model, ProjectedModel) == (chosen[0]["observation"] == "pca")
    assert all(r["epochs_run"] == 3 and math.isfinite(r["score"]) for r in s.sizes)
    assert s.sources["observation"] == "sizes competed by validation"
    assert "Sizes competed by validation" in s.model_reason
    assert s.train["max_minutes"] == 0.1  # half the budget each
    # lambda_max was estimated once, on the training part, whichever size won
    assert s.sources["tau"] == "estimated from the training part"
    # the report's table: both sizes, the winner marked, validation's own D_stsp and D_H
    html = sizes_html(s.to_json())
    assert html.count("<tr>") == 3 and html.count("<b>chosen</b>") == 1
    assert "principal components" in html and "identity (M = N)" in html
    assert "D_H,val" in html and f"{chosen[0]['epochs_run']} epochs" in html
    assert all(math.isfinite(r["val_dstsp"]) and 0 <= r["val_dh"] <= 1 for r in s.sizes)
    # a size given by the user does not compete
    one = train_fit(many, 0.01, forcing="gtf", model="auto", hidden=20, seeds=1, **compete)
    assert one.summary.sizes == []


def test_the_second_size_keeps_where_lambda_max_came_from(many, compete, monkeypatch):
    """The identity size reuses the PCA size's estimate; if it wins, fit.json still says the
    estimate came from the training part (not from a lyapunov.json nobody gave)."""
    from neurodsr.training import fitting

    def second(rows, minutes):
        rows[1]["chosen"] = True
        return 1, "the identity size (forced for this test)"

    monkeypatch.setattr(fitting, "pick_size", second)
    res = train_fit(many, 0.01, forcing="gtf", model="auto", seeds=1, **compete)
    assert res.summary.model["observation"] == "identity"
    assert res.summary.sources["tau"] == "estimated from the training part"


def test_a_blown_up_size_never_wins(many, compete, monkeypatch):
    real = neurodsr.training.fitting.train

    def break_the_pca_size(net, x, cfg, **kwargs):
        tlog = real(net, x, cfg, **kwargs)
        if net.obs_dim < many.shape[1]:  # the model on the components
            for v in range(net.n_models):
                _drift(net, v, 0.02)
                for row in tlog.eval_score:
                    row[v] = 1e-6
        return tlog

    monkeypatch.setattr(neurodsr.training.fitting, "train", break_the_pca_size)
    res = train_fit(many, 0.01, forcing="gtf", model="auto", seeds=2, **compete)
    pca, identity = res.summary.sizes
    assert pca["score"] == math.inf and pca["invalid"] and not pca["chosen"]
    assert identity["chosen"] and res.summary.model["observation"] == "identity"
    assert not isinstance(res.model, ProjectedModel)
