"""No double booking, at every level: the service refuses it, the database refuses it behind the service's back,
and racing clients get exactly one success and clean conflicts."""

from __future__ import annotations

import contextlib
from datetime import datetime, time, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from fleet import assignments, audit, bookings, clock, drivers, vehicles
from fleet.clock import CHINA
from fleet.db import unit_of_work
from fleet.enums import AssignmentSource, Category, TripStatus, VehicleStatus
from fleet.errors import Conflict
from fleet.models import Assignment, Trip, Vehicle
from fleet.schemas import AssignIn, DisposalIn, DriverIn, OdometerIn, TripIn
from tests.factories import ADMIN, agency, jurisdiction_tree, registered
from tests.fleet.test_concurrency import THREADS, race

DAY = datetime(2030, 3, 12, tzinfo=CHINA).date()


def at(hour: int, minute: int = 0) -> datetime:
    return datetime.combine(DAY, time(hour, minute), CHINA)


def trip_in(hour: int, minute: int = 0, *, dwell: int = 30) -> TripIn:
    return TripIn.parse({
        "purpose": "执法检查", "priority": "law_enforcement",
        "pickup": {"lat": 30.60, "lon": 114.30, "address": "甲"}, "dropoff": {"lat": 30.62, "lon": 114.32,
                                                                              "address": "乙"},
        "earliest_pickup": at(hour, minute).isoformat(), "latest_pickup": (at(hour, minute) + timedelta(hours=2))
        .isoformat(), "dwell_min": dwell})


def city(session: Session) -> tuple[list[int], int]:
    jurisdiction_tree(session)
    agency(session, "WH-GA", quotas={Category.law_enforcement: 3})
    vehicles = [registered(session, "WH-GA", category=Category.law_enforcement, home_lat=30.6, home_lon=114.3).id
                for _ in range(2)]
    driver = drivers.add_driver(session, ADMIN, data=DriverIn(name="张师傅", licence_class="C1", agency="WH-GA",
                                                              shift_start="00:00", shift_end="23:59")).id
    return vehicles, driver


def approved_trip(session: Session, hour: int, minute: int = 0, dwell: int = 30) -> int:
    trip, _ = bookings.book(session, ADMIN, agency="WH-GA", data=trip_in(hour, minute, dwell=dwell), approved=True)
    return trip.id


def overlaps(session: Session, column: str) -> int:
    a, b = sa.orm.aliased(Assignment), sa.orm.aliased(Assignment)
    return session.scalar(sa.select(sa.func.count()).select_from(a).join(b, sa.and_(
        getattr(a, column) == getattr(b, column), a.id < b.id, a.active, b.active,
        a.starts_at < b.ends_at, b.starts_at < a.ends_at))) or 0


class TestTheDatabaseRefusesOverlaps:
    """Rows written behind the service's back: an exclusion constraint (PostgreSQL) or a trigger (SQLite)."""

    @pytest.mark.parametrize("column", ["vehicle_id", "driver_id"])
    def test_an_overlapping_row_is_refused(self, session: Session, column: str) -> None:
        vehicles, driver = city(session)
        first, second = approved_trip(session, 9), approved_trip(session, 9, 30)
        session.add(Assignment(trip_id=first, vehicle_id=vehicles[0], driver_id=driver, starts_at=at(9),
                               ends_at=at(10), source=AssignmentSource.manual))
        session.flush()
        other = {"vehicle_id": vehicles[1], "driver_id": driver} if column == "driver_id" else \
            {"vehicle_id": vehicles[0], "driver_id": None}
        savepoint = session.begin_nested()
        session.add(Assignment(trip_id=second, starts_at=at(9, 59), ends_at=at(11), source=AssignmentSource.manual,
                               **other))
        with pytest.raises(sa.exc.IntegrityError, match="overlap"):
            session.flush()
        savepoint.rollback()

    def test_touching_intervals_and_inactive_rows_are_allowed(self, session: Session) -> None:
        vehicles, _ = city(session)
        first, second, third = (approved_trip(session, h) for h in (9, 10, 11))
        session.add_all([
            Assignment(trip_id=first, vehicle_id=vehicles[0], starts_at=at(9), ends_at=at(10),
                       source=AssignmentSource.manual),
            Assignment(trip_id=second, vehicle_id=vehicles[0], starts_at=at(10), ends_at=at(11),
                       source=AssignmentSource.manual, active=False),
        ])
        session.flush()
        session.add(Assignment(trip_id=third, vehicle_id=vehicles[0], starts_at=at(10), ends_at=at(11),
                               source=AssignmentSource.manual))
        session.flush()
        assert overlaps(session, "vehicle_id") == 0

    def test_reactivating_into_an_overlap_is_refused(self, session: Session) -> None:
        vehicles, _ = city(session)
        first, second = approved_trip(session, 9), approved_trip(session, 9)
        session.add(Assignment(trip_id=first, vehicle_id=vehicles[0], starts_at=at(9), ends_at=at(10),
                               source=AssignmentSource.manual))
        late = Assignment(trip_id=second, vehicle_id=vehicles[0], starts_at=at(9), ends_at=at(10),
                          source=AssignmentSource.manual, active=False)
        session.add(late)
        session.flush()
        savepoint = session.begin_nested()
        late.active = True
        with pytest.raises(sa.exc.IntegrityError, match="overlap"):
            session.flush()
        savepoint.rollback()


