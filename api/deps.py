"""Dependencies as named aliases: routes never build sessions or read the environment."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from sqlalchemy.orm import Session

from core.db import get_sessionmaker
from core.settings import Settings, get_settings


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


def reject_unknown_query(request: Request) -> None:
    """A misspelled query parameter is a 422 naming the valid ones, not silently ignored
    (`?dataset=digits&modle=mlp` would otherwise answer for every model)."""
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
