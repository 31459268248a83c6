"""/api/v1/searches: activation search as a kind of work (the driver runs on the workers)."""

from __future__ import annotations

import logging
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse
from sqlalchemy import func, select

from api.analytics.export import to_csv
from api.analytics.search import decision_log, search_report
from api.auth import PrincipalDep, require_owner
from api.deps import SearchDep, SessionDep, SettingsDep
from api.errors import WITH_BODY, responses
from api.reports import SearchBrief, SearchCreated, SearchExport, SearchList, SearchPublic
from core.domain.search_spec import SearchSpec
from core.domain.settings import Settings
from core.domain.status import SearchStatus
from core.store import creation, lifecycle
from core.store.models import Search
from core.store.queue import send_search_notices

router = APIRouter(prefix="/searches", tags=["searches"])
log = logging.getLogger("actlab.api")


@router.post("", status_code=202, response_model=SearchCreated, responses=WITH_BODY)
def create_search(body: SearchSpec, session: SessionDep, settings: SettingsDep,
                  principal: PrincipalDep) -> SearchCreated:
    """Validate and store the search; a worker builds its pool and starts screening."""
    creation.check_search(body, settings)
    search = Search(name=body.name or "search", spec=body.model_dump(mode="json"),
                    owner_key_id=principal.key_id)
    session.add(search)
    session.commit()
    _wake(search.id, settings)
    summary = body.summary()
    return SearchCreated(id=search.id, status=search.status, space_size=summary["space_size"],
                         sampled=summary["sampled"])


@router.get("", response_model=SearchList)
def list_searches(session: SessionDep,
                  status: SearchStatus | None = None,
                  limit: Annotated[int, Query(ge=1, le=500)] = 50,
                  offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0) -> SearchList:
    """Newest first."""
    stmt = select(Search)
    if status is not None:
        stmt = stmt.where(Search.status == status)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(Search.created_at.desc()).limit(limit).offset(offset))
    return SearchList(items=[SearchBrief(id=r.id, name=r.name, status=r.status, phase=r.phase,
                                         created_at=r.created_at) for r in rows],
                      total=total, limit=limit, offset=offset)


@router.get("/{search_id}", response_model=SearchPublic, responses=responses(404))
def get_search(search: SearchDep, session: SessionDep) -> SearchPublic:
    """Progress, candidates ranked by validation accuracy (test beside it), best so far
    against trainings spent, the confirmation's p-values and verdicts, the surrogate's rank
    correlation, the Pareto front of validation accuracy against MACs, the filtered
    candidates with their reasons."""
    return SearchPublic.model_validate(search_report(session, search))


@router.post("/{search_id}/cancel", response_model=SearchPublic,
             responses=responses(404, 409, 413))
def cancel_search(search: SearchDep, session: SessionDep, settings: SettingsDep,
                  principal: PrincipalDep) -> SearchPublic:
    """Stop the search and its runs in flight; 409 once it has finished."""
    require_owner(principal, "search", search.id, search.owner_key_id)
    lifecycle.cancel_search(session, search)
    session.commit()
    session.refresh(search)
    if not search.status.finished:  # the step holding it ends it; wake the next one
        _wake(search.id, settings)
    return SearchPublic.model_validate(search_report(session, search))


def _wake(search_id: uuid.UUID, settings: Settings) -> None:
    """Send a step notice after a commit: with the broker down the request has still
    succeeded (the sweeper steps every search nobody has stepped for a while)."""
    try:
        send_search_notices([search_id], settings)
    except Exception as exc:
        log.warning("broker unavailable; search %s left for the sweeper: %s", search_id, exc)


@router.get("/{search_id}/export", response_model=SearchExport, responses={
    200: {"content": {"text/csv": {}}}, **responses(404)})
def export_search(search: SearchDep, session: SessionDep,
                  format: Literal["json", "csv"] = "json") -> SearchExport | PlainTextResponse:
    """Candidates and the driver's decision log, so others can replay the search: JSON (both,
    with the spec), or CSV (candidates, filtered ones, then the log; column `table`)."""
    report = search_report(session, search)
    log_rows = decision_log(session, search)
    if format == "json":
        return SearchExport(spec=search.spec, candidates=report["candidates"],
                            filtered=report["filtered"], decisions=log_rows)
    rows: list[dict[str, Any]] = []
    for c in report["candidates"]:
        rows.append({"table": "candidate", **{k: c[k] for k in CSV_CANDIDATE},
                     "equivalents": " | ".join(c["equivalents"])})
    for f in report["filtered"]:
        rows.append({"table": "filtered", "expression": f["expression"], "status": "filtered",
                     "reason": f["reason"]})
    for d in log_rows:
        chosen = d.get("chosen")
        rows.append({"table": "decision", "step": d["step"], "rule": d.get("rule"),
                     "chosen": " | ".join(chosen) if isinstance(chosen, list) else chosen,
                     "predicted": d.get("predicted")})
    return PlainTextResponse(to_csv(rows), media_type="text/csv")


CSV_CANDIDATE = ("rank", "expression", "status", "val_mean", "val_std", "test_mean", "n",
                 "reason")
