"""Small synthetic series shared by the tests of sizing and validation."""

from __future__ import annotations

import numpy as np

from neurodsr.dynamics.systems import lorenz63


def mixed_lorenz(n_t: int = 3000, n_channels: int = 32, seed: int = 1) -> np.ndarray:
    """Lorenz-63 read out through ``n_channels`` random mixtures plus 5 % noise: a
    many-channel series whose variance lies in 3 directions (the PCA observation's case).
    Array (n_t, n_channels)."""
    rng = np.random.default_rng(seed)
    mix = rng.standard_normal((3, n_channels))
    clean = lorenz63(n_t, dt=0.01, seed=seed).values @ mix
    return clean + 0.05 * clean.std(0) * rng.standard_normal(clean.shape)
