"""Per-epoch checkpoints: model, optimizer, schedule, every RNG and the history so far, so a
re-claimed run resumes where it stopped with identical results."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from worker.training.setup import Prepared


def _rng_state(prep: Prepared) -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "shuffle": prep.shuffle.get_state(),
                             "augment": prep.augment.get_state(),
                             "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(prep: Prepared, state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    prep.shuffle.set_state(state["shuffle"])
    prep.augment.set_state(state["augment"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@dataclass
class Resumed:
    epoch: int  # the last epoch the checkpoint holds (0: none)
    history: list[dict[str, float]]


def save(path: Path, prep: Prepared, schedule: torch.optim.lr_scheduler.LRScheduler,
         epoch: int, history: list[dict[str, float]], config: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    torch.save({"epoch": epoch, "model": prep.model.state_dict(),
                "optimizer": prep.optimizer.state_dict(), "schedule": schedule.state_dict(),
                "rng": _rng_state(prep), "history": history, "config": config}, tmp)
    tmp.replace(path)  # atomic: a crash mid-write leaves the previous checkpoint intact


def restore(path: Path | None, prep: Prepared,
            schedule: torch.optim.lr_scheduler.LRScheduler) -> Resumed:
    """Load the checkpoint at `path` into `prep` and `schedule`, if there is one."""
    if path is None or not path.exists():
        return Resumed(0, [])
    ckpt = torch.load(path, map_location=prep.device, weights_only=False)
    prep.model.load_state_dict(ckpt["model"])
    prep.optimizer.load_state_dict(ckpt["optimizer"])
    schedule.load_state_dict(ckpt["schedule"])
    _set_rng_state(prep, ckpt["rng"])
    return Resumed(int(ckpt["epoch"]), list(ckpt["history"]))
