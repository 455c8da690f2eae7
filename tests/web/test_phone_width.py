"""Every role's pages on a phone (390×844) in English, the longer of the console's two languages: the header and
the page fit the screen, with nothing to scroll sideways and the account button whole on it."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.web.conftest import BrowsingFactory

PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 3, "is_mobile": True, "has_touch": True}
ENGLISH = "localStorage.setItem('gongche.language', 'en')"  # the language switch's own choice (web/src/i18n.ts)

PAGES = {
    "driver-a": ["/driver"],
    "requester-a": ["/book", "/trips"],
    "approver-a": ["/approvals", "/book", "/trips"],
    "dispatcher": ["/board", "/trips"],
    "supervisor": ["/findings", "/trips"],
    "admin": ["/vehicles", "/vehicles?tab=quotas", "/vehicles?tab=reminders"],
}


@pytest.mark.parametrize("user", list(PAGES))
def test_each_page_fits_a_phone_in_english(open_browsing: BrowsingFactory, user: str) -> None:
    phone = open_browsing("phone", **PHONE)
    page = phone.page
    page.context.add_init_script(ENGLISH)
    phone.sign_in(user)
    for path in PAGES[user]:
        phone.goto(path)
        account = page.get_by_test_id("account")
        expect(account).to_be_visible()
        expect(page.get_by_test_id("brand")).to_have_text("Gongche dispatch platform")  # English, as asked
        expect(page.locator(".ant-layout-content .ant-spin-spinning")).to_have_count(0)
        page.wait_for_timeout(300)  # the page's own layout after its data came
        width = page.evaluate("document.documentElement.scrollWidth")
        phone.screenshot(f"{user}{path.replace('/', '-')}")
        assert width <= 390, f"{path} as {user} is {width} px wide on a 390 px phone"
        box = account.bounding_box()
        assert box is not None
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= 390, f"{path} as {user}: the account button is cut off at {box}"
