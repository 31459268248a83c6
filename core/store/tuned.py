"""A sweep's equal tuning budget in the store (the arithmetic is core/statistics/tuning.py).

`start` creates, with the sweep, every cell's trials: one experiment of role `trial` per
quasi-random point (the same points for every cell, the baseline's too), each on the trial
seed. Once every trial has ended, `advance` (called by the runner as each run ends, and by the
sweeper after a restart) chooses each cell's best point and creates its evaluation experiment
at it (the sweep's seeds, or the race's first round, which then starts), naming the tuned keys
so that boards still match the entry to its baseline; the choices are stored in the same
transaction, and a conditional UPDATE lets exactly one caller do it. `report` is the sweep's
`tuning`: per entry the choice, every trial's value (how sensitive the entry is to its
settings) and whether the choice lies at the space's edge.
"""

from __future__ import annotations

import uuid
import zlib
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.domain.labels import activation_label
from core.domain.metrics import HIGHER_IS_BETTER
from core.domain.settings import Settings
from core.domain.spec import ExperimentSpec, SpecError, stored_spec
from core.domain.sweep_spec import SweepSpec, Tuning
from core.statistics.tuning import Dimension, Trial, choose, on_edge, points
from core.store import creation, race
from core.store.creation import Created
from core.store.models import Experiment, Run, Sweep
from core.store.results import final_rows


def dimensions(tuning: Tuning) -> dict[str, Dimension]:
    return {key: Dimension(r.low, r.high, r.log) for key, r in tuning.space.items()}


def _with(spec: ExperimentSpec, point: dict[str, float], **changes: Any) -> ExperimentSpec:
    """`spec` trained at `point` (training settings), with other spec fields changed."""
    data = spec.model_dump(mode="json")
    data["training"] = {**data["training"], **point}
    return stored_spec({**data, **changes})


def start(session: Session, sweep: Sweep, body: SweepSpec, specs: Sequence[ExperimentSpec],
          settings: Settings) -> list[Created]:
    """Every cell's trials (flushed, not committed) and the sweep's tuning state."""
    assert body.tuning is not None
    drawn = points(dimensions(body.tuning), body.tuning.trials,
                   seed=zlib.crc32(sweep.id.bytes) & 0x7FFFFFFF)
    seed = body.trial_seed()
    created: list[Created] = []
    cells = []
    for spec in specs:
        trials = []
        for i, point in enumerate(drawn):
            trial = _with(spec, point, seeds=[seed], role="trial",
                          name=f"{spec.name} · trial {i + 1}"[:200])
            made = creation.create_experiment(session, trial, settings, force=body.force,
                                              sweep_id=sweep.id,
                                              owner_key_id=sweep.owner_key_id, max_runs=1)
            created.append(made)
            trials.append(str(made.experiment.id))
        cells.append({"spec": spec.model_dump(mode="json"), "trials": trials})
    sweep.tuning = {"points": drawn, "seed": seed, "cells": cells}
    sweep.tuning_finished = False
    return created


def active(session: Session) -> list[uuid.UUID]:
    """Sweeps whose trials have not all been chosen from yet."""
    return list(session.scalars(select(Sweep.id).where(Sweep.tuning_finished.is_(False))))


def _trial_ids(state: dict[str, Any]) -> list[uuid.UUID]:
    return [uuid.UUID(i) for cell in state["cells"] for i in cell["trials"]]


def _values(session: Session, trial_ids: list[uuid.UUID], select_by: str) -> dict[str, float]:
    """Each trial experiment's value of `select_by` at its run's best epoch (succeeded runs
    only: a diverged or failed trial has none, and ranks worst)."""
    rows = final_rows(session, Experiment.id.in_(trial_ids), select_by)
    return {str(r.experiment_id): float(v) for r in rows
            if (v := getattr(r, f"best_{select_by}")) is not None}


