"""What falls due: insurance, annual inspection (年检), maintenance, renewal age, driving licences."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import RegistryReader, ScopeDep, SessionDep
from api.errors import ErrorOut
from api.schemas import ReminderList, ReminderOut
from fleet import clock, reminders, scopes
from fleet.reminders import ReminderKind
from fleet.schemas import Code

router = APIRouter(tags=["registry"], responses={
    401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 404: {"model": ErrorOut}, 422: {"model": ErrorOut}})

MAX_DAYS = 3660


@router.get("/reminders", response_model=ReminderList, summary="Reminders due within some days, or overdue")
def list_reminders(
    session: SessionDep, user: RegistryReader, scope: ScopeDep,
    within_days: Annotated[int, Query(ge=0, le=MAX_DAYS, description="from today (China time)")] = 30,
    kind: Annotated[list[ReminderKind] | None, Query(description="only these kinds")] = None,
    agency: Annotated[Code | None, Query(description="one agency's vehicles and drivers")] = None,
) -> ReminderList:
    """Of the vehicles not disposed of and the active drivers in the caller's scope, soonest first; a negative
    `days_left` is overdue. Annual inspections follow the schedule of the vehicle's kind and age
    (`fleet.reminders.INSPECTION_RULES`, with their sources); maintenance falls due by months or by km, whichever
    comes first (the km day extrapolated from the vehicle's average use)."""
    if agency is not None:
        agency_ids: list[int] | None = [scopes.agency(session, scope, agency).id]
    else:
        agency_ids = scope.ids()
    today = clock.today()
    found = reminders.due(session, today=today, within_days=within_days, kinds=kind or (), agency_ids=agency_ids)
    return ReminderList(today=today, until=today + timedelta(days=within_days), items=[
        ReminderOut(kind=r.kind, due_on=r.due_on, days_left=r.days_left, subject=r.subject,
                    subject_id=r.subject_id, label=r.label, agency=r.agency, detail=r.detail, due_km=r.due_km)
        for r in found])
