"""公务租车 and 统一核算 over HTTP: providers, renting by hand and by the batch run, the monthly statement.

The city's day is 2030-03-12; the platform's clock (`fleet.clock.travel`) is moved to the moment each step happens.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from io import BytesIO
from typing import Any

import pytest
from openpyxl import load_workbook

from fleet import clock
from tests.api.conftest import AGENCY_A, AGENCY_B, DAY, Api, at, trip_body

pytestmark = pytest.mark.usefixtures("hermetic_files")

PROVIDER = {"code": "ZL-WH", "name": "武汉市公务用车定点租赁公司", "contact": "027-8888 0000", "base_cny": "50.00",
            "per_km_cny": "2.50", "per_hour_cny": "30.00", "max_seats": 9, "contract_until": "2030-12-31"}


def provider(api: Api, **overrides: Any) -> dict[str, Any]:
    r = api.as_("admin").post("/rental-providers", json={**PROVIDER, **overrides})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def approved(api: Api, requester: str = "requester-a", **overrides: Any) -> dict[str, Any]:
    approver = requester.replace("requester", "approver")
    with clock.travel(at(7)):
        trip = api.as_(requester).post("/trips", json=trip_body(**overrides)).json()
        r = api.as_(approver).post(f"/trips/{trip['id']}/approve")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_providers_are_added_listed_and_changed(api: Api) -> None:
    added = provider(api)
    assert (added["code"], Decimal(added["per_km_cny"]), added["active"]) == ("ZL-WH", Decimal("2.50"), True)
    assert api.as_("admin").post("/rental-providers", json=PROVIDER).status_code == 409
    r = api.as_("admin").patch("/rental-providers/ZL-WH", json={"active": False, "per_hour_cny": "35"})
    assert r.status_code == 200, r.text
    assert (r.json()["active"], Decimal(r.json()["per_hour_cny"]), Decimal(r.json()["base_cny"])) == (
        False, Decimal(35), Decimal(50))
    assert [p["code"] for p in api.as_("dispatcher").get("/rental-providers").json()] == ["ZL-WH"]
    assert api.as_("dispatcher").get("/rental-providers", params={"active": True}).json() == []
    assert api.as_("admin").patch("/rental-providers/nope", json={"active": True}).status_code == 404
    r = api.as_("admin").post("/rental-providers", json={**PROVIDER, "code": "ZL-2", "per_km_cny": "-1"})
    assert (r.status_code, r.json()["field"]) == (422, "per_km_cny")


def test_a_trip_is_rented_billed_and_shown_to_its_agency(api: Api) -> None:
    provider(api)
    trip = approved(api)
    r = api.as_("dispatcher").post(f"/trips/{trip['id']}/rent", json={"provider": "ZL-WH"})
    assert r.status_code == 200, r.text
    rented = r.json()
    assert rented["status"] == "rented"
    assert rented["assignment"] is None
    estimate = Decimal(rented["rental"]["cost_cny"])
    assert rented["rental"]["provider"] == "ZL-WH"
    assert estimate > Decimal(50)
    seen = api.as_("requester-a").get(f"/trips/{trip['id']}").json()
    assert seen["rental"] == rented["rental"]
    # every list reads the new status: the board (not in the queue), the filtered list, the export
    board = api.as_("dispatcher").get("/board", params={"day": DAY.isoformat()}).json()
    assert trip["id"] not in [t["id"] for t in board["queue"]]
    listed = api.as_("dispatcher").get("/trips", params={"status": "rented"}).json()["items"]
    assert [t["id"] for t in listed] == [trip["id"]]
    exported = api.as_("dispatcher").get("/trips/export", params={"format": "csv"}).text
    assert "已转租赁" in exported
    assert PROVIDER["name"] in exported
    # again: it is rented already
    assert api.as_("dispatcher").post(f"/trips/{trip['id']}/rent", json={"provider": "ZL-WH"}).status_code == 409
    with clock.travel(at(11, 5)):  # the provider's bill is entered as the trip ends
        r = api.as_("dispatcher").post(f"/trips/{trip['id']}/rental-bill",
                                       json={"km": 20, "amount_cny": "188.00", "at": at(11).isoformat()})
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["rental"]["cost_cny"]) == ("completed", "188.00")
    # the usage audit reads a rented trip as one served outside the fleet: no finding about it
    found = api.as_("supervisor").get("/violations", params={"since": DAY.isoformat(), "until": DAY.isoformat()})
    assert found.status_code == 200, found.text
    assert [f for f in found.json()["items"] if f.get("trip_id") == trip["id"]] == []
    # the provider's row and the trip's rental columns are stated by their audit records
    verified = api.as_("supervisor").get("/audit/verify").json()
    assert verified["ok"], verified


def test_a_bill_is_dated_now_or_back_filled_never_in_the_future(api: Api) -> None:
    """Issue 14: the rental's end is a time like a completion: a bill dated 2100, or hours back without a reason,
    is refused; a dispatcher back-fills it with the reason, stored on the trip and audited."""
    provider(api)
    trip = approved(api)  # 09:00-09:30
    assert api.as_("dispatcher").post(f"/trips/{trip['id']}/rent", json={"provider": "ZL-WH"}).status_code == 200
    url = f"/trips/{trip['id']}/rental-bill"
    with clock.travel(at(18)):
        for when in ("2099-12-31T12:00:00+08:00", at(11).isoformat()):
            r = api.as_("dispatcher").post(url, json={"km": 20, "at": when})
            assert (r.status_code, r.json()["field"]) == (422, "at"), r.text
        r = api.as_("dispatcher").post(url, json={"km": 20, "at": at(8).isoformat(), "backfill_reason": "结算单"})
        assert (r.status_code, r.json()["field"]) == (422, "at"), r.text
        assert f"{DAY} 08:00" in r.json()["detail"]  # said in China time, as every instant the API writes
        r = api.as_("dispatcher").post(url, json={"km": 20, "at": at(11).isoformat(),
                                                  "backfill_reason": "租赁公司傍晚送来结算单"})
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["backfill_reason"]) == ("completed", "租赁公司傍晚送来结算单")
    items = api.as_("supervisor").get("/audit", params={"entity": "trip", "entity_id": str(trip["id"])}).json()
    billed = next(a["changes"] for a in items["items"] if a["action"] == "trip.rental_billed")
    assert billed["backfill_reason"] == "租赁公司傍晚送来结算单"


@pytest.mark.parametrize(("change", "status"), [
    ({"active": False}, 409), ({"contract_until": (DAY - timedelta(days=1)).isoformat()}, 409),
    ({"max_seats": 1}, 409)])
def test_renting_is_refused_for_a_provider_that_cannot_take_it(api: Api, change: dict[str, Any],
                                                               status: int) -> None:
    provider(api, **change)
    trip = approved(api)  # two passengers
    r = api.as_("dispatcher").post(f"/trips/{trip['id']}/rent", json={"provider": "ZL-WH"})
    assert r.status_code == status, r.text
    assert r.json()["field"] == "provider"
    assert api.as_("dispatcher").get(f"/trips/{trip['id']}").json()["status"] == "approved"


def test_a_rented_trip_can_be_cancelled(api: Api) -> None:
    provider(api)
    trip = approved(api)
    api.as_("dispatcher").post(f"/trips/{trip['id']}/rent", json={"provider": "ZL-WH"})
    r = api.as_("requester-a").post(f"/trips/{trip['id']}/cancel", json={"note": "会议取消"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled"


def test_a_batch_run_rents_what_it_leaves_unserved(api: Api) -> None:
    provider(api, code="ZL-DEAR", base_cny="500")
    provider(api, code="ZL-CHEAP")
    provider(api, code="ZL-SMALL", base_cny="1", max_seats=5)
    crowd = approved(api, passengers=8)  # no vehicle of the city seats eight
    window = {"start": at(0).isoformat(), "end": at(0, day=DAY + timedelta(days=1)).isoformat(), "time_limit": 0.5}
    assert api.as_("dispatcher").post("/dispatch", json={**window, "rent_unserved": "NOPE"}).status_code == 404
    r = api.as_("dispatcher").post("/dispatch", json={**window, "rent_unserved": True})
    assert r.status_code == 200, r.text
    rented = r.json()["rented"]
    assert [(x["trip_id"], x["provider"]) for x in rented] == [(crowd["id"], "ZL-CHEAP")]
    trip = api.as_("dispatcher").get(f"/trips/{crowd['id']}").json()
    assert (trip["status"], trip["rental"]["provider"]) == ("rented", "ZL-CHEAP")
    assert trip["rental"]["cost_cny"] == rented[0]["cost_cny"]
    runs = api.as_("dispatcher").get("/dispatch/runs").json()["items"]
    assert runs[0]["summary"]["rented"] == rented


def test_a_batch_run_rents_nothing_unless_asked(api: Api) -> None:
    provider(api)
    crowd = approved(api, passengers=8)
    window = {"start": at(0).isoformat(), "end": at(0, day=DAY + timedelta(days=1)).isoformat(), "time_limit": 0.5}
    r = api.as_("dispatcher").post("/dispatch", json=window)
    assert r.json()["rented"] == []
    assert api.as_("dispatcher").get(f"/trips/{crowd['id']}").json()["status"] == "approved"


def _drive(api: Api, trip_id: int, vehicle: str, start_km: int, end_km: int) -> None:
    with clock.travel(at(7)):
        r = api.as_("dispatcher").post(f"/trips/{trip_id}/assign", json={
            "vehicle_id": api.city.vehicles[vehicle], "driver_id": api.city.drivers["driver-a"]})
        assert r.status_code == 200, r.text
    starts = r.json()["assignment"]["starts_at"]
    with clock.travel(at(9, 1)):
        r = api.as_("dispatcher").post(f"/trips/{trip_id}/start", json={"odometer_km": start_km, "at": starts})
        assert r.status_code == 200, r.text
    with clock.travel(at(10, 30)):
        r = api.as_("dispatcher").post(f"/trips/{trip_id}/complete", json={"odometer_km": end_km})
        assert r.status_code == 200, r.text


def test_the_statement_charges_the_booking_agency_and_reconciles(api: Api) -> None:
    other = approved(api, "requester-b")  # WH-CG's trip, driven in WH-GA's car
    _drive(api, other["id"], "le-a1", 100, 130)
    with clock.travel(at(18)):  # a cost is booked once it is incurred
        r = api.as_("admin").post(f"/vehicles/{api.city.vehicles['le-a1']}/costs", json={
            "kind": "fuel", "incurred_on": DAY.isoformat(), "amount_cny": "300.00", "odometer_km": 150})
    assert r.status_code == 201, r.text
    r = api.as_("supervisor").get("/statements", params={"month": "2030-03"})
    assert r.status_code == 200, r.text
    statement = r.json()
    [charge] = statement["trips"]
    assert (charge["trip_id"], charge["agency"], charge["holder"], charge["km"]) == (other["id"], AGENCY_B,
                                                                                     AGENCY_A, 30.0)
    assert Decimal(charge["vehicle_cny"]) == Decimal("60.00")  # 300 CNY over 150 km, 30 of them on the trip
    assert Decimal(charge["driver_cny"]) > 0
    assert statement["reconciliation"]["balanced"] is True
    car = next(v for v in statement["vehicles"] if v["charged_cny"] != "0.00")
    assert (Decimal(car["ledger_cny"]), Decimal(car["unallocated_cny"])) == (Decimal(300), Decimal(240))
    mine = api.as_("admin").get("/statements", params={"month": "2030-03", "agency": AGENCY_A}).json()
    assert (mine["trips"], mine["agencies"][0]["agency"]) == ([], AGENCY_A)
    assert Decimal(mine["agencies"][0]["unallocated_cny"]) == Decimal(240)
    assert Decimal(mine["reconciliation"]["charged_out_cny"]) == Decimal(60)  # what WH-CG's trip was charged
    assert mine["adds_up"] is True
    r = api.as_("supervisor").get("/statements", params={"month": "2030-03", "format": "xlsx"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert load_workbook(BytesIO(r.content)).sheetnames == ["费用明细", "单位汇总", "车辆对账"]


def test_an_agency_statement_shows_nothing_of_another_holders_ledger(api: Api) -> None:
    other = approved(api, "requester-b")  # WH-CG's trip, driven in WH-GA's car
    _drive(api, other["id"], "le-a1", 100, 130)
    with clock.travel(at(18)):
        r = api.as_("admin").post(f"/vehicles/{api.city.vehicles['le-a1']}/costs", json={
            "kind": "fuel", "incurred_on": DAY.isoformat(), "amount_cny": "300.00", "odometer_km": 150})
    assert r.status_code == 201, r.text
    r = api.as_("supervisor").get("/statements", params={"month": "2030-03", "agency": AGENCY_B})
    assert r.status_code == 200, r.text
    theirs = r.json()
    assert theirs["vehicles"] == []  # WH-GA's car: not its ledger, km, remainder or others' charges
    [car] = theirs["charged_in"]
    assert (car["holder"], car["trips"], car["trips_km"], Decimal(car["charged_cny"])) == (AGENCY_A, 1, 30.0,
                                                                                          Decimal(60))
    assert set(car) == {"plate", "holder", "trips", "trips_km", "charged_cny"}
    assert Decimal(theirs["reconciliation"]["charged_in_cny"]) == Decimal(theirs["totals"]["vehicle_cny"])
    assert theirs["adds_up"] is True
    assert "300.00" not in r.text  # the car's ledger and remainder appear nowhere
    assert "240.00" not in r.text
    r = api.as_("supervisor").get("/statements", params={"month": "2030-03", "agency": AGENCY_B, "format": "xlsx"})
    book = load_workbook(BytesIO(r.content))
    assert book.sheetnames == ["费用明细", "单位汇总", "车辆对账", "使用其他单位车辆"]
    cells = [c.value for sheet in book for row in sheet.iter_rows() for c in row if c.value is not None]
    assert not any(v in (300, 240) or "300.00" in str(v) or "240.00" in str(v) for v in cells)
    assert [c.value for c in book["使用其他单位车辆"][2]][:2] == [car["plate"], AGENCY_A]


@pytest.mark.parametrize(("params", "status", "field"), [
    ({"month": "2030-13"}, 422, "month"), ({"month": "2030-3"}, 422, "month"),
    ({"month": "2030-03", "agency": "NOPE"}, 404, "agency"), ({"month": "2030-03", "format": "pdf"}, 422, "format")])
def test_the_statement_refuses_bad_input(api: Api, params: dict[str, str], status: int, field: str) -> None:
    r = api.as_("supervisor").get("/statements", params=params)
    assert r.status_code == status, r.text
    assert r.json()["field"] == field


def test_a_scoped_caller_keeps_to_its_agencies(api: Api) -> None:
    """The district's users (tests/api/conftest.py) reach WH-CG only: its statements, not WH-GA's trips; providers
    are the whole platform's."""
    if "supervisor-county" not in api.city.tokens:
        pytest.skip("the city has no district users")
    r = api.as_("supervisor-county").get("/statements", params={"month": "2030-03"})
    assert (r.status_code, r.json()["field"]) == (422, "agency")
    assert api.as_("supervisor-county").get("/statements", params={"month": "2030-03", "agency": AGENCY_B}
                                            ).status_code == 200
    assert api.as_("supervisor-county").get("/statements", params={"month": "2030-03", "agency": AGENCY_A}
                                            ).status_code == 404
    assert api.as_("admin-county").post("/rental-providers", json=PROVIDER).status_code == 403
    provider(api)
    trip = approved(api)  # WH-GA's
    r = api.as_("dispatcher-county").post(f"/trips/{trip['id']}/rent", json={"provider": "ZL-WH"})
    assert r.status_code == 404, r.text
