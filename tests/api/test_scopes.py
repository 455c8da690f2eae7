"""Who sees what (fleet.scopes): callers for a district, for one agency and for the whole platform; users and tokens
managed within the admin's own scope.

The seeded city: agency A (WH-GA) in the city 420100, agency B (WH-CG) in its district 江岸区 420102, whose
dispatcher, supervisor and admin (``*-county``) reach B only. tests/api/test_roles.py holds the full route table;
these follow single rules through.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from fleet import scopes, users
from fleet.db import unit_of_work
from fleet.enums import OversightOffice, Role
from fleet.models import AuditRecord, Trip, User
from fleet.scopes import Scope
from tests.api.conftest import AGENCY_A, AGENCY_B, COUNTY, DAY, YARD_B, Api, at, password_of, trip_body
from tests.factories import ADMIN

pytestmark = pytest.mark.usefixtures("hermetic_files")


def book(api: Api, requester: str, **overrides: Any) -> int:
    r = api.as_(requester).post("/trips", json=trip_body(**overrides))
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def approved(api: Api, side: str, **overrides: Any) -> int:
    trip_id = book(api, f"requester-{side}", **overrides)
    r = api.as_(f"approver-{side}").post(f"/trips/{trip_id}/approve")
    assert r.status_code == 200, r.text
    return trip_id


B_TRIP = {"pickup": {"lat": YARD_B[0] + 0.01, "lon": YARD_B[1], "address": "江岸区解放大道"},
          "dropoff": {"lat": YARD_B[0] + 0.03, "lon": YARD_B[1] + 0.02, "address": "江岸区台北路"}}


# --- the rule itself ----------------------------------------------------------------------------------------------


class TestTheScopes:
    def test_a_district_a_city_and_the_whole_platform(self, city_engine: Engine) -> None:
        with unit_of_work(city_engine, readonly=True) as session:
            ids: dict[str, int] = {code: id_ for code, id_ in session.execute(sa.text("SELECT code, id FROM agencies"))}
            county = users.managed_user(session, scopes.WHOLE, name="supervisor-county")
            whole = users.managed_user(session, scopes.WHOLE, name="supervisor")
            district = scopes.scope_of(session, county)
            city = scopes.scope_for(session, Role.supervisor, agency=None,
                                    jurisdiction=scopes.jurisdiction(session, scopes.WHOLE, "420100"))
            assert district.agency_ids == {ids[AGENCY_B]}
            assert city.agency_ids == {ids[AGENCY_A], ids[AGENCY_B]}
            assert scopes.scope_of(session, whole).whole
            assert city.covers(district)
            assert not district.covers(city)
            assert scopes.WHOLE.covers(city)
            assert not city.covers(scopes.WHOLE)

    @settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(a=st.frozensets(st.integers(1, 4)) | st.none(), b=st.frozensets(st.integers(1, 4)) | st.none())
    def test_covering_is_holding_every_agency(self, a: frozenset[int] | None, b: frozenset[int] | None) -> None:
        wider = Scope(a, None if a is None else frozenset({1}), "a")
        narrower = Scope(b, None if b is None else frozenset({1}), "b")
        reaches = {n for n in range(1, 5) if narrower.has_agency(n)}
        if wider.covers(narrower):
            assert all(wider.has_agency(n) for n in reaches)
            assert a is None or b is not None


# --- supervisors: a district's, an agency's, the platform's -------------------------------------------------------


class TestSupervisors:
    def test_a_district_supervisor_sees_its_district_only(self, api: Api) -> None:
        a_trip = book(api, "requester-a")
        b_trip = book(api, "requester-b", **B_TRIP)
        county = api.as_("supervisor-county")
        assert {t["id"] for t in county.get("/trips").json()["items"]} == {b_trip}
        assert county.get(f"/trips/{a_trip}").status_code == 404
        assert county.get(f"/trips/{b_trip}").status_code == 200
        assert {t["id"] for t in api.as_("supervisor").get("/trips").json()["items"]} == {a_trip, b_trip}

    def test_a_supervisor_made_for_an_agency_oversees_that_agency_only(self, api: Api,
                                                                       city_engine: Engine) -> None:
        """Today's bug: a supervisor created with an agency saw every agency's trips and findings."""
        with unit_of_work(city_engine) as session:
            _, token = users.add_user(session, ADMIN, name="纪检组-a", role=Role.supervisor, agency=AGENCY_A,
                                      office=OversightOffice.discipline)
        a_trip, b_trip = book(api, "requester-a"), book(api, "requester-b")
        own = {"Authorization": f"Bearer {token}"}
        listed = api.client.get("/api/v1/trips", headers=own).json()
        assert {t["id"] for t in listed["items"]} == {a_trip}
        assert api.client.get(f"/api/v1/trips/{b_trip}", headers=own).status_code == 404
        found = api.client.get("/api/v1/violations", headers=own, params={
            "since": DAY.isoformat(), "until": DAY.isoformat(), "kind": "over_quota"})
        assert found.status_code == 200, found.text
        assert {f["agency"] for f in found.json()["items"]} <= {AGENCY_A}
        assert api.client.get("/api/v1/violations", headers=own, params={
            "since": DAY.isoformat(), "until": DAY.isoformat(), "agency": AGENCY_B}).status_code == 404
        me = api.client.get("/api/v1/auth/me", headers=own).json()
        assert me["agency"] == AGENCY_A

    def test_findings_for_the_districts_agencies_only(self, api: Api, city_engine: Engine) -> None:
        # over quota in both agencies: quotas cut to 0 under the vehicles they hold
        for agency in (AGENCY_A, AGENCY_B):
            r = api.as_("admin").put("/quotas", json={"agency": agency, "category": "law_enforcement", "limit": 0,
                                                      "reason": "编制核减"})
            assert r.status_code == 200, r.text
        window = {"since": DAY.isoformat(), "until": DAY.isoformat(), "kind": "over_quota"}
        whole = {f["agency"] for f in api.as_("supervisor").get("/violations", params=window).json()["items"]}
        county = {f["agency"] for f in api.as_("supervisor-county").get("/violations",
                                                                        params=window).json()["items"]}
        assert whole == {AGENCY_A, AGENCY_B}
        assert county == {AGENCY_B}

    def test_the_annual_report_defaults_to_the_scope_and_stays_in_it(self, api: Api) -> None:
        year = DAY.year
        own = api.as_("supervisor-county").get("/reports/annual", params={"year": year})
        assert own.status_code == 200, own.text
        assert own.json()["scope"] == f"jurisdiction:{COUNTY}"
        assert AGENCY_A not in own.text
        above = api.as_("supervisor-county").get("/reports/annual", params={"year": year, "jurisdiction": "420100"})
        assert above.status_code == 404
        assert api.as_("supervisor").get("/reports/annual", params={"year": year, "jurisdiction": "420100"}
                                         ).status_code == 200
        # the whole platform has no level of its own: it names one
        assert api.as_("supervisor").get("/reports/annual", params={"year": year}).status_code == 422

    def test_the_audit_trail_holds_the_districts_records(self, api: Api, city_engine: Engine) -> None:
        a_trip, b_trip = book(api, "requester-a"), book(api, "requester-b")
        county = api.as_("supervisor-county").get("/audit", params={"entity": "trip", "limit": 200}).json()
        assert {r["entity_id"] for r in county["items"]} == {str(b_trip)}
        whole = api.as_("supervisor").get("/audit", params={"entity": "trip", "limit": 200}).json()
        assert {r["entity_id"] for r in whole["items"]} == {str(a_trip), str(b_trip)}
        users_seen = api.as_("admin-county").get("/audit", params={"entity": "user", "limit": 200}).json()
        names = {r["changes"].get("name") for r in users_seen["items"]}
        assert "requester-b" in names
        assert "requester-a" not in names
        assert "supervisor" not in names
        assert api.as_("supervisor-county").get("/audit/verify").status_code == 403


# --- dispatchers: runs, assignments, the board ---------------------------------------------------------------------


class TestDispatchers:
    def test_a_district_run_takes_its_own_trips_and_vehicles(self, api: Api, city_engine: Engine) -> None:
        a_trip = approved(api, "a")
        b_trip = approved(api, "b", **B_TRIP, priority="routine", categories=None)
        window = {"start": at(0).isoformat(), "end": at(0, day=DAY + timedelta(days=1)).isoformat(),
                  "time_limit": 0.5}
        r = api.as_("dispatcher-county").post("/dispatch", json=window)
        assert r.status_code == 200, r.text
        assert r.json()["trips"] == 1
        with unit_of_work(city_engine, readonly=True) as session:
            a, b = session.get_one(Trip, a_trip), session.get_one(Trip, b_trip)
            assert a.assignment is None
            assert b.assignment is not None
            assert b.assignment.vehicle.agency.code == AGENCY_B
            run_id = b.assignment.run_id
        assert api.as_("supervisor-county").get(f"/dispatch/runs/{run_id}").status_code == 200
        assert api.as_("supervisor").get(f"/dispatch/runs/{run_id}").status_code == 200

    def test_assign_refuses_a_vehicle_or_trip_outside(self, api: Api) -> None:
        v, d = api.city.vehicles, api.city.drivers
        b_trip = approved(api, "b", **B_TRIP)
        a_trip = approved(api, "a")
        county = api.as_("dispatcher-county")
        r = county.post(f"/trips/{b_trip}/assign", json={"vehicle_id": v["le-a1"]})
        assert (r.status_code, r.json()["field"]) == (404, "vehicle_id"), r.text
        r = county.post(f"/trips/{b_trip}/assign", json={"vehicle_id": v["le-b1"], "driver_id": d["driver-a"]})
        assert (r.status_code, r.json()["field"]) == (404, "driver_id"), r.text
        assert county.post(f"/trips/{a_trip}/assign", json={"vehicle_id": v["le-b1"]}).status_code == 404
        r = county.post(f"/trips/{b_trip}/assign", json={"vehicle_id": v["le-b1"], "driver_id": d["pool-day"]})
        assert r.status_code == 200, r.text
        assert county.post(f"/trips/{b_trip}/unassign").status_code == 200

    def test_a_district_emergency_is_placed_on_the_districts_own_vehicles(self, api: Api,
                                                                          city_engine: Engine) -> None:
        """B's two cars are out on routine trips at 10:00 and A's stand free: the whole platform would take a free
        car of A's; the district's dispatcher, who has only B's, displaces a routine trip instead."""
        v = api.city.vehicles
        for name, category in (("le-b1", "law_enforcement"), ("gen-b1", "general")):
            routine = approved(api, "b", **B_TRIP, priority="routine", categories=[category],
                               earliest_pickup=at(10).isoformat(), latest_pickup=at(10, 15).isoformat())
            r = api.as_("dispatcher-county").post(f"/trips/{routine}/assign", json={"vehicle_id": v[name]})
            assert r.status_code == 200, r.text
        r = api.as_("dispatcher-county").post("/trips", json=trip_body(
            **B_TRIP, agency=AGENCY_B, priority="emergency", categories=["law_enforcement", "general"],
            approval_basis="单位值班负责人电话同意", earliest_pickup=at(10).isoformat(),
            latest_pickup=at(10, 15).isoformat()))
        assert r.status_code == 201, r.text
        urgent = r.json()["urgent"]
        assert urgent["displaced"], urgent  # a routine trip of B's gave way
        with unit_of_work(city_engine, readonly=True) as session:
            holder = session.get_one(Trip, r.json()["id"]).assignment
            assert holder is not None, urgent
            assert holder.vehicle.agency.code == AGENCY_B

    def test_an_agency_is_not_told_which_other_trips_its_emergency_moved(self, api: Api) -> None:
        v = api.city.vehicles
        for name in ("le-a2", "gen-a1", "em-a1", "le-b1", "gen-b1"):  # one car left: the emergency must displace
            assert api.as_("admin").post(f"/vehicles/{v[name]}/seal", json={"reason": "封存"}).status_code == 200
        routine = approved(api, "b", **B_TRIP, priority="routine", categories=["law_enforcement"])
        assert api.as_("dispatcher").post(f"/trips/{routine}/assign", json={"vehicle_id": v["le-a1"]}).status_code \
            == 200
        booked = api.as_("requester-a").post("/trips", json=trip_body(priority="emergency",
                                                                     categories=["law_enforcement"]))
        assert booked.status_code == 201, booked.text
        r = api.as_("approver-a").post(f"/trips/{booked.json()['id']}/approve", json={})
        assert r.status_code == 200, r.text
        urgent = r.json()["urgent"]
        assert urgent["vehicle"] is not None
        assert (urgent["displaced"], urgent["moved"], urgent["replaced"]) == ([], [], {})

    def test_the_board_and_the_free_vehicles_show_the_district(self, api: Api) -> None:
        v = api.city.vehicles
        approved(api, "a")
        b_trip = approved(api, "b", **B_TRIP)
        board = api.as_("dispatcher-county").get("/board", params={"day": DAY.isoformat()}).json()
        assert {row["id"] for row in board["vehicles"]} == {v["le-b1"], v["gen-b1"]}
        assert [t["id"] for t in board["queue"]] == [b_trip]
        free = api.as_("dispatcher-county").get("/vehicles/available", params={
            "start": at(8).isoformat(), "end": at(12).isoformat()}).json()
        assert {f["id"] for f in free} == {v["le-b1"], v["gen-b1"]}
        everything = api.as_("dispatcher").get("/board", params={"day": DAY.isoformat()}).json()
        assert len(everything["vehicles"]) == len(v)


