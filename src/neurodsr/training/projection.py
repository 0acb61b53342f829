"""A PCA observation: train on the leading principal components, read out all N channels.

For a recording with many channels the model is trained on the training part's leading k
principal components (of the z-scored channels), with the identity observation in that
k-dimensional space, so that it runs the compiled training loop of the PL family (which serves
only the identity observation); the N channels are the PCA loadings applied to what the model
reads out. Forcing uses the projected data, so the inverse is exact in PC space; what the k
components leave out of the training part is the residual variance, reported with the fit.

:class:`PCAProjection` is the transform (fitted by :func:`fit_pca` on the training part only,
with the preprocessing stage's PCA, :func:`neurodsr.preprocess.common.pca`: the SVD of the
centred data); :class:`ProjectedModel` wraps a trained k-dimensional model so
that everything downstream (free runs, predictions, the evaluation, the report) sees an
N-channel model in z-scored units. The transform is stored in fit.pt as plain tensors and in
fit.json as numbers (no pickle).

The number of components (:func:`n_components`): the smallest k whose components explain at
least ``VARIANCE`` (90 %) of the training part's variance, at least ``MIN_COMPONENTS`` (or N
when N is smaller), and at most ``MAX_COMPONENTS`` and ``T / SAMPLES_PER_COMPONENT`` (each
component gets at least 300 training samples per dimension, so its geometry is
estimated from the data rather than from a handful of orbits).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from neurodsr.models.base import LatentModel
from neurodsr.preprocess.common import pca

__all__ = [
    "PCAProjection",
    "ProjectedModel",
    "explained_variance",
    "fit_pca",
    "n_components",
]

VARIANCE = 0.90
MIN_COMPONENTS = 4
MAX_COMPONENTS = 32
SAMPLES_PER_COMPONENT = 300


def explained_variance(x: np.ndarray) -> np.ndarray:
    """Explained-variance ratio of each principal component of ``x`` (time, N), descending.

    Returns an array (min(T, N),) that sums to 1 (singular values of the centred data).
    """
    return pca(x)[2]


def n_components(ratios: np.ndarray, n_samples: int, *, variance: float = VARIANCE) -> int:
    """The number of principal components kept (the rule of this module's docstring).

    Parameters
    ----------
    ratios : array (K,)
        Explained-variance ratios, descending (:func:`explained_variance`).
    n_samples : int
        Training samples T.
    variance : float
        Share of the variance to keep (default 0.9).
    """
    ratios = np.asarray(ratios, dtype=np.float64)
    k = int(np.searchsorted(np.cumsum(ratios), variance - 1e-12) + 1)
    k = max(k, min(MIN_COMPONENTS, len(ratios)))
    return int(max(1, min(k, MAX_COMPONENTS, n_samples // SAMPLES_PER_COMPONENT, len(ratios))))


@dataclass
class PCAProjection:
    """The PCA transform between N z-scored channels and k model units.

    ``scores = (x - mean) @ components.T / scale``; ``x ~ scores * scale @ components + mean``.

    Attributes
    ----------
    components : array (k, N)
        Orthonormal loadings (rows), of the z-scored training part.
    mean : array (N,)
        Mean of the z-scored training part (zero up to rounding, kept for exactness).
    scale : float
        One common scale: the root-mean variance of the k scores on the training part, so that
        the model units have unit variance on average while the components keep their relative
        weights (the loss stays proportional to the channels' squared error).
    explained : array (k,)
        Each component's share of the training part's variance.
    """

    components: np.ndarray
    mean: np.ndarray
    scale: float
    explained: np.ndarray

    @property
    def k(self) -> int:
        """Components kept."""
        return int(self.components.shape[0])

    @property
    def n_channels(self) -> int:
        """N, the channels."""
        return int(self.components.shape[1])

    @property
    def residual_variance(self) -> float:
        """Share of the training part's variance the k components leave out."""
        return float(max(0.0, 1.0 - float(np.sum(self.explained))))

    def transform(self, x: np.ndarray) -> np.ndarray:
        """z-scored channels (..., N) -> model units (..., k)."""
        return (np.asarray(x, np.float64) - self.mean) @ self.components.T / self.scale

    def inverse(self, y: np.ndarray) -> np.ndarray:
        """Model units (..., k) -> z-scored channels (..., N)."""
        return np.asarray(y, np.float64) * self.scale @ self.components + self.mean

    def residual(self, x: np.ndarray) -> float:
        """Share of the variance of ``x`` (time, N; z-scored like training) the k components
        leave out (0: ``x`` lies in their span)."""
        x = np.asarray(x, np.float64)
        rest = x - self.inverse(self.transform(x))
        total = float(np.sum((x - x.mean(0)) ** 2))
        return float(np.sum((rest - rest.mean(0)) ** 2) / total) if total > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        """What fit.json records (numbers only; the loadings are in fit.pt)."""
        return {
            "kind": "pca",
            "n_components": self.k,
            "n_channels": self.n_channels,
            "explained_variance": [float(v) for v in self.explained],
            "residual_variance": self.residual_variance,
            "scale": float(self.scale),
        }

    def to_tensors(self) -> dict[str, Any]:
        """What fit.pt stores: plain tensors and floats (``torch.load(weights_only=True)``)."""
        return {
            "components": torch.as_tensor(self.components, dtype=torch.float64),
            "mean": torch.as_tensor(self.mean, dtype=torch.float64),
            "scale": float(self.scale),
            "explained": torch.as_tensor(self.explained, dtype=torch.float64),
        }

    @classmethod
    def from_tensors(cls, d: dict[str, Any]) -> PCAProjection:
        """Inverse of :meth:`to_tensors`."""
        return cls(
            components=d["components"].double().numpy(),
            mean=d["mean"].double().numpy(),
            scale=float(d["scale"]),
            explained=d["explained"].double().numpy(),
        )


def fit_pca(x: np.ndarray, k: int) -> PCAProjection:
    """The leading ``k`` principal components of ``x`` (time, N), the z-scored training part.

    :func:`neurodsr.preprocess.common.pca` (SVD of the centred data); each component's sign is
    fixed so that its largest loading is positive (independent of LAPACK's sign choice)."""
    x = np.asarray(x, dtype=np.float64)
    k = int(k)
    if not 1 <= k <= min(x.shape):
        raise ValueError(f"k must be in [1, {min(x.shape)}], got {k}")
    mean = x.mean(0)
    scores, comps, explained = pca(x, n_components=k)
    signs = np.sign(comps[np.arange(k), np.abs(comps).argmax(1)])
    signs = np.where(signs == 0, 1.0, signs)
    comps, scores = comps * signs[:, None], scores * signs
    scale = float(np.sqrt(np.mean(scores.var(0))))
    return PCAProjection(comps, mean, scale if scale > 0 else 1.0, explained)


class ProjectedModel(LatentModel):
    """A model trained on k principal components, seen as a model of the N channels.

    ``readout`` maps the inner model's k read-out units back to the N channels with the
    loadings; ``init_state`` and ``force`` project the N channels onto the components first.
    The latent map (``step``, ``jacobian``, ``generate``) is the inner model's, unchanged, so
    its Lyapunov spectrum is the inner model's. Units: z-scored channels, like every model.

    Parameters
    ----------
    inner : LatentModel
        The trained model, obs_dim = k (identity observation in PC space).
    projection : PCAProjection
    """

    analytic_jacobian = False

    def __init__(self, inner: LatentModel, projection: PCAProjection) -> None:
        nn.Module.__init__(self)  # the inner model owns every parameter
        if inner.obs_dim != projection.k:
            raise ValueError(
                f"the model reads {inner.obs_dim} units but the projection has {projection.k}"
            )
        self.inner = inner
        self.projection = projection
        self.name = inner.name
        self.analytic_jacobian = inner.analytic_jacobian
        self.obs_dim = projection.n_channels
        self.latent_dim = inner.latent_dim
        self.seeds = list(inner.seeds)
        self.n_models = inner.n_models
        self.observation = "pca"
        self.register_buffer("pc_components", torch.as_tensor(projection.components).float())
        self.register_buffer("pc_mean", torch.as_tensor(projection.mean).float())
        self.pc_scale = float(projection.scale)

    @property
    def state_dim(self) -> int:
        return self.inner.state_dim

    def _project(self, x: Tensor) -> Tensor:
        return (x - self.pc_mean) @ self.pc_components.T / self.pc_scale

    def _unproject(self, y: Tensor) -> Tensor:
        return (y * self.pc_scale) @ self.pc_components + self.pc_mean

    def step(self, z: Tensor) -> Tensor:
        return self.inner.step(z)

    def jacobian(self, z: Tensor) -> Tensor:
        return self.inner.jacobian(z)

    def generate(self, z0: Tensor, n_steps: int) -> Tensor:
        return self.inner.generate(z0, n_steps)

    def visible(self, z: Tensor) -> Tensor:
        return self.inner.visible(z)

    def readout(self, z: Tensor) -> Tensor:
        return self._unproject(self.inner.readout(z))

    def force(self, z: Tensor, x: Tensor, alpha: float | Tensor = 1.0) -> Tensor:
        return self.inner.force(z, self._project(x), alpha)

    def init_state(self, x0: Tensor) -> Tensor:
        return self.inner.init_state(self._project(x0))

    def rollout(self, x: Tensor, tau: int | None = None, alpha: float | Tensor = 1.0) -> Tensor:
        return self._unproject(self.inner.rollout(self._project(x), tau, alpha))

    def latent_penalty(self, fraction: float = 0.5) -> Tensor:
        return self.inner.latent_penalty(fraction)

    def release_buffers(self) -> None:
        self.inner.release_buffers()

    def config(self) -> dict:
        """The inner model's config with the projection's summary (fit.json's ``model``);
        :func:`neurodsr.api.load_fit` rebuilds the model from fit.pt, which stores both."""
        return {
            **self.inner.config(),
            "observation": "pca",
            "projection": self.projection.to_json(),
        }
