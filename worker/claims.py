"""Claiming: the run a notice names (or the queued run that should start next) and the
queued seeds of its experiment that train with it, each claim a conditional UPDATE under its
own token, then what the runner needs of each claimed run."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from core.domain.status import RunKind
from core.store.db import in_transaction
from core.store.lifecycle import ANY_DEVICE, claim_group, claim_next, claim_run
from core.store.models import Experiment, Run


@dataclass
class Claimed:
    run_id: uuid.UUID
    token: str
    experiment_id: uuid.UUID
    spec: dict[str, Any]
    seed: int
    epochs_done: int
    attempt: int
    origin: dict[str, Any] | None  # the provenance of its last attempt (None: never started)


def read_claimed(run_ids: list[uuid.UUID], tokens: dict[uuid.UUID, str],
          patience: float) -> list[Claimed]:
    def read(session: Session) -> list[Claimed]:
        out = []
        for run_id in run_ids:
            run = session.get_one(Run, run_id)
            out.append(Claimed(run_id, tokens[run_id], run.experiment_id,
                               session.get_one(Experiment, run.experiment_id).spec, run.seed,
                               run.epochs_done, run.attempt, run.provenance))
        return out

    return in_transaction(read, patience=patience, what="read of run(s) " +
                          ", ".join(map(str, run_ids)))


def claim(run_id: uuid.UUID, base: str, patience: float, by_priority: bool,
           group_seeds: int, devices: Sequence[str] = ANY_DEVICE) -> list[Claimed]:
    """Claim `run_id`, or with `by_priority` the queued run that should start next, then the
    runs of the same experiment that train with it (at most `group_seeds` in all), among the
    runs whose resources.device is one of `devices`. The leader comes first; empty when
    nothing could be claimed."""
    tokens: dict[uuid.UUID, str] = {}

    def token_for(rid: uuid.UUID) -> str:
        return tokens.setdefault(rid, f"{base}:{uuid.uuid4().hex[:8]}")

    if by_priority:
        claimed_id = in_transaction(lambda session: claim_next(session, token_for(run_id),
                                                               devices=devices),
                                    patience=patience, what=f"claim (notice for run {run_id})")
        if claimed_id is None:
            return []
        tokens[claimed_id] = tokens.pop(run_id)
        run_id = claimed_id
    elif not in_transaction(lambda session: claim_run(session, run_id, token_for(run_id),
                                                      devices),
                            patience=patience, what=f"claim of run {run_id}"):
        return []
    leader = read_claimed([run_id], tokens, patience)[0]
    if run_kind(leader.spec) != RunKind.train:
        return [leader]
    others = in_transaction(
        lambda session: claim_group(session, run_id, token_for, group_seeds - 1),
        patience=patience, what=f"claim of the seeds that train with run {run_id}")
    return [leader, *(read_claimed(others, tokens, patience) if others else [])]


def run_kind(spec: dict[str, Any]) -> RunKind:
    return RunKind(spec.get("kind", RunKind.train.value))
