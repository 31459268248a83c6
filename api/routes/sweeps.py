"""/api/v1/sweeps: a grid of experiments in one request, and its progress."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from pydantic import ValidationError
from sqlalchemy import func, select

from api import creation
from api.deps import SessionDep, SettingsDep
from api.dispatch import notify
from api.errors import not_found, validation_error
from api.queries import brief, experiment_rows
from core.models import Experiment, Run, Sweep
from core.spec import (
    INCOMPATIBLE_INPUT,
    ExperimentSpec,
    SpecError,
    SweepSpec,
    check_limits,
    sweep_cells,
)
from core.status import RunStatus

router = APIRouter(prefix="/sweeps", tags=["sweeps"])


@router.post("", status_code=202)
def create_sweep(body: SweepSpec, session: SessionDep, settings: SettingsDep) -> dict[str, Any]:
    """Validate every cell, then create one experiment per cell in one transaction. Cells
    whose model cannot take the dataset (e.g. lenet5 on mnist1d) are skipped and listed."""
    specs: list[ExperimentSpec] = []
    skipped: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for i, cell in enumerate(sweep_cells(body)):
        try:
            spec = ExperimentSpec.model_validate(cell)
            check_limits(spec, settings, max_runs=len(body.seeds))
        except (ValidationError, SpecError) as exc:
            problems = list(exc.errors()) if isinstance(exc, ValidationError) else exc.errors
            if all(e["type"] == INCOMPATIBLE_INPUT for e in problems):
                skipped.append({"cell": i, "name": cell["name"], "reason": problems[0]["msg"]})
            else:
                errors += [{"loc": ("cells", i, *e["loc"]), "msg": f"{cell['name']}: {e['msg']}",
                            "type": e["type"]} for e in problems]
            continue
        specs.append(spec)
    if errors:
        raise validation_error(errors)
    runs = len(specs) * len(body.seeds)
    if not specs or runs > settings.max_runs_per_sweep:
        msg = "no cell left to run" if not specs else \
            f"{runs} runs; at most {settings.max_runs_per_sweep} per sweep " \
            "(ACTLAB_MAX_RUNS_PER_SWEEP)"
        raise validation_error([{"loc": ("activations",), "msg": msg, "type": "value_error"}])

    sweep = Sweep(name=body.name or "sweep", spec=body.model_dump(mode="json"))
    session.add(sweep)
    session.flush()
    created = [creation.create_experiment(session, spec, force=body.force, sweep_id=sweep.id)
               for spec in specs]
    session.commit()
    queued = [run_id for c in created for run_id in c.to_queue]
    notify(session, queued, settings)
    return {"id": sweep.id, "experiments": [
        {"id": c.experiment.id, "name": c.experiment.name, "activation": c.experiment.activation,
         "model": c.experiment.model, "dataset": c.experiment.dataset,
         "queued": len(c.to_queue), "reused": len(c.reused)} for c in created],
        "runs_queued": len(queued), "runs_reused": sum(len(c.reused) for c in created),
        "skipped": skipped}


@router.get("/{sweep_id}")
def get_sweep(sweep_id: uuid.UUID, session: SessionDep) -> dict[str, Any]:
    """The sweep's spec, its experiments with status and counts, and overall progress."""
    sweep = session.get(Sweep, sweep_id)
    if sweep is None:
        raise not_found("sweep", sweep_id)
    stmt, _ = experiment_rows(session)
    rows = session.execute(stmt.where(Experiment.sweep_id == sweep_id)
                           .order_by(Experiment.created_at, Experiment.id)).all()
    experiments = [brief(r) for r in rows]
    totals = {s.value: sum(e["counts"][s.value] for e in experiments) for s in RunStatus}
    total = sum(totals.values())
    finished = sum(n for s, n in totals.items() if RunStatus(s).finished)
    epochs = session.execute(
        select(func.coalesce(func.sum(Run.epochs_done), 0),
               func.coalesce(func.sum(Run.epochs_total), 0))
        .join(Experiment, Experiment.id == Run.experiment_id)
        .where(Experiment.sweep_id == sweep_id)).one()
    return {"id": sweep.id, "name": sweep.name, "spec": sweep.spec,
            "created_at": sweep.created_at, "experiments": experiments,
            "progress": {"runs": total, "finished": finished, "counts": totals,
                         "fraction": finished / total if total else 0.0,
                         "epochs_done": int(epochs[0]), "epochs_total": int(epochs[1])}}
