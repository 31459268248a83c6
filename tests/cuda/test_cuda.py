"""The CUDA path, run for real where a GPU is: skipped with the reason elsewhere.

These also run without pytest (the GPU machine may have torch and actlab's training code
only): `python -m bench.gpu --checks` calls every test_* function here in turn."""

from __future__ import annotations

from typing import Literal

import torch

import activations
from bench.trainer import fake_data
from core.domain.spec import TrainingSettings
from worker.training import TrainConfig, train
from worker.training.provenance import provenance
from worker.training.setup import set_cuda_determinism

try:
    import pytest

    pytestmark = [pytest.mark.cuda, pytest.mark.skipif(
        not torch.cuda.is_available(),
        reason="no CUDA device on this machine: the CUDA path is checked where one is "
               "(python -m bench.gpu --checks)")]
except ImportError:  # run by bench.gpu without pytest
    pass

CUDA = torch.device("cuda")


def _config(activation: str, epochs: int = 1,
            precision: Literal["fp32", "bf16"] = "fp32") -> TrainConfig:
    return TrainConfig(activation=activation, model="lenet5",
                       training=TrainingSettings(epochs=epochs, batch_size=128,
                                                 optimizer="adam", lr=1e-3,
                                                 precision=precision))


def test_a_run_trains_on_the_gpu_at_either_precision_and_says_so() -> None:
    data = fake_data((1, 28, 28), 512)
    results = {p: train(_config("dual_line", precision=p), device=CUDA, data=data)
               for p in ("fp32", "bf16")}
    for result in results.values():
        assert result.status == "completed" and result.device.startswith("cuda")
        assert all(torch.isfinite(torch.tensor(v)) for v in result.history[-1].values()
                   if isinstance(v, float))
    # bf16 autocast changes the numbers
    assert results["fp32"].history[-1]["val_loss"] != results["bf16"].history[-1]["val_loss"]
    origin = provenance(CUDA, "bf16")
    assert origin["precision"] == "bf16-autocast" and provenance(CUDA)["precision"] == "fp32"
    assert origin["device_name"] == torch.cuda.get_device_name(CUDA)


def test_every_activation_on_the_gpu_matches_the_cpu() -> None:
    """Forward and input gradient in float32 on CUDA against the CPU, channels-first and
    channels_last (the layout CUDA runs use), within float32 tolerance."""
    torch.manual_seed(0)
    x_cpu = torch.randn(4, 8, 6, 6)
    for name in activations.names():
        if name == "rrelu":  # random slopes in training: compared in eval mode below
            continue
        cpu = activations.create(name, num_channels=8)
        gpu = activations.create(name, num_channels=8).to(CUDA)
        gpu.load_state_dict(cpu.state_dict())
        for layout in (torch.contiguous_format, torch.channels_last):
            xc = x_cpu.clone().requires_grad_(True)
            xg = x_cpu.to(CUDA, copy=True).contiguous(memory_format=layout).requires_grad_(True)
            yc, yg = cpu(xc), gpu(xg)
            yc.sum().backward()
            yg.sum().backward()
            torch.testing.assert_close(yg.cpu(), yc, rtol=1e-4, atol=1e-5, msg=name)
            assert xg.grad is not None and xc.grad is not None
            torch.testing.assert_close(xg.grad.cpu(), xc.grad, rtol=1e-4, atol=1e-5,
                                       msg=name)
    rrelu_cpu, rrelu_gpu = activations.create("rrelu").eval(), activations.create("rrelu").eval()
    torch.testing.assert_close(rrelu_gpu(x_cpu.to(CUDA)).cpu(), rrelu_cpu(x_cpu))


def test_the_determinism_switch_gives_the_same_numbers_twice() -> None:
    data = fake_data((1, 28, 28), 512)
    try:
        set_cuda_determinism(True)
        first = train(_config("pau", 2), device=CUDA, data=data)
        second = train(_config("pau", 2), device=CUDA, data=data)
    finally:
        set_cuda_determinism(False)
    assert first.history[-1]["val_loss"] == second.history[-1]["val_loss"]
    assert first.best_weights is not None and second.best_weights is not None
    for key, value in first.best_weights.items():
        assert torch.equal(value, second.best_weights[key]), key


def test_seeds_as_one_vmapped_model_agree_with_seeds_alone_on_the_gpu() -> None:
    from dataclasses import replace

    from worker.training.batched import unbatchable
    from worker.training.loop import SeedTrainer, train_group
    from worker.training.setup import DATA_ROOT

    data = fake_data((1, 28, 28), 512)
    configs = [replace(_config("dual_line", epochs=2), seed=s) for s in (1, 2, 3)]
    together = [SeedTrainer(c, CUDA, DATA_ROOT, data, member=str(c.seed)) for c in configs]
    assert unbatchable(together) is None
    train_group(together, vmapped=True)
    for config, trainer in zip(configs, together, strict=True):
        alone = train(config, device=CUDA, data=data)
        assert trainer.status == "completed"
        for got, want in zip(trainer.history, alone.history, strict=True):
            for key in ("train_loss", "val_loss", "test_loss"):
                assert abs(got[key] - want[key]) <= 1e-2 * abs(want[key]), (key, got, want)
