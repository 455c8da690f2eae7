"""The lists the console reads: trips with their filters (local days, text, sort), the export, every list as a page
with its total, unknown query parameters refused, and a trip taken off its vehicle (unassign)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from api.app import create_app
from fleet import bookings, clock
from fleet.db import make_engine, unit_of_work
from fleet.exports import TRIP_SHEET
from fleet.schemas import TripIn
from tests.api.conftest import AGENCY_A, AGENCY_B, DAY, YARD_B, Api, City, at, seed_city, trip_body
from tests.conftest import postgres_schema
from tests.factories import ADMIN

pytestmark = pytest.mark.usefixtures("hermetic_files")


def book(api: Api, user: str = "requester-a", **overrides: Any) -> dict[str, Any]:
    r = api.as_(user).post("/trips", json=trip_body(**overrides))
    assert r.status_code == 201, r.text
    return dict(r.json())


def approve(api: Api, trip: dict[str, Any], approver: str = "approver-a") -> None:
    r = api.as_(approver).post(f"/trips/{trip['id']}/approve", json={"note": "同意"})
    assert r.status_code == 200, r.text


def assign(api: Api, trip: dict[str, Any], vehicle: str, driver: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"vehicle_id": api.city.vehicles[vehicle]}
    if driver is not None:
        body["driver_id"] = api.city.drivers[driver]
    r = api.as_("dispatcher").post(f"/trips/{trip['id']}/assign", json=body)
    assert r.status_code == 200, r.text
    return dict(r.json())


def ids(response: Any) -> list[int]:
    assert response.status_code == 200, response.text
    return [t["id"] for t in response.json()["items"]]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def both_api(request: pytest.FixtureRequest, city_template: tuple[Path, City], tmp_path: Path) -> Iterator[Api]:
    """The API over a copy of the city on SQLite, or over a freshly seeded city on PostgreSQL."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'city.db'}")
        for suffix in ("", "-wal"):
            if Path(f"{city_template[0]}{suffix}").exists():
                Path(f"{tmp_path / 'city.db'}{suffix}").write_bytes(Path(f"{city_template[0]}{suffix}").read_bytes())
        with TestClient(create_app(engine), raise_server_exceptions=False) as client:
            yield Api(client, city_template[1])
        engine.dispose()
        return
    request.getfixturevalue("postgresql_engine")  # skips, or fails under CI, when there is no server
    with postgres_schema("gongche_lists") as engine:
        city = seed_city(engine)
        with TestClient(create_app(engine), raise_server_exceptions=False) as client:
            yield Api(client, city)


# --- trips: filters -----------------------------------------------------------------------------------------------


