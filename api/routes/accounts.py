"""统一核算一本账: the monthly statement charging each completed trip to the agency that booked it, with the
reconciliation of every vehicle's ledger (`fleet.accounting`). Supervisors (finance) and admins read it."""

from __future__ import annotations

import io
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from api.deps import HEAVY_READ, SessionDep, allow, scope_of
from api.errors import ApiError, ErrorOut
from api.schemas import StatementOut
from fleet import accounting, queries
from fleet.enums import Role
from fleet.exports import SHEET_MEDIA_TYPES
from fleet.i18n import msg
from fleet.models import User

router = APIRouter(tags=["oversight"], responses={
    401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 404: {"model": ErrorOut}, 422: {"model": ErrorOut}})

Reader = Annotated[User, Depends(allow(Role.supervisor, Role.admin))]


@router.get("/statements", response_model=StatementOut, dependencies=HEAVY_READ,
            summary="The monthly statement (统一核算): trips charged to their booking agencies, and the reconciliation",
            responses={200: {"content": {SHEET_MEDIA_TYPES["xlsx"]: {}}}})
def statements(
    session: SessionDep, user: Reader,
    month: Annotated[str, Query(min_length=7, max_length=7, pattern=r"^\d{4}-\d{2}$", examples=["2026-11"],
                                description="YYYY-MM, China time")],
    agency: Annotated[str | None, Query(max_length=32, description="only the trips this agency (and the agencies "
                                        "merged into it) booked, and only its own vehicles' ledgers")] = None,
    format: Literal["json", "xlsx"] = "json",
) -> StatementOut | Response:
    """Each completed trip of the month costs its booking agency a share of the vehicle's month ledger by km, the
    driver's hours and any rental bill; per vehicle, the ledger equals what its trips were charged plus the
    holder's unallocated remainder, to the fen. One agency's statement (``agency``, its predecessors included)
    reconciles the vehicles it holds; of another holder's vehicle it lists only what its trips were charged
    (``charged_in``). A caller scoped to part of the platform names one of its agencies."""
    scope = scope_of(session, user)
    if agency is None and not scope.whole:
        raise ApiError(422, "InvalidInput", msg("field 'agency': name one of the agencies of {scope}",
                                                scope=scope.label), "agency")
    if agency is not None and not scope.has_agency(queries.agency_by_code(session, agency).id):
        raise ApiError(404, "NotFound", msg("unknown agency {code!r}", code=agency), "agency")
    found = accounting.statement(session, month=month, agency=agency)
    if format == "json":
        return StatementOut.model_validate(found)
    sheet = io.BytesIO()
    accounting.write_xlsx(found, sheet)
    name = f"statement-{found.month}{'-' + found.agency if found.agency else ''}.xlsx"
    return Response(sheet.getvalue(), media_type=SHEET_MEDIA_TYPES["xlsx"],
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
