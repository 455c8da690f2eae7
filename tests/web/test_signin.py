"""Signing in with a password in Chromium: a wrong one refused in one sentence, repeated failures slowed down with
the wait the server says, signing out ending the session on the server, and a password changed through the dialog
with the server's refusals next to the fields. No token is kept by the page: the session is an HttpOnly cookie."""

from __future__ import annotations

import contextlib
import re
from typing import Any

import httpx
from playwright.sync_api import APIResponse, Page, Route, expect
from playwright.sync_api import Error as PlaywrightError

from tests.web.conftest import Browsing


def test_a_wrong_password_is_refused_and_nothing_is_kept(browsing: Browsing) -> None:
    browsing.watch.expect_error(r"status of 401")  # the browser's own line for the refused sign-in
    page = browsing.page
    browsing.goto("/trips")
    expect(page).to_have_url(re.compile(r"/signin$"))  # not signed in: to the sign-in page
    page.get_by_test_id("signin-name").fill("supervisor")
    page.get_by_test_id("signin-password").fill("not-the-password")
    page.get_by_test_id("signin-submit").click()
    expect(page.get_by_test_id("signin-error")).to_have_text("用户名或密码错误。")
    expect(page).to_have_url(re.compile(r"/signin$"))
    assert not any(c["name"].startswith("gongche_") for c in page.context.cookies())
    browsing.screenshot("refused")

    # The right one: in, and to the page first asked for; the session is a cookie the page cannot read.
    page.get_by_test_id("signin-password").fill(browsing.server.password("supervisor"))
    page.get_by_test_id("signin-submit").click()
    expect(page).to_have_url(re.compile(r"/trips$"))
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["gongche_session"]["httpOnly"] is True
    assert cookies["gongche_csrf"]["httpOnly"] is False
    assert "gongche_session" not in page.evaluate("document.cookie")
    assert page.evaluate("sessionStorage.length") == 0
    assert page.evaluate("Object.keys(localStorage)") in ([], ["gongche.language"])


def test_repeated_failures_are_slowed_down_with_the_wait_shown(browsing: Browsing) -> None:
    browsing.watch.expect_error(r"status of 401")
    browsing.watch.expect_error(r"status of 429")
    page = browsing.page
    browsing.goto("/signin")
    page.get_by_test_id("signin-name").fill("intruder")  # no such user: counted all the same
    error = page.get_by_test_id("signin-error")
    for attempt in range(8):
        page.get_by_test_id("signin-password").fill(f"guess-{attempt}")
        with page.expect_response(re.compile(r"/api/v1/auth/login$")) as answer:
            page.get_by_test_id("signin-submit").click()
        if answer.value.status == 429:
            break
        expect(error).to_have_text("用户名或密码错误。")
    else:
        raise AssertionError("eight failures in a row were never slowed down")
    seconds = int(answer.value.headers["retry-after"])
    expect(error).to_contain_text(re.compile(r"登录失败次数过多，请 \d+ 秒后再试"))
    shown = int(re.search(r"请 (\d+) 秒", error.inner_text()).group(1))  # type: ignore[union-attr]
    assert 0 < shown <= seconds
    expect(page.get_by_test_id("signin-submit")).to_be_disabled()  # until the wait is over
    browsing.screenshot("slowed")


def test_signing_out_ends_the_session_on_the_server(browsing: Browsing) -> None:
    page = browsing.page
    browsing.sign_in("requester-a")
    session = next(c["value"] for c in page.context.cookies() if c["name"] == "gongche_session")
    with httpx.Client(base_url=browsing.server.base_url, cookies={"gongche_session": session}) as client:
        assert client.get("/api/v1/auth/me").status_code == 200

        page.get_by_test_id("account").click()
        page.get_by_role("menuitem", name="退出登录").click()
        expect(page).to_have_url(re.compile(r"/signin$"))
        assert not any(c["name"].startswith("gongche_") for c in page.context.cookies())
        assert client.get("/api/v1/auth/me").status_code == 401
    browsing.goto("/trips")  # back to a signed-in page: signed out, so the sign-in page
    expect(page).to_have_url(re.compile(r"/signin$"))
    expect(page.get_by_test_id("signin-name")).to_be_visible()
    browsing.screenshot("signed-out")


def _until_held(page: Page, held: list[Any], what: str) -> None:
    """Lets the page run until a route handler has put something in ``held`` (5 s at most)."""
    for _ in range(100):
        if held:
            return
        page.wait_for_timeout(50)
    raise AssertionError(what)


