"""The one table of fit and evaluate defaults.

The API (:func:`neurodsr.fit`), the command line (``neurodsr fit``, ``neurodsr evaluate``),
:class:`~neurodsr.training.TrainConfig` and the workflow's schema
(``workflow/schemas/config.schema.yaml``, sections ``train``, ``lyapunov.tau`` and
``evaluate``) take their defaults from here; ``tests/test_defaults.py`` checks that the schema
says the same.
"""

from __future__ import annotations

from typing import Any

__all__ = ["EVALUATE_DEFAULTS", "FIT_DEFAULTS", "GTF_ALPHA"]

#: GTF's strength where GTF trains and no alpha was given (``forcing="gtf"``, or "auto" on
#: data that are not chaotic; TrainConfig's default).
GTF_ALPHA = 0.1

#: Defaults of fitting: the workflow's ``train`` section (and ``lyapunov.tau``).
FIT_DEFAULTS: dict[str, Any] = {
    # auto: the sizing rule (neurodsr.training.sizing.size_model): the shPLRNN with M = N,
    # L = 50 below 32 dims and for delay embeddings (the fixed default before), the shPLRNN on
    # the leading principal components from 32 dims on (docs/RESULTS.md section 6, the
    # 5-minute run); "shplrnn" keeps M = N, L = 50 at any N
    "model": "auto",
    "latent": None,
    "hidden": None,
    # auto: the sizing rule's with model "auto" (docs/RESULTS.md section 6), else the model's
    # own (identity for the PL family with M >= N); identity, affine, or pca (the model on the
    # leading principal components, read out through their loadings)
    "observation": "auto",
    # with pca: a number of components, or the share of the variance they explain (0-1);
    # None: the rule (90 % of the variance, 4-32 components)
    "components": None,
    # auto: STF when tau is a number of steps, plain BPTT when tau is none, GTF when alpha is
    # given; else on chaotic data the candidates (STF intervals and GTF alphas proposed by the
    # data's lambda_max) chosen by validation, on other data GTF at GTF_ALPHA (docs/RESULTS.md
    # section 6, session 14); select: the candidates (or the fallback range) whatever else is
    # given; gtf: alpha (GTF_ALPHA when unset)
    "forcing": "auto",
    # GTF strength in [0, 1] or "adaptive"; None: unset (GTF_ALPHA where GTF trains)
    "alpha": None,
    "seeds": 3,
    "seed": 0,
    # an upper bound: the budget (max_minutes) or patience ends training first
    "epochs": 100_000,
    # training budget, minutes (wall clock, all candidates together)
    "max_minutes": 5.0,
    # validations in a row without improvement of any member before training stops
    "patience": 20,
    "seq_len": 100,
    "batch_size": 32,
    "lr": 5e-3,
    "grad_clip": None,
    "device": "auto",
    "tau": "auto",
    "test_fraction": 0.2,
    # last part of the training part held out for validation (forcing choice, best member)
    "val_fraction": 0.15,
}

#: Defaults of evaluation: the workflow's ``evaluate`` section.
EVALUATE_DEFAULTS: dict[str, Any] = {
    "n_pred": 20,
    "vpt_threshold": 0.5,
    "vpt_horizon": 1000,
    "spectrum_steps": 5000,
    # None: the training budget (max_minutes of the fit), or no budget when it had none
    "max_minutes": None,
}