def advance(session: Session, sweep_id: uuid.UUID | None, settings: Settings) -> list[uuid.UUID]:
    """Once every trial of the sweep has ended: each cell's choice and its evaluation
    experiment, committed by exactly one caller; returns the runs to send notices for (after
    the commit). Before that, or for a sweep without tuning, nothing changes."""
    sweep = session.get(Sweep, sweep_id) if sweep_id is not None else None
    if sweep is None or sweep.tuning_finished is not False or sweep.tuning is None:
        return []
    state = sweep.tuning
    trial_ids = _trial_ids(state)
    statuses = session.scalars(select(Run.status).where(Run.experiment_id.in_(trial_ids))).all()
    if not statuses or any(not s.finished for s in statuses):
        return []
    try:
        cells, queued = _evaluate(session, sweep, state, trial_ids, settings)
        note = None
    except SpecError as exc:  # the deployment's limits changed since the sweep
        session.rollback()
        cells, queued = state["cells"], []
        note = f"no evaluation: it is beyond the deployment's limits: {exc}"
    raced = sweep.spec.get("adaptive") is not None and note is None
    moved = session.execute(
        update(Sweep).where(Sweep.id == sweep.id, Sweep.tuning_finished.is_(False))
        .values(tuning_finished=True, tuning={**state, "cells": cells, "note": note},
                race_round=1 if raced else None)
        .execution_options(synchronize_session=False))
    if moved.rowcount != 1:  # type: ignore[attr-defined]  # another caller chose first
        session.rollback()
        return []
    session.commit()
    if raced:  # a first round of reused results is decided at once
        queued += race.advance(session, sweep.id, settings)
    return queued


def _evaluate(session: Session, sweep: Sweep, state: dict[str, Any], trial_ids: list[uuid.UUID],
              settings: Settings) -> tuple[list[dict[str, Any]], list[uuid.UUID]]:
    """Each cell's choice and its evaluation experiment (flushed); SpecError where the
    deployment's limits of now refuse one."""
    tuning = Tuning.model_validate(sweep.spec["tuning"])
    values = _values(session, trial_ids, tuning.select)
    dims, tuned = dimensions(tuning), [f"training.{k}" for k in sorted(tuning.space)]
    cells, queued = [], []
    for cell in state["cells"]:
        trials = [Trial(point, values.get(t)) for point, t in zip(state["points"], cell["trials"],
                                                                  strict=True)]
        best = choose(trials, HIGHER_IS_BETTER[tuning.select])
        chosen = None if best is None else state["points"][best]
        made = None
        if chosen is not None:  # every trial of the cell diverged or failed: nothing to run
            made = creation.create_experiment(
                session, _with(stored_spec(cell["spec"]), chosen, tuned=tuned), settings,
                force=bool(sweep.spec.get("force")), sweep_id=sweep.id,
                owner_key_id=sweep.owner_key_id, max_runs=len(cell["spec"]["seeds"]))
            queued += made.to_queue
        cells.append({**cell, "chosen": chosen,
                      "on_edge": on_edge(dims, chosen) if chosen is not None else [],
                      "experiment": str(made.experiment.id) if made is not None else None})
    return cells, queued


def report(session: Session, sweep: Sweep) -> dict[str, Any] | None:
    """The sweep's `tuning` (GET /sweeps/{id}); None without a tuning budget."""
    state = sweep.tuning
    if state is None:
        return None
    tuning = Tuning.model_validate(sweep.spec["tuning"])
    trial_ids = _trial_ids(state)
    values = _values(session, trial_ids, tuning.select)
    runs = {str(e): s.value for e, s in session.execute(
        select(Run.experiment_id, Run.status).where(Run.experiment_id.in_(trial_ids))).all()}
    entries = []
    for cell in state["cells"]:
        spec = cell["spec"]
        entries.append({
            "label": activation_label(spec["activation"]["name"], spec),
            "model": spec["model"]["name"], "dataset": spec["dataset"]["name"],
            "chosen": cell.get("chosen"), "on_edge": cell.get("on_edge", []),
            "experiment_id": cell.get("experiment"),
            "trials": [{"params": point, "seed": state["seed"], "value": values.get(t),
                        "status": runs.get(t)}
                       for point, t in zip(state["points"], cell["trials"], strict=True)]})
    return {"finished": bool(sweep.tuning_finished), "select": tuning.select,
            "trials": tuning.trials, "note": state.get("note"), "entries": entries}
