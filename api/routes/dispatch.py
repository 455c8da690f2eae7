"""Batch dispatch over the approved trips of a window (统一调度), and the runs it made."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from api.deps import EngineDep, SessionDep, allow, allow_briefly, scope_of, scope_read_briefly
from api.errors import ErrorOut
from api.schemas import DispatchIn, DispatchOut, DispatchRunOut, DispatchRunPage, Limit, ObjectId, Offset
from fleet import dispatching, queries, scopes
from fleet.enums import Role, RunStatus
from fleet.errors import NotFound
from fleet.i18n import msg
from fleet.models import DispatchRun, User
from fleet.users import actor_of

router = APIRouter(tags=["dispatch"], responses={
    401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 404: {"model": ErrorOut}, 409: {"model": ErrorOut},
    422: {"model": ErrorOut}, 503: {"model": ErrorOut}})

Watcher = Annotated[User, Depends(allow(Role.dispatcher, Role.supervisor))]


@router.post("/dispatch", response_model=DispatchOut, summary="Dispatch the approved trips of a window")
def dispatch(body: DispatchIn, engine: EngineDep, request: Request,
             user: Annotated[User, Depends(allow_briefly(Role.dispatcher))]) -> DispatchOut:
    """Runs the engine over the approved, unassigned trips picked up in [start, end) with the vehicles on duty,
    around what is already assigned. No transaction is open while it solves; each assignment is re-checked as it
    is written, and what changed meanwhile is listed in ``refused_at_commit``. A run over a window that overlaps
    another run still working is refused (409) naming that run. The run is listed by `GET /dispatch/runs`, as
    ``running``, from the moment it starts. A dispatcher for part of the platform (`fleet.scopes`) dispatches
    the trips and vehicles of its scope only."""
    record, _ = dispatching.run(engine, actor_of(user), start=body.start, end=body.end,
                                time_limit=body.time_limit, seed=body.seed,
                                agency_ids=scope_read_briefly(request).agency_ids, rent_unserved=body.rent_unserved)
    return DispatchOut(run_id=record.id, **record.summary)


def run_out(run: DispatchRun) -> DispatchRunOut:
    done = run.status is RunStatus.done and bool(run.summary)
    error = run.summary.get("error") if run.status is RunStatus.failed else None
    return DispatchRunOut(
        id=run.id, status=run.status, actor=run.actor, holder=run.holder, window_start=run.window_start,
        window_end=run.window_end, started_at=run.created_at, finished_at=run.finished_at,
        time_limit=run.time_limit_s, summary=DispatchOut(run_id=run.id, **run.summary) if done else None,
        error=None if error is None else str(error))


@router.get("/dispatch/runs", response_model=DispatchRunPage, summary="Dispatch runs, newest first")
def list_runs(session: SessionDep, user: Watcher, status: RunStatus | None = None, limit: Limit = 50,
              offset: Offset = 0) -> DispatchRunPage:
    page = queries.dispatch_runs_page(session, limit=limit, offset=offset, status=status,
                                      actors=scopes.run_makers(session, scope_of(session, user)))
    return DispatchRunPage(items=[run_out(r) for r in page.rows], total=page.total, limit=limit, offset=offset)


@router.get("/dispatch/runs/{run_id}", response_model=DispatchRunOut, summary="One dispatch run")
def get_run(run_id: ObjectId, session: SessionDep, user: Watcher) -> DispatchRunOut:
    """A run made by a dispatcher outside the caller's scope is unknown to it (404)."""
    found = queries.dispatch_run(session, run_id)
    makers = scopes.run_makers(session, scope_of(session, user))
    if makers is not None and found.actor not in makers:
        raise NotFound(msg("unknown dispatch run id {run_id}", run_id=run_id), field="run_id")
    return run_out(found)
