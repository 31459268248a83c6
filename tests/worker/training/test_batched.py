"""Seeds trained as one vmapped model (worker/training/batched.py): each seed agrees with the
seed trained alone within float tolerance and repeats bit for bit in this mode; batch norm,
gradient clipping, schedules and augmentation stay per seed; one seed that diverges or
stops leaves the others; a vmapped group resumes from its checkpoint exactly; models that
draw random numbers in training are refused with the reason."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch

from bench.trainer import fake_data
from core.domain.spec import TrainingSettings
from core.store.artifacts import LocalStore
from tests.worker.training.interrupt import Crash, crash_after
from worker.training import TrainConfig, TrainResult, train
from worker.training.batched import unbatchable
from worker.training.checkpoint import Checkpointer
from worker.training.datasets import crop_and_flip, load_dataset
from worker.training.loop import SeedTrainer, train_group

FAST = TrainConfig(activation="dual_line", model="lenet5", dataset="digits", seed=3,
                   training=TrainingSettings(epochs=2, batch_size=64))
KEYS = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "test_accuracy", "lr")


def _numbers(result: TrainResult) -> list[list[float]]:
    return [[h[k] for k in KEYS] for h in result.history]


def _trainers(configs: list[TrainConfig], root: Path, data: Any = None,
              **kwargs: Any) -> list[SeedTrainer]:
    first = SeedTrainer(configs[0], "cpu", root, data, member="0", **kwargs)
    return [first] + [SeedTrainer(c, "cpu", root, first.prep.data, member=str(i), **kwargs)
                      for i, c in enumerate(configs[1:], 1)]


def _vmapped(configs: list[TrainConfig], root: Path, data: Any = None,
             **kwargs: Any) -> list[SeedTrainer]:
    trainers = _trainers(configs, root, data)
    assert unbatchable(trainers) is None
    train_group(trainers, vmapped=True, **kwargs)
    return trainers


def _alone(config: TrainConfig, root: Path, data: Any = None) -> SeedTrainer:
    trainer = SeedTrainer(config, "cpu", root, data)
    train_group([trainer])
    return trainer


# An accuracy is a count over a few hundred examples: one prediction that a last bit turns
# (a model near chance has many near-ties) moves it by 1/288 or 1/360, above any float
# tolerance. Losses carry the float tolerance; accuracies may differ by a few examples.
ACCURACY_EXAMPLES = 0.02


def _assert_close(got: TrainResult, want: TrainResult, rel: float) -> None:
    """Float tolerance: the batched kernels sum in another order, and training amplifies
    the last bits a little every step."""
    assert len(got.history) == len(want.history)
    for g, w in zip(_numbers(got), _numbers(want), strict=True):
        for key, a, b in zip(KEYS, g, w, strict=True):
            tolerance = ACCURACY_EXAMPLES if key.endswith("accuracy") else rel
            assert a == pytest.approx(b, rel=rel, abs=tolerance), (key, g, w)
    assert got.best_weights is not None and want.best_weights is not None
    for key, value in want.best_weights.items():
        if value.is_floating_point():
            # as a whole tensor: a few of thousands of elements drift further apart than
            # the rest on some CPUs (0.2 % by 0.03 after 3 epochs), the tensor does not
            drift = (got.best_weights[key] - value).norm() / max(value.norm().item(), 1e-12)
            assert drift < rel * 10, (key, drift.item())


def test_vmapped_seeds_agree_with_seeds_alone_and_repeat_bit_for_bit(tmp_path: Path) -> None:
    configs = [replace(FAST, seed=s) for s in (1, 2, 3)]
    rounds: list[list[int]] = []
    first = _vmapped(configs, tmp_path,
                     on_epochs=lambda reports: rounds.append([r.epoch for _, r in reports]))
    assert rounds == [[1, 1, 1], [2, 2, 2]]  # one write per epoch for all seeds
    again = _vmapped(configs, tmp_path)
    for config, a, b in zip(configs, first, again, strict=True):
        assert a.status == b.status == "completed"
        assert _numbers(a.result()) == _numbers(b.result())
        assert all(torch.equal(a.best[k], b.best[k]) for k in a.best)  # type: ignore[index]
        _assert_close(a.result(), train(config, device="cpu", data_root=tmp_path), 2e-3)
    assert _numbers(first[0].result()) != _numbers(first[1].result())


def test_batch_norm_gradient_clipping_and_schedule_stay_per_seed(tmp_path: Path) -> None:
    # One-cycle moves the momentum too; a small clip norm clips every step.
    config = replace(FAST, activation="relu", model="resnet_v1", model_params={"depth": 8},
                     training=TrainingSettings(epochs=1, batch_size=128, optimizer="sgd",
                                               schedule="onecycle", lr=0.05, grad_clip=0.05))
    configs = [replace(config, seed=s) for s in (4, 5)]
    together = _vmapped(configs, tmp_path)
    means = []
    for c, trainer in zip(configs, together, strict=True):
        alone = _alone(c, tmp_path)
        _assert_close(trainer.result(), alone.result(), 2e-3)
        mine, theirs = (dict(t.prep.model.named_buffers()) for t in (trainer, alone))
        for name, value in theirs.items():
            torch.testing.assert_close(mine[name].float(), value.float(), rtol=1e-3, atol=1e-4)
        means.append(mine["stem_post.0.running_mean"])
    assert not torch.equal(means[0], means[1])  # each seed its own statistics


@pytest.mark.parametrize("training", [
    {"optimizer": "adamw", "schedule": "step", "weight_decay": 1e-2},
    {"optimizer": "sgd", "momentum": 0.9, "nesterov": True, "schedule": "cosine",
     "weight_decay": 1e-3}])
def test_every_optimizer_and_schedule_batches(tmp_path: Path, training: dict[str, Any]) -> None:
    config = replace(FAST, model="mlp", training=FAST.training.model_copy(update=training))
    configs = [replace(config, seed=s) for s in (1, 2)]
    for c, trainer in zip(configs, _vmapped(configs, tmp_path), strict=True):
        _assert_close(trainer.result(), train(c, device="cpu", data_root=tmp_path), 2e-3)


def test_augmentation_draws_stay_per_seed(tmp_path: Path) -> None:
    data = replace(load_dataset("digits", {}, tmp_path), augment=crop_and_flip)
    configs = [replace(FAST, seed=s, activation="relu") for s in (1, 2)]
    together = _vmapped(configs, tmp_path, data)
    for c, trainer in zip(configs, together, strict=True):
        alone = _alone(c, tmp_path, data)
        assert torch.equal(trainer.prep.augment.get_state(), alone.prep.augment.get_state())
        _assert_close(trainer.result(), alone.result(), 2e-3)


def test_one_seed_diverging_or_stopping_leaves_the_others(tmp_path: Path) -> None:
    configs = [replace(FAST, seed=s) for s in (1, 2, 4)]
    trainers = _trainers(configs, tmp_path)
    with torch.no_grad():  # seed 1's loss is NaN from the first step
        next(trainers[0].prep.model.parameters()).fill_(float("nan"))
    train_group(trainers, vmapped=True, should_stop=lambda t: t.member == "2" and t.epoch >= 1)
    assert [t.status for t in trainers] == ["diverged", "completed", "stopped"]
    assert trainers[0].error is not None
    assert trainers[0].error.startswith("training loss became nan at epoch 1, step 1 of ")
    assert trainers[0].history == [] and trainers[2].epoch == 1
    _assert_close(trainers[1].result(), train(configs[1], device="cpu", data_root=tmp_path),
                  2e-3)


def test_the_last_seed_left_trains_on_alone_with_its_own_state(tmp_path: Path) -> None:
    configs = [replace(FAST, seed=s, training=FAST.training.model_copy(update={"epochs": 3}))
               for s in (1, 2, 3)]
    trainers = _trainers(configs, tmp_path)
    train_group(trainers, vmapped=True, should_stop=lambda t: t.member != "2" and t.epoch >= 1)
    assert [t.status for t in trainers] == ["stopped", "stopped", "completed"]
    _assert_close(trainers[2].result(), train(configs[2], device="cpu", data_root=tmp_path),
                  2e-3)


def test_a_vmapped_group_resumes_from_its_checkpoint_bit_for_bit(tmp_path: Path) -> None:
    configs = [replace(FAST, seed=s, training=FAST.training.model_copy(update={"epochs": 3}))
               for s in (7, 8)]
    store = LocalStore(tmp_path / "store")
    uninterrupted = _vmapped(configs, tmp_path)

    with pytest.raises(Crash):
        _vmapped(configs, tmp_path, on_epochs=crash_after(2),
                 checkpoint=Checkpointer(store, "group.pt"))
    resumed = _trainers(configs, tmp_path, checkpoint=Checkpointer(store, "group.pt"))
    assert [t.epoch for t in resumed] == [1, 1]  # epoch 2 was never saved
    train_group(resumed, vmapped=True)
    for a, b in zip(uninterrupted, resumed, strict=True):
        assert _numbers(a.result()) == _numbers(b.result())


def test_unbatchable_says_why(tmp_path: Path) -> None:
    def why(*configs: TrainConfig) -> str | None:
        return unbatchable(_trainers(list(configs), tmp_path))

    assert why(FAST) == "one seed"
    assert why(FAST, replace(FAST, seed=4, activation="relu")) == "the seeds' recipes differ"
    rrelu = replace(FAST, activation="rrelu")
    assert "draws random numbers in training" in str(why(rrelu, replace(rrelu, seed=4)))
    dropout = replace(FAST, model="wide_resnet",
                      model_params={"depth": 10, "widen": 1, "dropout": 0.3})
    assert "Dropout" in str(why(dropout, replace(dropout, seed=4)))
    assert why(FAST, replace(FAST, seed=4)) is None
    images = fake_data((1, 28, 28), 64)  # where vmap measured slower on the CPU
    trainers = [SeedTrainer(replace(FAST, seed=s), "cpu", tmp_path, images) for s in (1, 2)]
    assert unbatchable(trainers) == ("on the CPU, examples of 784 values train faster in "
                                     "lockstep (vmap is used up to 256)")
