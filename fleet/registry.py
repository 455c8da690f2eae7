"""Jurisdictions, agencies, quotas and plan-year closing: the frame every vehicle is held in."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from fleet import audit, clock, queries, reorganisation  # reorganisation imports this module: call, never from-import
from fleet.audit import Actor
from fleet.db import atomic
from fleet.errors import AlreadyExists, InvalidInput
from fleet.i18n import msg
from fleet.models import Agency, ClosedYear, Jurisdiction, Quota, QuotaChange
from fleet.schemas import AgencyIn, JurisdictionIn, QuotaIn

_LEVEL_ORDER = {"province": 0, "city": 1, "county": 2}


@atomic
def create_jurisdiction(session: Session, actor: Actor, *, data: JurisdictionIn) -> Jurisdiction:
    """Register a province, city or county under its parent, going live on ``live_on`` (default: today)."""
    if session.scalar(sa.select(Jurisdiction.id).where(Jurisdiction.code == data.code)) is not None:
        raise AlreadyExists(msg("jurisdiction {code} is already registered", code=data.code), field="code")
    parent = queries.jurisdiction_by_code(session, data.parent, field="parent") if data.parent else None
    if parent is not None and _LEVEL_ORDER[parent.level] >= _LEVEL_ORDER[data.level]:
        raise InvalidInput(msg("a {level} cannot sit under the {parent_level} {parent}", level=data.level,
                               parent_level=parent.level, parent=parent.code), field="level")
    # Each jurisdiction goes live on its own day (a county may join after its city): registration checks its own.
    # Not a day ahead: until then registration would take a vehicle bought last week as held at go-live.
    today = clock.today()
    if data.live_on is not None and data.live_on > today:
        raise InvalidInput(msg("live_on {day} is after today ({today}): a jurisdiction goes live today or went live "
                               "earlier; fix: create it on its go-live day", day=data.live_on, today=today),
                           field="live_on")
    live_on = data.live_on or today
    jurisdiction = Jurisdiction(code=data.code, name=data.name, level=data.level, parent=parent, live_on=live_on)
    session.add(jurisdiction)
    audit.record(session, actor, "jurisdiction.created", jurisdiction, data.model_dump() | {"live_on": live_on})
    return jurisdiction


@atomic
def create_agency(session: Session, actor: Actor, *, data: AgencyIn) -> Agency:
    """Register an agency (单位) in a jurisdiction, optionally under a parent agency."""
    if session.scalar(sa.select(Agency.id).where(Agency.code == data.code)) is not None:
        raise AlreadyExists(msg("agency {code} is already registered", code=data.code), field="code")
    jurisdiction = queries.jurisdiction_by_code(session, data.jurisdiction)
    parent = queries.agency_by_code(session, data.parent, field="parent") if data.parent else None
    if parent is not None:
        reorganisation.check_active(parent, field="parent")
    agency = Agency(code=data.code, name=data.name, jurisdiction=jurisdiction, parent=parent)
    session.add(agency)
    audit.record(session, actor, "agency.created", agency, data.model_dump())
    return agency


@atomic
def set_quota(session: Session, actor: Actor, *, data: QuotaIn) -> Quota:
    """Set an agency's quota for a category, keeping its history. A cut below the vehicles held is recorded
    (the agency is then over quota and must dispose); it never refuses, because 编制 is decided elsewhere."""
    agency = reorganisation.check_active(queries.agency_by_code(session, data.agency))
    quota = session.scalar(
        sa.select(Quota).where(Quota.agency_id == agency.id, Quota.category == data.category)
        .with_for_update(key_share=True)
    )
    old = quota.limit if quota is not None else None
    if quota is None:
        quota = Quota(agency=agency, category=data.category, limit=data.limit)
        session.add(quota)
    else:
        quota.limit = data.limit
    session.flush()
    session.add(QuotaChange(quota_id=quota.id, old_limit=old, new_limit=data.limit, reason=data.reason,
                            actor=str(actor)))
    held = queries.held_count(session, agency.id, data.category)
    audit.record(session, actor, "quota.changed", quota, {
        "agency": agency.code, "category": data.category, "old_limit": old, "new_limit": data.limit,
        "reason": data.reason, "held": held,
    })
    return quota


@atomic
def close_year(session: Session, actor: Actor, *, jurisdiction: str, year: int) -> ClosedYear:
    """Close a plan year: no plan for it may be created, submitted or approved afterwards."""
    found = queries.jurisdiction_by_code(session, jurisdiction)
    if queries.year_closed(session, found.id, year):
        raise AlreadyExists(msg("{code} has already closed {year}", code=found.code, year=year), field="year")
    closed = ClosedYear(jurisdiction_id=found.id, year=year)
    session.add(closed)
    audit.record(session, actor, "year.closed", closed, {"jurisdiction": found.code, "year": year})
    return closed
