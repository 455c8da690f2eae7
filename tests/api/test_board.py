"""The dispatcher's desk: vehicles free for an interval, a vehicle's calendar, the day board and its queue, the
places a booking form offers, and the dispatch runs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from api.app import create_app
from fleet import audit, drivers, registry
from fleet.db import unit_of_work
from fleet.enums import Category
from fleet.schemas import DriverIn, QuotaIn
from tests.api.conftest import AGENCY_A, AGENCY_B, DAY, YARD_A, YARD_B, Api, City, at
from tests.api.test_dispatch_without_locks import Gate, gate, run_in_background
from tests.api.test_trip_lists import approve, assign, book
from tests.factories import ADMIN, registered

__all__ = ["gate"]  # the fixture, from the dispatch tests

NEXT = DAY + timedelta(days=1)


pytestmark = pytest.mark.usefixtures("hermetic_files")


@contextmanager
def clock(monkeypatch: pytest.MonkeyPatch, moment: datetime) -> Iterator[None]:
    """Audit records written inside are stamped ``moment``: a vehicle's status history at chosen times."""
    with monkeypatch.context() as patch:
        patch.setattr(audit, "utcnow", lambda: moment)
        yield


def admin(api: Api, path: str, body: dict[str, Any]) -> None:
    r = api.as_("admin").post(path, json=body)
    assert r.status_code == 200, r.text


def vehicle_ids(response: Any) -> list[int]:
    assert response.status_code == 200, response.text
    return [v["id"] for v in response.json()]


# --- available vehicles -----------------------------------------------------------------------------------------


class TestAvailable:
    def test_in_service_and_unheld_over_the_interval(self, api: Api) -> None:
        v = api.city.vehicles
        trip = book(api)  # 09:00, held about 09:00-10:00
        approve(api, trip)
        held = assign(api, trip, "le-a1")["assignment"]
        admin(api, f"/vehicles/{v['le-b1']}/seal", {"reason": "闲置封存"})
        admin(api, f"/vehicles/{v['gen-b1']}/maintenance-in", {"reason": "保养"})
        d = api.as_("dispatcher")
        around = {"start": at(9, 30).isoformat(), "end": at(11).isoformat()}
        assert set(vehicle_ids(d.get("/vehicles/available", params=around))) == {
            v["le-a2"], v["gen-a1"], v["em-a1"]}
        # touching is not overlapping: free from the moment the assignment ends
        after = {"start": held["ends_at"], "end": at(12).isoformat()}
        assert v["le-a1"] in vehicle_ids(d.get("/vehicles/available", params=after))
        before = {"start": at(8).isoformat(), "end": held["starts_at"]}
        assert v["le-a1"] in vehicle_ids(d.get("/vehicles/available", params=before))
        assert vehicle_ids(d.get("/vehicles/available", params={**around, "category": "law_enforcement"})) == [
            v["le-a2"]]
        assert vehicle_ids(d.get("/vehicles/available", params={**around, "seats": 6})) == [v["em-a1"]]

    def test_for_a_trip_it_is_what_assign_accepts(self, api: Api) -> None:
        v = api.city.vehicles
        first = book(api)
        approve(api, first)
        assign(api, first, "le-a1")
        second = book(api, earliest_pickup=at(9, 10).isoformat(), latest_pickup=at(9, 20).isoformat())
        approve(api, second)
        free = vehicle_ids(api.as_("dispatcher").get("/vehicles/available", params={"trip_id": second["id"]}))
        # its category (law enforcement, any agency's: the platform pools them); le-a1 is held
        assert set(free) == {v["le-a2"], v["le-b1"]}
        for name in ("le-a1", "gen-a1", "em-a1"):
            r = api.as_("dispatcher").post(f"/trips/{second['id']}/assign", json={"vehicle_id": v[name]})
            assert r.status_code == 409, (name, r.text)
        assign(api, second, "le-b1")
        assign(api, second, "le-a2")

    def test_without_an_interval_it_says_so_rather_than_reading_a_vehicle_id(self, api: Api) -> None:
        r = api.as_("dispatcher").get("/vehicles/available")
        assert r.status_code == 422, r.text
        assert r.json()["field"] == "start"
        r = api.as_("dispatcher").get("/vehicles/available", params={"start": at(10).isoformat(),
                                                                     "end": at(9).isoformat()})
        assert r.status_code == 422
        assert r.json()["field"] == "end"


# --- a vehicle's calendar and the day board ---------------------------------------------------------------------


