"""Sequence datasets that need no download, for the zoo's language models (task
`language_model`, input kind `tokens`).

`modular`: every equation `a ∘ b = c (mod p)` as the tokens `a ∘ b =`, the answer `c` the
one scored prediction (at `=`; the prompt's labels are IGNORE). Train, validation and test
are a fixed partition of all pairs (the split never depends on the run's seed), so the
grokking recipe of Power et al. 2022 (p = 97, a training fraction of 30-50 %, AdamW with
weight decay) runs through a spec.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from core.params import ParamInfo
from worker.training.datasets import SPLIT_SEED, DatasetInfo, DataSplits, register_dataset
from worker.training.objectives import IGNORE

OPERATIONS = ("add", "sub", "div")


def modular_pairs(p: int, operation: str) -> list[tuple[int, int, int]]:
    """Every (a, b, a ∘ b mod p); for division, the b with an inverse mod p."""
    out = []
    for a in range(p):
        for b in range(p):
            if operation == "add":
                out.append((a, b, (a + b) % p))
            elif operation == "sub":
                out.append((a, b, (a - b) % p))
            elif math.gcd(b, p) == 1:
                out.append((a, b, a * pow(b, -1, p) % p))
    return out


def load_modular(root: Path, p: int = 97, operation: str = "div",
                 train_fraction: float = 0.5) -> DataSplits:
    """Tokens 0..p-1 are the numbers, p the operation, p + 1 the equals sign. What is not
    trained on is split in half: validation, then test."""
    if operation not in OPERATIONS:
        raise ValueError(f"operation must be one of {', '.join(OPERATIONS)}, got {operation!r}")
    pairs = torch.tensor(modular_pairs(p, operation), dtype=torch.long)
    if len(pairs) < 3:
        raise ValueError(f"p = {p} gives {len(pairs)} equations: too few to split")
    order = torch.randperm(len(pairs), generator=torch.Generator().manual_seed(SPLIT_SEED))
    pairs = pairs[order]
    x = torch.stack([pairs[:, 0], torch.full_like(pairs[:, 0], p), pairs[:, 1],
                     torch.full_like(pairs[:, 0], p + 1)], dim=1)
    y = torch.full_like(x, IGNORE)
    y[:, -1] = pairs[:, 2]
    n_train = min(len(pairs) - 2, max(1, round(train_fraction * len(pairs))))
    n_val = (len(pairs) - n_train) // 2
    cut = (n_train, n_train + n_val)
    return DataSplits(x[:cut[0]], y[:cut[0]], x[cut[0]:cut[1]], y[cut[0]:cut[1]],
                      x[cut[1]:], y[cut[1]:], num_classes=p + 2)


register_dataset(DatasetInfo(
    name="modular", loader=load_modular, input_kind="tokens", input_shape=(4,),
    num_classes=99, task="language_model", test_split="held out",
    description="Modular arithmetic a ∘ b = c (mod p) as 4-token sequences, the answer the "
                "scored token (generated: every pair, a fixed partition)",
    reference="Power et al. 2022, Grokking: generalization beyond overfitting on small "
              "algorithmic datasets",
    params=(ParamInfo("p", 97, kind="int", min=2, max=1000, doc="the modulus (prime for div)"),
            ParamInfo("operation", "div", kind="choice", choices=OPERATIONS,
                      doc="a + b, a - b, or a * b^-1 (b invertible mod p)"),
            ParamInfo("train_fraction", 0.5, min=0.01, max=0.98,
                      doc="share of all equations trained on; the rest is split in half, "
                          "validation then test")),
))
