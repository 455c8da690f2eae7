"""Tracks and the live map over HTTP (api/routes/tracks.py, fleet/track_queries.py): the GeoJSON a vehicle's track
is, its time window, its cuts at gaps, its simplification for long spans (endpoints kept, fewer points, the same
km), the span refused beyond a month, a trip's track beside its planned route, the newest positions by scope, and
the caller's scope (404 outside it).

Fixes are written by the ingest's own writer (`fleet.positions.store`); the reads are checked on PostgreSQL too
(its positions partitioned by month), directly against `fleet.track_queries`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from fleet import clock, positions, scopes, track_queries
from fleet.db import unit_of_work
from fleet.enums import Category, Role
from fleet.errors import InvalidInput, NotFound
from fleet.track_queries import MAX_SPAN, path_km, simplify, split_at_gaps
from tests.api.conftest import YARD_A, YARD_B, Api, at, trip_body
from tests.factories import agency, jurisdiction_tree, registered

Fix = tuple[datetime, float, float]  # fixed_at, lat, lon


def as_fixes(vehicle_id: int, fixes: Iterable[Fix], speed_kmh: float = 36.0) -> list[positions.Fix]:
    return [positions.Fix(vehicle_id=vehicle_id, fixed_at=fixed_at, lat=lat, lon=lon, speed_kmh=speed_kmh, course=90,
                          acc=True) for fixed_at, lat, lon in fixes]


def store(session: Session, vehicle_id: int, fixes: Iterable[Fix], *, received: datetime | None = None) -> None:
    """Store fixes as the ingest does, received at ``received`` (default: when the batch's newest fix was taken);
    the clock is moved there, since the writer refuses fixes from the future."""
    batch = as_fixes(vehicle_id, fixes)
    moment = received or max(f.fixed_at for f in batch)
    with clock.travel(moment, tick=False):
        positions.store(session, batch, received_at=moment)


def put_fixes(engine: Engine, vehicle_id: int, fixes: Iterable[Fix], *, received: datetime | None = None) -> None:
    with unit_of_work(engine) as session:
        store(session, vehicle_id, fixes, received=received)


def drive(start: datetime, minutes: float, *, every_s: int = 10, origin: tuple[float, float] = YARD_A,
          wiggle: float = 0.0) -> list[Fix]:
    """Fixes every ``every_s`` seconds heading east-north-east from ``origin`` at about 36 km/h, swaying north and
    south by ``wiggle`` degrees (a road that winds)."""
    count = int(minutes * 60 / every_s)
    step = 36 / 3600 * every_s / 111.0  # degrees per fix, roughly
    return [(start + timedelta(seconds=i * every_s), origin[0] + i * step * 0.3 + wiggle * math.sin(i / 7),
             origin[1] + i * step) for i in range(count)]


def iso(moment: datetime) -> str:
    return moment.isoformat()


def track(api: Api, vehicle_id: int, start: datetime, end: datetime, user: str = "dispatcher",
          **params: Any) -> Any:
    r = api.as_(user).get(f"/vehicles/{vehicle_id}/track", params={"start": iso(start), "end": iso(end), **params})
    assert r.status_code == 200, r.text
    return r.json()


def test_a_vehicles_track_is_a_geojson_line_in_time_order(api: Api, city_engine: Engine) -> None:
    vehicle = api.city.vehicles["le-a1"]
    fixes = drive(at(9), 10)
    put_fixes(city_engine, vehicle, reversed(fixes))  # stored out of order (a blind-area back-fill): read in order
    body = track(api, vehicle, at(8), at(11))
    assert body["type"] == "FeatureCollection"
    [feature] = body["features"]
    assert feature["type"] == "Feature"
    assert feature["geometry"]["type"] == "LineString"
    coordinates = feature["geometry"]["coordinates"]
    assert coordinates == [[pytest.approx(lon), pytest.approx(lat)] for _, lat, lon in fixes]  # [lon, lat]
    p = feature["properties"]
    assert p["role"] == "track"
    assert (p["vehicle_id"], p["fixes"], p["points"], p["parts"], p["simplified"], p["tolerance_m"]) == (
        vehicle, 60, 60, 1, False, None)
    assert p["plate"]
    times = [datetime.fromisoformat(t) for t in p["coordTimes"]]
    assert times == [f[0] for f in fixes]
    assert all(t.endswith("+08:00") for t in p["coordTimes"])  # instants leave the API in China time
    assert (datetime.fromisoformat(p["first_fix"]), datetime.fromisoformat(p["last_fix"])) == (fixes[0][0],
                                                                                               fixes[-1][0])
    # ten minutes at about 36 km/h (east at 30° N is a little shorter in km than in degrees of latitude)
    assert p["km"] == pytest.approx(path_km(np.array([f[2] for f in fixes]), np.array([f[1] for f in fixes])),
                                    abs=1e-3)
    assert 5.0 < p["km"] < 6.5


def test_the_map_draws_only_fixes_a_track_can_believe(api: Api, city_engine: Engine) -> None:
    """A fix the terminal marks unpositioned (status bit 1 clear) and a lone jump to a stale position far away are
    neither drawn nor counted in km: the map shows what the audit reads."""
    vehicle = api.city.vehicles["le-a1"]
    fixes = drive(at(9), 10)
    good = as_fixes(vehicle, fixes)
    positioned = 0b10
    stale = positions.Fix(vehicle_id=vehicle, fixed_at=fixes[20][0] + timedelta(seconds=5), lat=31.0, lon=121.0,
                          speed_kmh=36.0, acc=True, status=positioned)
    unpositioned = positions.Fix(vehicle_id=vehicle, fixed_at=fixes[40][0] + timedelta(seconds=5), lat=fixes[40][1],
                                 lon=fixes[40][2] + 0.2, speed_kmh=36.0, acc=True, status=0)
    with unit_of_work(city_engine) as session, clock.travel(at(11), tick=False):
        positions.store(session, [*good, stale, unpositioned], received_at=at(11))
    body = track(api, vehicle, at(8), at(11))
    properties = body["features"][0]["properties"]
    assert properties["fixes"] == len(fixes)
    drawn = body["features"][0]["geometry"]["coordinates"]
    assert all(abs(lon - 121.0) > 1 for lon, _ in drawn)
    assert properties["km"] < 10  # 10 min at 36 km/h, not a round trip to Shanghai


def test_the_window_takes_the_fixes_from_start_up_to_end(api: Api, city_engine: Engine) -> None:
    vehicle = api.city.vehicles["le-a1"]
    put_fixes(city_engine, vehicle, drive(at(9), 30, every_s=60))
    p = track(api, vehicle, at(9, 10), at(9, 20))["features"][0]["properties"]
    assert p["fixes"] == 10  # 09:10 … 09:19; 09:20 is the end, excluded
    assert datetime.fromisoformat(p["first_fix"]) == at(9, 10)
    assert datetime.fromisoformat(p["last_fix"]) == at(9, 19)
    # a date means that China day, whole
    r = api.as_("supervisor").get(f"/vehicles/{vehicle}/track", params={"start": at(0).date().isoformat(),
                                                                       "end": at(0).date().isoformat()})
    assert r.status_code == 200, r.text
    assert r.json()["features"][0]["properties"]["fixes"] == 30
    # nothing in the window: a null geometry, no fixes
    empty = track(api, vehicle, at(12), at(13))["features"][0]
    assert empty["geometry"] is None
    assert (empty["properties"]["fixes"], empty["properties"]["km"], empty["properties"]["first_fix"]) == (0, 0, None)


def test_a_silence_cuts_the_track_into_parts(api: Api, city_engine: Engine) -> None:
    vehicle = api.city.vehicles["le-a1"]
    before, after = drive(at(9), 5), drive(at(9, 30), 5, origin=YARD_B)  # a tunnel, or an unplugged terminal
    lone = [(at(10), YARD_A[0], YARD_A[1])]  # one fix alone between two silences
    put_fixes(city_engine, vehicle, before + after + lone)
    feature = track(api, vehicle, at(8), at(11))["features"][0]
    assert feature["geometry"]["type"] == "MultiLineString"
    parts = feature["geometry"]["coordinates"]
    assert [len(part) for part in parts] == [30, 30, 2]  # the lone fix doubled: a line has two positions
    assert parts[2][0] == parts[2][1]
    assert [len(times) for times in feature["properties"]["coordTimes"]] == [30, 30, 2]
    p = feature["properties"]
    assert (p["parts"], p["fixes"], p["gap_minutes"]) == (3, 61, 10)
    # the km of each part, none across the gaps (a straight line there is a road nobody was seen on)
    km = sum(path_km(np.array([f[2] for f in part]), np.array([f[1] for f in part])) for part in (before, after))
    assert p["km"] == pytest.approx(km, abs=1e-3)


def test_a_long_span_is_simplified_keeping_its_ends_and_its_km(api: Api, city_engine: Engine) -> None:
    vehicle = api.city.vehicles["le-a1"]
    day = drive(at(6), 12 * 60, wiggle=0.002)  # 12 hours at 10 s: 4,320 fixes on a winding road
    put_fixes(city_engine, vehicle, day)
    whole = track(api, vehicle, at(0), at(23, 59), max_points=50_000)["features"][0]
    simple = track(api, vehicle, at(0), at(23, 59), max_points=500)["features"][0]
    p = simple["properties"]
    assert whole["properties"]["points"] == 4320
    assert p["simplified"] is True
    assert p["tolerance_m"] > 0
    assert 2 <= p["points"] <= 500
    coordinates = simple["geometry"]["coordinates"]
    assert len(coordinates) == len(p["coordTimes"]) == p["points"]
    assert coordinates[0] == whole["geometry"]["coordinates"][0]
    assert coordinates[-1] == whole["geometry"]["coordinates"][-1]
    assert (p["coordTimes"][0], p["coordTimes"][-1]) == (whole["properties"]["coordTimes"][0],
                                                         whole["properties"]["coordTimes"][-1])
    # each kept position is one of the fixes, with its own time
    by_time = dict(zip(whole["properties"]["coordTimes"], whole["geometry"]["coordinates"], strict=True))
    assert all(by_time[t] == c for t, c in zip(p["coordTimes"], coordinates, strict=True))
    assert p["coordTimes"] == sorted(p["coordTimes"])
    assert (p["fixes"], p["km"]) == (4320, whole["properties"]["km"])  # counted on every fix


@pytest.mark.parametrize(("start", "end", "field"), [
    (at(9), at(9), "end"),  # empty
    (at(10), at(9), "end"),  # reversed
    (at(0), at(0) + MAX_SPAN + timedelta(seconds=1), "end"),  # longer than a month
    ("2030-03-12T09:00:00", at(10).isoformat(), "start"),  # no offset: which 09:00?
    ("yesterday", at(10).isoformat(), "start"),
    (at(9).isoformat(), "2030-02-30", "end"),
])
def test_a_bad_window_is_refused_naming_its_field(api: Api, start: Any, end: Any, field: str) -> None:
    vehicle = api.city.vehicles["le-a1"]
    params = {name: value if isinstance(value, str) else iso(value) for name, value in (("start", start), ("end", end))}
    r = api.as_("dispatcher").get(f"/vehicles/{vehicle}/track", params=params)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field, r.json()


def test_a_month_is_the_longest_span_and_the_refusal_speaks_the_callers_language(api: Api) -> None:
    vehicle = api.city.vehicles["le-a1"]
    ok = track(api, vehicle, at(0), at(0) + MAX_SPAN)
    assert ok["features"][0]["properties"]["fixes"] == 0
    params = {"start": iso(at(0)), "end": iso(at(0) + timedelta(days=40))}
    english = api.as_("dispatcher").get(f"/vehicles/{vehicle}/track", params=params)
    chinese = api.as_("dispatcher").get(f"/vehicles/{vehicle}/track", params=params,
                                        headers={"Accept-Language": "zh-CN"})
    assert english.status_code == chinese.status_code == 422
    assert "31 days" in english.json()["detail"]
    assert chinese.headers["content-language"].startswith("zh")
    assert english.json()["field"] == chinese.json()["field"] == "end"


def test_outside_the_scope_a_vehicle_and_a_trip_are_unknown(api: Api, city_engine: Engine) -> None:
    """The district's callers reach agency B (in the district), not agency A (in the city)."""
    a, b = api.city.vehicles["le-a1"], api.city.vehicles["le-b1"]
    put_fixes(city_engine, a, drive(at(9), 5))
    put_fixes(city_engine, b, drive(at(9), 5, origin=YARD_B))
    params = {"start": iso(at(8)), "end": iso(at(11))}
    for user in ("dispatcher-county", "supervisor-county", "admin-county"):
        r = api.as_(user).get(f"/vehicles/{a}/track", params=params)
        assert (r.status_code, r.json()["error"], r.json()["field"]) == (404, "NotFound", "vehicle_id"), r.text
        assert api.as_(user).get(f"/vehicles/{b}/track", params=params).json()["features"][0]["properties"][
            "fixes"] == 30
        seen = api.as_(user).get("/positions/latest").json()["items"]
        assert [p["vehicle_id"] for p in seen] == [b]
    trip = book_and_assign(api, "le-a1")
    r = api.as_("dispatcher-county").get(f"/trips/{trip}/track")
    assert (r.status_code, r.json()["field"]) == (404, "trip_id")
    # an id that does not exist reads the same
    r = api.as_("dispatcher").get("/vehicles/999999/track", params=params)
    assert (r.status_code, r.json()["field"]) == (404, "vehicle_id")


@pytest.mark.parametrize("user", ["driver-a", "requester-a", "approver-a"])
def test_drivers_requesters_and_approvers_read_no_tracks(api: Api, user: str) -> None:
    trip = book_and_assign(api, "le-a1")
    params = {"start": iso(at(8)), "end": iso(at(11))}
    assert api.as_(user).get(f"/vehicles/{api.city.vehicles['le-a1']}/track", params=params).status_code == 403
    assert api.as_(user).get(f"/trips/{trip}/track").status_code == 403
    assert api.as_(user).get("/positions/latest").status_code == 403


def book_and_assign(api: Api, vehicle: str) -> int:
    booked = api.as_("requester-a").post("/trips", json=trip_body())
    assert booked.status_code == 201, booked.text
    trip = int(booked.json()["id"])
    assert api.as_("approver-a").post(f"/trips/{trip}/approve", json={"note": "同意"}).status_code == 200
    r = api.as_("dispatcher").post(f"/trips/{trip}/assign", json={
        "vehicle_id": api.city.vehicles[vehicle], "driver_id": api.city.drivers["driver-a"]})
    assert r.status_code == 200, r.text
    return trip


def test_a_trips_track_runs_from_its_pickup_to_its_end_beside_its_planned_route(api: Api,
                                                                                 city_engine: Engine) -> None:
    trip = book_and_assign(api, "le-a1")
    vehicle = api.city.vehicles["le-a1"]
    put_fixes(city_engine, vehicle, drive(at(8, 30), 90, every_s=60))  # 08:30 … 09:59, before and after the trip

    # assigned, not started: the assignment's window; only the planned route has the places
    body = api.as_("dispatcher").get(f"/trips/{trip}/track").json()
    assert [f["properties"]["role"] for f in body["features"]] == ["track", "planned"]

    with clock.travel(at(9, 5), tick=False):
        assert api.as_("driver-a").post(f"/trips/{trip}/start", json={"odometer_km": 100}).status_code == 200
    with clock.travel(at(9, 20), tick=False):  # under way: up to now
        under_way = api.as_("supervisor").get(f"/trips/{trip}/track").json()["features"][0]["properties"]
    with clock.travel(at(9, 45), tick=False):
        assert api.as_("driver-a").post(f"/trips/{trip}/complete", json={"odometer_km": 130}).status_code == 200
    body = api.as_("dispatcher").get(f"/trips/{trip}/track").json()
    assert body["type"] == "FeatureCollection"
    driven, planned = body["features"]
    p = driven["properties"]
    assert (p["role"], p["trip_id"], p["vehicle_id"]) == ("track", trip, vehicle)
    assert (datetime.fromisoformat(p["start"]), datetime.fromisoformat(p["end"])) == (at(9, 5), at(9, 45))
    assert (datetime.fromisoformat(p["first_fix"]), datetime.fromisoformat(p["last_fix"])) == (at(9, 5), at(9, 44))
    assert p["fixes"] == 40
    assert driven["geometry"]["type"] == "LineString"
    assert under_way["fixes"] == 15  # 09:05 … 09:19: up to now (09:20), exclusive

    trip_json = api.as_("dispatcher").get(f"/trips/{trip}").json()
    assert planned["properties"]["role"] == "planned"
    assert planned["properties"]["trip_id"] == trip
    assert planned["geometry"] == {"type": "LineString", "coordinates": [
        [YARD_A[1], YARD_A[0]],  # the vehicle's home
        [trip_json["pickup"]["lon"], trip_json["pickup"]["lat"]],
        [trip_json["dropoff"]["lon"], trip_json["dropoff"]["lat"]]]}
    assert [s["kind"] for s in planned["properties"]["stops"]] == ["home", "pickup", "dropoff"]
    assert planned["properties"]["stops"][1]["address"] == trip_json["pickup"]["address"]


def test_a_trip_without_a_vehicle_has_its_planned_route_only(api: Api) -> None:
    booked = api.as_("requester-a").post("/trips", json=trip_body()).json()
    body = api.as_("dispatcher").get(f"/trips/{booked['id']}/track").json()
    [planned] = body["features"]
    assert planned["properties"]["role"] == "planned"
    assert planned["geometry"]["coordinates"] == [[booked["pickup"]["lon"], booked["pickup"]["lat"]],
                                                  [booked["dropoff"]["lon"], booked["dropoff"]["lat"]]]


def test_the_live_map_reads_each_vehicles_newest_fix_and_whether_it_is_online(api: Api, city_engine: Engine) -> None:
    v = api.city.vehicles
    now = at(12)
    put_fixes(city_engine, v["le-a1"], drive(now - timedelta(minutes=3), 3))
    put_fixes(city_engine, v["le-b1"], [(now - timedelta(hours=2), YARD_B[0], YARD_B[1])])  # parked, silent
    with clock.travel(now, tick=False):
        body = api.as_("dispatcher").get("/positions/latest").json()
    assert datetime.fromisoformat(body["at"]) == now
    assert body["online_within_s"] == 300
    by_id = {p["vehicle_id"]: p for p in body["items"]}
    assert set(by_id) == {v["le-a1"], v["le-b1"]}  # vehicles without a fix are not on the live map
    moving, parked = by_id[v["le-a1"]], by_id[v["le-b1"]]
    assert (moving["online"], parked["online"]) == (True, False)
    assert datetime.fromisoformat(moving["fixed_at"]) == now - timedelta(seconds=10)
    assert moving["age_s"] == 10
    assert parked["age_s"] == 7200
    assert (moving["category"], moving["agency"], moving["status"], moving["course"], moving["source"]) == (
        "law_enforcement", "WH-GA", "active", 90, "jt808")
    assert (parked["lat"], parked["lon"]) == (YARD_B[0], YARD_B[1])
    assert [p["plate"] for p in body["items"]] == sorted(p["plate"] for p in body["items"])

    # since: only what was received since the previous answer
    put_fixes(city_engine, v["le-a1"], [(now + timedelta(seconds=20), YARD_A[0] + 0.01, YARD_A[1])])
    with clock.travel(now + timedelta(seconds=30), tick=False):
        later = api.as_("admin").get("/positions/latest", params={"since": body["at"]}).json()
    assert [p["vehicle_id"] for p in later["items"]] == [v["le-a1"]]
    assert later["items"][0]["lat"] == pytest.approx(YARD_A[0] + 0.01)


# --- the pure parts -----------------------------------------------------------------------------------------------


def test_split_at_gaps() -> None:
    t0 = at(9)
    times = [t0, t0 + timedelta(minutes=1), t0 + timedelta(minutes=20), t0 + timedelta(minutes=30, seconds=1)]
    assert split_at_gaps(times, timedelta(minutes=10)) == [slice(0, 2), slice(2, 3), slice(3, 4)]
    assert split_at_gaps([], timedelta(minutes=10)) == []


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.integers(1, 400), min_size=1, max_size=4), max_points=st.integers(8, 600),
       seed=st.integers(0, 2**16))
