"""Take the README's screenshots from a demo database: the dispatcher's day board and the requester's booking form.

    GONGCHE_DATABASE_URL=sqlite:///var/demo.db .venv/bin/gongche demo --reset --no-serve   # or `make demo`
    .venv/bin/python docs/screenshots.py --database var/demo.db --users var/demo-users.txt --day 2026-12-03

It serves the app on the database (a free local port), signs in as the demo's users with the passwords the demo
printed, and drives Debian's Chromium (Playwright, headless) to each page; the images land in docs/img/.
"""

from __future__ import annotations

import argparse
import socket
import sys
import threading
import time
from pathlib import Path

import uvicorn
from playwright.sync_api import Page, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.app import create_app
from fleet.db import make_engine

OUT = Path(__file__).resolve().parent / "img"


def sign_in(page: Page, base: str, name: str, password: str) -> None:
    page.goto(f"{base}/signin")
    page.get_by_test_id("signin-name").fill(name)
    page.get_by_test_id("signin-password").fill(password)
    page.get_by_test_id("signin-submit").click()
    page.wait_for_url(lambda url: "/signin" not in url, timeout=30_000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", type=Path, default=Path("var/demo.db"))
    parser.add_argument("--users", type=Path, default=Path("var/demo-users.txt"))
    parser.add_argument("--day", required=True, help="the board's day, YYYY-MM-DD (the demo's booked day)")
    args = parser.parse_args()
    users = {role: (name, password) for role, name, password in
             (line.split("\t") for line in args.users.read_text(encoding="utf-8").splitlines() if line)}
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(make_engine(f"sqlite:///{args.database}")),
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    OUT.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                             args=["--no-sandbox", "--use-angle=swiftshader",
                                                   "--enable-unsafe-swiftshader"])
        for role, path, image in (("dispatcher", f"/board?day={args.day}", "day-board.png"),
                                  ("requester", "/book", "booking-form.png")):
            context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN",
                                          timezone_id="Asia/Shanghai")
            page = context.new_page()
            sign_in(page, base, *users[role])
            page.goto(f"{base}{path}")
            page.wait_for_load_state("networkidle")
            time.sleep(2)  # the timeline lays itself out after its data arrives
            page.screenshot(path=OUT / image)
            print(f"wrote {OUT / image}")
            context.close()
        browser.close()
    server.should_exit = True
    thread.join(timeout=10)


if __name__ == "__main__":
    main()
