"""Every GPU figure the performance work asks for, in one script that needs only torch and
actlab's activation and training code (no database, broker or Celery), in under 8 minutes:

    python -m bench.gpu [--device cuda] [--quick] [--out bench/results/gpu.md]

1. activations: forward + backward of every catalog activation against ReLU, float32 and
   bfloat16, input (128, 64, 28, 28); the learnable ones also through `torch.compile` of their
   plain formula (within a time budget, since each compilation takes seconds);
2. ResNet-20 on CIFAR-shaped images: images/s of `train()` (precision bf16: autocast,
   channels_last, device-resident data) against a bare loop in float32 and one with the same
   autocast;
3. seed batching: 5 seeds of a small model as one vmapped model (the worker's engine,
   worker/training/batched.py) against one seed and against 5 seeds one after another
   (target: 5 seeds in at most 1.5x one);
4. the transformer case of bench/transformer.py: tokens/s of `train()` against a bare
   nanoGPT-style loop, plain and SwiGLU (target: at least 0.97);
5. several small runs sharing the GPU: N processes training at once against one alone;
6. determinism: the same run twice with ACTLAB_CUDA_DETERMINISTIC's switch on and off, and
   against the CPU, as the largest parameter difference after training.

Every table names the device. `--checks` first runs tests/cuda's checks without pytest.
`--device cpu --quick` runs the same code on a CPU in about a minute (how the script itself
is checked). Writes the Markdown to `--out` and prints it.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import activations
from bench import transformer
from bench.activations import measure
from bench.trainer import fake_data
from core.domain.spec import TrainingSettings
from worker.training import TrainConfig, batched, train
from worker.training.datasets import DataSplits
from worker.training.loop import SeedTrainer
from worker.training.models import ActFactory, build_model
from worker.training.setup import DATA_ROOT, set_cuda_determinism

SHAPE = (128, 64, 28, 28)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({torch.get_num_threads()} threads)"


def activation_table(device: torch.device, repeats: int, names: list[str],
                     compile_budget_s: float, shape: tuple[int, ...] = SHAPE) -> list[str]:
    lines = ["| activation | fp32 / relu | bf16 / relu | compiled fp32 / relu | target |",
             "|---|---:|---:|---:|---|"]
    spent = 0.0
    for name in names:
        info = activations.get_info(name)
        cells = []
        for dtype in (torch.float32, torch.bfloat16):
            torch.manual_seed(0)
            x = torch.randn(shape, device=device, dtype=dtype, requires_grad=True)
            g = torch.randn(shape, device=device, dtype=dtype)
            module = activations.create(name, num_channels=shape[1]).to(device=device,
                                                                         dtype=dtype)
            try:
                ratio, _ = measure(name, module, torch.relu, x, g, device, repeats)
                cells.append(f"{ratio:.2f}")
            except RuntimeError as exc:  # an op without a bf16 kernel on this device
                cells.append(f"error: {str(exc).splitlines()[0][:60]}")
        compiled = ""
        if info.learnable and spent < compile_budget_s:
            module = activations.create(name, num_channels=shape[1]).to(device)
            x = torch.randn(shape, device=device, requires_grad=True)
            g = torch.randn(shape, device=device)
            start = time.perf_counter()
            try:
                # the plain formula where there is one (the fused path is an autograd
                # Function, opaque to the compiler), else the module itself
                fn = torch.compile(getattr(module, "reference", module))
                ratio, _ = measure(name, fn, torch.relu, x, g, device, repeats)
                compiled = f"{ratio:.2f}"
            except Exception as exc:  # no compiler toolchain, or a graph break
                compiled = f"error: {type(exc).__name__}"
            spent += time.perf_counter() - start
        elif info.learnable:
            compiled = "(budget spent)"
        target = "<= 1.2x" if info.learnable else ""
        lines.append(f"| {name}{' (learnable)' if info.learnable else ''} | {cells[0]} | "
                     f"{cells[1]} | {compiled} | {target} |")
        print(lines[-1], flush=True)
    return lines


def bare_loop(model: nn.Module, data: DataSplits, batch: int, epochs: int,
              device: torch.device, autocast: bool) -> float:
    """Images/s of a hand-written loop, data already on the device."""
    model = model.to(device)
    fmt = torch.channels_last if autocast and device.type == "cuda" else torch.contiguous_format
    model = model.to(memory_format=fmt)  # type: ignore[call-overload]
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = data.train_x.to(device).contiguous(memory_format=fmt)
    y = data.train_y.to(device)
    seconds = 0.0
    for _ in range(epochs):
        order = torch.randperm(len(x), device=device)
        _sync(device)
        start = time.perf_counter()
        for i in range(0, len(x), batch):
            idx = order[i:i + batch]
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
                loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        _sync(device)
        seconds += time.perf_counter() - start
    return len(x) * epochs / seconds


def resnet_table(device: torch.device, n: int, epochs: int) -> list[str]:
    data = fake_data((3, 32, 32), n)
    settings = TrainingSettings(epochs=epochs, batch_size=128, optimizer="adam", lr=1e-3,
                                precision="bf16")

    def model() -> nn.Module:
        torch.manual_seed(0)
        return build_model("resnet_v1", {"depth": 20}, (3, 32, 32), 10, ActFactory("relu"))

    bare_loop(model(), data, 128, 1, device, autocast=False)  # warm-up (cuDNN, allocator)
    fp32 = bare_loop(model(), data, 128, epochs, device, autocast=False)
    bf16 = bare_loop(model(), data, 128, epochs, device, autocast=True)
    result = train(TrainConfig(activation="relu", model="resnet_v1",
                               model_params={"depth": 20}, training=settings),
                   device=device, data=data)
    ours = epochs / sum(1 / h["samples_per_second"] for h in result.history)
    return ["| loop | images/s | / bare fp32 |", "|---|---:|---:|",
            f"| bare loop, float32 | {fp32:,.0f} | 1.00 |",
            f"| bare loop, bf16 autocast + channels_last | {bf16:,.0f} | {bf16 / fp32:.2f} |",
            f"| actlab train(), precision bf16 (autocast + channels_last on CUDA) | {ours:,.0f} | "
            f"{ours / fp32:.2f} |",
            "", f"{n} training images, batch 128, Adam, {epochs} epochs, images/s over "
            "training steps only (train()'s own samples_per_second)."]


def _epoch_seconds(step: Callable[[Tensor], None], order: Tensor, batch: int,
                   device: torch.device) -> float:
    _sync(device)
    start = time.perf_counter()
    for i in range(0, len(order), batch):
        step(order[i:i + batch])
    _sync(device)
    return time.perf_counter() - start


def seed_batching_table(device: torch.device, model_name: str, shape: tuple[int, ...],
                        seeds: int, n: int, epochs: int) -> list[str]:
    """One seed, the seeds one after another, and the seeds as one vmapped model; each seed
    with its own initialisation and its own batch order."""
    data = fake_data(shape, n)
    x, y = data.train_x.to(device), data.train_y.to(device)
    batch, lr = 100, 1e-2

    def build(seed: int) -> nn.Module:
        torch.manual_seed(seed)
        return build_model(model_name, {}, shape, 10, ActFactory("relu")).to(device)

    def one_seed_epoch(model: nn.Module, opt: torch.optim.Optimizer, order: Tensor) -> float:
        def step(idx: Tensor) -> None:
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return _epoch_seconds(step, order, batch, device)

    orders = [torch.randperm(n, generator=torch.Generator().manual_seed(s)).to(device)
              for s in range(seeds)]
    solo = build(0)
    solo_opt = torch.optim.Adam(solo.parameters(), lr=lr)
    one_seed_epoch(solo, solo_opt, orders[0])  # warm-up
    one = statistics.median(one_seed_epoch(solo, solo_opt, orders[0]) for _ in range(epochs))

    models = [build(s) for s in range(seeds)]
    opts = [torch.optim.Adam(m.parameters(), lr=lr) for m in models]
    apart = statistics.median(
        sum(one_seed_epoch(m, o, orders[i]) for i, (m, o) in enumerate(zip(models, opts,
                                                                           strict=True)))
        for _ in range(epochs))

    # The worker's own engine (worker/training/batched.py): what a group of seeds runs.
    config = TrainConfig(activation="relu", model=model_name,
                         training=TrainingSettings(epochs=epochs + 1, batch_size=batch,
                                                   optimizer="adam", lr=lr))
    trainers = [SeedTrainer(replace(config, seed=s), device, DATA_ROOT, data, member=str(s))
                for s in range(seeds)]

    group = batched.VmappedSeeds()

    def batched_epoch() -> float:
        _sync(device)
        start = time.perf_counter()
        group.train_epoch(trainers, 1, None)
        _sync(device)
        return time.perf_counter() - start

    batched_epoch()  # warm-up
    together = statistics.median(batched_epoch() for _ in range(epochs))
    return [f"| {model_name} | {one * 1e3:.1f} | {apart / one:.2f} | {together / one:.2f} | "
            f"{'met' if together <= 1.5 * one else 'NOT met'} |"]


def _small_run(device: str, epochs: int, out: Any) -> None:
    data = fake_data((1, 28, 28), 4096)
    config = TrainConfig(activation="relu", model="lenet5",
                         training=TrainingSettings(epochs=epochs, batch_size=128,
                                                   optimizer="adam", lr=1e-3))
    start = time.perf_counter()
    train(config, device=device, data=data)
    out.put(time.perf_counter() - start)


def sharing_table(device: torch.device, counts: list[int], epochs: int) -> list[str]:
    """N processes, each training LeNet-5 on 4,096 images, started together."""
    ctx = mp.get_context("spawn")  # CUDA does not survive fork
    lines = ["| processes | wall s | runs/s | / one process alone |", "|---:|---:|---:|---:|"]
    alone = 0.0
    for count in counts:
        queue = ctx.Queue()
        procs = [ctx.Process(target=_small_run, args=(str(device), epochs, queue))
                 for _ in range(count)]
        start = time.perf_counter()
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        wall = time.perf_counter() - start
        rate = count / wall
        alone = alone or rate
        lines.append(f"| {count} | {wall:.1f} | {rate:.2f} | {rate / alone:.2f} |")
        print(lines[-1], flush=True)
    lines += ["", f"LeNet-5, 4,096 images, {epochs} epochs per run; wall time includes each "
              "process's start (imports, CUDA context)."]
    return lines


def _trained(device: torch.device, deterministic: bool, epochs: int) -> dict[str, Tensor]:
    set_cuda_determinism(deterministic)
    data = fake_data((3, 32, 32), 1024)
    config = TrainConfig(activation="dual_line", model="resnet_v1", model_params={"depth": 8},
                         training=TrainingSettings(epochs=epochs, batch_size=128,
                                                   optimizer="adam", lr=1e-3))
    return train(config, device=device, data=data).best_weights or {}


def _max_diff(a: dict[str, Tensor], b: dict[str, Tensor]) -> float:
    return max(((a[k].float() - b[k].float()).abs().max().item() for k in a
                if a[k].is_floating_point()), default=0.0)


def determinism_table(device: torch.device, epochs: int) -> list[str]:
    on = [_trained(device, True, epochs) for _ in range(2)]
    off = [_trained(device, False, epochs) for _ in range(2)]
    cpu = _trained(torch.device("cpu"), False, epochs)
    set_cuda_determinism(False)
    return ["| comparison | largest parameter difference |", "|---|---:|",
            f"| switch on, run twice | {_max_diff(*on):.3g} |",
            f"| switch off, run twice | {_max_diff(*off):.3g} |",
            f"| switch on against the CPU | {_max_diff(on[0], cpu):.3g} |",
            "", f"ResNet-8 with dual_line, 1,024 CIFAR-shaped images, {epochs} epochs, Adam; "
            "the best epoch's weights compared element by element (float32)."]


def run_checks() -> list[str]:
    """Each test_* function of tests/cuda/test_cuda.py, called in turn: passed or the error."""
    import traceback

    from tests.cuda import test_cuda

    lines = ["| check | result |", "|---|---|"]
    for name in sorted(n for n in dir(test_cuda) if n.startswith("test_")):
        try:
            getattr(test_cuda, name)()
            outcome = "passed"
        except Exception as exc:
            traceback.print_exc()
            outcome = f"FAILED: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
        lines.append(f"| {name} | {outcome} |")
        print(lines[-1], flush=True)
    return lines


@dataclass(frozen=True)
class Sizes:
    """How much each section measures: the full run, or --quick's check of the script."""

    repeats: int  # activation timings
    seconds: float  # the activation table's time budget
    shape: tuple[int, ...]
    samples: int  # ResNet-20's CIFAR-shaped samples
    epochs: int  # ResNet-20's and the seed-batching epochs' repeats
    lenet_samples: int
    mnist1d_samples: int
    batch_epochs: int
    sharing: tuple[int, ...]
    sharing_epochs: int