def test_signing_out_while_a_list_loads_leaves_no_refused_read(browsing: Browsing) -> None:
    """A read still under way when the person signs out is stopped first. Here the approvals list is held back
    until the server has ended the session (the sign-out's answer held in turn): a read not stopped would then reach
    the server and come back 401, which the browser logs and the ``browsing`` fixture fails the test on."""
    page = browsing.page
    reads: list[Route] = []
    ended: list[tuple[Route, APIResponse]] = []
    page.route(re.compile(r"/api/v1/trips\?"), lambda route: reads.append(route))

    def sign_out(route: Route) -> None:
        ended.append((route, route.fetch()))  # the server ends the session; the page hears of it later

    page.route(re.compile(r"/api/v1/auth/logout$"), sign_out)
    browsing.sign_in("approver-b")
    expect(page).to_have_url(re.compile(r"/approvals$"))
    _until_held(page, reads, "the approvals list was never asked for")
    page.get_by_test_id("account").click()
    page.get_by_role("menuitem", name="退出登录").click()
    _until_held(page, ended, "the sign-out never reached the server")
    for route in reads:  # the session has ended: a read not stopped goes on now, and is refused
        with contextlib.suppress(PlaywrightError):
            route.continue_()
    page.wait_for_timeout(300)  # its answer arrives while the page still waits on the sign-out, as on CI
    route, answer = ended[0]
    route.fulfill(response=answer)
    expect(page).to_have_url(re.compile(r"/signin$"))


def test_a_password_is_changed_with_the_servers_refusals_next_to_the_fields(browsing: Browsing) -> None:
    browsing.watch.expect_error(r"status of (403|422)")  # the refusals this test provokes
    page, server = browsing.page, browsing.server
    user, old, new = "approver-b", server.password("approver-b"), "A-new-Pw-for-2031"
    browsing.sign_in(user)
    page.get_by_test_id("account").click()
    page.get_by_role("menuitem", name="修改密码").click()
    dialog = page.get_by_role("dialog", name="修改密码")
    expect(dialog).to_be_visible()

    def item(label: str):  # the form item of a field, where antd writes its error
        return dialog.locator(".ant-form-item").filter(has=page.get_by_label(label, exact=True))

    # Client-side first: too short, and the two new ones differ.
    dialog.get_by_test_id("password-current").fill(old)
    dialog.get_by_test_id("password-new").fill("short")
    dialog.get_by_test_id("password-confirm").fill("shorter")
    dialog.get_by_test_id("password-submit").click()
    expect(item("新密码").locator(".ant-form-item-explain-error")).to_have_text("至少 10 个字符")
    expect(item("确认新密码").locator(".ant-form-item-explain-error")).to_have_text("两次输入的新密码不一致")

    # The server's: a wrong current password, shown under that field.
    dialog.get_by_test_id("password-current").fill("not-my-password")
    dialog.get_by_test_id("password-new").fill(new)
    dialog.get_by_test_id("password-confirm").fill(new)
    with page.expect_response(re.compile(r"/api/v1/auth/password$")) as refused:
        dialog.get_by_test_id("password-submit").click()
    assert refused.value.status == 403
    assert refused.value.json()["field"] == "current"
    expect(item("当前密码").locator(".ant-form-item-explain-error")).not_to_be_empty()
    browsing.screenshot("password-refused")

    changed = False
    try:
        dialog.get_by_test_id("password-current").fill(old)
        with page.expect_response(re.compile(r"/api/v1/auth/password$")) as answer:
            dialog.get_by_test_id("password-submit").click()
        assert answer.value.status == 204
        changed = True
        expect(dialog).to_be_hidden()
        expect(page.get_by_text("密码已修改")).to_be_visible()

        # This session goes on; the next sign-in takes the new password.
        page.reload()
        expect(page.get_by_test_id("who-name")).to_have_text(user)
        page.get_by_test_id("account").click()
        page.get_by_role("menuitem", name="退出登录").click()
        expect(page).to_have_url(re.compile(r"/signin$"))
        browsing.sign_in(user, new)
        expect(page.get_by_test_id("who-name")).to_have_text(user)
        # Signed out before the password goes back below (which ends every session of the user, this one too).
        page.get_by_test_id("account").click()
        page.get_by_role("menuitem", name="退出登录").click()
        expect(page).to_have_url(re.compile(r"/signin$"))
    finally:  # the city is shared by the session's tests: the password goes back
        if changed:
            server.call(user, "POST", "/auth/password", json={"current": new, "new": old})


def test_a_session_ended_elsewhere_leads_back_to_the_sign_in_page(browsing: Browsing) -> None:
    browsing.watch.expect_error(r"status of 401|EventSource")  # the page's calls after the session ended
    page = browsing.page
    browsing.sign_in("requester-a")
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    # Ended on the server (an administrator, another tab's sign-out): the browser still holds its cookies.
    with httpx.Client(base_url=browsing.server.base_url, cookies=cookies) as client:
        ended = client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": cookies["gongche_csrf"]})
        assert ended.status_code == 204

    # The page learns it either by itself (the live stream ends with the session, then the page asks who it is) or
    # at its next call (the list asks the server, which no longer knows the session): under load the first may win
    # while the click is under way, taking the link away, so the click is only a nudge.
    with contextlib.suppress(PlaywrightError):
        page.get_by_role("link", name="我的行程").click(timeout=3000)
    expect(page).to_have_url(re.compile(r"/signin$"))
    expect(page.get_by_test_id("signin-expired")).to_have_text("登录已失效，请重新登录。")
    browsing.screenshot("expired")

    page.reload()  # on load, the server is asked who is signed in: nobody
    expect(page).to_have_url(re.compile(r"/signin$"))
    expect(page.get_by_test_id("signin-name")).to_be_visible()
