"""Every read the services need, in one place. Lookups raise ``NotFound`` naming what was asked for."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Generic, Literal, Protocol, TypeVar, get_args

import sqlalchemy as sa
from sqlalchemy import Select
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.interfaces import ORMOption

from fleet.enums import Category, CostKind, PlanStatus, Powertrain, Priority, RunStatus, TripStatus, VehicleStatus
from fleet.errors import NotFound
from fleet.i18n import msg
from fleet.models import (
    Agency,
    Assignment,
    AuditRecord,
    ClosedYear,
    CostEntry,
    DispatchRun,
    Driver,
    Jurisdiction,
    Plan,
    PlanLine,
    Quota,
    QuotaChange,
    RentalProvider,
    Transfer,
    Trip,
    Vehicle,
    plan_line_replacements,
)
from fleet.policy import Policy, PolicyBook
from fleet.settings import get_settings
from fleet.usage_audit.evidence import StatusChange, status_log

T = TypeVar("T")


def _one(session: Session, stmt: Select[T], *, lock: bool, missing: str, field: str) -> T:
    found = session.scalar(stmt.with_for_update(key_share=True) if lock else stmt)
    if found is None:
        raise NotFound(missing, field=field)
    return found


def jurisdiction_by_code(session: Session, code: str, *, field: str = "jurisdiction") -> Jurisdiction:
    return _one(session, sa.select(Jurisdiction).where(Jurisdiction.code == code), lock=False,
                missing=msg("unknown jurisdiction {code!r}", code=code), field=field)


def agency_by_code(session: Session, code: str, *, field: str = "agency", lock: bool = False) -> Agency:
    return _one(session, sa.select(Agency).where(Agency.code == code), lock=lock,
                missing=msg("unknown agency {code!r}", code=code), field=field)


def vehicle(session: Session, vehicle_id: int, *, lock: bool = False) -> Vehicle:
    return _one(session, sa.select(Vehicle).where(Vehicle.id == vehicle_id), lock=lock,
                missing=msg("unknown vehicle id {vehicle_id}", vehicle_id=vehicle_id), field="vehicle_id")


def vehicle_by_plate(session: Session, plate: str, *, field: str = "plate") -> Vehicle:
    return _one(session, sa.select(Vehicle).where(Vehicle.plate == plate), lock=False,
                missing=msg("no vehicle with plate {plate}", plate=plate), field=field)


def plan(session: Session, plan_id: int, *, lock: bool = False) -> Plan:
    return _one(session, sa.select(Plan).where(Plan.id == plan_id), lock=lock,
                missing=msg("unknown plan id {plan_id}", plan_id=plan_id), field="plan_id")


def plan_line(session: Session, line_id: int, *, lock: bool = False) -> PlanLine:
    return _one(session, sa.select(PlanLine).where(PlanLine.id == line_id), lock=lock,
                missing=msg("unknown plan line id {line_id}", line_id=line_id), field="plan_line_id")


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
    quota = session.scalar(stmt.with_for_update(key_share=True) if lock else stmt)
    return quota.limit if quota is not None else 0


def _under_quota() -> sa.ColumnElement[bool]:
    """Vehicles that count against their agency's quota: on the books in every status but disposed (sealed ones
    still count), and never a rental car (社会化租赁: hired, not held)."""
    return sa.and_(Vehicle.status != VehicleStatus.disposed, Vehicle.under_quota)


def held_count(session: Session, agency_id: int, category: Category) -> int:
    """Vehicles on the agency's books in the category that count against its quota (`_under_quota`)."""
    return session.scalar(
        sa.select(sa.func.count()).select_from(Vehicle).where(
            Vehicle.agency_id == agency_id, Vehicle.category == category, _under_quota())
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
            Vehicle.under_quota,  # a hired car's going frees no quota
        )
    )
    return int(session.scalar(remaining) or 0) - int(session.scalar(pending_disposals) or 0)


