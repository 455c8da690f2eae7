"""Acquisition plans over HTTP alone: draft, list, review, approve, then acquire and renew through the lines' ids."""

from __future__ import annotations

from typing import Any

from fleet import clock
from tests.api.conftest import AGENCY_A, AGENCY_B, Api, City
from tests.api.test_roles import bev_body, vehicle_body


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def test_plan_to_vehicles_over_http(api: Api, city: City) -> None:
    admin = api.as_("admin")
    today = clock.today()
    old = ok(admin.get(f"/vehicles/{city.vehicles['le-a1']}"))
    renewal = {"kind": "renewal", "category": "law_enforcement", "powertrain": "bev", "count": 1,
               "unit_price_cny": "150000", "replaces": [old["plate"]], "early_renewal_basis": "accident_beyond_repair",
               "early_renewal_reason": "事故损毁, 经鉴定无修复价值"}
    new = {"kind": "new", "category": "general", "powertrain": "bev", "count": 1, "unit_price_cny": "150000"}
    plan = ok(admin.post("/plans", json={"agency": AGENCY_A, "year": today.year, "title": "年度配备更新计划",
                                         "lines": [renewal, new]}), 201)
    renew_line, new_line = plan["lines"]
    assert renew_line["replaces"] == [old["plate"]]
    assert renew_line["early_renewal_basis"] == "accident_beyond_repair"
    assert (new_line["kind"], new_line["count"], new_line["acquired"], new_line["remaining"]) == ("new", 1, 0, 1)
    assert new_line["unit_price_cny"] == "150000.00"

    listed = ok(api.as_("dispatcher").get("/plans", params={"agency": AGENCY_A, "status": "draft"}))
    assert listed["total"] == 1
    assert [p["id"] for p in listed["items"]] == [plan["id"]]
    assert listed["items"][0]["lines"] == plan["lines"]
    assert ok(admin.get("/plans", params={"agency": AGENCY_B}))["total"] == 0

    ok(admin.post(f"/plans/{plan['id']}/submit"))
    review = ok(api.as_("supervisor").get(f"/plans/{plan['id']}/review"))
    assert review["findings"] == []
    assert review["share"] == {
        "scope": "420000", "scope_name": "湖北省", "scope_level": "province", "year": today.year, "minimum": 0.3,
        "approved": {"new_energy": 0, "counted": 0, "share": None},
        "with_plan": {"new_energy": 2, "counted": 2, "share": 1.0}, "met": True,
    }

    approved = ok(admin.post(f"/plans/{plan['id']}/approve"))
    assert approved["status"] == "approved"
    assert [line["id"] for line in approved["lines"]] == [renew_line["id"], new_line["id"]]

    bought = ok(admin.post(f"/plan-lines/{new_line['id']}/acquire", json=bev_body(91001)), 201)
    assert bought["agency"] == AGENCY_A
    renewed = ok(admin.post("/vehicles/renew", json={
        "plan_line_id": renew_line["id"], "replaced_vehicle_id": old["id"],
        "vehicle": bev_body(91002, category="law_enforcement"),
        "disposal": {"method": "auction", "disposed_on": today.isoformat(), "proceeds_cny": "20000"}}), 201)
    assert renewed["category"] == "law_enforcement"
    assert ok(admin.get(f"/vehicles/{old['id']}"))["status"] == "disposed"

    after = ok(admin.get(f"/plans/{plan['id']}"))
    assert [(line["acquired"], line["remaining"]) for line in after["lines"]] == [(1, 0), (1, 0)]
    done = ok(admin.get("/plans", params={"year": today.year, "status": "approved"}))
    assert [p["id"] for p in done["items"]] == [plan["id"]]


def test_review_of_a_plan_the_province_refuses(api: Api) -> None:
    admin = api.as_("admin")
    petrol = {"kind": "new", "category": "general", "powertrain": "ice", "count": 1, "unit_price_cny": "110000",
              "displacement_l": "1.5"}
    plan = ok(admin.post("/plans", json={"agency": AGENCY_B, "year": clock.today().year, "lines": [petrol]}), 201)
    review = ok(admin.get(f"/plans/{plan['id']}/review", headers={"Accept-Language": "zh-CN"}))
    [finding] = review["findings"]
    assert finding["error"] == "NewEnergyShareTooLow"
    assert "湖北省" in finding["detail"]
    assert review["share"]["with_plan"] == {"new_energy": 0, "counted": 1, "share": 0.0}
    assert review["share"]["met"] is False
    refused = admin.post(f"/plans/{plan['id']}/submit")
    assert refused.status_code == 200
    assert admin.post(f"/plans/{plan['id']}/approve").json()["error"] == "NewEnergyShareTooLow"


def test_unknown_plan_and_bad_filters(api: Api) -> None:
    admin = api.as_("admin")
    assert admin.get("/plans/999999/review").status_code == 404
    assert admin.get("/plans", params={"status": "lost"}).status_code == 422
    assert admin.get("/plans", params={"year": 1900}).status_code == 422


def test_vehicle_body_is_a_plain_petrol_car() -> None:
    # the helpers this file borrows from the role table keep their meaning
    assert vehicle_body(1)["powertrain"] == "ice"
