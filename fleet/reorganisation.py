"""机构改革: agencies merged into another, or split into new ones, with what they hold.

**Merge** (`merge`): the source's vehicles, quotas (added per category to the target's), active drivers, users,
open trips (requested, approved, assigned, rented), unfinished plans and sub-agencies move to the target; the
source is dissolved on the day given, with the target as its successor. A target that sat under the source, directly
or deeper, first takes the source's place in the tree (so the source's sub-agencies, the target's former parent
among them, end up under it and the tree keeps no loop). The target may sit in another jurisdiction (a district
bureau absorbed by the city's): its jurisdiction's policy governs what it holds from then on. The summed quota of
a category may not pass the bound one quota can have.

**Split** (`split`): new agencies are created in the source's jurisdiction, under the source's parent, each with
the source's vehicles it lists and a part of the source's quota; the source continues with the rest (its drivers,
users, trips and plans stay). Rental cars (社会化租赁: hired, not held) move with the part that lists them but count
against no part's quota, nor the source's. To split an agency up entirely, split off all parts but one, then merge
the source into that one.

**History stays where it happened.** Completed and cancelled trips keep their agency; the cost ledger belongs to
vehicles, and each move of a vehicle is a `Transfer` row dated ``on``, so reports attribute a vehicle to the agency
that held it on a day (`fleet.queries.holders_on`). A dissolved agency stays in the registry, readable; the annual
report of an agency includes its predecessors (`fleet.reports`), so the successor's report covers what they did.

A dissolved agency can no longer book trips, hold, receive or be given anything (`check_active`). Each operation
is one transaction; each object moved has its own audit record (``vehicle.transferred``, ``quota.changed``,
``driver.reassigned``, ``user.reassigned``, ``trip.reassigned``, ``plan.reassigned``, ``agency.amended``) and the
source a summary (``agency.merged`` or ``agency.split``) listing them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, object_session

from fleet import audit, clock, queries, registry
from fleet.audit import Actor
from fleet.db import atomic
from fleet.enums import Category, PlanStatus, TripStatus, VehicleStatus
from fleet.errors import AlreadyExists, Conflict, InvalidInput, InvalidState, NotFound, QuotaExceeded
from fleet.i18n import msg
from fleet.models import Agency, Driver, Plan, Quota, Transfer, Trip, User, Vehicle
from fleet.schemas import AgencyIn, MergeIn, QuotaIn, SplitIn

OPEN_TRIPS = (TripStatus.requested, TripStatus.approved, TripStatus.assigned, TripStatus.rented)
# The most one quota can be (`QuotaIn.limit`): a merge whose summed quota would pass it is refused.
QUOTA_BOUND: int = next(m.le for m in QuotaIn.model_fields["limit"].metadata if getattr(m, "le", None) is not None)
OPEN_PLANS = (PlanStatus.draft, PlanStatus.submitted, PlanStatus.approved)


def check_active(agency: Agency, *, field: str = "agency", lock: bool = True) -> Agency:
    """Refuse an agency that was dissolved (机构改革): it books, holds and receives nothing any more.

    The agency's row is read again under a shared lock (FOR SHARE on PostgreSQL), held to the caller's commit: a
    merge or split locks it for update, so whatever the caller then adds for the agency (a trip, a vehicle, a
    driver) either lands before the reorganisation, which then moves it, or waits for it and is refused here. An
    unlocked read let a booking made while an agency merged land in the dissolved agency.

    ``lock=False`` for a caller that holds, locked for update, a row the merge moves (a plan): that lock already
    orders the two, and the agency's taken after it would be the merge's order reversed, a deadlock."""
    session = object_session(agency) if lock else None
    if session is not None:  # an agency the caller built itself, not yet added, has no row to lock
        session.scalar(sa.select(Agency).where(Agency.id == agency.id).with_for_update(read=True))
    if agency.dissolved_on is None:
        return agency
    successor = agency.successor
    if successor is not None:
        raise InvalidState(msg("agency {code} was dissolved on {day} (机构改革); fix: use its successor {successor}",
                               code=agency.code, day=agency.dissolved_on, successor=successor.code),
                           field=field, successor=successor.code)
    raise InvalidState(msg("agency {code} was dissolved on {day} (机构改革)", code=agency.code,
                           day=agency.dissolved_on), field=field)


@dataclass
class Reorganised:
    """What a merge or a split moved: the source, the agencies that received, and the objects moved."""

    source: Agency
    receivers: list[Agency]
    vehicles: dict[str, list[str]] = field(default_factory=dict)  # receiving agency code -> plates
    quotas: dict[str, dict[str, int]] = field(default_factory=dict)  # receiving agency code -> category -> limit
    drivers: list[int] = field(default_factory=list)
    users: list[str] = field(default_factory=list)
    trips: list[int] = field(default_factory=list)
    plans: list[int] = field(default_factory=list)
    agencies: list[str] = field(default_factory=list)  # sub-agencies re-parented

    def summary(self) -> dict[str, Any]:
        return {"vehicles": self.vehicles, "quotas": self.quotas, "drivers": self.drivers, "users": self.users,
                "trips": self.trips, "plans": self.plans, "agencies": self.agencies}


def _locked_agencies(session: Session, *named: tuple[str, str]) -> dict[str, Agency]:
    """The agencies of these codes (each with the field that named it), locked for update in id order, as
    `lock_agencies` takes them; the first unknown code is refused naming its field."""
    found = {agency.code: agency for agency in session.scalars(
        sa.select(Agency).where(Agency.code.in_(sorted({code for code, _ in named}))).order_by(Agency.id)
        .with_for_update(key_share=True))}
    for code, named_by in named:
        if code not in found:
            raise NotFound(msg("unknown agency {code!r}", code=code), field=named_by)
    return found


def lock_agencies(session: Session, ids: Collection[int]) -> None:
    """Share these agencies' rows, in id order: two writers that each lock two agencies then cannot hold one each
    and wait for the other's (a merge and a transfer between the same agencies)."""
    session.execute(sa.select(Agency.id).where(Agency.id.in_(sorted(ids))).order_by(Agency.id)
                    .with_for_update(read=True))


