"""The dispatcher's live map in Chromium (web/src/dispatcher/DayMapView.tsx): every vehicle where its newest fix
puts it, moved at the next poll when a new fix arrives, and a chosen trip's track drawn beside its planned route.

Fixes are written with the ingest's writer (`fleet.positions.store`) into the served database: the live ones at
the wall clock's now, the trip's on a day of this module's own (``TRACK_DAY``), on agency A's le-a2, which no other
browser test assigns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pytest
from playwright.sync_api import Locator, Page, expect

from fleet import clock, positions
from fleet.db import unit_of_work
from tests.api.conftest import YARD_A, YARD_B, at, trip_body
from tests.web.conftest import Browsing, LiveServer, open_dropdown

TRACK_DAY = date(2030, 5, 14)  # a Tuesday no other browser test books


@dataclass
class Scene:
    trip: int
    vehicle: int  # the trip's vehicle
    moving: int  # a vehicle on the road now
    parked: int  # one whose terminal went quiet hours ago
    track_fixes: int


def store(server: LiveServer, fixes: list[positions.Fix], at_moment: datetime | None = None,
          received: datetime | None = None) -> None:
    assert server.engine is not None
    with unit_of_work(server.engine) as session:
        if at_moment is None:
            positions.store(session, fixes, received_at=received)
        else:  # fixes of another day: the writer takes no fix from its future
            with clock.travel(at_moment, tick=False):
                positions.store(session, fixes, received_at=at_moment)


@pytest.fixture(scope="module")
def scene(live_server: LiveServer) -> Scene:
    call = live_server.call
    vehicles = live_server.city.vehicles
    booked = call("requester-a", "POST", "/trips", json=trip_body(
        purpose="轨迹核查", earliest_pickup=at(10, day=TRACK_DAY).isoformat(),
        latest_pickup=at(10, 30, day=TRACK_DAY).isoformat()))
    call("approver-a", "POST", f"/trips/{booked['id']}/approve", json={"note": "同意"})
    assigned = call("dispatcher", "POST", f"/trips/{booked['id']}/assign", json={"vehicle_id": vehicles["le-a2"]})
    start = datetime.fromisoformat(assigned["assignment"]["starts_at"])
    # A fix a minute over the first 20 minutes of the assignment, heading for the pickup.
    track = [positions.Fix(vehicle_id=vehicles["le-a2"], fixed_at=start + timedelta(minutes=i),
                           lat=YARD_A[0] + i * 0.0005, lon=YARD_A[1] + i * 0.0002, speed_kmh=40, course=20)
             for i in range(20)]
    store(live_server, track, at_moment=start + timedelta(minutes=30))
    now = clock.now()
    store(live_server, [positions.Fix(vehicle_id=vehicles["le-a1"], fixed_at=now - timedelta(seconds=5),
                                      lat=30.6000, lon=114.3000, speed_kmh=42, course=45)])
    quiet = now - timedelta(hours=3)  # received then too: the terminal has been silent since
    store(live_server, [positions.Fix(vehicle_id=vehicles["le-b1"], fixed_at=quiet, lat=YARD_B[0], lon=YARD_B[1])],
          received=quiet)
    return Scene(booked["id"], vehicles["le-a2"], vehicles["le-a1"], vehicles["le-b1"], len(track))


def marker(page: Page, vehicle_id: int) -> Locator:
    return page.locator(f'[data-testid="vehicle-marker"][data-vehicle="{vehicle_id}"]')


def test_the_dispatcher_watches_vehicles_move_and_a_trips_track_beside_its_plan(browsing: Browsing,
                                                                                scene: Scene) -> None:
    browsing.sign_in("dispatcher")
    browsing.goto(f"/map?day={TRACK_DAY.isoformat()}")
    page = browsing.page
    moving, parked = marker(page, scene.moving), marker(page, scene.parked)
    expect(moving).to_be_visible()
    expect(moving).to_have_attribute("data-online", "true")
    expect(moving).to_have_attribute("data-lon", "114.300000")  # the test city's base map is WGS-84: no shift
    expect(moving).to_have_attribute("data-lat", "30.600000")
    expect(parked).to_have_attribute("data-online", "false")
    plate = browsing.server.call("dispatcher", "GET", f"/vehicles/{scene.moving}")["plate"]
    expect(moving).to_contain_text(plate)
    online = int(page.get_by_test_id("live-online").inner_text())
    assert online >= 1
    assert int(page.get_by_test_id("live-offline").inner_text()) >= 1

    # A new fix: the marker moves at the next poll (every 5 s), without a reload.
    store(browsing.server, [positions.Fix(vehicle_id=scene.moving, fixed_at=clock.now(), lat=30.6100,
                                          lon=114.3200, speed_kmh=45, course=60)])
    expect(moving).to_have_attribute("data-lat", "30.610000", timeout=15_000)
    expect(moving).to_have_attribute("data-lon", "114.320000")

    # A trip of the day: its track (what the terminal reported) beside its planned route.
    page.get_by_test_id("track-trip").click()
    open_dropdown(page).locator(".ant-select-item-option").filter(has_text=f"#{scene.trip} ").click()
    expect(page).to_have_url(re.compile(rf"trip={scene.trip}"))
    expect(page.get_by_test_id("track-summary")).to_contain_text(f"{scene.track_fixes} 个定位点")
    the_map = page.get_by_test_id("day-map")
    expect(the_map).to_have_attribute("data-track-lines", "1")
    expect(the_map).to_have_attribute("data-track-points", str(scene.track_fixes))
    expect(the_map).to_have_attribute("data-planned-lines", "1")
    page.wait_for_function("() => !document.querySelector('.maplibregl-map')?.classList.contains('loading')")
    browsing.screenshot("tracks-map")