# --- users and tokens ---------------------------------------------------------------------------------------------


def user_id(engine: Engine, name: str) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(sa.select(User.id).where(User.name == name)))


class TestUsers:
    def test_an_admin_lists_the_users_of_its_scope(self, api: Api) -> None:
        whole = {u["name"] for u in api.as_("admin").get("/users", params={"limit": 100}).json()["items"]}
        county = {u["name"] for u in api.as_("admin-county").get("/users", params={"limit": 100}).json()["items"]}
        assert {"requester-a", "requester-b", "dispatcher", "supervisor-county"} <= whole
        assert county == {"requester-b", "approver-b", "dispatcher-county", "supervisor-county", "admin-county"}

    def test_a_user_created_answers_its_token_once_and_works(self, api: Api, city_engine: Engine) -> None:
        r = api.as_("admin-county").post("/users", json={"name": "审计-江岸", "role": "supervisor",
                                                         "jurisdiction": COUNTY, "office": "audit"})
        assert r.status_code == 201, r.text
        created = r.json()
        assert (created["user"]["jurisdiction"], created["user"]["office"]) == (COUNTY, "audit")
        token = created["token"]
        me = api.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert (me.json()["jurisdiction"], me.json()["office"]) == (COUNTY, "audit")
        listed = api.as_("admin-county").get("/users").json()["items"]
        assert token not in str(listed)
        with unit_of_work(city_engine, readonly=True) as session:
            record = session.scalars(sa.select(AuditRecord).where(AuditRecord.action == "user.added")
                                     .order_by(AuditRecord.seq.desc())).first()
            assert record is not None
            assert token not in str(record.changes)
            assert users.token_hash(token) not in str(record.changes)

    @pytest.mark.parametrize(("body", "status", "field"), [
        ({"role": "dispatcher"}, 422, "jurisdiction"),  # the whole platform: wider than the district
        ({"role": "dispatcher", "jurisdiction": "420100"}, 404, "jurisdiction"),  # the city, above it
        ({"role": "supervisor", "agency": AGENCY_A}, 404, "agency"),  # another district's agency
        ({"role": "requester", "agency": AGENCY_A}, 404, "agency"),
        ({"role": "dispatcher", "jurisdiction": COUNTY, "agency": AGENCY_B}, 422, "jurisdiction"),
        ({"role": "requester", "agency": AGENCY_B, "office": "finance"}, 422, "office"),
        ({"role": "requester", "agency": AGENCY_B, "jurisdiction": COUNTY}, 422, "jurisdiction"),
    ])
    def test_an_admin_grants_no_wider_scope_than_its_own(self, api: Api, city_engine: Engine, body: dict[str, Any],
                                                         status: int, field: str) -> None:
        r = api.as_("admin-county").post("/users", json={"name": "新用户", **body})
        assert (r.status_code, r.json()["field"]) == (status, field), r.text
        with city_engine.connect() as conn:
            assert conn.scalar(sa.select(User.id).where(User.name == "新用户")) is None

    def test_deactivating_ends_the_token_and_the_sessions_at_once(self, api: Api, city_engine: Engine) -> None:
        signed = api.client.post("/api/v1/auth/login", json={"name": "approver-b",
                                                            "password": password_of("approver-b")})
        assert signed.status_code == 200  # the client keeps the session cookie; a bearer token wins over it
        assert api.as_("approver-b").get("/trips").status_code == 200
        assert api.client.get("/api/v1/auth/me").json()["name"] == "approver-b"
        r = api.as_("admin-county").post(f"/users/{user_id(city_engine, 'approver-b')}/deactivate",
                                         json={"reason": "调离"})
        assert (r.status_code, r.json()["active"]) == (200, False), r.text
        assert api.as_("approver-b").get("/trips").status_code == 401
        assert api.client.get("/api/v1/auth/me").status_code == 401
        again = api.as_("admin").post(f"/users/{user_id(city_engine, 'approver-b')}/deactivate")
        assert again.status_code == 409
        with unit_of_work(city_engine, readonly=True) as session:
            record = session.scalars(sa.select(AuditRecord).where(AuditRecord.action == "user.deactivated")).one()
            assert record.actor == "admin-county (admin)"
            assert record.changes["sessions_ended"] == 1

    def test_an_admin_outside_sees_no_such_user(self, api: Api, city_engine: Engine) -> None:
        for action in ("deactivate", "rotate-token"):
            r = api.as_("admin-county").post(f"/users/{user_id(city_engine, 'approver-a')}/{action}")
            assert r.status_code == 404, r.text
        assert api.as_("approver-a").get("/trips").status_code == 200
        r = api.as_("admin-county").post(f"/users/{user_id(city_engine, 'admin-county')}/deactivate")
        assert r.status_code == 409  # not itself

    def test_rotating_answers_a_new_token_and_ends_the_old(self, api: Api, city_engine: Engine) -> None:
        r = api.as_("admin-county").post(f"/users/{user_id(city_engine, 'requester-b')}/rotate-token",
                                         json={"days": 7})
        assert r.status_code == 200, r.text
        fresh = r.json()["token"]
        assert api.as_("requester-b").get("/trips").status_code == 401
        assert api.client.get("/api/v1/trips", headers={"Authorization": f"Bearer {fresh}"}).status_code == 200
