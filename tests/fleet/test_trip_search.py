"""The desk's reads against plain Python, on SQLite and PostgreSQL: the trip filters, text search and sorts agree with
a filter over every trip; the vehicles called available are exactly those `assign` accepts; a vehicle's status
history reads as sealed and workshop periods."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from fleet import assignments, bookings, drivers, queries, users
from fleet.clock import CHINA
from fleet.enums import Category, Priority, Role, TripStatus, VehicleStatus
from fleet.errors import Conflict, FleetError
from fleet.models import Trip, Vehicle
from fleet.queries import TRIP_SORTS, TripFilter
from fleet.schemas import AssignIn, DriverIn, TripIn
from fleet.usage_audit.evidence import StatusChange
from tests.factories import ADMIN, agency, jurisdiction_tree, registered

DAY = datetime(2030, 3, 12, tzinfo=CHINA).date()
# Latin letters in both cases (folded alike by both databases), Chinese, and the characters LIKE treats specially.
ALPHABET = "aAbB路口%_/ 1"
SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                            HealthCheck.too_slow])


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(DAY + timedelta(days=day), time(hour, minute), CHINA)


@dataclass
class Desk:
    vehicles: list[Vehicle]
    drivers: list[int]
    users: list[int]


def desk(session: Session) -> Desk:
    jurisdiction_tree(session)
    agency(session, "WH-GA", quotas={Category.law_enforcement: 3, Category.general: 2})
    agency(session, "WH-CG", quotas={Category.law_enforcement: 2})
    fleet = [registered(session, code, category=category, home_lat=30.6, home_lon=114.3, seats=seats,
                        model=model)
             for code, category, seats, model in (
                 ("WH-GA", Category.law_enforcement, 5, "大众 帕萨特"),
                 ("WH-GA", Category.law_enforcement, 7, "别克 GL8"), ("WH-GA", Category.general, 5, "比亚迪 秦"),
                 ("WH-CG", Category.law_enforcement, 5, "Passat"))]
    crew = [drivers.add_driver(session, ADMIN, data=DriverIn(name=f"司机{n}", licence_class="C1", agency=None,
                                                             shift_start="00:00", shift_end="23:59")).id
            for n in range(2)]
    people = [users.add_user(session, ADMIN, name=f"申请人{n}", role=Role.requester, agency=code)[0].id
              for n, code in enumerate(("WH-GA", "WH-GA", "WH-CG"))]
    return Desk(fleet, crew, people)


texts = st.text(ALPHABET, min_size=2, max_size=6).filter(lambda t: t.strip() == t and len(t.strip()) >= 2)
trip_specs = st.lists(st.tuples(
    st.integers(0, 2),                      # requester (its agency follows)
    st.sampled_from(list(Priority)),
    texts, texts, texts,                    # purpose, pickup and drop-off addresses
    st.integers(0, 3), st.integers(0, 15),  # day and hour slot
    st.sampled_from(["requested", "approved", "rejected", "cancelled", "assigned"]),
    st.integers(0, 3), st.sampled_from([None, 0, 1]),  # vehicle and driver, when assigned
), min_size=1, max_size=10)


FILTERS: dict[str, st.SearchStrategy[Any]] = {
    "statuses": st.lists(st.sampled_from(list(TripStatus)), min_size=1, max_size=3, unique=True).map(tuple),
    "priority": st.sampled_from(list(Priority)),
    "agency": st.sampled_from(["WH-GA", "WH-CG", "NOPE"]),
    "vehicle": st.integers(0, 3),
    "driver": st.integers(0, 1),
    "mine": st.integers(0, 2),
    "since": st.tuples(st.integers(0, 3), st.integers(0, 23)),
    "until": st.tuples(st.integers(0, 4), st.integers(0, 23)),
    "q": st.text(ALPHABET + "鄂Ac0", min_size=1, max_size=3),
    # a piece of one trip's text (purpose, either address, the plate), its Latin letters' case swapped or not
    "q_from": st.tuples(st.integers(0, 9), st.integers(0, 3), st.integers(0, 5), st.integers(1, 3), st.booleans()),
    "scope_agency": st.sampled_from(["WH-GA", "WH-CG"]),
    "scope_driver": st.integers(0, 1),
}


@st.composite
def filters(draw: st.DrawFn) -> dict[str, Any]:
    """One to three filters at once (a piece of text more often than not), so most examples still find trips."""
    names = draw(st.sets(st.sampled_from(sorted(FILTERS)), min_size=0, max_size=3))
    if draw(st.booleans()):
        names = {*names, "q_from"} - {"q"}
    chosen = {name: draw(FILTERS[name]) if name in names else None for name in FILTERS}
    chosen["statuses"] = chosen["statuses"] or ()
    return {**chosen, "sort": draw(st.sampled_from(TRIP_SORTS)), "limit": draw(st.integers(1, 12)),
            "offset": draw(st.integers(0, 4))}


def book(session: Session, place: Desk, spec: tuple[Any, ...], index: int) -> None:
    who, priority, purpose, pickup, dropoff, day, slot, state, vehicle, driver = spec
    start = at(day, 6 + slot) + timedelta(minutes=7 * index)  # distinct pickups, hours apart from most others
    booked, _ = bookings.book(session, ADMIN, agency="WH-CG" if who == 2 else "WH-GA", data=TripIn.parse({
        "purpose": purpose, "priority": priority, "categories": ["law_enforcement", "general"],
        "priority_reason": "防汛抢险" if priority == "emergency" else None,
        "pickup": {"lat": 30.6, "lon": 114.3, "address": pickup},
        "dropoff": {"lat": 30.61, "lon": 114.31, "address": dropoff},
        "earliest_pickup": start.isoformat(), "latest_pickup": (start + timedelta(minutes=20)).isoformat(),
        "dwell_min": 5}), requested_by=session.get(users.User, place.users[who]),
        approved=state not in ("requested", "rejected"))
    if state in ("rejected", "cancelled"):
        bookings.decide(session, ADMIN, trip_id=booked.id, decision="reject" if state == "rejected" else "cancel")
    elif state == "assigned":
        with contextlib.suppress(Conflict):  # a clash leaves it approved: the model reads what is there
            assignments.assign(session, ADMIN, trip_id=booked.id, data=AssignIn(
                vehicle_id=place.vehicles[vehicle].id, driver_id=None if driver is None else place.drivers[driver]))


def model(session: Session, where: TripFilter, sort: str) -> list[int]:
    """The filter in Python, over every trip."""
    kept: list[Trip] = []
    for trip in session.scalars(sa.select(Trip)):
        held = trip.assignment
        texts = [trip.purpose, trip.pickup_address, trip.dropoff_address, *([held.vehicle.plate] if held else [])]
        if (where.scope_agency_id is not None and trip.agency_id != where.scope_agency_id) \
                or (where.scope_driver_id is not None and (held is None or held.driver_id != where.scope_driver_id)) \
                or (where.statuses and trip.status not in where.statuses) \
                or (where.priority is not None and trip.priority is not where.priority) \
                or (where.agency is not None and trip.agency.code != where.agency) \
                or (where.vehicle_id is not None and (held is None or held.vehicle_id != where.vehicle_id)) \
                or (where.driver_id is not None and (held is None or held.driver_id != where.driver_id)) \
                or (where.requested_by_id is not None and trip.requested_by_id != where.requested_by_id) \
                or (where.since is not None and trip.earliest_pickup < where.since) \
                or (where.until is not None and trip.earliest_pickup >= where.until) \
                or (where.q is not None and not any(where.q.lower() in t.lower() for t in texts)):
            continue
        kept.append(trip)
    rank = {p: n for n, p in enumerate(Priority)}
    keys: dict[str, Any] = {
        "pickup": lambda t: (t.earliest_pickup, t.id), "created": lambda t: (t.created_at, t.id),
        "priority": lambda t: (rank[t.priority], t.earliest_pickup, t.id), "id": lambda t: t.id}
    return [t.id for t in sorted(kept, key=keys[sort.lstrip("-")], reverse=sort.startswith("-"))]


def piece(session: Session, choice: tuple[int, int, int, int, bool]) -> str | None:
    """Part of a trip's text, to search for: one hit at least, unless the case swap or the plate's absence misses."""
    which, field, start, length, swap = choice
    trips = list(session.scalars(sa.select(Trip).order_by(Trip.id)))
    trip = trips[which % len(trips)]
    held = trip.assignment
    texts = [trip.purpose, trip.pickup_address, trip.dropoff_address, held.vehicle.plate if held else trip.purpose]
    text = texts[field][start % len(texts[field]):][:length] or texts[field]
    return text.swapcase() if swap else text


@SETTINGS
@given(specs=trip_specs, chosen=filters())
def test_the_trip_filters_agree_with_a_filter_over_every_trip(session: Session, specs: list[tuple[Any, ...]],
                                                              chosen: dict[str, Any]) -> None:
    with session.begin_nested() as example:
        place = desk(session)
        for index, spec in enumerate(specs):
            book(session, place, spec, index)
        session.expire_all()
        codes = {a.code: a.id for a in queries.agencies_page(session).rows}
        where = TripFilter(
            statuses=chosen["statuses"], priority=chosen["priority"], agency=chosen["agency"],
            vehicle_id=None if chosen["vehicle"] is None else place.vehicles[chosen["vehicle"]].id,
            driver_id=None if chosen["driver"] is None else place.drivers[chosen["driver"]],
            requested_by_id=None if chosen["mine"] is None else place.users[chosen["mine"]],
            since=None if chosen["since"] is None else at(chosen["since"][0], chosen["since"][1]),
            until=None if chosen["until"] is None else at(chosen["until"][0], chosen["until"][1]),
            q=chosen["q"] if chosen["q_from"] is None else piece(session, chosen["q_from"]),
            scope_agency_id=None if chosen["scope_agency"] is None else codes[chosen["scope_agency"]],
            scope_driver_id=None if chosen["scope_driver"] is None else place.drivers[chosen["scope_driver"]])
        expected = model(session, where, chosen["sort"])
        page = queries.trips_page(session, where, sort=chosen["sort"], limit=chosen["limit"],
                                  offset=chosen["offset"])
        assert page.total == len(expected)
        assert [t.id for t in page.rows] == expected[chosen["offset"]:chosen["offset"] + chosen["limit"]]
        assert [t.id for t in queries.all_trips(session, where, sort=chosen["sort"], batch=3)] == expected
        example.rollback()


def test_text_search_is_literal_and_folds_latin_case(session: Session) -> None:
    place = desk(session)
    for index, (purpose, pickup) in enumerate((("Audit 100%", "汉口路"), ("audit 1000", "A_B路"),
                                               ("检查", "a/b 路"))):
        book(session, place, (0, Priority.routine, purpose, pickup, "终点", 0, 0, "requested", 0, None), index)

    def found(q: str) -> list[str]:
        return [t.purpose for t in queries.trips_page(session, TripFilter(q=q), limit=10).rows]

    assert found("AUDIT") == ["Audit 100%", "audit 1000"]
    assert found("0%") == ["Audit 100%"]
    assert found("a_b") == ["audit 1000"]
    assert found("a/b") == ["检查"]
    assert found("a%b") == []


# --- available vehicles against assign ------------------------------------------------------------------------


@SETTINGS
@given(held=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 40)), max_size=6),
       status=st.sampled_from([VehicleStatus.active, VehicleStatus.sealed, VehicleStatus.maintenance]),
       slot=st.integers(0, 40), dwell=st.integers(0, 90), passengers=st.integers(1, 7),
       categories=st.sampled_from([["law_enforcement"], ["general"], ["law_enforcement", "general"]]))
def test_available_vehicles_are_exactly_those_assign_accepts(
        session: Session, held: list[tuple[int, int]], status: VehicleStatus, slot: int, dwell: int,
        passengers: int, categories: list[str]) -> None:
    with session.begin_nested() as example:
        place = desk(session)
        for vehicle, start_slot in held:  # trips already holding vehicles, every 15 minutes from 08:00
            start = at(0, 8) + timedelta(minutes=15 * start_slot)
            booked, _ = bookings.book(session, ADMIN, agency="WH-GA", approved=True, data=TripIn.parse({
                "purpose": "已派车", "priority": "law_enforcement", "categories": ["law_enforcement", "general"],
                "pickup": {"lat": 30.6, "lon": 114.3, "address": "甲"},
                "dropoff": {"lat": 30.62, "lon": 114.33, "address": "乙"},
                "earliest_pickup": start.isoformat(), "latest_pickup": start.isoformat(), "dwell_min": 20}))
            with contextlib.suppress(Conflict):
                assignments.assign(session, ADMIN, trip_id=booked.id,
                                   data=AssignIn(vehicle_id=place.vehicles[vehicle].id))
        place.vehicles[1].status = status  # the 7-seater: in service, sealed or in the workshop
        start = at(0, 8) + timedelta(minutes=15 * slot)
        trip, _ = bookings.book(session, ADMIN, agency="WH-GA", approved=True, data=TripIn.parse({
            "purpose": "新申请", "priority": "law_enforcement", "categories": categories, "passengers": passengers,
            "pickup": {"lat": 30.6, "lon": 114.3, "address": "甲"},
            "dropoff": {"lat": 30.65, "lon": 114.35, "address": "丙"},
            "earliest_pickup": start.isoformat(), "latest_pickup": start.isoformat(), "dwell_min": dwell}))
        interval = assignments.occupied(trip, trip.earliest_pickup)
        free = {v.id for v in assignments.free_vehicles(session, *interval, categories=[
            Category(c) for c in categories], seats=passengers)}
        for vehicle in place.vehicles:
            attempt = session.begin_nested()
            try:
                assignments.assign(session, ADMIN, trip_id=trip.id, data=AssignIn(vehicle_id=vehicle.id))
                accepted = True
            except FleetError:
                accepted = False
            attempt.rollback()
            assert accepted == (vehicle.id in free), (vehicle.plate, accepted, free)
        # and over a wider interval, never one that assign would refuse for the trip inside it
        wider = {v.id for v in assignments.free_vehicles(session, interval[0] - timedelta(hours=1),
                                                         interval[1] + timedelta(hours=1))}
        assert wider <= {v.id for v in assignments.free_vehicles(session, *interval)}
        example.rollback()


# --- status periods -------------------------------------------------------------------------------------------


def change(seq: int, hour: int, action: str, after: VehicleStatus | None) -> StatusChange:
    return StatusChange(seq=seq, at=at(0, hour), action=action, before=None, after=after, reason=None)


def periods(changes: list[StatusChange], status: VehicleStatus = VehicleStatus.active, start: int = 0,
            end: int = 24) -> list[tuple[str, str, int, int]]:
    vehicle: Any = SimpleNamespace(id=7, status=status)
    found = queries._status_periods(vehicle, changes, at(0, 0) + timedelta(hours=start),
                                    at(0, 0) + timedelta(hours=end))
    return [(p.id, p.kind, int((p.start - at(0, 0)).total_seconds() // 3600),
             int((p.end - at(0, 0)).total_seconds() // 3600)) for p in found]


def test_status_history_reads_as_periods_clipped_to_the_window() -> None:
    seal, unseal = change(3, 8, "vehicle.seal", VehicleStatus.sealed), change(5, 12, "vehicle.unseal",
                                                                              VehicleStatus.active)
    into, out = (change(9, 14, "vehicle.maintenance_in", VehicleStatus.maintenance),
                 change(11, 17, "vehicle.maintenance_out", VehicleStatus.active))
    assert periods([seal, unseal, into, out]) == [("s3", "sealed", 8, 12), ("w9", "workshop", 14, 17)]
    assert periods([seal, unseal, into, out], start=10, end=15) == [("s3", "sealed", 10, 12),
                                                                   ("w9", "workshop", 14, 15)]
    assert periods([seal]) == [("s3", "sealed", 8, 24)]  # still open: to the window's end
    assert periods([seal, unseal], start=13) == []
    disposal = StatusChange(seq=12, at=at(0, 20), action="vehicle.disposed", before=None,
                            after=VehicleStatus.disposed, reason=None)
    assert periods([into, disposal]) == [("w9", "workshop", 14, 20)]
    # a vehicle sealed before the log knew it: the whole window
    assert periods([], VehicleStatus.sealed, 6, 9) == [("s0v7", "sealed", 6, 9)]
    assert periods([], VehicleStatus.active) == []
