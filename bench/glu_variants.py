"""The shape of Shazeer's "GLU variants improve transformer" table, through the service: the
FFN variants ReLU, GELU, Swish, ReLU², GLU, Bilinear, ReGLU, GEGLU and SwiGLU in one sweep,
parameter-matched (gated FFNs with d_ff x 2/3), every variant on the same seeds, then the
leaderboard by test perplexity with Holm-corrected Welch tests against ReLU, and each
variant's FFN sparsity beside it.

    python -m bench.glu_variants [--seeds 5] [--epochs 8] [--max-chars 40000]

A CPU-sized stand-in for the paper's T5 pre-training: the zoo's `gpt` (2 blocks, width 64,
d_ff 256, context 32) on the `chars` corpus (Python's own standard-library source). Starts
`actlab serve` (the embedded default) in a scratch data directory. Writes
bench/results/glu-variants.md.
"""

from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime
from typing import Any

import torch
from actlab.client import Client

from bench.service import embedded_service, write_results

# label as in Shazeer's table -> the activation spec
VARIANTS: dict[str, dict[str, Any]] = {
    "ReLU": {"name": "relu"}, "GELU": {"name": "gelu"}, "Swish": {"name": "silu"},
    "ReLU²": {"name": "squared_relu"}, "GLU": {"name": "sigmoid", "gated": True},
    "Bilinear": {"name": "identity", "gated": True}, "ReGLU": {"name": "relu", "gated": True},
    "GEGLU": {"name": "gelu", "gated": True}, "SwiGLU": {"name": "silu", "gated": True},
}
MODEL = {"name": "gpt", "params": {"n_layer": 2, "n_head": 4, "d_model": 64, "d_ff": 256,
                                   "context": 32}}


def _label(activation: dict[str, Any]) -> str:
    return f"{activation['name']} (gated)" if activation.get("gated") else activation["name"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--max-chars", type=int, default=40_000)
    args = parser.parse_args()
    dataset = {"name": "chars", "params": {"context": 32, "max_chars": args.max_chars}}
    with embedded_service({}, port=18900) as url:
        lab = Client(url=url)
        sweep = lab.sweep({"name": "GLU variants", "activations": list(VARIANTS.values()),
                           "models": [MODEL], "datasets": [dataset],
                           "seeds": list(range(args.seeds)),
                           "training": {"epochs": args.epochs, "batch_size": 32,
                                        "optimizer": "adamw", "lr": 3e-3, "weight_decay": 0.1,
                                        "schedule": "warmup_cosine", "grad_clip": 1.0}})
        lab.wait_sweep(sweep["id"], progress=False)
        board = lab.leaderboard(model="gpt", dataset="chars", metric="test_perplexity",
                                sweep=sweep["id"])
        sparsity = {e["label"]: e["mean"] for e in lab.leaderboard(
            model="gpt", dataset="chars", metric="val_sparsity", sweep=sweep["id"])["entries"]}
    names = {_label(spec): paper for paper, spec in VARIANTS.items()}
    lines = [f"Measured {datetime.now(UTC):%Y-%m-%d} on {os.cpu_count()} CPU cores, torch "
             f"{torch.__version__}: `python -m bench.glu_variants --seeds {args.seeds} --epochs "
             f"{args.epochs} --max-chars {args.max_chars}` (gpt 2 x 64, d_ff 256, context 32, "
             "on `chars`; AdamW with warm-up and cosine; gated FFNs at d_ff x 2/3; Welch "
             "against ReLU, Holm-corrected).", "",
             "| rank | variant | test perplexity (mean ± std) | n | p (Holm) | verdict | "
             "val sparsity | parameters |", "|---:|---|---:|---:|---:|---|---:|---:|"]
    for e in board["entries"]:
        p = "" if e["p_holm"] is None else f"{e['p_holm']:.3g}"
        lines.append(f"| {e['rank']:g} | {names.get(e['label'], e['label'])} | "
                     f"{e['mean']:.4f} ± {e['std'] or 0:.4f} | {e['n']} | {p} | {e['verdict']} | "
                     f"{sparsity.get(e['label'], float('nan')):.3f} | {e['num_params']:,} |")
    write_results("glu-variants.md", lines)


if __name__ == "__main__":
    main()
