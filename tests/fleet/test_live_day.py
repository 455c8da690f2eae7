"""The live day kept in the server for urgent placement is, before every placement, the day a fresh read gives.

Whatever writes the day — this process over HTTP, another process through the services directly (as the CLI or a
second worker would), a vehicle going into the workshop — the next placement sees it: the live day is compared, after
each write, with the day `fleet.dispatching` reads and builds afresh, and is updated vehicle by vehicle rather than
rebuilt when the audit log says what changed.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from api import keeper
from api.app import create_app
from fleet import clock, dispatching, live_day, queries
from fleet.assignments import assign
from fleet.db import unit_of_work
from fleet.exchange import Segment
from fleet.models import Vehicle
from fleet.schemas import AssignIn
from fleet.settings import get_settings
from tests.api.conftest import AGENCY_A, DAY, Api, api, at, city, city_engine, city_template, trip_body, utc
from tests.factories import ADMIN

__all__ = ["api", "city", "city_engine", "city_template"]  # the API tests' city, served, shared

EMERGENCY = ["emergency"]


@pytest.fixture(autouse=True)
def no_live_days() -> Iterator[None]:
    live_day.clear()
    yield
    live_day.clear()


def booked(api: Api, **overrides: Any) -> int:
    r = api.as_("requester-a").post("/trips", json=trip_body(**overrides))
    assert r.status_code == 201, r.text
    r = api.as_("approver-a").post(f"/trips/{r.json()['id']}/approve", json={"note": "同意"})
    assert r.status_code == 200, r.text
    return int(r.json()["id"])


def assigned(api: Api, vehicle: str, hour: int, **overrides: Any) -> int:
    """A trip booked, approved and assigned by the dispatcher over HTTP to ``vehicle`` at ``hour``:00."""
    trip = booked(api, earliest_pickup=at(hour).isoformat(), latest_pickup=at(hour, 40).isoformat(), **overrides)
    r = api.as_("dispatcher").post(f"/trips/{trip}/assign", json={"vehicle_id": api.city.vehicles[vehicle],
                                                                   "pickup_at": at(hour).isoformat()})
    assert r.status_code == 200, r.text
    return trip


def as_read_afresh(engine: Engine, trip_id: int) -> live_day.LiveDay:
    """The live day around ``trip_id``, checked against the day read and built from scratch."""
    with unit_of_work(engine, readonly=True) as session:
        trip = queries.trip(session, trip_id)
    live = live_day.current(engine, *dispatching._bounds(trip), None)
    day = dispatching._day(engine, trip_id)
    problem, plan = dispatching._running_plan(day)
    assert [(k, s.vehicle.id, s.start, s.end, s.range_km) for k, s in live.stretches.items()] == [
        (k, s.vehicle.id, s.start, s.end, s.range_km) for k, s in day.stretches.items()]
    assert live.routes == day.routes
    assert {t: a.id for t, a in live.running.items()} == {t: a.id for t, a in day.running.items()}
    assert sorted(t.id for t in live.problem.trips) == sorted(t.id for t in problem.trips)
    assert [v.model_dump() for v in live.problem.vehicles] == [v.model_dump() for v in problem.vehicles]
    assert sorted((r.vehicle, r.trips, r.pickups) for r in live.plan.routes) == sorted(
        (r.vehicle, r.trips, r.pickups) for r in plan.routes)
    assert live.plan.unserved == []
    assert live.plan._state.net.problem is live.problem
    return live


def test_every_writer_s_change_is_in_the_next_day_read(api: Api, city_engine: Engine) -> None:
    first = assigned(api, "le-a1", 9)
    second = assigned(api, "le-a2", 11)
    built = as_read_afresh(city_engine, first)
    assert built.stats["kind"] == "built"
    assert {first, second} <= {int(t) for t in built.running}

    # Another process assigns through the service directly: only the audit log tells this one.
    third = booked(api, earliest_pickup=at(13).isoformat(), latest_pickup=at(13, 30).isoformat())
    with unit_of_work(city_engine) as session:
        assign(session, ADMIN, trip_id=third, data=AssignIn(vehicle_id=api.city.vehicles["le-b1"],
                                                            pickup_at=at(13)))
    live = as_read_afresh(city_engine, first)
    assert str(third) in live.running
    assert live.stats["kind"] == "updated"  # by vehicle, not read again whole
    assert live.stats["vehicles"] >= 1

    # A trip under way is fixed: its vehicle's stretches change.
    r = api.as_("dispatcher").post(f"/trips/{first}/start", json={"odometer_km": 100})
    assert r.status_code == 200, r.text
    live = as_read_afresh(city_engine, first)
    assert str(first) not in live.running
    assert live.stats["kind"] == "updated"

    # Taken off its vehicle, moved to another, cancelled.
    r = api.as_("dispatcher").post(f"/trips/{second}/unassign", json={"note": "改派"})
    assert r.status_code == 200, r.text
    assert str(second) not in as_read_afresh(city_engine, first).running
    with unit_of_work(city_engine) as session:
        assign(session, ADMIN, trip_id=third, data=AssignIn(vehicle_id=api.city.vehicles["le-a2"],
                                                            pickup_at=at(13, 10)))
    live = as_read_afresh(city_engine, first)
    assert live.running[str(third)].vehicle_id == api.city.vehicles["le-a2"]
    r = api.as_("requester-a").post(f"/trips/{third}/cancel", json={"note": "会议取消"})
    assert r.status_code == 200, r.text
    assert str(third) not in as_read_afresh(city_engine, first).running

    # A vehicle into the workshop leaves the day, and its trips go back to the queue; out again, it comes back free.
    held = assigned(api, "le-a2", 15)
    assert str(held) in as_read_afresh(city_engine, first).running
    r = api.as_("admin").post(f"/vehicles/{api.city.vehicles['le-a2']}/maintenance-in", json={"reason": "年检保养"})
    assert r.status_code == 200, r.text
    live = as_read_afresh(city_engine, first)
    assert all(s.vehicle.id != api.city.vehicles["le-a2"] for s in live.stretches.values())
    assert str(held) not in live.running
    r = api.as_("admin").post(f"/vehicles/{api.city.vehicles['le-a2']}/maintenance-out", json={"reason": "保养完毕"})
    assert r.status_code == 200, r.text
    live = as_read_afresh(city_engine, first)
    assert any(s.vehicle.id == api.city.vehicles["le-a2"] for s in live.stretches.values())
    assert str(held) not in live.running


def test_an_emergency_placed_over_http_sees_another_writer_s_assignment(api: Api, city_engine: Engine) -> None:
    """The only emergency car gets a routine trip at 14:00 from another writer after the live day was read: the
    14:00 emergency must displace or move it, not collide with it."""
    early = api.as_("dispatcher").post("/trips", json=trip_body(
        priority="emergency", categories=EMERGENCY, purpose="防汛抢险", earliest_pickup=at(8).isoformat(),
        latest_pickup=at(8, 20).isoformat(), dwell_min=30, approval_basis="单位审批人电话同意", agency=AGENCY_A))
    assert early.status_code == 201, early.text
    assert early.json()["urgent"]["vehicle"] is not None, early.text
    routine = booked(api, priority="routine", categories=EMERGENCY, earliest_pickup=at(14).isoformat(),
                     latest_pickup=at(14, 30).isoformat(), dwell_min=20)
    with unit_of_work(city_engine) as session:
        assign(session, ADMIN, trip_id=routine, data=AssignIn(vehicle_id=api.city.vehicles["em-a1"],
                                                              pickup_at=at(14)))
    r = api.as_("dispatcher").post("/trips", json=trip_body(
        priority="emergency", categories=EMERGENCY, purpose="防汛抢险", earliest_pickup=at(14).isoformat(),
        latest_pickup=at(14, 10).isoformat(), dwell_min=30, approval_basis="单位审批人电话同意", agency=AGENCY_A))
    assert r.status_code == 201, r.text
    urgent = r.json()["urgent"]
    assert urgent["vehicle"] is not None, urgent
    assert routine in urgent["displaced"] or routine in {m["trip_id"] for m in urgent["moved"]}, urgent
    as_read_afresh(city_engine, early.json()["id"])


def test_the_answer_is_the_one_the_day_read_afresh_gives(api: Api, city_engine: Engine,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Live or read afresh, the same day gives the same placement."""
    for vehicle, hour in (("em-a1", 9), ("le-a1", 10), ("le-a2", 12)):
        assigned(api, vehicle, hour, categories=["emergency", "law_enforcement"])
    # Approved and waiting (an approved emergency would be placed at once): the engine's insertion all the same.
    emergency = booked(api, categories=["emergency", "law_enforcement"], earliest_pickup=at(9, 10).isoformat(),
                       latest_pickup=at(9, 40).isoformat())
    answers = []
    for live in (True, False):
        monkeypatch.setattr(live_day, "enabled", lambda live=live: live)
        day, problem, plan = (dispatching._live(city_engine, dispatching._day(city_engine, emergency).booked, None)
                              if live else (lambda d: (d, *dispatching._running_plan(d)))(
                                  dispatching._day(city_engine, emergency)))
        placed = dispatching.insert(plan, problem, dispatching.trip_row(day.booked), now=utc(at(8)))
        answers.append((placed.vehicle, placed.displaced, placed.unplaced,
                        sorted((r.vehicle, r.trips, r.pickups) for r in placed.plan.routes)))
    assert answers[0] == answers[1]


