"""Validation's scoring on arrays (issue 12, item 4): the score reference, D_H from averaged
spectra, the range test that longer runs cannot loosen, and the wiring in training."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import neurodsr.training.validation
from neurodsr.dynamics.systems import lorenz63
from neurodsr.metrics.core import (
    mean_spectra,
    power_spectrum_distance,
    segment_spectrum_distance,
    state_space_divergence,
)
from neurodsr.models import make_model
from neurodsr.training import TrainConfig, train
from neurodsr.training.select import best_member
from neurodsr.training.validation import (
    RANGE_RUN,
    check_range,
    free_runs,
    score_runs,
    validate,
    validation_score,
)


@pytest.fixture(scope="module")
def two_runs() -> tuple[np.ndarray, np.ndarray]:
    """Two independent Lorenz-63 runs (dt 0.01), normalised with the first's statistics: the
    data (16 000 samples, the default split's training part) and the true system's run."""
    data = lorenz63(16_000, dt=0.01, seed=11).values
    other = lorenz63(21_000, dt=0.01, seed=12).values
    mean, std = data.mean(0), data.std(0)
    return (data - mean) / std, (other - mean) / std


def _cut(x: np.ndarray, k: int, run_len: int) -> np.ndarray:
    stride = len(x) // k
    return np.stack([x[i * stride : i * stride + run_len] for i in range(k)])


# --------------------------------------------------------------------------- spectra
def test_one_segment_is_the_metrics_d_h(two_runs):
    data, other = two_runs
    a, b = data[:1000], other[:1000]
    assert segment_spectrum_distance(a, b[None]) == pytest.approx(
        power_spectrum_distance(a, b), rel=1e-12
    )
    p = mean_spectra(data, 1000)
    assert p.shape == (3, 501)
    np.testing.assert_allclose(p.sum(1), 1.0)
    assert segment_spectrum_distance(data, data[None]) == pytest.approx(0.0, abs=1e-7)
    with pytest.raises(ValueError, match="segments of 100 samples"):
        mean_spectra(data[:50], 100)
    assert segment_spectrum_distance(data, other[None], seg_len=1250) < 0.2  # 12 vs 16 segments
    bad = other[:1000].copy()
    bad[10, 1] = np.nan
    assert math.isnan(segment_spectrum_distance(a, bad[None]))


def test_averaged_spectra_use_the_whole_reference_not_its_first_samples(two_runs):
    """Per run, D_H sees only the reference's first T samples: a reference whose start is
    atypical (here its first 1250 samples slowed down 4x) biases it; from averaged spectra
    the rest of the reference outweighs that start."""
    data, other = two_runs
    odd = data.copy()
    odd[:1250] = np.repeat(data[:313], 4, axis=0)[:1250]  # the first part 4x slower
    runs = _cut(other, 4, 1250)
    per_run = np.mean([power_spectrum_distance(odd, r) for r in runs])
    averaged = segment_spectrum_distance(odd, runs)
    assert averaged < 0.5 * per_run
    assert averaged == pytest.approx(segment_spectrum_distance(data, runs), abs=0.01)


# --------------------------------------------------------------------------- score_runs
def test_score_runs_scores_against_the_reference_it_is_given(two_runs):
    data, other = two_runs
    x_val = data[-2400:]
    runs = _cut(other, 4, 1250)
    old = score_runs(x_val, runs, dh="runs")
    assert old.valid and old.score == validation_score(old.dstsp, old.dh)
    assert old.dstsp == state_space_divergence(x_val, runs.reshape(-1, 3))
    assert old.dh == pytest.approx(np.mean([power_spectrum_distance(x_val, r) for r in runs]))
    new = score_runs(x_val, runs, x_score=data)
    assert new.dstsp == state_space_divergence(data, runs.reshape(-1, 3))
    assert new.dh == segment_spectrum_distance(data, runs)
    with pytest.raises(ValueError, match="dh must be one of"):
        score_runs(x_val, runs, dh="welch")


def test_the_true_systems_floor_is_lower_with_the_new_setting(two_runs):
    """The floor: an independent run of the true equations scored like a member. Against the
    short validation series with 4 x 1250 steps (before) it is several times the floor with
    the training part as the reference and 4 x 5000 steps (the new default)."""
    data, other = two_runs
    x_val = data[-2400:]
    before = score_runs(x_val, _cut(other, 4, 1250), dh="runs")
    after = score_runs(x_val, _cut(other, 4, 5000), x_score=data)
    assert after.valid and before.valid
    assert after.dstsp < 0.5 * before.dstsp
    assert after.score < 0.5 * before.score
    # identical runs: the data scored against itself is at (near) zero
    same = score_runs(data[-2400:], data[None], x_score=data)
    assert same.dstsp < 1e-6 and same.dh < 1e-6


def test_a_burst_outside_the_range_is_not_diluted_by_a_longer_run(two_runs):
    """The range test is at least as strict with longer runs: a member that leaves the range
    for 10 % of the first RANGE_RUN steps of each run stays invalid when its runs go on for
    4x as long inside the range (6 % of each run's first part against 2.5 % of the whole)."""
    data, other = two_runs
    x_val = data[-2400:]
    runs = _cut(other, 4, 4 * RANGE_RUN).copy()
    runs[:, 100 : 100 + RANGE_RUN // 10] += 10.0  # far outside, inside the first part
    short = score_runs(x_val, runs[:, :RANGE_RUN], dh="runs")
    assert not short.valid and "free run outside" in short.why
    long = score_runs(x_val, runs, x_score=data)
    assert not long.valid and long.score == math.inf
    assert long.outside == pytest.approx(0.1, abs=0.01)  # the first part's fraction
    whole_only = score_runs(x_val, runs, x_score=data, range_steps=None)
    assert whole_only.valid  # what the range test would say without its first-part check
    # the n-step predictions are checked as before
    preds = np.tile(x_val[:1] + 20.0, (100, 1))
    assert "predictions" in score_runs(x_val, _cut(other, 4, 1250), preds).why
    nan_run = _cut(other, 4, 1250).copy()
    nan_run[0, 5, 0] = np.inf
    r = score_runs(x_val, nan_run)
    assert r.why == "not finite" and math.isnan(r.dstsp) and r.score == math.inf


# --------------------------------------------------------------------------- validate
def test_validate_is_score_runs_on_the_models_free_runs(lorenz_z):
    net = make_model("shplrnn", 3, 3, seeds=[0, 1, 2], hidden_dim=16)
    x_val, x_train = lorenz_z[8000:9000], lorenz_z[:9000]
    with torch.no_grad():
        net.A[1] = 1.3  # member 1 blows up: invalid, never the pick
    val = validate(net, x_val, 2000, n_starts=2, x_score=x_train)
    runs = free_runs(net, x_val, 2000, 2, 200)
    assert runs.shape == (3, 2, 1000, 3)
    for e in (0, 2):
        r = score_runs(x_val, runs[e], x_score=x_train)
        assert not r.why  # (n-step predictions left out here: none leaves the range)
        assert val.score[e] == r.score and val.dstsp[e] == r.dstsp and val.dh[e] == r.dh
    assert not val.valid[1] and val.score[1] == math.inf
    assert best_member(np.asarray(val.score)) != 1
    # other start states, other runs (no transient: this untrained model settles down)
    shifted = free_runs(net, x_val, 2000, 2, 0, shift=250)
    assert not np.array_equal(shifted[0, :, 0], free_runs(net, x_val, 2000, 2, 0)[0, :, 0])
    np.testing.assert_array_equal(
        free_runs(net, x_val, 2000, 2, 200, shift=1000)[0], runs[0]
    )  # a shift by the whole series is none


def test_training_scores_against_the_whole_training_part(lorenz_z):
    x_fit, x_val = lorenz_z[:6000], lorenz_z[6000:7500]
    common = dict(
        forcing="gtf",
        epochs=2,
        eval_every=2,
        eval_steps=2000,
        val_starts=2,
        seq_len=50,
        batch_size=8,
        batches_per_epoch=3,
        keep_best=False,
        patience=None,
        progress=False,
        device="cpu",
    )
    logs = {}
    for ref in ("training", "validation"):
        net = make_model("shplrnn", 3, 3, seeds=[0, 1], hidden_dim=8)
        logs[ref] = train(net, x_fit, TrainConfig(**common, val_reference=ref), x_val=x_val)
        x_score = np.concatenate([x_fit, x_val]) if ref == "training" else None
        again = validate(net, x_val, 2000, n_starts=2, x_score=x_score)
        assert logs[ref].eval_score[-1] == again.score
    assert logs["training"].eval_dstsp != logs["validation"].eval_dstsp
    with pytest.raises(ValueError, match="val_reference"):
        TrainConfig(val_reference="test")
    with pytest.raises(ValueError, match="val_dh"):
        TrainConfig(val_dh="welch")


def test_the_kept_states_range_check_judges_the_runs_first_part_too(two_runs, monkeypatch):
    """check_range with ``range_steps`` (what train_fit passes: the old run length): runs made
    longer than before cannot pass a member whose first part left the range."""
    data, other = two_runs
    runs = _cut(other, 2, 4 * RANGE_RUN)[None].repeat(2, axis=0)  # (E=2, K=2, T, N)
    runs[1, :, 100 : 100 + RANGE_RUN // 10] += 10.0  # member 1: a burst in the first part
    monkeypatch.setattr(neurodsr.training.validation, "free_runs", lambda *a, **k: runs)
    net = make_model("shplrnn", 3, 3, seeds=[0, 1], hidden_dim=8)
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
        net.A.fill_(1.0)  # n-step predictions stay at their data states
    x_val = data[-2400:]
    whole = check_range(net, x_val, 4 * RANGE_RUN, x_range=data, n_starts=2)
    assert whole.valid == [True, True]  # 2.5 % of the whole runs: diluted
    head = check_range(net, x_val, 4 * RANGE_RUN, x_range=data, n_starts=2, range_steps=RANGE_RUN)
    assert head.valid == [True, False] and head.outside[1] == pytest.approx(0.1, abs=0.01)


def test_the_range_is_the_score_references_not_the_narrower_validation_series(two_runs):
    """Validation judges the runs' range against the data they are scored against (the whole
    training part in training, as the range check after training does), not against the
    validation series alone: a recording's validation part covers less than the data's range
    (the shared EEG's test part lay 25 % outside it), and a run of the true system must pass."""
    data, other = two_runs
    # a validation series from one lobe's part of the orbit: narrower than the data
    narrow = data[:4000][data[:4000, 0] > 0.3]
    run = other[5000:10000]
    alone = score_runs(narrow, run)
    assert not alone.valid and "outside the data's range" in alone.why
    judged = score_runs(narrow, run, x_score=data)
    assert judged.valid and judged.outside <= 0.05
    # and a run that leaves the training part's range is still invalid
    assert not score_runs(narrow, run * 3.0, x_score=data).valid
