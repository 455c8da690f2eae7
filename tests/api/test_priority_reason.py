"""A booking's reason for its priority (应急事由): kept as stated, shown on the trip and its slip, bounded."""

from __future__ import annotations

from tests.api.conftest import Api, trip_body


def test_the_reason_is_kept_and_printed_on_the_slip(api: Api) -> None:
    booked = api.as_("requester-a").post("/trips", json=trip_body(priority_reason="暴雨致道路积水，需紧急转移群众"))
    assert booked.status_code == 201, booked.text
    trip_id = booked.json()["id"]
    assert api.as_("approver-a").get(f"/trips/{trip_id}").json()["priority_reason"] == "暴雨致道路积水，需紧急转移群众"
    slip = api.as_("requester-a").get(f"/trips/{trip_id}/slip", params={"format": "html"}).text
    assert "暴雨致道路积水，需紧急转移群众" in slip


def test_a_trip_without_a_reason_says_none(api: Api) -> None:
    booked = api.as_("requester-a").post("/trips", json=trip_body(priority="routine"))
    assert booked.json()["priority_reason"] is None


def test_a_reason_out_of_bounds_is_refused_naming_it(api: Api) -> None:
    for reason in ("急", "急" * 501):
        refused = api.as_("requester-a").post("/trips", json=trip_body(priority_reason=reason))
        assert refused.status_code == 422
        assert refused.json()["field"] == "priority_reason"