def test_a_failing_live_day_costs_no_placement(api: Api, city_engine: Engine, monkeypatch: pytest.MonkeyPatch
                                               ) -> None:
    """The live day only saves reading the day: when keeping it fails, the emergency is placed from the day read
    afresh, and the live day is dropped."""
    def broken(*args: Any) -> None:
        raise KeyError("a bug in keeping the day")

    monkeypatch.setattr(live_day, "current", broken)
    r = api.as_("dispatcher").post("/trips", json=trip_body(
        priority="emergency", categories=EMERGENCY, purpose="防汛抢险", earliest_pickup=at(8).isoformat(),
        latest_pickup=at(8, 20).isoformat(), dwell_min=30, approval_basis="单位审批人电话同意", agency=AGENCY_A))
    assert r.status_code == 201, r.text
    assert r.json()["urgent"]["vehicle"] is not None, r.text


def test_threads_reading_and_writing_the_day_at_once_leave_it_as_a_fresh_read(api: Api,
                                                                               city_engine: Engine) -> None:
    anchor = assigned(api, "le-a1", 8)
    as_read_afresh(city_engine, anchor)
    trips = [booked(api, earliest_pickup=at(h).isoformat(), latest_pickup=at(h, 30).isoformat())
             for h in (10, 12, 14, 16)]
    with unit_of_work(city_engine, readonly=True) as session:
        bounds = dispatching._bounds(queries.trip(session, anchor))
    errors: list[BaseException] = []

    def writer(trip: int, vehicle: str, when: datetime) -> None:
        try:
            with unit_of_work(city_engine) as session:
                assign(session, ADMIN, trip_id=trip, data=AssignIn(vehicle_id=api.city.vehicles[vehicle],
                                                                   pickup_at=when))
        except BaseException as exc:  # reported below
            errors.append(exc)

    def reader() -> None:
        try:
            for _ in range(5):
                live_day.current(city_engine, *bounds, None)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(t, v, at(h))) for t, v, h in
               zip(trips, ("le-a2", "le-b1", "le-a2", "le-a1"), (10, 12, 14, 16), strict=True)]
    threads += [threading.Thread(target=reader) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    live = as_read_afresh(city_engine, anchor)
    assert {str(t) for t in trips} <= live.running.keys()


def test_leaving_out_one_vehicle_s_stretch_leaves_the_others_whole() -> None:
    """A day whose held routes one vehicle cannot drive (a manual exception) drops that stretch alone: the other
    vehicles' parts are kept as they are, whatever stretches the drop names."""
    day = (utc(datetime(2030, 3, 12, tzinfo=UTC)), utc(datetime(2030, 3, 13, tzinfo=UTC)))
    parts = {}
    for number, plate in enumerate(("鄂A00001", "鄂A00002"), start=1):
        vehicle = Vehicle(id=number, plate=plate)
        key = f"{plate}#1"
        parts[number] = live_day.Part(vehicle, ((key, Segment(vehicle, *day, None)),), {key: (f"{number}0",)},
                                      {}, frozenset({number * 10}))
    kept = live_day._drop(parts, ["鄂A00002#1"])
    assert kept[1] is parts[1]
    assert kept[2].stretches == ()
    assert kept[2].routes == {}
    both = live_day._drop({2: parts[2]}, ["鄂A00001#1", "鄂A00002#1"])  # another vehicle's key named too
    assert both[2].routes == {}


def test_the_keeper_builds_today_and_brings_it_up_to_date_before_any_placement(
        api: Api, city_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """`keep_live_days` builds today's whole-platform day and reads each later change, so that a placement then
    finds its day current: it neither builds nor updates anything itself. Ended days are no longer kept."""
    first = assigned(api, "le-a1", 9)
    now = at(8)
    assert live_day.days_of(city_engine) == []
    assert dispatching.keep_live_days(city_engine, now) == 1
    today = dispatching.day_around(now)
    assert live_day.days_of(city_engine) == [(*today, None)]
    later = assigned(api, "le-a2", 11)  # written after the day was built
    assert dispatching.keep_live_days(city_engine, now) == 1
    work: list[str] = []

    def counting(name: str) -> Any:
        real = getattr(live_day, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            work.append(name)
            return real(*args, **kwargs)
        return counted

    for name in ("_built", "_updated"):
        monkeypatch.setattr(live_day, name, counting(name))
    live = as_read_afresh(city_engine, first)  # a placement's read: the kept day, as a fresh read gives it
    assert work == []
    assert {str(first), str(later)} <= live.running.keys()
    tomorrow = at(13, day=DAY + timedelta(days=1))  # past today's day and its tail: only tomorrow's is kept
    assert today[1] <= tomorrow
    assert dispatching.keep_live_days(city_engine, tomorrow) == 1
    assert work == ["_built"]


def test_the_server_keeps_its_live_days_while_it_serves(city_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """With ``live_day_keep_seconds`` set, the app's keeper builds today's day as the server starts, and stops with
    it; with 0 (the tests' default) no keeper runs."""
    monkeypatch.setenv("GONGCHE_LIVE_DAY_KEEP_SECONDS", "0.05")
    get_settings.cache_clear()
    try:
        with clock.travel(at(8)), TestClient(create_app(city_engine)) as client:
            keeper = client.app.state.keeper
            for _ in range(200):
                if keeper.rounds >= 2:
                    break
                time.sleep(0.05)
            assert keeper.rounds >= 2
            assert live_day.days_of(city_engine) == [(*dispatching.day_around(at(8)), None)]
        assert not keeper._thread.is_alive()
    finally:
        monkeypatch.setenv("GONGCHE_LIVE_DAY_KEEP_SECONDS", "0")
        get_settings.cache_clear()
    with TestClient(create_app(city_engine)) as client:
        assert client.app.state.keeper is None


def test_the_keeper_waits_longer_while_its_rounds_fail_and_logs_one_traceback(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A database away fails every round: the waits double (to `keeper.MAX_WAIT_S`), one traceback is logged for the
    run of failures and a line for each later one, and the first round that works brings back the usual wait."""
    calls: list[float] = []
    done = threading.Event()

    def keep(engine: Engine, now: datetime) -> int:
        calls.append(time.perf_counter())
        if len(calls) <= 4:
            raise ConnectionRefusedError("the database is away")
        if len(calls) == 7:
            done.set()
        return 1

    monkeypatch.setattr(keeper, "keep_live_days", keep)
    every = 0.02
    with caplog.at_level("WARNING", logger="gongche.api"):
        running = keeper.Keeper(None, every).start()  # type: ignore[arg-type]  # never reached: keep is replaced
        try:
            assert done.wait(10)
        finally:
            running.stop()
    waits = np.diff(calls)
    # After failures 1..4 the waits double; after the first success (call 5) they are back to `every`.
    for failures, waited in enumerate(waits[:4], start=1):
        assert waited >= every * 2 ** failures * 0.9, (failures, waits)
    assert waits[5] < every * 2 * 2  # generous for a loaded machine, but well below the 0.32 s before
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert [r.levelname for r in tracebacks] == ["ERROR"]
    assert sum("rounds in a row" in r.getMessage() for r in caplog.records) == 3
    assert any("is back after 4 failed rounds" in r.getMessage() for r in caplog.records)
    assert running.failures == 0


@pytest.mark.parametrize("every", [0.5, 2.0, 120.0])
def test_the_keepers_wait_grows_to_its_cap_and_never_below_its_period(every: float) -> None:
    waits = [keeper.wait_after(every, failures) for failures in range(40)]
    assert waits[0] == every
    assert all(a <= b for a, b in itertools.pairwise(waits))
    assert min(waits) == every
    assert waits[-1] == max(every, keeper.MAX_WAIT_S)
