"""Rules that could be walked around (issue 14): times entered as if live that are not, past bookings, the agency's
approval skipped, an approved emergency left waiting for the next batch run, an emergency without its reason, and
registration as a way around plans, the equipment standard and (for rental cars, the other way) the quota.

The city's day is 2030-03-12; the platform's clock (`fleet.clock.travel`) is moved to the moment each step happens.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest

from fleet import clock
from tests.api.conftest import Api, at, trip_body
from tests.factories import THIS_YEAR, plate, vin


def audit_changes(api: Api, trip_id: int, action: str) -> dict[str, Any]:
    items = api.as_("supervisor").get("/audit", params={"entity": "trip", "entity_id": str(trip_id)}).json()["items"]
    return next(a["changes"] for a in items if a["action"] == action)


def assigned(api: Api) -> dict[str, Any]:
    """A law-enforcement trip at 09:00, approved by its agency and assigned by hand to le-a1 with driver-a."""
    with clock.travel(at(7)):
        trip = api.as_("requester-a").post("/trips", json=trip_body()).json()
        assert api.as_("approver-a").post(f"/trips/{trip['id']}/approve").status_code == 200
        r = api.as_("dispatcher").post(f"/trips/{trip['id']}/assign", json={
            "vehicle_id": api.city.vehicles["le-a1"], "driver_id": api.city.drivers["driver-a"]})
    assert r.status_code == 200, r.text
    return r.json()


def start(api: Api, user: str, trip_id: int, **body: Any) -> Any:
    return api.as_(user).post(f"/trips/{trip_id}/start", json={"odometer_km": 100, **body})


class TestDrivingIsNow:
    def test_a_start_dated_weeks_back_is_refused_naming_at(self, api: Api) -> None:
        trip = assigned(api)
        with clock.travel(at(9, 5)):
            r = start(api, "driver-a", trip["id"], at=(at(9) - timedelta(days=60)).isoformat())
        assert r.status_code == 422, r.text
        assert r.json()["field"] == "at"
        assert "back-fill reason" in r.json()["detail"]  # the field named by its label

    def test_a_start_in_the_future_is_refused(self, api: Api) -> None:
        trip = assigned(api)
        with clock.travel(at(9, 5)):
            r = start(api, "driver-a", trip["id"], at=at(9, 30).isoformat())
        assert r.status_code == 422, r.text
        assert r.json()["field"] == "at"

    def test_a_start_a_few_minutes_ago_is_taken_as_live(self, api: Api) -> None:
        trip = assigned(api)
        with clock.travel(at(9, 12)):
            r = start(api, "driver-a", trip["id"], at=at(9, 2).isoformat())
        assert r.status_code == 200, r.text
        assert datetime.fromisoformat(r.json()["started_at"]) == at(9, 2)
        assert r.json()["backfill_reason"] is None

    def test_a_driver_cannot_back_fill(self, api: Api) -> None:
        trip = assigned(api)
        with clock.travel(at(18)):
            r = start(api, "driver-a", trip["id"], at=at(9, 5).isoformat(), backfill_reason="忘记点出车")
        assert r.status_code == 403, r.text
        assert r.json()["field"] == "backfill_reason"

    def test_a_dispatcher_back_fills_with_the_reason_recorded_and_audited(self, api: Api) -> None:
        trip = assigned(api)
        with clock.travel(at(18)):
            r = start(api, "dispatcher", trip["id"], at=at(9, 5).isoformat(),
                      backfill_reason="驾驶员手机没电，按派车单补录")
            assert r.status_code == 200, r.text
            done = api.as_("dispatcher").post(f"/trips/{trip['id']}/complete", json={
                "odometer_km": 130, "at": at(11).isoformat(), "backfill_reason": "按派车单补录收车"})
        assert done.status_code == 200, done.text
        assert done.json()["backfill_reason"] == "按派车单补录收车"
        assert audit_changes(api, trip["id"], "trip.started")["backfill_reason"] == "驾驶员手机没电，按派车单补录"
        assert audit_changes(api, trip["id"], "trip.completed")["backfill_reason"] == "按派车单补录收车"

    def test_even_a_back_fill_is_never_before_the_vehicle_was_acquired(self, api: Api) -> None:
        trip = assigned(api)
        acquired = date_of(api.as_("admin").get(f"/vehicles/{api.city.vehicles['le-a1']}").json()["acquired_on"])
        with clock.travel(at(18)):
            r = start(api, "dispatcher", trip["id"], at=at(9, day=acquired - timedelta(days=1)).isoformat(),
                      backfill_reason="补录")
        assert r.status_code == 422, r.text
        assert r.json()["field"] == "at"
        assert "acquired" in r.json()["detail"]

    def test_even_a_back_fill_is_never_in_the_future(self, api: Api) -> None:
        trip = assigned(api)
        with clock.travel(at(9, 5)):
            r = start(api, "dispatcher", trip["id"], at=at(10).isoformat(), backfill_reason="补录")
        assert r.status_code == 422, r.text
        assert r.json()["field"] == "at"


    def test_even_a_back_fill_is_within_a_day_of_the_pickup_window(self, api: Api) -> None:
        trip = assigned(api)  # 09:00-09:30
        with clock.travel(at(18)):
            r = start(api, "dispatcher", trip["id"], at=(at(9) - timedelta(days=2)).isoformat(),
                      backfill_reason="按派车单补录")
        assert r.status_code == 422, r.text
        assert r.json()["field"] == "at"

    def test_a_back_fill_reason_for_a_live_time_is_refused(self, api: Api) -> None:
        trip = assigned(api)
        with clock.travel(at(9, 5)):
            r = start(api, "dispatcher", trip["id"], backfill_reason="按派车单补录")
        assert r.status_code == 422, r.text
        assert r.json()["field"] == "backfill_reason"


def date_of(text: str) -> Any:
    return datetime.fromisoformat(text).date()


class TestPastBookings:
    def test_a_booking_whose_pickup_is_past_is_refused_naming_latest_pickup(self, api: Api) -> None:
        with clock.travel(at(10)):
            r = api.as_("requester-a").post("/trips", json=trip_body())  # 09:00-09:30
        assert r.status_code == 422, r.text
        assert r.json()["field"] == "latest_pickup"

    def test_a_requester_cannot_back_fill_a_booking(self, api: Api) -> None:
        with clock.travel(at(10)):
            r = api.as_("requester-a").post("/trips", json=trip_body(backfill_reason="电话约车未录入"))
        assert r.status_code == 403, r.text
        assert r.json()["field"] == "backfill_reason"

    def test_a_dispatcher_back_fills_a_booking_with_its_reason(self, api: Api) -> None:
        with clock.travel(at(10)):
            r = api.as_("dispatcher").post("/trips", json=trip_body(agency="WH-GA", backfill_reason="电话约车未录入"))
        assert r.status_code == 201, r.text
        assert r.json()["backfill_reason"] == "电话约车未录入"
        assert audit_changes(api, r.json()["id"], "trip.booked")["backfill_reason"] == "电话约车未录入"


class TestApproval:
    def test_a_dispatchers_booking_waits_for_the_agencys_approver(self, api: Api) -> None:
        r = api.as_("dispatcher").post("/trips", json=trip_body(agency="WH-GA"))
        assert r.status_code == 201, r.text
        assert r.json()["status"] == "requested"
        assert r.json()["approval_basis"] is None

    @pytest.mark.parametrize("field", ["approval_basis", "priority_reason", "purpose"])
    def test_an_invisible_reason_is_no_reason(self, api: Api, field: str) -> None:
        body = trip_body(agency="WH-GA", priority="emergency", priority_reason="火情处置", approval_basis="电话同意")
        r = api.as_("dispatcher").post("/trips", json={**body, field: "\u200b\u2060"})
        assert r.status_code == 422, r.text
        assert r.json()["field"] == field
        assert api.as_("dispatcher").get("/trips", params={"agency": "WH-GA"}).json()["total"] == 0

    def test_a_dispatcher_records_the_approval_basis_to_approve_at_once(self, api: Api) -> None:
        r = api.as_("dispatcher").post("/trips", json=trip_body(agency="WH-GA", approval_basis="王处长电话同意"))
        assert r.status_code == 201, r.text
        assert r.json()["status"] == "approved"
        assert r.json()["approval_basis"] == "王处长电话同意"
        assert audit_changes(api, r.json()["id"], "trip.booked")["approval_basis"] == "王处长电话同意"

    def test_a_dispatcher_approves_its_own_booking_only_with_the_basis(self, api: Api) -> None:
        """The walk-around: book without approval_basis, so that it waits, then approve it oneself."""
        trip = api.as_("dispatcher").post("/trips", json=trip_body(agency="WH-GA")).json()
        # Invisible characters alone (zero-width space, word joiner, byte-order mark) are no basis either.
        for body in (None, {}, {"note": " "}, {"note": "\u200b\u200b"}, {"note": "\u2060\ufeff\u3000"}):
            r = api.as_("dispatcher").post(f"/trips/{trip['id']}/approve", json=body)
            assert r.status_code == 422, r.text
            assert r.json()["field"] == "note"
        assert api.as_("dispatcher").get(f"/trips/{trip['id']}").json()["status"] == "requested"
        r = api.as_("dispatcher").post(f"/trips/{trip['id']}/approve", json={"note": "王处长电话同意"})
        assert r.status_code == 200, r.text
        assert (r.json()["status"], r.json()["approval_basis"]) == ("approved", "王处长电话同意")
        assert audit_changes(api, trip["id"], "trip.approved")["approval_basis"] == "王处长电话同意"

    def test_a_trip_whose_pickup_window_is_over_is_not_approved(self, api: Api) -> None:
        with clock.travel(at(7)):
            trip = api.as_("requester-a").post("/trips", json=trip_body()).json()  # 09:00-09:30
        with clock.travel(at(10)):
            r = api.as_("approver-a").post(f"/trips/{trip['id']}/approve", json={"note": "同意"})
        assert r.status_code == 422, r.text
        assert r.json()["field"] == "latest_pickup"

    def test_a_back_fill_reason_for_a_pickup_to_come_is_refused(self, api: Api) -> None:
        with clock.travel(at(7)):
            r = api.as_("dispatcher").post("/trips", json=trip_body(agency="WH-GA", backfill_reason="电话约车未录入"))
        assert r.status_code == 422, r.text
        assert r.json()["field"] == "backfill_reason"

    @pytest.mark.parametrize("user", ["requester-a", "approver-a"])
    def test_an_agency_cannot_record_an_approval_basis(self, api: Api, user: str) -> None:
        r = api.as_(user).post("/trips", json=trip_body(approval_basis="自己同意"))
        assert r.status_code == 403, r.text
        assert r.json()["field"] == "approval_basis"

    def test_an_emergency_needs_its_reason(self, api: Api) -> None:
        r = api.as_("requester-a").post("/trips", json=trip_body(priority="emergency", priority_reason=None))
        assert r.status_code == 422, r.text
        assert r.json()["field"] == "priority_reason"

    def test_a_requesters_emergency_is_placed_as_soon_as_it_is_approved(self, api: Api) -> None:
        with clock.travel(at(13)):
            trip = api.as_("requester-a").post("/trips", json=trip_body(
                priority="emergency", priority_reason="暴雨致道路积水，需紧急转移群众", passengers=4,
                earliest_pickup=at(14).isoformat(), latest_pickup=at(14, 10).isoformat())).json()
            assert trip["status"] == "requested"
            assert trip["urgent"] is None
            r = api.as_("approver-a").post(f"/trips/{trip['id']}/approve", json={"note": "同意"})
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "assigned"
        assert r.json()["urgent"]["vehicle"] is not None
        assert r.json()["assignment"]["source"] == "urgent"

    def test_a_dispatchers_emergency_without_a_basis_waits_then_is_placed_on_approval(self, api: Api) -> None:
        with clock.travel(at(13)):
            r = api.as_("dispatcher").post("/trips", json=trip_body(
                agency="WH-GA", priority="emergency", priority_reason="危化品泄漏", passengers=4,
                earliest_pickup=at(14).isoformat(), latest_pickup=at(14, 10).isoformat()))
            assert r.status_code == 201, r.text
            assert r.json()["status"] == "requested"
            assert r.json()["urgent"] is None
            approved = api.as_("approver-a").post(f"/trips/{r.json()['id']}/approve").json()
        assert approved["status"] == "assigned"
        assert approved["urgent"]["vehicle"] is not None


def vehicle_body(serial: int, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "plate": plate(serial), "vin": vin(serial), "model": "奥迪A6L 3.0T", "category": "general",
        "powertrain": "ice", "seats": 5, "price_cny": "100000", "displacement_l": "1.5",
        "acquired_on": date(THIS_YEAR - 3, 3, 1).isoformat()}
    body.update(overrides)
    return body


class TestRegistration:
    def test_a_luxury_sedan_acquired_today_is_refused(self, api: Api) -> None:
        """The issue's case: 500,000 CNY, 3.0 L petrol, acquired today, no plan: it was registered (201)."""
        r = api.as_("admin").post("/vehicles", json={"agency": "WH-GA", "vehicle": vehicle_body(
            900001, price_cny="500000", displacement_l="3.0", acquired_on=clock.today().isoformat())})
        assert r.status_code == 409, r.text
        assert (r.json()["rule"], r.json()["field"]) == ("equipment_standard", "price_cny")

    def test_a_vehicle_acquired_after_go_live_is_refused(self, api: Api) -> None:
        r = api.as_("admin").post("/vehicles", json={"agency": "WH-GA", "vehicle": vehicle_body(
            900002, acquired_on=(clock.today() + timedelta(days=1)).isoformat())})
        assert r.status_code == 409, r.text
        assert (r.json()["rule"], r.json()["field"]) == ("registration", "acquired_on")

    def test_with_a_recorded_basis_it_is_registered(self, api: Api) -> None:
        r = api.as_("admin").post("/vehicles", json={"agency": "WH-GA", "vehicle": vehicle_body(
            900003, acquired_on=(clock.today() + timedelta(days=1)).isoformat(), registration_basis="donation",
            registration_note="捐赠协议 2026-07")})
        assert r.status_code == 201, r.text

    def test_a_rental_car_needs_no_quota(self, api: Api) -> None:
        """WH-GA has no special-technical quota (编制 0): a hired one is not held, so it is registered."""
        rental_provider(api)
        r = api.as_("admin").post("/vehicles", json={"agency": "WH-GA", "vehicle": vehicle_body(
            900004, category="special_technical", source="rental", rental_provider="ZL-HOLES",
            acquired_on=clock.today().isoformat())})
        assert r.status_code == 201, r.text
        assert (r.json()["source"], r.json()["rental_provider"]) == ("rental", "ZL-HOLES")
        retained = api.as_("admin").post("/vehicles", json={"agency": "WH-GA", "vehicle": vehicle_body(
            900005, category="special_technical")})
        assert (retained.status_code, retained.json()["rule"]) == (409, "quota")


