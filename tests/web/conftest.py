"""The console in a real browser: the app (API + built console) served by uvicorn on a seeded SQLite city, and
Debian's Chromium driven by Playwright.

Every browser test is watched: a request to any origin but the server's is aborted and fails the test, and so does
any console error or uncaught page error (unless the test said it expects that one); a screenshot of the page is
left in the test's tmp folder either way. Without /usr/bin/chromium (or the playwright package, or a built
web/dist) the browser tests skip with the reason, unless ``GONGCHE_REQUIRE_BROWSER=1`` (set by CI), where that fails.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from sqlalchemy.engine import Engine

from api.app import PREFIX, create_app
from api.console import ConsoleRoute, console_dir, is_built, mount_console
from api.routes import vocabulary
from fleet.db import make_engine
from tests.api.conftest import City, at, city, city_engine, city_template, trip_body

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Locator, Page, Request, Route

__all__ = ["city", "city_engine", "city_template"]  # the API tests' seeded city, as fixtures here too

CHROMIUM = Path(os.environ.get("GONGCHE_CHROMIUM", "/usr/bin/chromium"))
REQUIRED = os.environ.get("GONGCHE_REQUIRE_BROWSER") == "1"
# Not China, and not Chinese: what the console shows must not come from the browser's zone or language.
BROWSER_ZONE, BROWSER_LOCALE = "America/New_York", "en-US"


def unavailable(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"the browser tests are required here (GONGCHE_REQUIRE_BROWSER=1): {reason}")
    pytest.skip(reason)


def console_app(engine: Engine) -> FastAPI:
    """``create_app(engine)`` with the console mounted on it (``GONGCHE_CONSOLE_DIR`` or web/dist).

    Until api/app.py wires the console in itself, this does it here: it includes the vocabulary route, drops
    FastAPI's own /docs (which loads Swagger UI from a CDN) and calls `mount_console`. Once the app does all that,
    this is ``create_app`` and nothing more.
    """
    app = create_app(engine)
    paths = {str(context.path_format) for context in iter_route_contexts(app.routes)}
    if f"{PREFIX}/vocabulary" not in paths:
        app.include_router(vocabulary.router, prefix=PREFIX)
    if not any(isinstance(route, ConsoleRoute) for route in app.router.routes):
        fastapi_pages = {app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url} - {None}
        app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", None) not in fastapi_pages]
        mount_console(app)
    return app


@dataclass
class LiveServer:
    base_url: str
    city: City
    trips: dict[str, int]  # what the fixture booked, by name
    engine: Engine | None = None  # the served database, for what no API writes (positions: tests/web/test_tracks_map)

    @property
    def origin(self) -> str:
        return self.base_url

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def token(self, user: str) -> str:
        return self.city.tokens[user]

    def password(self, user: str) -> str:
        """``user``'s sign-in password in the seeded city (tests/api/conftest.py gives each user one)."""
        return self.city.passwords[user]

    def call(self, user: str, method: str, path: str, **kwargs: Any) -> Any:
        """The API as ``user`` (bearer token), for a test's own setting up: the answer's JSON, asserted a success."""
        with httpx.Client(base_url=self.base_url, timeout=30) as client:
            response = client.request(method, f"{PREFIX}{path}", **kwargs,
                                      headers={"Authorization": f"Bearer {self.token(user)}"})
        assert response.is_success, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else None


