"""The supervisor's findings page in Chromium (web/src/pages/FindingsPage.tsx): the usage audit's findings over a
period, filtered by kind, a finding opened from the keyboard with its evidence laid out and the vehicle's track drawn
on the map, the page in English, and the server's refusal of a period too long shown under the period.

The misuse is planted as a terminal would report it: fixes written with the ingest's writer (`fleet.positions.store`)
into the served database, on a day of this module's own (``FINDINGS_DAY``), on agency B's gen-b1, which no other
browser test drives. The car leaves its yard at 20:00 with no booking, drives into the East Lake scenic area (a
prohibited area of the shipped rules, fleet/usage_audit.yaml) and stops there: 非调度用车 and 越界.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pytest
from playwright.sync_api import Locator, Page, expect

from fleet import clock, positions
from fleet.db import unit_of_work
from tests.api.conftest import AGENCY_B, YARD_A, YARD_B, at, trip_body
from tests.web.conftest import Browsing, LiveServer, choose, field_error

FINDINGS_DAY = date(2030, 6, 11)  # a Tuesday no other browser test uses
POOLED_DAY = date(2030, 6, 12)  # the Wednesday after, no other browser test's either
EAST_LAKE = (30.5530, 114.4300)  # inside 东湖风景区磨山景区(示例)
PERIOD = f"since={FINDINGS_DAY.isoformat()}&until={FINDINGS_DAY.isoformat()}"


@dataclass
class Misuse:
    vehicle: int
    plate: str
    fixes: int
    start: datetime


@pytest.fixture(scope="module")
def misuse(live_server: LiveServer) -> Misuse:
    vehicle = live_server.city.vehicles["gen-b1"]
    start = at(20, day=FINDINGS_DAY)
    steps = 40  # a fix every 30 s for 20 minutes, from the yard to the lake at about 26 km/h
    track = [positions.Fix(vehicle_id=vehicle, fixed_at=start + timedelta(seconds=30 * i),
                           lat=YARD_B[0] + (EAST_LAKE[0] - YARD_B[0]) * i / steps,
                           lon=YARD_B[1] + (EAST_LAKE[1] - YARD_B[1]) * i / steps, speed_kmh=45, course=80)
             for i in range(steps + 1)]
    arrived = track[-1].fixed_at
    # Then parked by the lake for six minutes: the drive ends (a stop of five), and the stay inside is a visit.
    track += [positions.Fix(vehicle_id=vehicle, fixed_at=arrived + timedelta(minutes=m), lat=EAST_LAKE[0],
                            lon=EAST_LAKE[1], speed_kmh=0) for m in range(1, 7)]
    assert live_server.engine is not None
    with unit_of_work(live_server.engine) as session, clock.travel(arrived + timedelta(hours=1), tick=False):
        positions.store(session, track, received_at=arrived + timedelta(hours=1))  # no fix from the writer's future
    plate = live_server.call("supervisor", "GET", f"/vehicles/{vehicle}")["plate"]
    return Misuse(vehicle, plate, len(track), start)


def rows(page: Page) -> Locator:
    return page.get_by_test_id("finding-row")


def test_a_supervisor_finds_an_unbooked_drive_and_follows_it_on_the_map(browsing: Browsing, misuse: Misuse) -> None:
    page = browsing.page
    browsing.sign_in("supervisor")
    expect(page).to_have_url(re.compile(r"/findings$"))  # the supervisor's home
    expect(page.locator(".ant-menu-item-selected")).to_have_text("违规线索")

    browsing.goto(f"/findings?{PERIOD}")
    expect(page.get_by_test_id("findings-total")).to_have_text("共 2 条")
    drive = rows(page).filter(has_text="非调度用车")
    expect(drive).to_have_count(1)
    expect(drive.get_by_test_id("finding-plate")).to_have_text(misuse.plate)
    expect(drive).to_contain_text(f"{FINDINGS_DAY.isoformat()} 20:00")
    expect(drive).to_contain_text("无派车单")  # the server's sentence, in Chinese
    expect(rows(page).filter(has_text="越界")).to_have_count(1)
    browsing.screenshot("findings")

    # From the keyboard: the row takes the focus, and Enter opens the finding.
    drive.focus()
    expect(drive).to_be_focused()
    page.keyboard.press("Enter")
    drawer = page.get_by_test_id("finding-drawer")
    expect(drawer).to_be_visible()
    facts = drawer.get_by_test_id("finding-facts")
    expect(facts.get_by_test_id("finding-kind")).to_have_text("非调度用车")
    expect(facts.get_by_test_id("finding-plate")).to_have_text(misuse.plate)
    expect(facts.get_by_test_id("finding-at")).to_have_text(f"{FINDINGS_DAY.isoformat()} 20:00")
    # The evidence laid out: times in China time, distances with their units, places, its source in words.
    evidence = drawer.get_by_test_id("finding-evidence")
    expect(evidence.locator('[data-evidence="source"]')).to_have_text("车载终端轨迹")
    expect(evidence.locator('[data-evidence="start"]')).to_have_text(f"{FINDINGS_DAY.isoformat()} 20:00")
    expect(evidence.locator('[data-evidence="km"]')).to_have_text(re.compile(r"^8\.\d+ 公里$"))
    expect(evidence.locator('[data-evidence="from"]')).to_have_text(f"{YARD_B[0]:.5f}, {YARD_B[1]:.5f}")
    expect(evidence).to_contain_text("起点")
    expect(evidence).not_to_contain_text("{")  # not raw JSON

    # The vehicle's track over the drive's window, every planted fix of it, and the drive's two ends.
    the_map = drawer.get_by_test_id("finding-map")
    expect(the_map).to_have_attribute("data-drawn", "true")
    expect(the_map).to_have_attribute("data-track-lines", "1")
    expect(the_map).to_have_attribute("data-track-points", str(misuse.fixes))
    expect(the_map).to_have_attribute("data-evidence-points", "2")
    expect(drawer.get_by_test_id("finding-track-summary")).to_contain_text(f"{misuse.fixes} 个定位点")
    canvas = the_map.locator("canvas.maplibregl-canvas")
    expect(canvas).to_be_visible()
    page.wait_for_function("() => !document.querySelector('.maplibregl-map')?.classList.contains('loading')")
    the_map.scroll_into_view_if_needed()
    browsing.screenshot("finding-drawer")

    # In English: the kind's label and the server's sentence follow the switch.
    page.keyboard.press("Escape")
    expect(drawer).to_be_hidden()
    page.get_by_text("English", exact=True).click()
    expect(page.get_by_test_id("menu").get_by_role("menuitem").first).to_have_text("Findings")
    drive = rows(page).filter(has_text="Unscheduled drive")
    expect(drive).to_have_count(1)
    expect(drive).to_contain_text("with no booking")
    drive.click()
    expect(drawer.get_by_test_id("finding-kind")).to_have_text("Unscheduled drive")
    expect(drawer.get_by_test_id("finding-evidence").locator('[data-evidence="km"]')).to_have_text(
        re.compile(r"^8\.\d+ km$"))
    expect(drawer.get_by_test_id("finding-map")).to_have_attribute("data-track-points", str(misuse.fixes))
    browsing.screenshot("finding-english")


def test_the_kinds_filter_is_kept_in_the_address_and_a_refusal_shows_under_the_period(
        browsing: Browsing, misuse: Misuse) -> None:
    browsing.watch.expect_error(r"status of 422")  # the period too long, refused on purpose below
    page = browsing.page
    browsing.sign_in("supervisor")
    browsing.goto(f"/findings?{PERIOD}")
    expect(page.get_by_test_id("findings-total")).to_have_text("共 2 条")
    choose(page, page.get_by_test_id("finding-kinds"), "越界")
    expect(page).to_have_url(re.compile(rf"{PERIOD}&kind=geofence_entry$"))
    expect(rows(page)).to_have_count(1)
    expect(rows(page).get_by_test_id("finding-kind")).to_have_text("越界")

    # The same address opens the same view.
    url = page.url
    browsing.goto(url.removeprefix(browsing.server.base_url))
    expect(rows(page)).to_have_count(1)
    expect(page.get_by_test_id("finding-kinds")).to_contain_text("越界")
    rows(page).click()
    expect(page.get_by_test_id("finding-evidence").locator('[data-evidence="geofence"]')).to_contain_text("东湖")
    expect(page.get_by_test_id("finding-map")).to_have_attribute("data-evidence-points", "1")  # where it stopped

    # More than the 366 days the API answers: its sentence under the period, nothing listed.
    browsing.goto(f"/findings?since=2028-01-01&until={FINDINGS_DAY.isoformat()}")
    expect(field_error(page.get_by_test_id("finding-period"))).to_contain_text("366")
    expect(rows(page)).to_have_count(0)
    browsing.screenshot("refused-period")


@dataclass
class PooledTrip:
    trip: int
    plate: str
    fixes: int


@pytest.fixture(scope="module")
def pooled_trip(live_server: LiveServer) -> PooledTrip:
    """Agency B's routine trip at 21:00 on ``POOLED_DAY`` (after working hours: 非工作时间用车), served by agency A's
    gen-a1, as one pool's dispatch has it; gen-a1's terminal reports every minute from 20:00 to 23:00."""
    call = live_server.call
    trip = call("requester-b", "POST", "/trips", json=trip_body(
        agency=AGENCY_B, priority="routine", purpose="夜间会议接送", earliest_pickup=at(21, day=POOLED_DAY).isoformat(),
        latest_pickup=at(21, 15, day=POOLED_DAY).isoformat()))["id"]
    call("approver-b", "POST", f"/trips/{trip}/approve", json={"note": "同意"})
    vehicle = live_server.city.vehicles["gen-a1"]
    call("dispatcher", "POST", f"/trips/{trip}/assign", json={"vehicle_id": vehicle})
    start = at(20, day=POOLED_DAY)
    fixes = [positions.Fix(vehicle_id=vehicle, fixed_at=start + timedelta(minutes=m),
                           lat=YARD_A[0] + 0.0005 * m, lon=YARD_A[1] + 0.0003 * m, speed_kmh=30, course=30)
             for m in range(180)]
    assert live_server.engine is not None
    with unit_of_work(live_server.engine) as session, clock.travel(at(23, 30, day=POOLED_DAY), tick=False):
        positions.store(session, fixes, received_at=at(23, 30, day=POOLED_DAY))
    return PooledTrip(trip, call("dispatcher", "GET", f"/vehicles/{vehicle}")["plate"], len(fixes))


def test_a_county_supervisor_sees_the_track_of_its_trip_served_by_another_agencys_car(
        browsing: Browsing, pooled_trip: PooledTrip) -> None:
    """The county's supervisor sees B's trip, not A's car: the car's own track is not the county's to read (the API
    answers 404), so the finding's map draws the trip's track beside its planned route, and says so. Before, it
    said only that the track could not be shown: with pooled dispatch, most trip findings of a county."""
    browsing.watch.expect_error(r"status of 404")  # the car's own track, refused on purpose
    page = browsing.page
    browsing.sign_in("supervisor-county")
    browsing.goto(f"/findings?since={POOLED_DAY.isoformat()}&until={POOLED_DAY.isoformat()}")
    row = rows(page).filter(has_text=pooled_trip.plate)
    expect(row).to_have_count(1)
    expect(row).to_contain_text("21:00")
    row.click()
    drawer = page.get_by_test_id("finding-drawer")
    expect(drawer.get_by_test_id("finding-track-of-trip")).to_contain_text(f"行程 {pooled_trip.trip}")
    expect(drawer.get_by_test_id("finding-track-error")).to_have_count(0)
    the_map = drawer.get_by_test_id("finding-map")
    expect(the_map).to_have_attribute("data-drawn", "true")
    expect(the_map).to_have_attribute("data-track-lines", "1")
    points = int(the_map.get_attribute("data-track-points") or 0)
    assert 0 < points < pooled_trip.fixes, "the trip's stretch of the track, not the car's whole evening"
    expect(drawer.get_by_test_id("finding-track-summary")).to_contain_text("个定位点")
    page.wait_for_function("() => !document.querySelector('.maplibregl-map')?.classList.contains('loading')")
    the_map.scroll_into_view_if_needed()
    browsing.screenshot("finding-pooled-trip")
