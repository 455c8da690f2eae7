"""Schemathesis against the app's own OpenAPI schema: no 5xx, and every response as the schema documents it.

Each operation is fuzzed over its own copy of the seeded city (tests/api/conftest.py), with trips and plans
already in every state so that generated ids hit real objects, as the role that may call it (dispatcher for trips
and dispatch, admin for the registry, supervisor for oversight); the booking routes are fuzzed a second time as a
requester, whose path through them differs. Random inputs seldom make a valid cross-referenced request, so
hand-written requests (real successes, refusals, extreme times and dates) go through the same checks.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import sqlalchemy as sa
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from fleet import clock
from fleet.clock import today as china_today  # China's date: after 16:00 UTC it is already tomorrow
from fleet.db import make_engine
from fleet.settings import get_settings
from tests.api.conftest import AGENCY_A, DAY, City, at, trip_body
from tests.factories import plate, vin

# The app is built once, at import, over a placeholder engine: loading the schema reads no database. Each test
# points ``app.state.engine`` at its own copy of the city.
APP = create_app(sa.create_engine("sqlite://"))
schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", APP)
schema.config.seed = 20300312
# The bearer token is added by the test, for the operation's role; a generated one would only ever be a 401.
schema.config.generation.update(with_security_parameters=False, deterministic=True, database="none")

ROLE_BY_TAG = {"trips": "dispatcher", "dispatch": "dispatcher", "registry": "admin", "oversight": "supervisor",
               "vocabulary": "requester-a", "auth": "requester-a", "board": "dispatcher",
               "console": "requester-a", "users": "admin", "tracks": "dispatcher"}
DISPATCH = "/api/v1/dispatch"
EVENTS = "/api/v1/events"  # a stream that never ends: tests/api/test_events.py reads it from a real server
V1 = "/api/v1"

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    # Left out, on purpose:
    # - positive_data_acceptance: a request valid by the schema is refused by domain rules the schema cannot express
    #   (an unknown agency code: 404, a plate already registered: 409, a quota: 409), as documented.
    # - negative_data_rejection: pydantic's lax mode accepts values stricter JSON Schema readers call invalid
    #   (`"seed": false` as 0, `"on": 0` as 1970-01-01, `?until=0.5` as a Unix time). No 5xx and no wrong response
    #   follows from it, which is what this run is for; it is reported separately rather than failing here.
]

# GONGCHE_FUZZ_EXAMPLES=200 for a deeper local run; CI keeps the default, which keeps this file well under 90 s.
EXAMPLES = int(os.environ.get("GONGCHE_FUZZ_EXAMPLES", "20"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large,
                                       # one city per operation, shared by its examples, on purpose
                                       HealthCheck.function_scoped_fixture])

TODAY = china_today()
NOW = clock.now().replace(microsecond=0)


@contextmanager
def hermetic_settings(tmp: Path) -> Iterator[None]:
    """Settings kept off the working directory: no var/audit.key written by /audit/verify, national policies."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GONGCHE_AUDIT_KEY", "test-audit-key")
        patch.setenv("GONGCHE_AUDIT_CHECKPOINT_FILE", str(tmp / "checkpoints.jsonl"))
        patch.setenv("GONGCHE_POLICY_DIR", str(tmp / "policies"))
        get_settings.cache_clear()
        try:
            yield
        finally:
            get_settings.cache_clear()


def copy_db(source: Path, target: Path) -> None:
    for suffix in ("", "-wal"):
        if Path(f"{source}{suffix}").exists():
            shutil.copy(f"{source}{suffix}", f"{target}{suffix}")


