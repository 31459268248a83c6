"""Trainer overhead: training images/s of worker.training.train() against a bare, minimal
PyTorch loop on the same model, data, batch size, optimizer and device, in one process.

    python -m bench.trainer [--device cpu] [--trials 3]

Both run the same number of epochs over data kept in memory (no DataLoader); the bare loop
times only its training steps, and train()'s figure is its own samples_per_second, which
also covers only training (not evaluation). Trials alternate (bare, train, bare, ...) and
the ratio is the median of train / mean(neighbouring bare runs). Writes
bench/results/trainer-<device>.md.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from core.domain.spec import TrainingSettings
from worker.training import TrainConfig, train
from worker.training.datasets import DataSplits
from worker.training.models import ActFactory, build_model

CASES = {
    # name: (model, params, input shape, training examples, batch size, epochs)
    "LeNet5 / MNIST-shaped": ("lenet5", {}, (1, 28, 28), 8192, 128, 2),
    "ResNet20 / CIFAR-shaped": ("resnet_v1", {"depth": 20}, (3, 32, 32), 1024, 128, 2),
}


def fake_data(shape: tuple[int, ...], n: int) -> DataSplits:
    g = torch.Generator().manual_seed(0)
    return DataSplits(torch.randn(n, *shape, generator=g),
                      torch.randint(0, 10, (n,), generator=g),
                      torch.randn(256, *shape, generator=g),
                      torch.randint(0, 10, (256,), generator=g),
                      torch.randn(256, *shape, generator=g),
                      torch.randint(0, 10, (256,), generator=g), 10)


def bare_loop(model_name: str, params: dict[str, Any], data: DataSplits, batch: int, epochs: int,
              device: torch.device) -> float:
    """The reference: what a researcher would write by hand. Returns images/s."""
    torch.manual_seed(0)
    model = build_model(model_name, params, data.input_shape, 10, ActFactory("relu")).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = data.train_x.to(device), data.train_y.to(device)
    model.train()
    seconds = 0.0
    for _ in range(epochs):
        order = torch.randperm(len(x)).to(device)
        start = time.perf_counter()
        for i in range(0, len(x), batch):
            idx = order[i:i + batch]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds += time.perf_counter() - start
    return len(x) * epochs / seconds


def ours(model_name: str, params: dict[str, Any], data: DataSplits, batch: int, epochs: int,
         device: torch.device) -> float:
    config = TrainConfig(activation="relu", model=model_name, model_params=params,
                         training=TrainingSettings(epochs=epochs, batch_size=batch,
                                                   optimizer="adam", lr=1e-3))
    result = train(config, device=device, data=data)
    # harmonic mean over epochs = total images / total training seconds
    return epochs / sum(1 / h["samples_per_second"] for h in result.history)


def alternate(bare: Callable[[], float], mine: Callable[[], float], trials: int
              ) -> tuple[float, float, float]:
    """Warm up, then bare, mine, bare, ... : the medians of both and of each trial's ratio to
    the mean of its neighbouring bare runs (machines drift; neighbours share the drift)."""
    bare()
    bares, mines, ratios = [bare()], [], []
    for _ in range(trials):
        mines.append(mine())
        bares.append(bare())
        ratios.append(mines[-1] / ((bares[-1] + bares[-2]) / 2))
    return statistics.median(bares), statistics.median(mines), statistics.median(ratios)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()
    device = torch.device(args.device)
    lines = [f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads",
             "", "| case | bare loop img/s | train() img/s | ratio (median) | target >= 0.97 |",
             "|---|---:|---:|---:|---|"]
    for label, (model, params, shape, n, batch, epochs) in CASES.items():
        data = fake_data(shape, n)
        bare, mine, ratio = alternate(
            lambda: bare_loop(model, params, data, batch, epochs, device),  # noqa: B023
            lambda: ours(model, params, data, batch, epochs, device), args.trials)  # noqa: B023
        lines.append(f"| {label} | {bare:,.0f} | {mine:,.0f} | {ratio:.3f} | "
                     f"{'met' if ratio >= 0.97 else 'NOT met'} |")
        print(lines[-1], flush=True)
    text = "\n".join(lines)
    out = Path(__file__).parent / "results" / f"trainer-{device.type}.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
