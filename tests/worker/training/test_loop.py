"""train(): determinism, checkpoint resume, divergence, weight decay, the lr range test."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch

from core.domain.spec import TrainingSettings
from worker.training import EpochReport, StopRequested, TrainConfig, train
from worker.training.lr_range import find_lr, lr_range_test, lr_schedule
from worker.training.optim import make_optimizer

FAST = TrainConfig(activation="dual_line", model="lenet5", dataset="digits", seed=3,
                   training=TrainingSettings(epochs=3, batch_size=64))


def _with(config: TrainConfig, **training: Any) -> TrainConfig:
    """`config` with training settings changed (unchecked: an lr the API refuses is fine)."""
    return replace(config, training=config.training.model_copy(update=training))


def test_same_spec_and_seed_give_identical_metrics(tmp_path: Path) -> None:
    runs = [train(FAST, device="cpu", data_root=tmp_path) for _ in range(2)]
    keys = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "val_top5", "lr")
    assert [[h[k] for k in keys] for h in runs[0].history] == \
        [[h[k] for k in keys] for h in runs[1].history]
    other = train(replace(FAST, seed=4), device="cpu",
                  data_root=tmp_path)
    assert other.history[-1]["train_loss"] != runs[0].history[-1]["train_loss"]


@pytest.mark.parametrize("schedule", ["cosine", "onecycle"])
def test_resume_from_checkpoint_equals_uninterrupted(tmp_path: Path, schedule: str) -> None:
    config = _with(FAST, epochs=4, schedule=schedule, optimizer="sgd", lr=0.05,
                   weight_decay=5e-4)
    full = train(config, device="cpu", data_root=tmp_path)
    ckpt = tmp_path / "run.pt"

    def stop_after_two(report: EpochReport) -> None:
        if report.epoch == 2:
            raise StopRequested("simulated crash")

    with pytest.raises(StopRequested):
        train(config, device="cpu", data_root=tmp_path, checkpoint_path=ckpt,
              on_epoch=stop_after_two)
    # epoch 2 was never checkpointed
    assert torch.load(ckpt, weights_only=False)["members"]["run"]["epoch"] == 1
    seen: list[int] = []
    resumed = train(config, device="cpu", data_root=tmp_path, checkpoint_path=ckpt,
                    on_epoch=lambda r: seen.append(r.epoch))
    assert seen == [2, 3, 4]
    timing = ("epoch_seconds", "samples_per_second")

    def learned(metrics: dict[str, float]) -> dict[str, float]:
        return {k: v for k, v in metrics.items() if k not in timing}

    assert learned(resumed.final_metrics) == learned(full.final_metrics)
    assert [learned(h) for h in resumed.history] == [learned(h) for h in full.history]


def test_divergence_stops_with_history_kept(tmp_path: Path) -> None:
    config = _with(FAST, optimizer="sgd", lr=1e8, epochs=5)
    reports: list[int] = []
    result = train(config, device="cpu", data_root=tmp_path,
                   on_epoch=lambda r: reports.append(r.epoch))
    assert result.status == "diverged"
    assert "loss became" in (result.error or "")
    assert result.epochs_done == len(reports) < 5


def test_activation_parameters_get_no_weight_decay() -> None:
    from worker.training.datasets import load_dataset
    from worker.training.models import ActFactory, build_model

    data = load_dataset("digits", {}, Path("."))
    model = build_model("mlp", {}, data.input_shape, 10, ActFactory("dual_line"))
    optimizer = make_optimizer(model, TrainingSettings(weight_decay=0.1, optimizer="adamw"))
    decays = {id(p): g["weight_decay"] for g in optimizer.param_groups for p in g["params"]}
    for name, p in model.named_parameters():
        expected = 0.0 if ".a" in name[-2:] or name.endswith((".b", ".m")) and "net.1" in name \
            or "net.3" in name and not name.endswith(("weight", "bias")) else None
        if expected is not None:
            assert decays[id(p)] == 0.0, name
    linear = model.net[1]
    assert decays[id(linear.weight)] == 0.1
    act = model.net[2]
    assert all(decays[id(p)] == 0.0 for p in act.parameters())


def test_the_published_grokking_settings_reach_the_optimizer() -> None:
    from worker.training.models import ActFactory
    from worker.training.optim import make_schedule
    from worker.training.transformers import GPT

    model = GPT((16,), 11, ActFactory("relu"), n_layer=1, d_model=16, d_ff=32, context=16)
    exempt = {id(p) for p in model.no_weight_decay()}
    assert exempt
    plain = make_optimizer(model, TrainingSettings(weight_decay=1.0, optimizer="adamw"))
    every = make_optimizer(model, TrainingSettings(weight_decay=1.0, optimizer="adamw",
                                                   decay_all=True, betas=[0.9, 0.98]))
    decays = {id(p): g["weight_decay"] for g in plain.param_groups for p in g["params"]}
    assert all(decays[i] == 0.0 for i in exempt)  # the transformer recipe's exemptions
    decays = {id(p): g["weight_decay"] for g in every.param_groups for p in g["params"]}
    assert all(decays[i] == 1.0 for i in exempt)  # Nanda et al.: every weight decays
    assert {g["betas"] for g in every.param_groups} == {(0.9, 0.98)}
    assert {g["betas"] for g in plain.param_groups} == {(0.9, 0.999)}
    schedule = make_schedule(every, TrainingSettings(lr=1e-3, warmup_steps=10), 100)
    lrs = []
    for _ in range(12):
        lrs.append(every.param_groups[0]["lr"])
        every.step()
        schedule.step()
    assert lrs[:3] == pytest.approx([1e-4, 2e-4, 3e-4]) and lrs[9:] == pytest.approx([1e-3] * 3)


def test_per_run_figures(tmp_path: Path) -> None:
    result = train(FAST, device="cpu", data_root=tmp_path)
    assert result.num_params > 0 and result.macs > 0 and result.peak_memory_bytes > 0
    assert result.best_epoch in (1, 2, 3)
    assert result.final_metrics["best_val_accuracy"] == \
        result.history[result.best_epoch - 1]["val_accuracy"]
    assert len(result.responses) == 4  # one curve per activation slot
    assert len(result.responses[0].ys) == 6  # per channel of the first conv


def test_lr_range_suggestion_on_a_quadratic_with_known_answer() -> None:
    # SGD on the noisy quadratic f(w) = h (w - xi)^2 / 2, xi ~ N(0, 0.1): each step contracts
    # the error by |1 - lr h|, so progress is fastest near lr = 1/h and SGD diverges beyond
    # lr = 2/h. With h = 4: 0.25 and 0.5. Past 1/h the contraction weakens and the noise's
    # stationary variance, lr^2 h^2 s^2 / (1 - (1 - lr h)^2), grows without bound as lr nears
    # 2/h: the loss must explode there, and the suggestion must lie where it still falls.
    h = 4.0
    w = [10.0]
    gen = torch.Generator().manual_seed(0)

    def step(lr: float) -> float:
        xi = 0.1 * torch.randn((), generator=gen).item()
        loss = 0.5 * h * (w[0] - xi) ** 2
        w[0] -= lr * h * (w[0] - xi)
        return loss

    result = find_lr(step, lr_schedule(1e-4, 10.0, 300))
    assert result.stopped_early
    assert 1 / h < result.lrs[-1] < 10.0  # stopped where the loss blows up
    # The lowest loss comes between the fastest-contraction lr 1/h and the limit 2/h ...
    assert result.min_loss_lr is not None and 0.5 / h <= result.min_loss_lr <= 2 / h
    # ... and the suggestion (steepest fall per decade) is a safe lr below it.
    assert result.suggested_lr is not None and 1e-4 < result.suggested_lr < 1 / h


def test_lr_range_test_on_a_real_model(tmp_path: Path) -> None:
    config = TrainConfig(activation="relu", model="mlp", dataset="digits",
                         training=TrainingSettings(batch_size=64, lr_min=1e-5, lr_max=10.0,
                                                   lr_range_steps=120))
    result = lr_range_test(config, device="cpu", data_root=tmp_path)
    assert result.suggested_lr is not None and 1e-5 < result.suggested_lr < 10.0
    assert result.stopped_early  # Adam at lr ~10 explodes
    assert min(result.smoothed) < result.smoothed[0]
