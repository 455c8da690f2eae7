"""The dispatcher's day in Chromium (web/src/dispatcher): the day board with its queue, dragging trips onto vehicles
(refused on a busy one, landing on a free one), a dispatch run found on the board, an urgent emergency placed at
once, and the map of the day with its scale bar.

The shared city (tests/api/conftest.py, tests/web/conftest.py) is left as the other browser tests expect it: this
module works on a day of its own (``DESK_DAY``) with trips of an agency no requester or approver belongs to, on two
special-technical vehicles added to agency A's yard. It sets that up through the API as the admin and the dispatcher
would.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, Route, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.api.conftest import AGENCY_A, YARD_A, at
from tests.factories import plate, vin
from tests.web.conftest import Browsing, BrowsingFactory, LiveServer, field_error

DESK_DAY = date(2030, 4, 16)  # a Tuesday no other browser test books
DESK_AGENCY = "WH-YJ"  # booked for by the platform only: no requester or approver sees its trips
CATEGORY = "special_technical"  # only the two vehicles added here are of it


def when(hour: int, minute: int = 0) -> str:
    return at(hour, minute, DESK_DAY).isoformat()


@dataclass
class Desk:
    vehicles: dict[str, int]  # name -> id
    plates: dict[str, str]
    trips: dict[str, int]


def _trip(purpose: str, start: tuple[int, int], end: tuple[int, int], **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "agency": DESK_AGENCY, "purpose": purpose, "priority": "law_enforcement", "passengers": 2,
        "categories": [CATEGORY],
        "pickup": {"lat": YARD_A[0] + 0.02, "lon": YARD_A[1] + 0.01, "address": "江岸区解放大道"},
        "dropoff": {"lat": YARD_A[0] + 0.04, "lon": YARD_A[1] + 0.05, "address": "青山区和平大道"},
        "earliest_pickup": when(*start), "latest_pickup": when(*end), "dwell_min": 30,
        # The agency has no approver on the platform: it approves by phone, and the dispatcher records that.
        "approval_basis": "应急管理局办公室电话同意",
    }
    body.update(extra)
    return body


@pytest.fixture(scope="module")
def desk(live_server: LiveServer) -> Desk:
    """Two special-technical vehicles at agency A's yard, an agency the platform books for, and on ``DESK_DAY``: a
    trip already on the first vehicle (14:00), one waiting that overlaps it (14:05), one for a dispatch run (10:00)."""
    call = live_server.call
    call("admin", "POST", "/agencies", json={"code": DESK_AGENCY, "name": "应急管理局", "jurisdiction": "420100"})
    call("admin", "PUT", "/quotas", json={"agency": AGENCY_A, "category": CATEGORY, "limit": 2,
                                          "reason": "特种专业技术用车编制"})
    vehicles: dict[str, int] = {}
    plates: dict[str, str] = {}
    for n, name in enumerate(("st-1", "st-2"), start=1):
        serial = 7_300_000 + n
        body = {"agency": AGENCY_A, "vehicle": {
            "plate": plate(serial), "vin": vin(serial), "model": "勘查车", "category": CATEGORY, "powertrain": "ice",
            "seats": 5, "price_cny": str(Decimal(180000)), "displacement_l": "2.0", "acquired_on": "2024-05-01",
            "home_lat": YARD_A[0], "home_lon": YARD_A[1]}}
        made = call("admin", "POST", "/vehicles", json=body)
        vehicles[name], plates[name] = made["id"], made["plate"]
    busy = call("dispatcher", "POST", "/trips", json=_trip("现场勘验", (14, 0), (14, 0)))
    call("dispatcher", "POST", f"/trips/{busy['id']}/assign", json={"vehicle_id": vehicles["st-1"]})
    waiting = call("dispatcher", "POST", "/trips", json=_trip("危险品抽检", (14, 5), (14, 20)))
    batch = call("dispatcher", "POST", "/trips", json=_trip("取样送检", (10, 0), (10, 30)))
    for booked in (waiting, batch):
        assert booked["status"] == "approved", booked
    return Desk(vehicles, plates, {"busy": busy["id"], "waiting": waiting["id"], "batch": batch["id"]})


def open_board(browsing: Browsing) -> Page:
    browsing.sign_in("dispatcher")
    browsing.goto(f"/board?day={DESK_DAY.isoformat()}")
    page = browsing.page
    expect(page.get_by_test_id("board-timeline").locator(".vis-label .gc-group").first).to_be_visible()
    return page


def row(page: Page, vehicle_id: int) -> Locator:
    """A vehicle's row in the timeline's item area (where trips are dropped)."""
    return page.locator(f".vis-foreground .vis-group.gc-row-{vehicle_id}")


def item(page: Page, trip_id: int) -> Locator:
    return page.locator(f'.vis-item[data-trip_id="{trip_id}"]')


def queued(page: Page, trip_id: int) -> Locator:
    return page.locator(f'[data-testid="queue-trip"][data-trip="{trip_id}"]')


def in_row(page: Page, trip_id: int, vehicle_id: int) -> Locator:
    return row(page, vehicle_id).locator(f'.vis-item[data-trip_id="{trip_id}"]')


def test_the_board_shows_the_days_vehicles_their_trips_and_the_queue(browsing: Browsing, desk: Desk) -> None:
    page = open_board(browsing)
    label = page.locator(f'.gc-group[data-vehicle="{desk.vehicles["st-1"]}"]')
    expect(label).to_contain_text(desk.plates["st-1"])
    expect(label).to_contain_text("特种专业技术")  # its category and powertrain, the registry's labels
    expect(label).to_contain_text("燃油")
    expect(in_row(page, desk.trips["busy"], desk.vehicles["st-1"])).to_contain_text("现场勘验")
    expect(queued(page, desk.trips["waiting"])).to_contain_text("危险品抽检")
    expect(queued(page, desk.trips["waiting"]).get_by_test_id("queue-priority")).to_have_text("执法执勤")
    expect(queued(page, desk.trips["waiting"])).to_contain_text("2030-04-16 14:05–14:20")  # China time in New York

    # The filters are the client's: the category filter leaves the two special-technical vehicles.
    page.get_by_test_id("filter-categories").click()
    page.locator(".ant-select-dropdown").get_by_text("特种专业技术", exact=True).click()
    page.keyboard.press("Escape")
    expect(page.locator(".vis-label .gc-group")).to_have_count(2)
    expect(page.get_by_test_id("board-counts")).to_contain_text("车辆 2/")
    browsing.screenshot("board")

    # In English: the console's words and the vocabularies' values in words.
    page.get_by_text("English", exact=True).click()
    expect(label).to_contain_text("Special technical · Petrol/diesel · WH-GA")  # not "Ice", the code capitalised
    expect(queued(page, desk.trips["waiting"]).get_by_test_id("queue-priority")).to_have_text("Law enforcement")
    expect(page.get_by_test_id("board-counts")).to_contain_text("Vehicles 2/")
    page.get_by_text("中文", exact=True).click()


def test_a_trip_dropped_on_a_busy_vehicle_is_refused_and_on_a_free_one_it_lands(browsing: Browsing, desk: Desk) -> None:
    browsing.watch.expect_error(r"status of 409")  # the browser's own line for the refused assignment
    page = open_board(browsing)
    waiting, busy = desk.trips["waiting"], desk.trips["busy"]
    st1, st2 = desk.vehicles["st-1"], desk.vehicles["st-2"]

    # Onto the first vehicle, which holds trip `busy` from 14:00: the server refuses, naming it, and nothing moves.
    queued(page, waiting).drag_to(row(page, st1))
    refusal = page.get_by_test_id("assign-refused")
    expect(refusal).to_be_visible()
    expect(refusal).to_contain_text(desk.plates["st-1"])
    expect(refusal).to_contain_text(str(busy))
    expect(queued(page, waiting)).to_be_visible()
    expect(item(page, waiting)).to_have_count(0)
    expect(row(page, st1).locator(".vis-item")).to_have_count(1)
    browsing.screenshot("refused")

    # Onto the second, free vehicle: it lands there and leaves the queue.
    queued(page, waiting).drag_to(row(page, st2))
    expect(page.get_by_test_id("assign-done")).to_contain_text(desk.plates["st-2"])
    expect(in_row(page, waiting, st2)).to_be_visible()
    expect(queued(page, waiting)).to_have_count(0)
    assert live_trip(browsing.server, waiting)["assignment"]["vehicle_id"] == st2
    browsing.screenshot("landed")


def live_trip(server: LiveServer, trip_id: int) -> dict[str, Any]:
    trip: dict[str, Any] = server.call("dispatcher", "GET", f"/trips/{trip_id}")
    return trip


def trip_count(server: LiveServer) -> int:
    count: int = server.call("dispatcher", "GET", "/trips?limit=1")["total"]
    return count


def drag_item(page: Page, trip_id: int, vehicle_id: int) -> None:
    """Drag an assignment on the timeline onto another vehicle's row."""
    item(page, trip_id).locator(".gc-item-text").drag_to(row(page, vehicle_id))


