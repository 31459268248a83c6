"""Seeds trained together (train_group): each seed's numbers equal the seed trained alone,
bit for bit; one seed ending (diverged, stopped) leaves the others going; a group checkpoint
resumes any subset of its seeds."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch

from core.domain.spec import TrainingSettings
from core.store.artifacts import LocalStore
from tests.worker.training.interrupt import Crash, crash_after
from worker.training import TrainConfig, TrainResult, train
from worker.training.checkpoint import Checkpointer
from worker.training.loop import SeedTrainer, train_group

FAST = TrainConfig(activation="dual_line", model="lenet5", dataset="digits", seed=3,
                   training=TrainingSettings(epochs=3, batch_size=64))
KEYS = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "test_accuracy", "lr")


def _with(config: TrainConfig, **training: Any) -> TrainConfig:
    return replace(config, training=config.training.model_copy(update=training))


def _numbers(result: TrainResult) -> list[list[float]]:
    return [[h[k] for k in KEYS] for h in result.history]


def _same_weights(a: TrainResult, b: TrainResult) -> bool:
    assert a.best_weights is not None and b.best_weights is not None
    return all(torch.equal(a.best_weights[k], b.best_weights[k]) for k in a.best_weights)


def _group(configs: list[TrainConfig], root: Path, **kwargs: Any) -> list[SeedTrainer]:
    first = SeedTrainer(configs[0], "cpu", root, None, member="0")
    trainers = [first] + [SeedTrainer(c, "cpu", root, first.prep.data, member=str(i))
                          for i, c in enumerate(configs[1:], 1)]
    train_group(trainers, **kwargs)
    return trainers


def test_seeds_together_equal_seeds_alone(tmp_path: Path) -> None:
    configs = [replace(FAST, seed=s) for s in (1, 2, 3)]
    rounds: list[list[int]] = []
    together = _group(configs, tmp_path,
                      on_epochs=lambda reports: rounds.append([r.epoch for _, r in reports]))
    assert rounds == [[1, 1, 1], [2, 2, 2], [3, 3, 3]]  # one write per epoch for all seeds
    for config, trainer in zip(configs, together, strict=True):
        alone = train(config, device="cpu", data_root=tmp_path)
        assert trainer.status == "completed"
        assert _numbers(trainer.result()) == _numbers(alone)
        assert _same_weights(trainer.result(), alone)
    assert _numbers(together[0].result()) != _numbers(together[1].result())


def test_dropout_draws_stay_per_seed(tmp_path: Path) -> None:
    # Dropout draws from the global RNG: each seed keeps its own state aside.
    config = replace(FAST, model="wide_resnet",
                     model_params={"depth": 10, "widen": 1, "dropout": 0.3},
                     training=TrainingSettings(epochs=1, batch_size=128))
    configs = [replace(config, seed=s) for s in (5, 6)]
    together = _group(configs, tmp_path)
    for c, trainer in zip(configs, together, strict=True):
        assert _numbers(trainer.result()) == _numbers(train(c, device="cpu",
                                                            data_root=tmp_path))


def test_one_seed_diverging_or_stopping_leaves_the_others(tmp_path: Path) -> None:
    wild = _with(replace(FAST, seed=1), optimizer="sgd", lr=1e8, epochs=3)
    calm, stopped = replace(FAST, seed=2), replace(FAST, seed=4)
    trainers = _group([wild, calm, stopped], tmp_path,
                      should_stop=lambda t: t.member == "2" and t.epoch >= 1)
    assert [t.status for t in trainers] == ["diverged", "completed", "stopped"]
    assert trainers[0].error == train(wild, device="cpu", data_root=tmp_path).error
    assert _numbers(trainers[1].result()) == _numbers(train(calm, device="cpu",
                                                             data_root=tmp_path))
    assert trainers[2].epoch == 1


@pytest.mark.parametrize("members", [["0", "1"], ["1"]])
def test_group_checkpoint_resumes_any_subset(tmp_path: Path, members: list[str]) -> None:
    configs = [replace(FAST, seed=s) for s in (7, 8)]
    store = LocalStore(tmp_path / "store")

    with pytest.raises(Crash):
        _group(configs, tmp_path, on_epochs=crash_after(2),
               checkpoint=Checkpointer(store, "group.pt"))
    # A new group (or one seed alone) writes its own checkpoint and reads the old group's.
    resume = Checkpointer(store, "later.pt", also=("group.pt",))
    trainers = [SeedTrainer(configs[int(m)], "cpu", tmp_path, None, member=m,
                            checkpoint=resume) for m in members]
    assert [t.epoch for t in trainers] == [1] * len(members)  # epoch 2 was never saved
    train_group(trainers, checkpoint=resume)
    for m, trainer in zip(members, trainers, strict=True):
        assert _numbers(trainer.result()) == _numbers(train(configs[int(m)], device="cpu",
                                                            data_root=tmp_path))
