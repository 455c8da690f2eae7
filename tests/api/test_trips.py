"""The trip lifecycle over HTTP: book, decide, dispatch around what is held, insert an emergency, drive, slip."""

from __future__ import annotations

from datetime import datetime

import pytest

from fleet import clock, dispatching
from tests.api.conftest import AGENCY_B, DAY, Api, at, trip_body

WINDOW = {"start": at(0).isoformat(), "end": at(0, day=DAY.replace(day=DAY.day + 1)).isoformat(), "time_limit": 1}


def booked(api: Api, user: str = "requester-a", **overrides: object) -> dict:
    r = api.as_(user).post("/trips", json=trip_body(**overrides))
    assert r.status_code == 201, r.text
    return r.json()


def approved(api: Api, **overrides: object) -> dict:
    trip = booked(api, **overrides)
    r = api.as_("approver-a").post(f"/trips/{trip['id']}/approve", json={"note": "同意"})
    assert r.status_code == 200, r.text
    return r.json()


class TestBooking:
    def test_a_booking_is_requested_with_categories_by_priority(self, api: Api) -> None:
        trip = booked(api, priority="routine")
        assert trip["status"] == "requested"
        assert trip["categories"] == ["general"]
        assert trip["agency"] == "WH-GA"
        assert trip["requested_by"] == "requester-a"
        assert 5 < trip["planned_km"] < 10

    def test_the_same_idempotency_key_returns_the_first_booking(self, api: Api) -> None:
        headers = {"Idempotency-Key": "retry-0001"}
        first = api.as_("requester-a").post("/trips", json=trip_body(), headers=headers)
        again = api.as_("requester-a").post("/trips", json=trip_body(), headers=headers)
        assert first.status_code == 201
        assert again.status_code == 200
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.json()["id"] == first.json()["id"]
        assert api.as_("dispatcher").get("/trips").json()["total"] == 1

    def test_a_key_reused_for_another_trip_is_refused(self, api: Api) -> None:
        headers = {"Idempotency-Key": "retry-0002"}
        api.as_("requester-a").post("/trips", json=trip_body(), headers=headers)
        r = api.as_("requester-a").post("/trips", json=trip_body(passengers=3), headers=headers)
        assert r.status_code == 409
        assert r.json()["field"] == "Idempotency-Key"

    def test_a_window_ending_before_it_starts_names_the_field(self, api: Api) -> None:
        r = api.as_("requester-a").post("/trips", json=trip_body(latest_pickup=at(8).isoformat()))
        assert r.status_code == 422
        assert r.json() == {"error": "InvalidInput", "field": "latest_pickup",
                            "detail": "field 'latest pickup': is before the earliest pickup"}

    def test_a_time_without_offset_is_refused(self, api: Api) -> None:
        r = api.as_("requester-a").post("/trips", json=trip_body(earliest_pickup="2030-03-12T09:00:00"))
        assert r.status_code == 422
        assert r.json()["field"] == "earliest_pickup"


class TestDecisions:
    def test_approve_then_reject_is_a_state_conflict(self, api: Api) -> None:
        trip = approved(api)
        r = api.as_("approver-a").post(f"/trips/{trip['id']}/reject", json={"note": "不必要"})
        assert r.status_code == 409
        assert r.json()["error"] == "InvalidState"

    def test_reject_records_the_reason(self, api: Api) -> None:
        trip = booked(api)
        r = api.as_("approver-a").post(f"/trips/{trip['id']}/reject", json={"note": "可合并出行"})
        assert r.json()["status"] == "rejected"
        assert r.json()["decision_note"] == "可合并出行"

    def test_every_decision_is_in_the_audit_trail(self, api: Api) -> None:
        trip = approved(api)
        r = api.as_("supervisor").get("/audit", params={"entity": "trip", "entity_id": str(trip["id"])})
        assert [a["action"] for a in r.json()["items"]] == ["trip.booked", "trip.approved"]
        assert r.json()["items"][1]["actor"] == "approver-a (approver)"


