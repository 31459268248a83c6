"""Models, datasets and the training loop, usable without Celery:

    from worker.training import TrainConfig, train
    result = train(TrainConfig(activation="dual_line", dataset="digits"), device="cpu")
"""

from worker.training.config import TrainConfig
from worker.training.loop import EpochReport, TrainResult, train
from worker.training.lr_range import LrRangeResult, lr_range_test
from worker.training.measure import count_macs
from worker.training.setup import pick_device

# The zoo's transformers, KANs and sequence datasets register themselves (models.py and
# datasets.py cannot import them: they build on those).
from worker.training import kan, sequences, symbolic, transformers  # noqa: F401, E402  # isort: skip
from worker.training.step import StopRequested

__all__ = ["EpochReport", "LrRangeResult", "StopRequested", "TrainConfig", "TrainResult",
           "count_macs", "lr_range_test", "pick_device", "train"]
