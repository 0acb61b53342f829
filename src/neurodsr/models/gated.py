"""Baselines: vanilla tanh RNN, LSTM and GRU, run autonomously (no input).

Their Jacobians come from autodiff (the base class). The LSTM state is [h, c] (D = 2M); forcing
acts on h and scales c by (1 - alpha), so a full forcing step resets the cell state to 0.
Outputs are bounded (tanh), so these models use the affine observation model by default.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from neurodsr.models.base import LatentModel, member_generators, stack_init

__all__ = ["GRU", "LSTM", "VanillaRNN"]


class _Gated(LatentModel):
    n_gates = 1

    def __init__(
        self, obs_dim: int, latent_dim: int, seeds: Sequence[int], observation: str = "affine"
    ) -> None:
        super().__init__(obs_dim, latent_dim, seeds, observation)
        m = latent_dim
        gens = member_generators(self.seeds)
        k = 1.0 / math.sqrt(m)
        self.W = nn.Parameter(stack_init(gens, (self.n_gates * m, m), "uniform", k))
        self.bias = nn.Parameter(stack_init(gens, (self.n_gates * m,), "uniform", k))

    def _gates(self, h: Tensor) -> Tensor:
        """W h + b, (E, B, M) -> (E, B, n_gates * M)."""
        return torch.baddbmm(self.bias.unsqueeze(1), h, self.W.transpose(1, 2))


class VanillaRNN(_Gated):
    """Vanilla RNN: h' = tanh(W h + b)."""

    name = "rnn"

    def step(self, z: Tensor) -> Tensor:
        return torch.tanh(self._gates(z))


class LSTM(_Gated):
    """Autonomous LSTM: [i, f, g, o] = W h + b; c' = f c + i g; h' = o tanh(c'). State [h, c]."""

    name = "lstm"
    n_gates = 4

    @property
    def state_dim(self) -> int:
        return 2 * self.latent_dim

    def step(self, z: Tensor) -> Tensor:
        m = self.latent_dim
        h, c = z[..., :m], z[..., m:]
        i, f, g, o = self._gates(h).chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return torch.cat([h, c], dim=-1)


class GRU(_Gated):
    """Autonomous GRU: r, u = sigmoid(W_{r,u} h + b_{r,u}); n = tanh(r * (W_n h + b_n));
    h' = (1 - u) n + u h (PyTorch's GRU cell with zero input)."""

    name = "gru"
    n_gates = 3

    def step(self, z: Tensor) -> Tensor:
        m = self.latent_dim
        g = self._gates(z)
        r = torch.sigmoid(g[..., :m])
        u = torch.sigmoid(g[..., m : 2 * m])
        n = torch.tanh(r * g[..., 2 * m :])
        return (1 - u) * n + u * z