def test_an_assignment_moved_to_another_vehicle_is_reassigned_and_one_unassigned_goes_back_to_the_queue(
        browsing: Browsing, desk: Desk) -> None:
    browsing.watch.expect_error(r"status of 409")
    call = browsing.server.call
    st1, st2 = desk.vehicles["st-1"], desk.vehicles["st-2"]
    moving = call("dispatcher", "POST", "/trips", json=_trip("设备巡检", (16, 0), (16, 0)))["id"]
    holding = call("dispatcher", "POST", "/trips", json=_trip("样品转运", (16, 5), (16, 5)))["id"]
    call("dispatcher", "POST", f"/trips/{moving}/assign", json={"vehicle_id": st2})
    call("dispatcher", "POST", f"/trips/{holding}/assign", json={"vehicle_id": st1})
    page = open_board(browsing)
    expect(in_row(page, moving, st2)).to_be_visible()

    # Onto the first vehicle, which `holding` holds then: refused, and the item goes back to its row.
    drag_item(page, moving, st1)
    expect(page.get_by_test_id("assign-refused")).to_contain_text(str(holding))
    expect(in_row(page, moving, st2)).to_be_visible()
    expect(in_row(page, moving, st1)).to_have_count(0)

    # Unassign `holding` from its details (its dispatch slip is there too): it goes back to the queue.
    item(page, holding).locator(".gc-item-text").click()
    drawer = page.get_by_test_id("trip-drawer")
    expect(drawer.get_by_test_id("drawer-plate")).to_have_text(desk.plates["st-1"])
    expect(drawer.get_by_test_id("slip-link")).to_have_attribute("href", f"/api/v1/trips/{holding}/slip?format=html")
    browsing.screenshot("drawer")
    drawer.get_by_test_id("unassign").click()
    page.get_by_test_id("unassign-note").fill("车辆临时调整")
    page.locator(".ant-popconfirm").get_by_role("button", name=re.compile("确 ?定|OK")).click()
    expect(page.get_by_test_id("unassign-done")).to_be_visible()
    expect(queued(page, holding)).to_be_visible()
    expect(item(page, holding)).to_have_count(0)
    expect(page.locator(".ant-drawer-open")).to_have_count(0)  # the details closed with the trip unassigned

    # Now the first vehicle is free then: the move lands.
    drag_item(page, moving, st1)
    expect(page.get_by_test_id("assign-done")).to_contain_text(desk.plates["st-1"])
    expect(in_row(page, moving, st1)).to_be_visible()
    assert live_trip(browsing.server, moving)["assignment"]["vehicle_id"] == st1
    assert live_trip(browsing.server, holding)["status"] == "approved"
    browsing.screenshot("moved")


