"""公务租车: trips the fleet cannot serve go to a contracted rental provider (定点租赁企业) instead.

A provider's tariff is a base fee, plus a rate per km, plus a rate per *started* hour (at least one) of the trip's
occupied interval (`fleet.assignments.occupied`: pickup to drop-off plus dwell, at the earliest pickup).

Lifecycle of a rented trip::

    approved ──rent──▶ rented ──rental bill──▶ completed
                         └────cancel──────────▶ cancelled

- ``rent`` takes an approved trip that holds no vehicle (one the fleet did not serve) to an active provider whose
  contract still runs on the trip's day (China date of its earliest pickup) and whose vehicles seat its
  passengers; the trip keeps the provider and the estimate (the tariff on its planned km and occupied hours).
- ``bill`` closes it with the km the provider billed and its invoice (default: the tariff on those km); the
  invoice replaces the estimate in ``Trip.rental_cost_cny``, and the trip is completed at ``at`` (default: now):
  a time within the grace of now, or an older one as a dispatcher's back-fill with ``backfill_reason`` (stored on
  the trip and audited), never in the future nor before the trip's earliest pickup (`fleet.backfill.entered_at`).
- A rented trip may be cancelled like an approved one (`fleet.bookings.decide`); it keeps the provider and the
  estimate as a record, and charges nothing (only completed trips are costed, `fleet.accounting`).

None of it touches 编制 (quotas count vehicles held, not rentals) and none of it creates a Vehicle. A batch run
may send what it leaves unserved to the cheapest eligible provider (`fleet.dispatching.run`, ``rent_unserved``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from fleet import audit, queries
from fleet.assignments import occupied
from fleet.audit import Actor
from fleet.backfill import entered_at, now_window
from fleet.clock import local_date, local_text
from fleet.db import atomic
from fleet.enums import TripStatus
from fleet.errors import AlreadyExists, Conflict, InvalidInput, InvalidState, NotFound
from fleet.i18n import msg
from fleet.models import RentalProvider, Trip
from fleet.schemas import RentalBillIn, RentalProviderIn, RentalProviderPatch

FEN = Decimal("0.01")
BILLED = "trip.rental_billed"


# --- the tariff (pure) ------------------------------------------------------------------------------------------


def started_hours(start: datetime, end: datetime) -> int:
    """Hours begun in [start, end): every started hour counts, and a rental is at least one."""
    return max(1, math.ceil((end - start).total_seconds() / 3600))


def tariff(provider: RentalProvider, km: float, hours: int) -> Decimal:
    """The provider's price, to the fen: base + per km x km + per hour x started hours."""
    exact = provider.base_cny + provider.per_km_cny * Decimal(str(km)) + provider.per_hour_cny * hours
    return exact.quantize(FEN, rounding=ROUND_HALF_UP)


def trip_hours(booked: Trip) -> int:
    """The started hours of the trip's occupied interval, picked up at its earliest pickup."""
    return started_hours(*occupied(booked, booked.earliest_pickup))


def refusal(provider: RentalProvider, booked: Trip) -> Conflict | None:
    """Why the provider cannot take the trip, or None: inactive, its contract ended before the trip's day, or its
    vehicles seat fewer than the trip's passengers."""
    day = local_date(booked.earliest_pickup)
    if not provider.active:
        return InvalidState(msg("rental provider {code} is inactive", code=provider.code), field="provider")
    if provider.contract_until is not None and provider.contract_until < day:
        return InvalidState(msg("rental provider {code}'s contract ended on {until}, before the trip's day {day}",
                                code=provider.code, until=provider.contract_until, day=day), field="provider")
    if provider.max_seats < booked.passengers:
        return Conflict(msg("rental provider {code} seats at most {seats}; trip {trip_id} carries {passengers}",
                            code=provider.code, seats=provider.max_seats, trip_id=booked.id,
                            passengers=booked.passengers), field="provider")
    return None


def cheapest(providers: Sequence[RentalProvider], booked: Trip) -> tuple[RentalProvider, Decimal] | None:
    """The eligible provider with the lowest estimate for the trip (ties: by code), with that estimate."""
    hours = trip_hours(booked)
    priced = [(tariff(p, booked.planned_km, hours), p.code, p) for p in providers if refusal(p, booked) is None]
    if not priced:
        return None
    cost, _, provider = min(priced, key=lambda row: (row[0], row[1]))
    return provider, cost


# --- providers ----------------------------------------------------------------------------------------------------


