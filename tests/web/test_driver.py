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
        # Readings from the vehicle's own: no more than it can have driven since its last one (fleet.bookings).
        before = server.call("admin", "GET", f"/vehicles/{server.city.vehicles['le-a1']}")["odometer_km"]
        start, below, end = before + 120, before + 119, before + 154

        # The phone's clock too: its page asks for the trips of its own China date, which must be the test's day
        # even when the run crosses China's midnight.
        page.clock.install(time=at(9, day=today))
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
        dialog.get_by_test_id("odometer").fill(str(start))
        dialog.get_by_test_id("odometer-submit").click()
        expect(dialog).to_be_hidden()
        expect(card.get_by_test_id("trip-status")).to_have_text("出车中")
        expect(card).to_contain_text(f"{start} km")

        # 收车 with a reading below the start: refused by the server, and said under the field.
        card.get_by_test_id("driver-complete").click()
        dialog = page.get_by_role("dialog")
        odometer = dialog.get_by_test_id("odometer")
        expect(odometer).to_have_value(str(start))  # the start reading, to correct from
        odometer.fill(str(below))
        # The request and its answer awaited apart: when this has timed out under CI's load, the message says which
        # of the two never came (the answer may take as long as the server's write queue lets it).
        with page.expect_request(re.compile(rf"/api/v1/trips/{trip['id']}/complete$")) as sent:
            dialog.get_by_test_id("odometer-submit").click()
        refused = sent.value.response()
        assert refused is not None
        assert refused.status == 422
        assert refused.json()["field"] == "odometer_km"
        expect(field_error(odometer)).to_contain_text(str(below))
        expect(field_error(odometer)).not_to_contain_text("field")
        expect(card.get_by_test_id("trip-status")).to_have_text("出车中")
        phone.screenshot("refused-reading")

        odometer.fill(str(end))
        dialog.get_by_test_id("odometer-submit").click()
        expect(dialog).to_be_hidden()
        expect(card.get_by_test_id("trip-status")).to_have_text("已完成")
        expect(card.get_by_test_id("driver-complete")).to_have_count(0)
        done = server.call("dispatcher", "GET", f"/trips/{trip['id']}")
        assert (done["status"], done["odometer_start_km"], done["odometer_end_km"]) == ("completed", start, end)
        phone.screenshot("completed")


def test_a_reading_out_of_range_is_refused_as_typed_never_clamped(open_browsing: BrowsingFactory) -> None:
    """A mistyped 99999999 is refused under the field and left as typed (antd's InputNumber would clamp it to the
    3,000,000 maximum and send that); a reading in range but more than the car could have driven since the start
    is refused by the server; the vehicle's odometer moves only by what was really driven."""
    phone = open_browsing("phone", **PHONE)
    page, server = phone.page, phone.server
    phone.watch.expect_error(r"status of 422")  # the implausible reading the server refuses
    today = datetime.now(CHINA).date()
    vehicle = server.city.vehicles["le-a1"]
    with clock.travel(at(15, day=today)):
        trip = server.call("requester-a", "POST", "/trips", json=trip_body(
            purpose="今日下午执法检查", earliest_pickup=at(16, day=today).isoformat(),
            latest_pickup=at(16, 30, day=today).isoformat()))
        server.call("approver-a", "POST", f"/trips/{trip['id']}/approve", json={})
        server.call("dispatcher", "POST", f"/trips/{trip['id']}/assign", json={
            "vehicle_id": vehicle, "driver_id": server.city.drivers["driver-a"]})
    before = server.call("admin", "GET", f"/vehicles/{vehicle}")["odometer_km"]
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if re.search(r"/trips/\d+/(start|complete)$", r.url) else None)
    card = page.locator(f'[data-testid="driver-trip"][data-trip="{trip["id"]}"]')

    with clock.travel(at(16, 5, day=today)):
        page.clock.install(time=at(16, 5, day=today))  # the phone's China date is the test's day (see above)
        phone.sign_in("driver-a")
        card.get_by_test_id("driver-start").click()
        dialog = page.get_by_role("dialog")
        odometer = dialog.get_by_test_id("odometer")
        odometer.fill("99999999")
        dialog.get_by_test_id("odometer-submit").click()
        expect(field_error(odometer)).to_have_text("里程表读数应为 0 至 3,000,000 之间的整数公里")
        expect(odometer).to_have_value("99999999")  # as typed, after the field lost focus
        assert sent == []  # nothing was sent
        phone.screenshot("out-of-range")
        odometer.fill(str(before + 5))
        dialog.get_by_test_id("odometer-submit").click()
        expect(dialog).to_be_hidden()
        expect(card.get_by_test_id("trip-status")).to_have_text("出车中")

    with clock.travel(at(16, 40, day=today)):
        card.get_by_test_id("driver-complete").click()
        dialog = page.get_by_role("dialog")
        odometer = dialog.get_by_test_id("odometer")
        odometer.fill("3000010")
        dialog.get_by_test_id("odometer-submit").click()
        expect(field_error(odometer)).to_be_visible()
        expect(odometer).to_have_value("3000010")
        assert len(sent) == 1  # the start alone

        # In range, but 2,000 km in 35 minutes: the server refuses it, and says so under the field.
        odometer.fill(str(before + 2005))
        with page.expect_response(re.compile(rf"/api/v1/trips/{trip['id']}/complete$")) as answer:
            dialog.get_by_test_id("odometer-submit").click()
        assert answer.value.status == 422
        assert answer.value.json()["field"] == "odometer_km"
        expect(field_error(odometer)).to_contain_text(str(before + 2005))
        expect(card.get_by_test_id("trip-status")).to_have_text("出车中")
        assert server.call("admin", "GET", f"/vehicles/{vehicle}")["odometer_km"] == before + 5

        odometer.fill(str(before + 41))
        dialog.get_by_test_id("odometer-submit").click()
        expect(dialog).to_be_hidden()
        expect(card.get_by_test_id("trip-status")).to_have_text("已完成")
    done = server.call("dispatcher", "GET", f"/trips/{trip['id']}")
    assert (done["odometer_start_km"], done["odometer_end_km"]) == (before + 5, before + 41)
    assert server.call("admin", "GET", f"/vehicles/{vehicle}")["odometer_km"] == before + 41
