"""Dependencies as named aliases: routes never build sessions or read the environment."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from sqlalchemy.orm import Session

from api.errors import not_found
from core.domain.settings import Settings, get_settings
from core.store.db import get_sessionmaker
from core.store.models import Experiment, Run, Search, Sweep


def get_session() -> Iterator[Session]:
    session = get_sessionmaker()()
    try:
        yield session
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def _query_names(dependant: Dependant) -> set[str]:
    names = {f.alias for f in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


async def reject_unknown_query(request: Request) -> None:
    """A misspelled query parameter is a 422 naming the valid ones, not silently ignored
    (`?dataset=digits&modle=mlp` would otherwise answer for every model); so is a value
    holding a NUL byte."""
    dependant = getattr(request.scope.get("route"), "dependant", None)
    if dependant is None:
        return
    known = _query_names(dependant)
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        valid = ", ".join(sorted(known)) or "none"
        raise RequestValidationError([
            {"loc": ("query", name), "type": "extra_forbidden",
             "msg": f"unknown query parameter {name!r}; valid parameters: {valid}"}
            for name in unknown])
    # Text no database can compare against (PostgreSQL refuses NUL bytes): a 422, not a 500.
    nul = sorted({name for name, value in request.query_params.multi_items() if "\x00" in value})
    if nul:
        raise RequestValidationError([
            {"loc": ("query", name), "type": "value_error",
             "msg": "text must not contain a NUL byte (%00)"} for name in nul])


_Row = TypeVar("_Row")


def _found(session: Session, model: type[_Row], noun: str, row_id: uuid.UUID) -> _Row:
    row = session.get(model, row_id)
    if row is None:
        raise not_found(noun, row_id)
    return row


def _experiment(experiment_id: uuid.UUID, session: SessionDep) -> Experiment:
    return _found(session, Experiment, "experiment", experiment_id)


def _run(run_id: uuid.UUID, session: SessionDep) -> Run:
    return _found(session, Run, "run", run_id)


def _sweep(sweep_id: uuid.UUID, session: SessionDep) -> Sweep:
    return _found(session, Sweep, "sweep", sweep_id)


def _search(search_id: uuid.UUID, session: SessionDep) -> Search:
    return _found(session, Search, "search", search_id)


# The row named by the path's {experiment_id} / {run_id} / {sweep_id} / {search_id}, or a
# 404. The session is the route's own (FastAPI caches a dependency per request).
ExperimentDep = Annotated[Experiment, Depends(_experiment)]
RunDep = Annotated[Run, Depends(_run)]
SweepDep = Annotated[Sweep, Depends(_sweep)]
SearchDep = Annotated[Search, Depends(_search)]
