"""A vehicle's life on the books: register, acquire, renew, transfer (调剂), seal, maintain, dispose (处置).

Each function is one unit of work with its audit record; each refusal leaves nothing behind. Quota is checked
wherever an agency's holding grows: against the vehicles held plus what approved plans still commit (so that
approved plans stay executable) for unplanned growth, and against the vehicles held for planned acquisitions.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from fleet import assignments, audit, clock, queries, rules
from fleet.audit import Actor
from fleet.db import atomic
from fleet.enums import Category, PlanLineKind, PlanStatus, TripStatus, VehicleSource, VehicleStatus
from fleet.errors import (
    AlreadyExists,
    Conflict,
    InvalidInput,
    InvalidState,
    PlanLineMismatch,
    RegistrationRefused,
    StandardExceeded,
)
from fleet.i18n import Message, alternatives, msg
from fleet.models import (
    Agency,
    Assignment,
    Disposal,
    OdometerReading,
    PlanLine,
    RentalProvider,
    Transfer,
    Trip,
    Vehicle,
)
from fleet.policy import PolicyBook
from fleet.reorganisation import check_active, lock_agencies
from fleet.schemas import DisposalIn, TransferIn, VehicleIn


def _check_unique(session: Session, data: VehicleIn) -> None:
    if session.scalar(sa.select(Vehicle.id).where(Vehicle.plate == data.plate)) is not None:
        raise AlreadyExists(msg("plate {plate} is already registered", plate=data.plate), field="plate")
    if session.scalar(sa.select(Vehicle.id).where(Vehicle.vin == data.vin)) is not None:
        raise AlreadyExists(msg("VIN {vin} is already registered", vin=data.vin), field="vin")


def _add_vehicle(session: Session, agency: Agency, data: VehicleIn, *, line: PlanLine | None = None,
                 read_on: date | None = None, source: str = "acquisition",
                 provider: RentalProvider | None = None) -> Vehicle:
    _check_unique(session, data)
    vehicle = Vehicle(agency=agency, plan_line_id=line.id if line else None, rental_provider=provider,
                      **data.model_dump(exclude={"rental_provider"}))
    session.add(vehicle)
    session.flush()
    session.add(OdometerReading(vehicle_id=vehicle.id, read_on=read_on or data.acquired_on, km=data.odometer_km,
                                source=source))
    return vehicle


def _check_growth(session: Session, agency: Agency, category: Category, *, planned: bool,
                  source: VehicleSource = VehicleSource.retained) -> None:
    check_active(agency)
    if source is VehicleSource.rental:  # hired, not held: 编制 counts what the agency holds
        return
    limit = queries.quota_limit(session, agency.id, category, lock=True)
    held = queries.held_count(session, agency.id, category)
    committed = 0 if planned else max(0, queries.committed_count(session, agency.id, category))
    rules.check_quota(agency=agency.code, category=category, limit=limit, held=held, adding=1, committed=committed)


def _spec(data: VehicleIn) -> rules.LineSpec:
    return rules.LineSpec(category=data.category, powertrain=data.powertrain, seats=data.seats,
                          unit_price_cny=data.price_cny, displacement_l=data.displacement_l, label="vehicle")


def _rental_provider(session: Session, data: VehicleIn) -> RentalProvider | None:
    """The contracted provider a rental car is hired from: named, active, its contract running today. Only a
    rental car names one."""
    if data.source is not VehicleSource.rental:
        if data.rental_provider is not None:
            raise InvalidInput(msg("only a rental car names a rental provider; this one is {source}",
                                   source=data.source), field="rental_provider")
        return None
    if data.rental_provider is None:
        raise InvalidInput(msg("a rental car needs its rental_provider: the contracted provider it is hired from"),
                           field="rental_provider")
    provider = session.scalar(sa.select(RentalProvider).where(RentalProvider.code == data.rental_provider))
    if provider is None:
        raise InvalidInput(msg("unknown rental provider {code}", code=data.rental_provider), field="rental_provider")
    if not provider.active:
        raise InvalidState(msg("rental provider {code} is inactive", code=provider.code), field="rental_provider")
    today = clock.today()
    if provider.contract_until is not None and provider.contract_until < today:
        raise InvalidState(msg("rental provider {code}'s contract ended on {until}; a car cannot be hired from it "
                               "now", code=provider.code, until=provider.contract_until), field="rental_provider")
    return provider


def _check_own(data: VehicleIn) -> None:
    """A plan line buys for the fleet the agency holds: a hired car is registered, with its provider."""
    if data.source is VehicleSource.rental:
        raise InvalidInput(msg("a plan line acquires a vehicle the agency holds, not a rental car; fix: register a "
                               "rental car with its rental_provider"), field="source")
    if data.rental_provider is not None:
        raise InvalidInput(msg("only a rental car names a rental provider; this one is {source}",
                               source=data.source), field="rental_provider")


def _usable_line(session: Session, plan_line_id: int, kind: PlanLineKind, data: VehicleIn) -> PlanLine:
    _check_own(data)
    if data.registration_basis is not None:
        raise InvalidInput(msg("a vehicle acquired under a plan line needs no registration basis: its plan line is "
                               "its basis"), field="registration_basis")
    line = queries.plan_line(session, plan_line_id, lock=True)
    if line.plan.status is not PlanStatus.approved:
        raise PlanLineMismatch(msg("plan {plan_id} is {status}; vehicles are acquired only against an approved "
                                   "plan", plan_id=line.plan_id, status=line.plan.status), field="plan_line_id")
    if line.kind is not kind:
        use = (msg("plan line {line_id} is a {kind} line; use renew", line_id=line.id, kind=line.kind)
               if line.kind is PlanLineKind.renewal else
               msg("plan line {line_id} is a {kind} line; use acquire", line_id=line.id, kind=line.kind))
        raise PlanLineMismatch(use, field="plan_line_id")
    if data.acquired_on.year < line.plan.year:
        raise InvalidInput(msg("acquired_on {day} is before plan year {year}", day=data.acquired_on,
                               year=line.plan.year), field="acquired_on")
    rules.check_matches_line(
        line_id=line.id, kind=line.kind, category=line.category, powertrain=line.powertrain, seats=line.seats,
        unit_price_cny=line.unit_price_cny, displacement_l=line.displacement_l, remaining=line.remaining,
        vehicle=_spec(data),
    )
    return line


def _check_registrable(session: Session, holder: Agency, data: VehicleIn, policies: PolicyBook | None) -> None:
    """Registration is for the fleet held when the platform went live, within the equipment standard; a vehicle
    outside either rule passes only with its recorded basis. A rental car is hired, not held, so go-live does not
    apply to it; the equipment standard does (a leased official car keeps to it like any other).

    A go-live day still ahead (none is accepted now, but an old row may hold one) counts as today: a vehicle bought
    since today's go-live cannot wait for a later one."""
    if data.registration_basis is not None:
        return
    live_on = holder.jurisdiction.live_on
    if live_on is not None:
        live_on = min(live_on, clock.today())
    if data.source is not VehicleSource.rental and live_on is not None and data.acquired_on > live_on:
        raise RegistrationRefused(
            msg("{plate} was acquired on {day}, after {jurisdiction} went live on {live_on}: a vehicle bought since "
                "is added through its plan line (acquire or renew); fix: acquire it against the approved plan, or "
                "record registration_basis and registration_note", plate=data.plate, day=data.acquired_on,
                jurisdiction=holder.jurisdiction.name, live_on=live_on),
            field="acquired_on", live_on=live_on.isoformat())
    policy = queries.policy_for(session, holder.jurisdiction, policies)
    try:
        rules.check_standard(policy, _spec(data))
    except StandardExceeded as exceeded:  # the standard names a plan line's fields; a vehicle has its own
        raise StandardExceeded(
            msg("{detail}; or record registration_basis and registration_note", detail=exceeded.detail),
            field=_VEHICLE_FIELDS.get(exceeded.field or "", exceeded.field), **exceeded.context) from None


