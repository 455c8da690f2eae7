"""The records over HTTP: edits (PATCH), 机构改革 (merge, split), the cost ledger and the yearly account."""

from __future__ import annotations

from datetime import date, time

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from fleet import clock
from fleet.clock import local_moment
from fleet.enums import Category
from fleet.models import Vehicle
from tests.api.conftest import AGENCY_A, AGENCY_B, Api, trip_body

pytestmark = pytest.mark.usefixtures("hermetic_files")
TODAY = clock.today()


def _audit(api: Api, entity: str, entity_id: int | str) -> list[dict[str, object]]:
    page = api.as_("admin").get("/audit", params={"entity": entity, "entity_id": str(entity_id), "limit": 200})
    assert page.status_code == 200, page.text
    items: list[dict[str, object]] = page.json()["items"]
    return items


class TestEdits:
    def test_a_vehicle_patch_changes_only_what_is_sent_and_is_audited(self, api: Api) -> None:
        vehicle_id = api.city.vehicles["le-a1"]
        before = api.as_("admin").get(f"/vehicles/{vehicle_id}").json()
        r = api.as_("admin").patch(f"/vehicles/{vehicle_id}", json={
            "colour": "白", "terminal_id": "013800138001", "inspected_on": TODAY.isoformat(),
            "service_interval_km": 7500, "marking": "exempt", "marking_exemption": "执法便衣侦查, 经批准免于标识"})
        assert r.status_code == 200, r.text
        after = r.json()
        assert (after["colour"], after["terminal_id"], after["inspected_on"], after["service_interval_km"],
                after["marking"]) == ("白", "013800138001", TODAY.isoformat(), 7500, "exempt")
        assert {k: v for k, v in after.items() if k not in {"colour", "terminal_id", "inspected_on",
                                                            "service_interval_km", "marking",
                                                            "marking_exemption"}} == \
            {k: v for k, v in before.items() if k not in {"colour", "terminal_id", "inspected_on",
                                                          "service_interval_km", "marking", "marking_exemption"}}
        record = _audit(api, "vehicle", vehicle_id)[-1]
        assert record["action"] == "vehicle.amended"
        assert record["changes"]["colour"] == {"from": None, "to": "白"}  # type: ignore[index]
        assert api.as_("supervisor").get("/audit/verify").json()["ok"]

    @pytest.mark.parametrize(("body", "status", "field"), [
        ({}, 422, None),
        ({"vin": "LGBH52E0XX0000001"}, 422, "vin"),
        ({"marking": "exempt"}, 422, "marking_exemption"),
        ({"terminal_id": "0138-0013"}, 422, "terminal_id"),
        ({"terminal_id": "0"}, 422, "terminal_id"),  # no terminal answers to it
        ({"terminal_id": "0" * 20}, 422, "terminal_id"),
        ({"home_lat": 30.1}, 200, None),  # the yard had both: one may move alone
        ({"home_lat": 0, "home_lon": 0}, 422, "home_lat"),  # a typo: no yard of a Chinese agency is there
        ({"home_lat": 30.1, "home_lon": 14.3}, 422, "home_lon"),
    ])
    def test_vehicle_patch_refusals(self, api: Api, body: dict[str, object], status: int,
                                    field: str | None) -> None:
        r = api.as_("admin").patch(f"/vehicles/{api.city.vehicles['le-a2']}", json=body)
        assert r.status_code == status, r.text
        if status >= 400:
            assert r.json()["field"] == field

    @pytest.mark.parametrize("again", ["13800000001", "0013800000001", "00000000013800000001"])
    def test_a_terminal_already_fitted_is_a_conflict(self, api: Api, again: str) -> None:
        """With or without the leading zeros a 2019 terminal's 20 digits carry: the listeners find the vehicle by
        the number without them, so both records would be one terminal."""
        assert api.as_("admin").patch(f"/vehicles/{api.city.vehicles['le-a1']}",
                                      json={"terminal_id": "13800000001"}).status_code == 200
        r = api.as_("admin").patch(f"/vehicles/{api.city.vehicles['le-a2']}", json={"terminal_id": again})
        assert (r.status_code, r.json()["error"], r.json()["field"]) == (409, "AlreadyExists", "terminal_id")
        assert api.as_("admin").get(f"/vehicles/{api.city.vehicles['le-a2']}").json()["terminal_id"] is None

    def test_a_driver_patch(self, api: Api) -> None:
        driver_id = api.city.drivers["driver-a"]
        r = api.as_("admin").patch(f"/drivers/{driver_id}", json={
            "licence_no": "420102198001011234", "licence_expires_on": "2031-01-31", "phone": "027-8888 6666",
            "shift_start": "07:00", "agency": AGENCY_B})
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["licence_no"], body["licence_expires_on"], body["phone"], body["shift_start"],
                body["agency"]) == ("420102198001011234", "2031-01-31", "027-8888 6666", "07:00", AGENCY_B)
        assert _audit(api, "driver", driver_id)[-1]["action"] == "driver.amended"
        listed = api.as_("dispatcher").get("/drivers").json()["items"]
        assert next(d for d in listed if d["id"] == driver_id)["licence_expires_on"] == "2031-01-31"

    def test_an_agency_patch(self, api: Api) -> None:
        r = api.as_("admin").patch(f"/agencies/{AGENCY_B}", json={"name": "城管局", "parent": AGENCY_A})
        assert r.status_code == 200, r.text
        assert (r.json()["name"], r.json()["parent"], r.json()["dissolved_on"]) == ("城管局", AGENCY_A, None)
        assert r.json()["jurisdiction"] in {"420100", "420102"}
        r = api.as_("admin").patch(f"/agencies/{AGENCY_A}", json={"parent": AGENCY_B})
        assert (r.status_code, r.json()["field"]) == (422, "parent")
        assert api.as_("admin").patch("/agencies/NOPE", json={"name": "x"}).status_code == 404


