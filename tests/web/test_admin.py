"""The admin's registry page in Chromium (web/src/pages/VehiclesPage.tsx): the admin lands on it, filters the vehicles
(kept in the address), opens one, seals it with a reason (an empty reason refused under the field, the table
following), sends it to the workshop with a reading the server refuses under the reading, reads the quotas against
the vehicles held and what falls due, and switches to English.

The shared city (tests/api/conftest.py) is left as the other browser tests expect it: this module registers a
vehicle of its own through the API as the admin would, of a category no other test books or counts (机要通信) at
agency B's yard (so no new yard or depot appears on their maps), under a quota it sets for it, marked (no finding).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from playwright.sync_api import Locator, Page, expect

from fleet import clock
from tests.api.conftest import AGENCY_B, YARD_B
from tests.factories import plate, vin
from tests.web.conftest import Browsing, LiveServer, choose, field_error

CATEGORY = "confidential_comms"  # only the vehicle registered here is of it
ODOMETER_KM = 12_000
INSURED_FOR_DAYS = 10  # its insurance falls due within the page's 30 days


@dataclass
class Car:
    id: int
    plate: str


@pytest.fixture(scope="module")
def car(live_server: LiveServer) -> Car:
    call = live_server.call
    call("admin", "PUT", "/quotas", json={"agency": AGENCY_B, "category": CATEGORY, "limit": 1,
                                          "reason": "机要通信用车编制"})
    serial = 7_400_001
    made = call("admin", "POST", "/vehicles", json={"agency": AGENCY_B, "vehicle": {
        "plate": plate(serial, nev=True), "vin": vin(serial), "model": "机要通信车", "category": CATEGORY,
        "powertrain": "bev", "range_km": 400, "seats": 5, "price_cny": "110000", "acquired_on": "2024-05-01",
        "odometer_km": ODOMETER_KM, "home_lat": YARD_B[0], "home_lon": YARD_B[1]}})
    insured_until = clock.today() + timedelta(days=INSURED_FOR_DAYS)
    call("admin", "PATCH", f"/vehicles/{made['id']}", json={"insurance_expires_on": insured_until.isoformat()})
    return Car(made["id"], made["plate"])


def rows(page: Page) -> Locator:
    return page.get_by_test_id("vehicle-row")


def car_row(page: Page, car: Car) -> Locator:
    return page.locator(f'[data-testid="vehicle-row"][data-vehicle="{car.id}"]')


def test_the_admin_filters_the_registry_and_seals_a_vehicle_with_its_reason(
        browsing: Browsing, live_server: LiveServer, car: Car) -> None:
    browsing.watch.expect_error(r"status of 422")  # the reading the server refuses, on purpose below
    page = browsing.page
    browsing.sign_in("admin")
    expect(page).to_have_url(re.compile(r"/vehicles$"))  # the admin's home
    expect(page.get_by_test_id("menu").get_by_role("menuitem")).to_have_text(["车辆台账", "车辆地图"])
    expect(page.locator(".ant-menu-item-selected")).to_have_text("车辆台账")
    expect(rows(page).first).to_be_visible()

    # The filters are the address's query, and the server's: agency B's confidential-communications vehicles.
    choose(page, page.get_by_test_id("vehicle-agency"), f"({AGENCY_B})")
    expect(page).to_have_url(re.compile(rf"/vehicles\?agency={AGENCY_B}$"))
    choose(page, page.get_by_test_id("vehicle-category"), "机要通信")
    expect(page).to_have_url(re.compile(rf"agency={AGENCY_B}&category={CATEGORY}$"))
    expect(page.get_by_test_id("vehicles-total")).to_have_text("共 1 辆")
    expect(rows(page)).to_have_count(1)
    row = car_row(page, car)
    expect(row.get_by_test_id("vehicle-plate")).to_have_text(car.plate)
    expect(row).to_contain_text("机要通信")
    expect(row).to_contain_text("纯电动")
    expect(row.get_by_test_id("new-energy")).to_have_text("新能源")
    expect(row).to_contain_text(f"({AGENCY_B})")
    expect(row).to_contain_text("2024-05-01")
    expect(row.get_by_test_id("vehicle-status")).to_have_text("在用")
    # By powertrain as well: no combustion car among them; the battery one.
    choose(page, page.get_by_test_id("vehicle-powertrain-filter"), "燃油")
    expect(page).to_have_url(re.compile(rf"category={CATEGORY}&powertrain=ice$"))
    expect(rows(page)).to_have_count(0)
    choose(page, page.get_by_test_id("vehicle-powertrain-filter"), "纯电动")
    expect(page).to_have_url(re.compile(rf"category={CATEGORY}&powertrain=bev$"))
    expect(rows(page)).to_have_count(1)

    # The plate searched, then the same address opened again: the same view.
    search = page.get_by_test_id("vehicle-search").locator("input")
    search.fill(car.plate[-5:])
    search.press("Enter")
    expect(page).to_have_url(re.compile(rf"category={CATEGORY}&powertrain=bev&q={car.plate[-5:]}$"))
    browsing.goto(page.url.removeprefix(live_server.base_url))
    expect(rows(page)).to_have_count(1)
    expect(page.get_by_test_id("vehicle-category")).to_contain_text("机要通信")
    expect(search).to_have_value(car.plate[-5:])
    browsing.screenshot("registry")

    # Opened from the keyboard: its record.
    car_row(page, car).focus()
    page.keyboard.press("Enter")
    drawer = page.get_by_test_id("vehicle-drawer")
    record = drawer.get_by_test_id("vehicle-record")
    expect(record.get_by_test_id("record-plate")).to_have_text(car.plate)
    expect(record.get_by_test_id("record-odometer")).to_have_text("12,000 公里")
    expect(record.get_by_test_id("vehicle-status")).to_have_text("在用")
    expect(drawer.get_by_test_id("move-unseal")).to_have_count(0)  # only what an active vehicle allows

    # Sealed: an empty reason is refused under the field, before anything is sent; then with its reason.
    drawer.get_by_test_id("move-seal").click()
    dialog = page.get_by_role("dialog").filter(has=page.get_by_test_id("move-reason"))
    expect(dialog).to_contain_text("已派但尚未出车的行程将退回调度队列")
    reason = dialog.get_by_test_id("move-reason")
    page.get_by_test_id("move-submit").click()
    expect(field_error(reason)).to_have_text("请填写原因")
    assert live_server.call("admin", "GET", f"/vehicles/{car.id}")["status"] == "active"
    reason.fill("编制核减，长期闲置待处置")
    page.get_by_test_id("move-submit").click()
    expect(page.get_by_test_id("move-done")).to_contain_text(f"{car.plate} 已封存")
    expect(dialog).to_be_hidden()
    expect(record.get_by_test_id("vehicle-status")).to_have_text("封存")
    expect(car_row(page, car).get_by_test_id("vehicle-status")).to_have_text("封存")  # the table follows
    assert live_server.call("admin", "GET", f"/vehicles/{car.id}")["status"] == "sealed"
    expect(drawer.get_by_test_id("move-seal")).to_have_count(0)

    # Unsealed, then to the workshop with a reading below the one it was registered with: the server's refusal
    # under the reading, nothing changed.
    drawer.get_by_test_id("move-unseal").click()
    dialog.get_by_test_id("move-reason").fill("恢复公务使用")
    page.get_by_test_id("move-submit").click()
    expect(car_row(page, car).get_by_test_id("vehicle-status")).to_have_text("在用")
    drawer.get_by_test_id("move-maintenance_in").click()
    dialog.get_by_test_id("move-reason").fill("定期保养")
    odometer = dialog.get_by_test_id("move-odometer")
    odometer.fill("100")
    page.get_by_test_id("move-submit").click()
    expect(field_error(odometer)).to_contain_text(str(ODOMETER_KM))
    expect(dialog).to_be_visible()
    assert live_server.call("admin", "GET", f"/vehicles/{car.id}")["status"] == "active"
    browsing.screenshot("refused-reading")

    # In English: the page's words and the registry's labels follow, and the server's refusal comes in English.
    dialog.get_by_role("button", name=re.compile("取 ?消")).click()
    expect(dialog).to_be_hidden()
    page.keyboard.press("Escape")
    expect(drawer).to_be_hidden()
    page.get_by_text("English", exact=True).click()
    expect(page.get_by_test_id("menu").get_by_role("menuitem")).to_have_text(["Vehicles", "Vehicle map"])
    expect(page.locator(".ant-table-thead").get_by_text("Plate", exact=True)).to_be_visible()
    row = car_row(page, car)
    expect(row).to_contain_text("Confidential comms")
    expect(row).to_contain_text("Battery electric")
    expect(row.get_by_test_id("new-energy")).to_have_text("New energy")
    expect(row.get_by_test_id("vehicle-status")).to_have_text("Active")
    row.click()
    drawer.get_by_test_id("move-maintenance_in").click()
    expect(dialog).to_contain_text("Into the workshop")
    page.get_by_test_id("move-submit").click()
    expect(field_error(reason)).to_have_text("State the reason")
    reason.fill("scheduled service")
    odometer.fill("100")
    page.get_by_test_id("move-submit").click()
    expect(field_error(odometer)).to_contain_text("below an earlier reading")
    browsing.screenshot("registry-english")


def test_the_quotas_are_set_against_the_vehicles_held_and_what_falls_due_opens_the_vehicle(
        browsing: Browsing, car: Car) -> None:
    page = browsing.page
    browsing.sign_in("admin")
    page.get_by_test_id("registry-tabs").get_by_role("tab", name="编制").click()
    expect(page).to_have_url(re.compile(r"/vehicles\?tab=quotas$"))
    quota = page.locator(f'[data-testid="quota-row"][data-agency="{AGENCY_B}"][data-category="{CATEGORY}"]')
    expect(quota.get_by_test_id("quota-held")).to_have_text("1")  # sealed or not, it counts
    expect(quota).to_contain_text("机要通信")
    expect(quota).to_have_attribute("data-over", "false")
    # Agency A's law-enforcement quota of 3 against its two (tests/api/conftest.py).
    enforcement = page.locator('[data-testid="quota-row"][data-agency="WH-GA"][data-category="law_enforcement"]')
    expect(enforcement.get_by_test_id("quota-held")).to_have_text("2")
    expect(enforcement).to_contain_text("3")
    browsing.screenshot("quotas")

    # What falls due: its insurance, which opens the vehicle.
    page.get_by_test_id("reminders-tab").click()
    expect(page).to_have_url(re.compile(r"/vehicles\?tab=reminders$"))
    due = page.locator('[data-testid="reminder-row"][data-kind="insurance"]').filter(has_text=car.plate)
    expect(due).to_contain_text("保险到期")
    expect(due).to_contain_text(f"{INSURED_FOR_DAYS} 天后")
    due.click()
    expect(page.get_by_test_id("vehicle-drawer").get_by_test_id("record-plate")).to_have_text(car.plate)
    browsing.screenshot("reminders")
