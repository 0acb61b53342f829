"""The paper's argument on each session (issue 13, item 7) and the model-vs-data comparison
(item 4), as the one scorer computes them and the report draws them."""

from __future__ import annotations

import numpy as np
import pytest

from neurodsr.api import train_fit
from neurodsr.dynamics.systems import lorenz63
from neurodsr.metrics.evaluate import evaluate_fit, trained_forcing
from neurodsr.report import _growth_dataset
from neurodsr.report import figures as F


@pytest.fixture(scope="module")
def scored():
    x = lorenz63(5000, dt=0.01, seed=0).values
    # GTF at 0.1, named: the growth curves below are drawn for a known forcing
    fitted = train_fit(x, 0.01, forcing="gtf", seeds=2, epochs=6, max_minutes=0.2, progress=False)
    return fitted, evaluate_fit(
        fitted, x, fitted.n_train, 0.01, lambda_max_data=0.9056, lyapunov_verdict="chaotic"
    )


def test_trained_forcing_from_fit_metadata():
    assert trained_forcing({"forcing": "stf", "tau": 20}) == (20, 1.0, "")
    assert trained_forcing({"forcing": "gtf", "alpha": 0.1}) == (1, 0.1, "")
    tau, _, note = trained_forcing({"forcing": "gtf", "alpha": "adaptive"})
    assert tau is None and "adaptive" in note
    assert trained_forcing({"forcing": "none"})[0] is None
    # the fixed GTF strength the data-model comparison is told about (none for STF, adaptive)
    from neurodsr.metrics.evaluate import _gtf_alpha

    assert _gtf_alpha({"forcing": "gtf", "alpha": 0.1}) == 0.1
    assert _gtf_alpha({"forcing": "stf", "tau": 1}) is None
    assert _gtf_alpha({"forcing": "gtf", "alpha": "adaptive"}) is None and _gtf_alpha(None) is None


def test_growth_is_stored_and_forcing_bounds_it(scored):
    fitted, ev = scored
    ds = ev.dataset
    growth = ds["growth_log_jacobian_growth"]
    assert list(growth.coords["member"].values) == list(fitted.model.seeds)
    longest = growth.isel(growth_horizon=-1).median("member")
    # GTF damps every step by (1 - alpha): the forced product cannot outgrow the free one
    assert float(longest.sel(condition="forced")) < float(longest.sel(condition="free"))
    lam_t = ds["growth_lambda_T"].values
    hz = ds["growth_horizon"].values
    np.testing.assert_allclose(lam_t, 0.9056 * 0.01 * hz)
    assert np.isfinite(ds["growth_log_grad_norm"].values).all()


def test_model_and_data_lambda_compared_in_the_metrics(scored):
    _, ev = scored
    m = ev.metrics
    assert "the data say lambda_max = 0.906" in m["lyapunov_comparison"]
    assert m["lambda_supported_by"] in {"data", "data and model", "none"}
    assert m["lyapunov_agree"] in (True, False, None)


def test_report_draws_the_growth_figure(scored):
    _, ev = scored
    growth = _growth_dataset(ev.dataset)
    assert growth is not None and growth.attrs["alpha"] == pytest.approx(0.1)
    fig = F.horizon_growth_figure(growth)
    assert len(fig.axes) == 2 and fig.axes[0].lines
