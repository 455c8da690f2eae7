"""Races a crowd of clients finds (issue 12's probe): two writers on one trip or one vehicle at the same instant.

Each race is replayed deterministically: the second writer commits at the exact point between the first one's read
and its write (on PostgreSQL, where writers run side by side; SQLite's single writer serialises them whole). After
it the record must say one thing: a trip is not both rejected and approved, a sealed vehicle takes no trip, a trip
cancelled stays cancelled whatever an emergency was doing to it, and emergencies booked at the same instant are
each placed, not turned away because another took the car first.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from api.app import create_app
from dispatch import insert as engine_insert
from fleet import (
    amendments,
    assignments,
    bookings,
    clock,
    dispatching,
    live_day,
    plans,
    positions,
    queries,
    registry,
    reorganisation,
    users,
    vehicles,
)
from fleet.audit import Actor
from fleet.db import make_engine, unit_of_work
from fleet.enums import Category, PlanStatus, Powertrain, TripStatus, VehicleStatus
from fleet.errors import Busy, Conflict, FleetError, InvalidState
from fleet.models import Agency, Assignment, AuditRecord, Driver, Plan, Trip
from fleet.schemas import (
    AgencyIn,
    AssignIn,
    DisposalIn,
    DriverPatch,
    MergeIn,
    OdometerIn,
    PlanIn,
    QuotaIn,
    TransferIn,
    TripIn,
)
from tests.api.conftest import AGENCY_A, AGENCY_B, CITY, Api, City, at, seed_city, trip_body
from tests.api.test_under_load import copy_city
from tests.conftest import postgres_schema
from tests.factories import THIS_YEAR, registered, vehicle_in

APPROVER, DISPATCHER, ADMIN = Actor("approver-a", "approver"), Actor("dispatcher", "dispatcher"), \
    Actor("admin", "admin")


@pytest.fixture(autouse=True)
def no_live_days() -> Iterator[None]:
    live_day.clear()
    yield
    live_day.clear()


@pytest.fixture
def pg_city(request: pytest.FixtureRequest) -> Iterator[tuple[Engine, Api]]:
    """The API tests' city on a PostgreSQL schema of its own, with the API over it."""
    request.getfixturevalue("postgresql_engine")  # skips, or fails under CI, when there is no server
    with postgres_schema("gongche_races", pool_size=10) as engine:
        city = seed_city(engine)
        with TestClient(create_app(engine), raise_server_exceptions=False) as client:
            yield engine, Api(client, city)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_city(request: pytest.FixtureRequest, city_template: tuple[Path, City],
             tmp_path: Path) -> Iterator[tuple[Engine, Api]]:
    if request.param == "postgresql":
        yield request.getfixturevalue("pg_city")
        return
    engine = make_engine(copy_city(city_template[0], tmp_path / "city.db"))
    with TestClient(create_app(engine), raise_server_exceptions=False) as client:
        yield engine, Api(client, city_template[1])
    engine.dispose()


def booked(api: Api, **overrides: Any) -> int:
    r = api.as_("requester-a").post("/trips", json=trip_body(**overrides))
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def approved(api: Api, **overrides: Any) -> int:
    trip = booked(api, **overrides)
    r = api.as_("approver-a").post(f"/trips/{trip}/approve", json={"note": "同意"})
    assert r.status_code == 200, r.text
    return trip


def actions(engine: Engine, trip_id: int) -> list[str]:
    with unit_of_work(engine, readonly=True) as session:
        return list(session.scalars(sa.select(AuditRecord.action).where(
            AuditRecord.entity == "trip", AuditRecord.entity_id == str(trip_id)).order_by(AuditRecord.seq)))


# --- a row read before its lock -----------------------------------------------------------------------------------


@pytest.mark.postgres
def test_a_trip_rejected_after_the_approval_read_it_is_not_approved_too(pg_city: tuple[Engine, Api]) -> None:
    """Approval reads the trip (an emergency approved before is placed again) before it locks it; a rejection
    committed in between must be what the locked read sees, or the trip ends rejected and then approved. Over HTTP
    a probe of 40 trips, each approved and rejected at once, left 5 both rejected and approved."""
    engine, api = pg_city
    trip = booked(api)
    with unit_of_work(engine) as session:
        seen = queries.trip(session, trip)  # the first look, still held (as `approve` holds what it read first)
        assert seen.status is TripStatus.requested
        with unit_of_work(engine) as other:
            bookings.decide(other, APPROVER, trip_id=trip, decision="reject", note="不批")
        with pytest.raises(InvalidState) as refused:
            bookings.approve(session, APPROVER, trip_id=trip, engine=engine)
    assert refused.value.field == "status"
    assert "rejected" in str(refused.value.detail)
    assert actions(engine, trip) == ["trip.booked", "trip.rejected"]
    assert api.as_("approver-a").get(f"/trips/{trip}").json()["status"] == "rejected"