def _check_day(on: date, agency: Agency) -> None:
    today = clock.today()
    if on > today:
        raise InvalidInput(msg("field '{field}': {day} is after today ({today}); record a reorganisation once it "
                               "has taken effect", field="on", day=on, today=today), field="on")
    # Dated back before the platform went live, a reorganisation would rewrite the years it reported before.
    live_on = agency.jurisdiction.live_on
    if live_on is not None and on < live_on:
        raise InvalidInput(msg("field '{field}': {day} is before {jurisdiction} went live on the platform "
                               "({live_on}); record a reorganisation from then on", field="on", day=on,
                               jurisdiction=agency.jurisdiction.name, live_on=live_on), field="on")


def _held(session: Session, agency: Agency) -> list[Vehicle]:
    """The agency's vehicles not disposed of, locked by id (as every writer locks vehicles), listed by plate."""
    return sorted(session.scalars(
        sa.select(Vehicle).where(Vehicle.agency_id == agency.id, Vehicle.status != VehicleStatus.disposed)
        .order_by(Vehicle.id).with_for_update(key_share=True)), key=lambda vehicle: vehicle.plate)


def _limits(session: Session, agency: Agency) -> dict[Category, int]:
    return {q.category: q.limit for q in session.scalars(
        sa.select(Quota).where(Quota.agency_id == agency.id).with_for_update(key_share=True))}


def _move_vehicle(session: Session, actor: Actor, vehicle: Vehicle, to: Agency, on: date, reason: str,
                  how: str) -> None:
    if on < vehicle.acquired_on:
        raise InvalidInput(msg("field '{field}': {day} is before {plate} was acquired ({acquired_on})", field="on",
                               day=on, plate=vehicle.plate, acquired_on=vehicle.acquired_on), field="on")
    last = session.scalar(sa.select(sa.func.max(Transfer.transferred_on)).where(Transfer.vehicle_id == vehicle.id))
    if last is not None and on < last:  # a vehicle's holders follow one another in time
        raise InvalidInput(msg("field '{field}': {day} is before {plate} was last transferred ({last})", field="on",
                               day=on, plate=vehicle.plate, last=last), field="on")
    source = vehicle.agency
    session.add(Transfer(vehicle_id=vehicle.id, from_agency_id=source.id, to_agency_id=to.id, transferred_on=on,
                         reason=reason))
    vehicle.agency = to
    audit.record(session, actor, "vehicle.transferred", vehicle, {
        "from_agency": source.code, "to_agency": to.code, "to_agency_name": to.name, "transferred_on": on,
        "reason": reason, "reorganisation": how})


def _set_limit(session: Session, actor: Actor, agency: Agency, category: Category, limit: int, reason: str) -> None:
    registry.set_quota(session, actor, data=QuotaIn(agency=agency.code, category=category, limit=limit,
                                                    reason=reason))