def desk_day(api: Api, monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[str, Any]]:
    """DAY on the desk: two trips on le-a1 (two drivers), em-a1 in the workshop 13:00-16:00, le-b1 sealed from
    20:00, and four approved trips waiting (one the evening before into the small hours, one the next day)."""
    v = api.city.vehicles
    morning = book(api, purpose="上午执法检查")
    approve(api, morning)
    morning = assign(api, morning, "le-a1", "driver-a")
    afternoon = book(api, purpose="下午执法检查", earliest_pickup=at(14).isoformat(),
                     latest_pickup=at(14, 30).isoformat())
    approve(api, afternoon)
    afternoon = assign(api, afternoon, "le-a1", "pool-day")
    with clock(monkeypatch, at(13)):
        admin(api, f"/vehicles/{v['em-a1']}/maintenance-in", {"reason": "更换轮胎"})
    with clock(monkeypatch, at(16)):
        admin(api, f"/vehicles/{v['em-a1']}/maintenance-out", {"reason": "修好"})
    with clock(monkeypatch, at(20)):
        admin(api, f"/vehicles/{v['le-b1']}/seal", {"reason": "闲置封存"})
    routine = book(api, priority="routine", purpose="调研", earliest_pickup=at(10).isoformat(),
                   latest_pickup=at(11).isoformat())
    # An approved emergency is placed at once; this one needs a category no vehicle has, so it waits in the queue.
    emergency = book(api, priority="emergency", purpose="防汛", categories=["confidential_comms"],
                     earliest_pickup=at(15).isoformat(), latest_pickup=at(15, 20).isoformat())
    overnight = book(api, purpose="夜间执法", earliest_pickup=at(23, day=DAY - timedelta(days=1)).isoformat(),
                     latest_pickup=at(0, 30).isoformat())
    tomorrow = book(api, earliest_pickup=at(9, day=NEXT).isoformat(), latest_pickup=at(10, day=NEXT).isoformat())
    for trip in (routine, emergency, overnight, tomorrow):
        approve(api, trip)
    book(api, purpose="还没审批")  # requested: not in the queue
    return {"morning": morning, "afternoon": afternoon, "routine": routine, "emergency": emergency,
            "overnight": overnight, "tomorrow": tomorrow}


