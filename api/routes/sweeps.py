"""/api/v1/sweeps: a grid of experiments in one request, and its progress."""

from __future__ import annotations

from fastapi import APIRouter

from api import sweeps
from api.auth import PrincipalDep
from api.deps import SessionDep, SettingsDep, SweepDep
from api.dispatch import notify
from api.errors import WITH_BODY, responses
from api.reports import SweepCreated, SweepPublic
from core.domain.sweep_spec import SweepSpec

router = APIRouter(prefix="/sweeps", tags=["sweeps"])


@router.post("", status_code=202, response_model=SweepCreated, responses=WITH_BODY)
def create_sweep(body: SweepSpec, session: SessionDep, settings: SettingsDep,
                 principal: PrincipalDep) -> SweepCreated:
    """Validate every cell, then create one experiment per cell in one transaction. Cells
    whose model cannot take the dataset (e.g. lenet5 on mnist1d) are skipped and listed."""
    created, queued = sweeps.create_sweep(session, body, settings, principal)
    notify(session, queued, settings)
    return created


@router.get("/{sweep_id}", response_model=SweepPublic, responses=responses(404))
def get_sweep(sweep: SweepDep, session: SessionDep) -> SweepPublic:
    """The sweep's spec, its experiments with status and counts, and overall progress."""
    return sweeps.sweep_progress(session, sweep)
