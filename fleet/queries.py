"""Every read the services need, in one place. Lookups raise ``NotFound`` naming what was asked for."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy import Select
from sqlalchemy.orm import Session, selectinload

from fleet.enums import Category, PlanStatus, Priority, TripStatus, VehicleStatus
from fleet.errors import NotFound
from fleet.models import (
    Agency,
    Assignment,
    AuditRecord,
    ClosedYear,
    Driver,
    Jurisdiction,
    Plan,
    PlanLine,
    Quota,
    QuotaChange,
    Transfer,
    Trip,
    Vehicle,
    plan_line_replacements,
)
from fleet.policy import Policy, PolicyBook
from fleet.settings import get_settings

T = TypeVar("T")


def _one(session: Session, stmt: Select[T], *, lock: bool, missing: str, field: str) -> T:
    found = session.scalar(stmt.with_for_update() if lock else stmt)
    if found is None:
        raise NotFound(missing, field=field)
    return found


def jurisdiction_by_code(session: Session, code: str, *, field: str = "jurisdiction") -> Jurisdiction:
    return _one(session, sa.select(Jurisdiction).where(Jurisdiction.code == code), lock=False,
                missing=f"unknown jurisdiction {code!r}", field=field)


def agency_by_code(session: Session, code: str, *, field: str = "agency") -> Agency:
    return _one(session, sa.select(Agency).where(Agency.code == code), lock=False,
                missing=f"unknown agency {code!r}", field=field)


def vehicle(session: Session, vehicle_id: int, *, lock: bool = False) -> Vehicle:
    return _one(session, sa.select(Vehicle).where(Vehicle.id == vehicle_id), lock=lock,
                missing=f"unknown vehicle id {vehicle_id}", field="vehicle_id")


def vehicle_by_plate(session: Session, plate: str, *, field: str = "plate") -> Vehicle:
    return _one(session, sa.select(Vehicle).where(Vehicle.plate == plate), lock=False,
                missing=f"no vehicle with plate {plate}", field=field)


def plan(session: Session, plan_id: int, *, lock: bool = False) -> Plan:
    return _one(session, sa.select(Plan).where(Plan.id == plan_id), lock=lock,
                missing=f"unknown plan id {plan_id}", field="plan_id")


def plan_line(session: Session, line_id: int, *, lock: bool = False) -> PlanLine:
    return _one(session, sa.select(PlanLine).where(PlanLine.id == line_id), lock=lock,
                missing=f"unknown plan line id {line_id}", field="plan_line_id")


def jurisdiction_chain(session: Session, jurisdiction: Jurisdiction) -> list[Jurisdiction]:
    """The jurisdiction and its ancestors, root (province) first."""
    chain = [jurisdiction]
    while chain[-1].parent_id is not None:
        parent = session.get(Jurisdiction, chain[-1].parent_id)
        if parent is None or parent in chain:
            break
        chain.append(parent)
    return chain[::-1]


def jurisdiction_subtree_ids(session: Session, jurisdiction: Jurisdiction) -> list[int]:
    ids, frontier = [jurisdiction.id], [jurisdiction.id]
    while frontier:
        frontier = list(session.scalars(sa.select(Jurisdiction.id).where(Jurisdiction.parent_id.in_(frontier))))
        ids.extend(frontier)
    return ids


def policy_for(session: Session, jurisdiction: Jurisdiction, policies: PolicyBook | None = None) -> Policy:
    book = policies if policies is not None else default_policies()
    return book.for_chain([j.code for j in jurisdiction_chain(session, jurisdiction)])


def default_policies() -> PolicyBook:
    """The policy book in ``GONGCHE_POLICY_DIR`` (loaded once per folder)."""
    return _policy_book(get_settings().policy_dir.resolve())


@lru_cache
def _policy_book(directory: Path) -> PolicyBook:
    return PolicyBook.from_dir(directory)


def quota_limit(session: Session, agency_id: int, category: Category, *, lock: bool = False) -> int:
    """The agency's quota for the category; an agency without a quota row may hold none (编制 0)."""
    stmt = sa.select(Quota).where(Quota.agency_id == agency_id, Quota.category == category)
    quota = session.scalar(stmt.with_for_update() if lock else stmt)
    return quota.limit if quota is not None else 0


def held_count(session: Session, agency_id: int, category: Category) -> int:
    """Vehicles on the agency's books in the category: every status but disposed (sealed ones still count)."""
    return session.scalar(
        sa.select(sa.func.count()).select_from(Vehicle).where(
            Vehicle.agency_id == agency_id, Vehicle.category == category, Vehicle.status != VehicleStatus.disposed
        )
    ) or 0