class TestBoard:
    def test_the_day_in_one_call(self, api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
        trips = desk_day(api, monkeypatch)
        v = api.city.vehicles
        r = api.as_("dispatcher").get("/board", params={"day": DAY.isoformat()})
        assert r.status_code == 200, r.text
        board = r.json()
        assert (board["day"], board["start"], board["end"]) == (
            DAY.isoformat(), at(0).isoformat(), at(0, day=NEXT).isoformat())
        by_id = {row["id"]: row for row in board["vehicles"]}
        assert set(by_id) == set(v.values())
        assert by_id[v["le-a1"]]["drivers"] == ["driver-a", "pool-day"]
        assert by_id[v["le-a2"]]["drivers"] == []
        assert by_id[v["le-a1"]]["agency"] == AGENCY_A
        items = {(i["vehicle_id"], i["kind"]): i for i in board["items"]}
        assert len(board["items"]) == 4
        assert [i["id"] for i in board["items"] if i["kind"] == "assignment"] == [
            f"a{trips['morning']['assignment']['id']}", f"a{trips['afternoon']['assignment']['id']}"]
        on_a1 = [i for i in board["items"] if i["vehicle_id"] == v["le-a1"]]
        assert [(i["trip_id"], i["driver"], i["purpose"], i["status"], i["priority"], i["agency"]) for i in on_a1] \
            == [(trips["morning"]["id"], "driver-a", "上午执法检查", "assigned", "law_enforcement", AGENCY_A),
                (trips["afternoon"]["id"], "pool-day", "下午执法检查", "assigned", "law_enforcement", AGENCY_A)]
        assert on_a1[0]["start"] == at(9).isoformat()
        workshop = items[(v["em-a1"], "workshop")]
        assert (workshop["start"], workshop["end"]) == (at(13).isoformat(), at(16).isoformat())
        assert workshop["id"].startswith("w")
        sealed = items[(v["le-b1"], "sealed")]
        assert (sealed["start"], sealed["end"]) == (at(20).isoformat(), at(0, day=NEXT).isoformat())  # open: to the end
        assert [t["id"] for t in board["queue"]] == [
            trips["emergency"]["id"], trips["overnight"]["id"], trips["routine"]["id"]]
        assert all("dispatch_note" in t for t in board["queue"])

    def test_a_period_before_the_day_is_clipped_and_the_next_day_is_clear(self, api: Api,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
        desk_day(api, monkeypatch)
        v = api.city.vehicles
        board = api.as_("supervisor").get("/board", params={"day": NEXT.isoformat()}).json()
        assert [(i["vehicle_id"], i["kind"], i["start"], i["end"]) for i in board["items"]] == [
            (v["le-b1"], "sealed", at(0, day=NEXT).isoformat(), at(0, day=NEXT + timedelta(days=1)).isoformat())]
        assert len(board["queue"]) == 1

    def test_the_calendar_of_one_vehicle_over_days(self, api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
        trips = desk_day(api, monkeypatch)
        v = api.city.vehicles
        r = api.as_("admin").get(f"/vehicles/{v['le-a1']}/calendar", params={
            "since": DAY.isoformat(), "until": NEXT.isoformat()})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["vehicle"]["id"] == v["le-a1"]
        assert (body["start"], body["end"]) == (at(0).isoformat(), at(0, day=NEXT + timedelta(days=1)).isoformat())
        assert [i["trip_id"] for i in body["items"]] == [trips["morning"]["id"], trips["afternoon"]["id"]]
        sealed = api.as_("admin").get(f"/vehicles/{v['le-b1']}/calendar", params={
            "since": at(21).isoformat(), "until": at(22).isoformat()}).json()["items"]
        assert [(i["kind"], i["start"], i["end"]) for i in sealed] == [
            ("sealed", at(21).isoformat(), at(22).isoformat())]
        # an unsealed vehicle's period closes where the log says
        with clock(monkeypatch, at(8, day=NEXT)):
            admin(api, f"/vehicles/{v['le-b1']}/unseal", {"reason": "恢复使用"})
        closed = api.as_("admin").get(f"/vehicles/{v['le-b1']}/calendar", params={
            "since": DAY.isoformat(), "until": NEXT.isoformat()}).json()["items"]
        assert [(i["start"], i["end"]) for i in closed] == [(at(20).isoformat(), at(8, day=NEXT).isoformat())]

    @pytest.mark.parametrize(("params", "field"), [
        ({"since": DAY.isoformat()}, "until"),
        ({"since": DAY.isoformat(), "until": (DAY - timedelta(days=1)).isoformat()}, "until"),
        ({"since": DAY.isoformat(), "until": (DAY + timedelta(days=70)).isoformat()}, "until"),
    ])
    def test_a_bad_window_names_the_field(self, api: Api, params: dict[str, str], field: str) -> None:
        r = api.as_("admin").get(f"/vehicles/{api.city.vehicles['le-a1']}/calendar", params=params)
        assert r.status_code == 422, r.text
        assert r.json()["field"] == field

    def test_a_fixed_number_of_queries_whatever_the_fleet(self, api: Api, city_engine: Engine,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
        desk_day(api, monkeypatch)

        def statements() -> int:
            seen: list[str] = []

            def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
                seen.append(statement)

            sa.event.listen(city_engine, "before_cursor_execute", count)
            try:
                r = api.as_("dispatcher").get("/board", params={"day": DAY.isoformat()})
                assert r.status_code == 200, r.text
            finally:
                sa.event.remove(city_engine, "before_cursor_execute", count)
            return len(seen)

        before = statements()
        with unit_of_work(city_engine) as session:  # ten more vehicles and drivers, each with a trip of the day
            registry.set_quota(session, ADMIN, data=QuotaIn(agency=AGENCY_B, category=Category.general, limit=20,
                                                            reason="扩编"))
            for n in range(10):
                registered(session, AGENCY_B, category=Category.general, home_lat=YARD_B[0], home_lon=YARD_B[1])
                drivers.add_driver(session, ADMIN, data=DriverIn(name=f"司机{n}", licence_class="C1",
                                                                 agency=AGENCY_B, shift_start="06:00",
                                                                 shift_end="22:00"))
        more = api.as_("admin").get("/vehicles", params={"agency": AGENCY_B, "category": "general"}).json()
        assert more["total"] == 11
        listed = api.as_("admin").get("/drivers", params={"limit": 200}).json()["items"]
        pool = {d["name"]: d["id"] for d in listed}
        for n, vehicle in enumerate(more["items"][:10]):
            trip = book(api, "requester-b", priority="routine", earliest_pickup=at(8 + n).isoformat(),
                        latest_pickup=at(8 + n, 30).isoformat(), pickup={"lat": YARD_B[0], "lon": YARD_B[1],
                                                                          "address": "武昌区中北路"})
            approve(api, trip, "approver-b")
            r = api.as_("dispatcher").post(f"/trips/{trip['id']}/assign", json={
                "vehicle_id": vehicle["id"], "driver_id": pool[f"司机{n}"]})
            assert r.status_code == 200, r.text
        after = statements()
        assert after == before, f"{before} statements for 6 vehicles, {after} for 16"


# --- places -------------------------------------------------------------------------------------------------------


class TestPlaces:
    def test_agencies_depots_and_the_trips_the_caller_may_see(self, api: Api, city_engine: Engine) -> None:
        with unit_of_work(city_engine) as session:  # a second yard of agency A
            registered(session, AGENCY_A, category=Category.general, home_lat=30.61, home_lon=114.41)
        book(api, pickup={"lat": 30.58, "lon": 114.27, "address": "汉口火车站"},
             dropoff={"lat": 30.50, "lon": 114.33, "address": "武昌区政府"})
        book(api, pickup={"lat": 30.581, "lon": 114.271, "address": "汉口火车站"})  # the same name: listed once
        book(api, "requester-b", pickup={"lat": YARD_B[0], "lon": YARD_B[1], "address": "武昌区中北路"})
        r = api.as_("requester-a").get("/places")
        assert r.status_code == 200, r.text
        found = [(p["name"], p["kind"]) for p in r.json()]
        assert found[:3] == [(f"单位 {AGENCY_B}", "agency"), (f"单位 {AGENCY_A}", "agency"),
                             (f"单位 {AGENCY_A} 车场 2", "depot")] or found[:3] == [
            (f"单位 {AGENCY_A}", "agency"), (f"单位 {AGENCY_A} 车场 2", "depot"), (f"单位 {AGENCY_B}", "agency")]
        names = [name for name, _ in found]
        assert len(names) == len(set(names))
        assert {"汉口火车站", "武昌区政府", "黄陂区前川街"} <= set(names)
        assert "武昌区中北路" not in names  # agency B's trip
        place = next(p for p in r.json() if p["name"] == "汉口火车站")
        assert (place["lat"], place["lon"]) == (30.581, 114.271)  # where it was booked last
        yard = next(p for p in r.json() if p["name"] == f"单位 {AGENCY_A}")
        assert (yard["lat"], yard["lon"]) == YARD_A

    def test_text_and_limit(self, api: Api) -> None:
        book(api, pickup={"lat": 30.58, "lon": 114.27, "address": "汉口火车站"})
        r = api.as_("dispatcher").get("/places", params={"q": "汉口"})
        assert [(p["name"], p["kind"]) for p in r.json()] == [("汉口火车站", "trip")]
        assert [p["name"] for p in api.as_("dispatcher").get("/places", params={"q": "wh-ga"}).json()] == [
            f"单位 {AGENCY_A}"]
        assert len(api.as_("dispatcher").get("/places", params={"limit": 2}).json()) == 2
        assert api.as_("driver-a").get("/places", params={"q": "汉口"}).json() == []  # not a trip it drives


# --- dispatch runs ------------------------------------------------------------------------------------------------

WINDOW = {"start": at(0).isoformat(), "end": at(0, day=NEXT).isoformat(), "time_limit": 1}


class TestRuns:
    def test_a_run_is_listed_running_at_once_and_done_with_its_summary(self, api: Api, city: City,
                                                                       city_engine: Engine, gate: Gate) -> None:
        trip = book(api)
        approve(api, trip)
        with TestClient(create_app(city_engine), raise_server_exceptions=False) as other:
            thread, answers = run_in_background(other, city.tokens["dispatcher"], WINDOW)
            assert gate.solving.wait(timeout=20)
            try:
                page = api.as_("supervisor").get("/dispatch/runs").json()
                assert page["total"] == 1
                running = page["items"][0]
                assert running["status"] == "running"
                assert (running["summary"], running["finished_at"], running["error"]) == (None, None, None)
                assert running["actor"] == "dispatcher (dispatcher)"
                assert running["holder"]
                assert (running["window_start"], running["window_end"]) == (WINDOW["start"], WINDOW["end"])
                assert running["time_limit"] == 1
            finally:
                gate.release.set()
                thread.join(timeout=60)
        assert answers[0].status_code == 200, answers[0].text
        run_id = answers[0].json()["run_id"]
        done = api.as_("dispatcher").get(f"/dispatch/runs/{run_id}").json()
        assert done["status"] == "done"
        assert done["summary"] == answers[0].json()
        assert done["finished_at"] >= done["started_at"]

    def test_newest_first_and_a_failure_says_why(self, api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
        from fleet import dispatching

        assert api.as_("dispatcher").post("/dispatch", json=WINDOW).status_code == 200

        def broken(*args: Any, **kwargs: Any) -> Any:
            raise MemoryError

        monkeypatch.setattr(dispatching, "solve", broken)
        assert api.as_("dispatcher").post("/dispatch", json=WINDOW).status_code == 503
        runs = api.as_("dispatcher").get("/dispatch/runs").json()["items"]
        assert [r["status"] for r in runs] == ["failed", "done"]
        assert "no plan" in runs[0]["error"]
        assert runs[0]["summary"] is None
        only_done = api.as_("dispatcher").get("/dispatch/runs", params={"status": "done"}).json()
        assert [r["id"] for r in only_done["items"]] == [runs[1]["id"]]

    def test_an_unknown_run_is_404(self, api: Api) -> None:
        r = api.as_("dispatcher").get("/dispatch/runs/99")
        assert r.status_code == 404
        assert r.json()["field"] == "run_id"
