"""The engine never works inside a transaction, and an emergency booking is never lost.

A batch run solves with no transaction and no pooled connection held, so bookings and cancellations go on while it
solves; what they changed is re-checked when the plan is written. Urgent placement never touches a trip under way,
never moves a confirmed pickup without saying so, and when it fails the emergency stays booked with the reason.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from api.app import create_app
from dispatch import Plan
from fleet import dispatching
from fleet.db import unit_of_work
from fleet.enums import RunStatus
from fleet.errors import Busy
from fleet.i18n import msg
from fleet.models import DispatchRun, utcnow
from tests.api.conftest import AGENCY_A, DAY, YARD_A, Api, City, at, trip_body

WINDOW = {"start": at(0).isoformat(), "end": (at(0) + timedelta(days=1)).isoformat(), "time_limit": 1}
EMERGENCY = ["emergency"]

def book(api: Api, user: str = "requester-a", **overrides: Any) -> dict[str, Any]:
    r = api.as_(user).post("/trips", json=trip_body(**overrides))
    assert r.status_code == 201, r.text
    return dict(r.json())

def approve(api: Api, trip: dict[str, Any]) -> None:
    r = api.as_("approver-a").post(f"/trips/{trip['id']}/approve", json={"note": "同意"})
    assert r.status_code == 200, r.text

def routine_on_the_emergency_car(api: Api, *, confirmed: datetime, start: bool) -> dict[str, Any]:
    """A routine trip that may use the emergency car, assigned to it at ``confirmed`` (window 10:00-11:00)."""
    trip = book(api, priority="routine", categories=EMERGENCY, earliest_pickup=at(10).isoformat(),
                latest_pickup=at(11).isoformat(), dwell_min=20)
    approve(api, trip)
    r = api.as_("dispatcher").post(f"/trips/{trip['id']}/assign", json={
        "vehicle_id": api.city.vehicles["em-a1"], "pickup_at": confirmed.isoformat()})
    assert r.status_code == 200, r.text
    if start:
        r = api.as_("dispatcher").post(f"/trips/{trip['id']}/start", json={"odometer_km": 100})
        assert r.status_code == 200, r.text
    return dict(r.json())

def emergency(api: Api, hour: int, minute: int = 0, **overrides: Any) -> Any:
    body = trip_body(**{"priority": "emergency", "categories": EMERGENCY, "purpose": "防汛抢险",
                        "earliest_pickup": at(hour, minute).isoformat(),
                        "latest_pickup": at(hour, minute + 20).isoformat(), "dwell_min": 30, "agency": AGENCY_A,
                        "approval_basis": "单位审批人电话同意", **overrides})
    return api.as_("dispatcher").post("/trips", json=body)

def held(api: Api) -> dict[int, tuple[str, str, str]]:
    """Every trip holding a vehicle: id -> (status, plate, pickup)."""
    rows = api.as_("dispatcher").get("/trips", params={"limit": 200}).json()["items"]
    return {t["id"]: (t["status"], t["assignment"]["plate"], t["assignment"]["starts_at"])
            for t in rows if t["assignment"] is not None}

def busy_once(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Urgent placement turned away under load (503) on its first call, as a pool or a deadlock would; the calls
    made are counted in the list returned."""
    place = dispatching.place_urgent
    calls: list[int] = []

    def placed(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise Busy(msg("the database turned this request away under load ({reason}); its transaction "
                           "was rolled back: send it again", reason=msg("no pooled connection came free in time")))
        return place(*args, **kwargs)

    monkeypatch.setattr(dispatching, "place_urgent", placed)
    return calls

class TestUrgentPlacement:
    def test_a_trip_under_way_is_never_touched_and_the_emergency_is_placed(self, api: Api) -> None:
        routine = routine_on_the_emergency_car(api, confirmed=at(10, 30), start=True)
        before = held(api)
        r = emergency(api, 14)
        assert r.status_code == 201, r.text
        answer = r.json()
        assert answer["urgent"]["vehicle"] is not None, answer["urgent"]
        assert answer["status"] == "assigned"
        after = held(api)
        assert after[routine["id"]] == before[routine["id"]]  # still under way, same car, same pickup

    def test_a_confirmed_pickup_stays_when_nothing_needs_it_to_move(self, api: Api) -> None:
        routine = routine_on_the_emergency_car(api, confirmed=at(10, 30), start=False)
        before = held(api)
        r = emergency(api, 14)
        assert r.status_code == 201, r.text
        assert r.json()["urgent"]["moved"] == []
        assert held(api)[routine["id"]] == before[routine["id"]]

    def test_every_changed_pickup_is_returned_and_audited(self, api: Api) -> None:
        """The emergency wants the car when the routine trip holds it: whatever placement does to the routine trip
        (move it later in its window, or displace it), the answer and the audit log say so."""
        routine = routine_on_the_emergency_car(api, confirmed=at(10), start=False)
        before = held(api)
        r = emergency(api, 10, 0)
        assert r.status_code == 201, r.text
        urgent = r.json()["urgent"]
        after = held(api)
        moved = {m["trip_id"]: m for m in urgent["moved"]}
        for trip_id, (_status, _plate, pickup) in before.items():
            if trip_id not in after:
                assert trip_id in urgent["unplaced"]
            elif after[trip_id][2] != pickup:
                assert trip_id in moved, (trip_id, pickup, after[trip_id])
                assert datetime.fromisoformat(moved[trip_id]["before"]) == datetime.fromisoformat(pickup)
                trail = api.as_("supervisor").get("/audit", params={
                    "action": "trip.pickup_moved", "entity_id": str(trip_id)}).json()
                assert trail["total"] == 1
        # The only emergency car is the routine trip's, held from 10:00: the trip is moved later or displaced.
        assert urgent["vehicle"] is not None
        assert routine["id"] in moved or routine["id"] in urgent["unplaced"]

    def test_when_placement_fails_the_emergency_stays_booked_with_the_reason(
            self, api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
        def broken(*args: object, **kwargs: object) -> None:
            raise ValueError("the day's network could not be built")

        monkeypatch.setattr(dispatching, "insert", broken)
        r = emergency(api, 14)
        assert r.status_code == 201, r.text
        answer = r.json()
        assert answer["status"] == "approved"
        assert answer["urgent"]["vehicle"] is None
        assert "could not be built" in answer["urgent"]["reason"]
        again = api.as_("dispatcher").get(f"/trips/{answer['id']}").json()
        assert again["status"] == "approved"
        assert "could not be built" in again["dispatch_note"]
        trail = api.as_("supervisor").get("/audit", params={"action": "trip.unplaced"}).json()
        assert trail["total"] == 1

    def test_a_retry_after_a_busy_placement_places_the_emergency(
            self, api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
        """The booking is committed before placement; when placement is turned away under load (503), the caller's
        retry with the same Idempotency-Key answers with the stored booking and places it then (a storm on
        PostgreSQL met a deadlock there, and the retry's 200 came back unplaced)."""
        calls = busy_once(monkeypatch)
        body = trip_body(priority="emergency", categories=EMERGENCY, purpose="防汛抢险",
                         earliest_pickup=at(14).isoformat(), latest_pickup=at(14, 20).isoformat(), dwell_min=30,
                         agency=AGENCY_A, approval_basis="单位审批人电话同意")
        headers = {"Idempotency-Key": "storm-retry-0001"}
        first = api.as_("dispatcher").post("/trips", json=body, headers=headers)
        assert first.status_code == 503, first.text
        assert first.headers["Retry-After"]
        again = api.as_("dispatcher").post("/trips", json=body, headers=headers)
        assert again.status_code == 200, again.text
        assert again.headers["Idempotent-Replayed"] == "true"
        answer = again.json()
        assert answer["urgent"]["vehicle"] is not None
        assert answer["status"] == "assigned"
        trips = api.as_("dispatcher").get("/trips", params={"priority": "emergency", "limit": 50}).json()["items"]
        assert [t["id"] for t in trips] == [answer["id"]]  # one booking, not two
        replay = api.as_("dispatcher").post("/trips", json=body, headers=headers)
        assert replay.status_code == 200
        assert replay.json()["status"] == "assigned"
        assert len(calls) == 2  # a placed emergency is not placed again

    def test_a_retried_approval_after_a_busy_placement_places_the_emergency(
            self, api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
        """An approver's approval is committed before placement; when placement answers 503, the approver's retry
        places the emergency (it was refused as already approved), and once placed a retry is refused."""
        calls = busy_once(monkeypatch)
        trip = book(api, priority="emergency", categories=EMERGENCY, purpose="防汛抢险",
                    earliest_pickup=at(14).isoformat(), latest_pickup=at(14, 20).isoformat(), dwell_min=30)
        first = api.as_("approver-a").post(f"/trips/{trip['id']}/approve", json={"note": "同意"})
        assert first.status_code == 503, first.text
        assert api.as_("dispatcher").get(f"/trips/{trip['id']}").json()["status"] == "approved"
        other = api.as_("requester-a").post(f"/trips/{trip['id']}/approve", json={"note": "同意"})
        assert other.status_code == 403, other.text  # a retry is still an approval: only who may approve retries
        again = api.as_("approver-a").post(f"/trips/{trip['id']}/approve", json={"note": "同意"})
        assert again.status_code == 200, again.text
        assert again.json()["status"] == "assigned"
        assert again.json()["urgent"]["vehicle"] is not None
        done = api.as_("approver-a").post(f"/trips/{trip['id']}/approve", json={"note": "同意"})
        assert done.status_code == 409, done.text
        assert len(calls) == 2

    def test_an_emergency_no_vehicle_can_take_is_kept_with_the_reason(self, api: Api) -> None:
        r = emergency(api, 14, categories=["confidential_comms"])
        assert r.status_code == 201, r.text
        answer = r.json()
        assert answer["urgent"]["vehicle"] is None
        assert answer["status"] == "approved"
        assert answer["dispatch_note"] == answer["urgent"]["reason"]

class Gate:
    """A stand-in for the engine's search that waits, mid-solve, until the test lets it go on."""

    def __init__(self, real: Callable[..., Plan], engine: Engine) -> None:
        self.real, self.engine = real, engine
        self.solving, self.release = threading.Event(), threading.Event()
        self.connections_while_solving: int | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Plan:
        self.connections_while_solving = self.engine.pool.checkedout()  # type: ignore[attr-defined]
        self.solving.set()
        self.release.wait(timeout=20)
        return self.real(*args, **kwargs)

@pytest.fixture
def gate(city_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Gate]:
    stand_in = Gate(dispatching.solve, city_engine)
    monkeypatch.setattr(dispatching, "solve", stand_in)
    yield stand_in
    stand_in.release.set()

def run_in_background(client: TestClient, token: str, body: dict[str, Any]) -> tuple[threading.Thread, list[Any]]:
    answers: list[Any] = []

    def post() -> None:
        answers.append(client.post("/api/v1/dispatch", json=body, headers={"Authorization": f"Bearer {token}"}))

    thread = threading.Thread(target=post)
    thread.start()
    return thread, answers

class TestBatchRunHoldsNoLock:
    def test_the_desk_works_while_the_engine_solves(self, api: Api, city: City, city_engine: Engine,
                                                    gate: Gate) -> None:
        doomed = book(api)
        approve(api, doomed)
        kept = book(api, pickup={"lat": YARD_A[0] + 0.02, "lon": YARD_A[1], "address": "江汉路"})
        approve(api, kept)
        with TestClient(create_app(city_engine), raise_server_exceptions=False) as other:
            thread, answers = run_in_background(other, city.tokens["dispatcher"], WINDOW)
            assert gate.solving.wait(timeout=20)
            try:
                assert gate.connections_while_solving == 0  # no transaction, no pooled connection held
                new = book(api)  # a writer gets through at once, on SQLite too
                cancel = api.as_("requester-a").post(f"/trips/{doomed['id']}/cancel", json={"note": "改期"})
                assert cancel.status_code == 200, cancel.text
                second = api.as_("dispatcher").post("/dispatch", json=WINDOW)
                assert second.status_code == 409, second.text
                assert second.json()["error"] == "WindowHeld"
                assert second.json()["run_id"] >= 1
                assert not answers  # all of that happened while the first run was still solving
            finally:
                gate.release.set()
                thread.join(timeout=60)
        r = answers[0]
        assert r.status_code == 200, r.text
        summary = r.json()
        refused = {row["trip_id"]: row["reason"] for row in summary["refused_at_commit"]}
        assert "now cancelled" in refused[doomed["id"]]
        # Served is what the run assigned: the trip cancelled while the engine ran is not counted.
        assigned = api.as_("dispatcher").get("/trips", params={"status": "assigned", "limit": 200}).json()["items"]
        mine = [t for t in assigned if t["assignment"]["run_id"] == summary["run_id"]]
        assert sum(summary["served"].values()) == len(mine) >= 1
        assert api.as_("dispatcher").get(f"/trips/{doomed['id']}").json()["status"] == "cancelled"
        assert api.as_("dispatcher").get(f"/trips/{kept['id']}").json()["status"] == "assigned"
        assert api.as_("dispatcher").get(f"/trips/{new['id']}").json()["status"] == "requested"

    def test_a_run_whose_process_died_does_not_hold_its_window_forever(self, api: Api, city_engine: Engine) -> None:
        with unit_of_work(city_engine) as session:
            session.add(DispatchRun(
                window_start=at(0), window_end=at(0) + timedelta(days=1), time_limit_s=10, actor="ghost (dispatcher)",
                summary={}, status=RunStatus.running, created_at=utcnow() - timedelta(hours=1)))
        r = api.as_("dispatcher").post("/dispatch", json=WINDOW)
        assert r.status_code == 200, r.text
        with unit_of_work(city_engine, readonly=True) as session:
            ghost = session.get_one(DispatchRun, 1)
            assert ghost.status is RunStatus.failed

    def test_a_run_whose_process_died_on_this_host_frees_its_window_at_once(self, api: Api,
                                                                          city_engine: Engine) -> None:
        with unit_of_work(city_engine) as session:
            session.add(DispatchRun(
                window_start=at(0), window_end=at(0) + timedelta(days=1), time_limit_s=30, actor="crashed (dispatcher)",
                summary={}, status=RunStatus.running, holder=f"{socket.gethostname()}:{2**22 + 7}:1"))
            session.add(DispatchRun(
                window_start=at(0, day=DAY + timedelta(days=1)), window_end=at(0, day=DAY + timedelta(days=2)),
                time_limit_s=30, actor="alive (dispatcher)", summary={}, status=RunStatus.running,
                holder=dispatching._process(os.getpid())))  # this very process: alive
        assert api.as_("dispatcher").post("/dispatch", json=WINDOW).status_code == 200
        tomorrow = {"start": at(0, day=DAY + timedelta(days=1)).isoformat(),
                    "end": at(0, day=DAY + timedelta(days=2)).isoformat(), "time_limit": 1}
        held_by_the_living = api.as_("dispatcher").post("/dispatch", json=tomorrow)
        assert held_by_the_living.status_code == 409
        assert "alive (dispatcher)" in held_by_the_living.json()["detail"]

    def test_a_finished_run_frees_its_window(self, api: Api) -> None:
        assert api.as_("dispatcher").post("/dispatch", json=WINDOW).status_code == 200
        assert api.as_("dispatcher").post("/dispatch", json=WINDOW).status_code == 200

    def test_a_failed_run_frees_its_window(self, api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
        real = dispatching.solve
        calls = iter([MemoryError, None])

        def flaky(*args: Any, **kwargs: Any) -> Plan:
            failure = next(calls)
            if failure is not None:
                raise failure
            return real(*args, **kwargs)

        monkeypatch.setattr(dispatching, "solve", flaky)
        assert api.as_("dispatcher").post("/dispatch", json=WINDOW).status_code == 503
        assert api.as_("dispatcher").post("/dispatch", json=WINDOW).status_code == 200

def test_unserved_trips_carry_the_engines_reason(api: Api) -> None:
    trip = book(api, categories=["confidential_comms"])  # no such car in the city
    approve(api, trip)
    r = api.as_("dispatcher").post("/dispatch", json=WINDOW)
    assert r.status_code == 200, r.text
    unserved = {row["trip_id"]: row["reason"] for row in r.json()["unserved"]}
    assert api.as_("dispatcher").get(f"/trips/{trip['id']}").json()["dispatch_note"] == unserved[trip["id"]]