_VEHICLE_FIELDS = {"unit_price_cny": "price_cny"}


@atomic
def register(session: Session, actor: Actor, *, agency: str, data: VehicleIn, read_on: date | None = None,
             policies: PolicyBook | None = None) -> Vehicle:
    """Put a vehicle the agency held when the platform went live on the books (the retained fleet after the
    reform), or a rental car it hires; its odometer was read on ``read_on`` (default: today), not on the day it
    was bought. A vehicle acquired after go-live, or above the equipment standard, needs its recorded basis."""
    holder = queries.agency_by_code(session, agency)
    provider = _rental_provider(session, data)
    _check_registrable(session, holder, data, policies)
    _check_growth(session, holder, data.category, planned=False, source=data.source)
    if read_on is not None and read_on < data.acquired_on:
        raise InvalidInput(msg("read_on {day} is before acquired_on {acquired_on}", day=read_on,
                               acquired_on=data.acquired_on), field="read_on")
    vehicle = _add_vehicle(session, holder, data, read_on=read_on or max(clock.today(), data.acquired_on),
                           source="registration", provider=provider)
    audit.record(session, actor, "vehicle.registered", vehicle, {"agency": holder.code, **data.model_dump()})
    return vehicle


@atomic
def acquire(session: Session, actor: Actor, *, plan_line_id: int, data: VehicleIn) -> Vehicle:
    """Buy a vehicle against an approved ``new`` plan line with vehicles left, matching what it approved."""
    line = _usable_line(session, plan_line_id, PlanLineKind.new, data)
    agency = line.plan.agency
    _check_growth(session, agency, data.category, planned=True)
    vehicle = _add_vehicle(session, agency, data, line=line)
    line.acquired += 1
    audit.record(session, actor, "vehicle.acquired", vehicle,
                 {"agency": agency.code, "plan_line_id": line.id, **data.model_dump()})
    return vehicle