class TestTripFilters:
    def test_a_date_means_that_whole_day_in_china_time(self, both_api: Api) -> None:
        api = both_api
        # 07:00 in Wuhan is 23:00 UTC the day before; 06:00 the next day is 22:00 UTC on DAY: a UTC reading of the
        # dates would take the first out and the second in.
        early = book(api, earliest_pickup=at(7).isoformat(), latest_pickup=at(7, 30).isoformat())
        late = book(api, earliest_pickup=at(23, 30).isoformat(), latest_pickup=at(23, 45).isoformat())
        book(api, earliest_pickup=at(6, day=DAY + timedelta(days=1)).isoformat(),
             latest_pickup=at(6, 30, day=DAY + timedelta(days=1)).isoformat())
        book(api, earliest_pickup=at(23, 59, day=DAY - timedelta(days=1)).isoformat(),
             latest_pickup=at(23, 59, day=DAY - timedelta(days=1)).isoformat())
        day = DAY.isoformat()
        assert ids(api.as_("dispatcher").get("/trips", params={"since": day, "until": day})) == [early["id"],
                                                                                                 late["id"]]
        # an instant is exclusive as an end, inclusive as a start
        assert ids(api.as_("dispatcher").get("/trips", params={
            "since": at(7).isoformat(), "until": at(23, 30).isoformat()})) == [early["id"]]
        # a date and an instant mix
        assert ids(api.as_("dispatcher").get("/trips", params={"since": at(8).isoformat(), "until": day})) == [
            late["id"]]

    def test_a_bad_day_names_the_parameter(self, api: Api) -> None:
        for params in ({"since": "2030-02-30"}, {"until": "2030-3-12"}, {"until": "9999-12-31"},
                       {"since": "2030-03-12T08:00:00"}):
            r = api.as_("dispatcher").get("/trips", params=params)
            assert r.status_code == 422, (params, r.text)
            assert r.json()["field"] == next(iter(params)), r.json()

    def test_the_days_a_filter_takes_are_chinas_2000_to_2099(self, api: Api) -> None:
        """A day-only filter is that day in China time, so the first day of 2000 is in range (its China midnight
        is still 1999 in UTC, and was refused)."""
        for params in ({"since": "2000-01-01"}, {"until": "2099-12-31"},
                       {"since": "2000-01-01T00:00:00+08:00", "until": "2099-12-31T23:59:59+08:00"}):
            assert api.as_("dispatcher").get("/trips", params=params).status_code == 200, params
        for params in ({"since": "1999-12-31"}, {"until": "2100-01-01"}):
            r = api.as_("dispatcher").get("/trips", params=params)
            assert (r.status_code, r.json()["field"]) == (422, next(iter(params))), r.text
            assert "2000-01-01 to 2099-12-31, China time" in r.json()["detail"]

    @pytest.mark.parametrize("query", ["limit=5&limit=6", "q=a&q=b", "since=2030-03-12&since=2030-03-13"])
    def test_a_parameter_of_one_value_given_twice_is_refused_naming_it(self, api: Api, query: str) -> None:
        r = api.as_("dispatcher").get(f"/trips?{query}")
        assert (r.status_code, r.json()["field"]) == (422, query.split("=")[0]), r.text
        assert "more than once" in r.json()["detail"]

    def test_status_repeats_and_the_other_filters_combine(self, api: Api) -> None:
        requested = book(api, purpose="调研座谈")
        approved = book(api, earliest_pickup=at(11).isoformat(), latest_pickup=at(11, 30).isoformat())
        approve(api, approved)
        assigned = book(api, earliest_pickup=at(13).isoformat(), latest_pickup=at(13, 30).isoformat())
        approve(api, assigned)
        assign(api, assigned, "le-a2", "driver-a")
        of_b = book(api, "requester-b", pickup={"lat": YARD_B[0], "lon": YARD_B[1], "address": "武昌区中北路"})
        d = api.as_("dispatcher")
        assert ids(d.get("/trips", params={"status": ["approved", "assigned"]})) == [approved["id"], assigned["id"]]
        assert ids(d.get("/trips", params={"agency": AGENCY_B})) == [of_b["id"]]
        assert ids(d.get("/trips", params={"vehicle_id": api.city.vehicles["le-a2"]})) == [assigned["id"]]
        assert ids(d.get("/trips", params={"driver_id": api.city.drivers["driver-a"]})) == [assigned["id"]]
        assert ids(d.get("/trips", params={"driver_id": api.city.drivers["driver-b"]})) == []
        assert ids(d.get("/trips", params={"status": "requested", "agency": AGENCY_A})) == [requested["id"]]
        assert ids(d.get("/trips", params={"priority": "routine"})) == []

    def test_mine_is_what_the_caller_requested(self, api: Api) -> None:
        own = book(api)
        by_the_platform = book(api, "dispatcher", agency=AGENCY_A)
        assert ids(api.as_("requester-a").get("/trips", params={"mine": "true"})) == [own["id"]]
        assert ids(api.as_("approver-a").get("/trips", params={"mine": "true"})) == []
        assert ids(api.as_("approver-a").get("/trips")) == [own["id"], by_the_platform["id"]]
        assert ids(api.as_("dispatcher").get("/trips", params={"mine": "true"})) == [by_the_platform["id"]]

    def test_text_is_found_in_purpose_addresses_and_plate_whatever_the_case(self, both_api: Api) -> None:
        api = both_api
        meeting = book(api, purpose="Safety MEETING 安全检查")
        road = book(api, dropoff={"lat": 30.6, "lon": 114.3, "address": "汉口 100%_路"})
        plated = book(api)
        approve(api, plated)
        held = assign(api, plated, "le-a1")
        d = api.as_("dispatcher")
        assert ids(d.get("/trips", params={"q": "meeting"})) == [meeting["id"]]
        assert ids(d.get("/trips", params={"q": "安全"})) == [meeting["id"]]
        assert ids(d.get("/trips", params={"q": "100%_"})) == [road["id"]]  # % and _ are text, not wildcards
        assert ids(d.get("/trips", params={"q": "0%"})) == [road["id"]]
        assert ids(d.get("/trips", params={"q": "1_0"})) == []
        plate = held["assignment"]["plate"]
        assert ids(d.get("/trips", params={"q": plate[1:].lower()})) == [plated["id"]]
        assert ids(d.get("/trips", params={"q": "沿江大道"})) == [meeting["id"], road["id"], plated["id"]]
        # a requester's search stays inside its agency
        assert ids(api.as_("requester-b").get("/trips", params={"q": "沿江大道"})) == []

    def test_sort_orders_and_priority_puts_emergencies_first(self, api: Api) -> None:
        routine = book(api, priority="routine", earliest_pickup=at(8).isoformat(),
                       latest_pickup=at(8, 30).isoformat())
        law = book(api, priority="law_enforcement", earliest_pickup=at(9).isoformat(),
                   latest_pickup=at(9, 30).isoformat())
        emergency = book(api, priority="emergency", earliest_pickup=at(10).isoformat(),
                         latest_pickup=at(10, 30).isoformat())
        d = api.as_("dispatcher")
        by = {sort: ids(d.get("/trips", params={"sort": sort})) for sort in
              ("pickup", "-pickup", "created", "-created", "priority", "id", "-id")}
        order = [routine["id"], law["id"], emergency["id"]]
        assert by["pickup"] == by["created"] == by["id"] == order
        assert by["-pickup"] == by["-created"] == by["-id"] == order[::-1]
        assert by["priority"] == order[::-1]
        r = d.get("/trips", params={"sort": "plate"})
        assert r.status_code == 422
        assert r.json()["field"] == "sort"

    def test_a_page_says_how_many_there_are(self, api: Api) -> None:
        made = [book(api, earliest_pickup=at(8 + i).isoformat(), latest_pickup=at(8 + i, 30).isoformat())["id"]
                for i in range(5)]
        page = api.as_("dispatcher").get("/trips", params={"limit": 2, "offset": 2}).json()
        assert page["items"][0]["id"] == made[2]
        assert (len(page["items"]), page["total"], page["limit"], page["offset"]) == (2, 5, 2, 2)