FULL = Sizes(7, 150.0, SHAPE, 8192, 3, 5000, 4000, 5, (1, 4, 8), 5)
QUICK = Sizes(3, 10.0, (8, 16, 14, 14), 256, 1, 500, 500, 2, (1, 2), 1)
SEED_HEADER = ["| model | one seed, epoch ms | 5 seeds one after another / one | "
               "5 seeds vmapped / one | target <= 1.5x |", "|---|---:|---:|---:|---|"]


def _sections(device: torch.device, quick: bool,
              checks: bool) -> list[tuple[str, Callable[[], list[str]]]]:
    z = QUICK if quick else FULL
    names = ["relu", "dual_line", "gaaf_relu", "pau"] if quick else activations.names()
    out: list[tuple[str, Callable[[], list[str]]]] = []
    if checks:
        out.append(("CUDA checks (tests/cuda/test_cuda.py)", run_checks))
    out += [
        ("Activations: forward + backward against ReLU",
         lambda: activation_table(device, z.repeats, names, z.seconds, z.shape)),
        ("ResNet-20, CIFAR-shaped: train() against a bare loop",
         lambda: resnet_table(device, z.samples, z.epochs)),
        ("Seed batching: 5 seeds as one vmapped model", lambda: SEED_HEADER + [
            *seed_batching_table(device, "lenet5", (1, 28, 28), 5, z.lenet_samples,
                                 z.batch_epochs),
            *seed_batching_table(device, "mnist1d_cnn", (1, 40), 5, z.mnist1d_samples,
                                 z.batch_epochs)]),
        ("Transformer: train() against a bare nanoGPT-style loop (tokens/s)",
         lambda: transformer.table(device, z.epochs)),
        ("Small runs sharing one device",
         lambda: sharing_table(device, list(z.sharing), z.sharing_epochs)),
        ("Determinism", lambda: determinism_table(device, z.epochs)),
    ]
    return out


def _measure(title: str, build: Callable[[], list[str]]) -> list[str]:
    print(f"\n## {title}", flush=True)
    t = time.perf_counter()
    try:
        lines = build()
    except Exception as exc:  # one failing section must not lose the others' figures
        lines = [f"failed: {type(exc).__name__}: {exc}"]
    lines.append(f"\n({time.perf_counter() - t:.0f} s)")
    print("\n".join(lines), flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--quick", action="store_true", help="small sizes: checks the script")
    parser.add_argument("--checks", action="store_true",
                        help="also run tests/cuda's checks (no pytest needed)")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).parent / "results" / "gpu.md")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("no CUDA device here: run with --device cpu --quick to check the script")
    started = time.perf_counter()
    sections = [(title, _measure(title, build))
                for title, build in _sections(device, args.quick, args.checks)]
    total = time.perf_counter() - started
    head = [f"Measured {time.strftime('%Y-%m-%d')} on {device_name(device)}, torch "
            f"{torch.__version__}: `python -m bench.gpu --device {args.device}"
            f"{' --quick' if args.quick else ''}` ({total:.0f} s)."]
    text = "\n".join(head + [line for title, lines in sections
                             for line in ["", f"### {title}", "", *lines]])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
