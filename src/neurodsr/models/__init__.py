"""Latent models: the PL family (default shPLRNN) and gated baselines, as seed ensembles.

>>> model = make_model("shplrnn", obs_dim=3, latent_dim=3, hidden_dim=50, seeds=[0, 1, 2])
"""

from __future__ import annotations

from collections.abc import Sequence

from neurodsr.models.base import LatentModel
from neurodsr.models.gated import GRU, LSTM, VanillaRNN
from neurodsr.models.pl import PLRNN, ClippedShallowPLRNN, DendPLRNN, ShallowPLRNN

__all__ = [
    "GRU",
    "LSTM",
    "MODELS",
    "PLRNN",
    "ClippedShallowPLRNN",
    "DendPLRNN",
    "LatentModel",
    "ShallowPLRNN",
    "VanillaRNN",
    "make_model",
    "model_from_config",
]

MODELS: dict[str, type[LatentModel]] = {
    cls.name: cls
    for cls in (ShallowPLRNN, PLRNN, ClippedShallowPLRNN, DendPLRNN, VanillaRNN, LSTM, GRU)
}


def make_model(
    name: str,
    obs_dim: int,
    latent_dim: int | None = None,
    *,
    seeds: Sequence[int] = (0,),
    observation: str = "auto",
    hidden_dim: int | None = None,
    n_bases: int | None = None,
) -> LatentModel:
    """Build an ensemble of ``len(seeds)`` models of one kind.

    Parameters
    ----------
    name : str
        One of :data:`MODELS`: shplrnn (default elsewhere), plrnn, clipped_shplrnn, dendplrnn,
        rnn, lstm, gru.
    obs_dim : int
        N, observed dimensions.
    latent_dim : int, optional
        M; default N (all latent units observed).
    seeds : sequence of int
        One seed per member.
    observation : {"auto", "identity", "affine"}
        auto: identity for the PL family when M >= N, affine otherwise and for the gated models
        (their tanh units cannot reach z-scored values beyond +-1).
    hidden_dim : int, optional
        L for the shallow PLRNNs (default 50).
    n_bases : int, optional
        Basis functions of the dendPLRNN (default 10).
    """
    try:
        cls = MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODELS)}") from None
    m = obs_dim if latent_dim is None else int(latent_dim)
    if observation == "auto":
        pl = cls in (ShallowPLRNN, PLRNN, ClippedShallowPLRNN, DendPLRNN)
        observation = "identity" if pl and m >= obs_dim else "affine"
    kwargs: dict = {}
    if issubclass(cls, ShallowPLRNN):
        kwargs["hidden_dim"] = 50 if hidden_dim is None else int(hidden_dim)
    if cls is DendPLRNN and n_bases is not None:
        kwargs["n_bases"] = int(n_bases)
    return cls(obs_dim, m, list(seeds), observation, **kwargs)


def model_from_config(config: dict) -> LatentModel:
    """Rebuild a model (untrained) from :meth:`LatentModel.config`'s dict."""
    cfg = dict(config)
    return make_model(
        cfg.pop("name"),
        cfg.pop("obs_dim"),
        cfg.pop("latent_dim"),
        seeds=cfg.pop("seeds"),
        observation=cfg.pop("observation"),
        hidden_dim=cfg.pop("hidden_dim", None),
        n_bases=cfg.pop("n_bases", None),
    )