class TestDispatchAndDrive:
    def test_dispatch_assigns_and_the_driver_completes_with_odometers(self, api: Api) -> None:
        trip = approved(api)
        r = api.as_("dispatcher").post("/dispatch", json=WINDOW)
        assert r.status_code == 200, r.text
        run = r.json()
        assert run["served"]["law_enforcement"] == 1
        assert run["unserved"] == []
        trip = api.as_("dispatcher").get(f"/trips/{trip['id']}").json()
        assert trip["status"] == "assigned"
        assignment = trip["assignment"]
        assert assignment["source"] == "dispatch"
        assert assignment["driver"] == "driver-a"
        assert datetime.fromisoformat(assignment["starts_at"]) == datetime.fromisoformat(trip["earliest_pickup"])
        odometer = api.as_("admin").get(f"/vehicles/{assignment['vehicle_id']}").json()["odometer_km"]
        with clock.travel(at(9, 2)):
            r = api.as_("driver-a").post(f"/trips/{trip['id']}/start", json={"odometer_km": odometer + 3})
        assert r.status_code == 200, r.text
        assert datetime.fromisoformat(r.json()["started_at"]) == at(9, 2)
        with clock.travel(at(9, 40)):
            r = api.as_("driver-a").post(f"/trips/{trip['id']}/complete", json={"odometer_km": odometer + 1})
            assert r.status_code == 422
            assert r.json()["field"] == "odometer_km"
            r = api.as_("driver-a").post(f"/trips/{trip['id']}/complete", json={"odometer_km": odometer + 12})
        assert r.json()["status"] == "completed"
        assert api.as_("admin").get(f"/vehicles/{assignment['vehicle_id']}").json()["odometer_km"] == odometer + 12

    def test_dispatch_works_around_what_is_already_held(self, api: Api) -> None:
        """Three law-enforcement vehicles across both agencies (one pool); one is held by hand for 09:00-11:00.
        Three more trips at 09:30 need three vehicles: two are free, so two are served and the third says why."""
        held = approved(api, earliest_pickup=at(9).isoformat(), latest_pickup=at(9).isoformat(), dwell_min=90)
        r = api.as_("dispatcher").post(f"/trips/{held['id']}/assign",
                                       json={"vehicle_id": api.city.vehicles["le-a1"]})
        assert r.status_code == 200, r.text
        others = [approved(api, earliest_pickup=at(9, 30).isoformat(), latest_pickup=at(9, 30).isoformat())
                  for _ in range(3)]
        run = api.as_("dispatcher").post("/dispatch", json=WINDOW).json()
        assert run["served"]["law_enforcement"] == 2
        assert len(run["unserved"]) == 1
        assert run["unserved"][0]["trip_id"] in {t["id"] for t in others}
        served = [api.as_("dispatcher").get(f"/trips/{t['id']}").json() for t in others]
        plates = {t["assignment"]["vehicle_id"] for t in served if t["assignment"]}
        assert plates == {api.city.vehicles["le-a2"], api.city.vehicles["le-b1"]}
        assert "busy" in run["unserved"][0]["reason"]

    def test_a_manual_double_booking_is_a_clean_409_naming_the_holder(self, api: Api) -> None:
        first, second = approved(api), approved(api)
        vehicle = {"vehicle_id": api.city.vehicles["le-a1"]}
        assert api.as_("dispatcher").post(f"/trips/{first['id']}/assign", json=vehicle).status_code == 200
        r = api.as_("dispatcher").post(f"/trips/{second['id']}/assign", json=vehicle)
        assert r.status_code == 409
        assert r.json()["trip_id"] == first["id"]
        assert api.as_("dispatcher").get(f"/trips/{second['id']}").json()["status"] == "approved"

    def test_cancelling_frees_the_vehicle(self, api: Api) -> None:
        first, second = approved(api), approved(api)
        vehicle = {"vehicle_id": api.city.vehicles["le-a1"]}
        api.as_("dispatcher").post(f"/trips/{first['id']}/assign", json=vehicle)
        assert api.as_("requester-a").post(f"/trips/{first['id']}/cancel").json()["status"] == "cancelled"
        assert api.as_("dispatcher").post(f"/trips/{second['id']}/assign", json=vehicle).status_code == 200

    def test_a_vehicle_of_the_wrong_category_is_refused(self, api: Api) -> None:
        trip = approved(api)
        r = api.as_("dispatcher").post(f"/trips/{trip['id']}/assign",
                                       json={"vehicle_id": api.city.vehicles["gen-a1"]})
        assert r.status_code == 409
        assert r.json()["field"] == "vehicle_id"

    def test_a_driver_off_shift_is_refused(self, api: Api) -> None:
        trip = approved(api, earliest_pickup=at(20).isoformat(), latest_pickup=at(20, 30).isoformat())
        r = api.as_("dispatcher").post(f"/trips/{trip['id']}/assign", json={
            "vehicle_id": api.city.vehicles["le-a1"], "driver_id": api.city.drivers["driver-a"]})
        assert r.status_code == 409
        assert "shift" in r.json()["detail"]


