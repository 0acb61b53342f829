"""The piecewise-linear RNN family (DESIGN.md, "Models"), with analytic Jacobians.

All parameters carry a leading ensemble axis E. Latent z has M units; the shallow variants have a
hidden layer of width L.

- PLRNN:          z' = A z + W relu(z) + h,                          A diagonal, W off-diagonal
- shPLRNN:        z' = A z + W1 relu(W2 z + h2) + h1,                W1: M x L, W2: L x M
- clipped shPLRNN z' = A z + W1 [relu(W2 z + h2) - relu(W2 z)] + h1  (bounded orbits if |A| < 1)
- dendPLRNN:      z' = A z + W sum_b alpha_b relu(z - theta_b) + h,  W off-diagonal
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from neurodsr.models.base import LatentModel, Tau, Windows, member_generators, stack_init
from neurodsr.models.fused import (
    _use_compiled,
    fused_pl_generate,
    fused_pl_loss_and_grads,
    fused_pl_rollout,
)

__all__ = ["PLRNN", "ClippedShallowPLRNN", "DendPLRNN", "ShallowPLRNN"]


def _diag_a(gens: Sequence[torch.Generator], m: int) -> Tensor:
    """Initial diagonal A: values in [0.5, 0.9] (slow, stable linear part)."""
    return torch.stack([0.5 + 0.4 * torch.rand(m, generator=g) for g in gens]).float()


#: bound on the initial map's Lipschitz constant ||J||_2 (see :func:`_contract`)
INIT_LIPSCHITZ = 0.95


@torch.no_grad()
def _contract(A: Tensor, weight: Tensor, coupling: Tensor) -> None:
    """Scale ``weight`` (in place, per member) so that max|A| + coupling <= INIT_LIPSCHITZ.

    ``coupling`` (E,) bounds the nonlinear part's Lipschitz constant (e.g. ||W1||_2 ||W2||_2).
    A random initialisation is otherwise expansive for some seeds, and an untrained expansive
    map overflows float32 within one forcing interval of ~50-100 free steps, before training
    can shrink it. The bound makes every initial map a contraction; training grows the
    coupling as the data requires.
    """
    room = (INIT_LIPSCHITZ - A.abs().amax(dim=1)).clamp_min(0.05)
    scale = (room / coupling.clamp_min(1e-12)).clamp(max=1.0)
    weight.mul_(scale.view(-1, *([1] * (weight.ndim - 1))))


class _FusedPL(LatentModel):
    """The PL family's fused pass (:mod:`neurodsr.models.fused`) behind the generic API:
    ``rollout``, ``rollout_loss`` and ``loss_and_grad`` use it for the identity observation
    (``fused`` False: the generic autograd loop). Subclasses say which tensors are
    (A, W1, W2, h1, h2, init_map) and which parameters their gradients belong to."""

    #: use the fused rollout with the hand-written backward pass (identity observation only)
    fused: bool = True
    #: the clipped shPLRNN's nonlinearity (the compiled loop only; else the autograd loop)
    clip: bool = False

    def _fused_args(self) -> tuple[Tensor, ...]:
        raise NotImplementedError

    def _fused_grads(self, grads: tuple[Tensor | None, ...]) -> dict[str, Tensor]:
        raise NotImplementedError

    def _basis(self) -> tuple[Tensor, Tensor] | None:
        """The dendPLRNN's basis weights and thresholds (None for the others)."""
        return None

    def _use_fused(self) -> bool:
        if not (self.fused and self.observation == "identity"):
            return False
        # the clipped and dendritic models have no torch loop: the compiled one on CPU
        # float32, else autograd
        if self.clip or self._basis() is not None:
            return _use_compiled(self.A) is not None
        return True

    def _needs_graph(self) -> bool:
        return torch.is_grad_enabled() and any(p.requires_grad for p in self.parameters())

    def rollout(self, x: Tensor, tau: Tau = None, alpha: float | Tensor = 1.0) -> Tensor:
        """Forced rollout (see :meth:`LatentModel.rollout`); the fused pass for the identity
        model when no gradient is needed (training uses :meth:`loss_and_grad`)."""
        if not self._use_fused() or self._needs_graph():
            return super().rollout(x, tau, alpha)
        return fused_pl_rollout(
            x, *self._fused_args(), tau, alpha, clip=self.clip, basis=self._basis()
        )

    @torch.no_grad()
    def generate(self, z0: Tensor, n_steps: int) -> Tensor:
        """Free run (see :meth:`LatentModel.generate`); the compiled loop where it runs."""
        out = None
        if self._use_fused():
            a, w1, w2, h1, h2, _ = self._fused_args()
            out = fused_pl_generate(
                z0, n_steps, a, w1, w2, h1, h2, clip=self.clip, basis=self._basis()
            )
        return super().generate(z0, n_steps) if out is None else out

    def loss_and_grad(
        self,
        x: Tensor | Windows,
        tau: Tau = None,
        alpha: float | Tensor = 1.0,
        weight: Tensor | None = None,
    ) -> Tensor | None:
        """See :meth:`LatentModel.loss_and_grad`; the fused pass for the identity model."""
        if not self._use_fused():
            return None
        args = (t if t is None else t.detach() for t in self._fused_args())
        # the activation buffers, kept between training steps (not state: never saved)
        ws = self.__dict__.setdefault("_fused_workspace", {})
        basis = self._basis()
        if basis is not None:
            basis = (basis[0].detach(), basis[1].detach())
        loss, grads = fused_pl_loss_and_grads(
            x, *args, tau, alpha, weight, ws, clip=self.clip, basis=basis
        )
        self._add_grads(self._fused_grads(grads))
        return loss

    def release_buffers(self) -> None:
        """See :meth:`LatentModel.release_buffers`."""
        self.__dict__.pop("_fused_workspace", None)