class TestReorganisation:
    def test_merge_moves_everything_open_and_dissolves_the_source(self, api: Api) -> None:
        booked = api.as_("requester-a").post("/trips", json=trip_body()).json()["id"]
        r = api.as_("admin").post(f"/agencies/{AGENCY_A}/merge-into", json={
            "into": AGENCY_B, "on": TODAY.isoformat(), "reason": "机构改革: 并入城管局"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["source"]["dissolved_on"], body["source"]["successor"]) == (TODAY.isoformat(), AGENCY_B)
        assert len(body["vehicles"][AGENCY_B]) == 4
        assert body["trips"] == [booked]
        assert body["quotas"][AGENCY_B] == {"emergency": 2, "general": 4, "law_enforcement": 5}
        assert set(body["users"]) == {"requester-a", "approver-a"}
        assert api.as_("dispatcher").get("/vehicles", params={"agency": AGENCY_A}).json()["total"] == 0
        assert api.as_("dispatcher").get(f"/trips/{booked}").json()["agency"] == AGENCY_B
        # the dissolved agency books and holds nothing
        refused = api.as_("dispatcher").post("/trips", json=trip_body(agency=AGENCY_A))
        assert refused.status_code == 409, refused.text
        assert (refused.json()["error"], refused.json()["successor"]) == ("InvalidState", AGENCY_B)
        moved = api.city.vehicles["le-a1"]
        refused = api.as_("admin").post(f"/vehicles/{moved}/transfer", json={
            "to_agency": AGENCY_A, "transferred_on": TODAY.isoformat(), "reason": "调回"})
        assert (refused.status_code, refused.json()["field"]) == (409, "to_agency")
        assert api.as_("supervisor").get("/audit/verify").json()["ok"]

    def test_split_creates_parts_and_refuses_more_quota_than_held(self, api: Api, city_engine: Engine) -> None:
        plates = [api.as_("admin").get(f"/vehicles/{api.city.vehicles[n]}").json()["plate"]
                  for n in ("le-a1", "le-a2")]
        too_much = api.as_("admin").post(f"/agencies/{AGENCY_A}/split", json={
            "into": [{"code": "WH-GA-ZD", "name": "执法总队", "vehicles": plates,
                      "quotas": {"law_enforcement": 4}}], "on": TODAY.isoformat(), "reason": "分设执法总队"})
        assert (too_much.status_code, too_much.json()["error"]) == (409, "QuotaExceeded")
        r = api.as_("admin").post(f"/agencies/{AGENCY_A}/split", json={
            "into": [{"code": "WH-GA-ZD", "name": "执法总队", "vehicles": plates,
                      "quotas": {"law_enforcement": 2}}], "on": TODAY.isoformat(), "reason": "分设执法总队"})
        assert r.status_code == 201, r.text
        assert [a["code"] for a in r.json()["receivers"]] == ["WH-GA-ZD"]
        assert r.json()["source"]["dissolved_on"] is None
        held = api.as_("dispatcher").get("/vehicles", params={"agency": "WH-GA-ZD"}).json()
        assert sorted(v["plate"] for v in held["items"]) == sorted(plates)
        quotas = {(q["agency"], q["category"]): q["limit"] for q in api.as_("admin").get("/quotas").json()["items"]}
        assert (quotas[("WH-GA-ZD", "law_enforcement")], quotas[(AGENCY_A, "law_enforcement")]) == (2, 1)


class TestQuotaUse:
    def test_each_quota_says_what_its_agency_holds_and_a_holding_without_one_shows(self, api: Api,
                                                                                   city_engine: Engine) -> None:
        """The held counts are what the quota tab shows; a car on the books without a quota row (an import, a quota
        category changed by hand) is listed against a quota of 0 rather than missing from the table. A sealed car still
        counts; a disposed one does not."""
        def use() -> dict[tuple[str, str], tuple[int, int]]:
            r = api.as_("admin").get("/quotas")
            assert r.status_code == 200, r.text
            return {(q["agency"], q["category"]): (q["limit"], q["held"]) for q in r.json()["items"]}

        assert use() == {(AGENCY_A, "emergency"): (2, 1), (AGENCY_A, "general"): (2, 1),
                         (AGENCY_A, "law_enforcement"): (3, 2), (AGENCY_B, "general"): (2, 1),
                         (AGENCY_B, "law_enforcement"): (2, 1)}
        sealed = api.as_("admin").post(f"/vehicles/{api.city.vehicles['le-a1']}/seal", json={"reason": "封存检查"})
        assert sealed.status_code == 200, sealed.text
        disposed = api.as_("admin").post(f"/vehicles/{api.city.vehicles['gen-a1']}/dispose", json={
            "method": "scrap", "disposed_on": clock.today().isoformat()})
        assert disposed.status_code == 200, disposed.text
        with city_engine.begin() as conn:  # a car recategorised by hand, where its agency has no such quota
            conn.execute(sa.update(Vehicle).where(Vehicle.id == api.city.vehicles["gen-b1"]).values(
                category=Category.special_technical))
        after = use()
        assert (after[AGENCY_A, "law_enforcement"], after[AGENCY_A, "general"]) == ((3, 2), (2, 0))
        assert (after[AGENCY_B, "general"], after[AGENCY_B, "special_technical"]) == ((2, 0), (0, 1))
        assert list(after) == sorted(after, key=lambda key: key[0])  # by agency
        r = api.as_("admin").put("/quotas", json={"agency": AGENCY_B, "category": "special_technical", "limit": 1,
                                                  "reason": "编制核定"})
        assert (r.status_code, r.json()["held"]) == (200, 1), r.text


class TestLedger:
    def test_costs_paged_and_filtered_and_the_years_account(self, api: Api) -> None:
        """Next year's first quarter, booked in April (a cost is never booked ahead of its day, and the car was
        registered this year reading 0 km)."""
        vehicle_id = api.city.vehicles["le-a1"]
        year = TODAY.year + 1
        with clock.travel(local_moment(date(year, 4, 1), time(9))):
            for kind, day, amount, km in (("fuel", date(year, 1, 10), "300.00", 1000),
                                          ("maintenance", date(year, 2, 10), "1200.00", 2000),
                                          ("fuel", date(year, 3, 10), "250.50", 3000)):
                r = api.as_("admin").post(f"/vehicles/{vehicle_id}/costs", json={
                    "kind": kind, "incurred_on": day.isoformat(), "amount_cny": amount, "odometer_km": km})
                assert r.status_code == 201, r.text
        page = api.as_("supervisor").get(f"/vehicles/{vehicle_id}/costs", params={"limit": 2}).json()
        assert (page["total"], [c["incurred_on"] for c in page["items"]]) == (
            3, [date(year, 3, 10).isoformat(), date(year, 2, 10).isoformat()])
        fuel = api.as_("dispatcher").get(f"/vehicles/{vehicle_id}/costs", params={
            "kind": "fuel", "since": date(year, 2, 1).isoformat()}).json()
        assert [(c["amount_cny"], c["odometer_km"]) for c in fuel["items"]] == [("250.50", 3000)]
        bad = api.as_("dispatcher").get(f"/vehicles/{vehicle_id}/costs", params={
            "since": "2030-02-01", "until": "2030-01-01"})
        assert (bad.status_code, bad.json()["field"]) == (422, "until")
        account = api.as_("dispatcher").get(f"/vehicles/{vehicle_id}/account", params={"year": year}).json()
        assert account["by_kind"] == {"fuel": "550.50", "maintenance": "1200.00"}
        assert (account["total_cny"], account["km"]) == ("1750.50", 3000)
        assert account["per_km_cny"] == "0.58"
        assert api.as_("dispatcher").get("/vehicles/99999/account", params={"year": 2030}).status_code == 404
        assert api.as_("dispatcher").get(f"/vehicles/{vehicle_id}/account").status_code == 422
