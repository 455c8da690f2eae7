"""Every instant the API writes is ``YYYY-MM-DDTHH:MM:SS+08:00``: a day of real calls, every JSON answer walked,
every string that reads as an ISO instant checked, inside audit changes, findings' evidence and summaries too."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from api.schemas import china_instant, china_json
from fleet import audit, clock
from fleet.db import unit_of_work
from fleet.settings import get_settings
from tests.api.conftest import AGENCY_A, DAY, Api, at, trip_body
from tests.conftest import TEST_AUDIT_KEY

CHINA_FORM = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+08:00")


pytestmark = pytest.mark.usefixtures("hermetic_files")


def instant(text: str) -> bool:
    """Whether ``text`` reads as an ISO 8601 instant: a date, a time and an offset."""
    if "T" not in text and " " not in text:
        return False
    try:
        return datetime.fromisoformat(text).tzinfo is not None
    except ValueError:
        return False


def walk(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        for n, item in enumerate(value):
            yield from walk(item, f"{path}[{n}]")


class Recorder:
    """The API as ``Api`` is, keeping every JSON answer."""

    def __init__(self, api: Api) -> None:
        self.api, self.answers = api, []  # type: list[tuple[str, Any]]

    def call(self, user: str, method: str, url: str, expected: int = 200, **kwargs: Any) -> Any:
        r = getattr(self.api.as_(user), method)(url, **kwargs)
        assert r.status_code == expected, f"{method} {url}: {r.status_code} {r.text}"
        if r.headers.get("content-type", "").startswith("application/json"):
            self.answers.append((f"{method.upper()} {url}", r.json()))
            return r.json()
        return r


def a_day(api: Api, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Recorder:
    """Book, decide, assign, dispatch, an urgent emergency, drive, seal and service, read everything back."""
    rec = Recorder(api)
    v, d = api.city.vehicles, api.city.drivers
    # the client sends UTC and +08:00 alike
    first = rec.call("requester-a", "post", "/trips", 201, json=trip_body(
        earliest_pickup=at(9).astimezone(tz=None).isoformat(), latest_pickup="2030-03-12T01:30:00Z"))
    rec.call("approver-a", "post", f"/trips/{first['id']}/approve", json={"note": "同意"})
    rec.call("dispatcher", "post", f"/trips/{first['id']}/assign", json={
        "vehicle_id": v["le-a1"], "driver_id": d["driver-a"], "pickup_at": "2030-03-12T01:05:00+00:00"})
    batch = [rec.call("requester-a", "post", "/trips", 201, json=trip_body(
        earliest_pickup=at(h).isoformat(), latest_pickup=at(h, 30).isoformat())) for h in (11, 13)]
    for trip in batch:
        rec.call("approver-a", "post", f"/trips/{trip['id']}/approve")
    run = rec.call("dispatcher", "post", "/dispatch", json={
        "start": at(0).isoformat(), "end": at(0, day=DAY + timedelta(days=1)).isoformat(), "time_limit": 1})
    rec.call("dispatcher", "post", "/trips", 201, json=trip_body(
        agency=AGENCY_A, priority="emergency", categories=["emergency"], purpose="防汛抢险", passengers=3,
        earliest_pickup=at(10).isoformat(), latest_pickup=at(10, 20).isoformat(),
        approval_basis="单位审批人电话同意"))
    with clock.travel(at(9, 8)):  # the driver enters the start two minutes late
        rec.call("driver-a", "post", f"/trips/{first['id']}/start", json={"odometer_km": 1000,
                                                                           "at": at(9, 6).isoformat()})
    with clock.travel(at(10, 40)):
        rec.call("driver-a", "post", f"/trips/{first['id']}/complete", json={"odometer_km": 1090})
    evening = rec.call("dispatcher", "post", "/trips", 201, json=trip_body(
        agency=AGENCY_A, priority="routine", earliest_pickup=at(20, 30).isoformat(),
        latest_pickup=at(20, 45).isoformat(), approval_basis="单位审批人电话同意"))
    rec.call("dispatcher", "post", f"/trips/{evening['id']}/assign", json={"vehicle_id": v["gen-a1"]})
    with clock.travel(at(23)):  # the evening's times are back-filled from the slip
        rec.call("dispatcher", "post", f"/trips/{evening['id']}/start", json={
            "odometer_km": 500, "at": at(20, 35).isoformat(), "backfill_reason": "驾驶员手机没电，按派车单补录"})
        rec.call("dispatcher", "post", f"/trips/{evening['id']}/complete", json={
            "odometer_km": 530, "at": at(22).isoformat(), "backfill_reason": "驾驶员手机没电，按派车单补录"})
    unassigned = rec.call("requester-a", "post", "/trips", 201, json=trip_body(
        earliest_pickup=at(15).isoformat(), latest_pickup=at(15, 30).isoformat()))
    rec.call("approver-a", "post", f"/trips/{unassigned['id']}/approve")
    rec.call("dispatcher", "post", f"/trips/{unassigned['id']}/assign", json={"vehicle_id": v["le-a2"]})
    rec.call("dispatcher", "post", f"/trips/{unassigned['id']}/unassign", json={"note": "换车"})
    rec.call("admin", "post", "/users", 201, json={"name": "新调度员", "role": "dispatcher"})
    with monkeypatch.context() as patch:
        patch.setattr(audit, "utcnow", lambda: at(12))
        rec.call("admin", "post", f"/vehicles/{v['le-b1']}/seal", json={"reason": "闲置封存"})
        rec.call("admin", "post", f"/vehicles/{v['gen-b1']}/maintenance-in", json={"reason": "保养"})
    with unit_of_work(engine, readonly=True) as session:
        audit.write_checkpoint(session, get_settings().audit_checkpoint_file, TEST_AUDIT_KEY.encode())
    # and read it all back
    day = DAY.isoformat()
    for user, url, params in (
        ("dispatcher", "/trips", {"limit": 200}), ("dispatcher", f"/trips/{first['id']}", {}),
        ("dispatcher", f"/trips/{first['id']}/slip", {"format": "json"}),
        ("dispatcher", "/board", {"day": day}), ("dispatcher", "/places", {}),
        ("dispatcher", "/vehicles/available", {"start": at(8).isoformat(), "end": at(18).isoformat()}),
        ("admin", f"/vehicles/{v['le-a1']}/calendar", {"since": day, "until": day}),
        ("admin", f"/vehicles/{v['le-b1']}/calendar", {"since": day, "until": day}),
        ("admin", "/vehicles", {"limit": 200}), ("admin", "/drivers", {}), ("admin", "/agencies", {}),
        ("admin", "/quotas", {}), ("dispatcher", "/dispatch/runs", {}),
        ("supervisor", f"/dispatch/runs/{run['run_id']}", {}), ("supervisor", "/audit", {"limit": 200}),
        ("supervisor", "/audit/verify", {}), ("supervisor", "/violations", {"since": day, "until": day}),
        ("supervisor", "/reports/annual", {"year": DAY.year, "agency": AGENCY_A}),
        ("requester-a", "/vocabulary", {}), ("admin", "/users", {}),
    ):
        rec.call(user, "get", url, params=params)
    return rec


def test_every_instant_in_every_answer_is_china_time(api: Api, city_engine: Engine,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    rec = a_day(api, city_engine, monkeypatch)
    checked: dict[str, int] = {}
    wrong: list[tuple[str, str, str]] = []
    for call, body in rec.answers:
        for path, text in walk(body):
            if instant(text):
                checked[call.split("?")[0]] = checked.get(call.split("?")[0], 0) + 1
                if not CHINA_FORM.fullmatch(text):
                    wrong.append((call, path, text))
    assert not wrong, wrong[:10]
    assert sum(checked.values()) > 200, checked
    # the free-form objects were reached, not only the typed fields
    audit_trail = next(body for call, body in rec.answers if call == "GET /audit")
    changes = [path for path, text in walk(audit_trail) if ".changes." in path and instant(text)]
    assert len(changes) > 5, changes
    findings = next(body for call, body in rec.answers if call == "GET /violations")
    assert any(".evidence." in path and instant(text) for path, text in walk(findings)), findings
    verify = next(body for call, body in rec.answers if call == "GET /audit/verify")
    assert CHINA_FORM.fullmatch(verify["checkpoint"]["at"]), verify
    report = next(body for call, body in rec.answers if call == "GET /reports/annual")
    assert CHINA_FORM.fullmatch(report["generated_at"])


def test_a_booking_and_a_later_read_write_the_same_instant_the_same_way(api: Api) -> None:
    booked = api.as_("requester-a").post("/trips", json=trip_body(earliest_pickup="2030-03-12T01:00:00Z",
                                                                  latest_pickup="2030-03-12T09:30:00+08:00"))
    assert booked.status_code == 201, booked.text
    read = api.as_("requester-a").get(f"/trips/{booked.json()['id']}").json()
    listed = api.as_("requester-a").get("/trips").json()["items"][0]
    for body in (booked.json(), read, listed):
        assert (body["earliest_pickup"], body["latest_pickup"]) == ("2030-03-12T09:00:00+08:00",
                                                                    "2030-03-12T09:30:00+08:00")


def test_the_json_walk_rewrites_instants_and_nothing_else() -> None:
    assert china_instant(datetime.fromisoformat("2030-03-12T01:00:00.123456+00:00")) == "2030-03-12T09:00:00+08:00"
    assert china_json({"a": ["2030-03-12T01:00:00Z", {"b": "2030-03-12T01:00:00.5+00:00"}], "c": "2030-03-12",
                       "d": "the trip from 2030-03-12T01:00:00Z", "e": 3, "f": "2030-03-12T25:00:00Z"}) == {
        "a": ["2030-03-12T09:00:00+08:00", {"b": "2030-03-12T09:00:00+08:00"}], "c": "2030-03-12",
        "d": "the trip from 2030-03-12T01:00:00Z", "e": 3, "f": "2030-03-12T25:00:00Z"}
