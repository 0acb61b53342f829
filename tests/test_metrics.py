import time

import numpy as np
import pytest

from neurodsr.dynamics.systems import lorenz63
from neurodsr.metrics.core import (
    fraction_outside,
    power_spectrum_distance,
    state_space_divergence,
    state_space_divergence_binned,
    state_space_divergence_gmm,
)


@pytest.fixture(scope="module")
def two_runs():
    a = lorenz63(20_000, seed=1).values
    b = lorenz63(20_000, seed=2).values
    return a, b


def test_zero_on_identical(two_runs):
    a, _ = two_runs
    assert state_space_divergence(a, a) == pytest.approx(0.0, abs=1e-12)
    assert power_spectrum_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    six = np.random.default_rng(0).standard_normal((3000, 6))
    assert state_space_divergence(six, six) == pytest.approx(0.0, abs=1e-9)
    assert fraction_outside(a, a) == 0.0


def test_small_for_the_same_system_large_for_another(two_runs):
    a, b = two_runs
    same = state_space_divergence(a, b)
    shrunk = state_space_divergence(a, 0.3 * (b - b.mean(0)) + b.mean(0))
    assert same < 0.5
    assert shrunk > 5 * same and shrunk > 2.0
    noise = np.random.default_rng(0).standard_normal(a.shape)
    assert power_spectrum_distance(a, b) < 0.15
    assert power_spectrum_distance(a, noise) > 0.6


def test_binned_kl_matches_a_dense_histogram_in_2d():
    rng = np.random.default_rng(3)
    p = rng.standard_normal((4000, 2))
    q = rng.standard_normal((4000, 2)) * 1.3 + 0.2
    # dense reference: the textbook formula over all 30^2 bins
    from neurodsr.metrics.core import zscore_like

    pz, qz = zscore_like(p, q)
    lo, hi = pz.min(0) - 0.1 * pz.std(0), pz.max(0) + 0.1 * pz.std(0)
    edges = [np.linspace(lo[j], hi[j], 31) for j in range(2)]
    hp = np.histogramdd(pz, bins=edges)[0]
    hq = np.histogramdd(qz, bins=edges)[0]
    pp = (hp + 1e-5) / (hp.sum() + 1e-5 * 900)
    qq = (hq + 1e-5) / (hq.sum() + 1e-5 * 900)
    dense = float((pp * np.log(pp / qq)).sum())
    assert state_space_divergence_binned(p, q) == pytest.approx(dense, rel=1e-3)


def test_binned_never_allocates_all_bins_and_is_fast():
    # 5 dims x 30 bins = 24.3 M cells: a dense histogram would need ~200 MB per series. The
    # value itself is large (10^5 points spread over 24 M bins is sparse: that is why DESIGN.md
    # switches to mixtures from 6 dims), but it must be finite, and identical inputs give 0.
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((100_000, 5)), rng.standard_normal((100_000, 5))
    t = time.perf_counter()
    d = state_space_divergence_binned(a, b)
    assert np.isfinite(d) and d > 0
    assert state_space_divergence_binned(a, a) == pytest.approx(0.0, abs=1e-12)
    assert time.perf_counter() - t < 30  # a guard against a dense 30^5 fallback only


def test_gmm_used_from_six_dims_and_detects_mismatch():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((3000, 8))
    same = state_space_divergence(a, rng.standard_normal((3000, 8)))
    shifted = state_space_divergence(a, rng.standard_normal((3000, 8)) + 3.0)
    assert same < 0.1
    assert shifted > 10 * max(same, 0.01)
    assert shifted == pytest.approx(state_space_divergence_gmm(a, a + 0 * a + 3.0), rel=0.5)


def test_diverged_model_is_flagged(two_runs):
    a, b = two_runs
    blown = b.copy()
    blown[1000:] = np.inf
    assert fraction_outside(a, blown) > 0.9
    assert np.isnan(power_spectrum_distance(a, blown))
    assert state_space_divergence_gmm(np.c_[a, a], np.c_[blown, blown]) == np.inf


# --------------------------------------------------------------------------- issue 14
from neurodsr.metrics.core import (  # noqa: E402
    HEALTH_RULES,
    high_frequency_excess,
    max_excursion,
    member_health,
    near_constant_dims,
    session_health,
    valid_prediction_time,
)