def pick(page: Page, test_id: str, value: str) -> None:
    """Type a date and time into an Ant Design picker and confirm it."""
    field = page.get_by_test_id(test_id)
    field.click()
    field.fill(value)
    field.press("Enter")
    expect(field).to_have_value(value)


def test_the_dispatcher_dispatches_a_window_and_finds_the_trip_on_the_board(browsing: Browsing, desk: Desk) -> None:
    page = open_board(browsing)
    batch = desk.trips["batch"]
    expect(queued(page, batch)).to_be_visible()
    page.get_by_test_id("dispatch-open").click()
    dialog = page.get_by_test_id("dispatch-dialog")
    expect(page.get_by_test_id("dispatch-start")).to_have_value("2030-04-16 00:00")  # the board's day, China time
    pick(page, "dispatch-start", "2030-04-16 09:00")
    pick(page, "dispatch-end", "2030-04-16 12:00")
    page.get_by_test_id("dispatch-time-limit").fill("5")
    page.get_by_test_id("dispatch-submit").click()
    expect(page.get_by_test_id("dispatch-progress")).to_be_visible()
    expect(page.get_by_test_id("dispatch-elapsed")).to_contain_text("/ 时限 5 秒")
    browsing.screenshot("dispatching")

    result = dialog.get_by_test_id("dispatch-result")
    expect(result).to_be_visible(timeout=60_000)
    expect(result.get_by_test_id("served-law_enforcement")).to_have_text("1/1")
    expect(result.get_by_test_id("served-table")).to_contain_text("执法执勤")
    expect(result.get_by_test_id("dispatch-km")).to_contain_text("公里")
    browsing.screenshot("dispatched")
    page.get_by_test_id("dispatch-close").click()

    on = live_trip(browsing.server, batch)["assignment"]
    assert on is not None
    assert on["vehicle_id"] in (desk.vehicles["st-1"], desk.vehicles["st-2"])
    expect(in_row(page, batch, on["vehicle_id"])).to_be_visible()
    expect(queued(page, batch)).to_have_count(0)

    page.get_by_role("tab", name="调度记录").click()
    runs = page.get_by_test_id("runs-table")
    expect(runs.locator("tr.ant-table-row").first).to_contain_text("已完成")
    expect(runs.locator("tr.ant-table-row").first).to_contain_text("1/1 单")
    browsing.screenshot("runs")