operations = st.lists(
    st.tuples(st.sampled_from(["assign", "cancel"]), st.integers(0, 5), st.integers(0, 1), st.booleans()),
    min_size=1, max_size=14)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_no_sequence_of_assignments_double_books(session: Session, ops: list[tuple[str, int, int, bool]]) -> None:
    """Property: whatever is assigned, reassigned or cancelled, in any order, no vehicle or driver ever holds two
    overlapping active assignments; every refusal is a domain conflict; the chain verifies."""
    with session.begin_nested() as example:
        vehicles, driver = city(session)
        # Six trips at 20-minute steps, each holding a vehicle ~50 min: neighbours collide, far ones do not.
        trips = [approved_trip(session, 8 + k // 3, (k % 3) * 20) for k in range(6)]
        for op, k, v, with_driver in ops:
            with contextlib.suppress(Conflict):  # a refusal is fine (409); anything else fails the property
                if op == "assign":
                    assignments.assign(session, ADMIN, trip_id=trips[k], data=AssignIn(
                        vehicle_id=vehicles[v], driver_id=driver if with_driver else None))
                else:
                    bookings.decide(session, ADMIN, trip_id=trips[k], decision="cancel")
            assert overlaps(session, "vehicle_id") == 0
            assert overlaps(session, "driver_id") == 0
        statuses = dict(session.execute(sa.select(Trip.id, Trip.status).where(Trip.id.in_(trips))).all())
        held = set(session.scalars(sa.select(Assignment.trip_id).where(Assignment.active)))
        assert held == {t for t, s in statuses.items() if s is TripStatus.assigned}
        assert audit.verify(session).ok
        example.rollback()


def test_racing_dispatchers_get_one_assignment_and_clean_conflicts(fresh_engine: Engine) -> None:
    """Eight dispatchers give eight different trips at the same hour to the same vehicle at once: exactly one
    succeeds, seven get Conflict (409), and the vehicle holds one assignment."""
    with unit_of_work(fresh_engine) as session:
        vehicles, _ = city(session)
        trips = [approved_trip(session, 9) for _ in range(THREADS)]

    def assign(i: int) -> None:
        with unit_of_work(fresh_engine) as session:
            assignments.assign(session, ADMIN, trip_id=trips[i], data=AssignIn(vehicle_id=vehicles[0]))

    outcomes = race(fresh_engine, THREADS, assign)
    assert outcomes == {"ok": 1, "Conflict": THREADS - 1}
    with unit_of_work(fresh_engine, readonly=True) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Assignment).where(Assignment.active)) == 1
        assert overlaps(session, "vehicle_id") == 0
        assert audit.verify(session).ok


