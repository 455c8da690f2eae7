"""What the console says when something goes wrong, in Chromium: an error shown in a form (a rule's, or the server's
refusal under the field it names) follows the language switch instead of staying in the language it came in, and a
server that cannot be reached is said in words, in the console's language, never as the browser's "Failed to fetch".
"""

from __future__ import annotations

import re
from datetime import date

from playwright.sync_api import Page, Route, expect

from tests.web.conftest import Browsing, field_error, search_and_choose, type_into_picker

LANGUAGE_DAY, OFFLINE_DAY = date(2030, 3, 26), date(2030, 3, 27)  # no other browser test books these days
OFFLINE_ZH = "无法连接服务器，请检查网络后重试"
OFFLINE_EN = "Cannot reach the server; check the connection and try again"


def english(page: Page) -> None:
    page.get_by_text("English", exact=True).click()
    expect(page.get_by_test_id("brand")).to_have_text("Gongche dispatch platform")


def chinese(page: Page) -> None:
    page.get_by_text("中文", exact=True).click()
    expect(page.get_by_test_id("brand")).to_have_text("公车调度平台")


def fill_booking(page: Page, day: date) -> None:
    """The booking form filled with a trip the server takes, places picked among the known ones."""
    page.get_by_test_id("book-purpose").fill("赴黄陂区开展执法检查")
    search_and_choose(page, page.get_by_test_id("book-pickup"), "沿江", "江岸区沿江大道")
    search_and_choose(page, page.get_by_test_id("book-dropoff"), "前川", "黄陂区前川街")
    page.get_by_test_id("book-passengers").fill("2")
    type_into_picker(page.get_by_test_id("book-day"), day.isoformat())
    type_into_picker(page.get_by_test_id("book-earliest"), "09:00")
    type_into_picker(page.get_by_test_id("book-latest"), "09:30")


def test_a_rules_error_in_the_booking_form_follows_the_language_switch(browsing: Browsing) -> None:
    """999 passengers is refused under the field in Chinese; switched to English, the error reads in English, and in
    Chinese again once switched back."""
    page = browsing.page
    browsing.sign_in("requester-a")
    fill_booking(page, LANGUAGE_DAY)
    passengers = page.get_by_test_id("book-passengers")
    passengers.fill("999")
    page.get_by_test_id("book-submit").click()
    expect(field_error(passengers)).to_have_text("乘车人数应为 1 至 60 之间的整数")
    english(page)
    expect(field_error(passengers)).to_have_text("Passengers: a whole number from 1 to 60")
    chinese(page)
    expect(field_error(passengers)).to_have_text("乘车人数应为 1 至 60 之间的整数")


def test_the_servers_refusal_under_a_field_follows_the_language_switch(browsing: Browsing) -> None:
    """The server refuses a latest pickup before the earliest, in Chinese (the console's language then), under the
    field; switched to English, the refusal reads in English (it is not cleared: the user has not acted on it), and
    in Chinese again once switched back."""
    browsing.watch.expect_error(r"status of 422")  # the refusal this test provokes
    page = browsing.page
    browsing.sign_in("requester-a")
    fill_booking(page, LANGUAGE_DAY)
    latest = page.get_by_test_id("book-latest")
    type_into_picker(latest, "08:30")
    with page.expect_response(re.compile(r"/api/v1/trips$")) as refused:
        page.get_by_test_id("book-submit").click()
    assert refused.value.status == 422
    expect(field_error(latest)).to_have_text("早于最早上车时间")
    browsing.screenshot("refused-zh")
    english(page)
    expect(field_error(latest)).to_have_text("is before the earliest pickup")
    browsing.screenshot("refused-en")
    chinese(page)
    expect(field_error(latest)).to_have_text("早于最早上车时间")


def test_an_unreachable_server_is_said_in_words_in_the_consoles_language(browsing: Browsing) -> None:
    """The booking's POST and a read of the trips list never reach the server (the connection fails): the form and
    the list each say so in words, not "Failed to fetch", and in English after the switch. Nothing was booked, and
    the same booking goes through once the server answers again."""
    browsing.watch.expect_error(r"ERR_FAILED|Failed to fetch")  # the browser's own lines for the failed requests
    page, server = browsing.page, browsing.server
    browsing.sign_in("requester-a")
    fill_booking(page, OFFLINE_DAY)

    def unreachable(route: Route) -> None:
        route.abort("failed")

    page.route("**/api/v1/trips", unreachable)
    page.get_by_test_id("book-submit").click()
    refused = page.get_by_test_id("book-error")
    expect(refused).to_have_text(OFFLINE_ZH)
    english(page)
    expect(refused).to_have_text(OFFLINE_EN)
    chinese(page)
    page.unroute("**/api/v1/trips", unreachable)
    assert server.call("requester-a", "GET", f"/trips?since={OFFLINE_DAY}&until={OFFLINE_DAY}")["total"] == 0
    page.get_by_test_id("book-submit").click()
    expect(page.get_by_test_id("booked")).to_be_visible()

    # A list that cannot be read says why in the same words, after the client's own tries again.
    page.route(re.compile(r"/api/v1/trips\?"), unreachable)
    browsing.goto(f"/trips?since={OFFLINE_DAY}&until={OFFLINE_DAY}")
    failed = page.locator(".ant-alert-error")
    expect(failed).to_have_text(f"加载失败：{OFFLINE_ZH}", timeout=30_000)
    english(page)
    expect(failed).to_have_text(f"Could not load: {OFFLINE_EN}", timeout=30_000)
    expect(page.locator("body")).not_to_contain_text("Failed to fetch")