def fill_urgent(page: Page) -> None:
    """The urgent form, opened on the board and filled: an emergency of the desk's agency, for a special vehicle."""
    page.get_by_test_id("urgent-open").click()
    page.get_by_test_id("urgent-agency").click()
    page.locator(".ant-select-dropdown").get_by_text(f"应急管理局 ({DESK_AGENCY})").click()
    page.get_by_test_id("urgent-purpose").fill("化工园区泄漏现场处置")
    page.get_by_test_id("urgent-passengers").fill("3")
    page.get_by_test_id("urgent-approval-basis").fill("应急管理局局长电话同意")
    page.get_by_test_id("pickup-address").locator("input").fill("青山区化工大道")
    page.get_by_test_id("pickup-lat").fill(str(YARD_A[0] + 0.03))
    page.get_by_test_id("pickup-lon").fill(str(YARD_A[1] + 0.08))
    page.get_by_test_id("dropoff-address").locator("input").fill("武汉市第一医院")
    page.get_by_test_id("dropoff-lat").fill(str(YARD_A[0] - 0.01))
    page.get_by_test_id("dropoff-lon").fill(str(YARD_A[1] - 0.02))
    pick(page, "urgent-earliest", "2030-04-16 11:00")
    pick(page, "urgent-latest", "2030-04-16 11:15")
    page.get_by_test_id("urgent-categories").click()
    page.locator(".ant-select-dropdown").last.get_by_text("特种专业技术", exact=True).click()
    page.keyboard.press("Escape")


def test_an_urgent_emergency_is_placed_at_once_on_a_vehicle(browsing: Browsing, desk: Desk) -> None:
    page = open_board(browsing)
    fill_urgent(page)
    dialog = page.get_by_test_id("urgent-dialog")
    browsing.screenshot("urgent-form")
    page.get_by_test_id("urgent-submit").click()

    chosen = dialog.get_by_test_id("urgent-vehicle")
    expect(chosen).to_contain_text(re.compile(f"已派车：({desk.plates['st-1']}|{desk.plates['st-2']})"))
    outcome, placed = dialog.get_by_test_id("urgent-outcome").inner_text(), chosen.inner_text()
    booked = int(re.search(r"行程 #(\d+) 已登记", outcome).group(1))  # type: ignore[union-attr]
    browsing.screenshot("urgent-placed")
    page.get_by_test_id("urgent-close").click()
    expect(dialog).to_be_hidden()

    trip = live_trip(browsing.server, booked)
    assert trip["priority"] == "emergency"
    assert trip["status"] == "assigned"
    assert trip["assignment"]["plate"] in placed
    expect(in_row(page, booked, trip["assignment"]["vehicle_id"])).to_have_class(re.compile("gc-priority-emergency"))


def test_a_busy_server_is_asked_again_with_the_same_key_and_the_emergency_is_placed_once(
        browsing: Browsing, desk: Desk) -> None:
    """The first POST answers 503 (busy) with Retry-After: the form sends the same booking again by itself, with the
    same Idempotency-Key, and the dispatcher sees the vehicle; the server holds one trip, not two."""
    browsing.watch.expect_error(r"status of 503")
    page = open_board(browsing)
    fill_urgent(page)
    keys: list[str | None] = []

    def busy_once(route: Route) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        keys.append(route.request.headers.get("idempotency-key"))
        if len(keys) == 1:
            route.fulfill(status=503, headers={"Retry-After": "1", "Content-Type": "application/json"},
                          body='{"error": "Busy", "detail": "服务器繁忙，请稍后再试", "field": null}')
        else:
            route.continue_()

    page.route("**/api/v1/trips", busy_once)
    before = trip_count(browsing.server)
    page.get_by_test_id("urgent-submit").click()
    chosen = page.get_by_test_id("urgent-dialog").get_by_test_id("urgent-vehicle")
    expect(chosen).to_contain_text(re.compile(f"已派车：({desk.plates['st-1']}|{desk.plates['st-2']})"))
    assert len(keys) == 2
    assert keys[0] is not None
    assert keys[0] == keys[1]
    assert trip_count(browsing.server) == before + 1