def test_racing_for_one_trip_assigns_it_once(fresh_engine: Engine) -> None:
    """Eight dispatchers give the same trip to eight different vehicles at once: one assignment stays active."""
    with unit_of_work(fresh_engine) as session:
        jurisdiction_tree(session)
        agency(session, "WH-GA", quotas={Category.law_enforcement: THREADS})
        vehicles = [registered(session, "WH-GA", category=Category.law_enforcement).id for _ in range(THREADS)]
        trip = approved_trip(session, 9)

    def assign(i: int) -> None:
        with unit_of_work(fresh_engine) as session:
            assignments.assign(session, ADMIN, trip_id=trip, data=AssignIn(vehicle_id=vehicles[i]))

    outcomes = race(fresh_engine, THREADS, assign)
    assert sum(outcomes.values()) == THREADS
    assert set(outcomes) <= {"ok", "Conflict"}
    with unit_of_work(fresh_engine, readonly=True) as session:
        active = session.scalars(sa.select(Assignment).where(Assignment.trip_id == trip, Assignment.active)).all()
        assert len(active) == 1


def test_a_conflict_leaves_nothing_behind(session: Session) -> None:
    vehicles, _ = city(session)
    first, second = approved_trip(session, 9), approved_trip(session, 9)
    assignments.assign(session, ADMIN, trip_id=first, data=AssignIn(vehicle_id=vehicles[0]))
    count = session.scalar(sa.select(sa.func.count()).select_from(Assignment))
    head = audit.head(session)
    with pytest.raises(Conflict):
        assignments.assign(session, ADMIN, trip_id=second, data=AssignIn(vehicle_id=vehicles[0]))
    assert session.scalar(sa.select(sa.func.count()).select_from(Assignment)) == count
    assert audit.head(session) == head
    assert session.get(Trip, second).status is TripStatus.approved


class TestAVehicleLeavingUse:
    """A vehicle sealed, sent to the workshop or disposed of drives none of the trips it held: they go back to the
    dispatcher's queue, approved, saying why; one it is driving now keeps it in use until that trip ends."""

    @pytest.mark.parametrize("leave", ["seal", "maintenance_in", "dispose"])
    def test_its_trips_not_started_go_back_to_the_queue(self, session: Session, leave: str) -> None:
        vehicles_, _ = city(session)
        held, other = approved_trip(session, 9), approved_trip(session, 12)
        for trip_id, vehicle_id in ((held, vehicles_[0]), (other, vehicles_[1])):
            assignments.assign(session, ADMIN, trip_id=trip_id, data=AssignIn(vehicle_id=vehicle_id))
        leave_use(session, leave, vehicles_[0])
        back = session.get(Trip, held)
        assert back is not None
        assert back.status is TripStatus.approved
        assert back.dispatch_note is not None
        assert "back in the queue" in back.dispatch_note
        assert session.scalar(sa.select(sa.func.count()).select_from(Assignment).where(
            Assignment.vehicle_id == vehicles_[0], Assignment.active)) == 0
        kept = session.get(Trip, other)
        assert kept is not None
        assert kept.status is TripStatus.assigned
        assert audit.verify(session).ok

    @pytest.mark.parametrize("leave", ["seal", "maintenance_in", "dispose"])
    def test_a_vehicle_on_a_trip_now_is_refused_and_nothing_changes(self, session: Session, leave: str) -> None:
        vehicles_, _ = city(session)
        driving, later = approved_trip(session, 9), approved_trip(session, 15)
        for trip_id in (driving, later):
            assignments.assign(session, ADMIN, trip_id=trip_id, data=AssignIn(vehicle_id=vehicles_[0]))
        bookings.start(session, ADMIN, trip_id=driving, data=OdometerIn(odometer_km=100))
        with pytest.raises(Conflict, match=f"on trip {driving} now") as refused:
            leave_use(session, leave, vehicles_[0])
        assert refused.value.field == "vehicle_id"
        vehicle = session.get(Vehicle, vehicles_[0])
        assert vehicle is not None
        assert vehicle.status is VehicleStatus.active
        assert [session.get(Trip, t).status for t in (driving, later)] == [  # type: ignore[union-attr]
            TripStatus.in_progress, TripStatus.assigned]


def leave_use(session: Session, leave: str, vehicle_id: int) -> None:
    if leave == "dispose":
        vehicles.dispose(session, ADMIN, vehicle_id=vehicle_id,
                         data=DisposalIn(method="scrap", disposed_on=clock.today()))
    elif leave == "seal":
        vehicles.seal(session, ADMIN, vehicle_id=vehicle_id, reason="封存 for the audit")
    else:
        vehicles.maintenance_in(session, ADMIN, vehicle_id=vehicle_id, reason="brakes")