def approved_lines_in_year(session: Session, jurisdiction_ids: Collection[int], year: int) -> Sequence[PlanLine]:
    """The approved plan lines of ``year`` of the agencies in the jurisdictions (a province's subtree, say)."""
    return session.scalars(
        sa.select(PlanLine).join(Plan).join(Agency).where(
            Agency.jurisdiction_id.in_(jurisdiction_ids), Plan.year == year, Plan.status == PlanStatus.approved
        ).order_by(PlanLine.id)
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


def lock_in_order(session: Session, *, vehicles: Collection[int] = (), trips: Collection[int] = (),
                  drivers: Collection[int] = ()) -> None:
    """Lock rows in the house's one order: vehicles, then trips, then drivers, each kind by id ascending.

    Every row lock the fleet takes is FOR NO KEY UPDATE on PostgreSQL (``with_for_update(key_share=True)``;
    `tests/fleet/test_row_locks.py` holds every writer to it). No writer deletes or re-keys a row it locks, so the
    weaker lock excludes writers as FOR UPDATE would, while rows that only refer to the locked one may be inserted
    meanwhile: a terminal's fixes for a car a dispatcher is assigning (a foreign key's check takes KEY SHARE, which
    FOR UPDATE makes wait). One strength throughout also means no transaction strengthens a lock it holds, which
    would wait on such inserts.

    A writer that changes more than one of these kinds takes its locks here first (or in this same order), after
    any agency, quota or plan line it needs: sealing a car locks it and then its trips, so assigning a trip to it,
    starting or completing it does too. Two writers that each held what the other wanted next would wait on each
    other in a circle, which PostgreSQL ends by aborting one (a deadlock, answered 503). The rows' values are read
    again by whatever locks them next (`fleet.db`: a locked read is fresh); SQLite's one write lock needs none of
    this, and takes it as a plain read."""
    for model, ids in ((Vehicle, vehicles), (Trip, trips), (Driver, drivers)):
        wanted = sorted({int(i) for i in ids})
        if wanted:
            session.execute(sa.select(model.id).where(model.id.in_(wanted)).order_by(model.id)
                            .with_for_update(key_share=True))


def trip(session: Session, trip_id: int, *, lock: bool = False) -> Trip:
    found = session.get(Trip, trip_id, with_for_update={"key_share": True} if lock else None)
    if found is None:
        raise NotFound(msg("unknown trip id {trip_id}", trip_id=trip_id), field="trip_id")
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


def _window(session: Session, query: Select[Any], *order: Any, limit: int | None, offset: int,
            options: Sequence[ORMOption] = ()) -> tuple[Select[Any], int]:
    """The query's rows in ``order`` from ``offset``, at most ``limit`` of them, and how many there are in all."""
    total = session.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0
    ordered = query.options(*options).order_by(*order).offset(offset)
    if limit is not None:
        ordered = ordered.limit(limit)
    return ordered, total


def _page(session: Session, query: Select[T], *order: Any, limit: int | None, offset: int,
          options: Sequence[ORMOption] = ()) -> Page[T]:
    ordered, total = _window(session, query, *order, limit=limit, offset=offset, options=options)
    return Page(list(session.scalars(ordered)), total)


def contains_text(column: sa.SQLColumnExpression[str], text: str) -> sa.ColumnElement[bool]:
    """``text`` anywhere in ``column``, case-insensitively, ``%`` and ``_`` taken literally; the same on SQLite and
    PostgreSQL for Latin letters (SQLite folds only those; other scripts, Chinese included, match as written)."""
    return sa.func.lower(column).contains(text.lower(), autoescape=True)


# What `TripOut` reads of a trip, loaded with the list in a fixed number of queries rather than one per trip.
TRIP_LOADS: tuple[ORMOption, ...] = (
    selectinload(Trip.agency), selectinload(Trip.requested_by),
    selectinload(Trip.assignment).selectinload(Assignment.vehicle),
    selectinload(Trip.assignment).selectinload(Assignment.driver), selectinload(Trip.rental_provider),
)

TripSort = Literal["pickup", "-pickup", "created", "-created", "priority", "id", "-id"]
TRIP_SORTS: tuple[TripSort, ...] = get_args(TripSort)


def priority_rank(column: sa.SQLColumnExpression[Priority]) -> sa.ColumnElement[int]:
    """The priority's place in `Priority`'s order (emergency 0): sorting by it puts emergencies first."""
    return sa.case(*((column == p, rank) for rank, p in enumerate(Priority)), else_=len(Priority))


def _trip_order(sort: TripSort) -> tuple[Any, ...]:
    return {
        "pickup": (Trip.earliest_pickup, Trip.id),
        "-pickup": (Trip.earliest_pickup.desc(), Trip.id.desc()),
        "created": (Trip.created_at, Trip.id),
        "-created": (Trip.created_at.desc(), Trip.id.desc()),
        "priority": (priority_rank(Trip.priority), Trip.earliest_pickup, Trip.id),
        "id": (Trip.id,),
        "-id": (Trip.id.desc(),),
    }[sort]


@dataclass(frozen=True)
class TripFilter:
    """Which trips a list holds. ``scope_agency_id`` and ``scope_driver_id`` are the caller's reach (an agency's
    trips, a driver's own); the rest are the filters the caller chose. ``since``/``until`` bound the earliest
    pickup, [since, until); ``q`` is text in the purpose, either address or the assigned vehicle's plate."""

    statuses: tuple[TripStatus, ...] = ()
    priority: Priority | None = None
    agency: str | None = None
    vehicle_id: int | None = None
    driver_id: int | None = None
    requested_by_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    q: str | None = None
    scope_agency_id: int | None = None
    scope_driver_id: int | None = None
    scope_agency_ids: frozenset[int] | None = None  # a platform role's scope (fleet.scopes); None: every agency


def _held(*conditions: sa.ColumnElement[bool]) -> sa.Exists:
    """The trip's active assignment meets ``conditions``."""
    return sa.exists().where(Assignment.trip_id == Trip.id, Assignment.active, *conditions)


def trips_query(where: TripFilter) -> Select[Trip]:
    query = sa.select(Trip)
    if where.scope_agency_id is not None:
        query = query.where(Trip.agency_id == where.scope_agency_id)
    if where.scope_agency_ids is not None:
        query = query.where(Trip.agency_id.in_(sorted(where.scope_agency_ids)))
    if where.scope_driver_id is not None:
        query = query.where(_held(Assignment.driver_id == where.scope_driver_id))
    if where.statuses:
        query = query.where(Trip.status.in_(where.statuses))
    if where.priority is not None:
        query = query.where(Trip.priority == where.priority)
    if where.agency is not None:
        query = query.where(Trip.agency_id.in_(sa.select(Agency.id).where(Agency.code == where.agency)))
    if where.vehicle_id is not None:
        query = query.where(_held(Assignment.vehicle_id == where.vehicle_id))
    if where.driver_id is not None:
        query = query.where(_held(Assignment.driver_id == where.driver_id))
    if where.requested_by_id is not None:
        query = query.where(Trip.requested_by_id == where.requested_by_id)
    if where.since is not None:
        query = query.where(Trip.earliest_pickup >= where.since)
    if where.until is not None:
        query = query.where(Trip.earliest_pickup < where.until)
    if where.q:
        plated = sa.select(Vehicle.id).where(contains_text(Vehicle.plate, where.q))
        query = query.where(sa.or_(
            contains_text(Trip.purpose, where.q), contains_text(Trip.pickup_address, where.q),
            contains_text(Trip.dropoff_address, where.q), _held(Assignment.vehicle_id.in_(plated))))
    return query


def trips_page(session: Session, where: TripFilter, *, sort: TripSort = "pickup", limit: int,
               offset: int = 0) -> Page[Trip]:
    """A page of the trips ``where`` selects, in ``sort`` order, and how many there are."""
    return _page(session, trips_query(where), *_trip_order(sort), limit=limit, offset=offset, options=TRIP_LOADS)


def all_trips(session: Session, where: TripFilter, *, sort: TripSort = "pickup",
              batch: int = 500) -> Iterator[Trip]:
    """Every trip ``where`` selects, in ``sort`` order, read ``batch`` at a time (an export's rows)."""
    query = trips_query(where).options(*TRIP_LOADS).order_by(*_trip_order(sort))
    yield from session.scalars(query.execution_options(yield_per=batch))


def vehicles_page(session: Session, *, limit: int, offset: int = 0, agency: str | None = None,
                  status: VehicleStatus | None = None, category: Category | None = None,
                  powertrain: Powertrain | None = None, q: str | None = None,
                  agency_ids: Collection[int] | None = None) -> Page[Vehicle]:
    """Vehicles (of ``agency_ids``, a caller's scope; None: all) by plate; ``q`` is text in the plate or the
    model."""
    query = sa.select(Vehicle).join(Agency).where(of_agencies(Vehicle.agency_id, agency_ids))
    if agency is not None:
        query = query.where(Agency.code == agency)
    if status is not None:
        query = query.where(Vehicle.status == status)
    if category is not None:
        query = query.where(Vehicle.category == category)
    if powertrain is not None:
        query = query.where(Vehicle.powertrain == powertrain)
    if q:
        query = query.where(sa.or_(contains_text(Vehicle.plate, q), contains_text(Vehicle.model, q)))
    return _page(session, query, Vehicle.plate, limit=limit, offset=offset, options=(selectinload(Vehicle.agency),))


def plans_page(session: Session, *, limit: int, offset: int = 0, agency: str | None = None, year: int | None = None,
               status: PlanStatus | None = None, agency_ids: Collection[int] | None = None) -> Page[Plan]:
    """Plans (of ``agency_ids``, a caller's scope; None: all), newest year first, then by id; with their agency and
    lines (and the lines' replaced vehicles)."""
    query = sa.select(Plan).join(Agency).where(of_agencies(Plan.agency_id, agency_ids))
    if agency is not None:
        query = query.where(Agency.code == agency)
    if year is not None:
        query = query.where(Plan.year == year)
    if status is not None:
        query = query.where(Plan.status == status)
    return _page(session, query, Plan.year.desc(), Plan.id, limit=limit, offset=offset,
                 options=(selectinload(Plan.agency), selectinload(Plan.lines).selectinload(PlanLine.replaces)))


def agencies_page(session: Session, *, limit: int | None = None, offset: int = 0,
                  agency_ids: Collection[int] | None = None) -> Page[Agency]:
    """Agencies (of ``agency_ids``, a caller's scope; None: all) by code."""
    return _page(session, sa.select(Agency).where(of_agencies(Agency.id, agency_ids)), Agency.code, limit=limit,
                 offset=offset)


@dataclass(frozen=True)
class QuotaUse:
    """An agency's quota in a category against the vehicles it holds there (`held_count`). ``limit`` is 0 where
    the agency has no quota row: it may then hold none, and every one held is over."""

    agency_id: int
    agency: str
    category: Category
    limit: int
    held: int


def quota_use_page(session: Session, *, limit: int | None = None, offset: int = 0,
                   agency_ids: Collection[int] | None = None) -> Page[QuotaUse]:
    """Every quota (of ``agency_ids``; None: all), and every agency and category holding vehicles without one, with
    the vehicles held, by agency code, then category: in a fixed number of queries, whatever the page's size."""
    keys = sa.union(sa.select(Quota.agency_id, Quota.category),
                    sa.select(Vehicle.agency_id, Vehicle.category).where(_under_quota())).subquery()
    held = (sa.select(Vehicle.agency_id, Vehicle.category, sa.func.count().label("held")).where(_under_quota())
            .group_by(Vehicle.agency_id, Vehicle.category).subquery())
    query = (
        sa.select(keys.c.agency_id, Agency.code, keys.c.category, sa.func.coalesce(Quota.limit, 0),
                  sa.func.coalesce(held.c.held, 0))
        .select_from(keys).join(Agency, Agency.id == keys.c.agency_id)
        .outerjoin(Quota, sa.and_(Quota.agency_id == keys.c.agency_id, Quota.category == keys.c.category))
        .outerjoin(held, sa.and_(held.c.agency_id == keys.c.agency_id, held.c.category == keys.c.category))
        .where(of_agencies(keys.c.agency_id, agency_ids))
    )
    ordered, total = _window(session, query, Agency.code, keys.c.category, limit=limit, offset=offset)
    return Page([QuotaUse(agency_id, code, Category(category), limit_, count)
                 for agency_id, code, category, limit_, count in session.execute(ordered)], total)


def drivers_page(session: Session, *, limit: int | None = None, offset: int = 0,
                 agency_ids: Collection[int] | None = None) -> Page[Driver]:
    """Drivers by id: those of ``agency_ids`` (a caller's scope) and the platform pool's; None: all."""
    query = sa.select(Driver)
    if agency_ids is not None:
        query = query.where(sa.or_(Driver.agency_id.is_(None), of_agencies(Driver.agency_id, agency_ids)))
    return _page(session, query, Driver.id, limit=limit, offset=offset, options=(selectinload(Driver.agency),))


def costs_page(session: Session, vehicle_id: int, *, since: date | None = None, until: date | None = None,
               kinds: Collection[CostKind] = (), limit: int | None = None, offset: int = 0) -> Page[CostEntry]:
    """A vehicle's cost ledger, newest first, between ``since`` and ``until`` (inclusive), of ``kinds`` (all)."""
    query = sa.select(CostEntry).where(CostEntry.vehicle_id == vehicle_id)
    if since is not None:
        query = query.where(CostEntry.incurred_on >= since)
    if until is not None:
        query = query.where(CostEntry.incurred_on <= until)
    if kinds:
        query = query.where(CostEntry.kind.in_(sorted(set(kinds))))
    return _page(session, query, CostEntry.incurred_on.desc(), CostEntry.id.desc(), limit=limit, offset=offset)


def audit_page(session: Session, *, limit: int, offset: int = 0, entity: str | None = None,
               entity_id: str | None = None, actor: str | None = None, action: str | None = None,
               since: datetime | None = None, until: datetime | None = None,
               within: sa.ColumnElement[bool] | None = None) -> Page[AuditRecord]:
    """Audit records in chain order; ``actor`` matches a user name with or without its ``(role)``; ``within`` is
    the caller's scope (`fleet.scopes.audit_filter`)."""
    query = sa.select(AuditRecord)
    if within is not None:
        query = query.where(within)
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


def dispatch_runs_page(session: Session, *, limit: int, offset: int = 0, status: RunStatus | None = None,
                       actors: Collection[str] | None = None) -> Page[DispatchRun]:
    """Dispatch runs (made by ``actors``, a caller's scope; None: all), newest first; a run is listed (``running``)
    from the moment it claims its window."""
    query = sa.select(DispatchRun)
    if actors is not None:
        query = query.where(DispatchRun.actor.in_(sorted(actors)))
    if status is not None:
        query = query.where(DispatchRun.status == status)
    return _page(session, query, DispatchRun.id.desc(), limit=limit, offset=offset)


def dispatch_run(session: Session, run_id: int) -> DispatchRun:
    return _one(session, sa.select(DispatchRun).where(DispatchRun.id == run_id), lock=False,
                missing=msg("unknown dispatch run id {run_id}", run_id=run_id), field="run_id")


# --- the calendar and the day board -------------------------------------------------------------------------------

CalendarKind = Literal["assignment", "sealed", "workshop"]
# A vehicle status that keeps it off the road, as the calendar shows the period it lasts.
_PERIOD_OF: dict[VehicleStatus, CalendarKind] = {VehicleStatus.sealed: "sealed",
                                                VehicleStatus.maintenance: "workshop"}


class OnTheBooks(Protocol):
    """What a calendar needs of a vehicle: a `Vehicle`, or a row of `board_vehicles`."""

    @property
    def id(self) -> int: ...

    @property
    def status(self) -> VehicleStatus: ...


@dataclass(frozen=True)
class CalendarItem:
    """One block of a vehicle's calendar: an assignment (with its trip's facts), or a sealed or workshop period.

    ``id`` is ``a<assignment id>``, or ``s``/``w`` and the audit seq of the move that began the period (``s0v<vehicle
    id>`` for a vehicle whose status predates its history in the log)."""

    id: str
    vehicle_id: int
    kind: CalendarKind
    start: datetime
    end: datetime
    trip_id: int | None = None
    priority: Priority | None = None
    status: TripStatus | None = None
    purpose: str | None = None
    driver: str | None = None
    agency: str | None = None  # the trip's agency (code)


def _status_periods(vehicle: OnTheBooks, changes: Sequence[StatusChange], start: datetime,
                    end: datetime) -> list[CalendarItem]:
    """The vehicle's sealed and workshop periods read off its status history, clipped to [start, end); a period
    still open runs to ``end``."""
    found: list[tuple[CalendarKind, str, datetime | None, datetime | None]] = []
    current: tuple[CalendarKind, str, datetime | None] | None = None
    for change in changes:
        kind = None if change.disposal or change.after is None else _PERIOD_OF.get(change.after)
        if current is not None and kind != current[0]:
            found.append((*current, change.at))
            current = None
        if kind is not None and current is None:
            current = (kind, f"{kind[0]}{change.seq}", change.at)
    if current is None and not changes and vehicle.status in _PERIOD_OF:  # put there before the log knew it
        kind = _PERIOD_OF[vehicle.status]
        current = (kind, f"{kind[0]}0v{vehicle.id}", None)
    if current is not None:
        found.append((*current, None))
    return [CalendarItem(item_id, vehicle.id, kind, max(begins or start, start), min(ends or end, end))
            for kind, item_id, begins, ends in found
            if (begins is None or begins < end) and (ends is None or ends > start)]


def calendar(session: Session, vehicles: Sequence[OnTheBooks], start: datetime,
             end: datetime) -> list[CalendarItem]:
    """The vehicles' calendars over [start, end), by vehicle then start: their active assignments overlapping the
    window (as booked, with their trip's facts and driver) and their sealed and workshop periods (clipped to the
    window). Two queries whatever the number of vehicles (one more per 2,000 of them), read as plain rows."""
    ids = [v.id for v in vehicles]
    items: list[CalendarItem] = []
    for chunk in _chunks(ids):
        held = session.execute(
            sa.select(Assignment.id, Assignment.vehicle_id, Assignment.starts_at, Assignment.ends_at,
                      Assignment.trip_id, Trip.priority, Trip.status, Trip.purpose, Driver.name, Agency.code)
            .join(Trip, Trip.id == Assignment.trip_id).join(Agency, Agency.id == Trip.agency_id)
            .outerjoin(Driver, Driver.id == Assignment.driver_id)
            .where(Assignment.active, Assignment.vehicle_id.in_(chunk), Assignment.starts_at < end,
                   Assignment.ends_at > start))
        items.extend(CalendarItem(f"a{held_id}", vehicle_id, "assignment", starts, ends, trip_id, priority, status,
                                  purpose, driver, code)
                     for held_id, vehicle_id, starts, ends, trip_id, priority, status, purpose, driver, code in held)
    moves = status_log(session, ids)
    for vehicle in vehicles:
        items.extend(_status_periods(vehicle, moves.get(vehicle.id, []), start, end))
    order = {vehicle_id: n for n, vehicle_id in enumerate(ids)}
    return sorted(items, key=lambda i: (order[i.vehicle_id], i.start, i.id))


def _chunks(ids: Sequence[int], size: int = 2000) -> Iterator[list[int]]:
    for i in range(0, len(ids), size):
        yield list(ids[i:i + size])


# A vehicle as `VehicleOut` reads it, as one row: what the board lists, without an ORM object per vehicle.
VEHICLE_COLUMNS = (Vehicle.id, Vehicle.plate, Vehicle.vin, Vehicle.model, Agency.code.label("agency"),
                   Vehicle.category, Vehicle.powertrain, Vehicle.seats, Vehicle.price_cny, Vehicle.range_km,
                   Vehicle.acquired_on, Vehicle.odometer_km, Vehicle.status, Vehicle.marking, Vehicle.home_lat,
                   Vehicle.home_lon, Vehicle.source,
                   sa.select(RentalProvider.code).where(RentalProvider.id == Vehicle.rental_provider_id)
                   .scalar_subquery().label("rental_provider"))


def of_agencies(column: Any, agency_ids: Collection[int] | None) -> sa.ColumnElement[bool]:
    """Rows whose agency ``column`` is one of ``agency_ids`` (a caller's scope, fleet.scopes); None: every row."""
    return sa.true() if agency_ids is None else column.in_(sorted(agency_ids))


def board_vehicles(session: Session, agency_ids: Collection[int] | None = None) -> list[sa.Row[Any]]:
    """The vehicles a day board shows: every one on the books (not disposed of) of ``agency_ids`` (None: all), by
    plate, as `VEHICLE_COLUMNS`."""
    return list(session.execute(sa.select(*VEHICLE_COLUMNS).join(Agency, Agency.id == Vehicle.agency_id)
                                .where(Vehicle.status != VehicleStatus.disposed,
                                       of_agencies(Vehicle.agency_id, agency_ids)).order_by(Vehicle.plate)))


def queue(session: Session, start: datetime, end: datetime, agency_ids: Collection[int] | None = None) -> list[Trip]:
    """Approved trips (of ``agency_ids``; None: all) not yet assigned whose pickup window overlaps [start, end):
    emergencies first, then by earliest pickup."""
    return list(session.scalars(
        sa.select(Trip).options(*TRIP_LOADS)
        .where(Trip.status == TripStatus.approved, Trip.earliest_pickup < end, Trip.latest_pickup >= start,
               ~_held(), of_agencies(Trip.agency_id, agency_ids))
        .order_by(priority_rank(Trip.priority), Trip.earliest_pickup, Trip.id)))


# --- known places -------------------------------------------------------------------------------------------------

PlaceKind = Literal["agency", "depot", "trip"]


@dataclass(frozen=True)
class KnownPlace:
    name: str
    lat: float
    lon: float
    kind: PlaceKind


def _yards(session: Session) -> list[KnownPlace]:
    """Each agency at the yard most of its vehicles on the books call home, and its other yards as depots."""
    names: dict[int, str] = {agency_id: name for agency_id, name in session.execute(sa.select(Agency.id, Agency.name))}
    counted = session.execute(
        sa.select(Vehicle.agency_id, Vehicle.home_lat, Vehicle.home_lon, sa.func.count())
        .where(Vehicle.status != VehicleStatus.disposed, Vehicle.home_lat.is_not(None),
               Vehicle.home_lon.is_not(None))
        .group_by(Vehicle.agency_id, Vehicle.home_lat, Vehicle.home_lon))
    by_agency: dict[int, list[tuple[int, float, float]]] = {}
    for agency_id, lat, lon, n in counted:
        if lat is not None and lon is not None:
            by_agency.setdefault(agency_id, []).append((-n, lat, lon))
    found: list[KnownPlace] = []
    for agency_id, yards in sorted(by_agency.items(), key=lambda item: names[item[0]]):
        for number, (_, lat, lon) in enumerate(sorted(yards), start=1):
            if number == 1:
                found.append(KnownPlace(names[agency_id], lat, lon, "agency"))
            else:
                found.append(KnownPlace(f"{names[agency_id]} 车场 {number}", lat, lon, "depot"))
    return found


def known_places(session: Session, *, q: str | None, limit: int, scope_agency_id: int | None = None,
                 scope_driver_id: int | None = None,
                 scope_agency_ids: frozenset[int] | None = None) -> list[KnownPlace]:
    """Places to pick a pickup or drop-off from, by name (``q`` in it, case-insensitively), at most ``limit``, each
    name once: the agencies' yards and depots, then the addresses of trips within the caller's reach, most
    recently booked first (with the coordinates they were booked at)."""
    found: dict[str, KnownPlace] = {}
    needle = (q or "").lower()
    for place in _yards(session):
        if needle in place.name.lower() and place.name not in found:
            found[place.name] = place
    if len(found) >= limit:
        return list(found.values())[:limit]
    visible = trips_query(TripFilter(scope_agency_id=scope_agency_id, scope_driver_id=scope_driver_id,
                                     scope_agency_ids=scope_agency_ids))
    ends = [visible.with_only_columns(address.label("name"), lat.label("lat"), lon.label("lon"),
                                      Trip.id.label("trip_id"))
            for address, lat, lon in ((Trip.pickup_address, Trip.pickup_lat, Trip.pickup_lon),
                                      (Trip.dropoff_address, Trip.dropoff_lat, Trip.dropoff_lon))]
    if q:
        ends = [end.where(contains_text(column, q)) for end, column in
                zip(ends, (Trip.pickup_address, Trip.dropoff_address), strict=True)]
    used = sa.union_all(*ends).subquery()
    rows = session.execute(
        sa.select(used.c.name, used.c.lat, used.c.lon, sa.func.max(used.c.trip_id).label("last"))
        .group_by(used.c.name, used.c.lat, used.c.lon).order_by(sa.desc("last"), used.c.name))
    for name, lat, lon, _ in rows:
        if name not in found:
            found[name] = KnownPlace(name, lat, lon, "trip")
            if len(found) >= limit:
                break
    return list(found.values())
