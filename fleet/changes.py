"""The platform's changes, as open pages need them to stay current: read from the audit log.

Every write the platform makes (a booking, an approval, an engine run, a driver's start, a CLI command) appends
audit records in the transaction that makes it, numbered in commit order (``fleet.audit`` takes the chain head
last, so a record with a higher ``seq`` never commits before a lower one). The log is therefore already the one
ordered feed of changes, across processes and on both databases: the live updates poll it instead of keeping a
second record of what changed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from fleet.enums import Role
from fleet.models import Assignment, AuditRecord, Trip, User, Vehicle
from fleet.scopes import AGENCY_ROLES, Scope


@dataclass(frozen=True, slots=True)
class Change:
    """One audit record, with who may hear of it: the agency of the trip or vehicle it is about, and the drivers the
    trip was ever given to."""

    seq: int
    at: datetime
    action: str
    entity: str
    entity_id: str
    agency_id: int | None = None
    driver_ids: frozenset[int] = frozenset()

    def visible_to(self, user: User, scope: Scope | None = None) -> bool:
        """Agency roles hear of their agency's trips only, a driver of the trips it drives; the platform roles of
        everything in their ``scope`` (`fleet.scopes`): a whole-platform caller of all, one for part of the platform
        of its agencies' trips and vehicles (the rest, which names no agency, is the whole platform's)."""
        if user.role in AGENCY_ROLES:
            return self.entity == "trip" and self.agency_id == user.agency_id
        if user.role is Role.driver:
            return self.entity == "trip" and user.driver_id in self.driver_ids
        if scope is None:  # the caller's own scope, as far as it can be told without the database
            return (user.agency_id is None and user.jurisdiction_id is None) or self.agency_id == user.agency_id
        return scope.whole or (self.agency_id is not None and scope.has_agency(self.agency_id))


def head(session: Session) -> int:
    """The highest ``seq`` committed (0 on an empty log)."""
    return session.scalar(sa.select(sa.func.coalesce(sa.func.max(AuditRecord.seq), 0))) or 0


def after(session: Session, seq: int, *, limit: int = 500) -> list[Change]:
    """The changes committed after ``seq``, oldest first, at most ``limit``."""
    records = session.execute(
        sa.select(AuditRecord.seq, AuditRecord.at, AuditRecord.action, AuditRecord.entity, AuditRecord.entity_id)
        .where(AuditRecord.seq > seq).order_by(AuditRecord.seq).limit(limit)).all()
    trip_ids = {int(r.entity_id) for r in records if r.entity == "trip" and r.entity_id.isdigit()}
    vehicle_ids = {int(r.entity_id) for r in records if r.entity == "vehicle" and r.entity_id.isdigit()}
    held_by: dict[int, int] = {}
    if vehicle_ids:
        held_by = {vehicle_id: agency_id for vehicle_id, agency_id in session.execute(
            sa.select(Vehicle.id, Vehicle.agency_id).where(Vehicle.id.in_(vehicle_ids)))}
    agencies: dict[int, int] = {}
    drivers: dict[int, set[int]] = defaultdict(set)
    if trip_ids:
        agencies = dict(session.execute(sa.select(Trip.id, Trip.agency_id).where(Trip.id.in_(trip_ids))).all())
        for held, driver_id in session.execute(
                sa.select(Assignment.trip_id, Assignment.driver_id)
                .where(Assignment.trip_id.in_(trip_ids), Assignment.driver_id.is_not(None))):
            drivers[held].add(driver_id)  # type: ignore[arg-type]  # not None, by the where clause
    found = []
    for r in records:
        trip = int(r.entity_id) if r.entity == "trip" and r.entity_id.isdigit() else None
        vehicle = int(r.entity_id) if r.entity == "vehicle" and r.entity_id.isdigit() else None
        found.append(Change(r.seq, r.at, r.action, r.entity, r.entity_id,
                            agencies.get(trip) if trip is not None else held_by.get(vehicle or 0),
                            frozenset(drivers.get(trip, ())) if trip is not None else frozenset()))
    return found