def posts_to(page: Page, path: str) -> list[str]:
    """The POSTs the page sends to the API's ``path`` from now on."""
    posted: list[str] = []
    page.on("request", lambda r: posted.append(r.url) if r.method == "POST" and r.url.endswith(path) else None)
    return posted


def test_out_of_range_entries_in_the_urgent_form_are_refused_as_typed_never_changed(
        browsing: Browsing, desk: Desk) -> None:
    """999 passengers, a 99999-minute stay, a latitude of 3.123 (30.123 with a digit lost: outside China, which the
    server checks too) and a longitude of -200.4567 are each refused under their field and left as typed (antd would
    clamp them to their bounds when the field loses focus, and book that); a one-character reason is refused as too
    short, not as missing. Nothing is sent."""
    page = open_board(browsing)
    posted = posts_to(page, "/trips")
    fill_urgent(page)
    typed = {"urgent-passengers": "999", "urgent-dwell": "99999", "pickup-lat": "3.123", "dropoff-lon": "-200.4567",
             "urgent-purpose": "火"}
    fields = {name: page.get_by_test_id(name) for name in typed}
    for name, value in typed.items():
        fields[name].fill(value)
    page.get_by_test_id("urgent-submit").click()

    expect(field_error(fields["urgent-passengers"])).to_have_text("乘车人数应为 1 至 60 之间的整数")
    expect(field_error(fields["urgent-dwell"])).to_have_text("目的地停留应为 0 至 1440 之间的整数分钟")
    expect(field_error(fields["pickup-lat"])).to_have_text("纬度应在 3.5 至 53.6 之间")
    expect(field_error(fields["dropoff-lon"])).to_have_text("经度应在 73.4 至 135.1 之间")
    expect(field_error(fields["urgent-purpose"])).to_have_text("应急事由为 2–500 个字")
    for name, value in typed.items():
        expect(fields[name]).to_have_value(value)
    browsing.screenshot("urgent-refused-as-typed")
    page.wait_for_timeout(300)  # time enough for a request the form should not have sent
    assert posted == []


def test_a_refusal_naming_a_field_of_the_urgent_form_is_shown_under_it(browsing: Browsing, desk: Desk) -> None:
    """The server refuses a window of more than 7 days naming latest_pickup: the dispatcher reads why under the
    latest pickup, not in the alert above the form."""
    browsing.watch.expect_error(r"status of 422")
    page = open_board(browsing)
    fill_urgent(page)
    pick(page, "urgent-latest", "2030-04-24 11:15")
    with page.expect_response(re.compile(r"/api/v1/trips$")) as refused:
        page.get_by_test_id("urgent-submit").click()
    assert refused.value.status == 422
    expect(field_error(page.get_by_test_id("urgent-latest"))).to_have_text(re.compile(r"晚于.*超过 7 天"))
    expect(page.get_by_test_id("urgent-refused")).to_have_count(0)


def test_out_of_range_entries_in_the_dispatch_panel_are_refused_as_typed_never_changed(
        browsing: Browsing, desk: Desk) -> None:
    """A 600-second time limit and a seed of -3 are refused under their fields and left as typed (antd would run the
    engine for 60 seconds with the seed 0); no run is started."""
    page = open_board(browsing)
    posted = posts_to(page, "/dispatch")
    page.get_by_test_id("dispatch-open").click()
    limit, seed = page.get_by_test_id("dispatch-time-limit"), page.get_by_test_id("dispatch-seed")
    limit.fill("600")
    seed.fill("-3")
    page.get_by_test_id("dispatch-submit").click()

    expect(field_error(limit)).to_have_text("求解时限应为 5 至 60 之间的整数秒")
    expect(field_error(seed)).to_have_text("随机种子应为 0 至 2147483647 之间的整数")
    expect(limit).to_have_value("600")
    expect(seed).to_have_value("-3")
    expect(page.get_by_test_id("dispatch-progress")).to_have_count(0)
    page.wait_for_timeout(300)
    assert posted == []


