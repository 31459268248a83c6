"""Models, datasets and the training loop, usable without Celery:

    from worker.training import TrainConfig, train
    result = train(TrainConfig(activation="dual_line", dataset="digits"), device="cpu")
"""

from worker.training.config import TrainConfig
from worker.training.loop import EpochReport, StopRequested, TrainResult, train

__all__ = ["EpochReport", "StopRequested", "TrainConfig", "TrainResult", "train"]
