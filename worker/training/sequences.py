"""Sequence datasets that need no download, for the zoo's language models (task
`language_model`, input kind `tokens`).

`recall`: associative recall (Ba et al. 2016; the H3 and Mamba papers' synthetic task): key-
value pairs, then a query key; the one scored prediction is its value.

`chars`: a character-level corpus, every position scored. `python` is text every Python
installation carries (a fixed list of standard-library modules' source); `tinyshakespeare`
reads Karpathy's `input.txt` from the datasets directory. The corpus's SHA-256 goes into the
run's provenance (`data`), so results on different texts are never compared as equal.

`modular`: every equation `a ∘ b = c (mod p)` as the tokens `a ∘ b =`, the answer `c` the
one scored prediction (at `=`; the prompt's labels are IGNORE). Train, validation and test
are a fixed partition of all pairs (the split never depends on the run's seed), so the
grokking recipe of Power et al. 2022 (p = 97, a training fraction of 30-50 %, AdamW with
weight decay) runs through a spec.
"""

from __future__ import annotations

import hashlib
import math
import sysconfig
from pathlib import Path

import numpy as np
import torch

from core.domain.params import ParamInfo
from worker.training.datasets import SPLIT_SEED, DatasetInfo, DataSplits, register_dataset
from worker.training.files import DatasetFileError
from worker.training.objectives import IGNORE, LanguageModel

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
    return _cut(x, y, p + 2, n_train, n_train + (len(pairs) - n_train) // 2)


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


def load_recall(root: Path, pairs: int = 8, keys: int = 32, values: int = 32,
                samples: int = 6000) -> DataSplits:
    """Tokens 0..keys-1 are keys, keys..keys+values-1 values, then the query marker. Each
    example: `pairs` distinct keys with random values, the marker and one of its keys; the
    answer (scored at the key's position) is that key's value. Generated from a fixed seed;
    80 / 10 / 10 % train, validation and test."""
    if pairs > keys:
        raise ValueError(f"recall needs pairs <= keys, got {pairs} pairs of {keys} keys")
    rng = np.random.default_rng(SPLIT_SEED)
    marker = keys + values
    key_rows = np.argsort(rng.random((samples, keys)), axis=1)[:, :pairs]
    value_rows = rng.integers(0, values, size=(samples, pairs)) + keys
    asked = rng.integers(0, pairs, size=samples)
    x = np.empty((samples, 2 * pairs + 2), dtype=np.int64)
    x[:, 0:2 * pairs:2], x[:, 1:2 * pairs:2] = key_rows, value_rows
    x[:, -2], x[:, -1] = marker, key_rows[np.arange(samples), asked]
    y = np.full_like(x, IGNORE)
    y[:, -1] = value_rows[np.arange(samples), asked]
    return _by_share(torch.from_numpy(x), torch.from_numpy(y), keys + values + 1, (0.8, 0.1))


# Standard-library modules whose source makes the `python` corpus, in this order.
PYTHON_CORPUS = ("argparse", "dataclasses", "functools", "textwrap", "fractions", "difflib",
                 "pprint", "string", "heapq", "bisect", "calendar", "shlex")
CORPORA = ("python", "tinyshakespeare")


def corpus_text(root: Path, corpus: str, max_chars: int) -> str:
    if corpus == "python":
        stdlib = Path(sysconfig.get_paths()["stdlib"])
        text = "".join((stdlib / f"{name}.py").read_text(encoding="utf-8")
                       for name in PYTHON_CORPUS)
    elif corpus == "tinyshakespeare":
        path = root / "tinyshakespeare" / "input.txt"
        if not path.exists():
            raise DatasetFileError(
                f"{path} is missing: put Karpathy's Tiny Shakespeare there (char-rnn's "
                "data/tinyshakespeare/input.txt, 1,115,394 characters)")
        text = path.read_text(encoding="utf-8")
    else:
        raise ValueError(f"corpus must be one of {', '.join(CORPORA)}, got {corpus!r}")
    return text[:max_chars]


def load_chars(root: Path, corpus: str = "python", context: int = 64,
               max_chars: int = 300_000) -> DataSplits:
    """Windows of `context` characters, each predicting the next character at every
    position. The text is cut into train (90 %), validation and test (5 % each) as
    contiguous stretches, so no window straddles two splits; the vocabulary is the text's
    characters."""
    text = corpus_text(root, corpus, max_chars)
    alphabet = sorted(set(text))
    index = {c: i for i, c in enumerate(alphabet)}
    ids = torch.tensor([index[c] for c in text], dtype=torch.long)
    cuts = (int(len(ids) * 0.9), int(len(ids) * 0.95))
    parts = [_windows(part, context) for part in
             (ids[:cuts[0]], ids[cuts[0]:cuts[1]], ids[cuts[1]:])]
    if any(len(x) == 0 for x, _ in parts):
        raise ValueError(f"{len(text)} characters leave a split without one window of "
                         f"{context + 1}: lower `context` or raise `max_chars`")
    (tx, ty), (vx, vy), (sx, sy) = parts
    splits = DataSplits(tx, ty, vx, vy, sx, sy, num_classes=len(alphabet),
                        task=LanguageModel.name)
    splits.source = {"corpus": corpus, "characters": len(text),
                     "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()}
    return splits


def _windows(ids: torch.Tensor, context: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Non-overlapping windows: inputs and their next characters."""
    count = (len(ids) - 1) // context
    x = ids[:count * context].view(count, context)
    y = ids[1:count * context + 1].view(count, context)
    return x, y


def _by_share(x: torch.Tensor, y: torch.Tensor, classes: int,
              shares: tuple[float, float]) -> DataSplits:
    return _cut(x, y, classes, int(len(x) * shares[0]), int(len(x) * sum(shares)))


def _cut(x: torch.Tensor, y: torch.Tensor, classes: int, train_end: int,
         val_end: int) -> DataSplits:
    """Train, validation and test as three consecutive stretches of the examples."""
    return DataSplits(x[:train_end], y[:train_end], x[train_end:val_end], y[train_end:val_end],
                      x[val_end:], y[val_end:], num_classes=classes, task=LanguageModel.name)


register_dataset(DatasetInfo(
    name="recall", loader=load_recall, input_kind="tokens", input_shape=(18,),
    num_classes=65, task="language_model", test_split="held out",
    description="Associative recall: key-value pairs, a query key, its value the scored "
                "token (generated)",
    reference="Ba et al. 2016, Using fast weights to attend to the recent past; Fu et al. "
              "2023 (H3)",
    params=(ParamInfo("pairs", 8, kind="int", min=1, max=256, doc="key-value pairs shown"),
            ParamInfo("keys", 32, kind="int", min=1, max=4096, doc="distinct keys"),
            ParamInfo("values", 32, kind="int", min=1, max=4096, doc="distinct values"),
            ParamInfo("samples", 6000, kind="int", min=30, max=1_000_000)),
))
register_dataset(DatasetInfo(
    name="chars", loader=load_chars, input_kind="tokens", input_shape=(64,),
    num_classes=100, task="language_model", test_split="held out",
    description="Character-level text, every next character scored: Python's own "
                "standard-library source (no file needed) or Tiny Shakespeare",
    reference="Karpathy 2015, char-rnn (Tiny Shakespeare)",
    params=(ParamInfo("corpus", "python", kind="choice", choices=CORPORA,
                      doc="python: text this Python installation carries; tinyshakespeare: "
                          "DATASETS/tinyshakespeare/input.txt"),
            ParamInfo("context", 64, kind="int", min=2, max=8192, doc="characters per window"),
            ParamInfo("max_chars", 300_000, kind="int", min=100, max=100_000_000,
                      doc="the corpus's first characters used")),
))
