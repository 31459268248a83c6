"""Sweeps: a grid of experiments created in one transaction, and their progress."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.auth import Principal
from api.experiment_rows import brief, experiment_rows
from api.quotas import enforce_quotas, hold_key
from api.reports import SkippedCell, SweepCell, SweepCreated, SweepPublic
from core.domain.matching import MatchError, matched
from core.domain.settings import Settings
from core.domain.spec import INCOMPATIBLE_INPUT, ExperimentSpec, SpecError, check_limits
from core.domain.status import RunStatus
from core.domain.sweep_spec import SweepSpec, count_cells, planned_seeds, sweep_cells
from core.store import creation, race, tuned
from core.store.models import Experiment, Run, Sweep

MAX_REFUSED_CELLS = 20


def _cell_specs(body: SweepSpec, settings: Settings) -> tuple[list[ExperimentSpec],
                                                               list[SkippedCell]]:
    """Every cell validated; cells whose model cannot take the dataset (lenet5 on mnist1d)
    are skipped. Any other problem in any cell refuses the whole sweep, listing the problems
    of the first MAX_REFUSED_CELLS cells refused."""
    cells, seeds = count_cells(body), planned_seeds(body)
    if cells * seeds > settings.max_runs_per_sweep:  # refused before expanding
        raise SpecError([{"loc": ("grid",), "type": "value_error",
                          "msg": f"the sweep expands to {cells} cells x {seeds} "
                                 f"seeds = {cells * seeds} runs; at most "
                                 f"{settings.max_runs_per_sweep} per sweep "
                                 "(ACTLAB_MAX_RUNS_PER_SWEEP)"}])
    specs: list[ExperimentSpec] = []
    skipped: list[SkippedCell] = []
    errors: list[dict[str, Any]] = []
    refused = 0
    for i, cell in enumerate(sweep_cells(body)):
        if refused == MAX_REFUSED_CELLS:  # enough to act on; the rest would cost ~0.3 ms each
            errors.append({"loc": ("cells",), "type": "value_error",
                           "msg": f"{MAX_REFUSED_CELLS} cells refused; the other "
                                  f"{cells - i} cells (at most) were not checked"})
            break
        try:
            spec = ExperimentSpec.model_validate(cell)
            if body.match is not None:  # the width solved to the reference's size
                spec = matched(spec, body.match)
            # the runs' own check is in creation.add_runs; here every cell's problems are
            # collected before anything is stored
            check_limits(spec, settings, max_runs=len(body.seeds))
        except MatchError as exc:
            refused += 1
            errors.append({"loc": ("cells", i, "match"), "msg": f"{cell['name']}: {exc}",
                           "type": "value_error"})
            continue
        except (ValidationError, SpecError) as exc:
            problems = list(exc.errors()) if isinstance(exc, ValidationError) else exc.errors
            if all(e["type"] == INCOMPATIBLE_INPUT for e in problems):
                skipped.append(SkippedCell(cell=i, name=cell["name"], reason=problems[0]["msg"]))
            else:
                refused += 1
                errors += [{"loc": ("cells", i, *e["loc"]), "msg": f"{cell['name']}: {e['msg']}",
                            "type": e["type"]} for e in problems]
            continue
        specs.append(spec)
    if errors:
        raise SpecError(errors)
    runs = len(specs) * seeds
    if not specs or runs > settings.max_runs_per_sweep:
        msg = "no cell left to run" if not specs else \
            f"{runs} runs; at most {settings.max_runs_per_sweep} per sweep " \
            "(ACTLAB_MAX_RUNS_PER_SWEEP)"
        raise SpecError([{"loc": ("activations",), "msg": msg, "type": "value_error"}])
    return specs, skipped


def create_sweep(session: Session, body: SweepSpec, settings: Settings,
                 principal: Principal) -> tuple[SweepCreated, list[uuid.UUID]]:
    """Store the sweep and one experiment per cell, and commit (unless a quota refuses it).
    Returns the response and the run ids to notify."""
    specs, skipped = _cell_specs(body, settings)
    hold_key(session, principal)
    tuning = body.tuning is not None  # the evaluation waits for the trials (core/store/tuned.py)
    sweep = Sweep(name=body.name or "sweep", spec=body.model_dump(mode="json"),
                  owner_key_id=principal.key_id,
                  race_round=1 if body.adaptive is not None and not tuning else None)
    session.add(sweep)
    session.flush()
    if tuning:
        created = tuned.start(session, sweep, body, specs, settings)
    else:
        created = [creation.create_experiment(session, spec, settings, force=body.force,
                                              sweep_id=sweep.id, owner_key_id=principal.key_id,
                                              max_runs=len(body.seeds))
                   for spec in specs]
    enforce_quotas(session, principal, settings)
    session.commit()
    queued = [run_id for c in created for run_id in c.to_queue]
    if tuning:  # trials that were all reused: chosen at once
        queued += tuned.advance(session, sweep.id, settings)
    elif body.adaptive is not None:  # a first round of reused results is decided at once
        queued += race.advance(session, sweep.id, settings)
    return SweepCreated(
        id=sweep.id,
        experiments=[SweepCell(id=c.experiment.id, name=c.experiment.name,
                               activation=c.experiment.activation, model=c.experiment.model,
                               dataset=c.experiment.dataset, queued=len(c.to_queue),
                               reused=len(c.reused)) for c in created],
        runs_queued=len(queued), runs_reused=sum(len(c.reused) for c in created),
        skipped=skipped), queued


def sweep_progress(session: Session, sweep: Sweep) -> SweepPublic:
    """The sweep's spec, its experiments with status and counts, and overall progress."""
    stmt, _ = experiment_rows(session)
    rows = session.execute(stmt.where(Experiment.sweep_id == sweep.id)
                           .order_by(Experiment.created_at, Experiment.id)).all()
    experiments = [brief(r) for r in rows]
    totals = {s.value: sum(e["counts"][s.value] for e in experiments) for s in RunStatus}
    total = sum(totals.values())
    finished = sum(n for s, n in totals.items() if RunStatus(s).finished)
    epochs = session.execute(
        select(func.coalesce(func.sum(Run.epochs_done), 0),
               func.coalesce(func.sum(Run.epochs_total), 0))
        .join(Experiment, Experiment.id == Run.experiment_id)
        .where(Experiment.sweep_id == sweep.id)).one()
    return SweepPublic.model_validate({
        "id": sweep.id, "name": sweep.name, "spec": sweep.spec, "created_at": sweep.created_at,
        "experiments": experiments, "race": race.report(session, sweep),
        "tuning": tuned.report(session, sweep),
        "progress": {"runs": total, "finished": finished, "counts": totals,
                     "fraction": finished / total if total else 0.0,
                     "epochs_done": int(epochs[0]), "epochs_total": int(epochs[1])}})
