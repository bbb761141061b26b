"""Headless Chromium through the console twin's IAM-user sign-in and switch role.

The real ``idp serve`` (demo directory): ops signs in with a password and the code of the
demo's MFA device (pyotp, from its seed), switches to corp-prod's BreakGlass (which needs
MFA) and to corp-dev's Deployer, switches back from the history, goes back to ops and signs
out. Without MFA (a directory where ops has no device) BreakGlass is refused with the page
explaining why. Nothing is intercepted and no page runs a script.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pyotp
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import CHROMIUM
from tests.support.demo import OPS_SEED, demo_text
from tests.support.server import running_server

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is not installed"),
]

SCREENSHOT_DIR = os.environ.get("CONSOLE_SCREENSHOT_DIR", "/tmp")
DEV = "444455556666"
PROD = "111122223333"


def fresh_code() -> str:
    """A code not used before in this run: wait for the next 30-second step if this one's
    code was already accepted (each code works once)."""
    totp = pyotp.TOTP(OPS_SEED)
    step = int(time.time()) // 30
    if step in fresh_code.used:  # type: ignore[attr-defined]
        time.sleep(30 - time.time() % 30 + 0.5)
        step = int(time.time()) // 30
    fresh_code.used.add(step)  # type: ignore[attr-defined]
    return totp.at(step * 30)


fresh_code.used = set()  # type: ignore[attr-defined]


def password_step(page: Any, base: str, account: str, user: str, password: str) -> None:
    page.goto(f"{base}/aws/signin?account={account}")
    expect(page.locator("#account")).to_have_value(account)
    page.fill("#username", user)
    page.fill("#password", password)
    page.click("#signin_button")


def switch(page: Any, base: str, account: str, role: str, display: str, color: str) -> None:
    query = urlencode({"account": account, "roleName": role, "displayName": display,
                       "color": color})
    page.goto(f"{base}/aws/switchrole?{query}")
    expect(page.locator("#confirm-display")).to_have_text(display)
    page.click("#switch_button")


@pytest.fixture
def no_mfa_server(tmp_path: Path) -> Iterator[str]:
    """``idp serve`` on the demo directory, but ops has no MFA device."""
    import yaml

    def edit(data: dict[str, Any]) -> None:
        data["accounts"][DEV]["iam_users"]["ops"].pop("mfa_seed")

    config = tmp_path / "directory.yaml"
    config.write_text(demo_text(edit))
    assert yaml.safe_load(config.read_text())
    with running_server(tmp_path, extra_args=["--config", str(config)]) as server:
        yield server.url


def test_ops_signs_in_with_mfa_switches_roles_and_signs_out(
        live_server: str, new_context: Callable[..., Any]) -> None:
    page = new_context(viewport={"width": 1100, "height": 900}).new_page()
    scripts: list[str] = []
    page.on("console", lambda message: scripts.append(message.text))

    password_step(page, live_server, "corp-dev", "ops", "ops-password")
    expect(page.locator("h1")).to_have_text("Multi-factor authentication")
    expect(page.locator("#mfa-device")).to_have_text(f"arn:aws:iam::{DEV}:mfa/ops")
    wrong = f"{(int(pyotp.TOTP(OPS_SEED).now()) + 1) % 1_000_000:06d}"
    page.fill("#mfa_code", wrong)
    page.click("#mfa_submit")
    expect(page.locator("#error")).to_contain_text("authentication information is incorrect")
    page.fill("#mfa_code", fresh_code())
    page.click("#mfa_submit")

    page.wait_for_url(f"{live_server}/aws/console")
    expect(page.locator("#identity")).to_have_text(f"arn:aws:iam::{DEV}:user/ops")
    expect(page.locator("#mfa-present")).to_have_text("true")
    expect(page.locator("#back")).to_have_count(0)

    switch(page, live_server, "corp-prod", "BreakGlass", "Break glass", "b91c1c")
    page.wait_for_url(f"{live_server}/aws/console")
    expect(page.locator("#identity")).to_have_text(
        f"arn:aws:sts::{PROD}:assumed-role/BreakGlass/ops")
    expect(page.locator("#role-badge")).to_have_text("Break glass")
    expect(page.locator("#back")).to_have_text("Back to ops")
    page.screenshot(path=f"{SCREENSHOT_DIR}/console-switched-role.png", full_page=True)

    switch(page, live_server, "corp-dev", "Deployer", "Deploy", "1d4ed8")
    expect(page.locator("#identity")).to_have_text(
        f"arn:aws:sts::{DEV}:assumed-role/Deployer/ops")
    expect(page.locator("#history .history-label")).to_have_text(["Deploy", "Break glass"])

    # One click in the history: back in BreakGlass (authorised with ops's own sign-in).
    page.locator("#history li", has_text="Break glass").locator("button").click()
    expect(page.locator("#identity")).to_have_text(
        f"arn:aws:sts::{PROD}:assumed-role/BreakGlass/ops")

    page.click("#back")
    expect(page.locator("#identity")).to_have_text(f"arn:aws:iam::{DEV}:user/ops")
    expect(page.locator("#history .history-label")).to_have_text(["Break glass", "Deploy"])

    page.click("#sign-out")
    expect(page.locator("#signed-out")).to_be_visible()
    expect(page.locator("#sign-in-again")).to_have_attribute(
        "href", "/aws/signin?account=corp-dev")
    page.goto(f"{live_server}/aws/console")
    # No console session any more: the cookie-less console starts at the IdP, as before.
    expect(page).to_have_url(re.compile(re.escape(f"{live_server}/idp/login")))
    expect(page.locator("#identity")).to_have_count(0)
    assert not [s for s in scripts if "Content Security Policy" in s], scripts


def test_without_mfa_break_glass_is_refused_with_the_reason(
        no_mfa_server: str, new_context: Callable[..., Any]) -> None:
    page = new_context(viewport={"width": 1100, "height": 900}).new_page()
    password_step(page, no_mfa_server, "corp-dev", "ops", "ops-password")
    page.wait_for_url(f"{no_mfa_server}/aws/console")
    expect(page.locator("#identity")).to_have_text(f"arn:aws:iam::{DEV}:user/ops")
    expect(page.locator("#mfa-present")).to_have_text("false")

    switch(page, no_mfa_server, "corp-prod", "BreakGlass", "Break glass", "b91c1c")
    expect(page.locator("#aws-error")).to_contain_text(
        "Invalid information in one or more fields")
    expect(page.locator("#sts-error")).to_contain_text(
        f"User: arn:aws:iam::{DEV}:user/ops is not authorized to perform: sts:AssumeRole "
        f"on resource: arn:aws:iam::{PROD}:role/BreakGlass")
    expect(page.locator("#found")).to_contain_text("MultiFactorAuthPresent")
    page.screenshot(path=f"{SCREENSHOT_DIR}/console-switch-refused.png", full_page=True)

    page.click("#back-to-console")
    expect(page.locator("#identity")).to_have_text(f"arn:aws:iam::{DEV}:user/ops")


def test_a_wrong_password_and_a_crafted_link_in_the_browser(
        live_server: str, new_context: Callable[..., Any]) -> None:
    page = new_context().new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    password_step(page, live_server, "corp-dev", "admin", "wrong")
    expect(page.locator("#error")).to_have_text(
        "Your authentication information is incorrect. Please try again.")
    page.fill("#password", "admin-password")
    page.click("#signin_button")
    page.wait_for_url(f"{live_server}/aws/console")
    crafted = '<img src=x onerror=alert(1)>'
    page.goto(f"{live_server}/aws/switchrole?" + urlencode(
        {"account": "corp-dev", "roleName": "Deployer", "displayName": crafted}))
    expect(page.locator("#confirm-display")).to_have_text(crafted)
    page.click("#switch_button")
    expect(page.locator("#identity")).to_have_text(
        f"arn:aws:sts::{DEV}:assumed-role/Deployer/admin")
    expect(page.locator("#role-badge")).to_have_text(crafted)
    assert dialogs == []