def test_simplify_keeps_each_parts_ends_in_order_within_the_budget(sizes: list[int], max_points: int,
                                                                   seed: int) -> None:
    rng = np.random.default_rng(seed)
    parts = []
    for size in sizes:
        steps = rng.normal(0, 0.001, size=(size, 2))
        path = np.cumsum(steps, axis=0) + np.array([114.3, 30.6])
        parts.append((path[:, 0].copy(), path[:, 1].copy()))
    kept, tolerance = simplify(parts, max_points)
    total = sum(sizes)
    if total <= max_points:
        assert tolerance is None
        assert kept == [list(range(size)) for size in sizes]
        return
    assert tolerance is not None
    for indices, size in zip(kept, sizes, strict=True):
        assert indices == sorted(set(indices))  # in order, each once
        assert indices[0] == 0
        assert indices[-1] == size - 1
    # within the budget, unless even the coarsest tolerance cannot get there (each part keeps two points at least)
    assert sum(map(len, kept)) <= max(max_points, 2 * len(sizes)) or tolerance == 10000.0
    assert sum(map(len, kept)) < total


# --- the reads on both databases (PostgreSQL: positions partitioned by month) ------------------------------------


def test_the_reads_on_each_database(session: Session) -> None:
    jurisdiction_tree(session)
    for code in ("WH-GA", "WH-CG"):
        agency(session, code, quotas={Category.general: 1})
    mine, other = registered(session, "WH-GA"), registered(session, "WH-CG")
    month_end = at(23, 50, day=at(0).date().replace(day=31))  # 2030-03-31: the month's last fixes and April's first
    store(session, mine.id, drive(month_end, 20, every_s=30))
    store(session, other.id, drive(at(9), 2), received=at(9, 5))
    body = track_queries.vehicle_track(session, scopes.WHOLE, mine.id, month_end, month_end + timedelta(hours=1))
    p = body["features"][0]["properties"]
    assert (p["fixes"], p["parts"], body["features"][0]["geometry"]["type"]) == (40, 1, "LineString")
    assert p["coordTimes"] == sorted(p["coordTimes"])
    assert p["first_fix"] == month_end
    own = scopes.scope_for(session, Role.supervisor, agency=mine.agency, jurisdiction=None)
    with pytest.raises(NotFound):
        track_queries.vehicle_track(session, own, other.id, at(8), at(10))
    with pytest.raises(InvalidInput):
        track_queries.vehicle_track(session, own, mine.id, at(10), at(8))
    with clock.travel(month_end + timedelta(minutes=21), tick=False):
        live = track_queries.latest_positions(session, scopes.WHOLE)
        assert [(p.vehicle_id, p.online) for p in sorted(live, key=lambda p: p.vehicle_id)] == [
            (mine.id, True), (other.id, False)]
        assert [p.vehicle_id for p in track_queries.latest_positions(session, own)] == [mine.id]
        assert track_queries.latest_positions(session, scopes.WHOLE, since=month_end) == [
            p for p in live if p.vehicle_id == mine.id]