class _DiagOffDiag(LatentModel):
    """Shared by PLRNN and dendPLRNN: diagonal A, off-diagonal W (M x M) and bias h."""

    def _init_linear(self, gens: Sequence[torch.Generator]) -> None:
        m = self.latent_dim
        self.A = nn.Parameter(_diag_a(gens, m))
        self.W = nn.Parameter(stack_init(gens, (m, m), "normal", 0.5 / math.sqrt(m)))
        self.h = nn.Parameter(torch.zeros(self.n_models, m))
        self.register_buffer("offdiag", 1.0 - torch.eye(m), persistent=False)

    def weight(self) -> Tensor:
        """W with its diagonal masked out, (E, M, M)."""
        return self.W * self.offdiag

    def _regularised_params(self, units: slice) -> list[Tensor]:
        return [self.A[:, units] - 1.0, self.weight()[:, units], self.h[:, units]]


class PLRNN(_FusedPL, _DiagOffDiag):
    """PLRNN: z' = A z + W relu(z) + h (A diagonal, W off-diagonal)."""

    name = "plrnn"
    analytic_jacobian = True

    def __init__(
        self, obs_dim: int, latent_dim: int, seeds: Sequence[int], observation: str = "identity"
    ) -> None:
        super().__init__(obs_dim, latent_dim, seeds, observation)
        self._init_linear(member_generators(self.seeds))
        with torch.no_grad():
            _contract(self.A, self.W, torch.linalg.matrix_norm(self.weight(), ord=2))

    def step(self, z: Tensor) -> Tensor:
        return torch.baddbmm(
            self.A.unsqueeze(1) * z + self.h.unsqueeze(1),
            torch.relu(z),
            self.weight().transpose(1, 2),
        )

    def _fused_args(self) -> tuple[Tensor, ...]:
        return self.A, self.weight(), None, self.h, None, self.init_map

    def _fused_grads(self, grads: tuple[Tensor | None, ...]) -> dict[str, Tensor]:
        g_a, g_w, _, g_h, _, g_init = grads
        return {"A": g_a, "W": g_w.mul_(self.offdiag), "h": g_h, "init_map": g_init}

    def jacobian(self, z: Tensor) -> Tensor:
        """J = diag(A) + W diag(1[z > 0]), (E, B, M, M)."""
        w = self.weight().unsqueeze(1)  # (E, 1, M, M)
        return torch.diag_embed(self.A.unsqueeze(1).expand_as(z)) + w * (z > 0).unsqueeze(-2)