@atomic
def renew(
    session: Session, actor: Actor, *, plan_line_id: int, replaced_vehicle_id: int, data: VehicleIn,
    disposal: DisposalIn | None, policies: PolicyBook | None = None,
) -> Vehicle:
    """Replace a vehicle under an approved renewal line: the new one is registered and the old one disposed of
    in the same transaction. The renewal age is checked again on the day of renewal.

    An old vehicle already disposed of (written off before its replacement came: disposal is a fact the registry
    records when it happens) is still replaced under the line, with no ``disposal`` given: otherwise its approved
    renewal could never be used. A held one needs its ``disposal``.
    """
    line = _usable_line(session, plan_line_id, PlanLineKind.renewal, data)
    check_active(line.plan.agency)  # before the old vehicle's lock, in a merge's order (as in `transfer`)
    old = queries.vehicle(session, replaced_vehicle_id, lock=True)
    if old not in line.replaces:
        raise PlanLineMismatch(msg("plan line {line_id} does not replace vehicle {plate}", line_id=line.id,
                                   plate=old.plate), field="replaced_vehicle_id")
    gone = old.status is VehicleStatus.disposed
    if gone and disposal is not None:
        raise InvalidInput(msg("vehicle {plate} was already disposed of on {day}; fix: leave the disposal out",
                               plate=old.plate, day=old.disposed_on), field="disposal")
    if not gone and disposal is None:
        raise InvalidInput(msg("vehicle {plate} is still held; fix: give its disposal", plate=old.plate),
                           field="disposal")
    agency = line.plan.agency
    policy = queries.policy_for(session, agency.jurisdiction, policies)
    rules.check_renewal_age(policy, plate=old.plate, acquired_on=old.acquired_on, on=data.acquired_on,
                            basis=line.early_renewal_basis, reason=line.early_renewal_reason)
    if disposal is not None:
        _dispose(session, actor, old, disposal)
        session.flush()
    _check_growth(session, agency, data.category, planned=True)
    vehicle = _add_vehicle(session, agency, data, line=line)
    line.acquired += 1
    audit.record(session, actor, "vehicle.renewed", vehicle, {
        "agency": agency.code, "plan_line_id": line.id, "replaces": old.plate, **data.model_dump(),
    })
    return vehicle


@atomic
def transfer(session: Session, actor: Actor, *, vehicle_id: int, data: TransferIn) -> Vehicle:
    """调剂: move a vehicle to another agency, within the receiving agency's quota."""
    # Both agencies before the vehicle, as a merge or split locks its agencies, then their vehicles: a transfer
    # into an agency with a merge into it, or out of an agency as it merged (the transfer's row names the agency it
    # leaves, whose key PostgreSQL then locks), each waited on the merge while holding the car the merge wanted.
    holder = queries.vehicle(session, vehicle_id).agency_id
    to = queries.agency_by_code(session, data.to_agency, field="to_agency")
    lock_agencies(session, {holder, to.id})
    check_active(to, field="to_agency")
    vehicle = queries.vehicle(session, vehicle_id, lock=True)
    if vehicle.agency_id != holder:  # moved by another transfer or a reorganisation since its first read
        raise Conflict(msg("vehicle {plate} changed hands while this transfer was made (now {agency}); fix: send it "
                           "again if it still should move", plate=vehicle.plate, agency=vehicle.agency.code),
                       field="vehicle_id")
    if vehicle.status is VehicleStatus.disposed:
        raise InvalidState(msg("vehicle {plate} was disposed of on {day}", plate=vehicle.plate,
                               day=vehicle.disposed_on), field="vehicle_id")
    if to.id == vehicle.agency_id:
        raise InvalidInput(msg("vehicle {plate} is already held by {agency}", plate=vehicle.plate, agency=to.code),
                           field="to_agency")
    if data.transferred_on < vehicle.acquired_on:
        raise InvalidInput(msg("transferred_on {day} is before the vehicle was acquired ({acquired_on})",
                               day=data.transferred_on, acquired_on=vehicle.acquired_on), field="transferred_on")
    planned = queries.replacing_line(session, vehicle.id)
    if planned is not None:
        raise Conflict(msg("vehicle {plate} is to be replaced under plan {plan_id}; fix: take it out of that plan "
                           "first", plate=vehicle.plate, plan_id=planned.plan_id), field="vehicle_id")
    _check_growth(session, to, vehicle.category, planned=False, source=vehicle.source)
    source = vehicle.agency
    session.add(Transfer(vehicle_id=vehicle.id, from_agency_id=source.id, to_agency_id=to.id,
                         transferred_on=data.transferred_on, reason=data.reason))
    vehicle.agency = to
    audit.record(session, actor, "vehicle.transferred", vehicle,
                 {"from_agency": source.code, "to_agency": to.code, **data.model_dump()})
    return vehicle


