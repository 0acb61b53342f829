"""The model from the data: latent size, hidden width and observation model (one rule).

:func:`size_model` is the rule ``neurodsr fit`` applies to whatever the user left at "auto"
(model, latent, hidden, observation, components); the values it picks and why go to fit.json
(``model_reason``, ``sources``).

The rule (``model="auto"``, the default), for N observed dims and T training samples:

- N < 32 (``PCA_MIN_DIMS``: a low-dimensional system, a delay embedding, a few channels), or
  data that are a delay embedding (:func:`looks_delay_embedded`: adjacent columns are copies
  of each other shifted in time) whatever N: the shPLRNN with the identity observation and
  M = N (the latent state's first N units are the data, as in STF/GTF's benchmarks), hidden
  width L = 50 (the setting docs/RESULTS.md section 1 measured on Lorenz-63 and Rössler). A
  delay embedding's small-variance directions are its derivatives, which the dynamics need.
- N >= 32 and not a delay embedding (a multichannel recording): the PCA observation
  (:mod:`neurodsr.training.projection`): the shPLRNN is trained on the training part's
  leading k principal components with the identity observation there, M = k, and reads out
  the N channels through the PCA loadings; k is the smallest number of components that
  explain 90 % of the (z-scored) training variance, in [min(4, N), 32] and at most T / 300;
  L = clip(10 k, 64, 256) (not swept). The unclipped shPLRNN, as below 32 dims: the clipped
  shPLRNN (which also trains in the compiled loop with the identity observation) scored
  better on the two shared recordings but worse on Rössler and the noisy Lorenz-63 at M = N
  (docs/RESULTS.md section 6, session 13), so it is not the rule's. With a budget of at
  least ``SIZE_COMPETITION_MINUTES`` (10) this size and M = N compete by validation
  (:func:`neurodsr.api.train_fit`).
- In every case L is lowered so that the parameters (about 2 M L) stay below a tenth of the
  data's numbers (T times the modelled dims), and never below 50.
- The rule before the PCA observation is one option away (``observation="affine"``): the
  clipped shPLRNN with an affine observation x = B z + b, M = clip(ceil(N / 4), 8, 32),
  L = clip(T / 20, 128, 512) (Hess et al. 2023 train the 64-channel EEG with a clipped
  shPLRNN, M = 16, L = 512, affine observation).

What backs it (docs/RESULTS.md section 6, benchmarks/quality.py ``size_identity`` against
``size_pca``, 1-minute budgets, GTF alpha 0.1, 3 repeats): the PCA model had the lower D_stsp
and D_H on the 64-channel rate-network stand-in and on Lorenz-96 with N = 40 (3 of 3 repeats
each); M = N had the lower D_stsp on Lorenz-96 with N = 12 and N = 20 (3 of 3 each), on the
shared 10-d delay-embedded EEG (2 of 3, and the lower D_H and PE(20) 3 of 3) and on a 12-d
delay embedding of Lorenz-63 (3 of 3 on all three); on a 20-d delay embedding the two were
within the spread (PE(20) 10x lower for M = N). The threshold 32 lies between the largest N
where M = N won (20) and the smallest where the PCA did (40); between them it is not measured,
nor are budgets of 15 minutes or delay embeddings of 32 dims or more. At 5-minute budgets
(docs/RESULTS.md section 6, the 5-minute run) the PCA model again had the lower D_stsp on both
many-channel sets in every repeat (rate64 3 of 3, Lorenz-96 N = 40 3 of 3); this made the rule
(``model="auto"``) the default.

A setting the user gives is used, or refused with an :class:`~neurodsr.errors.InputError`
naming the option (identity with M < N, components with the identity or affine observation,
more components than dims, ...).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from neurodsr.errors import InputError
from neurodsr.training.projection import n_components

__all__ = ["ModelSize", "check_components", "looks_delay_embedded", "size_model"]

MANY_CHANNELS = 8
#: model="auto" trains the PCA observation from this many dims on, unless the data are a delay
#: embedding (docs/RESULTS.md section 6: below it, and on delay embeddings, M = N won)
PCA_MIN_DIMS = 32
#: model="auto" with a budget of at least this many minutes lets the PCA observation and
#: M = N compete by validation (each with half the budget) where the rule gives the PCA
#: (neurodsr.api.train_fit)
SIZE_COMPETITION_MINUTES = 10.0
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


def _bad(problem: str, hint: str) -> InputError:
    return InputError(problem, hint=hint)


def check_components(components: int | float | None) -> int | float | None:
    """A ``components`` setting: None, a number of principal components >= 1 (int) or a share
    of the variance in (0, 1) (float); anything else is an InputError naming the option."""
    if components is None:
        return None
    if isinstance(components, bool):
        raise _bad(f"components must be a number, got {components!r}", "--components")
    if isinstance(components, int | np.integer) or float(components).is_integer():
        k = int(components)
        if k < 1:
            raise _bad(
                f"components must be >= 1 (a number of principal components) or a share of "
                f"the variance in (0, 1), got {components!r}",
                "--components K (e.g. 8) or --components 0.95",
            )
        return k
    frac = float(components)
    if not 0.0 < frac < 1.0:
        raise _bad(
            f"components must be a number of principal components (>= 1) or a share of the "
            f"variance in (0, 1), got {components!r}",
            "--components K (e.g. 8) or --components 0.95",
        )
    return frac


def size_model(
    n_dims: int,
    n_samples: int,
    *,
    model: str = "auto",
    latent: int | None = None,
    hidden: int | None = None,
    observation: str = "auto",
    components: int | float | None = None,
    variance: np.ndarray | None = None,
    delay_embedded: str = "",
) -> ModelSize:
    """Fill in what the user left at "auto"/None by the rule of this module.

    Parameters
    ----------
    n_dims : int
        N, observed dims.
    n_samples : int
        T, training samples.
    model, latent, hidden : str, int or None
        The user's settings (model "auto": the rule's; latent M, hidden width L: None for the
        rule's); given values are kept as they are.
    observation : {"auto", "identity", "affine", "pca"}, default "auto"
        The observation model. "pca": the model on the leading principal components, read out
        through their loadings (with a given ``latent`` M and no ``components``, M caps the
        components; latent units beyond them are unobserved). "identity" needs M >= N and a
        model of the PL family; "auto": the rule's (model="auto") or the named model's own.
    components : int, float or None, default None
        With the PCA observation: the number of principal components (int >= 1, at most N),
        or the share of the training variance they must explain (float in (0, 1)); None: the
        rule (:func:`neurodsr.training.projection.n_components`). Given with
        observation="auto" it selects the PCA observation; with another observation it is
        refused.
    variance : array (K,), optional
        The training part's explained-variance ratios, descending
        (:func:`neurodsr.training.projection.explained_variance`); needed for the PCA
        observation.
    delay_embedded : str, default ""
        Why the data look like a delay embedding (:func:`looks_delay_embedded`), "" when they
        do not: model="auto" then keeps the N dims (identity observation, M = N) whatever N is.

    Returns
    -------
    ModelSize

    Raises
    ------
    InputError
        For a combination that cannot be trained as given, naming the option that fixes it.
    """
    if observation not in OBSERVATIONS:
        raise _bad(
            f"observation must be one of {list(OBSERVATIONS)}, got {observation!r}",
            "fit(observation=...) / --observation",
        )
    components = check_components(components)
    if components is not None:
        if observation == "auto":
            observation = "pca"  # a number of components given is the PCA observation
        elif observation != "pca":
            raise _bad(
                f"components = {components} was given with observation = {observation!r}: "
                "only the PCA observation has components",
                "give --observation pca (or auto) with --components, or drop --components",
            )
    gated = model not in ("auto", *PL_FAMILY)
    if observation == "identity" and gated:
        raise _bad(
            f"the identity observation needs a model of the PL family "
            f"({', '.join(PL_FAMILY)}); {model}'s tanh units cannot reach z-scored values "
            "beyond +-1",
            "--observation affine (or auto) with this --model, or another --model",
        )
    if observation == "identity" and latent is not None and int(latent) < n_dims:
        raise _bad(
            f"the identity observation reads the first N = {n_dims} latent units, but "
            f"latent = {int(latent)} < {n_dims} was given",
            f"--latent {n_dims} or more, --observation affine or pca, or drop --latent",
        )
    if isinstance(components, int):
        if components > n_dims:
            raise _bad(
                f"components = {components} is more than the data's {n_dims} dims",
                f"--components {n_dims} or fewer",
            )
        if latent is not None and int(latent) < components and not gated:
            raise _bad(
                f"the model on {components} principal components reads its first "
                f"{components} latent units, but latent = {int(latent)} was given",
                f"--latent {components} or more, or fewer --components",
            )

    many = n_dims > MANY_CHANNELS
    embedded = bool(delay_embedded)
    pca_rule = n_dims >= PCA_MIN_DIMS and not embedded
    if model != "auto":
        # a named model keeps the sizes it was benchmarked with (M = N, L = 50, identity
        # observation: the fixed default of docs/RESULTS.md); the rule is model="auto"'s
        model_rule, m_rule, l_rule, obs_rule = model, n_dims, 50, "identity"
    elif many and observation == "affine":
        # the rule before the PCA observation (Hess et al. 2023's EEG setting, scaled)
        model_rule, obs_rule = "clipped_shplrnn", "affine"
        m_rule = min(32, max(8, math.ceil(n_dims / 4)))
        l_rule = min(512, max(128, n_samples // 20))
    elif pca_rule:
        model_rule, m_rule, l_rule, obs_rule = "shplrnn", n_dims, 50, MANY_CHANNELS_OBSERVATION
    else:  # up to 15 dims, or a delay embedding: its small-variance directions carry the
        # derivatives the dynamics need
        model_rule, m_rule, l_rule, obs_rule = "shplrnn", n_dims, 50, "identity"
    obs = observation if observation != "auto" else obs_rule

    k = None
    if obs == "pca":
        if variance is None:
            raise ValueError("the PCA observation needs the explained-variance ratios")
        if isinstance(components, int):
            k = components
        elif isinstance(components, float):
            ratios = np.asarray(variance, dtype=np.float64)
            k = int(min(len(ratios), np.searchsorted(np.cumsum(ratios), components - 1e-12) + 1))
        else:
            k = n_components(variance, n_samples)
            if latent is not None:
                k = min(k, int(latent))
        # the model on the components: M = k, and with model="auto" the shPLRNN (the compiled
        # loop serves its identity observation) with a layer as wide as the components ask
        m_rule = k
        if model == "auto":
            model_rule, l_rule = "shplrnn", _pca_hidden(k)
    m = int(latent) if latent is not None else m_rule
    n_model = k if k is not None else n_dims
    if model == "auto":
        # parameters ~ 2 M L below a tenth of the data's numbers T N, and L >= 50
        l_rule = max(50, min(l_rule, (n_samples * n_model) // (20 * max(m, 1))))
    out = ModelSize(
        model=model_rule,
        latent=m,
        hidden=int(hidden) if hidden is not None else l_rule,
        observation=obs,
        reason="",
        components=k,
    )
    if out.observation != "pca" and observation == "auto":
        if out.model not in PL_FAMILY:
            out.observation = "auto"  # make_model's choice for the gated models (affine)
        elif out.observation == "identity" and out.latent < n_dims:
            out.observation = "affine"  # a given M < N: the identity observation needs M >= N
    kind = f"{n_dims} dims"
    if model == "auto" and observation == "auto":
        if embedded:
            kind += f", a delay embedding ({delay_embedded}): all {n_dims} dims kept"
        elif not pca_rule:
            kind += f" < {PCA_MIN_DIMS}: all dims kept"
        else:
            kind += f" >= {PCA_MIN_DIMS}, not a delay embedding"
    obs_text = f"{out.observation} observation"
    if k is not None:
        kept = float(np.sum(np.asarray(variance)[:k]))
        how = (
            "given"
            if isinstance(components, int)
            else f"the fewest for {components:.0%} of the variance"
            if isinstance(components, float)
            else "the rule's"
        )
        obs_text = (
            f"PCA observation (identity on the leading {k} principal components of the "
            f"{n_dims} channels ({how}), {100 * kept:.1f} % of the training variance; "
            f"{100 * (1 - kept):.1f} % residual)"
        )
    out.reason = (
        f"{kind}, {n_samples} training samples: {out.model}, M = {out.latent}, "
        f"L = {out.hidden}, {obs_text} (neurodsr.training.sizing rule; "
        f"values given by the user are kept)"
    )
    return out


def looks_delay_embedded(
    x: np.ndarray, *, max_lag: int = 1000, threshold: float = 0.98, min_share: float = 0.5
) -> str:
    """Whether the columns of ``x`` (time, N) look like a delay embedding: column j + 1 a copy
    of column j shifted in time. Returns why (e.g. "9 of 9 adjacent columns are copies shifted
    by 50 steps") or "" when they do not.

    For each adjacent pair of columns the correlation of one with the other shifted by d steps
    is computed for every d in [1, ``max_lag``] (both directions, FFT cross-correlation,
    :func:`scipy.signal.correlate`); a pair is a shifted copy when its best correlation is at
    least ``threshold``. The data look delay-embedded when at least ``min_share`` of the pairs
    are copies at one common shift (a multichannel embedding, C channels x D lags, has
    C (D - 1) such pairs of C D - 1). Noise does not hide it: a delay embedding of a noisy
    series shifts the noise with the signal.
    """
    from scipy.signal import correlate

    x = np.asarray(x, dtype=np.float64)
    t_len, n = x.shape
    if n < 2 or t_len < 20:
        return ""
    max_lag = int(min(max_lag, t_len // 4))
    z = (x - x.mean(0)) / np.where(x.std(0) > 0, x.std(0), 1.0)
    overlap = t_len - np.abs(np.arange(-(t_len - 1), t_len))
    centre = t_len - 1
    lags: list[int] = []
    for j in range(n - 1):
        # c[centre + d] = sum_t z_{j+1}[t + d] z_j[t] / (T - |d|)
        c = correlate(z[:, j + 1], z[:, j], mode="full", method="fft") / overlap
        window = np.r_[c[centre - max_lag : centre], c[centre + 1 : centre + max_lag + 1]]
        shifts = np.r_[np.arange(-max_lag, 0), np.arange(1, max_lag + 1)]
        best = int(np.argmax(window))
        if window[best] >= threshold:
            lags.append(int(shifts[best]))
    if not lags:
        return ""
    values, counts = np.unique(np.abs(lags), return_counts=True)
    common, n_common = int(values[np.argmax(counts)]), int(counts.max())
    if n_common < min_share * (n - 1):
        return ""
    return f"{n_common} of {n - 1} adjacent columns are copies shifted by {common} steps"