def committed_count(session: Session, agency_id: int, category: Category, *, exclude_plan: int | None = None) -> int:
    """Net change already approved but not yet carried out: remaining additions minus pending disposals."""
    remaining = sa.select(sa.func.coalesce(sa.func.sum(PlanLine.count - PlanLine.acquired), 0)).join(Plan).where(
        Plan.agency_id == agency_id, Plan.status == PlanStatus.approved, PlanLine.category == category,
        Plan.id != (exclude_plan or -1),
    )
    pending_disposals = (
        sa.select(sa.func.count())
        .select_from(plan_line_replacements)
        .join(PlanLine, PlanLine.id == plan_line_replacements.c.plan_line_id)
        .join(Plan)
        .join(Vehicle, Vehicle.id == plan_line_replacements.c.vehicle_id)
        .where(
            Plan.agency_id == agency_id, Plan.status == PlanStatus.approved, Vehicle.category == category,
            Vehicle.status != VehicleStatus.disposed, Plan.id != (exclude_plan or -1),
        )
    )
    return int(session.scalar(remaining) or 0) - int(session.scalar(pending_disposals) or 0)


def approved_lines_in_year(session: Session, jurisdiction_id: int, year: int) -> Sequence[PlanLine]:
    return session.scalars(
        sa.select(PlanLine).join(Plan).join(Agency).where(
            Agency.jurisdiction_id == jurisdiction_id, Plan.year == year, Plan.status == PlanStatus.approved
        )
    ).all()


def year_closed(session: Session, jurisdiction_id: int, year: int) -> bool:
    return session.scalar(
        sa.select(sa.func.count()).select_from(ClosedYear).where(
            ClosedYear.jurisdiction_id == jurisdiction_id, ClosedYear.year == year
        )
    ) != 0


def replacing_line(session: Session, vehicle_id: int, *, exclude_plan: int | None = None) -> PlanLine | None:
    """A live (not rejected) plan line that already plans to replace the vehicle."""
    return session.scalar(
        sa.select(PlanLine).join(plan_line_replacements).join(Plan).where(
            plan_line_replacements.c.vehicle_id == vehicle_id,
            Plan.status != PlanStatus.rejected,
            Plan.id != (exclude_plan or -1),
        )
    )


def holders_on(session: Session, days: Mapping[Vehicle, date]) -> dict[int, int]:
    """The agency that held each vehicle at the end of its day: its holder now, with the transfers made after
    that day undone, newest first."""
    holder = {v.id: v.agency_id for v in days}
    day_of = {v.id: day for v, day in days.items()}
    transfers = session.execute(
        sa.select(Transfer.vehicle_id, Transfer.transferred_on, Transfer.from_agency_id)
        .where(Transfer.vehicle_id.in_(list(holder)))
        .order_by(Transfer.transferred_on.desc(), Transfer.id.desc())
    ).all()
    for vehicle_id, transferred_on, from_agency in transfers:
        if transferred_on > day_of[vehicle_id]:
            holder[vehicle_id] = from_agency
    return holder


def vehicles_touching(session: Session, agency_ids: Sequence[int]) -> Sequence[Vehicle]:
    """Vehicles held now by one of the agencies, or moved to or from one of them at some time."""
    moved = sa.select(Transfer.vehicle_id).where(
        Transfer.from_agency_id.in_(agency_ids) | Transfer.to_agency_id.in_(agency_ids))
    return session.scalars(sa.select(Vehicle).where(Vehicle.agency_id.in_(agency_ids) | Vehicle.id.in_(moved))
                           .order_by(Vehicle.plate)).all()


def quota_limits_on(session: Session, agency_ids: Sequence[int], moment: datetime) -> dict[tuple[int, Category], int]:
    """Each (agency, category) quota as it stood at ``moment``, read off the quota history."""
    rows = session.execute(
        sa.select(Quota.agency_id, Quota.category, QuotaChange.new_limit)
        .join(QuotaChange, QuotaChange.quota_id == Quota.id)
        .where(Quota.agency_id.in_(agency_ids), QuotaChange.changed_at <= moment)
        .order_by(QuotaChange.changed_at, QuotaChange.id)
    ).all()
    return {(agency_id, category): limit for agency_id, category, limit in rows}


# --- the trip's day -------------------------------------------------------------------------------------------


def trip(session: Session, trip_id: int, *, lock: bool = False) -> Trip:
    found = session.get(Trip, trip_id, with_for_update=lock)
    if found is None:
        raise NotFound(f"unknown trip id {trip_id}", field="trip_id")
    return found


def active_assignment(session: Session, trip_id: int) -> Assignment | None:
    """The assignment that holds a vehicle for the trip now, if any."""
    return session.scalar(sa.select(Assignment).where(Assignment.trip_id == trip_id, Assignment.active))