def _reason(how: str, source: Agency, reason: str) -> str:
    # Stored with each moved row (transfers, quota changes): what moved it, and the decision's own words.
    return f"{how} {source.code}: {reason}"[:500]


def _reassigned(session: Session, actor: Actor, row: Any, source: Agency, to: Agency, reason: str, how: str) -> None:
    row.agency = to
    audit.record(session, actor, f"{type(row).audit_entity}.reassigned", row, {
        "agency": {"from": source.code, "to": to.code}, "reason": reason, "reorganisation": how})


@atomic
def merge(session: Session, actor: Actor, *, code: str, data: MergeIn) -> Reorganised:
    """Merge agency ``code`` into ``data.into`` on ``data.on`` (see the module's description)."""
    locked = _locked_agencies(session, (code, "code"), (data.into, "into"))
    source = check_active(locked[code], field="code")
    target = check_active(locked[data.into], field="into")
    if target.id == source.id:
        raise InvalidInput(msg("field '{field}': an agency cannot merge into itself", field="into"), field="into")
    _check_day(data.on, source)
    why = _reason("merge", source, data.reason)
    done = Reorganised(source, [target])
    theirs, ours = _limits(session, target), _limits(session, source)
    for category, limit in sorted(ours.items()):
        if theirs.get(category, 0) + limit > QUOTA_BOUND:
            raise Conflict(msg("{code}'s {category} quota ({limit}) and {into}'s ({theirs}) would sum to more than "
                               "one quota can be ({bound})", code=source.code, category=category, limit=limit,
                               into=target.code, theirs=theirs.get(category, 0), bound=QUOTA_BOUND),
                           field="into", category=category.value)

    vehicles = _held(session, source)
    for vehicle in vehicles:
        _move_vehicle(session, actor, vehicle, target, data.on, why, "merge")
    done.vehicles[target.code] = [v.plate for v in vehicles]

    for category, limit in sorted(ours.items()):
        if limit == 0:
            continue
        _set_limit(session, actor, target, category, theirs.get(category, 0) + limit, why)
        _set_limit(session, actor, source, category, 0, why)
        done.quotas.setdefault(target.code, {})[category.value] = theirs.get(category, 0) + limit

    # Vehicles (above), trips, then drivers: the house's lock order (`fleet.queries.lock_in_order`).
    for trip in session.scalars(sa.select(Trip).where(Trip.agency_id == source.id, Trip.status.in_(OPEN_TRIPS))
                                .order_by(Trip.id).with_for_update(key_share=True)):
        _reassigned(session, actor, trip, source, target, data.reason, "merge")
        done.trips.append(trip.id)
    for driver in session.scalars(sa.select(Driver).where(Driver.agency_id == source.id, Driver.active)
                                  .order_by(Driver.id).with_for_update(key_share=True)):
        _reassigned(session, actor, driver, source, target, data.reason, "merge")
        done.drivers.append(driver.id)
    for user in session.scalars(sa.select(User).where(User.agency_id == source.id).order_by(User.id)
                                .with_for_update(key_share=True)):
        _reassigned(session, actor, user, source, target, data.reason, "merge")
        done.users.append(user.name)
    for plan in session.scalars(sa.select(Plan).where(Plan.agency_id == source.id, Plan.status.in_(OPEN_PLANS))
                                .order_by(Plan.id).with_for_update(key_share=True)):
        if plan.status is PlanStatus.approved and not any(line.remaining for line in plan.lines):
            continue  # carried out: history
        _reassigned(session, actor, plan, source, target, data.reason, "merge")
        done.plans.append(plan.id)

    if _sits_under(target, source):  # the target sat under the source (at any depth): it takes the source's place
        _reparent(session, actor, target, source.parent, data.reason)
    for child in session.scalars(sa.select(Agency).where(Agency.parent_id == source.id, Agency.id != target.id)
                                 .order_by(Agency.code).with_for_update(key_share=True)):
        _reparent(session, actor, child, target, data.reason)
        done.agencies.append(child.code)

    source.dissolved_on = data.on
    source.successor = target
    audit.record(session, actor, "agency.merged", source, {
        "into": target.code, "on": data.on, "reason": data.reason, **done.summary()})
    return done


def _sits_under(agency: Agency, ancestor: Agency) -> bool:
    """Whether ``ancestor`` is above ``agency`` in the tree (a loop left by bad data ends the walk)."""
    seen = {agency.id}
    above = agency.parent
    while above is not None and above.id not in seen:
        if above.id == ancestor.id:
            return True
        seen.add(above.id)
        above = above.parent
    return False


