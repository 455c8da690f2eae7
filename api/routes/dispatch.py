"""Batch dispatch over the approved trips of a window (统一调度)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from api.deps import EngineDep, allow_briefly
from api.errors import ErrorOut
from api.schemas import DispatchIn, DispatchOut
from fleet import dispatching
from fleet.enums import Role
from fleet.models import User
from fleet.users import actor_of

router = APIRouter(tags=["dispatch"], responses={
    401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 409: {"model": ErrorOut}, 422: {"model": ErrorOut},
    503: {"model": ErrorOut}})


@router.post("/dispatch", response_model=DispatchOut, summary="Dispatch the approved trips of a window")
def dispatch(body: DispatchIn, engine: EngineDep,
             user: Annotated[User, Depends(allow_briefly(Role.dispatcher))]) -> DispatchOut:
    """Runs the engine over the approved, unassigned trips picked up in [start, end) with the vehicles on duty,
    around what is already assigned. No transaction is open while it solves; each assignment is re-checked as it
    is written, and what changed meanwhile is listed in ``refused_at_commit``. A run over a window that overlaps
    another run still working is refused (409) naming that run."""
    record, _ = dispatching.run(engine, actor_of(user), start=body.start, end=body.end,
                                time_limit=body.time_limit, seed=body.seed)
    return DispatchOut(run_id=record.id, **record.summary)
