"""The interface every latent model follows, and the observation models (identity, affine).

Shapes (E = ensemble members trained together, B = batch, N = observed dims, M = latent dims,
D = state dims: D = M for the PL family, RNN and GRU; D = 2M for the LSTM, whose state is [h, c]):

- ``step(z)``: (E, B, D) -> (E, B, D), one step of the latent map F.
- ``jacobian(z)``: (E, B, D) -> (E, B, D, D), dF/dz (row i: derivative of output i).
- ``readout(z)``: (E, B, D) -> (E, B, N), the observation model obs(z).
- ``force(z, x, alpha)``: (E, B, D), (E, B, N) -> (E, B, D): z <- (1 - alpha) z + alpha z_data.
- ``init_state(x0)``: (E, B, N) -> (E, B, D), the state inferred from an observation.
- ``rollout(x, tau, alpha)``: (T+1, E, B, N) -> (T, E, B, N), the forced forward pass of DESIGN.md.
- ``generate(z0, n_steps)``: free run, (E, B, D) -> (n_steps, E, B, D).

Every member of an ensemble has its own parameters (stacked along a leading axis of size E) and
its own seed; member e of an ensemble is initialised exactly like a single model with seed e.

Observation models (DESIGN.md, "Sparse teacher forcing"):

- identity (M >= N): the first N latent units are read out; forcing sets them to the data and
  leaves the rest as they are. The unobserved units start from a learned linear map of x_0.
- affine: x = B h + b; forcing sets h = pinv(B) (x - b) (gradient flows through pinv(B)).

For the LSTM, forcing acts on h, and the cell state c is scaled by (1 - alpha) (reset to 0 by a
full forcing step).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn

__all__ = [
    "LatentModel",
    "Tau",
    "Windows",
    "forcing_alphas",
    "member_generators",
    "member_taus",
]

#: a forcing interval: one for the whole ensemble (int, or None: no forcing), or one per member
#: (a sequence or integer tensor of shape (E,); 0 or None there: that member is not forced)
Tau = int | None | Sequence[int | None] | Tensor


class Windows(NamedTuple):
    """Training windows named by where they start in one series, not copied out of it.

    Window b of member e is ``series[starts[e, b] : starts[e, b] + seq_len + 1]``. The
    compiled PL pass reads the windows from the series in place; every other path takes
    :meth:`tensor`, the (T + 1, E, B, N) copy that models' ``rollout`` expects.

    Attributes
    ----------
    series : Tensor, shape (time, N)
        The (normalised) training series, contiguous.
    starts : Tensor, shape (E, B), int64, on the CPU
        Each window's first row.
    seq_len : int
        T: each window holds T + 1 consecutive samples.
    """

    series: Tensor
    starts: Tensor
    seq_len: int

    def tensor(self) -> Tensor:
        """The windows, time-major and contiguous: (T + 1, E, B, N)."""
        e, b = self.starts.shape
        offsets = torch.arange(self.seq_len + 1).view(-1, 1, 1)
        idx = (self.starts + offsets).view(-1)  # (T+1) * E * B row numbers, time-major
        # one contiguous row gather (index_select copies whole rows; x[idx] with an index
        # tensor goes through the general indexing kernel and costs several times more)
        rows = torch.index_select(self.series, 0, idx.to(self.series.device))
        return rows.view(self.seq_len + 1, e, b, self.series.shape[1])


def as_tensor(x: Tensor | Windows) -> Tensor:
    """Windows (T + 1, E, B, N) as a tensor (:meth:`Windows.tensor` for :class:`Windows`)."""
    return x.tensor() if isinstance(x, Windows) else x


def member_taus(tau: Tau, n_models: int) -> int | tuple[int, ...] | None:
    """The forcing interval normalised: an int (>= 1) or None for the whole ensemble, or a
    tuple of E ints (0: that member is not forced) when the members' intervals differ.

    A per-member ``tau`` whose values are all equal collapses to the single value (so an
    ensemble of one interval takes the same code path, and gives the same numbers, however
    it is given). Raises ValueError for a length other than ``n_models`` or a negative value.
    """
    if tau is None:
        return None
    if isinstance(tau, Tensor):
        if tau.ndim == 0:
            tau = int(tau)
        else:
            tau = tau.detach().cpu().tolist()
    if isinstance(tau, int | float):
        if int(tau) != tau or tau < 0:
            raise ValueError(f"tau must be a non-negative integer or None, got {tau!r}")
        return int(tau) or None
    taus = tuple(0 if t is None else int(t) for t in tau)
    if len(taus) != n_models or any(t < 0 for t in taus):
        raise ValueError(
            f"a per-member tau needs {n_models} non-negative integers (0 or None: not forced), "
            f"got {list(tau)!r}"
        )
    if len(set(taus)) == 1:
        return taus[0] or None
    return taus


def forcing_alphas(
    taus: tuple[int, ...], alpha: float | Tensor, t: int, n_t: int, like: Tensor
) -> Tensor | None:
    """Per-member forcing strength at step t (E,) for per-member intervals ``taus``: alpha_e
    where member e is forced at t (t % tau_e == 0, 0 < t < T), 0 elsewhere; None when no
    member is forced at t."""
    if not 0 < t < n_t:
        return None
    on = [tk > 0 and t % tk == 0 for tk in taus]
    if not any(on):
        return None
    mask = torch.tensor(on, dtype=like.dtype, device=like.device)
    if isinstance(alpha, Tensor):
        return alpha.to(like) * mask
    return float(alpha) * mask


def member_generators(seeds: Sequence[int]) -> list[torch.Generator]:
    """One CPU ``torch.Generator`` per ensemble member, seeded with its own seed."""
    return [torch.Generator().manual_seed(int(s)) for s in seeds]


def stack_init(
    gens: Sequence[torch.Generator], shape: Sequence[int], kind: str, scale: float = 1.0
) -> Tensor:
    """Stack per-member initial values: ``uniform`` in [-scale, scale] or ``normal`` * scale.

    Returns a float32 tensor of shape (len(gens), *shape); member e uses only ``gens[e]``.
    """
    out = []
    for g in gens:
        if kind == "uniform":
            t = (torch.rand(tuple(shape), generator=g) * 2 - 1) * scale
        elif kind == "normal":
            t = torch.randn(tuple(shape), generator=g) * scale
        else:  # pragma: no cover - programming error
            raise ValueError(kind)
        out.append(t)
    return torch.stack(out).float()


class LatentModel(nn.Module):
    """Base class: a latent map F with an observation model, as an ensemble of E members.

    Subclasses implement :meth:`step` (and :meth:`jacobian` where it is analytic) and define
    ``state_dim``; the observation model, forcing, rollouts and generation live here.

    Parameters
    ----------
    obs_dim : int
        N, the number of observed dimensions.
    latent_dim : int
        M, the number of latent units that the observation model reads (M >= N for identity).
    seeds : sequence of int
        One seed per ensemble member (E = len(seeds)).
    observation : {"identity", "affine"}
        The observation model.
    """

    #: short name used in configs and saved files
    name: str = "base"
    #: True where :meth:`jacobian` is analytic (the PL family)
    analytic_jacobian: bool = False

    def __init__(
        self,
        obs_dim: int,
        latent_dim: int,
        seeds: Sequence[int],
        observation: str = "identity",
    ) -> None:
        super().__init__()
        if observation not in ("identity", "affine"):
            raise ValueError(f"observation must be 'identity' or 'affine', got {observation!r}")
        if observation == "identity" and latent_dim < obs_dim:
            raise ValueError(
                f"the identity observation model needs latent_dim >= obs_dim "
                f"(got latent_dim={latent_dim}, obs_dim={obs_dim}); use observation='affine'"
            )
        if len(seeds) < 1:
            raise ValueError("need at least one seed")
        self.obs_dim = int(obs_dim)
        self.latent_dim = int(latent_dim)
        self.seeds = [int(s) for s in seeds]
        self.n_models = len(self.seeds)
        self.observation = observation
        # the observation-model parameters get their own generators (offset seeds), so that the
        # latent map's initialisation does not depend on the observation model chosen
        gens = member_generators([s + 7919 for s in self.seeds])
        n, m, e = self.obs_dim, self.latent_dim, self.n_models
        if observation == "identity":
            # unobserved units at t = 0: z0[N:] = L x0 (zero at start)
            self.init_map = nn.Parameter(torch.zeros(e, m - n, n))
        else:
            self.B = nn.Parameter(stack_init(gens, (n, m), "uniform", 1.0 / math.sqrt(m)))
            self.b = nn.Parameter(torch.zeros(e, n))

    # ----------------------------------------------------------------- the latent map
    @property
    def state_dim(self) -> int:
        """D, the size of the full state (M, or 2M for the LSTM)."""
        return self.latent_dim

    def step(self, z: Tensor) -> Tensor:  # pragma: no cover - abstract
        """One step of the latent map, (E, B, D) -> (E, B, D)."""
        raise NotImplementedError

    def jacobian(self, z: Tensor) -> Tensor:
        """dF/dz at each state, (E, B, D) -> (E, B, D, D), by forward-mode autodiff.

        The PL family overrides this with its analytic form.
        """
        d = z.shape[-1]
        eye = torch.eye(d, dtype=z.dtype, device=z.device)
        basis = eye[:, None, None, :].expand(d, *z.shape)

        def jvp_col(v: Tensor) -> Tensor:
            return torch.func.jvp(self.step, (z,), (v,))[1]

        cols = torch.func.vmap(jvp_col)(basis)  # (D_in, E, B, D_out)
        return cols.permute(1, 2, 3, 0)

    # ----------------------------------------------------------------- observation model
    def visible(self, z: Tensor) -> Tensor:
        """The latent units the observation model reads, (E, B, D) -> (E, B, M)."""
        return z[..., : self.latent_dim]

    def readout(self, z: Tensor) -> Tensor:
        """obs(z), the predicted observation, (E, B, D) -> (E, B, N)."""
        h = self.visible(z)
        if self.observation == "identity":
            return h[..., : self.obs_dim]
        return torch.baddbmm(self.b.unsqueeze(1), h, self.B.transpose(1, 2))

    def _inverse_obs(self, x: Tensor) -> Tensor:
        """Affine model only: pinv(B) (x - b), (E, B, N) -> (E, B, M)."""
        return torch.bmm(x - self.b.unsqueeze(1), torch.linalg.pinv(self.B).transpose(1, 2))

    def _with_visible(self, z: Tensor, h: Tensor, alpha: float | Tensor) -> Tensor:
        """Replace the visible part of z by h; scale any remaining state (LSTM c) by 1 - alpha."""
        rest = z[..., self.latent_dim :]
        if rest.shape[-1] == 0:
            return h
        return torch.cat([h, (1.0 - alpha) * rest], dim=-1)

    def force(self, z: Tensor, x: Tensor, alpha: float | Tensor = 1.0) -> Tensor:
        """Teacher forcing: z <- (1 - alpha) z + alpha z_data(x), (E,B,D),(E,B,N) -> (E,B,D).

        ``alpha`` is a float or a tensor of shape (E,) (one strength per member, as adaptive
        GTF sets it). With alpha = 1 and the identity model the forced units are set to x
        exactly, so no gradient reaches the state before the forcing step through them.
        """
        full = isinstance(alpha, float | int) and alpha == 1.0
        if isinstance(alpha, Tensor):
            alpha = alpha.reshape(-1, 1, 1)
        h = self.visible(z)
        n = self.obs_dim
        if self.observation == "identity":
            forced = x if full else (1.0 - alpha) * h[..., :n] + alpha * x
            h = torch.cat([forced, h[..., n:]], dim=-1)
        else:
            target = self._inverse_obs(x)
            h = target if full else (1.0 - alpha) * h + alpha * target
        return self._with_visible(z, h, alpha)

    def init_state(self, x0: Tensor) -> Tensor:
        """The state inferred from an observation x0, (E, B, N) -> (E, B, D)."""
        if self.observation == "identity":
            hidden = torch.bmm(x0, self.init_map.transpose(1, 2))
            h = torch.cat([x0, hidden], dim=-1)
        else:
            h = self._inverse_obs(x0)
        extra = self.state_dim - self.latent_dim
        if extra:
            h = torch.cat([h, h.new_zeros(*h.shape[:-1], extra)], dim=-1)
        return h

    # ----------------------------------------------------------------- rollouts
    def rollout(self, x: Tensor, tau: Tau = None, alpha: float | Tensor = 1.0) -> Tensor:
        """The forced forward pass over windows (DESIGN.md), autograd through every step.

        Parameters
        ----------
        x : Tensor, shape (T+1, E, B, N)
            Time-major windows of observations, one batch per ensemble member.
        tau : int, None, or a sequence / integer Tensor of shape (E,)
            Forcing interval in steps: at t % tau == 0 (0 < t < T) the state is forced after the
            prediction of x_t is taken. None: only z_0 is forced (plain BPTT). Per member
            (one interval each, 0 or None: that member is not forced), so that members with
            different forcing train as one ensemble: an STF member is (tau_e, alpha_e = 1), a
            GTF member (1, alpha_e), a BPTT member (0, any alpha).
        alpha : float or Tensor (E,)
            Forcing strength at the forcing points: 1 is sparse teacher forcing (STF);
            tau = 1 with alpha < 1 is generalized teacher forcing (GTF); 0 is a free run.

        Returns
        -------
        Tensor, shape (T, E, B, N): the predictions of x_1 .. x_T.
        """
        n_t = x.shape[0] - 1
        taus = member_taus(tau, self.n_models)
        z = self.init_state(x[0])
        preds = []
        for t in range(1, n_t + 1):
            z = self.step(z)
            preds.append(self.readout(z))
            if isinstance(taus, tuple):
                # members not forced at t get strength 0: (1 - 0) z + 0 x = z exactly
                a_t = forcing_alphas(taus, alpha, t, n_t, x)
                if a_t is not None:
                    z = self.force(z, x[t], a_t)
            elif taus is not None and t < n_t and t % taus == 0:
                z = self.force(z, x[t], alpha)
        return torch.stack(preds)

    def rollout_loss(self, x: Tensor, tau: Tau = None, alpha: float | Tensor = 1.0) -> Tensor:
        """Each member's mean squared error of its forced rollout's predictions of x_1..x_T.

        Parameters as :meth:`rollout`. Returns a Tensor of shape (E,), in squared units of x.
        Models with a fused rollout compute it inside the fused op (same value and gradients).
        """
        return (self.rollout(x, tau, alpha) - x[1:]).pow(2).mean(dim=(0, 2, 3))

    def loss_and_grad(
        self,
        x: Tensor | Windows,
        tau: Tau = None,
        alpha: float | Tensor = 1.0,
        weight: Tensor | None = None,
    ) -> Tensor | None:
        """:meth:`rollout_loss` with the gradient of ``sum(weight * loss)`` added to each
        parameter's ``.grad`` by a hand-written backward pass, without autograd.

        Parameters as :meth:`rollout` (``x`` may also be :class:`Windows`, starts in a series);
        ``weight`` (E,) defaults to ones. Returns the per-member losses (E,), or None when the
        model has no such pass (the caller then uses autograd on :meth:`rollout_loss`).
        """
        return None

    def release_buffers(self) -> None:
        """Free the memory a model keeps between training steps (the fused pass's activation
        buffers, tens of MB for an ensemble); the next training step allocates it again.
        A no-op for models that keep none."""

    def _add_grads(self, grads: dict[str, Tensor]) -> None:
        """Accumulate hand-computed gradients into ``.grad``, as ``backward()`` would,
        including its layout contract: a new ``.grad`` has its parameter's strides (torch's
        fused Adam reads a gradient's memory in the parameter's layout, so a strided view
        there would update the wrong elements)."""
        for name, g in grads.items():
            p = getattr(self, name)
            if p.grad is None:
                p.grad = g if g.stride() == p.stride() else torch.empty_like(p).copy_(g)
            else:
                p.grad.add_(g)

    @torch.no_grad()
    def generate(self, z0: Tensor, n_steps: int) -> Tensor:
        """Free run from z0 (E, B, D) for n_steps; returns the states, (n_steps, E, B, D)."""
        out = torch.empty(n_steps, *z0.shape, dtype=z0.dtype, device=z0.device)
        z = z0
        for t in range(n_steps):
            z = self.step(z)
            out[t] = z
        return out

    # ----------------------------------------------------------------- regularisation
    def latent_penalty(self, fraction: float = 0.5) -> Tensor:
        """Manifold-attractor regularisation (Schmidt et al., ICLR 2021), per member (E,).

        For the last ``fraction`` of the latent units, the squared distance of their
        parameters from a line attractor: (A_ii - 1)^2 plus the squares of the weights that
        drive them and of their bias. Such units keep slow, long-memory directions. The PL
        family overrides :meth:`_regularised_params`; other models have no penalty.
        """
        n_reg = round(fraction * self.latent_dim)
        zero = torch.zeros(self.n_models, device=next(self.parameters()).device)
        if n_reg == 0:
            return zero
        terms = self._regularised_params(slice(self.latent_dim - n_reg, self.latent_dim))
        if not terms:
            return zero
        return sum(t.pow(2).flatten(1).sum(1) for t in terms)

    def _regularised_params(self, units: slice) -> list[Tensor]:
        return []

    # ----------------------------------------------------------------- bookkeeping
    def config(self) -> dict:
        """The constructor arguments, as a JSON-able dict (for saving and loading)."""
        return {
            "name": self.name,
            "obs_dim": self.obs_dim,
            "latent_dim": self.latent_dim,
            "seeds": list(self.seeds),
            "observation": self.observation,
            **self._extra_config(),
        }

    def _extra_config(self) -> dict:
        return {}

    def member_state_dict(self, e: int) -> dict[str, Tensor]:
        """The parameters of member e alone (leading axis removed), detached, on the CPU."""
        return {k: v[e].detach().cpu().clone() for k, v in self.state_dict().items()}
