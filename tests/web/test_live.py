"""Live updates in Chromium: what an approver decides in one browser shows in a requester's open list in another
within seconds, without a reload; a lost stream is said in a banner, and what happened meanwhile shows once it is
back."""

from __future__ import annotations

from datetime import date

from playwright.sync_api import Route, expect

from tests.api.conftest import at, trip_body
from tests.web.conftest import BrowsingFactory

DAY = date(2030, 3, 14)  # no other browser test books this day
SOON = 5_000  # ms: "within a few seconds"


def test_an_approval_in_one_browser_shows_in_anothers_list_without_a_reload(open_browsing: BrowsingFactory) -> None:
    requester, approver = open_browsing("requester"), open_browsing("approver")
    server = requester.server
    approver.sign_in("approver-a")  # the queue is open before the request comes in
    expect(approver.page.get_by_test_id("approvals-table")).to_be_visible()
    approver.page.evaluate("window.__notReloaded = true")  # gone if the page loads again

    trip = server.call("requester-a", "POST", "/trips", json=trip_body(
        purpose="实时更新测试", earliest_pickup=at(9, day=DAY).isoformat(),
        latest_pickup=at(9, 30, day=DAY).isoformat()))
    waiting = approver.page.locator(f'tr[data-row-key="{trip["id"]}"]')
    expect(waiting).to_be_visible(timeout=SOON)  # the new request joins the approver's queue by itself

    requester.sign_in("requester-a")
    requester.goto(f"/trips?since={DAY}&until={DAY}")
    status = requester.page.locator(f'tr[data-row-key="{trip["id"]}"]').get_by_test_id("trip-status")
    expect(status).to_have_text("已申请")
    requester.page.evaluate("window.__notReloaded = true")

    waiting.locator(".ant-checkbox-input").check()
    approver.page.get_by_test_id("approve-selected").click()
    expect(approver.page.get_by_test_id("decision-results")).to_contain_text("已批准 1 条")

    expect(status).to_have_text("已审批", timeout=SOON)  # in the requester's browser, without a reload
    for browsing in (requester, approver):
        assert browsing.page.evaluate("window.__notReloaded") is True
    requester.screenshot("updated")
    approver.screenshot("approved")


def test_a_lost_stream_shows_a_banner_and_catches_up_when_back(open_browsing: BrowsingFactory) -> None:
    requester = open_browsing("requester")
    requester.watch.expect_error(r"EventSource|status of 503")  # the browser's lines for the stream refused
    page, server = requester.page, requester.server
    trip = server.call("requester-a", "POST", "/trips", json=trip_body(
        purpose="断线重连测试", earliest_pickup=at(11, day=DAY).isoformat(),
        latest_pickup=at(11, 30, day=DAY).isoformat()))

    # The stream is refused (a proxy restarting, say) while the rest of the API answers.
    def refuse(route: Route) -> None:
        route.fulfill(status=503, content_type="application/json",
                      body='{"error": "Busy", "detail": "restarting", "field": null}')

    page.route("**/api/v1/events", refuse)
    requester.sign_in("requester-a")
    requester.goto(f"/trips?since={DAY}&until={DAY}")
    status = page.locator(f'tr[data-row-key="{trip["id"]}"]').get_by_test_id("trip-status")
    expect(status).to_have_text("已申请")
    expect(page.get_by_test_id("live-lost")).to_have_text("连接已断开，正在重连…", timeout=SOON)
    server.call("approver-a", "POST", f"/trips/{trip['id']}/approve", json={})  # while the page is not told
    page.wait_for_timeout(1500)
    expect(status).to_have_text("已申请")  # nothing told it yet
    requester.screenshot("lost")

    page.unroute("**/api/v1/events", refuse)  # back: the page opens the stream again by itself
    expect(page.get_by_test_id("live-lost")).to_have_count(0, timeout=20_000)
    expect(status).to_have_text("已审批", timeout=SOON)  # what happened meanwhile, caught up
    requester.screenshot("back")