def _reparent(session: Session, actor: Actor, agency: Agency, parent: Agency | None, reason: str) -> None:
    before = agency.parent.code if agency.parent else None
    agency.parent = parent
    audit.record(session, actor, "agency.amended", agency, {
        "parent": {"from": before, "to": parent.code if parent else None}, "reason": reason})


@atomic
def split(session: Session, actor: Actor, *, code: str, data: SplitIn) -> Reorganised:
    """Split new agencies off agency ``code`` on ``data.on`` (see the module's description)."""
    source = check_active(_locked_agencies(session, (code, "code"))[code], field="code")
    _check_day(data.on, source)
    why = _reason("split", source, data.reason)
    held = {v.plate: v for v in _held(session, source)}
    limits = _limits(session, source)

    taken: Counter[Category] = Counter()
    moved: Counter[Category] = Counter()
    for i, part in enumerate(data.into):
        if session.scalar(sa.select(Agency.id).where(Agency.code == part.code)) is not None:
            raise AlreadyExists(msg("agency {code} is already registered", code=part.code), field=f"into.{i}.code")
        receiving: Counter[Category] = Counter()
        listed = f"into.{i}.vehicles"
        for plate in part.vehicles:
            vehicle = held.get(plate)
            if vehicle is None:
                raise InvalidInput(msg("field '{field}': {plate} is not a vehicle {code} holds", field=listed,
                                       plate=plate, code=source.code), field=listed)
            planned = queries.replacing_line(session, vehicle.id)
            if planned is not None:
                raise Conflict(msg("vehicle {plate} is to be replaced under plan {plan_id}; fix: take it out of that "
                                   "plan first", plate=plate, plan_id=planned.plan_id), field=listed)
            if vehicle.under_quota:
                receiving[vehicle.category] += 1
        for category, count in sorted(receiving.items()):
            limit = part.quotas.get(category, 0)
            if count > limit:
                raise QuotaExceeded(msg("{code} would receive {count} {category} vehicle(s) with a quota of {limit}; "
                                        "fix: give it a larger part of the quota, or fewer vehicles", code=part.code,
                                        count=count, category=category, limit=limit),
                                    field=f"into.{i}.quotas", category=category.value)
        taken.update(part.quotas)
        moved.update(receiving)
    for category, parts in sorted(taken.items()):
        limit = limits.get(category, 0)
        if parts > limit:
            raise QuotaExceeded(msg("the parts take {parts} of {code}'s {category} quota, which is {limit}",
                                    parts=parts, code=source.code, category=category, limit=limit),
                                field="into", category=category.value)
    remaining = Counter(v.category for v in held.values() if v.under_quota)
    remaining.subtract(moved)
    for category, count in sorted(remaining.items()):
        left = limits.get(category, 0) - taken[category]
        if count > left and taken[category] > 0:
            raise QuotaExceeded(msg("{code} would keep {count} {category} vehicle(s) with {left} of its quota left; "
                                    "fix: give the parts less of the quota, or more vehicles", code=source.code,
                                    count=count, category=category, left=left), field="into",
                                category=category.value)

    done = Reorganised(source, [])
    for part in data.into:
        created = registry.create_agency(session, actor, data=AgencyIn(
            code=part.code, name=part.name, jurisdiction=source.jurisdiction.code,
            parent=source.parent.code if source.parent else None))
        done.receivers.append(created)
        for category, limit in sorted(part.quotas.items()):
            if limit:
                _set_limit(session, actor, created, category, limit, why)
                done.quotas.setdefault(created.code, {})[category.value] = limit
        for plate in part.vehicles:
            _move_vehicle(session, actor, held[plate], created, data.on, why, "split")
        done.vehicles[created.code] = list(part.vehicles)
    for category, parts in sorted(taken.items()):
        if parts:
            _set_limit(session, actor, source, category, limits[category] - parts, why)
            done.quotas.setdefault(source.code, {})[category.value] = limits[category] - parts
    audit.record(session, actor, "agency.split", source, {
        "into": [p.code for p in data.into], "on": data.on, "reason": data.reason, **done.summary()})
    return done


def lineage_ids(session: Session, agency_id: int) -> list[int]:
    """The agency and every agency merged into it, directly or through another (its predecessors)."""
    found, frontier = [agency_id], [agency_id]
    while frontier:
        frontier = [i for i in session.scalars(sa.select(Agency.id).where(Agency.successor_id.in_(frontier)))
                    if i not in found]
        found.extend(frontier)
    return found