@pytest.fixture(scope="module")
def fuzz_template(city_template: tuple[Path, City], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The city, with trips 1-5 (requested, approved, assigned, in progress, completed: 3-5 on le-a1 with
    driver-a) and plans 1-3 (draft, submitted, approved; line n belongs to plan n), made once for the module."""
    source, city = city_template
    path = tmp_path_factory.mktemp("fuzz") / "city.db"
    copy_db(source, path)
    engine = make_engine(f"sqlite:///{path}")
    APP.state.engine = engine
    with hermetic_settings(path.parent), TestClient(APP, raise_server_exceptions=False) as client:
        def ok(user: str, method: str, url: str, json: Any = None) -> dict[str, Any]:
            r = client.request(method, f"{V1}{url}", json=json, headers=auth(city, user))
            assert r.status_code < 300, f"{method} {url}: {r.status_code} {r.text}"
            body: dict[str, Any] = r.json()
            return body

        trips = [ok("requester-a", "POST", "/trips", trip_body(earliest_pickup=at(8 + i).isoformat(),
                                                               latest_pickup=at(8 + i, 30).isoformat()))["id"]
                 for i in range(5)]
        for trip_id in trips[1:]:
            ok("approver-a", "POST", f"/trips/{trip_id}/approve")
        for trip_id in trips[2:]:
            ok("dispatcher", "POST", f"/trips/{trip_id}/assign",
               {"vehicle_id": city.vehicles["le-a1"], "driver_id": city.drivers["driver-a"]})
        for trip_id in trips[3:]:
            ok("driver-a", "POST", f"/trips/{trip_id}/start", {"odometer_km": 100 + trip_id})
        ok("driver-a", "POST", f"/trips/{trips[4]}/complete", {"odometer_km": 200})
        plans = [ok("admin", "POST", "/plans", {"agency": AGENCY_A, "year": TODAY.year, "lines": [NEW_LINE]})["id"]
                 for _ in range(3)]
        for plan_id in plans[1:]:
            ok("admin", "POST", f"/plans/{plan_id}/submit")
        ok("admin", "POST", f"/plans/{plans[2]}/approve")
    engine.dispose()  # the last connection to close checkpoints the WAL into the file
    return path


@pytest.fixture
def fuzz_city(fuzz_template: Path, city: City, tmp_path: Path) -> Iterator[City]:
    """A copy of the fuzz template for one test (one operation's examples share it)."""
    path = tmp_path / "city.db"
    copy_db(fuzz_template, path)
    engine = make_engine(f"sqlite:///{path}")
    APP.state.engine = engine
    with hermetic_settings(tmp_path):
        yield city
    engine.dispose()


NEW_LINE = {"kind": "new", "category": "general", "powertrain": "bev", "count": 1, "unit_price_cny": "150000"}


def auth(city: City, user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {city.tokens[user]}"}


# --- fuzzing ---


@schema.exclude(path=[DISPATCH, EVENTS]).parametrize()
@FUZZ
def test_api_conforms_to_its_schema(case: schemathesis.Case, fuzz_city: City) -> None:
    role = ROLE_BY_TAG[case.operation.tags[0]]
    case.call_and_validate(headers=auth(fuzz_city, role), checks=CHECKS)


@schema.include(path_regex=r"^/api/v1/trips$").parametrize()
@FUZZ
def test_booking_as_a_requester_conforms(case: schemathesis.Case, fuzz_city: City) -> None:
    case.call_and_validate(headers=auth(fuzz_city, "requester-a"), checks=CHECKS)


# POST /dispatch runs the solver for up to ``time_limit`` (<= 60 s by the schema) over a window of at most 2 days
# (a 422 beyond): it is fuzzed with few examples. The city's approved trips are on DAY (2030), which generated
# windows do not find, so no generated run has anything to solve for long; the explicit cases below solve a real
# one with time_limit=1 and probe the bounds.
@schema.include(path=DISPATCH).parametrize()
@settings(FUZZ, max_examples=min(EXAMPLES, 5))
def test_dispatch_conforms_to_its_schema(case: schemathesis.Case, fuzz_city: City) -> None:
    case.call_and_validate(headers=auth(fuzz_city, "dispatcher"), checks=CHECKS)


# --- the schema's own bounds ---


def _bounds_missing(node: Any, where: str, components: dict[str, Any], out: list[str]) -> None:
    while isinstance(node, dict) and "$ref" in node:
        node = components[node["$ref"].rsplit("/", 1)[-1]]
    if not isinstance(node, dict):
        return
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in node.get(key, []):
            _bounds_missing(sub, where, components, out)
    if node.get("type") in ("integer", "number"):
        low = "minimum" in node or "exclusiveMinimum" in node
        high = "maximum" in node or "exclusiveMaximum" in node
        if not (low and high):
            out.append(f"{where} ({node['type']}: {'' if low else 'no minimum '}{'' if high else 'no maximum'})")
    for name, prop in node.get("properties", {}).items():
        _bounds_missing(prop, f"{where}.{name}", components, out)
    if "items" in node:
        _bounds_missing(node["items"], f"{where}[]", components, out)


def test_ids_and_numbers_are_bounded_in_the_schema() -> None:
    """Every integer and number a client sends (path, query, header, body) has a lower and an upper bound."""
    document = APP.openapi()
    components = document["components"]["schemas"]
    missing: list[str] = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            label = f"{method.upper()} {path}"
            for parameter in operation.get("parameters", []):
                _bounds_missing(parameter["schema"], f"{label} {parameter['in']} {parameter['name']}", components,
                                missing)
            for media in operation.get("requestBody", {}).get("content", {}).values():
                _bounds_missing(media.get("schema"), f"{label} body", components, missing)
    assert not missing, "unbounded numbers in the schema:\n" + "\n".join(sorted(set(missing)))


def test_dispatch_bounds_are_in_the_schema() -> None:
    body = APP.openapi()["components"]["schemas"]["DispatchIn"]["properties"]
    assert body["time_limit"]["exclusiveMinimum"] == 0
    assert body["time_limit"]["maximum"] == 60
    assert (body["seed"]["minimum"], body["seed"]["maximum"]) == (0, 2**31 - 1)


# --- hand-written requests, through the same checks ---


@dataclass(frozen=True)
class Call:
    role: str
    method: str
    path: str
    expected: int
    path_parameters: dict[str, Any] = field(default_factory=dict)
    query: dict[str, Any] | None = None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def send(self, city: City) -> Any:
        operation = schema[V1 + self.path][self.method]
        kwargs: dict[str, Any] = {"path_parameters": self.path_parameters, "query": self.query,
                                  "headers": dict(self.headers)}
        if self.body is not None:
            kwargs["body"] = self.body
        case = operation.Case(**kwargs)
        response = case.call(headers=auth(city, self.role))
        case.validate_response(response, checks=CHECKS, headers=auth(city, self.role))
        return response


def vehicle_body(serial: int, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "plate": plate(serial, nev=True), "vin": vin(serial), "model": "比亚迪 秦", "category": "general",
        "powertrain": "bev", "seats": 5, "price_cny": "150000", "range_km": 450, "acquired_on": TODAY.isoformat(),
    }
    body.update(overrides)
    return body


WINDOW_NOW = {"since": (NOW - timedelta(days=1)).isoformat(), "until": (NOW + timedelta(days=2)).isoformat()}
# Ids are the seed's, in creation order: vehicles 1 le-a1, 2 le-a2, 3 gen-a1, 4 em-a1, 5 le-b1, 6 gen-b1; drivers
# 1 driver-a, 2 driver-b, 3 pool-night, 4 pool-day; trips and plans as fuzz_city says.
REAL = {
    "list trips, every filter": Call("dispatcher", "GET", "/trips", 200, query={
        "status": ["assigned", "in_progress"], "priority": "law_enforcement", "agency": AGENCY_A, "vehicle_id": 1,
        "driver_id": 1, "mine": "false", "since": at(0).isoformat(), "until": at(23).isoformat(), "q": "江岸",
        "sort": "priority", "limit": 200, "offset": 0}),
    "list trips by local day": Call("requester-a", "GET", "/trips", 200, query={
        "since": DAY.isoformat(), "until": DAY.isoformat(), "mine": "true", "sort": "-created"}),
    "export trips csv": Call("requester-a", "GET", "/trips/export", 200, query={"format": "csv", "q": "执法"}),
    "export trips xlsx": Call("dispatcher", "GET", "/trips/export", 200, query={"format": "xlsx",
                                                                               "status": "approved"}),
    "unassign": Call("dispatcher", "POST", "/trips/{trip_id}/unassign", 200, {"trip_id": 3}, body={"note": "换车"}),
    "unassign a trip under way": Call("dispatcher", "POST", "/trips/{trip_id}/unassign", 409, {"trip_id": 4}),
    "available vehicles": Call("dispatcher", "GET", "/vehicles/available", 200, query={
        "start": at(9).isoformat(), "end": at(12).isoformat(), "category": "law_enforcement", "seats": 2}),
    "available for a trip": Call("supervisor", "GET", "/vehicles/available", 200, query={"trip_id": 2}),
    "calendar": Call("admin", "GET", "/vehicles/{vehicle_id}/calendar", 200, {"vehicle_id": 1}, {
        "since": DAY.isoformat(), "until": (DAY + timedelta(days=1)).isoformat()}),
    "board": Call("dispatcher", "GET", "/board", 200, query={"day": DAY.isoformat()}),
    "places": Call("driver-a", "GET", "/places", 200, query={"q": "区", "limit": 5}),
    "dispatch runs": Call("supervisor", "GET", "/dispatch/runs", 200, query={"status": "done", "limit": 5}),
    "an unknown query parameter": Call("dispatcher", "GET", "/trips", 422, query={"plate": "鄂A12345"}),
    "list trips as driver": Call("driver-a", "GET", "/trips", 200),
    "get a trip in progress": Call("dispatcher", "GET", "/trips/{trip_id}", 200, {"trip_id": 4}),
    "slip json": Call("dispatcher", "GET", "/trips/{trip_id}/slip", 200, {"trip_id": 3}, {"format": "json"}),
    "slip html": Call("driver-a", "GET", "/trips/{trip_id}/slip", 200, {"trip_id": 3}, {"format": "html"}),
    "book as requester": Call("requester-a", "POST", "/trips", 201, body=trip_body(categories=["law_enforcement",
                                                                                              "general"])),
    "book an emergency as dispatcher (placed at once)": Call("dispatcher", "POST", "/trips", 201, body=trip_body(
        agency=AGENCY_A, priority="emergency", passengers=7, dwell_min=1440, approval_basis="单位审批人电话同意")),
    "approve": Call("approver-a", "POST", "/trips/{trip_id}/approve", 200, {"trip_id": 1}, body={"note": "同意"}),
    "reject": Call("dispatcher", "POST", "/trips/{trip_id}/reject", 200, {"trip_id": 1}, body={"note": "不同意"}),
    "cancel assigned": Call("requester-a", "POST", "/trips/{trip_id}/cancel", 200, {"trip_id": 3}),
    "assign": Call("dispatcher", "POST", "/trips/{trip_id}/assign", 200, {"trip_id": 2}, body={
        "vehicle_id": 2, "driver_id": 4, "pickup_at": at(9, 15).isoformat()}),
    "start": Call("driver-a", "POST", "/trips/{trip_id}/start", 200, {"trip_id": 3}, body={"odometer_km": 250}),
    "complete": Call("driver-a", "POST", "/trips/{trip_id}/complete", 200, {"trip_id": 4}, body={"odometer_km": 210}),
    "dispatch a day": Call("dispatcher", "POST", "/dispatch", 200, body={
        "start": at(0).isoformat(), "end": at(0, day=DAY + timedelta(days=1)).isoformat(), "time_limit": 1}),
    "violations with findings": Call("supervisor", "GET", "/violations", 200, query=WINDOW_NOW),
    "violations by kind and agency": Call("admin", "GET", "/violations", 200, query={
        **WINDOW_NOW, "kind": ["overdriven", "off_hours"], "agency": AGENCY_A}),
    "annual report json": Call("supervisor", "GET", "/reports/annual", 200, query={"year": TODAY.year,
                                                                                   "jurisdiction": "420100"}),
    "annual report csv": Call("supervisor", "GET", "/reports/annual", 200, query={
        "year": TODAY.year, "agency": AGENCY_A, "format": "csv"}),
    "annual report xlsx": Call("admin", "GET", "/reports/annual", 200, query={
        "year": TODAY.year, "jurisdiction": "420000", "format": "xlsx"}),
    "audit, every filter": Call("supervisor", "GET", "/audit", 200, query={
        "entity": "trip", "entity_id": "1", "actor": "requester-a", "action": "trip.booked",
        **WINDOW_NOW, "limit": 5}),
    "audit verify": Call("supervisor", "GET", "/audit/verify", 200),
    "audit verify, for a district": Call("supervisor-county", "GET", "/audit/verify", 403),
    "users": Call("admin-county", "GET", "/users", 200, query={"active": True, "limit": 5, "offset": 0}),
    "add a user": Call("admin", "POST", "/users", 201, body={
        "name": "财政-江岸", "role": "supervisor", "jurisdiction": "420102", "office": "finance", "days": 30,
        "password": "a-long-password-2030"}),
    "add a user wider than the admin": Call("admin-county", "POST", "/users", 422, body={
        "name": "调度-全平台", "role": "dispatcher"}),
    "rotate a token": Call("admin", "POST", "/users/{user_id}/rotate-token", 200, {"user_id": 2}, body={"days": 9}),
    "deactivate a user": Call("admin", "POST", "/users/{user_id}/deactivate", 200, {"user_id": 3},
                              body={"reason": "调离"}),
    "plan": Call("admin", "GET", "/plans/{plan_id}", 200, {"plan_id": 3}),
    "plans, every filter": Call("dispatcher", "GET", "/plans", 200, query={
        "agency": AGENCY_A, "year": TODAY.year, "status": "approved", "limit": 1, "offset": 0}),
    "plan review": Call("supervisor", "GET", "/plans/{plan_id}/review", 200, {"plan_id": 2}),
    "acquire under plan line 3": Call("admin", "POST", "/plan-lines/{line_id}/acquire", 201, {"line_id": 3},
                                      body=vehicle_body(92001)),
    "register": Call("admin", "POST", "/vehicles", 201, body={"agency": "WH-CG", "vehicle": vehicle_body(92002)}),
    "vehicles, every filter": Call("dispatcher", "GET", "/vehicles", 200, query={
        "agency": AGENCY_A, "status": "active", "category": "law_enforcement", "limit": 1, "offset": 1}),
    "vehicle": Call("supervisor", "GET", "/vehicles/{vehicle_id}", 200, {"vehicle_id": 1}),
    "cost with odometer": Call("admin", "POST", "/vehicles/{vehicle_id}/costs", 201, {"vehicle_id": 1}, body={
        "kind": "maintenance", "incurred_on": TODAY.isoformat(), "amount_cny": "1234.56", "odometer_km": 5000,
        "note": "二级保养"}),
    "maintenance in": Call("admin", "POST", "/vehicles/{vehicle_id}/maintenance-in", 200, {"vehicle_id": 2}, body={
        "reason": "保养", "odometer_km": 10, "on": TODAY.isoformat()}),
    "transfer": Call("admin", "POST", "/vehicles/{vehicle_id}/transfer", 200, {"vehicle_id": 2}, body={
        "to_agency": "WH-CG", "transferred_on": TODAY.isoformat(), "reason": "调剂"}),
    "dispose": Call("admin", "POST", "/vehicles/{vehicle_id}/dispose", 200, {"vehicle_id": 6}, body={
        "method": "transfer_out", "disposed_on": TODAY.isoformat(), "recipient": "武汉市机关事务局"}),
    "quotas": Call("dispatcher", "GET", "/quotas", 200),
    "set quota": Call("admin", "PUT", "/quotas", 200, body={"agency": "WH-CG", "category": "emergency", "limit": 1,
                                                            "reason": "新增编制"}),
    "agencies": Call("supervisor", "GET", "/agencies", 200),
    "add agency": Call("admin", "POST", "/agencies", 201, body={"code": "WH-JT", "name": "交通局",
                                                                "jurisdiction": "420102", "parent": AGENCY_A}),
    "add jurisdiction": Call("admin", "POST", "/jurisdictions", 201, body={
        "code": "420103", "name": "江汉区", "level": "county", "parent": "420100"}),
    "drivers": Call("dispatcher", "GET", "/drivers", 200),
    "add driver": Call("admin", "POST", "/drivers", 201, body={
        "name": "夜班司机", "licence_class": "B1", "shift_start": "20:00", "shift_end": "06:00"}),
    "deactivate driver": Call("admin", "POST", "/drivers/{driver_id}/deactivate", 200, {"driver_id": 2},
                              body={"reason": "调离"}),
    "edit a vehicle": Call("admin", "PATCH", "/vehicles/{vehicle_id}", 200, {"vehicle_id": 1}, body={
        "colour": "白", "terminal_id": "013800138000", "insurance_expires_on": "2031-06-30", "serviced_km": 100,
        "marking": "exempt", "marking_exemption": "经批准免于标识"}),
    "edit a driver": Call("admin", "PATCH", "/drivers/{driver_id}", 200, {"driver_id": 1}, body={
        "licence_no": "420102198001011234", "licence_expires_on": "2031-01-31", "phone": "13800138000"}),
    "edit an agency": Call("admin", "PATCH", "/agencies/{code}", 200, {"code": "WH-CG"}, body={"name": "城管局"}),
    "merge an agency": Call("admin", "POST", "/agencies/{code}/merge-into", 200, {"code": "WH-CG"}, body={
        "into": AGENCY_A, "on": TODAY.isoformat(), "reason": "机构改革"}),
    "split an agency": Call("admin", "POST", "/agencies/{code}/split", 201, {"code": "WH-CG"}, body={
        "into": [{"code": "WH-CG-2", "name": "分设", "quotas": {"general": 1}}], "on": TODAY.isoformat(),
        "reason": "机构改革"}),
    "cost ledger": Call("dispatcher", "GET", "/vehicles/{vehicle_id}/costs", 200, {"vehicle_id": 1}, query={
        "since": "2020-01-01", "until": "2031-01-01", "kind": ["fuel", "maintenance"], "limit": 5}),
    "yearly account": Call("supervisor", "GET", "/vehicles/{vehicle_id}/account", 200, {"vehicle_id": 1},
                           query={"year": TODAY.year}),
    "reminders": Call("dispatcher", "GET", "/reminders", 200, query={"within_days": 3660, "agency": AGENCY_A,
                                                                      "kind": ["inspection", "renewal"]}),
    "an empty patch": Call("admin", "PATCH", "/vehicles/{vehicle_id}", 422, {"vehicle_id": 1}, body={}),
    # refusals are documented too
    "violations of an unknown agency": Call("supervisor", "GET", "/violations", 404, query={
        **WINDOW_NOW, "agency": "NOPE"}),
    "annual report of an unknown agency": Call("supervisor", "GET", "/reports/annual", 404, query={
        "year": TODAY.year, "agency": "NOPE"}),
    "approve an approved trip": Call("approver-a", "POST", "/trips/{trip_id}/approve", 409, {"trip_id": 2}),
    "acquire beyond the line": Call("admin", "POST", "/plan-lines/{line_id}/acquire", 409, {"line_id": 2},
                                    body=vehicle_body(92003)),
}


@pytest.mark.parametrize("call", REAL.values(), ids=REAL.keys())
def test_real_requests_conform(fuzz_city: City, call: Call) -> None:
    response = call.send(fuzz_city)
    assert response.status_code == call.expected, response.text


def test_a_booking_replay_is_documented(fuzz_city: City) -> None:
    """A retry with the same Idempotency-Key answers 200 with the first booking: the schema must say so."""
    call = Call("requester-a", "POST", "/trips", 201, body=trip_body(), headers={"Idempotency-Key": "retry-0001"})
    first = call.send(fuzz_city)
    assert first.status_code == 201
    replay = call.send(fuzz_city)
    assert replay.status_code == 200
    assert replay.json()["id"] == first.json()["id"]
    headers = {name.lower(): value for name, value in replay.headers.items()}
    assert headers["idempotent-replayed"] in ("true", ["true"])  # schemathesis keeps each header as a list


# Times far from now: every datetime a client sends is refused with a 422 naming it, never a 500.
EARLY, LATE = "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"
EXTREMES = {
    "list trips from year 1": Call("dispatcher", "GET", "/trips", 422, query={"since": EARLY}),
    "list trips to year 9999": Call("dispatcher", "GET", "/trips", 422, query={"until": LATE}),
    "list trips to the last day of year 9999": Call("dispatcher", "GET", "/trips", 422, query={
        "until": "9999-12-31"}),
    "audit since year 1": Call("supervisor", "GET", "/audit", 422, query={"since": EARLY}),
    "audit until year 9999": Call("supervisor", "GET", "/audit", 422, query={"until": LATE}),
    "violations in year 1": Call("supervisor", "GET", "/violations", 422, query={
        "since": EARLY, "until": "0001-01-05T00:00:00+14:00"}),
    "violations in year 9999": Call("supervisor", "GET", "/violations", 422, query={
        "since": "9999-12-01T00:00:00-14:00", "until": LATE}),
    "start in year 1": Call("dispatcher", "POST", "/trips/{trip_id}/start", 422, {"trip_id": 3},
                            body={"odometer_km": 150, "at": EARLY}),
    "start in year 9999": Call("dispatcher", "POST", "/trips/{trip_id}/start", 422, {"trip_id": 3},
                               body={"odometer_km": 150, "at": LATE}),
    "complete in year 9999": Call("dispatcher", "POST", "/trips/{trip_id}/complete", 422, {"trip_id": 4},
                                  body={"odometer_km": 210, "at": LATE}),
    "assign a pickup in year 1": Call("dispatcher", "POST", "/trips/{trip_id}/assign", 422, {"trip_id": 2},
                                      body={"vehicle_id": 2, "pickup_at": EARLY}),
    "book in year 1": Call("dispatcher", "POST", "/trips", 422, body=trip_body(
        agency=AGENCY_A, earliest_pickup=EARLY, latest_pickup=EARLY)),
    "dispatch year 1 (UTC)": Call("dispatcher", "POST", "/dispatch", 422, body={
        "start": "0001-01-01T00:00:00+00:00", "end": "0001-01-02T00:00:00+00:00", "time_limit": 1}),
    "dispatch year 1 (+14:00)": Call("dispatcher", "POST", "/dispatch", 422, body={
        "start": EARLY, "end": "0001-01-01T10:00:00+14:00", "time_limit": 1}),
    "dispatch year 9999": Call("dispatcher", "POST", "/dispatch", 422, body={
        "start": "9999-12-30T00:00:00+00:00", "end": "9999-12-31T23:00:00+00:00", "time_limit": 1}),
}


@pytest.mark.parametrize("call", EXTREMES.values(), ids=EXTREMES.keys())
def test_extreme_times_are_refused_not_500(fuzz_city: City, call: Call) -> None:
    response = call.send(fuzz_city)
    assert response.status_code == call.expected, response.text
    assert response.json()["field"] in {"since", "until", "at", "pickup_at",
                                        "earliest_pickup", "start", "end"}, response.json()


def test_a_far_future_acquisition_date_cannot_break_plan_approval(fuzz_city: City) -> None:
    """A vehicle registered as acquired in 9999 is either refused, or its renewal is judged without a 500."""
    register = Call("admin", "POST", "/vehicles", 201, body={"agency": "WH-CG", "vehicle": vehicle_body(
        92004, powertrain="ice", plate=plate(92004), range_km=None, displacement_l="1.5", acquired_on="9999-12-31")})
    r = register.send(fuzz_city)
    if r.status_code == 422:
        assert r.json()["field"] == "vehicle.acquired_on"
        return
    assert r.status_code == 201
    line = {**NEW_LINE, "kind": "renewal", "replaces": [plate(92004)]}
    plan = Call("admin", "POST", "/plans", 201, body={"agency": "WH-CG", "year": TODAY.year, "lines": [line]})
    plan_id = plan.send(fuzz_city).json()["id"]
    assert Call("admin", "POST", "/plans/{plan_id}/submit", 200, {"plan_id": plan_id}).send(fuzz_city).status_code \
        == 200
    approved = Call("admin", "POST", "/plans/{plan_id}/approve", 409, {"plan_id": plan_id}).send(fuzz_city)
    assert approved.status_code == 409, approved.text  # renewal_age: the vehicle is not 8 years old
    assert approved.json()["rule"] == "renewal_age"


@pytest.mark.parametrize(("content", "expected"), [
    (b"\xfd\xff{}", "a documented 4xx"),  # not UTF-8: FastAPI answers 400 "There was an error parsing the body"
    (b'{"note": "unterminated', "422 with no field"),  # not JSON: the error's location is a character offset
], ids=["not utf-8", "not json"])
def test_an_unreadable_body_is_a_documented_refusal(fuzz_city: City, content: bytes, expected: str) -> None:
    document = APP.openapi()
    for method, path, role in (("POST", "/trips", "requester-a"), ("POST", "/trips/{trip_id}/approve", "approver-a"),
                               ("POST", "/vehicles", "admin"), ("POST", "/dispatch", "dispatcher")):
        with TestClient(APP, raise_server_exceptions=False) as client:
            r = client.request(method, V1 + path.format(trip_id=1), content=content,
                               headers={**auth(fuzz_city, role), "Content-Type": "application/json"})
        documented = set(document["paths"][V1 + path][method.lower()]["responses"])
        assert 400 <= r.status_code < 500, r.text
        assert str(r.status_code) in documented, f"{method} {path}: {r.status_code} {r.text} not in {documented}"
        field_named = r.json()["field"]
        assert field_named is None or not field_named.isdigit(), f"{method} {path}: {r.json()}"


@pytest.mark.parametrize(("window", "time_limit"), [
    (timedelta(days=3), 0.5),  # a window spans at most 2 days
    (timedelta(days=1), 61),  # beyond the schema's time_limit bound
    (timedelta(days=1), 0),
])
def test_dispatch_out_of_bounds_is_422(fuzz_city: City, window: timedelta, time_limit: float) -> None:
    start = at(0, day=DAY)
    call = Call("dispatcher", "POST", "/dispatch", 422, body={
        "start": start.isoformat(), "end": (start + window).isoformat(), "time_limit": time_limit})
    response = call.send(fuzz_city)
    assert response.status_code == 422, response.text
