"""The console in Chromium: Chinese by default, a requester's trips with their Chinese labels in China time, the menu
of each role, the yards' map, and the API's docs pages, all without a single request leaving the server's origin
(checked for every test by the ``browsing`` fixture, which also fails a test on any console or page error)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.web.conftest import Browsing, BrowsingFactory


def test_the_shell_is_chinese_by_default_and_switches_to_english(browsing: Browsing) -> None:
    page = browsing.page
    browsing.goto("/")
    expect(page).to_have_url(re.compile(r"/signin$"))  # not signed in yet
    expect(page.get_by_test_id("brand")).to_have_text("公车调度平台")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")  # though the browser asks for en-US
    expect(page.get_by_label("用户名")).to_be_visible()
    expect(page.get_by_label("密码")).to_be_visible()
    expect(page).to_have_title("公车调度平台")
    browsing.screenshot("zh")

    page.get_by_text("English", exact=True).click()
    expect(page.get_by_test_id("brand")).to_have_text("Gongche dispatch platform")
    expect(page.get_by_label("User name")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "en")

    page.reload()  # the choice is kept (localStorage)
    expect(page.get_by_test_id("brand")).to_have_text("Gongche dispatch platform")
    page.get_by_text("中文", exact=True).click()
    expect(page.get_by_role("button", name=re.compile("登 ?录"))).to_be_visible()


def test_a_requester_sees_its_agencys_trips_with_chinese_labels_in_china_time(browsing: Browsing) -> None:
    page, trips = browsing.page, browsing.server.trips
    browsing.sign_in("requester-a")
    expect(page).to_have_url(re.compile(r"/book$"))  # a requester's home: the booking form
    page.get_by_role("link", name="我的行程").click()
    expect(page).to_have_url(re.compile(r"/trips$"))
    # The fixture's day only (other tests book other days): the filter is in the address, as a person may share it.
    browsing.goto("/trips?since=2030-03-12&until=2030-03-12")
    table = page.locator(".ant-table-tbody")
    expect(table.locator("tr.ant-table-row")).to_have_count(3)  # not agency B's trip
    expect(page.get_by_test_id("trips-total")).to_have_text("共 3 条")
    for title in ("编号", "事由", "优先级", "上车时间", "状态", "车辆", "申请时间"):
        expect(page.locator(".ant-table-thead").get_by_text(title, exact=True)).to_be_visible()

    def row(trip: str) -> str:
        return f'tr[data-row-key="{trips[trip]}"]'

    # The registry's own labels (fleet.enums via GET /vocabulary), and the windows in China time: the browser is in
    # New York, where 09:00 in Wuhan is the evening before.
    expect(page.locator(row("requested")).get_by_test_id("trip-status")).to_have_text("已申请")
    expect(page.locator(row("approved")).get_by_test_id("trip-status")).to_have_text("已审批")
    expect(page.locator(row("cancelled")).get_by_test_id("trip-status")).to_have_text("已取消")
    expect(page.locator(row("requested")).get_by_test_id("pickup-window")).to_have_text("2030-03-12 09:00–09:30")
    expect(page.locator(row("approved")).get_by_test_id("pickup-window")).to_have_text("2030-03-12 14:00–14:30")
    expect(page.locator(row("cancelled")).get_by_test_id("pickup-window")).to_have_text("2030-03-12 20:15–20:45")
    expect(page.locator(row("requested"))).to_contain_text("执法执勤")  # its priority's label
    expect(page.locator(row("cancelled"))).to_contain_text("一般公务")
    expect(page.locator(f'tr[data-row-key="{trips["other_agency"]}"]')).to_have_count(0)

    # The trips on the timeline (vis-timeline), also loaded from the server alone.
    timeline = page.get_by_test_id("trip-timeline")
    expect(timeline.locator(".vis-item")).to_have_count(3)
    expect(timeline).to_contain_text(f"#{trips['requested']} 执法检查 · 已申请")
    browsing.screenshot("trips")

    page.get_by_text("English", exact=True).click()
    expect(page.get_by_test_id("menu").get_by_role("menuitem")).to_have_text(["Book a vehicle", "My trips"])
    expect(page.locator(row("requested")).get_by_test_id("trip-status")).to_have_text("Requested")
    expect(page.locator(".ant-table-thead").get_by_text("Status", exact=True)).to_be_visible()
    expect(page.locator(row("requested")).get_by_test_id("pickup-window")).to_have_text("2030-03-12 09:00–09:30")


@pytest.mark.parametrize(("user", "home", "menu"), [
    ("requester-a", "/book", ["用车申请", "我的行程"]),
    ("approver-a", "/approvals", ["审批", "用车申请", "我的行程"]),
    ("dispatcher", "/board", ["调度台", "地图", "行程"]),
    ("supervisor", "/findings", ["违规线索", "行程", "车辆地图"]),
    ("admin", "/vehicles", ["车辆台账", "车辆地图"]),
])
def test_each_role_lands_on_its_home_with_its_own_menu_and_who_it_is(
        browsing: Browsing, user: str, home: str, menu: list[str]) -> None:
    page = browsing.page
    browsing.sign_in(user)
    expect(page).to_have_url(re.compile(f"{home}$"))
    expect(page.get_by_test_id("menu").get_by_role("menuitem")).to_have_text(menu)
    expect(page.get_by_test_id("who-name")).to_have_text(user)
    role = {"requester-a": "用车申请人", "approver-a": "单位审批人", "dispatcher": "平台调度员",
            "supervisor": "监督检查(纪检/财政)", "admin": "车辆管理员"}[user]
    expect(page.get_by_test_id("who-role")).to_contain_text(role)
    if user.endswith("-a"):
        expect(page.get_by_test_id("who-role")).to_contain_text("WH-GA")  # its agency (name, or code)
    # A page outside the role's menu leads back home.
    browsing.goto("/driver")
    expect(page).to_have_url(re.compile(f"{home}$"))
    expect(page.locator(".ant-menu-item-selected")).to_have_text(menu[0])
    expect(page.locator("main .ant-card").first).to_be_visible()
    browsing.screenshot(f"home-{user}")


# Records the name of every CSS animation that starts on the page: antd's menus and dialogs slide and zoom in with
# keyframe animations (antSlideUpIn, antZoomIn, …), which a person who asked for reduced motion does not get.
_RECORD_ANIMATIONS = """() => {
  window.animations = [];
  document.addEventListener('animationstart', (event) => window.animations.push(event.animationName), true);
}"""
_MOVING = r"ant(Slide|Zoom|Fade|Move)"  # those animations (their names carry a css- prefix)
_STILL = f"() => document.getAnimations().every((a) => !/{_MOVING}/.test(a.animationName ?? ''))"


@pytest.mark.parametrize("motion", ["reduce", "no-preference"])
def test_menus_and_dialogs_do_not_animate_for_a_person_who_asked_for_reduced_motion(
        open_browsing: BrowsingFactory, motion: str) -> None:
    browsing = open_browsing(reduced_motion=motion)
    page = browsing.page
    browsing.sign_in("approver-a")
    page.evaluate(_RECORD_ANIMATIONS)
    page.get_by_test_id("account").click()
    page.wait_for_function(_STILL)  # with motion, a click while the menu slides in may miss it (CI saw it)
    page.get_by_role("menuitem", name="修改密码").click()
    dialog = page.get_by_role("dialog", name="修改密码")
    expect(dialog).to_be_visible()
    page.wait_for_function(_STILL)
    dialog.get_by_role("button", name=re.compile("取 ?消")).click()
    expect(dialog).to_be_hidden()
    # A loading spinner still turns (it says something is under way); what moves a menu or a dialog does not.
    moving = [name for name in page.evaluate("window.animations") if re.search(_MOVING, name)]
    if motion == "reduce":
        assert moving == []
    else:  # the same steps animate for everyone else: the check above can fail
        assert any("Zoom" in name for name in moving), moving
        assert any("Slide" in name for name in moving), moving


def test_the_map_draws_the_yards_on_a_canvas_with_nothing_fetched_from_elsewhere(browsing: Browsing) -> None:
    page = browsing.page
    browsing.sign_in("supervisor")  # the vehicle registry is the platform's to read
    page.get_by_role("link", name="车辆地图").click()
    expect(page).to_have_url(re.compile(r"/yards$"))
    canvas = page.locator("canvas.maplibregl-canvas")
    expect(canvas).to_be_visible()
    width, height = canvas.evaluate("c => [c.width, c.height]")
    assert width > 100
    assert height > 100
    expect(page.get_by_test_id("yard-marker")).to_have_count(2)  # the two agencies' yards
    expect(page.locator(".maplibregl-ctrl-scale")).to_be_visible()
    agencies = page.get_by_test_id("agency-list")
    expect(agencies).to_contain_text("WH-GA")
    expect(agencies).to_contain_text("WH-CG")
    page.wait_for_function("() => !document.querySelector('.maplibregl-map')?.classList.contains('loading')")
    browsing.screenshot("map")
    assert any("maplibre-gl-worker" in url for url in browsing.watch.requests)  # the worker is one of our files


def test_the_api_docs_render_from_local_assets(browsing: Browsing) -> None:
    page = browsing.page
    browsing.goto("/docs")
    expect(page.locator(".opblock").first).to_be_visible()  # Swagger UI's operations list
    expect(page.locator(".opblock-summary-path", has_text="/api/v1/trips").first).to_be_visible()
    expect(page.locator(".opblock-summary-path", has_text="/api/v1/vocabulary")).to_be_visible()
    browsing.screenshot("docs")

    browsing.goto("/redoc")
    # Redoc parses the whole OpenAPI document before it draws anything: over 20 s on two cores shared by four workers.
    expect(page.get_by_role("heading", name=re.compile("Gongche"))).to_be_visible(timeout=60_000)
    expect(page.get_by_role("heading", name=re.compile(r"Book a trip \(用车申请\)")).first).to_be_visible()
    browsing.screenshot("redoc")
    assert all("/assets/vendor/" in url for url in browsing.watch.requests if url.endswith((".js", ".css")))
