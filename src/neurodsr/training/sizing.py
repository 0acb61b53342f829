"""The model from the data: latent size, hidden width and observation model (one rule).

:func:`size_model` is the rule ``neurodsr fit`` applies to whatever the user left at "auto"
(model, latent, hidden, observation); the values it picks and why go to fit.json.

The rule, for N observed dims and T training samples:

- N <= 8 (a low-dimensional system or a delay embedding): the shPLRNN with the identity
  observation and M = N (the latent state's first N units are the data, as in STF/GTF's
  benchmarks), hidden width L = 50 (the setting docs/RESULTS.md section 1 measured on
  Lorenz-63 and Rössler; a wider layer trains fewer epochs in the same budget).
- N > 8 (a multichannel recording): the PCA observation
  (:mod:`neurodsr.training.projection`): the shPLRNN is trained on the training part's
  leading k principal components with the identity observation there, M = k, and reads out
  the N channels through the PCA loadings; k is the smallest number of components that
  explain 90 % of the (z-scored) training variance, in [min(4, N), 32] and at most T / 300;
  L = clip(10 k, 64, 256) (not swept). The unclipped shPLRNN because the compiled training
  loop (15-18x the autograd loop) serves its identity observation and the clipped shPLRNN
  has none. In every case L is lowered so that the parameters (about 2 M L) stay below a
  tenth of the data's numbers (T times the modelled dims), and never below 50.
- The rule before this one for N > 8 is one option away (``observation="affine"``): the
  clipped shPLRNN with an affine observation x = B z + b, M = clip(ceil(N / 4), 8, 32),
  L = clip(T / 20, 128, 512) (Hess et al. 2023 train the 64-channel EEG with a clipped
  shPLRNN, M = 16, L = 512, affine observation).

What backs it: benchmarks/quality.py's side-by-side sizes (docs/RESULTS.md section 6:
``size_identity``, ``size_affine``, ``size_pca``): at equal wall-clock (1-minute budgets,
GTF alpha 0.1, 5 repeats run interleaved under the same load) on the 64-channel rate-network
stand-in and on Lorenz-96 with N = 40 read out directly, the PCA model had the lowest D_stsp
and D_H (paired by repeat: D_stsp lower than both others in 19 of 20 pairs, D_H in 20 of 20).
The affine clipped model trained 8-11 epochs in the budget (the autograd loop, L = 512), and
was better on PE(20) (5/5 on both sets) and never left the data's range, where the PCA
model's free run did in 2 of 5 rate64 repeats. Not measured: budgets of 15 minutes, where the
affine model trains ~15x more epochs; recordings whose variance is spread so flat that 32
components leave much of it out (the residual variance is in fit.json's
``model.projection`` and the model reason). A competition of sizes by validation is not done
(it would multiply the candidates).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from neurodsr.errors import InputError
from neurodsr.training.projection import n_components

__all__ = ["ModelSize", "size_model"]

MANY_CHANNELS = 8
#: the observation model="auto" gives more than MANY_CHANNELS dims (docs/RESULTS.md section 6)
MANY_CHANNELS_OBSERVATION = "pca"
PL_FAMILY = ("shplrnn", "plrnn", "clipped_shplrnn", "dendplrnn")
OBSERVATIONS = ("auto", "identity", "affine", "pca")


@dataclass
class ModelSize:
    """What :func:`size_model` picks, and why (one sentence).

    ``observation`` is "identity", "affine", "pca" or "auto" (the gated models' own choice);
    with "pca" the model is built on ``components`` principal components (obs_dim = k, the
    identity observation in PC space, :mod:`neurodsr.training.projection`)."""

    model: str
    latent: int
    hidden: int
    observation: str
    reason: str
    components: int | None = None


def _pca_hidden(k: int) -> int:
    """L for a model on k principal components: 10 k in [64, 256] (not swept; see the module
    docstring)."""
    return int(min(256, max(64, 10 * k)))


def size_model(
    n_dims: int,
    n_samples: int,
    *,
    model: str = "auto",
    latent: int | None = None,
    hidden: int | None = None,
    observation: str = "auto",
    variance: np.ndarray | None = None,
) -> ModelSize:
    """Fill in what the user left at "auto"/None by the rule of this module.

    Parameters
    ----------
    n_dims : int
        N, observed dims.
    n_samples : int
        T, training samples.
    model, latent, hidden, observation
        The user's settings; given values are kept as they are (observation: "auto",
        "identity", "affine" or "pca"; with "pca" a given ``latent`` M caps the components
        at M, and latent units beyond them are unobserved).
    variance : array (K,), optional
        The training part's explained-variance ratios, descending
        (:func:`neurodsr.training.projection.explained_variance`); needed for the PCA
        observation's number of components.

    Returns
    -------
    ModelSize
    """
    if observation not in OBSERVATIONS:
        raise InputError(
            f"observation must be one of {list(OBSERVATIONS)}, got {observation!r}",
            hint="fit(observation=...)",
        )
    many = n_dims > MANY_CHANNELS
    if many:
        m_rule = min(32, max(8, math.ceil(n_dims / 4)))
        l_rule = min(512, max(128, n_samples // 20))
        obs_rule, model_rule = MANY_CHANNELS_OBSERVATION, "clipped_shplrnn"
    else:
        m_rule = n_dims
        l_rule = 50
        obs_rule, model_rule = "identity", "shplrnn"
    if model != "auto":
        # a named model keeps the sizes it was benchmarked with (M = N, L = 50, identity
        # observation: the fixed GTF default of docs/RESULTS.md); the rule is model="auto"'s
        m_rule, l_rule, obs_rule = n_dims, 50, "identity"
    obs = observation if observation != "auto" else obs_rule
    k = None
    if obs == "pca":
        if variance is None:
            raise ValueError("the PCA observation needs the explained-variance ratios")
        k = n_components(variance, n_samples)
        if latent is not None:
            k = min(k, int(latent))
        # the model on the components: the shPLRNN (the compiled loop serves its identity
        # observation; the clipped shPLRNN has no compiled loop), M = k
        m_rule = k
        if model == "auto":
            model_rule, l_rule = "shplrnn", _pca_hidden(k)
    m = int(latent) if latent is not None else m_rule
    n_model = k if k is not None else n_dims
    if model == "auto":
        # parameters ~ 2 M L below a tenth of the data's numbers T N, and L >= 50
        l_rule = max(50, min(l_rule, (n_samples * n_model) // (20 * max(m, 1))))
    out = ModelSize(
        model=model if model != "auto" else model_rule,
        latent=m,
        hidden=int(hidden) if hidden is not None else l_rule,
        observation=obs,
        reason="",
        components=k,
    )
    if out.observation != "pca":
        if out.model not in PL_FAMILY and observation == "auto":
            out.observation = "auto"  # make_model's choice for the gated models (affine)
        elif out.observation == "identity" and out.latent < n_dims:
            out.observation = "affine"  # the identity observation needs M >= N
    kind = f"{n_dims} dims {'> ' if many else '<= '}{MANY_CHANNELS}"
    obs_text = f"{out.observation} observation"
    if k is not None:
        kept = float(np.sum(np.asarray(variance)[:k]))
        obs_text = (
            f"PCA observation (identity on the leading {k} principal components of the "
            f"{n_dims} channels, {100 * kept:.1f} % of the training variance; "
            f"{100 * (1 - kept):.1f} % residual)"
        )
    out.reason = (
        f"{kind}, {n_samples} training samples: {out.model}, M = {out.latent}, "
        f"L = {out.hidden}, {obs_text} (neurodsr.training.sizing rule; "
        f"values given by the user are kept)"
    )
    return out
