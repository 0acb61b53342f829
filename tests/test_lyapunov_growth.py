"""horizon_growth: Jacobian products of a known linear map, gradients free vs forced, figure."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neurodsr.dynamics.gradients import default_horizons, horizon_growth
from neurodsr.models import make_model


def test_jacobian_growth_of_a_model_is_its_lambda() -> None:
    model = make_model("plrnn", obs_dim=2, latent_dim=3, seeds=[0]).double()
    with torch.no_grad():
        # z' = A z + W relu(z) + h with A = 1.2, W = 0, h = 0: every direction grows by ln 1.2
        for p in model.parameters():
            p.zero_()
        model.A.fill_(1.2)
    x = np.random.default_rng(0).standard_normal((400, 2)) * 0.01
    ds = horizon_growth(model, x, tau=4, alpha=1.0, horizons=[1, 2, 4, 8], n_windows=4)
    free = ds["log_jacobian_growth"].sel(condition="free").values[:, 0]
    np.testing.assert_allclose(free, np.log(1.2) * np.array([1, 2, 4, 8]), rtol=1e-9)
    assert ds.attrs["slope_free"] == pytest.approx(np.log(1.2), rel=1e-6)
    # STF (alpha = 1 every 4 steps) removes the observed units' part of the perturbation
    forced = ds["log_jacobian_growth"].sel(condition="forced").values[:, 0]
    np.testing.assert_allclose(forced[:2], free[:2], rtol=1e-9)
    assert forced[-1] < free[-1]


def test_gradient_and_jacobian_growth_free_vs_forced() -> None:
    torch.manual_seed(1)
    model = make_model("shplrnn", obs_dim=3, latent_dim=6, hidden_dim=12, seeds=[0, 1]).double()
    t = np.arange(1200) * 0.05
    x = np.column_stack([np.sin(t), np.cos(1.3 * t), np.sin(0.7 * t)])
    ds = horizon_growth(
        model, x, tau=1, alpha=0.5, horizons=[1, 4, 16], n_windows=4, lambda_max_per_step=0.01
    )
    assert ds["log_jacobian_growth"].dims == ("condition", "horizon", "member")
    assert ds.sizes == {"condition": 2, "horizon": 3, "member": 2}
    jac = ds["log_jacobian_growth"].values
    assert np.isfinite(jac).all() and np.isfinite(ds["log_grad_norm"].values).all()
    # GTF with alpha = 0.5 halves the visible part of every perturbation each step
    assert (jac[1, -1] < jac[0, -1]).all()
    np.testing.assert_allclose(ds["lambda_T"].values, [0.01, 0.04, 0.16])
    assert np.isfinite(ds.attrs["slope_free"])


def test_growth_figure_draws() -> None:
    from neurodsr.report.figures import horizon_growth_figure

    model = make_model("shplrnn", obs_dim=2, latent_dim=4, hidden_dim=8, seeds=[0]).double()
    x = np.random.default_rng(2).standard_normal((300, 2))
    ds = horizon_growth(model, x, tau=8, horizons=default_horizons(16), n_windows=2)
    fig = horizon_growth_figure(ds)
    assert len(fig.axes) == 2