KEY_DAY = date(2030, 4, 17)  # the day after the desk's: the keyboard test's two trips alone


TIMELINE_SHOWN = "() => document.querySelector('[data-testid=board-timeline] .vis-timeline')?.style.visibility"

HAS_A_TAB_STOP = """() => {
    const timeline = document.querySelector('[data-testid=board-timeline]');
    return timeline?.tabIndex === 0 || !!timeline?.querySelector('[data-trip][tabindex="0"]');
}"""


def in_timeline(page: Page) -> bool:
    """Whether the keyboard's focus is in the board's timeline (on a trip, or on the timeline passing it to one)."""
    return bool(page.evaluate("() => !!document.activeElement?.closest('[data-testid=board-timeline]')"))


FOCUS_AND_BOARD = """() => {
    const timeline = document.querySelector('[data-testid=board-timeline]');
    const active = document.activeElement;
    const describe = (e) => e
        ? `${e.tagName}.${e.className} trip=${e.dataset?.trip} tabindex=${e.getAttribute('tabindex')}` : 'none';
    const boxes = [...(timeline?.querySelectorAll('[data-trip]') ?? [])].map(describe);
    const rows = [...(timeline?.querySelectorAll('.vis-label .gc-group') ?? [])].map((g) => {
        const r = g.getBoundingClientRect();
        return `${g.dataset.vehicle}@${Math.round(r.top)}`;
    });
    const frame = timeline?.getBoundingClientRect();
    return `focus: ${describe(active)}; timeline tabindex=${timeline?.tabIndex} `
        + `shown=${timeline?.querySelector('.vis-timeline')?.style.visibility} `
        + `top=${frame?.top} bottom=${frame?.bottom}; `
        + `trip boxes: ${boxes.join(', ')}; rows: ${rows.join(' ')}`;
}"""


def focus_and_board(page: Page) -> str:
    """Where the focus is and what the timeline holds: what a failed keyboard check needs to be understood."""
    return str(page.evaluate(FOCUS_AND_BOARD))


LEVEL_WITH_ITS_ROW = """([trip, vehicle]) => {
    const bar = document.querySelector(`.vis-item[data-trip_id="${trip}"]`)?.getBoundingClientRect();
    const label = document.querySelector(`.vis-label .gc-group[data-vehicle="${vehicle}"]`)?.getBoundingClientRect();
    const timeline = document.querySelector('[data-testid=board-timeline]')?.getBoundingClientRect();
    if (!bar || !label || !timeline) return false;
    return label.top - 10 <= bar.top && bar.top <= label.bottom
        && timeline.top <= bar.top && bar.bottom <= timeline.bottom;
}"""


def level_with_its_row(page: Page, trip_id: int, vehicle_id: int) -> None:
    """The trip's bar is drawn beside its vehicle's label, and in view: the rows were scrolled the timeline's way
    (it draws them a frame after its labels scrolled)."""
    page.wait_for_function(LEVEL_WITH_ITS_ROW, arg=[trip_id, vehicle_id], timeout=5_000)


@pytest.fixture(scope="module")
def key_trips(live_server: LiveServer, desk: Desk) -> tuple[int, int]:
    """The keyboard tests' two trips on ``KEY_DAY``: the first on st-1 at 10:00, the second on st-2 at 11:00."""
    call = live_server.call
    first = call("dispatcher", "POST", "/trips", json=_trip(
        "管道巡检", (10, 0), (10, 0), earliest_pickup=at(10, 0, KEY_DAY).isoformat(),
        latest_pickup=at(10, 0, KEY_DAY).isoformat()))["id"]
    second = call("dispatcher", "POST", "/trips", json=_trip(
        "仓库抽查", (11, 0), (11, 0), earliest_pickup=at(11, 0, KEY_DAY).isoformat(),
        latest_pickup=at(11, 0, KEY_DAY).isoformat()))["id"]
    call("dispatcher", "POST", f"/trips/{first}/assign", json={"vehicle_id": desk.vehicles["st-1"]})
    call("dispatcher", "POST", f"/trips/{second}/assign", json={"vehicle_id": desk.vehicles["st-2"]})
    return first, second