def _book(client: httpx.Client, server_city: City) -> dict[str, int]:
    """Agency A's requester books three trips on the city's day (09:00–09:30 China time and two more); its approver
    approves one and it cancels another. Agency B books one that A must not see."""

    def call(user: str, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = client.request(method, f"{PREFIX}{path}", **kwargs,
                                  headers={"Authorization": f"Bearer {server_city.tokens[user]}"})
        assert response.is_success, response.text
        body: dict[str, Any] = response.json()
        return body

    requested = call("requester-a", "POST", "/trips", json=trip_body(purpose="执法检查"))
    approved = call("requester-a", "POST", "/trips", json=trip_body(
        purpose="现场勘查", earliest_pickup=at(14).isoformat(), latest_pickup=at(14, 30).isoformat()))
    cancelled = call("requester-a", "POST", "/trips", json=trip_body(
        purpose="会议接送", priority="routine", earliest_pickup=at(20, 15).isoformat(),
        latest_pickup=at(20, 45).isoformat()))
    call("approver-a", "POST", f"/trips/{approved['id']}/approve", json={"note": "同意"})
    call("requester-a", "POST", f"/trips/{cancelled['id']}/cancel", json={"note": "会议取消"})
    other = call("requester-b", "POST", "/trips", json=trip_body(purpose="城管巡查"))
    return {"requested": requested["id"], "approved": approved["id"], "cancelled": cancelled["id"],
            "other_agency": other["id"]}


@pytest.fixture(scope="session")
def live_server(city_template: tuple[Path, City], tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The app with its console on a copy of the seeded city, served by uvicorn in a thread on a free port."""
    if not is_built(console_dir()):
        unavailable(f"the console is not built ({console_dir()}): run `make web`")
    path = tmp_path_factory.mktemp("web") / "city.db"
    for suffix in ("", "-wal"):
        if Path(f"{city_template[0]}{suffix}").exists():
            shutil.copy(f"{city_template[0]}{suffix}", f"{path}{suffix}")
    engine = make_engine(f"sqlite:///{path}")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(console_app(engine), log_level="warning", access_log=False,
                                           lifespan="on", ws="none"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="live-server")
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the test server did not start")
        time.sleep(0.02)
    base_url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base_url, timeout=30) as client:
            trips = _book(client, city_template[1])
        yield LiveServer(base_url, city_template[1], trips, engine)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        engine.dispose()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is missing (apt-get install chromium); Playwright's own browsers are not used here")
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        unavailable("the playwright package is missing: pip install -e '.[test]'")
    expect.set_options(timeout=20_000)  # two cores, shared: Redoc reads the whole OpenAPI document first
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            # No GPU here: WebGL (the map) runs on SwiftShader, which Chromium now only uses when asked.
            args=["--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"])
        yield launched
        launched.close()


def same_origin(url: str, origin: str) -> bool:
    """Whether a request's URL stays on ``origin``: data: is inline, blob: carries its creator's origin."""
    if url.startswith("data:"):
        return True
    if url.startswith("blob:"):
        url = url[len("blob:"):]
    parts, home = urlsplit(url), urlsplit(origin)
    return (parts.scheme, parts.hostname, parts.port) == (home.scheme, home.hostname, home.port)


@dataclass
class Watch:
    """What one page did: every request, those that left the origin (aborted), console errors and page errors."""

    origin: str
    requests: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    expected: list[re.Pattern[str]] = field(default_factory=list)

    def expect_error(self, pattern: str) -> None:
        """A console error this test provokes on purpose (e.g. the browser's own line for an expected 401)."""
        self.expected.append(re.compile(pattern))

    def on_request(self, request: Request) -> None:
        self.requests.append(request.url)

    def on_route(self, route: Route) -> None:
        url = route.request.url
        if same_origin(url, self.origin):
            route.continue_()
        else:
            self.foreign.append(url)
            route.abort("blockedbyclient")

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            location = message.location
            self.errors.append(f"console: {message.text} ({location.get('url', '')}:{location.get('lineNumber', '')})")

    def on_page_error(self, error: Exception) -> None:
        self.errors.append(f"pageerror: {error}")

    def problems(self) -> list[str]:
        stray = [url for url in self.requests if not same_origin(url, self.origin) and url not in self.foreign]
        unexpected = [e for e in self.errors if not any(p.search(e) for p in self.expected)]
        return ([f"request left {self.origin}: {url}" for url in [*self.foreign, *stray]]
                + [f"page logged an error: {e}" for e in unexpected])


@dataclass
class Browsing:
    page: Page
    watch: Watch
    server: LiveServer
    shots: Path

    def goto(self, path: str) -> None:
        self.page.goto(self.server.url(path), wait_until="load")

    def sign_in(self, user: str, password: str | None = None) -> None:
        """Sign ``user`` in through the password form, as a person would, and wait for its home page."""
        self.goto("/signin")
        self.page.get_by_test_id("signin-name").fill(user)
        self.page.get_by_test_id("signin-password").fill(password or self.server.password(user))
        self.page.get_by_test_id("signin-submit").click()
        self.page.wait_for_url(lambda url: urlsplit(url).path != "/signin")
        self.page.get_by_test_id("account").wait_for()

    def screenshot(self, name: str, *, full_page: bool = False) -> Path:
        path = self.shots / f"{name}.png"
        # One image pixel per CSS pixel: a phone's device scale of 3 would paint nine times the pixels in software.
        self.page.screenshot(path=str(path), full_page=full_page, scale="css")
        return path


# Ant Design's controls, worked as a person does: open a select and click an option, type a date or time into a
# picker, read the error antd writes under a form item.


def open_dropdown(page: Page) -> Locator:
    """The select dropdown showing now (antd keeps closed ones in the page, hidden)."""
    return page.locator(".ant-select-dropdown:not(.ant-select-dropdown-hidden)").last


def choose(page: Page, select: Locator, *options: str) -> None:
    """Pick ``options`` (their labels) in an antd Select (multiple ones for a multi-select), then close it."""
    select.click()
    for option in options:
        open_dropdown(page).locator(".ant-select-item-option").filter(has_text=option).first.click()
    page.keyboard.press("Escape")


def search_and_choose(page: Page, select: Locator, text: str, option: str) -> None:
    """Type ``text`` into a searching Select and pick the option labelled ``option``, once the list answers the
    search: every option then holds ``text``. Until then the list is the one before the search, which is replaced
    when the answer comes (a click landing as it is replaced picks nothing)."""
    from playwright.sync_api import expect

    select.click()
    select.locator("input").fill(text)
    options = open_dropdown(page).locator(".ant-select-item-option")
    expect(options.filter(has_not_text=text)).to_have_count(0)
    options.filter(has_text=option).first.click()
    expect(select).to_contain_text(option)


def type_into_picker(picker: Locator, value: str) -> None:
    """Type a date (YYYY-MM-DD) or time (HH:mm) into an antd picker and take it."""
    field = picker if picker.evaluate("e => e.tagName") == "INPUT" else picker.locator("input").first
    field.click()
    field.fill(value)
    field.press("Tab")  # leaving the field takes what was typed (Enter would also submit the form)


FORM_ITEM = "xpath=ancestor::div[contains(concat(' ', normalize-space(@class), ' '), ' ant-form-item ')][1]"


def form_item(control: Locator) -> Locator:
    """The antd form item holding ``control`` (its label, the control, and the error antd writes under it)."""
    return control.locator(FORM_ITEM)


def field_error(control: Locator) -> Locator:
    """The error antd shows under the form item of ``control``."""
    return form_item(control).locator(".ant-form-item-explain-error")


BrowsingFactory = Callable[..., Browsing]
_SESSIONS = pytest.StashKey[list[tuple[Browsing, "BrowserContext"]]]()  # a test's browser contexts, for the hook


@pytest.fixture
def open_browsing(browser: Browser, live_server: LiveServer, tmp_path: Path,
                  request: pytest.FixtureRequest) -> Iterator[BrowsingFactory]:
    """Opens browser contexts (no storage: a person on another machine each) on the live server, each watched like
    ``browsing``, with a screenshot of each left in tmp_path: ``open_browsing("phone", viewport=…, is_mobile=True)``."""
    opened: list[tuple[Browsing, BrowserContext]] = []

    def open_one(name: str = "browser", **options: Any) -> Browsing:
        # Reduced motion, as a person may ask of their system: a menu item is clicked where it is, not while it
        # slides in (a click during the animation could miss it on a loaded machine).
        context = browser.new_context(**{"timezone_id": BROWSER_ZONE, "locale": BROWSER_LOCALE,
                                         "viewport": {"width": 1440, "height": 900}, "reduced_motion": "reduce",
                                         **options})
        watch = Watch(live_server.origin)
        context.on("request", watch.on_request)
        context.route("**/*", watch.on_route)
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.on("console", watch.on_console)
        page.on("pageerror", watch.on_page_error)
        shots = tmp_path if not opened else tmp_path / name
        shots.mkdir(parents=True, exist_ok=True)
        session = Browsing(page, watch, live_server, shots)
        opened.append((session, context))
        return session

    request.node.stash[_SESSIONS] = opened
    try:
        yield open_one
    finally:
        for session, context in opened:
            try:
                session.screenshot("screenshot")
            finally:
                context.close()


@pytest.fixture
def browsing(open_browsing: BrowsingFactory) -> Browsing:
    """A fresh browser context (no storage) on the live server, watched; a screenshot of it is left in tmp_path."""
    return open_browsing()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """After a browser test's own checks pass: fail it if its page went off-origin or logged an error."""
    result = yield
    sessions = item.stash.get(_SESSIONS, [])
    if sessions:
        sessions[0][0].page.wait_for_timeout(300)  # late errors and requests of the last step
    problems = [problem for session, _ in sessions for problem in session.watch.problems()]
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)
    return result
