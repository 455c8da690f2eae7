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

from fleet import audit, queries, rules
from fleet.audit import Actor
from fleet.db import atomic
from fleet.enums import Category, PlanLineKind, PlanStatus, VehicleStatus
from fleet.errors import AlreadyExists, Conflict, InvalidInput, InvalidState, PlanLineMismatch
from fleet.i18n import alternatives, msg
from fleet.models import Agency, Disposal, OdometerReading, PlanLine, Transfer, Vehicle
from fleet.policy import PolicyBook
from fleet.schemas import DisposalIn, TransferIn, VehicleIn


def _check_unique(session: Session, data: VehicleIn) -> None:
    if session.scalar(sa.select(Vehicle.id).where(Vehicle.plate == data.plate)) is not None:
        raise AlreadyExists(msg("plate {plate} is already registered", plate=data.plate), field="plate")
    if session.scalar(sa.select(Vehicle.id).where(Vehicle.vin == data.vin)) is not None:
        raise AlreadyExists(msg("VIN {vin} is already registered", vin=data.vin), field="vin")


def _add_vehicle(session: Session, agency: Agency, data: VehicleIn, *, line: PlanLine | None = None,
                 read_on: date | None = None, source: str = "acquisition") -> Vehicle:
    _check_unique(session, data)
    vehicle = Vehicle(agency=agency, plan_line_id=line.id if line else None, **data.model_dump())
    session.add(vehicle)
    session.flush()
    session.add(OdometerReading(vehicle_id=vehicle.id, read_on=read_on or data.acquired_on, km=data.odometer_km,
                                source=source))
    return vehicle


def _check_growth(session: Session, agency: Agency, category: Category, *, planned: bool) -> None:
    limit = queries.quota_limit(session, agency.id, category, lock=True)
    held = queries.held_count(session, agency.id, category)
    committed = 0 if planned else max(0, queries.committed_count(session, agency.id, category))
    rules.check_quota(agency=agency.code, category=category, limit=limit, held=held, adding=1, committed=committed)


def _spec(data: VehicleIn) -> rules.LineSpec:
    return rules.LineSpec(category=data.category, powertrain=data.powertrain, seats=data.seats,
                          unit_price_cny=data.price_cny, displacement_l=data.displacement_l, label="vehicle")


def _usable_line(session: Session, plan_line_id: int, kind: PlanLineKind, data: VehicleIn) -> PlanLine:
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


@atomic
def register(session: Session, actor: Actor, *, agency: str, data: VehicleIn, read_on: date | None = None) -> Vehicle:
    """Put a vehicle the agency already holds on the books (the retained fleet after the reform); its
    odometer was read on ``read_on`` (default: today), not on the day it was bought."""
    holder = queries.agency_by_code(session, agency)
    _check_growth(session, holder, data.category, planned=False)
    if read_on is not None and read_on < data.acquired_on:
        raise InvalidInput(msg("read_on {day} is before acquired_on {acquired_on}", day=read_on,
                               acquired_on=data.acquired_on), field="read_on")
    vehicle = _add_vehicle(session, holder, data, read_on=read_on or max(date.today(), data.acquired_on),
                           source="registration")
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
    disposal: DisposalIn, policies: PolicyBook | None = None,
) -> Vehicle:
    """Replace a vehicle under an approved renewal line: the new one is registered and the old one disposed of
    in the same transaction. The renewal age is checked again on the day of renewal."""
    line = _usable_line(session, plan_line_id, PlanLineKind.renewal, data)
    old = queries.vehicle(session, replaced_vehicle_id, lock=True)
    if old not in line.replaces:
        raise PlanLineMismatch(msg("plan line {line_id} does not replace vehicle {plate}", line_id=line.id,
                                   plate=old.plate), field="replaced_vehicle_id")
    if old.status is VehicleStatus.disposed:
        raise InvalidState(msg("vehicle {plate} was already disposed of on {day}", plate=old.plate,
                               day=old.disposed_on), field="replaced_vehicle_id")
    agency = line.plan.agency
    policy = queries.policy_for(session, agency.jurisdiction, policies)
    rules.check_renewal_age(policy, plate=old.plate, acquired_on=old.acquired_on, on=data.acquired_on,
                            basis=line.early_renewal_basis, reason=line.early_renewal_reason)
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
    vehicle = queries.vehicle(session, vehicle_id, lock=True)
    if vehicle.status is VehicleStatus.disposed:
        raise InvalidState(msg("vehicle {plate} was disposed of on {day}", plate=vehicle.plate,
                               day=vehicle.disposed_on), field="vehicle_id")
    to = queries.agency_by_code(session, data.to_agency, field="to_agency")
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
    _check_growth(session, to, vehicle.category, planned=False)
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
    if odometer_km is not None:
        record_odometer(session, vehicle, odometer_km, on or date.today(), move)
        changes["odometer_km"] = odometer_km
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


def _dispose(session: Session, actor: Actor, vehicle: Vehicle, data: DisposalIn) -> Disposal:
    if vehicle.status is VehicleStatus.disposed:
        raise InvalidState(msg("vehicle {plate} was already disposed of on {day}", plate=vehicle.plate,
                               day=vehicle.disposed_on), field="vehicle_id")
    if data.disposed_on < vehicle.acquired_on:
        raise InvalidInput(msg("disposed_on {day} is before the vehicle was acquired ({acquired_on})",
                               day=data.disposed_on, acquired_on=vehicle.acquired_on), field="disposed_on")
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


def record_odometer(session: Session, vehicle: Vehicle, km: int, on: date, source: str) -> None:
    """Record an odometer reading; it may not run backwards against an earlier reading."""
    earlier = session.scalar(
        sa.select(sa.func.max(OdometerReading.km)).where(
            OdometerReading.vehicle_id == vehicle.id, OdometerReading.read_on <= on
        )
    )
    if earlier is not None and km < earlier:
        raise InvalidInput(msg("odometer {km} km on {day} is below an earlier reading of {earlier} km for {plate}",
                               km=km, day=on, earlier=earlier, plate=vehicle.plate), field="odometer_km")
    session.add(OdometerReading(vehicle_id=vehicle.id, read_on=on, km=km, source=source))
    vehicle.odometer_km = max(vehicle.odometer_km, km)
