"""What supervisors (纪检 / 财政) read: the audit trail and its proof, usage-audit findings, annual reports."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from api.deps import SessionDep, allow
from api.errors import ApiError, ErrorOut
from api.schemas import MAX_PAGE, AuditOut, AuditPage, ReportFormat, VerifyOut
from fleet import audit, queries, reports, usage_audit
from fleet.enums import Role
from fleet.models import User
from fleet.schemas import Moment
from fleet.settings import audit_key, get_settings
from fleet.usage_audit import Finding, FindingKind

router = APIRouter(tags=["oversight"], responses={
    401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 404: {"model": ErrorOut}, 422: {"model": ErrorOut}})

Supervisor = Annotated[User, Depends(allow(Role.supervisor, Role.admin))]
Page = Annotated[int, Query(ge=1, le=MAX_PAGE)]


@router.get("/audit", response_model=AuditPage, summary="The audit trail, filtered (read-only)")
def audit_trail(
    session: SessionDep, user: Supervisor,
    entity: Annotated[str | None, Query(max_length=32)] = None,
    entity_id: Annotated[str | None, Query(max_length=64)] = None,
    actor: Annotated[str | None, Query(max_length=100, description="user name, as in 'name (role)'")] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    since: Moment | None = None, until: Moment | None = None,
    limit: Page = 50, offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> AuditPage:
    page = queries.audit_page(session, limit=limit, offset=offset, entity=entity, entity_id=entity_id, actor=actor,
                              action=action, since=since, until=until)
    return AuditPage(items=[AuditOut.model_validate(r) for r in page.rows], total=page.total, limit=limit,
                     offset=offset)


@router.get("/audit/verify", response_model=VerifyOut,
            summary="Re-compute the chain and its MACs; check the last checkpoint and every audited row")
def verify(session: SessionDep, user: Supervisor) -> VerifyOut:
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


@router.get("/violations", response_model=list[Finding], summary="Usage-audit findings (公车私用 and the like)")
def violations(
    session: SessionDep, user: Supervisor, since: Moment, until: Moment,
    kind: Annotated[list[FindingKind] | None, Query()] = None,
    agency: Annotated[str | None, Query(max_length=32)] = None,
) -> list[Finding]:
    start, end = since, until
    if end <= start:
        raise ApiError(422, "InvalidInput", "field 'until': is not after since", "until")
    if (end - start).days > 366:
        raise ApiError(422, "InvalidInput", "field 'until': a query spans at most 366 days", "until")
    agency_ids = None if agency is None else [queries.agency_by_code(session, agency).id]
    return usage_audit.findings(session, start=start, end=end, rules=usage_audit.configured_rules(),
                                agency_ids=agency_ids, kinds=kind)


@router.get("/reports/annual", summary="The annual statistics report (年度统计报告)",
            responses={200: {"content": {"application/json": {}, "text/csv": {},
                                         "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {}}}})
def annual(
    session: SessionDep, user: Supervisor, year: Annotated[int, Query(ge=2000, le=2100)],
    jurisdiction: Annotated[str | None, Query(max_length=32)] = None,
    agency: Annotated[str | None, Query(max_length=32)] = None,
    format: ReportFormat = "json",
) -> Response:
    report = reports.annual_report(session, year=year, jurisdiction=jurisdiction, agency=agency)
    if format == "json":
        return Response(report.to_json(), media_type="application/json")
    attachment = {"Content-Disposition": f'attachment; filename="annual-{year}.{format}"'}
    if format == "csv":
        return Response(report.to_csv(), media_type="text/csv; charset=utf-8", headers=attachment)
    return Response(report.to_xlsx(), headers=attachment,
                    media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