@pytest.mark.postgres
def test_a_vehicle_sealed_after_the_assignment_read_it_takes_no_trip(pg_city: tuple[Engine, Api]) -> None:
    """A locked read is a fresh read, even of a row the transaction read (and still holds) before: a seal
    committed in between must be seen, or a sealed vehicle is sent out."""
    engine, api = pg_city
    trip = approved(api)
    vehicle_id = api.city.vehicles["le-a1"]
    with unit_of_work(engine) as session:
        seen = queries.vehicle(session, vehicle_id)  # the first look, still held by the caller
        assert seen.status is VehicleStatus.active
        with unit_of_work(engine) as other:
            vehicles.seal(other, ADMIN, vehicle_id=vehicle_id, reason="封存检查")
        with pytest.raises(InvalidState) as refused:
            assignments.assign(session, DISPATCHER, trip_id=trip, data=AssignIn(vehicle_id=vehicle_id))
    assert refused.value.field == "vehicle_id"
    with unit_of_work(engine, readonly=True) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Assignment)
                              .where(Assignment.vehicle_id == vehicle_id, Assignment.active)) == 0


# --- an agency merged while it books ----------------------------------------------------------------------------


REQUESTER = Actor("requester-a", "requester")


def open_trips_of(engine: Engine, code: str) -> list[int]:
    with unit_of_work(engine, readonly=True) as session:
        return list(session.scalars(sa.select(Trip.id).join(Trip.agency).where(
            Agency.code == code, Trip.status.in_(reorganisation.OPEN_TRIPS))))