def assignments_between(session: Session, start: datetime, end: datetime,
                        vehicle_ids: Sequence[int] | None = None) -> list[Assignment]:
    """Active assignments overlapping [start, end), by vehicle and time."""
    query = (sa.select(Assignment).options(selectinload(Assignment.trip), selectinload(Assignment.driver))
             .where(Assignment.active, Assignment.starts_at < end, Assignment.ends_at > start))
    if vehicle_ids is not None:
        query = query.where(Assignment.vehicle_id.in_(vehicle_ids))
    return list(session.scalars(query.order_by(Assignment.vehicle_id, Assignment.starts_at)))


def dispatchable_vehicles(session: Session) -> list[Vehicle]:
    """Vehicles that can be dispatched: active (not sealed, disposed of or in the workshop), with a home yard."""
    query = (
        sa.select(Vehicle)
        .where(Vehicle.status == VehicleStatus.active, Vehicle.home_lat.is_not(None))
        .order_by(Vehicle.plate)
    )
    return list(session.scalars(query))


def active_drivers(session: Session) -> list[Driver]:
    return list(session.scalars(sa.select(Driver).where(Driver.active)))


# --- lists, a page at a time --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list and the number of rows the whole list has."""

    rows: list[T]
    total: int


def _page(session: Session, query: Select[T], *order: Any, limit: int | None, offset: int) -> Page[T]:
    total = session.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0
    ordered = query.order_by(*order).offset(offset)
    if limit is not None:
        ordered = ordered.limit(limit)
    return Page(list(session.scalars(ordered)), total)


def trips_page(session: Session, *, limit: int, offset: int = 0, agency_id: int | None = None,
               driver_id: int | None = None, status: TripStatus | None = None, priority: Priority | None = None,
               agency: str | None = None, pickup_from: datetime | None = None,
               pickup_to: datetime | None = None) -> Page[Trip]:
    """Trips by earliest pickup; ``agency_id`` and ``driver_id`` scope the list (an agency's, a driver's own)."""
    query = sa.select(Trip)
    if agency_id is not None:
        query = query.where(Trip.agency_id == agency_id)
    if driver_id is not None:
        query = query.join(Assignment, sa.and_(Assignment.trip_id == Trip.id, Assignment.active)).where(
            Assignment.driver_id == driver_id)
    if status is not None:
        query = query.where(Trip.status == status)
    if priority is not None:
        query = query.where(Trip.priority == priority)
    if agency is not None:
        query = query.join(Agency, Agency.id == Trip.agency_id).where(Agency.code == agency)
    if pickup_from is not None:
        query = query.where(Trip.earliest_pickup >= pickup_from)
    if pickup_to is not None:
        query = query.where(Trip.earliest_pickup < pickup_to)
    return _page(session, query, Trip.earliest_pickup, Trip.id, limit=limit, offset=offset)


def vehicles_page(session: Session, *, limit: int, offset: int = 0, agency: str | None = None,
                  status: VehicleStatus | None = None, category: Category | None = None) -> Page[Vehicle]:
    """Vehicles by plate."""
    query = sa.select(Vehicle).join(Agency)
    if agency is not None:
        query = query.where(Agency.code == agency)
    if status is not None:
        query = query.where(Vehicle.status == status)
    if category is not None:
        query = query.where(Vehicle.category == category)
    return _page(session, query, Vehicle.plate, limit=limit, offset=offset)


def agencies_page(session: Session, *, limit: int | None = None, offset: int = 0) -> Page[Agency]:
    """Agencies by code."""
    return _page(session, sa.select(Agency), Agency.code, limit=limit, offset=offset)


def quotas_page(session: Session, *, limit: int | None = None, offset: int = 0) -> Page[Quota]:
    """Quotas by agency code, then category."""
    return _page(session, sa.select(Quota).join(Agency), Agency.code, Quota.category, limit=limit, offset=offset)


def drivers_page(session: Session, *, limit: int | None = None, offset: int = 0) -> Page[Driver]:
    """Drivers by id."""
    return _page(session, sa.select(Driver), Driver.id, limit=limit, offset=offset)


def audit_page(session: Session, *, limit: int, offset: int = 0, entity: str | None = None,
               entity_id: str | None = None, actor: str | None = None, action: str | None = None,
               since: datetime | None = None, until: datetime | None = None) -> Page[AuditRecord]:
    """Audit records in chain order; ``actor`` matches a user name with or without its ``(role)``."""
    query = sa.select(AuditRecord)
    if entity is not None:
        query = query.where(AuditRecord.entity == entity)
    if entity_id is not None:
        query = query.where(AuditRecord.entity_id == entity_id)
    if actor is not None:
        query = query.where(sa.or_(AuditRecord.actor == actor, AuditRecord.actor.startswith(f"{actor} (")))
    if action is not None:
        query = query.where(AuditRecord.action == action)
    if since is not None:
        query = query.where(AuditRecord.at >= since)
    if until is not None:
        query = query.where(AuditRecord.at < until)
    return _page(session, query, AuditRecord.seq, limit=limit, offset=offset)