# --- a rental car is hired from a provider, and go-live is never ahead (issue 14's review) ---------------------------


def rental_provider(api: Api, code: str = "ZL-HOLES") -> None:
    r = api.as_("admin").post("/rental-providers", json={
        "code": code, "name": "定点租赁", "base_cny": "50.00", "per_km_cny": "2.50", "per_hour_cny": "30.00",
        "contract_until": f"{THIS_YEAR + 5}-12-31"})
    assert r.status_code == 201, r.text


def test_a_rental_car_without_its_provider_is_refused(api: Api) -> None:
    r = api.as_("admin").post("/vehicles", json={"agency": "WH-GA", "vehicle": vehicle_body(
        900011, source="rental", acquired_on=clock.today().isoformat())})
    assert (r.status_code, r.json()["field"]) == (422, "rental_provider"), r.text


def test_a_plan_line_does_not_acquire_a_rental_car(api: Api) -> None:
    plan = api.as_("admin").post("/plans", json={"agency": "WH-GA", "year": clock.today().year, "lines": [
        {"kind": "new", "category": "general", "powertrain": "ice", "count": 1, "unit_price_cny": "100000",
         "displacement_l": "1.5"}]})
    assert plan.status_code == 201, plan.text
    line_id = plan.json()["lines"][0]["id"]
    r = api.as_("admin").post(f"/plan-lines/{line_id}/acquire", json=vehicle_body(900012, source="rental"))
    assert (r.status_code, r.json()["field"]) == (422, "source"), r.text


def test_a_go_live_day_ahead_is_refused(api: Api) -> None:
    r = api.as_("admin").post("/jurisdictions", json={"code": "429999", "name": "未来市", "level": "city",
                                                      "parent": "420000", "live_on": "2100-12-31"})
    assert (r.status_code, r.json()["field"]) == (422, "live_on"), r.text