# --- trips: the export --------------------------------------------------------------------------------------------


def many_trips(engine: Any, n: int) -> None:
    """``n`` trips of agency A booked straight through the service: more than a page holds."""
    with unit_of_work(engine) as session:
        for i in range(n):
            pickup = at(6) + timedelta(minutes=3 * i)
            bookings.book(session, ADMIN, agency=AGENCY_A, data=TripIn.parse(trip_body(
                purpose=f"批量出行 {i}", earliest_pickup=pickup.isoformat(),
                latest_pickup=(pickup + timedelta(minutes=30)).isoformat())))


class TestExport:
    def test_csv_has_every_matching_trip_with_chinese_headings(self, api: Api, city_engine: Any) -> None:
        many_trips(city_engine, 205)
        book(api, "requester-b", pickup={"lat": YARD_B[0], "lon": YARD_B[1], "address": "武昌区中北路"})
        r = api.as_("requester-a").get("/trips/export", params={"format": "csv", "sort": "-pickup"})
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/csv")
        assert "attachment" in r.headers["content-disposition"]
        assert r.content.startswith("\ufeff".encode())  # the BOM spreadsheet programs need for Chinese
        rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
        assert rows[0] == [heading for heading, _ in TRIP_SHEET]
        assert rows[0][:4] == ["单号", "用车单位", "单位代码", "事由"]
        body = rows[1:]
        assert len(body) == 205  # every one, not a page; agency B's trip is not the requester's to see
        assert {row[2] for row in body} == {AGENCY_A}
        assert body[0][3] == "批量出行 204"  # newest pickup first
        first = rows[0].index("最早上车")
        assert body[-1][first] == f"{DAY} 06:00"  # China time
        assert body[0][rows[0].index("优先级")] == "执法执勤"

    def test_the_filters_are_the_lists_and_xlsx_is_a_workbook(self, api: Api) -> None:
        wanted = book(api, purpose="档案移交")
        book(api)
        listed = ids(api.as_("dispatcher").get("/trips", params={"q": "档案"}))
        r = api.as_("dispatcher").get("/trips/export", params={"format": "xlsx", "q": "档案"})
        assert r.status_code == 200, r.text
        sheet = load_workbook(io.BytesIO(r.content)).active
        rows = list(sheet.iter_rows(values_only=True))
        assert rows[0][0] == "单号"
        assert [row[0] for row in rows[1:]] == listed == [wanted["id"]]
        pickup = rows[1][[h for h, _ in TRIP_SHEET].index("最早上车")]
        assert (pickup.date(), pickup.hour) == (DAY, 9)  # a date cell, China time

    @pytest.mark.parametrize("fmt", ["csv", "xlsx"])
    def test_a_requesters_text_never_runs_as_a_formula_in_the_dispatchers_sheet(self, api: Api, fmt: str) -> None:
        purpose = '=HYPERLINK("http://evil.example","x")'
        book(api, purpose=purpose, pickup={"lat": 30.58, "lon": 114.27, "address": "+1+1"})
        r = api.as_("dispatcher").get("/trips/export", params={"format": fmt})
        assert r.status_code == 200, r.text
        headings = [h for h, _ in TRIP_SHEET]
        if fmt == "csv":
            row = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))[1]
            assert row[headings.index("事由")] == "'" + purpose  # OWASP: an apostrophe before a formula's lead
            assert "'+1+1" in row
        else:
            cells = next(load_workbook(io.BytesIO(r.content)).active.iter_rows(min_row=2, max_row=2))
            cell = cells[headings.index("事由")]
            assert (cell.value, cell.data_type) == (purpose, "s")  # the text as typed, a text cell
            assert "f" not in {c.data_type for c in cells}

    def test_an_unknown_format_is_refused(self, api: Api) -> None:
        r = api.as_("dispatcher").get("/trips/export", params={"format": "pdf"})
        assert r.status_code == 422
        assert r.json()["field"] == "format"


