"""Training: window sampler, forcing schedules (STF, GTF), the trainer with checkpoints.

What :func:`neurodsr.api.train_fit` does is here too, one job a module: :mod:`.fitting` (the
sequence: split, normalise, size, train, record; the size competition), :mod:`.resolve` (tau
and the forcing from the settings and the data), :mod:`.select` (every choice by validation:
the member, the forcing candidate grid and its winner, the size competition's verdict).
"""

from neurodsr.training.config import TrainConfig
from neurodsr.training.trainer import TrainLog, WindowSampler, resolve_device, train

__all__ = ["TrainConfig", "TrainLog", "WindowSampler", "resolve_device", "train"]
