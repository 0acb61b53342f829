"""Shared fixtures: small simulated series (seeded) used across the test files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neurodsr.dynamics.systems import lorenz63


@pytest.fixture(autouse=True)
def _few_threads():
    # the CI machine has 2 cores; tiny kernels run faster on one thread
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="session")
def lorenz_z() -> np.ndarray:
    """Lorenz-63, dt 0.01, 12,000 steps, z-scored: (12000, 3) float64."""
    x = lorenz63(12_000, dt=0.01, seed=3).values
    return (x - x.mean(0)) / x.std(0)