def provider_by_code(session: Session, code: str, *, lock: bool = False) -> RentalProvider:
    query = sa.select(RentalProvider).where(RentalProvider.code == code)
    found = session.scalar(query.with_for_update(key_share=True) if lock else query)
    if found is None:
        raise NotFound(msg("unknown rental provider {code}", code=code), field="provider")
    return found


def providers(session: Session, *, active_only: bool = False) -> list[RentalProvider]:
    """The providers, by code."""
    query = sa.select(RentalProvider).order_by(RentalProvider.code)
    if active_only:
        query = query.where(RentalProvider.active)
    return list(session.scalars(query))


@atomic
def add_provider(session: Session, actor: Actor, *, data: RentalProviderIn) -> RentalProvider:
    if session.scalar(sa.select(RentalProvider.id).where(RentalProvider.code == data.code)) is not None:
        raise AlreadyExists(msg("rental provider {code} already exists", code=data.code), field="code")
    provider = RentalProvider(**data.model_dump())
    session.add(provider)
    audit.record(session, actor, "rental_provider.added", provider, data.model_dump())
    return provider


@atomic
def update_provider(session: Session, actor: Actor, *, code: str, data: RentalProviderPatch) -> RentalProvider:
    """Change the fields ``data`` sets; trips already rented keep their estimate."""
    provider = provider_by_code(session, code, lock=True)
    changes = data.model_dump(include=data.model_fields_set)
    for name, value in changes.items():
        setattr(provider, name, value)
    audit.record(session, actor, "rental_provider.updated", provider, changes)
    return provider


# --- trips ------------------------------------------------------------------------------------------------------


def send(session: Session, actor: Actor, booked: Trip, provider: RentalProvider, *, run_id: int | None = None
         ) -> Decimal:
    """Send a locked, approved trip that holds no vehicle to ``provider``; returns the estimate. The caller owns
    the transaction (`rent`, or a batch run's write)."""
    if booked.status is not TripStatus.approved:
        raise InvalidState(msg("trip {trip_id} is {status}; only an approved trip without a vehicle can be rented",
                               trip_id=booked.id, status=booked.status), field="status")
    if queries.active_assignment(session, booked.id) is not None:
        raise InvalidState(msg("trip {trip_id} holds a vehicle; unassign it before renting", trip_id=booked.id),
                           field="status")
    refused = refusal(provider, booked)
    if refused is not None:
        raise refused
    hours = trip_hours(booked)
    estimate = tariff(provider, booked.planned_km, hours)
    booked.status, booked.rental_provider_id, booked.rental_cost_cny = TripStatus.rented, provider.id, estimate
    audit.record(session, actor, "trip.rented", booked, {
        "provider": provider.code, "planned_km": booked.planned_km, "hours": hours, "estimate_cny": estimate,
        "run_id": run_id})
    return estimate


@atomic
def rent(session: Session, actor: Actor, *, trip_id: int, provider: str) -> Trip:
    """Send an approved trip the fleet did not serve to a rental provider, with the tariff's estimate."""
    booked = queries.trip(session, trip_id, lock=True)
    send(session, actor, booked, provider_by_code(session, provider), run_id=None)
    return booked


@atomic
def bill(session: Session, actor: Actor, *, trip_id: int, data: RentalBillIn) -> Trip:
    """Close a rented trip with the provider's bill: the km it drove and its invoice (default: the tariff on those
    km and the trip's occupied hours). The trip is completed; its rental cost is final."""
    booked = queries.trip(session, trip_id, lock=True)
    if booked.status is not TripStatus.rented or booked.rental_provider is None:
        raise InvalidState(msg("trip {trip_id} is {status}; only a rented trip takes a rental bill",
                               trip_id=trip_id, status=booked.status), field="status")
    at = entered_at(actor, data.at, data.backfill_reason, now_window())
    if at < booked.earliest_pickup:
        raise InvalidInput(msg("the rental ended {at}, before the trip's earliest pickup", at=local_text(at)),
                           field="at")
    booked.backfill_reason = data.backfill_reason or booked.backfill_reason
    hours = trip_hours(booked)
    amount = data.amount_cny if data.amount_cny is not None else tariff(booked.rental_provider, data.km, hours)
    estimate = booked.rental_cost_cny
    booked.status, booked.completed_at, booked.rental_cost_cny = TripStatus.completed, at, amount
    booked.rental_km = data.km
    audit.record(session, actor, BILLED, booked, {
        "provider": booked.rental_provider.code, "km": data.km, "hours": hours, "amount_cny": amount,
        "invoiced": data.amount_cny is not None, "estimate_cny": estimate, "at": at,
        "backfill_reason": data.backfill_reason})
    return booked