def open_key_board(open_browsing: BrowsingFactory) -> Browsing:
    """The keyboard day's board in a short window (its trips' rows below those in view), drawn and shown."""
    browsing = open_browsing("short", viewport={"width": 1280, "height": 560})
    browsing.sign_in("dispatcher")
    browsing.goto(f"/board?day={KEY_DAY.isoformat()}")
    page = browsing.page
    expect(page.get_by_test_id("board-counts")).to_contain_text("已派 2 单")
    page.wait_for_function(HAS_A_TAB_STOP)  # drawn: the trips are not in view, so the timeline itself is the stop
    page.wait_for_function(f"() => ({TIMELINE_SHOWN})() === 'visible'")
    return browsing


def tab_into_the_timeline(page: Page) -> None:
    """By Tab alone, from the day's filters, into the timeline."""
    page.get_by_test_id("filter-statuses").locator("input").focus()
    for _ in range(40):
        page.keyboard.press("Tab")
        if in_timeline(page):
            break
    assert in_timeline(page), focus_and_board(page)


def test_the_boards_trips_are_reached_named_and_opened_from_the_keyboard(
        open_browsing: BrowsingFactory, desk: Desk, key_trips: tuple[int, int]) -> None:
    """Tab reaches the board's trips, each named with its trip and its vehicle; Enter opens the trip's details as a
    click does, Space too, and the arrow keys go from a trip to the next one on the board. The window is short: the
    trips' rows are below those in view at first, and are scrolled to."""
    first, second = key_trips
    st1, st2 = desk.vehicles["st-1"], desk.vehicles["st-2"]
    browsing = open_key_board(open_browsing)
    page = browsing.page

    # By Tab alone, from the day's filters: the first trip of the board is one stop.
    tab_into_the_timeline(page)
    bar = page.locator(f'[data-testid="board-timeline"] [data-trip="{first}"]')
    try:
        expect(bar).to_be_focused()
    except AssertionError as missed:
        raise AssertionError(f"trip {first} is not focused: {focus_and_board(page)}") from missed
    expect(bar).to_have_attribute("role", "button")
    expect(bar).to_have_attribute("aria-label", re.compile(f"#{first} 管道巡检.*{re.escape(desk.plates['st-1'])}"))
    level_with_its_row(page, first, st1)
    browsing.screenshot("trip-focused")

    # Enter opens the details a click opens; closed, the focus is back on the trip.
    page.keyboard.press("Enter")
    drawer = page.get_by_test_id("trip-drawer")
    expect(drawer).to_contain_text(f"行程 #{first}")
    expect(drawer.get_by_test_id("drawer-plate")).to_have_text(desk.plates["st-1"])
    page.keyboard.press("Escape")
    expect(page.locator(".ant-drawer-open")).to_have_count(0)
    expect(bar).to_be_focused()

    # The arrow keys go on to the next trip (the next row's), named with its own vehicle; Space opens it.
    page.keyboard.press("ArrowDown")
    following = page.locator(f'[data-testid="board-timeline"] [data-trip="{second}"]')
    expect(following).to_be_focused()
    expect(following).to_have_attribute(
        "aria-label", re.compile(f"#{second} 仓库抽查.*{re.escape(desk.plates['st-2'])}"))
    level_with_its_row(page, second, st2)
    page.keyboard.press("Space")
    expect(drawer).to_contain_text(f"行程 #{second}")
    expect(drawer.get_by_test_id("drawer-plate")).to_have_text(desk.plates["st-2"])
    page.keyboard.press("Escape")
    expect(page.locator(".ant-drawer-open")).to_have_count(0)
    page.keyboard.press("ArrowUp")
    expect(bar).to_be_focused()

    # The same details as a click on the bar.
    item(page, first).locator(".gc-item-text").click()
    expect(drawer).to_contain_text(f"行程 #{first}")
    expect(drawer.get_by_test_id("drawer-plate")).to_have_text(desk.plates["st-1"])