# --- every list a page ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("user", "url", "params"), [
    ("admin", "/vehicles", {}), ("dispatcher", "/drivers", {}), ("supervisor", "/agencies", {}),
    ("dispatcher", "/quotas", {}), ("supervisor", "/audit", {}),
    ("supervisor", "/violations", {"since": (DAY - timedelta(days=30)).isoformat(), "until": DAY.isoformat()}),
    ("dispatcher", "/dispatch/runs", {}),
])
def test_every_list_answers_a_page_with_its_total(api: Api, user: str, url: str, params: dict[str, str]) -> None:
    whole = api.as_(user).get(url, params={**params, "limit": 200})
    assert whole.status_code == 200, whole.text
    body = whole.json()
    assert set(body) == {"items", "total", "limit", "offset"}
    assert body["total"] == len(body["items"])
    page = api.as_(user).get(url, params={**params, "limit": 1, "offset": 1}).json()
    assert (page["total"], page["limit"], page["offset"]) == (body["total"], 1, 1)
    assert page["items"] == body["items"][1:2]


def test_lists_count_what_they_hold(api: Api) -> None:
    assert api.as_("admin").get("/vehicles").json()["total"] == 6
    assert api.as_("admin").get("/drivers").json()["total"] == 4
    assert api.as_("admin").get("/agencies").json()["total"] == 2
    assert api.as_("admin").get("/quotas").json()["total"] == 5
    assert api.as_("admin").get("/vehicles", params={"agency": AGENCY_B, "limit": 1}).json()["total"] == 2


