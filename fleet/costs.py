"""The per-vehicle cost ledger and its accounting (单车核算): cost per year and per km driven."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from fleet import audit, clock, queries
from fleet.audit import Actor
from fleet.db import atomic
from fleet.enums import CostKind, VehicleStatus
from fleet.errors import InvalidInput, InvalidState
from fleet.i18n import msg
from fleet.models import CostEntry, OdometerReading
from fleet.schemas import CostIn
from fleet.vehicles import record_odometer


@atomic
def record_cost(session: Session, actor: Actor, *, vehicle_id: int, data: CostIn) -> CostEntry:
    """Book one cost against a vehicle; an odometer reading, if given, joins the vehicle's readings."""
    vehicle = queries.vehicle(session, vehicle_id)
    if data.incurred_on < vehicle.acquired_on:
        raise InvalidInput(msg("incurred_on {day} is before {plate} was acquired ({acquired_on})",
                               day=data.incurred_on, plate=vehicle.plate, acquired_on=vehicle.acquired_on),
                           field="incurred_on")
    today = clock.today()
    if data.incurred_on > today:
        raise InvalidInput(msg("incurred_on {day} is after today ({today}): book a cost once it is incurred",
                               day=data.incurred_on, today=today), field="incurred_on")
    if vehicle.status is VehicleStatus.disposed and vehicle.disposed_on and data.incurred_on > vehicle.disposed_on:
        raise InvalidState(msg("{plate} was disposed of on {day}; no cost after that", plate=vehicle.plate,
                               day=vehicle.disposed_on), field="incurred_on")
    entry = CostEntry(vehicle_id=vehicle.id, **data.model_dump())
    session.add(entry)
    if data.odometer_km is not None:
        record_odometer(session, vehicle, data.odometer_km, data.incurred_on, "cost", day_field="incurred_on")
    audit.record(session, actor, "cost.recorded", entry, {"plate": vehicle.plate, **data.model_dump()})
    return entry


@dataclass
class VehicleAccount:
    """One vehicle's costs for a period, by kind, with the km it drove."""

    vehicle_id: int
    km: int = 0
    by_kind: dict[CostKind, Decimal] = field(default_factory=dict)

    @property
    def total(self) -> Decimal:
        return sum(self.by_kind.values(), Decimal(0))

    @property
    def per_km(self) -> Decimal | None:
        return (self.total / self.km).quantize(Decimal("0.01")) if self.km > 0 else None


def mileages(session: Session, vehicle_ids: Iterable[int], start: date, end: date) -> dict[int, int]:
    """Km each vehicle drove from ``start`` to ``end`` inclusive: its highest reading in the period minus its
    last reading before it (or its first in the period, when there was none before)."""
    ids = list(vehicle_ids)
    if not ids:
        return {}
    r = OdometerReading
    before = dict(session.execute(
        sa.select(r.vehicle_id, sa.func.max(r.km)).where(r.vehicle_id.in_(ids), r.read_on < start)
        .group_by(r.vehicle_id)
    ).all())
    within = session.execute(
        sa.select(r.vehicle_id, sa.func.min(r.km), sa.func.max(r.km))
        .where(r.vehicle_id.in_(ids), r.read_on.between(start, end)).group_by(r.vehicle_id)
    ).all()
    return {vid: int(hi - before.get(vid, lo)) for vid, lo, hi in within}


def accounts(session: Session, vehicle_ids: Iterable[int], start: date, end: date) -> dict[int, VehicleAccount]:
    """Every listed vehicle's account for the period (vehicles without costs or km included, with zeros)."""
    ids = list(vehicle_ids)
    result = {vid: VehicleAccount(vid) for vid in ids}
    if not ids:
        return result
    rows = session.execute(
        sa.select(CostEntry.vehicle_id, CostEntry.kind, CostEntry.amount_cny)
        .where(CostEntry.vehicle_id.in_(ids), CostEntry.incurred_on.between(start, end))
    )
    sums: dict[int, dict[CostKind, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for vid, kind, amount in rows:
        sums[vid][kind] += amount
    for vid, by_kind in sums.items():
        result[vid].by_kind = dict(by_kind)
    for vid, km in mileages(session, ids, start, end).items():
        result[vid].km = km
    return result


def year_account(session: Session, vehicle_id: int, year: int) -> VehicleAccount:
    """One vehicle's account for a calendar year."""
    queries.vehicle(session, vehicle_id)
    return accounts(session, [vehicle_id], date(year, 1, 1), date(year, 12, 31))[vehicle_id]