def test_a_trip_tabbed_to_before_the_timeline_shows_is_focused_once_it_shows(
        open_browsing: BrowsingFactory, key_trips: tuple[int, int]) -> None:
    """vis-timeline keeps itself `visibility: hidden` until its first settled draw, later on a busy machine (CI's
    four workers met it): Tab then lands on the timeline, whose trip cannot take the focus yet. The trip is focused
    once the timeline shows, not given up (the focus was left on the timeline). Replayed by hiding the drawn timeline
    as vis-timeline does, then showing it and letting it draw."""
    first, _ = key_trips
    browsing = open_key_board(open_browsing)
    page = browsing.page
    page.evaluate("() => { document.querySelector('[data-testid=board-timeline] .vis-timeline').style.visibility"
                  " = 'hidden'; }")
    tab_into_the_timeline(page)
    page.wait_for_timeout(1_000)  # past the moment the trip is focused whether or not it is drawn level yet
    assert page.evaluate("() => document.activeElement?.dataset?.testid") == "board-timeline", focus_and_board(page)
    page.evaluate("() => { document.querySelector('[data-testid=board-timeline] .vis-timeline').style.visibility"
                  " = 'visible'; }")
    page.set_viewport_size({"width": 1300, "height": 560})  # a draw (the timeline is wider), as the one that shows it
    bar = page.locator(f'[data-testid="board-timeline"] [data-trip="{first}"]')
    try:
        expect(bar).to_be_focused()
    except AssertionError as missed:
        raise AssertionError(f"trip {first} is not focused: {focus_and_board(page)}") from missed


def test_the_timeline_shows_each_time_the_board_is_opened(open_browsing: BrowsingFactory, desk: Desk) -> None:
    """The board read ahead as the page loads can arrive before the timeline has settled its window: the timeline
    must show all the same (it stayed `visibility: hidden`, its rows unseen and out of the keyboard's reach). Seen in
    a short window, whose rows are not all in view."""
    browsing = open_browsing("short", viewport={"width": 1280, "height": 560})
    browsing.sign_in("dispatcher")
    page = browsing.page
    for day in (DESK_DAY, KEY_DAY) * 4:
        browsing.goto(f"/board?day={day.isoformat()}")
        expect(page.get_by_test_id("board-timeline").locator(".vis-label .gc-group").first).to_be_attached()
        # The timeline's window settles 200 ms after it was set, and it shows at the draw after that: a second on a
        # quiet machine, many on a loaded one. Left hidden, it never shows: the wait runs out.
        try:
            page.wait_for_function(f"() => ({TIMELINE_SHOWN})() === 'visible'", timeout=15_000)
        except PlaywrightTimeout as missed:
            raise AssertionError(f"the board of {day} is not shown") from missed


def test_the_map_shows_the_day_with_a_scale_bar(browsing: Browsing, desk: Desk) -> None:
    browsing.sign_in("dispatcher")
    browsing.goto(f"/map?day={DESK_DAY.isoformat()}")
    page = browsing.page
    canvas = page.locator("canvas.maplibregl-canvas")
    expect(canvas).to_be_visible()
    expect(page.locator(".maplibregl-ctrl-scale")).to_be_visible()
    expect(page.get_by_test_id("depot-marker")).to_have_count(2)  # agency A's yard and agency B's
    expect(page.get_by_test_id("depot-count")).to_have_text("2")
    expect(page.get_by_test_id("pickup-count")).not_to_have_text("0")
    pickups = int(page.get_by_test_id("pickup-count").inner_text())
    assert pickups >= 3  # the desk's trips of the day at least
    expect(page.get_by_test_id("dropoff-count")).to_have_text(str(pickups))

    # One vehicle's route: its trips in order, from its yard and back.
    page.get_by_test_id("route-vehicle").click()
    page.locator(".ant-select-dropdown").get_by_text(f"{desk.plates['st-1']} · {AGENCY_A}").click()
    expect(page).to_have_url(re.compile(rf"vehicle={desk.vehicles['st-1']}"))
    expect(page.get_by_test_id("route-trips")).to_contain_text("个行程")
    page.wait_for_function("() => !document.querySelector('.maplibregl-map')?.classList.contains('loading')")
    browsing.screenshot("map")
    assert any("maplibre-gl-worker" in url for url in browsing.watch.requests)

    # The same map is a panel of the board; a trip's details lead to its vehicle's route there.
    page.goto(browsing.server.url(f"/board?day={DESK_DAY.isoformat()}"))
    item(page, desk.trips["busy"]).locator(".gc-item-text").click()
    page.get_by_test_id("trip-drawer").get_by_role("button", name=re.compile("在地图上显示")).click()
    expect(page.get_by_role("tab", name="当日地图", selected=True)).to_be_visible()
    expect(page.get_by_test_id("route-vehicle")).to_contain_text(desk.plates["st-1"])
    expect(page.locator(".maplibregl-ctrl-scale")).to_be_visible()
    expect(page.get_by_test_id("route-trips")).to_contain_text("个行程")
    page.wait_for_function("() => !document.querySelector('.maplibregl-map')?.classList.contains('loading')")
    browsing.screenshot("board-map")