def test_vehicles_are_found_by_plate_or_model(api: Api) -> None:
    vehicles = api.as_("admin").get("/vehicles").json()["items"]
    target = vehicles[3]
    found = api.as_("admin").get("/vehicles", params={"q": target["plate"][-4:].lower()}).json()
    assert [v["id"] for v in found["items"]] == [target["id"]]
    by_model = api.as_("admin").get("/vehicles", params={"q": "TEST MODEL"}).json()
    assert by_model["total"] == 6
    assert api.as_("admin").get("/vehicles", params={"q": "比亚迪"}).json()["total"] == 0


def test_vehicles_are_filtered_by_powertrain(api: Api) -> None:
    """The admin's view of the new-energy share by car: gen-a1 is the city's one battery car."""
    electric = api.as_("admin").get("/vehicles", params={"powertrain": "bev"}).json()
    assert [v["id"] for v in electric["items"]] == [api.city.vehicles["gen-a1"]]
    combustion = api.as_("admin").get("/vehicles", params={"powertrain": "ice"}).json()
    assert combustion["total"] == 5
    assert all(v["powertrain"] == "ice" for v in combustion["items"])
    refused = api.as_("admin").get("/vehicles", params={"powertrain": "steam"})
    assert (refused.status_code, refused.json()["field"]) == (422, "powertrain")


def test_violations_are_a_page_of_findings(api: Api) -> None:
    # a routine car out at 20:30: an off-hours finding
    trip = book(api, "dispatcher", agency=AGENCY_A, priority="routine", earliest_pickup=at(20, 30).isoformat(),
                latest_pickup=at(20, 45).isoformat(), approval_basis="单位审批人电话同意")
    assign(api, trip, "gen-a1", "pool-night")
    for step, km, when in (("start", 1000, at(20, 35)), ("complete", 1010, at(21, 40))):
        with clock.travel(when):
            r = api.as_("dispatcher").post(f"/trips/{trip['id']}/{step}", json={"odometer_km": km})
        assert r.status_code == 200, r.text
    page = api.as_("supervisor").get("/violations", params={"since": DAY.isoformat(), "until": DAY.isoformat()})
    assert page.status_code == 200, page.text
    found = page.json()
    assert found["total"] >= 1
    assert any(f["trip_id"] == trip["id"] and f["kind"] == "off_hours" for f in found["items"]), found
    assert found["items"][0]["at"].endswith("+08:00")


# --- unknown query parameters -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("user", "url", "params", "field"), [
    ("dispatcher", "/trips", {"plate": "鄂A12345"}, "plate"),
    ("dispatcher", "/trips", {"status": "approved", "pickup_from": "2030-03-12"}, "pickup_from"),
    ("dispatcher", "/trips/export", {"format": "csv", "limit": "10"}, "limit"),
    ("admin", "/vehicles", {"Agency": AGENCY_A}, "Agency"),
    ("dispatcher", "/board", {"day": DAY.isoformat(), "agency": AGENCY_A}, "agency"),
    ("supervisor", "/audit/verify", {"deep": "1"}, "deep"),
    ("requester-a", "/vocabulary", {"lang": "zh"}, "lang"),
    ("dispatcher", "/trips/1/slip", {"format": "json", "copies": "2"}, "copies"),
])
def test_an_unknown_query_parameter_is_refused_naming_it(api: Api, user: str, url: str, params: dict[str, str],
                                                         field: str) -> None:
    r = api.as_(user).get(url, params=params)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "InvalidInput"
    assert body["field"] == field
    assert field in body["detail"]


