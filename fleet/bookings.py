"""The trip lifecycle (用车申请 → 审批 → 派车 → 出车 → 收车): booking, decisions, and driving with odometers.

Every change is audited in its own transaction. Assigning a vehicle is `fleet.assignments`; dispatching many trips
at once, or one urgent trip into the running day, is `fleet.dispatching`.

Times are the platform's (`fleet.clock.now`), give or take a few minutes (`fleet.backfill.now_window`): a start, a
completion or a booking's pickup outside that is a back-fill (补录), which only a dispatcher records, with its
reason, and a back-filled start or completion lies within a day of the trip's pickup window. A booking is approved
by the agency's approver, or by a dispatcher who records the approval given outside the platform (a booking's
``approval_basis``, an approval's note); an approved emergency is placed at once by urgent insertion, however it was
approved. A trip whose pickup window is over is not approved: it can no longer be served.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fleet import audit, clock, dispatching, queries
from fleet.assignments import TRAVEL, holding, release
from fleet.audit import Actor
from fleet.backfill import REACH, NowWindow, entered_at, may_backfill, now_window
from fleet.clock import local_date, local_moment, local_text
from fleet.db import atomic
from fleet.enums import Priority, Role, TripStatus
from fleet.errors import Conflict, InvalidInput, InvalidState, NotPermitted
from fleet.i18n import alternatives, field_label, msg, with_article
from fleet.models import OdometerReading, Trip, User, Vehicle
from fleet.reorganisation import check_active
from fleet.schemas import OdometerIn, TripIn
from fleet.vehicles import record_odometer

_DECISIONS: dict[str, tuple[frozenset[TripStatus], TripStatus]] = {
    "approve": (frozenset({TripStatus.requested}), TripStatus.approved),
    "reject": (frozenset({TripStatus.requested}), TripStatus.rejected),
    # A rented trip (fleet.rentals) may be called off too: the provider is told outside the platform.
    "cancel": (frozenset({TripStatus.requested, TripStatus.approved, TripStatus.assigned, TripStatus.rented}),
               TripStatus.cancelled),
}
DECISIONS = tuple(_DECISIONS)
_DECISION_WORDS = {"approve": msg("approve"), "reject": msg("reject"), "cancel": msg("cancel"),
                   "start": msg("start"), "complete": msg("complete")}


def digest(data: TripIn) -> str:
    return hashlib.sha256(data.model_dump_json().encode("utf-8")).hexdigest()


def _may_record_approval(actor: Actor, basis: str | None) -> None:
    if basis is not None and actor.role != Role.dispatcher.value:
        raise NotPermitted(msg("only a dispatcher records an approval given outside the platform; {role}'s "
                               "booking goes to its agency's approver", role=with_article(actor.role)),
                           field="approval_basis")


def check_booking(actor: Actor, data: TripIn, window: NowWindow) -> None:
    """The rules a booking meets whoever books it: an emergency says why, and a pickup already past is a
    dispatcher's back-fill with its reason (and only such a pickup: a back-fill reason for a pickup still to come
    would record a 补录 that never was)."""
    if data.priority is Priority.emergency and data.priority_reason is None:
        raise InvalidInput(msg("an emergency booking states its reason (应急事由)"), field="priority_reason")
    may_backfill(actor, data.backfill_reason)
    _may_record_approval(actor, data.approval_basis)
    past = data.latest_pickup < window.earliest
    if data.backfill_reason is None and past:
        raise InvalidInput(msg("latest pickup {at} is already past (now: {now}); a trip booked after the fact is a "
                               "back-fill (补录) a dispatcher records with the {field}",
                               at=local_text(data.latest_pickup), now=local_text(window.now),
                               field=field_label("backfill_reason")), field="latest_pickup")
    if data.backfill_reason is not None and not past:
        raise InvalidInput(msg("latest pickup {at} is not past (now: {now}): the booking is not a back-fill; send it "
                               "without the {field}", at=local_text(data.latest_pickup), now=local_text(window.now),
                               field=field_label("backfill_reason")), field="backfill_reason")


def driven_at(actor: Actor, data: OdometerIn, vehicle: Vehicle, window: NowWindow, booked: Trip | None = None
              ) -> datetime:
    """When a start or completion happened: now, or the time given if it is now give or take; an older time only as
    a dispatcher's back-fill (`fleet.backfill.entered_at`). Never before the vehicle was acquired nor after the day
    it was disposed of, never in the future. A back-fill of ``booked`` lies within a day (`fleet.backfill.REACH`)
    of its pickup window: never more than a day before its earliest pickup, and a start (``booked`` not started
    yet) never more than a day after its latest pickup."""
    at = entered_at(actor, data.at, data.backfill_reason, window)
    if at < local_moment(vehicle.acquired_on):
        raise InvalidInput(msg("{at} is before vehicle {plate} was acquired on {day}", at=local_text(at),
                               plate=vehicle.plate, day=vehicle.acquired_on), field="at")
    if vehicle.disposed_on is not None and at >= local_moment(vehicle.disposed_on + timedelta(days=1)):
        raise InvalidInput(msg("{at} is after vehicle {plate} was disposed of on {day}", at=local_text(at),
                               plate=vehicle.plate, day=vehicle.disposed_on), field="at")
    if booked is not None and at < window.earliest:
        if at < booked.earliest_pickup - REACH:
            raise InvalidInput(msg("a back-filled {at} is more than a day before trip {trip_id}'s earliest pickup "
                                   "{pickup}", at=local_text(at), trip_id=booked.id,
                                   pickup=local_text(booked.earliest_pickup)), field="at")
        if booked.started_at is None and at > booked.latest_pickup + REACH:
            raise InvalidInput(msg("a back-filled start {at} is more than a day after trip {trip_id}'s latest pickup "
                                   "{pickup}", at=local_text(at), trip_id=booked.id,
                                   pickup=local_text(booked.latest_pickup)), field="at")
    return at


@atomic
def book(session: Session, actor: Actor, *, agency: str, data: TripIn, requested_by: User | None = None,
         idempotency_key: str | None = None, approved: bool = False) -> tuple[Trip, bool]:
    """Book a trip for ``agency``; returns (trip, created). A repeated idempotency key returns the first booking.

    The booking waits for the agency's approver unless a dispatcher gave its ``approval_basis``. ``approved``
    skips that step for seeds and fixtures only: the API books through `request`, which never sets it.
    """
    fingerprint = digest(data)
    if idempotency_key is not None:
        earlier = _by_key(session, requested_by, idempotency_key)
        if earlier is not None:
            return _replayed(earlier, fingerprint), False
    check_booking(actor, data, now_window())
    held_by = check_active(queries.agency_by_code(session, agency))
    booked = Trip(
        agency=held_by, requested_by=requested_by, purpose=data.purpose, priority=data.priority,
        priority_reason=data.priority_reason,
        categories=[c.value for c in data.allowed], passengers=data.passengers,
        pickup_lat=data.pickup.lat, pickup_lon=data.pickup.lon, pickup_address=data.pickup.address,
        dropoff_lat=data.dropoff.lat, dropoff_lon=data.dropoff.lon, dropoff_address=data.dropoff.address,
        earliest_pickup=data.earliest_pickup, latest_pickup=data.latest_pickup, dwell_min=data.dwell_min,
        planned_km=TRAVEL.pair_km((data.pickup.lat, data.pickup.lon), (data.dropoff.lat, data.dropoff.lon)),
        status=TripStatus.approved if approved or data.approval_basis else TripStatus.requested,
        approval_basis=data.approval_basis, backfill_reason=data.backfill_reason,
        idempotency_key=idempotency_key, request_digest=fingerprint,
    )
    try:
        with session.begin_nested():
            session.add(booked)
            session.flush()
    except IntegrityError:  # the same key raced in from another connection (PostgreSQL): answer with that one
        earlier = _by_key(session, requested_by, idempotency_key) if idempotency_key else None
        if earlier is None:
            raise
        return _replayed(earlier, fingerprint), False
    changes = data.model_dump(exclude={"agency", "categories"}) | {"agency": agency, "categories": booked.categories,
                                                                    "status": booked.status}
    audit.record(session, actor, "trip.booked", booked, changes)
    return booked, True


@dataclass(frozen=True)
class Booking:
    """A booking (or an approval) as its caller sees it: the trip, whether this call created it, and where an
    approved emergency went.

    When ``urgent`` is set, ``session`` was committed before the placement and must not be used again: read the
    trip afresh.
    """

    trip: Trip
    created: bool
    urgent: dispatching.Urgent | None


def request(session: Session, actor: Actor, *, agency: str, data: TripIn, requested_by: User, engine: Engine,
            idempotency_key: str | None = None, within: Collection[int] | None = None) -> Booking:
    """Book a trip as ``requested_by`` books it: it waits for the agency's approver, unless a dispatcher records
    the approval given outside the platform (``approval_basis``); an emergency approved so is placed at once, on
    the vehicles of ``within`` (a dispatcher's scope's agencies; None: the whole platform).

    A retry with the same idempotency key answers with the first booking, and places it if it is still an approved
    emergency: the booking is committed before placement, so a placement turned away under load (503, "send it
    again") leaves the trip stored and unplaced, and the retry is what places it.
    """
    booked, created = book(session, actor, agency=agency, data=data, requested_by=requested_by,
                           idempotency_key=idempotency_key)
    return Booking(booked, created, _placed(session, actor, booked, engine, within))


def approve(session: Session, actor: Actor, *, trip_id: int, engine: Engine, note: str | None = None,
            within: Collection[int] | None = None) -> Booking:
    """审批通过: the trip joins the dispatcher's queue; an emergency is placed at once by urgent insertion.

    The agency's approver approves. A dispatcher approves only on the agency's approval given outside the platform,
    and ``note`` is then that basis (required: 422 naming ``note``), stored as the trip's ``approval_basis`` and
    audited, exactly as when a dispatcher books with ``approval_basis``; no other role approves (403). A trip whose
    pickup window is over (latest pickup older than the grace) can no longer be served and is not approved (422
    naming ``latest_pickup``), unless it was booked after the fact as a back-fill (补录). An emergency is placed
    on the vehicles of ``within`` (the approving dispatcher's scope; None: the whole platform, for an agency's
    approver, whose emergency the platform serves). Approving an emergency that is approved and still unplaced
    places it again (the retry of an approval whose placement answered 503).
    """
    earlier = queries.trip(session, trip_id)
    if earlier.status is TripStatus.approved and earlier.priority is Priority.emergency:
        # Approved by a first try whose placement was turned away under load (503, "send it again"): the approval
        # stands, and the retry, by someone who may approve it, is what places it.
        _approval_basis(actor, earlier, note)
        return Booking(earlier, False, _placed(session, actor, earlier, engine, within))
    approved = _decided(session, actor, trip_id=trip_id, decision="approve", note=note)
    return Booking(approved, False, _placed(session, actor, approved, engine, within))


def _placed(session: Session, actor: Actor, booked: Trip, engine: Engine,
            within: Collection[int] | None) -> dispatching.Urgent | None:
    """Place an approved emergency into the running day. Its booking or approval is committed first, so that it is
    stored whatever placement does; placement then runs in transactions of its own on ``engine``
    (`fleet.dispatching.place_urgent`)."""
    if booked.status is not TripStatus.approved or booked.priority is not Priority.emergency:
        return None
    session.commit()
    return dispatching.place_urgent(engine, actor, trip_id=booked.id, now=clock.now(), agency_ids=within)


def _by_key(session: Session, user: User | None, key: str) -> Trip | None:
    owner = Trip.requested_by_id.is_(None) if user is None else Trip.requested_by_id == user.id
    return session.scalar(sa.select(Trip).where(owner, Trip.idempotency_key == key))


def _replayed(earlier: Trip, fingerprint: str) -> Trip:
    if earlier.request_digest != fingerprint:
        raise Conflict(msg("this Idempotency-Key was used for a different booking; use a new key for a new trip"),
                       field="Idempotency-Key", trip_id=earlier.id)
    return earlier


def decide(session: Session, actor: Actor, *, trip_id: int, decision: str, note: str | None = None) -> Trip:
    """Reject or cancel a trip; cancelling an assigned trip frees its vehicle. Approving is `approve`."""
    if decision == "approve":
        raise ValueError("approve through bookings.approve, which places an approved emergency at once")
    return _decided(session, actor, trip_id=trip_id, decision=decision, note=note)


@atomic
def _decided(session: Session, actor: Actor, *, trip_id: int, decision: str, note: str | None) -> Trip:
    allowed, to = _DECISIONS[decision]
    booked = queries.trip(session, trip_id, lock=True)
    if booked.status not in allowed:
        raise InvalidState(msg("trip {trip_id} is {status}; {decision} needs {needed}", trip_id=trip_id,
                               status=booked.status, decision=_DECISION_WORDS[decision],
                               needed=alternatives(sorted(allowed))), field="status")
    basis = _approval_basis(actor, booked, note) if decision == "approve" else None
    released = release(session, booked)
    before, booked.status, booked.decision_note = booked.status, to, note
    changes: dict[str, object] = {"from": before, "to": to, "note": note}
    if basis is not None:
        booked.approval_basis = basis
        changes["approval_basis"] = basis
    if released is not None:
        changes["released_vehicle_id"] = released.vehicle_id
    audit.record(session, actor, f"trip.{to.value}", booked, changes)
    return booked


def _approval_basis(actor: Actor, booked: Trip, note: str | None) -> str | None:
    """Who may approve ``booked`` and on what: its agency's approver as it is (None); a dispatcher with the basis of
    an approval given outside the platform in ``note`` (returned, to be stored and audited); no one else. A trip
    whose pickup window is over is not approved, unless it was booked as a back-fill."""
    if actor.role == Role.dispatcher.value:
        if note is None or len(note) < 2:
            raise InvalidInput(msg("a dispatcher approves only on the agency's approval given outside the platform: "
                                   "note states that basis (e.g. who approved it, by phone); otherwise the trip "
                                   "waits for its agency's approver"), field="note")
        basis: str | None = note
    elif actor.role == Role.approver.value:
        basis = None
    else:
        raise NotPermitted(msg("{role} does not approve trips: the agency's approver does, or a dispatcher who "
                               "records the approval given outside the platform", role=with_article(actor.role)),
                           field="note")
    window = now_window()
    if booked.latest_pickup < window.earliest and booked.backfill_reason is None:
        raise InvalidInput(msg("trip {trip_id}'s latest pickup {at} is past (now: {now}): it can no longer be "
                               "served, so it is not approved", trip_id=booked.id, at=local_text(booked.latest_pickup),
                               now=local_text(window.now)), field="latest_pickup")
    return basis


@atomic
def start(session: Session, actor: Actor, *, trip_id: int, data: OdometerIn) -> Trip:
    """出车: the driver picks the passengers up and reads the odometer."""
    booked, vehicle = _moving(session, trip_id, TripStatus.assigned, "start")
    at = driven_at(actor, data, vehicle, now_window(), booked)
    last = session.execute(
        sa.select(OdometerReading.km, OdometerReading.read_on)
        .where(OdometerReading.vehicle_id == vehicle.id, OdometerReading.read_on <= local_date(at))
        .order_by(OdometerReading.km.desc(), OdometerReading.read_on.desc()).limit(1)
    ).first()
    if last is not None:
        # A reading carries its day only: the car may have been driving since that day began.
        _check_plausible(vehicle, data.odometer_km, last_km=last.km, since=local_moment(last.read_on), at=at,
                         read=last.read_on.isoformat())
    record_odometer(session, vehicle, data.odometer_km, local_date(at), "trip.start")
    booked.status, booked.started_at, booked.odometer_start_km = TripStatus.in_progress, at, data.odometer_km
    booked.backfill_reason = data.backfill_reason or booked.backfill_reason
    audit.record(session, actor, "trip.started", booked, {"odometer_km": data.odometer_km, "at": at,
                                                          "vehicle_id": vehicle.id,
                                                          "backfill_reason": data.backfill_reason})
    return booked


@atomic
def complete(session: Session, actor: Actor, *, trip_id: int, data: OdometerIn) -> Trip:
    """收车: the passengers are delivered; the odometer reading closes the trip's mileage."""
    booked, vehicle = _moving(session, trip_id, TripStatus.in_progress, "complete")
    assert booked.odometer_start_km is not None  # set by start
    assert booked.started_at is not None
    at = driven_at(actor, data, vehicle, now_window(), booked)
    if data.odometer_km < booked.odometer_start_km:
        raise InvalidInput(msg("odometer {km} km is below the start reading {start_km} km", km=data.odometer_km,
                               start_km=booked.odometer_start_km), field="odometer_km")
    if at < booked.started_at:
        raise InvalidInput(msg("completion {at} is before the start {started_at}", at=at.isoformat(),
                               started_at=booked.started_at.isoformat()), field="at")
    _check_plausible(vehicle, data.odometer_km, last_km=booked.odometer_start_km, since=booked.started_at, at=at,
                     read=local_text(booked.started_at))
    record_odometer(session, vehicle, data.odometer_km, local_date(at), "trip.complete")
    booked.status, booked.completed_at, booked.odometer_end_km = TripStatus.completed, at, data.odometer_km
    booked.backfill_reason = data.backfill_reason or booked.backfill_reason
    audit.record(session, actor, "trip.completed", booked, {
        "odometer_km": data.odometer_km, "at": at, "driven_km": data.odometer_km - booked.odometer_start_km,
        "planned_km": booked.planned_km, "backfill_reason": data.backfill_reason})
    return booked


# The most a vehicle is taken to have driven since a reading: 150 km/h (above the 120 km/h expressway limit) for
# every hour since, and never less than 500 km (a long day's drive, and a reading timed to its day only). A mistyped
# reading above that (an extra digit: 99999999 for 145855) would otherwise stand for good, as every later reading
# is held to be at least the highest one, and the trip's km with it; it is refused when read, not audited after.
PLAUSIBLE_KMH = 150
PLAUSIBLE_FLOOR_KM = 500


def plausible_km(hours: float) -> int:
    """The most km a vehicle is taken to drive in ``hours`` (see `PLAUSIBLE_KMH`, `PLAUSIBLE_FLOOR_KM`)."""
    return max(PLAUSIBLE_FLOOR_KM, round(PLAUSIBLE_KMH * max(hours, 0.0)))


def _check_plausible(vehicle: Vehicle, km: int, *, last_km: int, since: datetime, at: datetime, read: str) -> None:
    limit = plausible_km((at - since).total_seconds() / 3600)
    if km - last_km > limit:
        raise InvalidInput(msg("odometer {km} km is {jump} km above the last reading of {last_km} km ({read}), more "
                               "than the {limit_km} km {plate} could have driven since: check the reading",
                               km=km, jump=km - last_km, last_km=last_km, read=read, limit_km=limit,
                               plate=vehicle.plate), field="odometer_km")


def _moving(session: Session, trip_id: int, needed: TripStatus, step: str) -> tuple[Trip, Vehicle]:
    """The trip, in state ``needed``, and the vehicle it holds, both locked: the vehicle first, as every writer
    of both does (`fleet.queries.lock_in_order`), so its car is read from the assignment before either lock."""
    ahead = queries.active_assignment(session, trip_id)
    queries.lock_in_order(session, vehicles=[ahead.vehicle_id] if ahead else [])  # then the trip's locked read
    booked = queries.trip(session, trip_id, lock=True)
    if booked.status is not needed:
        raise InvalidState(msg("trip {trip_id} is {status}; {decision} needs {needed}", trip_id=trip_id,
                               status=booked.status, decision=_DECISION_WORDS[step], needed=needed), field="status")
    held = holding(session, booked)
    if ahead is None or held.vehicle_id != ahead.vehicle_id:  # moved to another car between the two reads
        raise Conflict(msg("trip {trip_id}'s vehicle changed while this was sent; send it again",
                           trip_id=trip_id), field="vehicle_id")
    return booked, queries.vehicle(session, held.vehicle_id, lock=True)