class ShallowPLRNN(_FusedPL):
    """Shallow PLRNN (the default): z' = A z + W1 relu(W2 z + h2) + h1.

    Parameters
    ----------
    hidden_dim : int
        L, the width of the hidden layer.
    Other parameters as :class:`~neurodsr.models.base.LatentModel`.
    """

    name = "shplrnn"
    analytic_jacobian = True

    def __init__(
        self,
        obs_dim: int,
        latent_dim: int,
        seeds: Sequence[int],
        observation: str = "identity",
        hidden_dim: int = 50,
    ) -> None:
        super().__init__(obs_dim, latent_dim, seeds, observation)
        m, lw = latent_dim, int(hidden_dim)
        self.hidden_dim = lw
        gens = member_generators(self.seeds)
        self.A = nn.Parameter(_diag_a(gens, m))
        self.W1 = nn.Parameter(stack_init(gens, (m, lw), "uniform", 1.0 / math.sqrt(lw)))
        self.W2 = nn.Parameter(stack_init(gens, (lw, m), "uniform", 1.0 / math.sqrt(m)))
        self.h2 = nn.Parameter(stack_init(gens, (lw,), "uniform", 1.0 / math.sqrt(m)))
        self.h1 = nn.Parameter(torch.zeros(self.n_models, m))
        with torch.no_grad():
            norms = torch.linalg.matrix_norm(self.W1, ord=2) * torch.linalg.matrix_norm(
                self.W2, ord=2
            )
        _contract(self.A, self.W1, norms)

    def _extra_config(self) -> dict:
        return {"hidden_dim": self.hidden_dim}

    def _regularised_params(self, units: slice) -> list[Tensor]:
        return [self.A[:, units] - 1.0, self.W1[:, units], self.h1[:, units]]

    def _fused_args(self) -> tuple[Tensor, ...]:
        return self.A, self.W1, self.W2, self.h1, self.h2, self.init_map

    def _fused_grads(self, grads: tuple[Tensor | None, ...]) -> dict[str, Tensor]:
        return dict(zip(("A", "W1", "W2", "h1", "h2", "init_map"), grads, strict=True))

    def _pre(self, z: Tensor) -> Tensor:
        """W2 z + h2, (E, B, M) -> (E, B, L)."""
        return torch.baddbmm(self.h2.unsqueeze(1), z, self.W2.transpose(1, 2))

    def _nonlin(self, z: Tensor) -> Tensor:
        return torch.relu(self._pre(z))

    def step(self, z: Tensor) -> Tensor:
        return torch.baddbmm(
            self.A.unsqueeze(1) * z + self.h1.unsqueeze(1), self._nonlin(z), self.W1.transpose(1, 2)
        )

    def _slope(self, z: Tensor) -> Tensor:
        """d nonlin / d pre, (E, B, L)."""
        return (self._pre(z) > 0).to(z.dtype)

    def jacobian(self, z: Tensor) -> Tensor:
        """J = diag(A) + W1 diag(1[W2 z + h2 > 0]) W2, (E, B, M, M)."""
        d = self._slope(z)  # (E, B, L)
        w1d = self.W1.unsqueeze(1) * d.unsqueeze(-2)  # (E, B, M, L)
        return torch.diag_embed(self.A.unsqueeze(1).expand_as(z)) + w1d @ self.W2.unsqueeze(1)