def test_pe_that_blew_up_is_never_ok():
    # the index once showed a green "ok" beside PE(best) = 1.07e10
    h = member_health(pe=1.07e10, frac_outside=0.0, pe_n=20)
    assert h.status == "diverged" and "PE(20) = 1.07e+10" in h.reasons[0]
    assert member_health(pe=0.05, frac_outside=0.0).status == "ok"
    assert member_health(pe=2.0, frac_outside=0.0).status == "check"
    assert member_health(pe=float("nan"), frac_outside=0.0).status == "diverged"
    assert member_health(pe=0.1, frac_outside=1.0).status == "diverged"
    assert member_health(pe=0.1, frac_outside=0.2).status == "check"
    assert member_health(pe=0.1, frac_outside=0.0, finite=False).status == "diverged"
    # half of a free run blown up by 1e5: only 50% outside, but far beyond the data's range
    a = np.random.default_rng(0).standard_normal((1000, 2))
    blown = a.copy()
    blown[500:] *= 1e5
    assert fraction_outside(a, blown) <= 0.5 and max_excursion(a, blown) > 1e3
    assert max_excursion(a, a) == 0.0 and max_excursion(a, blown * np.nan) == np.inf
    h = member_health(pe=0.1, frac_outside=fraction_outside(a, blown), excursion=1e4)
    assert h.status == "diverged" and "blew up" in h.reasons[0]
    # the same definition decides a session from its metrics.json ...
    assert session_health({"PE": 1.07e10, "frac_outside": 0.0, "diverged": False}).status == (
        "diverged"
    )
    # ... and another seed that diverged makes the session "check", naming it
    h = session_health(
        {
            "PE": 0.1,
            "frac_outside": 0.0,
            "member_status": ["ok", "diverged", "ok"],
            "best_member": 0,
            "seeds": [4, 5, 6],
        }
    )
    assert h.status == "check" and "seed(s) 5" in h.reasons[0]
    assert session_health({"PE": 0.1, "frac_outside": 0.0, "hf_flagged_dims": ["pc1"]}).status == (
        "check"
    )
    assert HEALTH_RULES["pe_check"] < HEALTH_RULES["pe_diverged"]
    # a geometry far from the data's own reference is "check" (the demo's calcium session:
    # 9.02 against 2.26); within the perfect model's range (spikes: 2.16 against 1.53) it is not
    fine = {"PE": 0.1, "frac_outside": 0.0}
    far = session_health({**fine, "D_stsp": 9.02, "dstsp_data_reference": 2.26})
    assert far.status == "check" and "4.0 times what the data score" in far.reasons[0]
    assert session_health({**fine, "D_stsp": 2.16, "dstsp_data_reference": 1.53}).status == "ok"
    assert session_health({**fine, "D_stsp": 9.0}).status == "ok"  # no reference: no rule


def test_near_constant_held_out_channel_cannot_blow_the_metrics_up(two_runs):
    # a unit silent in the test part (std 6e-7) once gave D_stsp 5e27 and frac_outside 1.0
    a, b = two_runs
    a = (a - a.mean(0)) / a.std(0)
    b = (b - b.mean(0)) / b.std(0)
    silent = np.c_[a[:3000], 1e-3 + 6e-7 * np.random.default_rng(0).standard_normal(3000)]
    model = np.c_[b[:3000], np.random.default_rng(1).standard_normal(3000)]  # active unit
    old = fraction_outside(silent, model)
    assert old == 1.0  # z-scored by the test part's own std, as before
    rel = near_constant_dims(silent, scale=1.0)
    assert np.isnan(rel[:3]).all() and rel[3] < 1e-5
    keep = np.isnan(rel)
    d = state_space_divergence(silent[:, keep], model[:, keep], scale=1.0)
    # two independent Lorenz-63 runs of 3000 points: ~1.5 nats, nothing like 5e27
    assert d < 3.0 and fraction_outside(silent[:, keep], model[:, keep], scale=1.0) < 0.05
    # scaling by the training std alone already keeps D_stsp finite and moderate
    six = np.c_[silent, silent[:, :2]]
    six_m = np.c_[model, model[:, :2]]
    assert state_space_divergence(six, six_m) > 1e5  # by the test part's own std
    assert state_space_divergence(six, six_m, scale=1.0) < 50


