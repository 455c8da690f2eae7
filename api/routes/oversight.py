"""What supervisors (纪检 / 财政 / 审计) read: the audit trail and its proof, usage-audit findings, annual reports.

Each within the caller's scope (`fleet.scopes`): a district's supervisor reads its district's findings, reports and
audit records (`fleet.scopes.audit_filter` says which records are whose); the chain's proof (`/audit/verify`)
re-computes every agency's records and is a whole-platform act."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from api.deps import HEAVY_READ, ScopeDep, SessionDep, allow, whole_platform
from api.errors import ApiError, ErrorOut, translated
from api.schemas import (
    AuditOut,
    AuditPage,
    FindingOut,
    FindingPage,
    Limit,
    Offset,
    ReportFormat,
    Since,
    Until,
    VerifyOut,
    china_json,
)
from fleet import audit, queries, reports, scopes, usage_audit
from fleet.enums import Role
from fleet.i18n import msg
from fleet.models import User
from fleet.settings import audit_key, get_settings
from fleet.usage_audit import FindingKind

router = APIRouter(tags=["oversight"], responses={
    401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 404: {"model": ErrorOut}, 422: {"model": ErrorOut}})

Supervisor = Annotated[User, Depends(allow(Role.supervisor, Role.admin))]


@router.get("/audit", response_model=AuditPage, summary="The audit trail, filtered (read-only)")
def audit_trail(
    session: SessionDep, user: Supervisor, scope: ScopeDep,
    entity: Annotated[str | None, Query(max_length=32)] = None,
    entity_id: Annotated[str | None, Query(max_length=64)] = None,
    actor: Annotated[str | None, Query(max_length=100, description="user name, as in 'name (role)'")] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[Since | None, Query(description="a date (that day in China time) or an instant")] = None,
    until: Annotated[Until | None, Query(description="a date (inclusive) or an instant (exclusive)")] = None,
    limit: Limit = 50, offset: Offset = 0,
) -> AuditPage:
    """The records a caller for part of the platform reads are those about its agencies' rows (trips, vehicles,
    plans, quotas, drivers, users...); the platform's own records (dispatch runs, jurisdictions) are for
    whole-platform callers (`fleet.scopes.audit_filter`)."""
    page = queries.audit_page(session, limit=limit, offset=offset, entity=entity, entity_id=entity_id, actor=actor,
                              action=action, since=since, until=until,
                              within=None if scope.whole else scopes.audit_filter(scope))
    return AuditPage(items=[AuditOut.model_validate(r) for r in page.rows], total=page.total, limit=limit,
                     offset=offset)


@router.get("/audit/verify", response_model=VerifyOut, dependencies=HEAVY_READ,
            summary="Re-compute the chain and its MACs; check the last checkpoint and every audited row")
def verify(session: SessionDep, user: Supervisor, scope: ScopeDep) -> VerifyOut:
    """The proof covers every record of the chain, whoever's: for whole-platform supervisors and admins (403 for a
    caller for part of the platform, whose `/audit` shows its agencies' records only)."""
    whole_platform(user, scope)
    settings = get_settings()
    key = audit_key(settings)
    try:
        point = audit.latest_checkpoint(settings.audit_checkpoint_file, key)
    except ValueError as exc:
        result = audit.verify(session, state=False)
        return VerifyOut(ok=False, records=result.records, head_seq=result.head_seq, head_hash=result.head_hash,
                         broken_seq=None, reason=str(exc), checkpoint=None)
    result = audit.verify_against(session, point, key=key)
    return VerifyOut(ok=result.ok, records=result.records, head_seq=result.head_seq, head_hash=result.head_hash,
                     broken_seq=result.broken_seq, reason=result.reason,
                     checkpoint=None if point is None else {"seq": point.seq, "hash": point.hash, "at": point.at},
                     rows=result.rows, table=result.table, row_id=result.row_id)


@router.get("/violations", response_model=FindingPage, summary="Usage-audit findings (公车私用 and the like)",
            dependencies=HEAVY_READ)
def violations(
    session: SessionDep, user: Supervisor, scope: ScopeDep,
    since: Annotated[Since, Query(description="a date (that day in China time) or an instant")],
    until: Annotated[Until, Query(description="a date (inclusive) or an instant (exclusive)")],
    kind: Annotated[list[FindingKind] | None, Query()] = None,
    agency: Annotated[str | None, Query(max_length=32)] = None,
    limit: Limit = 50, offset: Offset = 0,
) -> FindingPage:
    start, end = since, until
    if end <= start:
        raise ApiError(422, "InvalidInput", msg("field 'until': is not after since"), "until")
    if (end - start).days > 366:
        raise ApiError(422, "InvalidInput", msg("field 'until': a query spans at most 366 days"), "until")
    # Another scope's agency is as unknown as a code that names none; without one, the scope's agencies.
    agency_ids = scope.ids() if agency is None else [scopes.agency(session, scope, agency).id]
    found = usage_audit.findings(session, start=start, end=end, rules=usage_audit.configured_rules(),
                                 agency_ids=agency_ids, kinds=kind)
    found = translated(found)  # each finding's detail in the request's language (Accept-Language)
    return FindingPage(items=[FindingOut.model_validate(f) for f in found[offset:offset + limit]], total=len(found),
                       limit=limit, offset=offset)


@router.get("/reports/annual", summary="The annual statistics report (年度统计报告)", dependencies=HEAVY_READ,
            responses={200: {"content": {"application/json": {}, "text/csv": {},
                                         "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {}}}})
def annual(
    session: SessionDep, user: Supervisor, scope: ScopeDep, year: Annotated[int, Query(ge=2000, le=2100)],
    jurisdiction: Annotated[str | None, Query(max_length=32)] = None,
    agency: Annotated[str | None, Query(max_length=32)] = None,
    format: ReportFormat = "json",
) -> Response:
    """Over a jurisdiction at or below the caller's scope, or an agency in it; naming neither, over the scope's own
    jurisdiction (or agency). Outside the scope, 404 as for an unknown code."""
    if jurisdiction is not None:
        scopes.jurisdiction(session, scope, jurisdiction)
    if agency is not None:
        scopes.agency(session, scope, agency)
    if jurisdiction is None and agency is None:
        jurisdiction = user.jurisdiction.code if user.jurisdiction is not None else None
        agency = user.agency.code if user.agency is not None and jurisdiction is None else None
    report = reports.annual_report(session, year=year, jurisdiction=jurisdiction, agency=agency)
    if format == "json":  # the report's own instants (generated_at) written as every answer writes them
        body = json.dumps(china_json(json.loads(report.to_json())), ensure_ascii=False, indent=2)
        return Response(body, media_type="application/json")
    attachment = {"Content-Disposition": f'attachment; filename="annual-{year}.{format}"'}
    if format == "csv":
        return Response(report.to_csv(), media_type="text/csv; charset=utf-8", headers=attachment)
    return Response(report.to_xlsx(), headers=attachment,
                    media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
