"""A driver on a phone in Chromium (390×844): today's trips in China time, 出车 and 收车 with odometer readings, and a
reading the server refuses shown next to the field."""

from __future__ import annotations

import re
from datetime import datetime

from playwright.sync_api import expect

from fleet import clock
from fleet.clock import CHINA
from tests.api.conftest import at, trip_body
from tests.web.conftest import BrowsingFactory, field_error

PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 3, "is_mobile": True, "has_touch": True}


def test_a_driver_starts_and_completes_todays_trip_with_the_odometer(open_browsing: BrowsingFactory) -> None:
    phone = open_browsing("phone", **PHONE)
    page, server = phone.page, phone.server
    phone.watch.expect_error(r"status of 422")  # the reading this test gets refused
    today = datetime.now(CHINA).date()
    # The trip is at 10:00 today: the platform's clock (the live server runs in this process) is moved to 09:00 so
    # that booking it is not a back-fill, and the driver starts and completes it "now".
    with clock.travel(at(9, day=today)):
        trip = server.call("requester-a", "POST", "/trips", json=trip_body(
            purpose="今日执法检查", earliest_pickup=at(10, day=today).isoformat(),
            latest_pickup=at(10, 30, day=today).isoformat()))
        server.call("approver-a", "POST", f"/trips/{trip['id']}/approve", json={})
        assigned = server.call("dispatcher", "POST", f"/trips/{trip['id']}/assign", json={
            "vehicle_id": server.city.vehicles["le-a1"], "driver_id": server.city.drivers["driver-a"]})
        plate = assigned["assignment"]["plate"]

        phone.sign_in("driver-a")
        expect(page).to_have_url(re.compile(r"/driver$"))
        expect(page.get_by_test_id("driver-day")).to_contain_text(today.isoformat())
        card = page.locator(f'[data-testid="driver-trip"][data-trip="{trip["id"]}"]')
        expect(card.get_by_test_id("driver-window")).to_have_text("10:00–10:30")  # China time, on a New York phone
        expect(card.get_by_test_id("driver-plate")).to_have_text(plate)
        expect(card.get_by_test_id("trip-status")).to_have_text("已派车")
        expect(card).to_contain_text("江岸区沿江大道")
        expect(card).to_contain_text("黄陂区前川街")
        # A phone's page: nothing wider than the screen.
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        phone.screenshot("today")

        card.get_by_test_id("driver-start").click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_test_id("odometer").fill("12000")
        dialog.get_by_test_id("odometer-submit").click()
        expect(dialog).to_be_hidden()
        expect(card.get_by_test_id("trip-status")).to_have_text("出车中")
        expect(card).to_contain_text("12000 km")

        # 收车 with a reading below the start: refused by the server, and said under the field.
        card.get_by_test_id("driver-complete").click()
        dialog = page.get_by_role("dialog")
        odometer = dialog.get_by_test_id("odometer")
        expect(odometer).to_have_value("12000")  # the start reading, to correct from
        odometer.fill("11900")
        # The request and its answer awaited apart: when this has timed out under CI's load, the message says which
        # of the two never came (the answer may take as long as the server's write queue lets it).
        with page.expect_request(re.compile(rf"/api/v1/trips/{trip['id']}/complete$")) as sent:
            dialog.get_by_test_id("odometer-submit").click()
        refused = sent.value.response()
        assert refused is not None
        assert refused.status == 422
        assert refused.json()["field"] == "odometer_km"
        expect(field_error(odometer)).to_contain_text("11900")
        expect(field_error(odometer)).not_to_contain_text("field")
        expect(card.get_by_test_id("trip-status")).to_have_text("出车中")
        phone.screenshot("refused-reading")

        odometer.fill("12034")
        dialog.get_by_test_id("odometer-submit").click()
        expect(dialog).to_be_hidden()
        expect(card.get_by_test_id("trip-status")).to_have_text("已完成")
        expect(card.get_by_test_id("driver-complete")).to_have_count(0)
        done = server.call("dispatcher", "GET", f"/trips/{trip['id']}")
        assert (done["status"], done["odometer_start_km"], done["odometer_end_km"]) == ("completed", 12000, 12034)
        phone.screenshot("completed")
