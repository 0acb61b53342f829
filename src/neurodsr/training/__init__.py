"""Training: window sampler, forcing schedules (STF, GTF), the trainer with checkpoints."""

from neurodsr.training.config import TrainConfig
from neurodsr.training.trainer import TrainLog, WindowSampler, resolve_device, train

__all__ = ["TrainConfig", "TrainLog", "WindowSampler", "resolve_device", "train"]
