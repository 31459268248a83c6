"""Checkpoints: model, optimizer, schedule, every RNG, the history so far and the weights of
the best epoch, so a re-claimed run resumes where it stopped with identical results, on any
host that sees the same artifact store.

Saved with torch.save into the store (core/artifacts.py) and loaded with
`weights_only=True`: only tensors, numbers, strings and containers, never pickled code (the
numpy RNG state is stored as plain lists for that reason).
"""

from __future__ import annotations

import io
import random
import time
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import torch

from core.artifacts import ArtifactMissing, ArtifactStore
from worker.training.setup import Prepared


def _rng_state(prep: Prepared) -> dict[str, Any]:
    kind, keys, pos, has_gauss, cached = cast(tuple[str, Any, int, int, float],
                                              np.random.get_state())
    version, internal, gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(), "shuffle": prep.shuffle.get_state(),
        "augment": prep.augment.get_state(),
        "numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(cached)],
        "python": [version, list(internal), gauss]}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(prep: Prepared, state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    prep.shuffle.set_state(state["shuffle"])
    prep.augment.set_state(state["augment"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@dataclass
class Resumed:
    epoch: int  # the last epoch the checkpoint holds (0: none)
    history: list[dict[str, float]]
    best: dict[str, torch.Tensor] | None  # weights at the best epoch so far


@dataclass
class Checkpointer:
    """Where a run's checkpoint lives, and how often it is written: once `every_seconds`
    passed since the last write (0: every epoch). An epoch longer than that is saved every
    time, so at most one interval of training is ever redone."""

    store: ArtifactStore
    key: str
    every_seconds: float = 0.0
    _last: float = field(default_factory=time.monotonic)

    def due(self) -> bool:
        return time.monotonic() - self._last >= self.every_seconds

    def save(self, prep: Prepared, schedule: torch.optim.lr_scheduler.LRScheduler,
             epoch: int, history: list[dict[str, float]], best: dict[str, torch.Tensor] | None,
             config: dict[str, Any]) -> None:
        buffer = io.BytesIO()
        torch.save({"epoch": epoch, "model": prep.model.state_dict(),
                    "optimizer": prep.optimizer.state_dict(), "schedule": schedule.state_dict(),
                    "rng": _rng_state(prep), "history": history, "best": best,
                    "config": config}, buffer)
        self.store.put(self.key, buffer.getvalue())
        self._last = time.monotonic()

    def restore(self, prep: Prepared,
                schedule: torch.optim.lr_scheduler.LRScheduler) -> Resumed:
        """Load the checkpoint into `prep` and `schedule`, if there is one."""
        try:
            data = self.store.get(self.key)
        except ArtifactMissing:
            return Resumed(0, [], None)
        ckpt = torch.load(io.BytesIO(data), map_location=prep.device, weights_only=True)
        prep.model.load_state_dict(ckpt["model"])
        prep.optimizer.load_state_dict(ckpt["optimizer"])
        schedule.load_state_dict(ckpt["schedule"])
        _set_rng_state(prep, ckpt["rng"])
        return Resumed(int(ckpt["epoch"]), list(ckpt["history"]), ckpt.get("best"))
