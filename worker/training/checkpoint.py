"""Checkpoints: model, optimizer, schedule, every RNG, the history so far and the weights of
the best epoch, so a re-claimed run resumes where it stopped with identical results, on any
host that sees the same artifact store.

Saved with torch.save into the store (core/store/artifacts.py) and loaded with
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

from core.store.artifacts import ArtifactMissing, ArtifactStore
from worker.training.setup import Prepared


def rng_state(prep: Prepared, torch_state: torch.Tensor | None = None) -> dict[str, Any]:
    """Every RNG a run draws from. `torch_state`: the run's own global torch state, when
    seeds trained together keep theirs aside while another seed trains."""
    kind, keys, pos, has_gauss, cached = cast(tuple[str, Any, int, int, float],
                                              np.random.get_state())
    version, internal, gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state() if torch_state is None else torch_state,
        "shuffle": prep.shuffle.get_state(), "augment": prep.augment.get_state(),
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


def snapshot(prep: Prepared, schedule: torch.optim.lr_scheduler.LRScheduler, epoch: int,
             history: list[dict[str, float]], best: dict[str, torch.Tensor] | None,
             config: dict[str, Any], torch_rng: torch.Tensor | None = None) -> dict[str, Any]:
    """One seed's part of a checkpoint."""
    return {"epoch": epoch, "model": prep.model.state_dict(),
            "optimizer": prep.optimizer.state_dict(), "schedule": schedule.state_dict(),
            "rng": rng_state(prep, torch_rng), "history": history, "best": best,
            "config": config}


def load(prep: Prepared, schedule: torch.optim.lr_scheduler.LRScheduler,
         part: dict[str, Any] | None) -> Resumed:
    """Put one seed's part back into `prep` and `schedule` (nothing when `part` is None)."""
    if part is None:
        return Resumed(0, [], None)
    prep.model.load_state_dict(part["model"])
    prep.optimizer.load_state_dict(part["optimizer"])
    schedule.load_state_dict(part["schedule"])
    _set_rng_state(prep, part["rng"])
    return Resumed(int(part["epoch"]), list(part["history"]), part.get("best"))


SOLO = "run"  # the member name of a checkpoint that holds one seed


@dataclass
class Checkpointer:
    """Where a checkpoint lives, and how often it is written: once `every_seconds` passed
    since the last write (0: every epoch). An epoch longer than that is saved every time, so
    at most one interval of training is ever redone.

    One checkpoint holds every seed trained together, each under its member name (a run id;
    `SOLO` for one seed). `also` names older checkpoints to resume from, read when `key`
    has no part for a member: a group's, for a seed that resumes alone or in a new group."""

    store: ArtifactStore
    key: str
    every_seconds: float = 0.0
    also: tuple[str, ...] = ()
    _last: float = field(default_factory=time.monotonic)
    _read: dict[str, dict[str, Any]] = field(default_factory=dict)  # members by key, loaded

    def due(self) -> bool:
        return time.monotonic() - self._last >= self.every_seconds

    def save_parts(self, parts: dict[str, dict[str, Any]]) -> None:
        buffer = io.BytesIO()
        torch.save({"format": 2, "members": parts}, buffer)
        self.store.put(self.key, buffer.getvalue())
        self._last = time.monotonic()

    def save(self, prep: Prepared, schedule: torch.optim.lr_scheduler.LRScheduler,
             epoch: int, history: list[dict[str, float]], best: dict[str, torch.Tensor] | None,
             config: dict[str, Any]) -> None:
        self.save_parts({SOLO: snapshot(prep, schedule, epoch, history, best, config)})

    def part(self, member: str, device: torch.device) -> dict[str, Any] | None:
        """`member`'s part of the newest checkpoint that has one, or None."""
        for key in (self.key, *self.also):
            if key not in self._read:
                try:
                    data = self.store.get(key)
                except ArtifactMissing:
                    self._read[key] = {}
                    continue
                ckpt = torch.load(io.BytesIO(data), map_location=device, weights_only=True)
                self._read[key] = ckpt["members"] if ckpt.get("format") == 2 else {SOLO: ckpt}
            members = self._read[key]
            if member in members:
                return cast(dict[str, Any], members[member])
            if len(members) == 1 and SOLO in members and key == self.key:
                return cast(dict[str, Any], members[SOLO])
        return None

    def forget(self) -> None:
        """Drop what `part` loaded (a group holds every seed's state until training ends)."""
        self._read.clear()

    def restore(self, prep: Prepared,
                schedule: torch.optim.lr_scheduler.LRScheduler) -> Resumed:
        """Load a one-seed checkpoint into `prep` and `schedule`, if there is one."""
        return load(prep, schedule, self.part(SOLO, prep.device))