class TestOdometerPlausibility:
    """A reading more than the car could have driven since the last one (150 km/h, at least 500 km) is refused,
    and leaves the vehicle's odometer as it was."""

    def _assigned(self, api: Api, hour: int) -> dict:
        trip = approved(api, earliest_pickup=at(hour).isoformat(), latest_pickup=at(hour, 30).isoformat())
        r = api.as_("dispatcher").post(f"/trips/{trip['id']}/assign", json={
            "vehicle_id": api.city.vehicles["le-a1"], "driver_id": api.city.drivers["driver-a"]})
        assert r.status_code == 200, r.text
        return trip

    def _odometer(self, api: Api) -> int:
        km: int = api.as_("admin").get(f"/vehicles/{api.city.vehicles['le-a1']}").json()["odometer_km"]
        return km

    def test_a_start_far_above_the_last_reading_is_refused(self, api: Api) -> None:
        first, second = self._assigned(api, 9), self._assigned(api, 14)
        odometer = self._odometer(api)
        with clock.travel(at(9, 2)):
            assert api.as_("driver-a").post(f"/trips/{first['id']}/start",
                                            json={"odometer_km": odometer + 3}).status_code == 200
        with clock.travel(at(9, 40)):
            assert api.as_("driver-a").post(f"/trips/{first['id']}/complete",
                                            json={"odometer_km": odometer + 20}).status_code == 200
        with clock.travel(at(14, 2)):
            # 3,000,000 km (the schema's bound) read a few hours after odometer + 20, on the same day.
            r = api.as_("driver-a").post(f"/trips/{second['id']}/start", json={"odometer_km": 3_000_000})
            assert r.status_code == 422, r.text
            assert r.json()["field"] == "odometer_km"
            assert str(odometer + 20) in r.json()["detail"]
            assert self._odometer(api) == odometer + 20
            r = api.as_("driver-a").post(f"/trips/{second['id']}/start", json={"odometer_km": odometer + 400})
        assert r.status_code == 200, r.text

    def test_a_completion_far_above_the_start_is_refused(self, api: Api) -> None:
        trip = self._assigned(api, 9)
        odometer = self._odometer(api)
        with clock.travel(at(9, 2)):
            assert api.as_("driver-a").post(f"/trips/{trip['id']}/start",
                                            json={"odometer_km": odometer}).status_code == 200
        with clock.travel(at(9, 40)):  # 38 minutes: the 500 km floor holds
            r = api.as_("driver-a").post(f"/trips/{trip['id']}/complete", json={"odometer_km": odometer + 501})
            assert r.status_code == 422, r.text
            assert r.json()["field"] == "odometer_km"
            assert api.as_("driver-a").get(f"/trips/{trip['id']}").json()["status"] == "in_progress"
            r = api.as_("driver-a").post(f"/trips/{trip['id']}/complete", json={"odometer_km": odometer + 500})
        assert r.status_code == 200, r.text
        assert self._odometer(api) == odometer + 500


