"""An approver in Chromium: the agency's requests waiting, oldest pickup first; two approved at once, one rejected
with a reason (which is required); a trip decided meanwhile elsewhere reported as failed, with why."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from playwright.sync_api import Route, expect

from tests.api.conftest import at, trip_body
from tests.web.conftest import Browsing, LiveServer, field_error

DAY = date(2030, 3, 13)  # no other browser test books this day


def book(server: LiveServer, purpose: str, hour: int, day: date = DAY) -> dict[str, Any]:
    trip: dict[str, Any] = server.call("requester-a", "POST", "/trips", json=trip_body(
        purpose=purpose, earliest_pickup=at(hour, day=day).isoformat(),
        latest_pickup=at(hour, 30, day=day).isoformat()))
    return trip


def abort(route: Route) -> None:
    route.abort()


def select(browsing: Browsing, trip_id: int) -> None:
    browsing.page.locator(f'tr[data-row-key="{trip_id}"]').locator(".ant-checkbox-input").check()


def test_an_approver_approves_two_at_once_and_rejects_one_with_a_reason(browsing: Browsing) -> None:
    page, server = browsing.page, browsing.server
    late, early, third = book(server, "下午检查", 15), book(server, "上午检查", 8), book(server, "晚间巡查", 17)
    browsing.sign_in("approver-a")
    expect(page).to_have_url(re.compile(r"/approvals$"))
    table = page.get_by_test_id("approvals-table")
    for trip in (late, early, third):
        expect(table.locator(f'tr[data-row-key="{trip["id"]}"]')).to_be_visible()
    expect(table.locator(f'tr[data-row-key="{server.trips["other_agency"]}"]')).to_have_count(0)  # agency B's
    expect(table.locator(f'tr[data-row-key="{server.trips["approved"]}"]')).to_have_count(0)  # decided already
    # Oldest pickup first: the fixture's day, then this test's morning before its afternoon.
    keys = table.locator("tr.ant-table-row").evaluate_all("rows => rows.map(r => Number(r.dataset.rowKey))")
    assert keys.index(early["id"]) < keys.index(late["id"]) < keys.index(third["id"])
    assert keys.index(server.trips["requested"]) < keys.index(early["id"])

    approve = page.get_by_test_id("approve-selected")
    expect(approve).to_be_disabled()
    select(browsing, early["id"])
    select(browsing, late["id"])
    expect(approve).to_have_text(re.compile(r"批准（2）"))
    browsing.screenshot("selected")
    approve.click()

    results = page.get_by_test_id("decision-results")
    expect(results).to_contain_text("已批准 2 条，失败 0 条")
    for trip in (early, late):
        expect(results.locator(f'[data-trip="{trip["id"]}"]')).to_have_text(f"行程 {trip['id']}：已批准")
        expect(table.locator(f'tr[data-row-key="{trip["id"]}"]')).to_have_count(0)  # no longer waiting
        assert server.call("approver-a", "GET", f"/trips/{trip['id']}")["status"] == "approved"
    browsing.screenshot("approved")

    # Rejecting asks the reason: one for all selected, at least two characters.
    select(browsing, third["id"])
    page.get_by_test_id("reject-selected").click()
    dialog = page.get_by_role("dialog")
    reason = dialog.get_by_test_id("reject-reason")
    reason.fill("否")
    dialog.get_by_role("button", name=re.compile("驳 ?回")).click()
    expect(field_error(reason)).to_have_text(re.compile(r"请填写驳回理由"))
    reason.fill("当日车辆紧张，请改期")
    browsing.screenshot("reject-reason")
    dialog.get_by_role("button", name=re.compile("驳 ?回")).click()
    expect(results).to_contain_text("已驳回 1 条，失败 0 条")
    expect(table.locator(f'tr[data-row-key="{third["id"]}"]')).to_have_count(0)
    rejected = server.call("approver-a", "GET", f"/trips/{third['id']}")
    assert (rejected["status"], rejected["decision_note"]) == ("rejected", "当日车辆紧张，请改期")
    browsing.screenshot("rejected")


def test_a_trip_decided_meanwhile_is_reported_as_failed_with_the_reason(browsing: Browsing) -> None:
    browsing.watch.expect_error(r"status of 409|/api/v1/events|ERR_")  # the refused decision; the stream held back
    page, server = browsing.page, browsing.server
    first, second = book(server, "第一项", 10, date(2030, 3, 15)), book(server, "第二项", 11, date(2030, 3, 15))
    # No live updates in this page: the list cannot learn that the second trip was decided elsewhere.
    page.route("**/api/v1/events", abort)
    browsing.sign_in("approver-a")
    select(browsing, first["id"])
    select(browsing, second["id"])
    server.call("requester-a", "POST", f"/trips/{second['id']}/cancel", json={"note": "不用了"})
    page.get_by_test_id("approve-selected").click()

    results = page.get_by_test_id("decision-results")
    expect(results).to_contain_text("已批准 1 条，失败 1 条")
    expect(results.locator(f'[data-trip="{first["id"]}"]')).to_have_attribute("data-ok", "true")
    failed = results.locator(f'[data-trip="{second["id"]}"]')
    expect(failed).to_have_attribute("data-ok", "false")
    expect(failed).to_contain_text(f"行程 {second['id']}：未能处理")
    expect(failed).to_contain_text("cancelled")  # the server's reason names the status it found
    # The list is read again: neither waits any more (one approved, one cancelled), the report stays.
    expect(page.locator(f'tr[data-row-key="{first["id"]}"]')).to_have_count(0)
    expect(page.locator(f'tr[data-row-key="{second["id"]}"]')).to_have_count(0)
    expect(page.get_by_test_id("approve-selected")).to_be_disabled()
    browsing.screenshot("partly-failed")


def test_the_reason_a_decision_failed_follows_the_language_switch(browsing: Browsing) -> None:
    """The server's reason for a refused decision came in Chinese (the console's language then); switched to
    English, the report reads it in English, and in Chinese again once switched back."""
    browsing.watch.expect_error(r"status of 409|/api/v1/events|ERR_")  # the refused decision; the stream held back
    page, server = browsing.page, browsing.server
    gone = book(server, "第三项", 12, date(2030, 3, 16))
    page.route("**/api/v1/events", abort)  # the list must not learn that the trip was cancelled meanwhile
    browsing.sign_in("approver-a")
    select(browsing, gone["id"])
    server.call("requester-a", "POST", f"/trips/{gone['id']}/cancel", json={"note": "不用了"})
    page.get_by_test_id("approve-selected").click()

    failed = page.get_by_test_id("decision-results").locator(f'[data-trip="{gone["id"]}"]')
    chinese = (f"行程 {gone['id']}：未能处理（行程 {gone['id']} 当前为 cancelled（已取消）；"
               "仅 requested（已申请）状态的行程可以批准）")
    expect(failed).to_have_text(chinese)
    page.get_by_text("English", exact=True).click()
    expect(failed).to_have_text(
        f"Trip {gone['id']}: not done (trip {gone['id']} is cancelled; approve needs requested)")
    browsing.screenshot("reason-in-english")
    page.get_by_text("中文", exact=True).click()
    expect(failed).to_have_text(chinese)
