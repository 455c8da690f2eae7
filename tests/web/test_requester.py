"""A requester's day in Chromium: booking a trip through the form (places searched and picked on the map, a window in
China time, a refusal of the server shown next to the field it names), the trip in "my trips" with its 派车单, a
trip cancelled after confirming, and the list's filters carried into its export."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from fleet.clock import CHINA
from tests.api.conftest import at, trip_body
from tests.web.conftest import Browsing, choose, field_error, search_and_choose, type_into_picker

# Days no other browser test books on: the lists below show this test's trips alone.
BOOK_DAY, CANCEL_DAY, REFUSED_DAY = date(2030, 3, 20), date(2030, 3, 21), date(2030, 3, 22)


def test_a_requester_books_a_trip_through_the_form(browsing: Browsing) -> None:
    browsing.watch.expect_error(r"status of 422")  # the refusal this test provokes
    page, server = browsing.page, browsing.server
    browsing.sign_in("requester-a")
    expect(page).to_have_url(re.compile(r"/book$"))

    page.get_by_test_id("book-purpose").fill("赴黄陂区开展执法检查")
    choose(page, page.get_by_test_id("book-priority"), "执法执勤")
    choose(page, page.get_by_test_id("book-categories"), "执法执勤", "其他")
    page.get_by_test_id("book-passengers").fill("3")

    # The pickup among the known places: the fixture's trips' addresses are among them.
    search_and_choose(page, page.get_by_test_id("book-pickup"), "沿江", "江岸区沿江大道")
    expect(page.get_by_test_id("book-pickup-coordinates")).to_have_text("30.60280, 114.30550")

    # The drop-off by clicking the map (MapLibre, from the server alone) and naming the spot. The map's library is
    # loaded only now, when it is asked for.
    assert not any("maplibre" in url for url in browsing.watch.requests)
    page.get_by_test_id("book-dropoff-map").click()
    canvas = page.get_by_test_id("place-map").locator("canvas")
    expect(canvas).to_be_visible()
    page.wait_for_function("() => !document.querySelector('.maplibregl-map')?.classList.contains('loading')")
    box = canvas.bounding_box()
    assert box is not None
    canvas.click(position={"x": box["width"] * 0.7, "y": box["height"] * 0.3})
    expect(page.get_by_test_id("picked-marker")).to_be_visible()
    assert any("maplibre-gl-worker" in url for url in browsing.watch.requests)
    page.get_by_test_id("book-dropoff-address").fill("黄陂区前川街道办事处")
    browsing.screenshot("map-pick")
    page.get_by_role("button", name="使用此地点").click()
    expect(page.get_by_test_id("book-dropoff")).to_contain_text("黄陂区前川街道办事处")

    type_into_picker(page.get_by_test_id("book-day"), BOOK_DAY.isoformat())
    type_into_picker(page.get_by_test_id("book-earliest"), "09:00")
    type_into_picker(page.get_by_test_id("book-latest"), "08:30")  # before the earliest: the server refuses
    page.get_by_test_id("book-dwell").fill("45")

    with page.expect_response(re.compile(r"/api/v1/trips$")) as refused:
        page.get_by_test_id("book-submit").click()
    assert refused.value.status == 422
    assert refused.value.json()["field"] == "latest_pickup"
    latest_error = field_error(page.get_by_test_id("book-latest"))
    expect(latest_error).to_be_visible()
    expect(latest_error).not_to_contain_text("field")  # the field is where it is shown, not in the sentence
    expect(latest_error).to_have_text(re.compile("[\u4e00-\u9fff]"))  # in Chinese: the console asked in its language
    expect(field_error(page.get_by_test_id("book-earliest"))).to_have_count(0)
    browsing.screenshot("refused-field")

    type_into_picker(page.get_by_test_id("book-latest"), "09:30")
    with page.expect_response(re.compile(r"/api/v1/trips$")) as booked:
        page.get_by_test_id("book-submit").click()
    assert booked.value.status == 201
    trip_id = booked.value.json()["id"]
    expect(page.get_by_test_id("booked")).to_have_text(f"已提交用车申请，单号 {trip_id}")
    browsing.screenshot("booked")

    # What the server holds: the window in China time, though the browser is in New York; the places as chosen.
    trip: dict[str, Any] = server.call("requester-a", "GET", f"/trips/{trip_id}")
    assert trip["earliest_pickup"] == at(9, day=BOOK_DAY).isoformat()
    assert trip["latest_pickup"] == at(9, 30, day=BOOK_DAY).isoformat()
    assert (trip["passengers"], trip["dwell_min"], trip["priority"]) == (3, 45, "law_enforcement")
    assert sorted(trip["categories"]) == ["general", "law_enforcement"]
    assert trip["pickup"] == {"lat": pytest.approx(30.6028), "lon": pytest.approx(114.3055),
                              "address": "江岸区沿江大道"}
    assert trip["dropoff"]["address"] == "黄陂区前川街道办事处"
    assert 29 < trip["dropoff"]["lat"] < 32
    assert 113 < trip["dropoff"]["lon"] < 116

    # Its 派车单 opens in a new tab.
    with page.context.expect_page() as slip_page:
        page.get_by_test_id("booked-slip").click()
    slip = slip_page.value
    slip.wait_for_load_state()
    assert slip.url.endswith(f"/api/v1/trips/{trip_id}/slip?format=html")
    expect(slip.get_by_role("heading", name="公务用车派车单")).to_be_visible()
    expect(slip.locator("body")).to_contain_text("赴黄陂区开展执法检查")
    slip.close()

    # And in my trips, requested, with its window in China time.
    page.get_by_role("link", name="我的行程").first.click()
    expect(page).to_have_url(re.compile(r"/trips"))
    browsing.goto(f"/trips?since={BOOK_DAY}&until={BOOK_DAY}")
    row = page.locator(f'tr[data-row-key="{trip_id}"]')
    expect(row.get_by_test_id("trip-status")).to_have_text("已申请")
    expect(row.get_by_test_id("pickup-window")).to_have_text(f"{BOOK_DAY} 09:00–09:30")
    with page.context.expect_page() as again:
        row.get_by_test_id("trip-slip").click()
    expect(again.value.locator("body")).to_contain_text(f"{trip_id}")
    again.value.close()
    browsing.screenshot("my-trips")


def test_a_requester_cancels_a_trip_after_confirming(browsing: Browsing) -> None:
    page, server = browsing.page, browsing.server
    keep = server.call("requester-a", "POST", "/trips", json=trip_body(
        purpose="留用行程", earliest_pickup=at(8, day=CANCEL_DAY).isoformat(),
        latest_pickup=at(8, 30, day=CANCEL_DAY).isoformat()))
    drop = server.call("requester-a", "POST", "/trips", json=trip_body(
        purpose="会议取消的行程", earliest_pickup=at(10, day=CANCEL_DAY).isoformat(),
        latest_pickup=at(10, 30, day=CANCEL_DAY).isoformat()))
    browsing.sign_in("requester-a")
    browsing.goto(f"/trips?since={CANCEL_DAY}&until={CANCEL_DAY}")
    expect(page.get_by_test_id("trips-total")).to_have_text("共 2 条")
    row = page.locator(f'tr[data-row-key="{drop["id"]}"]')

    row.get_by_test_id("trip-cancel").click()
    confirm = page.locator(".ant-popconfirm:visible")
    expect(confirm).to_contain_text(f"取消行程 {drop['id']}？")
    confirm.get_by_role("button", name=re.compile("返 ?回")).click()  # thought better of it: nothing happens
    expect(row.get_by_test_id("trip-status")).to_have_text("已申请")

    row.get_by_test_id("trip-cancel").click()
    browsing.screenshot("confirm-cancel")
    page.locator(".ant-popconfirm:visible").get_by_role("button", name="取消行程").click()
    expect(row.get_by_test_id("trip-status")).to_have_text("已取消")
    expect(row.get_by_test_id("trip-cancel")).to_have_count(0)  # nothing left to cancel
    expect(page.locator(f'tr[data-row-key="{keep["id"]}"]').get_by_test_id("trip-status")).to_have_text("已申请")
    assert server.call("requester-a", "GET", f"/trips/{drop['id']}")["status"] == "cancelled"
    assert server.call("requester-a", "GET", f"/trips/{keep['id']}")["status"] == "requested"


def test_my_trips_filter_sort_page_and_export_the_same_selection(browsing: Browsing) -> None:
    page = browsing.page
    browsing.sign_in("requester-a")
    browsing.goto("/trips?since=2030-03-12&until=2030-03-12")
    expect(page.get_by_test_id("trips-total")).to_have_text("共 3 条")
    trips = browsing.server.trips

    # Text: the purpose.
    page.get_by_test_id("filter-q").locator("input").fill("勘查")
    page.get_by_test_id("filter-q").locator("input").press("Enter")
    expect(page.get_by_test_id("trips-total")).to_have_text("共 1 条")
    expect(page.locator(f'tr[data-row-key="{trips["approved"]}"]')).to_be_visible()
    expect(page).to_have_url(re.compile(r"q=%E5%8B%98%E6%9F%A5"))
    page.get_by_test_id("filter-q").locator("input").fill("")
    page.get_by_test_id("filter-q").locator("input").press("Enter")
    expect(page.get_by_test_id("trips-total")).to_have_text("共 3 条")

    # Status, from the registry's labels.
    choose(page, page.get_by_test_id("filter-status"), "已取消")
    expect(page.get_by_test_id("trips-total")).to_have_text("共 1 条")
    expect(page.locator(f'tr[data-row-key="{trips["cancelled"]}"]')).to_be_visible()

    # The export carries the same selection (and "mine"), and answers a sheet.
    href = page.get_by_test_id("export-csv").get_attribute("href")
    assert href is not None
    assert href.startswith("/api/v1/trips/export?format=csv&")
    for part in ("status=cancelled", "since=2030-03-12", "until=2030-03-12", "mine=true"):
        assert part in href, href
    answer = page.request.get(browsing.server.url(href))
    assert answer.status == 200
    assert answer.headers["content-type"].startswith("text/csv")
    text = answer.body().decode("utf-8-sig")
    assert "会议接送" in text
    assert "执法检查" not in text
    xlsx = page.get_by_test_id("export-xlsx").get_attribute("href")
    assert xlsx is not None
    assert "format=xlsx" in xlsx

    # Sorting by pickup, latest first: the evening trip heads the list.
    page.locator(".ant-select-clear").first.click(force=True)  # all statuses again
    expect(page.get_by_test_id("trips-total")).to_have_text("共 3 条")
    header = page.locator(".ant-table-thead th").filter(has_text="上车时间")
    header.click()  # pickup was the order already: now the other way
    expect(page).to_have_url(re.compile(r"sort=-pickup"))
    expect(page.locator("tr.ant-table-row").first).to_have_attribute("data-row-key", str(trips["cancelled"]))
    browsing.screenshot("filtered")


def test_out_of_range_entries_are_refused_as_typed_never_changed(browsing: Browsing) -> None:
    """999 passengers, a 99999-minute stay and a day already past are each refused under their field and left as
    typed (antd would clamp the numbers to their bounds, and put back the last allowed day, and book that)."""
    page = browsing.page
    posted: list[str] = []
    page.on("request", lambda r: posted.append(r.url) if r.method == "POST" and r.url.endswith("/trips") else None)
    browsing.sign_in("requester-a")
    expect(page).to_have_url(re.compile(r"/book$"))
    yesterday = (datetime.now(CHINA).date() - timedelta(days=1)).isoformat()

    page.get_by_test_id("book-purpose").fill("赴黄陂区开展执法检查")
    search_and_choose(page, page.get_by_test_id("book-pickup"), "沿江", "江岸区沿江大道")
    search_and_choose(page, page.get_by_test_id("book-dropoff"), "前川", "黄陂区前川街")
    passengers, dwell, day = (page.get_by_test_id(name) for name in ("book-passengers", "book-dwell", "book-day"))
    passengers.fill("999")
    dwell.fill("99999")
    type_into_picker(day, yesterday)
    type_into_picker(page.get_by_test_id("book-earliest"), "09:00")
    type_into_picker(page.get_by_test_id("book-latest"), "09:30")
    page.get_by_test_id("book-submit").click()

    expect(field_error(passengers)).to_have_text("乘车人数应为 1 至 60 之间的整数")
    expect(field_error(dwell)).to_have_text("目的地停留应为 0 至 1440 之间的整数分钟")
    expect(field_error(day)).to_contain_text("用车日期已过")
    expect(passengers).to_have_value("999")
    expect(dwell).to_have_value("99999")
    expect(day).to_have_value(yesterday)
    browsing.screenshot("refused-as-typed")
    assert posted == []

    passengers.fill("2")
    dwell.fill("30")
    type_into_picker(day, REFUSED_DAY.isoformat())
    with page.expect_response(re.compile(r"/api/v1/trips$")) as booked:
        page.get_by_test_id("book-submit").click()
    assert booked.value.status == 201
    body = booked.value.request.post_data_json
    assert (body["passengers"], body["dwell_min"]) == (2, 30)
