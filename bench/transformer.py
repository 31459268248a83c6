"""Transformer trainer overhead: training tokens/s of worker.training.train() against a bare
nanoGPT-style loop on the same model (the zoo's `gpt`), data (the `chars` corpus), batch
size, optimizer and device, in one process.

    python -m bench.transformer [--device cpu] [--trials 3]

Both run the same epochs over data kept in memory; the bare loop times only its training
steps (forward, per-token cross-entropy, backward, AdamW), and train()'s figure is its own
samples_per_second times the context (training only, not evaluation). Trials alternate
(bare, train, bare, ...) and the ratio is the median of train / mean(neighbouring bare
runs). Writes bench/results/transformer-<device>.md.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch
import torch.nn.functional as F

from bench.service import write_results
from bench.trainer import alternate
from core.domain.spec import TrainingSettings
from worker.training import TrainConfig, train
from worker.training.datasets import DataSplits
from worker.training.models import ActFactory, build_model
from worker.training.sequences import load_chars
from worker.training.setup import DATA_ROOT

CONTEXT = 64
MODEL = {"n_layer": 2, "n_head": 4, "d_model": 128, "d_ff": 512, "context": CONTEXT}
DATA: dict[str, Any] = {"corpus": "python", "context": CONTEXT, "max_chars": 100_000}
BATCH, EPOCHS, LR = 32, 1, 1e-3
CASES = {"gpt (2 x 128, d_ff 512) / chars (context 64)": "relu",
         "the same, SwiGLU (silu gated)": "silu"}


def bare_loop(data: DataSplits, act: str, device: torch.device) -> float:
    """The reference: the loop of nanoGPT's train.py, reduced to its steps. Tokens/s."""
    torch.manual_seed(0)
    model = build_model("gpt", MODEL, data.input_shape, data.num_classes,
                        ActFactory(act, gated=act == "silu")).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=LR)
    x, y = data.train_x.to(device), data.train_y.to(device)
    model.train()
    seconds = 0.0
    for _ in range(EPOCHS):
        order = torch.randperm(len(x)).to(device)
        start = time.perf_counter()
        for i in range(0, len(x), BATCH):
            idx = order[i:i + BATCH]
            logits = model(x[idx])
            loss = F.cross_entropy(logits.flatten(0, 1), y[idx].flatten())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds += time.perf_counter() - start
    return len(x) * CONTEXT * EPOCHS / seconds


def ours(data: DataSplits, act: str, device: torch.device) -> float:
    config = TrainConfig(activation=act, gated=act == "silu", model="gpt", model_params=MODEL,
                         dataset="chars", dataset_params=DATA,
                         training=TrainingSettings(epochs=EPOCHS, batch_size=BATCH,
                                                   optimizer="adamw", lr=LR))
    result = train(config, device=device, data=data)
    return CONTEXT * EPOCHS / sum(1 / h["samples_per_second"] for h in result.history)


def _row(label: str, act: str, data: DataSplits, device: torch.device, trials: int) -> str:
    bare, mine, ratio = alternate(lambda: bare_loop(data, act, device),
                                  lambda: ours(data, act, device), trials)
    return (f"| {label} | {bare:,.0f} | {mine:,.0f} | {ratio:.3f} | "
            f"{'met' if ratio >= 0.97 else 'NOT met'} |")


def table(device: torch.device, trials: int) -> list[str]:
    """Both cases' rows on `device` (bench/gpu.py runs it on CUDA)."""
    data = load_chars(DATA_ROOT, **DATA)
    lines = [f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads; "
             f"`python -m bench.transformer --device {device.type} --trials {trials}`; "
             f"{len(data.train_x):,} training windows of {CONTEXT} characters, batch {BATCH}, "
             "AdamW", "", "| case | bare loop tokens/s | train() tokens/s | ratio (median) | "
             "target >= 0.97 |", "|---|---:|---:|---:|---|"]
    for label, act in CASES.items():
        lines.append(_row(label, act, data, device, trials))
        print(lines[-1], flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--trials", type=int, default=3)
    args: Any = parser.parse_args()
    device = torch.device(args.device)
    write_results(f"transformer-{device.type}.md", table(device, args.trials))


if __name__ == "__main__":
    main()
