"""Headless Chromium through the AWS console twin: IdP login → "Select a role" → console.

Nothing is intercepted: the IdP's auto-POST reaches the real ``/aws/saml``, the role page's
own submit button posts the second hop, and the console cookie carries the session.
"""

from __future__ import annotations

import os
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

#: Screenshots for a human look; outside the repository on purpose.
SCREENSHOT_DIR = os.environ.get("CONSOLE_SCREENSHOT_DIR", "/tmp")


def test_alice_picks_developer_and_signs_out(live_server: str,
                                             new_context: Callable[..., Any]) -> None:
    """alice logs in, picks Developer on the role page, sees her session, signs out."""
    page = new_context(viewport={"width": 1100, "height": 900}).new_page()
    page.goto(f"{live_server}/idp/init")
    expect(page.locator("#username")).to_be_visible()
    page.fill("#username", "alice")
    page.fill("#password", "alice-password")
    page.click("#submit")

    page.wait_for_url(f"{live_server}/aws/saml")
    expect(page.locator("h1")).to_have_text("Amazon Web Services Login")
    expect(page.locator("fieldset > div.saml-account")).to_have_count(2)
    expect(page.locator("div.saml-account-name")).to_have_text(
        ["Account: corp-prod (111122223333)", "Account: corp-dev (444455556666)"])
    expect(page.locator("input[name=roleIndex]")).to_have_count(3)
    page.screenshot(path=f"{SCREENSHOT_DIR}/console-select-role.png", full_page=True)

    page.click(f'label.saml-role-description[for="{DEVELOPER}"]')
    expect(page.locator(f'input[name=roleIndex][value="{DEVELOPER}"]')).to_be_checked()
    page.click("#signin_button")

    page.wait_for_url(f"{live_server}/aws/console")
    expect(page.locator("#identity")).to_contain_text(
        "arn:aws:sts::444455556666:assumed-role/Developer/alice@corp.example")
    expect(page.locator("#account")).to_contain_text("corp-dev")
    expect(page.locator("#credentials")).to_contain_text("export AWS_ACCESS_KEY_ID=ASIA")
    page.screenshot(path=f"{SCREENSHOT_DIR}/console-signed-in.png", full_page=True)

    page.click("#sign-out")
    expect(page.locator("#signed-out")).to_be_visible()
    expect(page.locator("#sign-in-again")).to_have_attribute("href", "/idp/init")
    page.goto(f"{live_server}/aws/console")
    # No console session any more, but the IdP session remains: a fresh assertion, role page.
    expect(page.locator("h1")).to_have_text("Amazon Web Services Login")