def merge_a_into_b(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        reorganisation.merge(session, ADMIN, code=AGENCY_A, data=MergeIn(into=AGENCY_B, on=clock.today(),
                                                                          reason="机构改革合并"))


@pytest.mark.postgres
def test_a_booking_for_an_agency_merged_after_its_first_look_is_refused(pg_city: tuple[Engine, Api]) -> None:
    """The booking's transaction read the agency (a route's scope check does) before a merge dissolved it: the
    booking must see the merge, not the agency as it first read it, and be refused naming its successor."""
    engine, _ = pg_city
    with unit_of_work(engine) as session:
        seen = queries.agency_by_code(session, AGENCY_A)  # the first look, still held (as the caller's user holds it)
        assert seen.dissolved_on is None
        merge_a_into_b(engine)
        with pytest.raises(InvalidState) as refused:
            bookings.book(session, REQUESTER, agency=AGENCY_A, data=TripIn.parse(trip_body()))
    assert refused.value.field == "agency"
    assert AGENCY_B in str(refused.value.detail)
    assert open_trips_of(engine, AGENCY_A) == []


@pytest.mark.postgres
def test_a_merge_begun_after_a_booking_checked_its_agency_takes_that_booking_along(
        pg_city: tuple[Engine, Api], monkeypatch: pytest.MonkeyPatch) -> None:
    """The merge starts right after the booking found its agency active, before the trip is written. The merge must
    wait for the booking and then move its trip to the successor: if it ran first, the trip written after it would
    stay in the dissolved agency for good (the trip's foreign key waits for the merge, then takes the old row)."""
    engine, _ = pg_city
    merged = threading.Event()
    failures: list[BaseException] = []
    waited: list[bool] = []

    def merge() -> None:
        try:
            merge_a_into_b(engine)
        except BaseException as error:  # reported by the test below
            failures.append(error)
        merged.set()

    merging = threading.Thread(target=merge)
    real = bookings.check_active

    def merge_meanwhile(agency: Agency, **kwargs: Any) -> Agency:
        checked = real(agency, **kwargs)
        merging.start()
        waited.append(not merged.wait(timeout=1))  # a merge that does not wait is done within the second
        return checked

    monkeypatch.setattr(bookings, "check_active", merge_meanwhile)
    with unit_of_work(engine) as session:
        trip, _ = bookings.book(session, REQUESTER, agency=AGENCY_A, data=TripIn.parse(trip_body()))
        trip_id = trip.id
    merging.join(timeout=30)
    assert not failures, failures
    assert waited == [True], "the merge did not wait for the booking"
    assert open_trips_of(engine, AGENCY_A) == []
    assert trip_id in open_trips_of(engine, AGENCY_B)
    assert "trip.reassigned" in actions(engine, trip_id)


def merge_at_its_agency_check(engine: Engine, monkeypatch: pytest.MonkeyPatch, module: Any,
                              work: Callable[[Session], object], *, at_check: int = 1) -> BaseException | None:
    """Run ``work`` in a transaction of its own while agency A merges into B, the merge beginning as ``work`` checks
    an agency (``module.check_active``) for the ``at_check``-th time and getting half a second to lock what it locks
    before the check goes on. A writer that took a row lock before that check held the row the merge wants next
    while it waited for the agency the merge holds: a deadlock, which PostgreSQL breaks by failing one side.
    Returns how ``work`` ended (None, or the refusal it raised); the merge must go through."""
    checking = threading.Event()
    real: Callable[..., Agency] = module.check_active
    checks: list[Agency] = []

    def merge_takes_the_agency_first(agency: Agency, **kwargs: Any) -> Agency:
        checks.append(agency)
        if len(checks) == at_check:
            checking.set()
            time.sleep(0.5)  # the merge locks its agencies meanwhile, then what they hold
        return real(agency, **kwargs)

    monkeypatch.setattr(module, "check_active", merge_takes_the_agency_first)
    failures: list[BaseException] = []

    def merge() -> None:
        checking.wait(timeout=30)
        try:
            merge_a_into_b(engine)
        except BaseException as error:  # reported below
            failures.append(error)

    merging = threading.Thread(target=merge)
    merging.start()
    outcome: BaseException | None = None
    try:
        with unit_of_work(engine) as session:
            work(session)
    except FleetError as refused:
        outcome = refused
    finally:
        merging.join(timeout=30)
    assert not failures, failures
    return outcome


@pytest.mark.postgres
def test_a_plan_submitted_while_its_agency_merges_goes_through_and_moves(
        pg_city: tuple[Engine, Api], monkeypatch: pytest.MonkeyPatch) -> None:
    """A plan is submitted (its row locked) as its agency merges (the agency locked, then its open plans): neither
    waits on the other for good. Locking the agency after the plan, the reverse of the merge's order, deadlocked
    and the merge failed. The submission lands, and the merge then moves the submitted plan to the successor."""
    engine, _ = pg_city
    with unit_of_work(engine) as session:
        plan_id = plans.create_plan(session, ADMIN, data=PlanIn.parse({
            "agency": AGENCY_A, "year": THIS_YEAR + 1,
            "lines": [{"kind": "new", "category": "general", "powertrain": "bev", "count": 1,
                       "unit_price_cny": 180000}]})).id
    assert merge_at_its_agency_check(
        engine, monkeypatch, plans, lambda session: plans.submit_plan(session, ADMIN, plan_id=plan_id)) is None
    with unit_of_work(engine, readonly=True) as session:
        plan = session.get_one(Plan, plan_id)
        assert (plan.status, plan.agency.code) == (PlanStatus.submitted, AGENCY_B)


def held_by(engine: Engine, vehicle_id: int) -> str:
    with unit_of_work(engine, readonly=True) as session:
        return queries.vehicle(session, vehicle_id).agency.code


@pytest.mark.postgres
def test_a_vehicle_transferred_into_an_agency_as_its_holder_merges_into_it_goes_through_first(
        pg_city: tuple[Engine, Api], monkeypatch: pytest.MonkeyPatch) -> None:
    """A's car is transferred to B as A merges into B. The transfer locked the car, then B; the merge locks A and
    B, then A's cars: each waited on the other. Now the transfer takes both agencies (shared, in id order, as the
    merge takes them) before the car: the merge waits for it, and then has that car no more to move."""
    engine, api = pg_city
    vehicle_id = api.city.vehicles["gen-a1"]
    assert merge_at_its_agency_check(engine, monkeypatch, vehicles, lambda session: vehicles.transfer(
        session, ADMIN, vehicle_id=vehicle_id, data=TransferIn(to_agency=AGENCY_B, transferred_on=clock.today(),
                                                               reason="调剂"))) is None
    assert held_by(engine, vehicle_id) == AGENCY_B
    with unit_of_work(engine, readonly=True) as session:
        moves = session.scalars(sa.select(AuditRecord.action).where(
            AuditRecord.entity == "vehicle", AuditRecord.entity_id == str(vehicle_id),
            AuditRecord.action == "vehicle.transferred")).all()
    assert len(moves) == 1, "transferred once, by the transfer; the merge found it B's already"


@pytest.mark.postgres
def test_a_vehicle_transferred_out_of_an_agency_as_it_merges_goes_through_first(
        pg_city: tuple[Engine, Api], monkeypatch: pytest.MonkeyPatch) -> None:
    """A's car is transferred to a third agency C as A merges into B, the merge beginning once the transfer holds
    the car. The transfer's record names A, so PostgreSQL locks A's key to write it, which the merge held while it
    waited for the car. Now the transfer holds A (shared) from the start: the merge waits, and finds the car gone."""
    engine, api = pg_city
    with unit_of_work(engine) as session:
        registry.create_agency(session, ADMIN, data=AgencyIn(code="WH-SW", name="市水务局", jurisdiction=CITY))
        registry.set_quota(session, ADMIN, data=QuotaIn(agency="WH-SW", category=Category.general, limit=2,
                                                        reason="编制核定"))
    vehicle_id = api.city.vehicles["gen-a1"]
    assert merge_at_its_agency_check(engine, monkeypatch, vehicles, lambda session: vehicles.transfer(
        session, ADMIN, vehicle_id=vehicle_id, data=TransferIn(to_agency="WH-SW", transferred_on=clock.today(),
                                                               reason="调剂")), at_check=2) is None
    assert held_by(engine, vehicle_id) == "WH-SW"


@pytest.mark.postgres
def test_a_vehicle_that_changed_hands_after_the_transfer_first_read_it_is_refused(
        pg_city: tuple[Engine, Api], monkeypatch: pytest.MonkeyPatch) -> None:
    """Another transfer of the same car commits between this one's first, unlocked read of the car (which names
    the agencies it locks) and its lock on the car: the car is refused naming the field, not moved from an agency
    whose row was never locked."""
    engine, api = pg_city
    vehicle_id = api.city.vehicles["gen-a1"]
    real = vehicles.lock_agencies
    moved: list[bool] = []

    def another_transfer_first(session: Session, ids: Any, **kwargs: Any) -> None:
        if not moved:
            moved.append(True)
            with unit_of_work(engine) as other:
                vehicles.transfer(other, ADMIN, vehicle_id=vehicle_id, data=TransferIn(
                    to_agency=AGENCY_B, transferred_on=clock.today(), reason="调剂"))
        real(session, ids, **kwargs)

    monkeypatch.setattr(vehicles, "lock_agencies", another_transfer_first)
    with unit_of_work(engine) as session, pytest.raises(Conflict) as refused:
        vehicles.transfer(session, ADMIN, vehicle_id=vehicle_id, data=TransferIn(
            to_agency=AGENCY_B, transferred_on=clock.today(), reason="调剂"))
    assert refused.value.field == "vehicle_id"
    assert AGENCY_B in str(refused.value.detail)
    assert held_by(engine, vehicle_id) == AGENCY_B


@pytest.mark.postgres
def test_a_driver_moved_into_an_agency_as_its_agency_merges_into_it_goes_through(
        pg_city: tuple[Engine, Api], monkeypatch: pytest.MonkeyPatch) -> None:
    """As for a car: the amendment locked the driver, then the agency it moves the driver to; a merge locks the
    agencies, then their drivers."""
    engine, api = pg_city
    driver_id = api.city.drivers["driver-a"]
    assert merge_at_its_agency_check(engine, monkeypatch, amendments, lambda session: amendments.amend_driver(
        session, ADMIN, driver_id=driver_id, data=DriverPatch.parse({"agency": AGENCY_B}))) is None
    with unit_of_work(engine, readonly=True) as session:
        moved = session.get_one(Driver, driver_id).agency
        assert moved is not None
        assert moved.code == AGENCY_B


@pytest.mark.postgres
def test_a_renewal_as_its_agency_merges_is_refused_naming_the_successor_not_deadlocked(
        pg_city: tuple[Engine, Api], monkeypatch: pytest.MonkeyPatch) -> None:
    """A renewal locked the car it replaces, then its agency; a merge locks the agency, then its cars."""
    engine, _ = pg_city
    with unit_of_work(engine) as session:
        old = registered(session, AGENCY_A, category=Category.law_enforcement,
                         acquired_on=date(THIS_YEAR - 9, 1, 1))
        plan = plans.create_plan(session, ADMIN, data=PlanIn.parse({
            "agency": AGENCY_A, "year": THIS_YEAR, "lines": [
                {"kind": "renewal", "category": "law_enforcement", "powertrain": "bev", "count": 1,
                 "unit_price_cny": 150000, "replaces": [old.plate]}]}))
        plans.submit_plan(session, ADMIN, plan_id=plan.id)
        plans.approve_plan(session, ADMIN, plan_id=plan.id)
        line_id, old_id = plan.lines[0].id, old.id
    outcome = merge_at_its_agency_check(engine, monkeypatch, vehicles, lambda session: vehicles.renew(
        session, ADMIN, plan_line_id=line_id, replaced_vehicle_id=old_id,
        data=vehicle_in(category=Category.law_enforcement, powertrain=Powertrain.bev, acquired_on=clock.today()),
        disposal=DisposalIn(method="auction", disposed_on=clock.today())))
    assert isinstance(outcome, InvalidState), outcome
    assert AGENCY_B in str(outcome.detail)
    assert held_by(engine, old_id) == AGENCY_B


# --- urgent placement against the desk ------------------------------------------------------------------------------


def emergency_body(hour: int, **overrides: Any) -> dict[str, Any]:
    return trip_body(**{"priority": "emergency", "purpose": "防汛抢险", "agency": AGENCY_A,
                        "approval_basis": "单位审批人电话同意", "earliest_pickup": at(hour).isoformat(),
                        "latest_pickup": at(hour, 5).isoformat(), **overrides})


@pytest.mark.postgres
def test_a_trip_cancelled_while_an_emergency_displaces_it_stays_cancelled(
        pg_city: tuple[Engine, Api], monkeypatch: pytest.MonkeyPatch) -> None:
    """The emergency's placement puts out the routine trip holding the only emergency car. The requester cancels
    that trip after the placement checked it and before it committed: the trip stays cancelled (the cancel waits
    for the placement, or the placement sees the cancel), never goes back to the queue as approved."""
    engine, api = pg_city
    routine = approved(api, priority="routine", categories=["emergency"], earliest_pickup=at(10).isoformat(),
                       latest_pickup=at(10, 5).isoformat())
    r = api.as_("dispatcher").post(f"/trips/{routine}/assign", json={"vehicle_id": api.city.vehicles["em-a1"]})
    assert r.status_code == 200, r.text
    with unit_of_work(engine) as session:
        urgent, _ = bookings.book(session, DISPATCHER, agency=AGENCY_A, approved=True, data=TripIn.parse(
            emergency_body(10, categories=["emergency"])))
        urgent_id = urgent.id

    placing = threading.current_thread()
    cancelled: list[Any] = []
    cancel_thread: list[threading.Thread] = []
    read = queries.active_assignment

    def cancel() -> None:
        try:
            with unit_of_work(engine) as session:
                cancelled.append(bookings.decide(session, Actor("requester-a", "requester"), trip_id=routine,
                                                 decision="cancel", note="不去了").status)
        except Exception as exc:  # recorded for the assertion
            cancelled.append(exc)

    def checked(session: Any, trip_id: int) -> Assignment | None:
        found = read(session, trip_id)
        if threading.current_thread() is placing and trip_id == routine and not cancel_thread:
            assert found is not None
            assert found.trip.status is TripStatus.assigned  # the placement's check...
            cancel_thread.append(threading.Thread(target=cancel))  # ...and the requester cancels right after it
            cancel_thread[0].start()
            cancel_thread[0].join(timeout=2)  # done at once, unless the placement holds the trip (then after it)
        return found

    monkeypatch.setattr(queries, "active_assignment", checked)
    placed = dispatching.place_urgent(engine, DISPATCHER, trip_id=urgent_id, now=clock.now())
    assert cancel_thread, "the placement never checked the routine trip: the scenario did not happen"
    cancel_thread[0].join(timeout=30)
    assert cancelled, "the cancel never finished"
    assert not isinstance(cancelled[0], Exception), cancelled
    with unit_of_work(engine, readonly=True) as session:
        trip = session.get_one(Trip, routine)
        assert trip.status is TripStatus.cancelled, (trip.status, actions(engine, routine), placed)
        assert queries.active_assignment(session, routine) is None
    assert actions(engine, routine)[-1] == "trip.cancelled", actions(engine, routine)


def test_emergencies_booked_at_the_same_instant_are_each_placed(any_city: tuple[Engine, Api],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Two emergencies for the same hour, placed side by side: both plan on the same free car (the same day, the
    same engine). The one that writes second finds the car taken and must plan again on the day as it now is (the
    other cars are free), not give up with the winner's conflict as its reason."""
    engine, _ = any_city
    categories = ["emergency", "law_enforcement"]  # em-a1, le-a1, le-a2 (and le-b1): room for both
    ids = []
    for _ in range(2):
        with unit_of_work(engine) as session:
            trip, _ = bookings.book(session, DISPATCHER, agency=AGENCY_A, approved=True,
                                    data=TripIn.parse(emergency_body(10, categories=categories)))
            ids.append(trip.id)
    first, second = ids
    other: list[dispatching.Urgent] = []
    planned: list[int] = []

    def insert(*args: Any, **kwargs: Any) -> Any:
        placement = engine_insert(*args, **kwargs)
        planned.append(1)
        if len(planned) == 1:  # the first placement has planned: the second plans and writes before it writes
            other.append(dispatching.place_urgent(engine, DISPATCHER, trip_id=second, now=clock.now()))
        return placement

    monkeypatch.setattr(dispatching, "insert", insert)
    placed = dispatching.place_urgent(engine, DISPATCHER, trip_id=first, now=clock.now())
    assert other
    assert other[0].vehicle is not None, other
    assert placed.vehicle is not None, placed.reason
    assert placed.vehicle != other[0].vehicle
    with unit_of_work(engine, readonly=True) as session:
        assert [session.get_one(Trip, t).status for t in ids] == [TripStatus.assigned] * 2


def test_the_urgent_retries_are_bounded(any_city: tuple[Engine, Api], monkeypatch: pytest.MonkeyPatch) -> None:
    """A placement that keeps losing its car (a writer taking each car it plans on) ends, unplaced and approved,
    with the reason, after a few attempts: it does not spin."""
    engine, _ = any_city
    with unit_of_work(engine) as session:
        trip, _ = bookings.book(session, DISPATCHER, agency=AGENCY_A, approved=True,
                                data=TripIn.parse(emergency_body(10, categories=["emergency"])))
    calls: list[int] = []

    def always_taken(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        raise dispatching._Stale("vehicle taken meanwhile")

    monkeypatch.setattr(dispatching, "_apply_urgent", always_taken)
    placed = dispatching.place_urgent(engine, DISPATCHER, trip_id=trip.id, now=clock.now())
    assert placed.vehicle is None
    assert placed.reason == "vehicle taken meanwhile"
    assert 2 <= len(calls) <= dispatching.URGENT_ATTEMPTS
    with unit_of_work(engine, readonly=True) as session:
        assert session.get_one(Trip, trip.id).status is TripStatus.approved


@contextmanager
def held_elsewhere(engine: Engine, take: Callable[[Session], object]) -> Iterator[None]:
    """Another writer's transaction, open for the body's length, that has taken the locks ``take`` takes."""
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with unit_of_work(engine) as session:
            take(session)
            held.set()
            release.wait(timeout=20)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(timeout=10)
        yield
    finally:
        release.set()
        holder.join(timeout=30)


@pytest.mark.postgres
def test_an_emergency_takes_a_free_driver_at_once_not_one_another_writer_holds(pg_city: tuple[Engine, Api]) -> None:
    """The placement learns which driver the emergency gets only after it has locked the drivers of the trips it
    moves: waiting there for a driver another writer holds could close a circle (a deadlock). It takes the next free
    driver at once instead: here the agency's own driver is held, so the platform's day pool driver drives."""
    engine, api = pg_city
    with unit_of_work(engine) as session:
        urgent, _ = bookings.book(session, DISPATCHER, agency=AGENCY_A, approved=True,
                                  data=TripIn.parse(emergency_body(10, categories=["emergency"])))
        urgent_id = urgent.id
    driver_a = api.city.drivers["driver-a"]
    # An admin's edit of driver-a, say, not yet committed.
    with held_elsewhere(engine, lambda session: session.execute(
            sa.select(Driver.id).where(Driver.id == driver_a).with_for_update())):
        began = time.perf_counter()
        placed = dispatching.place_urgent(engine, DISPATCHER, trip_id=urgent_id, now=clock.now())
        waited = time.perf_counter() - began
    assert placed.vehicle is not None, placed.reason
    assert waited < 10, f"the placement waited {waited:.1f} s for the held driver"
    with unit_of_work(engine, readonly=True) as session:
        assignment = queries.active_assignment(session, urgent_id)
        assert assignment is not None
        assert assignment.driver_id == api.city.drivers["pool-day"]


@pytest.mark.postgres
@pytest.mark.parametrize("lock", ["house order", "one car"])
def test_a_car_s_fixes_are_stored_while_a_writer_holds_the_car(pg_city: tuple[Engine, Api], lock: str) -> None:
    """A desk assignment or an emergency holds its cars' rows to the end of its transaction. The terminal's fixes
    for such a car only refer to it: they are stored meanwhile, not queued behind the dispatcher (a foreign key's
    check passes a FOR NO KEY UPDATE lock, not a FOR UPDATE one)."""
    engine, api = pg_city
    car = api.city.vehicles["le-a1"]

    def take(session: Session) -> None:
        if lock == "house order":
            queries.lock_in_order(session, vehicles=[car])
        else:
            queries.vehicle(session, car, lock=True)

    with held_elsewhere(engine, take):
        began = time.perf_counter()
        with unit_of_work(engine) as session:
            stored = positions.store(session, [positions.Fix(
                vehicle_id=car, fixed_at=clock.now() - timedelta(minutes=1), lat=30.6, lon=114.3)])
        waited = time.perf_counter() - began
    assert stored == 1
    assert waited < 10, f"the fix waited {waited:.1f} s for the dispatcher's transaction"


# --- slow work outside the write lock ------------------------------------------------------------------------------


def test_bookings_go_on_while_an_admin_s_new_user_s_password_is_hashed(
        city_engine: Engine, city: City, monkeypatch: pytest.MonkeyPatch) -> None:
    """Hashing a password costs a fifth of a second of CPU (argon2id; more on a busy machine). `POST /users` with a
    password hashed it inside the request's write transaction: on SQLite the platform's write lock, so every
    booking waited behind it. The hash is made with no transaction open; a booking sent meanwhile is answered."""
    hashing, booked_meanwhile = threading.Event(), threading.Event()
    real = users.hash_password

    def slow_hash(name: str, password: str, **kwargs: Any) -> str:
        hashing.set()
        booked_meanwhile.wait(timeout=5)  # as long as a busy machine's hash, or until the booking is answered
        return real(name, password, **kwargs)

    monkeypatch.setattr(users, "hash_password", slow_hash)
    with TestClient(create_app(city_engine), raise_server_exceptions=False) as client:
        api = Api(client, city)
        added: list[Any] = []
        adding = threading.Thread(target=lambda: added.append(api.as_("admin").post("/users", json={
            "name": "李科长", "role": "approver", "agency": AGENCY_A, "password": "correct horse 2030"})))
        adding.start()
        assert hashing.wait(timeout=30)
        started = time.monotonic()
        r = api.as_("requester-a").post("/trips", json=trip_body())
        waited = time.monotonic() - started
        booked_meanwhile.set()
        adding.join(timeout=30)
    assert r.status_code == 201, r.text
    assert waited < 4, f"the booking waited {waited:.1f} s for the password's hash"
    assert added[0].status_code == 201, added[0].text
    assert added[0].json()["user"]["agency"] == AGENCY_A
    r = api.client.post("/api/v1/auth/login", json={"name": "李科长", "password": "correct horse 2030"})
    assert r.status_code == 200, r.text


# --- one lock order: vehicles, then trips, then drivers ---------------------------------------------------------


class WhileItLocksTheVehicle:
    """``other`` run in a transaction of its own, begun as this thread first reads a vehicle under its lock and given
    half a second to lock what it locks before that read goes on (a patched `queries.vehicle`). Under the old order
    (a trip locked before its car) this thread then held the trip ``other`` wanted next while it waited for the car
    ``other`` held, and PostgreSQL aborted one side as a deadlock."""

    def __init__(self, engine: Engine, monkeypatch: pytest.MonkeyPatch, other: Callable[[Session], object]) -> None:
        self.other: Exception | None = None
        here, real = threading.get_ident(), queries.vehicle

        def run_other() -> None:
            try:
                with unit_of_work(engine) as session:
                    other(session)
            except Exception as error:  # judged by the test
                self.other = error

        self.thread = threading.Thread(target=run_other)

        def other_meanwhile(session: Session, vehicle_id: int, *, lock: bool = False) -> Any:
            if lock and threading.get_ident() == here and self.thread.ident is None:
                self.thread.start()
                time.sleep(0.5)
            return real(session, vehicle_id, lock=lock)

        monkeypatch.setattr(queries, "vehicle", other_meanwhile)

    def mine(self, work: Callable[[], object]) -> Exception | None:
        """How ``work`` (this thread's writer) ended; ``other`` is over when this returns."""
        try:
            work()
            return None
        except Exception as error:  # judged by the test
            return error
        finally:
            if self.thread.ident is not None:
                self.thread.join(timeout=30)


def not_a_deadlock(outcome: Exception | None) -> None:
    assert outcome is None or (isinstance(outcome, FleetError) and not isinstance(outcome, Busy)), repr(outcome)


@pytest.mark.postgres
def test_a_car_sealed_as_its_trip_starts_ends_one_way_not_in_a_deadlock(
        pg_city: tuple[Engine, Api], monkeypatch: pytest.MonkeyPatch) -> None:
    """出车 and 封存 on the same car at once: the trip starts and the seal is refused (the car is on the road), or
    the seal goes first and the start is refused; never both aborted as a deadlock (503)."""
    engine, api = pg_city
    trip = approved(api)
    vehicle_id = api.city.vehicles["le-a1"]
    with unit_of_work(engine) as session:
        assignments.assign(session, DISPATCHER, trip_id=trip, data=AssignIn(vehicle_id=vehicle_id))
    race = WhileItLocksTheVehicle(
        engine, monkeypatch, lambda session: vehicles.seal(session, ADMIN, vehicle_id=vehicle_id, reason="封存检查"))

    def start() -> None:
        with unit_of_work(engine) as session, clock.travel(at(9)):
            bookings.start(session, ADMIN, trip_id=trip, data=OdometerIn(odometer_km=100))

    mine = race.mine(start)
    not_a_deadlock(mine)
    not_a_deadlock(race.other)
    status = api.as_("dispatcher").get(f"/trips/{trip}").json()["status"]
    if mine is None:  # the start went first: the car is on the road, so the seal is refused
        assert status == "in_progress"
        assert isinstance(race.other, Conflict)
        assert race.other.field == "vehicle_id"
    else:  # the seal went first: the trip is back in the queue, and the start refused
        assert race.other is None
        assert status == "approved"


@pytest.mark.postgres
def test_an_assignment_during_a_merge_of_its_agency_goes_through_with_the_merge(
        pg_city: tuple[Engine, Api], monkeypatch: pytest.MonkeyPatch) -> None:
    """The desk assigns an agency-A trip to an A car as A merges into B: the merge locks A's cars, then its trips;
    the assignment must take the car before the trip too, so one waits for the other and both go through."""
    engine, api = pg_city
    trip = approved(api)
    vehicle_id = api.city.vehicles["le-a1"]
    race = WhileItLocksTheVehicle(engine, monkeypatch, lambda session: reorganisation.merge(
        session, ADMIN, code=AGENCY_A, data=MergeIn(into=AGENCY_B, on=clock.today(), reason="机构改革合并")))

    def assign() -> None:
        with unit_of_work(engine) as session:
            assignments.assign(session, DISPATCHER, trip_id=trip, data=AssignIn(vehicle_id=vehicle_id))

    assert race.mine(assign) is None
    assert race.other is None
    assert trip in open_trips_of(engine, AGENCY_B)
    with unit_of_work(engine, readonly=True) as session:
        held = session.scalar(sa.select(Assignment).where(Assignment.trip_id == trip, Assignment.active))
        assert held is not None
        assert held.vehicle_id == vehicle_id
        assert session.get_one(Trip, trip).status is TripStatus.assigned


@pytest.mark.postgres
def test_the_desk_assigning_a_trip_the_batch_is_writing_waits_for_it_not_a_deadlock(
        pg_city: tuple[Engine, Api], monkeypatch: pytest.MonkeyPatch) -> None:
    """The batch run writes its plan leg by leg; between its first and second leg the desk assigns the second leg's
    trip to the first leg's car. The batch now takes every car, trip and driver of its batch before the first leg,
    and the desk the car before the trip, so the desk waits for the batch (and then reassigns, or is refused). The
    desk used to hold the trip while it waited for the car, as the batch held the car and came for the trip."""
    engine, api = pg_city
    trips = [approved(api, earliest_pickup=at(hour).isoformat(), latest_pickup=at(hour, 30).isoformat())
             for hour in (9, 14)]
    real, here = dispatching._assign_planned, threading.get_ident()
    desk: list[Exception | None] = []
    threads: list[threading.Thread] = []
    written: list[int] = []  # the car of each leg the batch wrote

    def assign_at_the_desk(trip_id: int, vehicle_id: int) -> None:
        try:
            with unit_of_work(engine) as session:
                assignments.assign(session, DISPATCHER, trip_id=trip_id, data=AssignIn(vehicle_id=vehicle_id))
            desk.append(None)
        except Exception as error:  # judged below
            desk.append(error)

    def desk_meanwhile(session: Session, actor: Actor, trip_id: int, vehicle: Any, *args: Any) -> str | None:
        if threading.get_ident() == here and written and not threads:  # the first leg written, the second next
            threads.append(threading.Thread(target=assign_at_the_desk, args=(trip_id, written[0])))
            threads[0].start()
            time.sleep(0.5)
        if threading.get_ident() == here:
            written.append(vehicle.id)
        return real(session, actor, trip_id, vehicle, *args)

    monkeypatch.setattr(dispatching, "_assign_planned", desk_meanwhile)
    record, _ = dispatching.run(engine, DISPATCHER, start=at(8), end=at(18), time_limit=1)
    assert threads, "the batch wrote no leg: the scenario did not happen"
    threads[0].join(timeout=30)
    assert record.status.value == "done"
    not_a_deadlock(desk[0])
    with unit_of_work(engine, readonly=True) as session:
        for trip in trips:
            assert session.get_one(Trip, trip).status is TripStatus.assigned
            assert queries.active_assignment(session, trip) is not None
