"""GET /reminders: what falls due within some days, or is overdue, in the caller's scope, with its filters."""

from __future__ import annotations

from datetime import timedelta

import pytest

from fleet import clock
from tests.api.conftest import AGENCY_A, AGENCY_B, Api

pytestmark = pytest.mark.usefixtures("hermetic_files")


def test_dates_set_by_patch_come_due(api: Api) -> None:
    today = clock.today()
    le_a1, gen_b1 = api.city.vehicles["le-a1"], api.city.vehicles["gen-b1"]
    admin = api.as_("admin")
    assert admin.patch(f"/vehicles/{le_a1}", json={
        "insurance_expires_on": (today + timedelta(days=12)).isoformat()}).status_code == 200
    assert admin.patch(f"/vehicles/{gen_b1}", json={
        "insurance_expires_on": (today - timedelta(days=2)).isoformat()}).status_code == 200
    assert admin.patch(f"/drivers/{api.city.drivers['driver-a']}", json={
        "licence_expires_on": (today + timedelta(days=20)).isoformat()}).status_code == 200

    r = api.as_("dispatcher").get("/reminders", params={"within_days": 30, "kind": ["insurance", "licence"]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["today"], body["until"]) == (today.isoformat(), (today + timedelta(days=30)).isoformat())
    found = [(i["kind"], i["subject"], i["agency"], i["days_left"]) for i in body["items"]]
    assert found == [("insurance", "vehicle", AGENCY_B, -2), ("insurance", "vehicle", AGENCY_A, 12),
                     ("licence", "driver", AGENCY_A, 20)]
    assert body["items"][1]["subject_id"] == le_a1
    assert "expires" in body["items"][1]["detail"]

    short = api.as_("supervisor").get("/reminders", params={"within_days": 5, "kind": "insurance"}).json()
    assert [i["days_left"] for i in short["items"]] == [-2]  # overdue ones always
    only_a = api.as_("admin").get("/reminders", params={"agency": AGENCY_A, "kind": "insurance"}).json()
    assert [i["agency"] for i in only_a["items"]] == [AGENCY_A]


@pytest.mark.parametrize(("params", "field"), [
    ({"within_days": -1}, "within_days"), ({"within_days": 99999}, "within_days"), ({"kind": "tax"}, "kind.0"),
    ({"days": 3}, "days"),
])
def test_bad_filters_are_422(api: Api, params: dict[str, object], field: str) -> None:
    r = api.as_("dispatcher").get("/reminders", params=params)
    assert (r.status_code, r.json()["field"]) == (422, field), r.text


def test_an_unknown_agency_is_404(api: Api) -> None:
    r = api.as_("dispatcher").get("/reminders", params={"agency": "NOPE"})
    assert (r.status_code, r.json()["field"]) == (404, "agency")
