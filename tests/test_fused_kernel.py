"""The compiled loop's fused shPLRNN kernel (M <= 8 latent units) against autograd at every
shape of its register blocks: the weight gradients' outer products take the hidden units in
column blocks of 4 (M <= 3), 2 (M <= 6) or 1 (M = 7, 8) with the last L % block columns one
at a time, and the adjoint sums them every 16 steps (a last, partial block when T % 16 != 0)."""

import pytest
import torch

from neurodsr.models import fused as fused_module
from neurodsr.models import make_model


@pytest.mark.parametrize(
    ("latent", "hidden"),
    [(2, 1), (2, 6), (4, 13), (5, 2), (6, 11), (7, 5), (8, 3)],
)
@pytest.mark.parametrize(("tau", "alpha"), [(1, 0.3), (7, 1.0)])
def test_fused_shplrnn_kernel_equals_autograd_at_every_block_shape(latent, hidden, tau, alpha):
    """Loss and gradients of the compiled pass equal autograd's to float32 rounding, for
    column blocks with and without a remainder (L = 1 .. 13), 37 steps (two full blocks of
    the adjoint's sums and a partial one), 19 windows (one full and one partial vector of
    lanes), GTF and STF, two members with their own loss weights."""
    if fused_module.compiled_loop() is None:
        pytest.skip("the compiled loop could not be built here")
    torch.manual_seed(latent * 100 + hidden)
    n_obs = min(3, latent)
    m = make_model("shplrnn", n_obs, latent, seeds=[0, 1], hidden_dim=hidden)
    with torch.no_grad():
        m.init_map.normal_()
        m.h2.normal_()  # about half the hidden units on: both sides of every ReLU
    x = torch.randn(38, 2, 19, n_obs)
    weight = torch.tensor([1.0, 2.5])
    m.zero_grad(set_to_none=True)
    loss = m.loss_and_grad(x, tau, alpha, weight)
    got = {k: p.grad.clone() for k, p in m.named_parameters()}
    m.fused = False
    m.zero_grad()
    ref_loss = m.rollout_loss(x, tau, alpha)
    (ref_loss * weight).sum().backward()
    torch.testing.assert_close(loss, ref_loss.detach(), rtol=1e-6, atol=1e-7)
    for k, p in m.named_parameters():
        assert got[k].numel() == 0 or got[k].abs().sum() > 0, k  # not trivially zero
        torch.testing.assert_close(got[k], p.grad, rtol=1e-4, atol=1e-6, msg=k)