_MOVE_WORDS = {"seal": msg("seal"), "unseal": msg("unseal"), "maintenance_in": msg("maintenance in"),
               "maintenance_out": msg("maintenance out")}
_MOVES: dict[str, tuple[frozenset[VehicleStatus], VehicleStatus]] = {
    "seal": (frozenset({VehicleStatus.active}), VehicleStatus.sealed),
    "unseal": (frozenset({VehicleStatus.sealed}), VehicleStatus.active),
    "maintenance_in": (frozenset({VehicleStatus.active}), VehicleStatus.maintenance),
    "maintenance_out": (frozenset({VehicleStatus.maintenance}), VehicleStatus.active),
}


def _move(session: Session, actor: Actor, vehicle_id: int, move: str, reason: str,
          odometer_km: int | None, on: date | None) -> Vehicle:
    allowed, to = _MOVES[move]
    vehicle = queries.vehicle(session, vehicle_id, lock=True)
    if vehicle.status not in allowed:
        raise InvalidState(msg("vehicle {plate} is {status}; {move} needs {needed}", plate=vehicle.plate,
                               status=vehicle.status, move=_MOVE_WORDS[move], needed=alternatives(sorted(allowed))),
                           field="status")
    changes: dict[str, Any] = {"from": vehicle.status, "to": to, "reason": reason}
    if on is not None:
        _check_day(vehicle, on, "on")
    if odometer_km is not None:
        record_odometer(session, vehicle, odometer_km, on or clock.today(), move, day_field="on")
        changes["odometer_km"] = odometer_km
    if move == "seal":
        _leave_use(session, actor, vehicle, msg("vehicle {plate} was sealed; the trip is back in the queue",
                                                plate=vehicle.plate))
    elif move == "maintenance_in":
        _leave_use(session, actor, vehicle, msg("vehicle {plate} went to the workshop; the trip is back in the queue",
                                                plate=vehicle.plate))
    vehicle.status = to
    audit.record(session, actor, f"vehicle.{move}", vehicle, changes)
    return vehicle


@atomic
def seal(session: Session, actor: Actor, *, vehicle_id: int, reason: str) -> Vehicle:
    """封存: take a vehicle out of use (it stays on the books and in the quota count)."""
    return _move(session, actor, vehicle_id, "seal", reason, None, None)


@atomic
def unseal(session: Session, actor: Actor, *, vehicle_id: int, reason: str) -> Vehicle:
    return _move(session, actor, vehicle_id, "unseal", reason, None, None)


@atomic
def maintenance_in(session: Session, actor: Actor, *, vehicle_id: int, reason: str,
                   odometer_km: int | None = None, on: date | None = None) -> Vehicle:
    return _move(session, actor, vehicle_id, "maintenance_in", reason, odometer_km, on)


@atomic
def maintenance_out(session: Session, actor: Actor, *, vehicle_id: int, reason: str = "repaired",
                    odometer_km: int | None = None, on: date | None = None) -> Vehicle:
    return _move(session, actor, vehicle_id, "maintenance_out", reason, odometer_km, on)