def test_evaluate_excludes_silent_dims_and_diverged_agrees_with_the_numbers(lorenz_z):
    from neurodsr.metrics.evaluate import evaluate
    from neurodsr.models import make_model

    x = np.c_[lorenz_z[:1500], np.full(1500, 0.3) + 6e-7 * np.sin(np.arange(1500))]
    net = make_model("shplrnn", 4, None, seeds=[0, 1, 2], hidden_dim=8)
    ev = evaluate(net, x, n_generate=1500, transient=200, n_pred=10)
    assert ev.excluded_dims == [3] and ev.excluded_std_ratio[0] < 1e-5
    for m in ev.metrics:
        h = member_health(
            pe=m["PE"],
            frac_outside=m["frac_outside"],
            finite=m["free_run_finite"],
            pe_n=10,
            excursion=m["max_excursion"],
        )
        assert m["status"] == h.status and m["diverged"] == (h.status == "diverged")
        if m["frac_outside"] > HEALTH_RULES["outside_diverged"] or m["PE"] > 10:
            assert m["diverged"]
    summary = ev.summary()
    assert summary["member_status"] == [m["status"] for m in ev.metrics]
    assert summary["excluded_dims"] == [3]


def test_vpt_table_and_figure_come_from_one_definition():
    rng = np.random.default_rng(0)
    # noisy errors: each start crosses the threshold early once, while the median error curve
    # over starts stays below it much longer (what made the report's table and figure differ)
    lead = np.arange(1, 301)
    errors = 0.001 * lead[None, :] * (1 + 0.2 * rng.standard_normal((201, 300)))
    spikes = rng.integers(20, 60, 201)
    errors[np.arange(201), spikes] = 0.9
    vpt = valid_prediction_time(errors, 0.5)
    frac = vpt.valid_fraction()
    k = vpt.vpt_steps
    assert 20 <= k < 60  # the per-start definition
    assert frac[k - 1] >= 0.5 > frac[k]  # the figure's curve falls below one half right there
    median_curve_crossing = int(np.argmax(np.median(errors, 0) > 0.5))
    assert median_curve_crossing > 400 or median_curve_crossing == 0  # never crosses: 300 max
    assert k == int(np.sort(vpt.steps)[len(vpt.steps) // 2])
    never = valid_prediction_time(np.zeros((5, 40)), 0.5)
    assert never.vpt_steps == 40 and never.capped and (never.valid_fraction() == 1).all()
    assert valid_prediction_time(np.full((3, 10), np.nan), 0.5).vpt_steps == 0


def test_model_power_near_nyquist_is_flagged(two_runs):
    a, b = two_runs
    fs = 100.0
    t = np.arange(len(a)) / fs
    ok = high_frequency_excess(a[:8000], b[:8000], fs)
    assert not ok.flagged.any() and (ok.data_share <= 0.011).all()
    # a model whose spectrum rises towards Nyquist in its second dim
    c = b.copy()
    c[:, 1] += 0.3 * b[:, 1].std() * np.sin(2 * np.pi * 45.0 * t)
    bad = high_frequency_excess(a[:8000], c[:8000], fs)
    assert bad.flagged.tolist() == [False, True, False]
    assert bad.ratio[1] > 5 and bad.model_share[1] > 0.02
    assert np.isnan(high_frequency_excess(a[:500], np.full((500, 3), np.inf), fs).ratio).all()


def test_gmm_keeps_the_data_half_per_reference_with_the_same_bits():
    """The data's half of the Monte Carlo estimate is computed once per reference: scores of
    several members against one reference equal the scores computed afresh, a second
    reference gets its own half, and a changed setting (seed) is not served from the cache."""
    from neurodsr.metrics import core

    rng = np.random.default_rng(5)
    ref, other = rng.standard_normal((3000, 7)), rng.standard_normal((3000, 7)) + 0.3
    members = [rng.standard_normal((4000, 7)) * (1 + 0.2 * e) for e in range(3)]
    core._DATA_HALVES.clear()
    cached = [core.state_space_divergence_gmm(ref, m, scale=1.0) for m in members]
    assert len(core._DATA_HALVES) == 1
    fresh = []
    for m in members:
        core._DATA_HALVES.clear()
        fresh.append(core.state_space_divergence_gmm(ref, m, scale=1.0))
    assert cached == fresh and len(set(cached)) == 3
    core._DATA_HALVES.clear()
    a = core.state_space_divergence_gmm(ref, members[0], scale=1.0)
    b = core.state_space_divergence_gmm(other, members[0], scale=1.0)
    c = core.state_space_divergence_gmm(ref, members[0], scale=1.0, seed=1)
    assert len(core._DATA_HALVES) == 3 and len({a, b, c}) == 3
    assert core.state_space_divergence_gmm(ref, members[0], scale=1.0) == a
    s, log_p = next(iter(core._DATA_HALVES.values()))
    assert not s.flags.writeable and not log_p.flags.writeable