class ClippedShallowPLRNN(ShallowPLRNN):
    """Clipped shPLRNN: z' = A z + W1 [relu(W2 z + h2) - relu(W2 z)] + h1 (bounded if |A| < 1)."""

    name = "clipped_shplrnn"
    # two ReLUs per unit: the compiled loop has its adjoint; without it (CUDA, float64, no
    # compiler) the generic autograd rollout
    clip = True

    def _nonlin(self, z: Tensor) -> Tensor:
        lin = torch.bmm(z, self.W2.transpose(1, 2))
        return torch.relu(lin + self.h2.unsqueeze(1)) - torch.relu(lin)

    def _slope(self, z: Tensor) -> Tensor:
        lin = torch.bmm(z, self.W2.transpose(1, 2))
        return (lin + self.h2.unsqueeze(1) > 0).to(z.dtype) - (lin > 0).to(z.dtype)


class DendPLRNN(_FusedPL, _DiagOffDiag):
    """Dendritic PLRNN: z' = A z + W sum_b alpha_b relu(z - theta_b) + h.

    Parameters
    ----------
    n_bases : int
        Number of ReLU basis functions per unit.
    Other parameters as :class:`~neurodsr.models.base.LatentModel`.
    """

    name = "dendplrnn"
    analytic_jacobian = True

    def __init__(
        self,
        obs_dim: int,
        latent_dim: int,
        seeds: Sequence[int],
        observation: str = "identity",
        n_bases: int = 10,
    ) -> None:
        super().__init__(obs_dim, latent_dim, seeds, observation)
        m = latent_dim
        self.n_bases = int(n_bases)
        gens = member_generators(self.seeds)
        self._init_linear(gens)
        self.alpha = nn.Parameter(stack_init(gens, (self.n_bases,), "uniform", 1.0 / n_bases))
        self.theta = nn.Parameter(stack_init(gens, (self.n_bases, m), "normal", 1.0))
        with torch.no_grad():
            norms = torch.linalg.matrix_norm(self.weight(), ord=2) * self.alpha.abs().sum(1)
        _contract(self.A, self.W, norms)

    def _extra_config(self) -> dict:
        return {"n_bases": self.n_bases}

    def _fused_args(self) -> tuple[Tensor, ...]:
        return self.A, self.weight(), None, self.h, None, self.init_map

    def _basis(self) -> tuple[Tensor, Tensor] | None:
        return self.alpha, self.theta

    def _fused_grads(self, grads: tuple[Tensor | None, ...]) -> dict[str, Tensor]:
        g_a, g_w, _, g_h, _, g_init, g_alpha, g_theta = grads
        return {
            "A": g_a,
            "W": g_w.mul_(self.offdiag),
            "h": g_h,
            "init_map": g_init,
            "alpha": g_alpha,
            "theta": g_theta,
        }

    def _above(self, z: Tensor) -> Tensor:
        """z - theta_b for every basis, (E, B, n_bases, M)."""
        return z.unsqueeze(2) - self.theta.unsqueeze(1)

    def step(self, z: Tensor) -> Tensor:
        phi = torch.einsum("ek,ebkm->ebm", self.alpha, torch.relu(self._above(z)))
        return torch.baddbmm(
            self.A.unsqueeze(1) * z + self.h.unsqueeze(1), phi, self.weight().transpose(1, 2)
        )

    def jacobian(self, z: Tensor) -> Tensor:
        """J = diag(A) + W diag(sum_b alpha_b 1[z > theta_b]), (E, B, M, M)."""
        slope = torch.einsum("ek,ebkm->ebm", self.alpha, (self._above(z) > 0).to(z.dtype))
        w = self.weight().unsqueeze(1)
        return torch.diag_embed(self.A.unsqueeze(1).expand_as(z)) + w * slope.unsqueeze(-2)
