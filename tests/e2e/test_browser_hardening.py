"""What a real browser makes of the security headers: no framing, and no page of the service
broken by its own Content-Security-Policy (the auto-POST and the role page run their scripts).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import CHROMIUM
from tests.support.demo import DEVELOPER

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is not installed"),
]


@pytest.mark.parametrize("path", ["/idp/login", "/idp/logout", "/idp/init"])
def test_another_site_cannot_frame_the_sign_in_pages(live_server: str, page: Any,
                                                     path: str) -> None:
    """A page from another origin that frames a sign-in page gets an empty frame."""
    page.set_content(f'<iframe id="victim" src="{live_server}{path}" width="600" '
                     'height="400"></iframe>')
    page.wait_for_timeout(500)
    frame = page.frame_locator("#victim")
    expect(frame.locator("input")).to_have_count(0)
    expect(frame.locator("button")).to_have_count(0)


def test_the_pages_own_scripts_run_under_the_policy(live_server: str,
                                                    new_context: Callable[..., Any]) -> None:
    """Login → auto-POST → role choice → console with not one CSP violation reported."""
    page = new_context().new_page()
    violations: list[str] = []
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text else None)
    page.goto(f"{live_server}/idp/init")
    page.fill("#username", "alice")
    page.fill("#password", "alice-password")
    page.click("#submit")
    page.wait_for_url(f"{live_server}/aws/saml")  # the auto-POST script submitted itself
    page.click(f'label.saml-role-description[for="{DEVELOPER}"]')
    page.click("#signin_button")
    page.wait_for_url(f"{live_server}/aws/console")
    expect(page.locator("#credentials")).to_contain_text("export AWS_ACCESS_KEY_ID=ASIA")
    assert violations == []


def test_role_page_handlers_still_work_without_inline_attributes(
        live_server: str, new_context: Callable[..., Any]) -> None:
    """The account toggle and the click-anywhere-on-a-role row, now attached by the page's
    nonce'd script instead of onClick attributes, still respond."""
    page = new_context().new_page()
    page.goto(f"{live_server}/idp/init")
    page.fill("#username", "alice")
    page.fill("#password", "alice-password")
    page.click("#submit")
    page.wait_for_url(f"{live_server}/aws/saml")
    row = page.locator("div.saml-role", has=page.locator(f'input[value="{DEVELOPER}"]'))
    row.dispatch_event("click")  # on the row itself: no label or radio takes the click
    expect(page.locator(f'input[name=roleIndex][value="{DEVELOPER}"]')).to_be_checked()
    page.locator(".saml-account-toggle").first.click()
    expect(page.locator('div[id="0"]')).to_be_hidden()