def test_declared_parameters_pass_including_a_dependencys(api: Api) -> None:
    """The trip filters live in a dependency shared by the list and the export: they count as declared."""
    book(api)
    params = {"status": "requested", "q": "执法", "mine": "true", "since": DAY.isoformat(), "sort": "-id"}
    assert api.as_("requester-a").get("/trips", params={**params, "limit": 5}).status_code == 200
    assert api.as_("requester-a").get("/trips/export", params={**params, "format": "csv"}).status_code == 200


# --- unassign -----------------------------------------------------------------------------------------------------


class TestUnassign:
    def test_an_assigned_trip_goes_back_to_the_queue_and_frees_its_vehicle(self, api: Api) -> None:
        trip = book(api)
        approve(api, trip)
        assign(api, trip, "le-a1", "driver-a")
        r = api.as_("dispatcher").post(f"/trips/{trip['id']}/unassign", json={"note": "车辆故障, 换车"})
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "approved"
        assert r.json()["assignment"] is None
        window = {"start": at(9).isoformat(), "end": at(11).isoformat(), "category": "law_enforcement"}
        free = [v["id"] for v in api.as_("dispatcher").get("/vehicles/available", params=window).json()]
        assert api.city.vehicles["le-a1"] in free
        trail = api.as_("supervisor").get("/audit", params={"entity": "trip", "entity_id": str(trip["id"]),
                                                            "action": "trip.unassigned"}).json()["items"]
        assert len(trail) == 1
        changes = trail[0]["changes"]
        assert changes["note"] == "车辆故障, 换车"
        assert changes["vehicle_id"] == api.city.vehicles["le-a1"]
        assert changes["starts_at"] == at(9).isoformat()
        # and it can be assigned again, to the same vehicle
        assign(api, trip, "le-a1")
        assert api.as_("supervisor").get("/audit/verify").json()["ok"] is True

    def test_without_a_note(self, api: Api) -> None:
        trip = book(api)
        approve(api, trip)
        assign(api, trip, "le-a1")
        r = api.as_("dispatcher").post(f"/trips/{trip['id']}/unassign")
        assert r.status_code == 200, r.text

    @pytest.mark.parametrize("state", ["requested", "approved", "in_progress", "completed", "cancelled"])
    def test_a_trip_not_assigned_or_under_way_is_refused_with_a_sentence(self, api: Api, state: str) -> None:
        trip = book(api)
        if state != "requested":
            approve(api, trip)
        if state in ("in_progress", "completed", "cancelled"):
            assign(api, trip, "le-a1", "driver-a")
        if state in ("in_progress", "completed"):
            api.as_("driver-a").post(f"/trips/{trip['id']}/start", json={"odometer_km": 100})
        if state == "completed":
            api.as_("driver-a").post(f"/trips/{trip['id']}/complete", json={"odometer_km": 120})
        if state == "cancelled":
            api.as_("requester-a").post(f"/trips/{trip['id']}/cancel")
        assert api.as_("dispatcher").get(f"/trips/{trip['id']}").json()["status"] == state
        r = api.as_("dispatcher").post(f"/trips/{trip['id']}/unassign", json={"note": "试试"})
        assert r.status_code == 409, r.text
        body = r.json()
        assert body["field"] == "status"
        assert body["detail"] == (f"trip {trip['id']} is {state}; only an assigned trip that has not started can be "
                                  f"unassigned")
        assert api.as_("dispatcher").get(f"/trips/{trip['id']}").json()["status"] == state