class TestUrgent:
    def test_an_emergency_booked_by_the_dispatcher_is_placed_at_once(self, api: Api) -> None:
        r = api.as_("dispatcher").post("/trips", json=trip_body(
            priority="emergency", agency="WH-GA", purpose="危化品泄漏处置", passengers=4,
            priority_reason="化工园区储罐泄漏", approval_basis="单位审批人电话同意",
            earliest_pickup=at(14).isoformat(), latest_pickup=at(14, 10).isoformat()))
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["status"] == "assigned"
        assert body["urgent"]["vehicle"] is not None
        assert body["assignment"]["vehicle_id"] == api.city.vehicles["em-a1"]
        assert body["assignment"]["source"] == "urgent"
        assert body["assignment"]["driver"] is not None

    def test_an_emergency_displaces_a_routine_trip_not_yet_started(self, api: Api) -> None:
        """Only general vehicles may take this emergency; the one free general car of agency A is held by a
        routine trip at the same time, and agency B's is held too: the routine trip gives way and says so."""
        routine = [approved(api, priority="routine", earliest_pickup=at(15).isoformat(),
                            latest_pickup=at(15).isoformat()) for _ in range(2)]
        for trip, name in zip(routine, ("gen-a1", "gen-b1"), strict=True):
            r = api.as_("dispatcher").post(f"/trips/{trip['id']}/assign", json={"vehicle_id": api.city.vehicles[name]})
            assert r.status_code == 200, r.text
        r = api.as_("dispatcher").post("/trips", json=trip_body(
            priority="emergency", agency="WH-GA", categories=["general"], purpose="接送伤员",
            priority_reason="交通事故伤员转运", approval_basis="单位审批人电话同意",
            earliest_pickup=at(15).isoformat(), latest_pickup=at(15, 5).isoformat()))
        body = r.json()
        assert r.status_code == 201, r.text
        assert body["status"] == "assigned"
        assert len(body["urgent"]["displaced"]) == 1
        displaced = body["urgent"]["displaced"][0]
        assert displaced in {t["id"] for t in routine}
        assert body["urgent"]["unplaced"] == [displaced]
        after = api.as_("dispatcher").get(f"/trips/{displaced}").json()
        assert after["status"] == "approved"
        assert after["assignment"] is None
        actions = [a["action"] for a in api.as_("supervisor").get(
            "/audit", params={"entity": "trip", "entity_id": str(displaced)}).json()["items"]]
        assert actions[-1] == "trip.displaced"


class TestSlip:
    def test_the_slip_prints_as_html(self, api: Api) -> None:
        trip = approved(api)
        api.as_("dispatcher").post(f"/trips/{trip['id']}/assign", json={"vehicle_id": api.city.vehicles["le-a1"]})
        r = api.as_("requester-a").get(f"/trips/{trip['id']}/slip", params={"format": "html"})
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/html")
        assert "公务用车派车单" in r.text
        assert "江岸区沿江大道" in r.text
        json_slip = api.as_("requester-a").get(f"/trips/{trip['id']}/slip").json()
        assert json_slip["assignment"]["plate"] in r.text


def test_agency_b_books_for_itself(api: Api) -> None:
    trip = booked(api, "requester-b")
    assert trip["agency"] == AGENCY_B


def test_an_engine_failure_is_a_503_sentence_and_assigns_nothing(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_plan(*args: object, **kwargs: object) -> None:
        raise MemoryError

    monkeypatch.setattr(dispatching, "solve", no_plan)
    trip = approved(api)
    r = api.as_("dispatcher").post("/dispatch", json=WINDOW)
    assert r.status_code == 503
    assert r.json()["error"] == "Unavailable"
    assert "nothing was assigned" in r.json()["detail"]
    assert api.as_("dispatcher").get(f"/trips/{trip['id']}").json()["status"] == "approved"
    runs = api.as_("supervisor").get("/audit", params={"action": "dispatch.run"}).json()
    assert runs["total"] == 0


def test_the_time_limit_is_capped(api: Api) -> None:
    r = api.as_("dispatcher").post("/dispatch", json={**WINDOW, "time_limit": 3600})
    assert r.status_code == 422
    assert r.json()["field"] == "time_limit"


@pytest.mark.parametrize("spelt", ["1.0", "1%20", "%201", "+1", "1e0", "١"])
def test_a_row_id_in_a_path_is_digits_only(api: Api, spelt: str) -> None:
    """pydantic read "1.0" or "1 " as row 1: a deactivation aimed at a mistyped path ended user 1's sessions."""
    trip = api.as_("requester-a").post("/trips", json=trip_body()).json()
    r = api.as_("requester-a").get(f"/trips/{spelt}")
    assert (r.status_code, r.json()["field"]) == (422, "trip_id"), r.text
    before = api.as_("admin").get("/users").json()["items"]
    r = api.as_("admin").post(f"/users/{spelt}/deactivate")
    assert (r.status_code, r.json()["field"]) == (422, "user_id"), r.text
    assert api.as_("admin").get("/users").json()["items"] == before
    assert api.as_("requester-a").get(f"/trips/{trip['id']}").status_code == 200