def _leave_use(session: Session, actor: Actor, vehicle: Vehicle, note: Message) -> None:
    """A vehicle leaving use (sealed, to the workshop, disposed of) drives none of the trips it held: each one not
    started goes back to the dispatcher's queue, approved, with ``note`` saying why. A vehicle on a trip now is
    refused (409): it is on the road until that trip ends. Call with the vehicle locked."""
    held = session.scalars(
        sa.select(Trip).join(Assignment, Assignment.trip_id == Trip.id)
        .where(Assignment.vehicle_id == vehicle.id, Assignment.active,
               Trip.status.in_((TripStatus.assigned, TripStatus.in_progress)))
        .order_by(Trip.id).with_for_update(of=Trip, key_share=True)).all()
    for booked in held:
        if booked.status is TripStatus.in_progress:
            raise Conflict(msg("vehicle {plate} is on trip {trip_id} now; fix: end that trip first",
                               plate=vehicle.plate, trip_id=booked.id), field="vehicle_id")
    for booked in held:
        released = assignments.release(session, booked)
        booked.status, booked.dispatch_note = TripStatus.approved, note[:500]
        audit.record(session, actor, "trip.unassigned", booked, {
            "vehicle_id": vehicle.id, "plate": vehicle.plate,
            "driver_id": released.driver_id if released is not None else None, "note": note})


def _dispose(session: Session, actor: Actor, vehicle: Vehicle, data: DisposalIn) -> Disposal:
    if vehicle.status is VehicleStatus.disposed:
        raise InvalidState(msg("vehicle {plate} was already disposed of on {day}", plate=vehicle.plate,
                               day=vehicle.disposed_on), field="vehicle_id")
    if data.disposed_on < vehicle.acquired_on:
        raise InvalidInput(msg("disposed_on {day} is before the vehicle was acquired ({acquired_on})",
                               day=data.disposed_on, acquired_on=vehicle.acquired_on), field="disposed_on")
    _leave_use(session, actor, vehicle, msg("vehicle {plate} was disposed of; the trip is back in the queue",
                                            plate=vehicle.plate))
    disposal = Disposal(vehicle_id=vehicle.id, **data.model_dump())
    session.add(disposal)
    vehicle.status = VehicleStatus.disposed
    vehicle.disposed_on = data.disposed_on
    audit.record(session, actor, "vehicle.disposed", vehicle, {"agency": vehicle.agency.code, **data.model_dump()})
    return disposal


@atomic
def dispose(session: Session, actor: Actor, *, vehicle_id: int, data: DisposalIn) -> Disposal:
    """处置: auction, manufacturer recycling, scrap or transfer out, with the proceeds."""
    return _dispose(session, actor, queries.vehicle(session, vehicle_id, lock=True), data)


def _check_day(vehicle: Vehicle, on: date, field: str) -> None:
    """A day something happened to the vehicle: not before it was acquired, not after today."""
    if on < vehicle.acquired_on:
        raise InvalidInput(msg("{field} {day} is before {plate} was acquired ({acquired_on})", field=field, day=on,
                               plate=vehicle.plate, acquired_on=vehicle.acquired_on), field=field)
    today = clock.today()
    if on > today:
        raise InvalidInput(msg("{field} {day} is after today ({today})", field=field, day=on, today=today),
                           field=field)


def record_odometer(session: Session, vehicle: Vehicle, km: int, on: date, source: str, *,
                    day_field: str = "at") -> None:
    """Record an odometer reading dated ``on`` (between the day the vehicle was acquired and today; ``day_field``
    names the caller's field for it). It may not run backwards against an earlier reading, nor ahead of a later
    one: a back-filled reading fits between those around it."""
    _check_day(vehicle, on, day_field)
    earlier = session.scalar(
        sa.select(sa.func.max(OdometerReading.km)).where(
            OdometerReading.vehicle_id == vehicle.id, OdometerReading.read_on <= on
        )
    )
    if earlier is not None and km < earlier:
        raise InvalidInput(msg("odometer {km} km on {day} is below an earlier reading of {earlier} km for {plate}",
                               km=km, day=on, earlier=earlier, plate=vehicle.plate), field="odometer_km")
    later = session.scalar(
        sa.select(sa.func.min(OdometerReading.km)).where(
            OdometerReading.vehicle_id == vehicle.id, OdometerReading.read_on > on
        )
    )
    if later is not None and km > later:
        raise InvalidInput(msg("odometer {km} km on {day} is above a later reading of {later} km for {plate}",
                               km=km, day=on, later=later, plate=vehicle.plate), field="odometer_km")
    session.add(OdometerReading(vehicle_id=vehicle.id, read_on=on, km=km, source=source))
    vehicle.odometer_km = max(vehicle.odometer_km, km)
