"""The model from the data: latent size, hidden width and observation model (one rule).

:func:`size_model` is the rule ``neurodsr fit`` applies to whatever the user left at "auto"
(model, latent, hidden, observation); the values it picks and why go to fit.json.

The rule, for N observed dims and T training samples:

- N <= 8 (a low-dimensional system or a delay embedding): the shPLRNN with the identity
  observation and M = N (the latent state's first N units are the data, as in STF/GTF's
  benchmarks), hidden width L = 50 (the setting docs/RESULTS.md section 1 measured on
  Lorenz-63 and Rössler; a wider layer trains fewer epochs in the same budget).
- N > 8 (a multichannel recording): an affine observation x = B z + b with M < N,
  M = clip(ceil(N / 4), 8, 32), and a wide hidden layer L = clip(T / 20, 128, 512); the
  *clipped* shPLRNN, whose orbits stay bounded by construction, since for many channels a
  free run that leaves the data's range is the common failure (Hess et al. 2023 train the
  64-channel EEG with a clipped shPLRNN, M = 16, L = 512, affine observation). In every case
  L is lowered so that the parameters (about 2 M L) stay below a tenth of the data's numbers
  (T N), and never below 50.

What backs it: the published GTF settings for EEG (above), the 64-channel failure of issue 12
(M = 64, identity observation: two thirds of the free run outside the data's range), and
benchmarks/quality.py (docs/RESULTS.md, "Automatic reconstruction") which compares it with
the fixed default. A competition of sizes by validation is not done (it would multiply the
candidates; see the report).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["ModelSize", "size_model"]

MANY_CHANNELS = 8
PL_FAMILY = ("shplrnn", "plrnn", "clipped_shplrnn", "dendplrnn")


@dataclass
class ModelSize:
    """What :func:`size_model` picks, and why (one sentence)."""

    model: str
    latent: int
    hidden: int
    observation: str
    reason: str


def size_model(
    n_dims: int,
    n_samples: int,
    *,
    model: str = "auto",
    latent: int | None = None,
    hidden: int | None = None,
    observation: str = "auto",
) -> ModelSize:
    """Fill in what the user left at "auto"/None by the rule of this module.

    Parameters
    ----------
    n_dims : int
        N, observed dims.
    n_samples : int
        T, training samples.
    model, latent, hidden, observation
        The user's settings; given values are kept as they are.

    Returns
    -------
    ModelSize
    """
    many = n_dims > MANY_CHANNELS
    if many:
        m_rule = min(32, max(8, math.ceil(n_dims / 4)))
        l_rule = min(512, max(128, n_samples // 20))
        obs_rule, model_rule = "affine", "clipped_shplrnn"
    else:
        m_rule = n_dims
        l_rule = 50
        obs_rule, model_rule = "identity", "shplrnn"
    if model != "auto":
        # a named model keeps the sizes it was benchmarked with (M = N, L = 50, identity
        # observation: the fixed GTF default of docs/RESULTS.md); the rule is model="auto"'s
        m_rule, l_rule, obs_rule = n_dims, 50, "identity"
    m = int(latent) if latent is not None else m_rule
    if model == "auto":
        # parameters ~ 2 M L below a tenth of the data's numbers T N, and L >= 50
        l_rule = max(50, min(l_rule, (n_samples * n_dims) // (20 * max(m, 1))))
    out = ModelSize(
        model=model if model != "auto" else model_rule,
        latent=m,
        hidden=int(hidden) if hidden is not None else l_rule,
        observation=observation if observation != "auto" else obs_rule,
        reason="",
    )
    if out.model not in PL_FAMILY and observation == "auto":
        out.observation = "auto"  # make_model's choice for the gated models (affine)
    elif out.observation == "identity" and out.latent < n_dims:
        out.observation = "affine"  # the identity observation needs M >= N
    kind = f"{n_dims} dims {'> ' if many else '<= '}{MANY_CHANNELS}"
    out.reason = (
        f"{kind}, {n_samples} training samples: {out.model}, M = {out.latent}, "
        f"L = {out.hidden}, {out.observation} observation (neurodsr.training.sizing rule; "
        f"values given by the user are kept)"
    )
    return out
