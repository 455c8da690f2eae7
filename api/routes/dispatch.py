"""Batch dispatch over the approved trips of a window (统一调度)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from api.deps import SessionDep, allow
from api.errors import ErrorOut
from api.schemas import DispatchIn, DispatchOut
from fleet import dispatching
from fleet.enums import Role
from fleet.models import User
from fleet.users import actor_of

router = APIRouter(tags=["dispatch"], responses={
    401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 422: {"model": ErrorOut}, 503: {"model": ErrorOut}})


@router.post("/dispatch", response_model=DispatchOut, summary="Dispatch the approved trips of a window")
def dispatch(body: DispatchIn, session: SessionDep,
             user: Annotated[User, Depends(allow(Role.dispatcher))]) -> DispatchOut:
    """Runs the engine over the approved, unassigned trips picked up in [start, end) with the vehicles on duty,
    around what is already assigned, and commits every assignment in one transaction."""
    record, _ = dispatching.run(session, actor_of(user), start=body.start, end=body.end,
                                time_limit=body.time_limit, seed=body.seed)
    return DispatchOut(run_id=record.id, **record.summary)
