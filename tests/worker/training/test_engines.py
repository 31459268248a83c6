"""Every engine honours every training setting (worker/training/step.py): for each setting a
spec can set, a seed trained in lockstep equals the one-seed engine bit for bit and a seed
trained vmapped agrees with it within the documented tolerance (docs/reference/library.md),
while the setting moves the one-seed numbers beyond that tolerance, so an engine that
ignored it would fail here. A setting added to TrainingSettings must be added to SETTINGS
(or, for the LR range test's own, to RANGE_SETTINGS), or the first test fails."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from core.domain.spec import TrainingSettings
from worker.training import TrainConfig, lr_range_test
from worker.training.batched import unbatchable
from worker.training.datasets import load_dataset
from worker.training.loop import SeedTrainer, train_group

BASE = TrainConfig(activation="dual_line", model="mlp", dataset="digits", seed=1,
                   training=TrainingSettings(epochs=2, batch_size=64, lr=3e-3))
# One value per setting the trainer reads, with what it needs to matter (momentum and
# nesterov only act on SGD, weight decay shows on AdamW as on Adam).
SETTINGS: dict[str, dict[str, Any]] = {
    "epochs": {"epochs": 3},
    "batch_size": {"batch_size": 32},
    "optimizer": {"optimizer": "sgd", "lr": 0.05},
    "lr": {"lr": 2e-2},
    "weight_decay": {"optimizer": "adamw", "weight_decay": 0.5},
    "schedule": {"schedule": "onecycle"},
    "momentum": {"optimizer": "sgd", "lr": 0.05, "momentum": 0.2},
    "nesterov": {"optimizer": "sgd", "lr": 0.05, "nesterov": True},
    "grad_clip": {"grad_clip": 0.05},
    "precision": {"precision": "bf16"},
    "betas": {"betas": [0.5, 0.9]},
    "warmup_steps": {"warmup_steps": 30},
}
# Settings that cannot move this recipe's numbers, and where each is held instead.
ELSEWHERE = {
    # the mlp exempts nothing from decay: only a transformer's norms, embeddings and biases
    "decay_all": "tests/worker/training/test_loop.py::"
                 "test_the_published_grokking_settings_reach_the_optimizer",
    # a measurement of FFN slots, not a training setting
    "sparsity_cett": "tests/worker/training/test_language_model.py::"
                     "test_cett_sparsity_is_the_largest_threshold_within_the_budget",
}
RANGE_SETTINGS: dict[str, dict[str, Any]] = {
    "lr_min": {"lr_min": 1e-3},
    "lr_max": {"lr_max": 0.1},
    "lr_range_steps": {"lr_range_steps": 40},
}
# The documented tolerance for a vmapped seed against the seed alone: 2e-3 relative after the
# first epoch (1e-2 in bf16, whose resolution is 2^-8), a few percent later, as training
# amplifies the last bits.
FIRST, LATER, BF16 = 2e-3, 3e-2, 1e-2
KEYS = ("train_loss", "val_loss", "lr")


def test_every_setting_is_covered() -> None:
    assert set(TrainingSettings.model_fields) == set(SETTINGS) | set(RANGE_SETTINGS) \
        | set(ELSEWHERE)


def _history(trainer: SeedTrainer) -> list[list[float]]:
    return [[h[k] for k in KEYS] for h in trainer.history]


def _group(config: TrainConfig, root: Path, data: Any, vmapped: bool,
           dtypes: set[torch.dtype]) -> list[SeedTrainer]:
    """The seeds trained by one engine; empty where the vmapped engine refuses them (the
    runner then trains them in lockstep)."""
    trainers = [SeedTrainer(replace(config, seed=s), "cpu", root, data, member=str(s))
                for s in (1, 2)]
    if vmapped and (reason := unbatchable(trainers)) is not None:
        # On the CPU, vmap bypasses bf16 autocast: refusing is the engine applying it.
        assert config.training.precision == "bf16" and "bf16" in reason, reason
        return []
    for t in trainers:  # the dtype every forward computes in (a copy under vmap keeps it)
        linear = next(m for m in t.prep.model.modules() if isinstance(m, nn.Linear))
        linear.register_forward_hook(lambda _m, _i, out: dtypes.add(out.dtype))
    train_group(trainers, vmapped=vmapped)
    return trainers


def _close(a: list[list[float]], b: list[list[float]], first: float = FIRST) -> bool:
    return len(a) == len(b) and all(
        x == pytest.approx(y, rel=first if epoch == 0 else LATER, abs=1e-6)
        for epoch, (ra, rb) in enumerate(zip(a, b, strict=True))
        for x, y in zip(ra, rb, strict=True))


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_every_engine_applies_the_setting(tmp_path: Path, name: str) -> None:
    data = load_dataset("digits", {}, tmp_path)
    config = replace(BASE, training=BASE.training.model_copy(update=SETTINGS[name]))
    alone = []
    for seed in (1, 2):
        trainer = SeedTrainer(replace(config, seed=seed), "cpu", tmp_path, data)
        train_group([trainer])
        alone.append(_history(trainer))
    without = SeedTrainer(replace(BASE, seed=1), "cpu", tmp_path, data)
    train_group([without])
    bf16 = config.training.precision == "bf16"
    first = BF16 if bf16 else FIRST  # bf16 vmapped: where a device applies it (CUDA)
    # The setting moves the numbers beyond the tolerance, so ignoring it shows. bf16 moves
    # them by about its own resolution, so there the forward's dtype shows it instead.
    if not bf16:
        assert not _close(alone[0], _history(without), first), name
    for vmapped in (False, True):
        dtypes: set[torch.dtype] = set()
        group = _group(config, tmp_path, data, vmapped, dtypes)
        if not group:
            continue
        assert dtypes == {torch.bfloat16 if bf16 else torch.float32}, (name, vmapped)
        for trainer, want in zip(group, alone, strict=True):
            if vmapped:
                assert _close(_history(trainer), want, first), name
            else:
                assert _history(trainer) == want, name  # lockstep: bit for bit


@pytest.mark.parametrize("name", sorted(RANGE_SETTINGS))
def test_the_lr_range_test_applies_its_settings(tmp_path: Path, name: str) -> None:
    data = load_dataset("digits", {}, tmp_path)
    base = replace(BASE, training=BASE.training.model_copy(update={"lr_range_steps": 30}))
    changed = replace(base, training=base.training.model_copy(update=RANGE_SETTINGS[name]))
    a = lr_range_test(base, data_root=tmp_path, data=data)
    b = lr_range_test(changed, data_root=tmp_path, data=data)
    assert (a.lrs, a.losses) != (b.lrs, b.losses), name
