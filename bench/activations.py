"""Forward + backward time of every activation as a ratio to torch.relu, and the bytes each
saves for backward, on input (128, 64, 28, 28) float32 (issue: activation library).

    python -m bench.activations [--device cpu|cuda] [--repeats 15] [--only name,name]

Timings are interleaved with the ReLU reference (relu, act, relu, act, ...) and each ratio is
the median over repeats of act / mean(neighbouring relu), so background load cancels out.
Writes bench/results/activations-<device>.md (a Markdown table) and prints it.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

import activations

SHAPE = (128, 64, 28, 28)
# Parameters the targets are stated for (the catalog default of slaf is degree 3).
BENCH_PARAMS: dict[str, dict[str, int]] = {"slaf": {"degree": 4}}
TARGETS = {"dp_relu": 1.3, "dual_line": 1.3, "prelu": 1.3, "gaaf_relu": 2.0, "gaaf_tanh": 2.0,
           "slaf": 3.0}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


_DOUBLED: dict[int, Tensor] = {}


def fwd_bwd(fn: Callable[[Tensor], Tensor], x: Tensor, g: Tensor,
            device: torch.device) -> float:
    x.grad = None  # every call writes a fresh gradient (no accumulate pass)
    # Channel-doubling activations (inverse) take the gradient twice over on dim 1, made
    # once outside the clock.
    with torch.no_grad():
        doubles = x.shape[1] * 2 == fn(x[:1]).shape[1]
    if doubles and _DOUBLED.get(id(g)) is None:
        _DOUBLED.clear()  # only the latest: one input's doubled gradient at a time
        _DOUBLED[id(g)] = torch.cat([g, g], dim=1)
    _sync(device)
    t = time.perf_counter()
    y = fn(x)
    y.backward(_DOUBLED[id(g)] if doubles else g)
    _sync(device)
    return time.perf_counter() - t


def saved_bytes(fn: Callable[[Tensor], Tensor], x: Tensor) -> int:
    """Bytes of distinct tensors autograd keeps for backward (x itself included)."""
    seen: dict[int, int] = {}

    def pack(t: Tensor) -> Tensor:
        seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn(x)
    return sum(seen.values())


def measure(name: str, fn: Callable[[Tensor], Tensor], ref: Callable[[Tensor], Tensor],
            x: Tensor, g: Tensor, device: torch.device, repeats: int) -> tuple[float, float]:
    for _ in range(2):  # warm-up (and the one-time kernel build)
        fwd_bwd(fn, x, g, device)
        fwd_bwd(ref, x, g, device)
    ratios, times = [], []
    for _ in range(repeats):
        r1 = fwd_bwd(ref, x, g, device)
        t = fwd_bwd(fn, x, g, device)
        r2 = fwd_bwd(ref, x, g, device)
        ratios.append(t / ((r1 + r2) / 2))
        times.append(t)
    return statistics.median(ratios), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--only", default="")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    x = torch.randn(SHAPE, device=device, requires_grad=True)
    g = torch.randn(SHAPE, device=device)
    names = args.only.split(",") if args.only else activations.names()

    relu_ratio, relu_time = measure("relu", torch.relu, torch.relu, x, g, device, args.repeats)
    weight = torch.full((SHAPE[1],), 0.25, device=device, requires_grad=True)
    prelu_ratio, _ = measure("F.prelu", lambda t: torch.nn.functional.prelu(t, weight),
                             torch.relu, x, g, device, args.repeats)
    rows = [("torch.relu (reference)", 1.0, relu_time, saved_bytes(torch.relu, x), ""),
            ("torch.nn.functional.prelu, per channel", prelu_ratio, 0.0,
             saved_bytes(lambda t: torch.nn.functional.prelu(t, weight), x), "")]
    input_bytes = x.numel() * x.element_size()
    for name in names:
        info = activations.get_info(name)
        params = BENCH_PARAMS.get(name, {})
        module = activations.create(name, num_channels=SHAPE[1], **params).to(device)
        ratio, secs = measure(name, module, torch.relu, x, g, device, args.repeats)
        # every activation within 3x ReLU; some have tighter targets
        target = TARGETS.get(name, 3.0)
        verdict = f"<= {target}x: {'met' if ratio <= target else 'NOT met'}"
        if name in ("prelu", "dp_relu", "dual_line"):
            half = 0.5 * prelu_ratio
            verdict += f"; <= 0.5x F.prelu ({half:.2f}x): {'met' if ratio <= half else 'NOT met'}"
        label = name + "".join(f" {k} {v}" for k, v in params.items())
        rows.append((label + (" (learnable)" if info.learnable else ""), ratio, secs,
                     saved_bytes(module, x), verdict))

    command = "python -m bench.activations" + "".join(
        f" --{k} {v}" for k, v in (("device", args.device), ("repeats", args.repeats),
                                   ("only", args.only)) if v and v != "cpu")
    lines = [f"Measured {time.strftime('%Y-%m-%d')}: `{command}`; device {device}, input "
             f"{SHAPE} float32, torch {torch.__version__}, {torch.get_num_threads()} threads; "
             f"relu fwd+bwd median {relu_time * 1e3:.1f} ms",
             "", "| activation | fwd+bwd / relu | ms | saved for backward / input bytes | target |",
             "|---|---:|---:|---:|---|"]
    for label, ratio, secs, saved, verdict in rows:
        ms = f"{secs * 1e3:.1f}" if secs else ""
        lines.append(f"| {label} | {ratio:.2f} | {ms} | {saved / input_bytes:.3f} | {verdict} |")
    text = "\n".join(lines)
    print(text)
    out = Path(__file__).parent / "results" / f"activations-{device.type}.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text + "\n")


if __name__ == "__main__":
    main()
