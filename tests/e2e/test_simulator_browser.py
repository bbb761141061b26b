"""The in-process ``Simulator`` through real Chromium: runtime edits and faults reach the
browser flow (login page, auto-POST, console twin) with no restart."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from idp import Simulator

pytestmark = pytest.mark.browser


def sign_in(page: Any, sim: Simulator, user: str, password: str) -> None:
    page.goto(f"{sim.base_url}/idp/init")
    expect(page.locator("#username")).to_be_visible()
    page.fill("#username", user)
    page.fill("#password", password)
    page.click("#submit")


def test_a_user_added_at_runtime_signs_in_through_the_browser(saml_idp: Simulator,
                                                              page: Any) -> None:
    saml_idp.add_user("erin", password="erin-secret", email="erin@corp.example",
                      roles=["Developer"])
    sign_in(page, saml_idp, "erin", "erin-secret")
    expect(page.locator("#identity")).to_contain_text(
        "assumed-role/Developer/erin@corp.example")
    expect(page.locator("#credentials")).to_contain_text("export AWS_ACCESS_KEY_ID=ASIA")
    decision = saml_idp.exchanges(user="erin", kind="console")[-1]
    assert decision.accepted and decision.facts["assumed_role"].endswith(
        "assumed-role/Developer/erin@corp.example")


def test_a_removed_user_cannot_sign_in(saml_idp: Simulator, page: Any) -> None:
    saml_idp.remove_user("bob")
    sign_in(page, saml_idp, "bob", "bob-password")
    expect(page.locator(".error, [role=alert]").first).to_contain_text(
        "Invalid username or password")


def test_an_injected_fault_is_refused_by_the_console_with_its_rule(saml_idp: Simulator,
                                                                   page: Any) -> None:
    saml_idp.inject_fault("wrong-recipient")
    sign_in(page, saml_idp, "bob", "bob-password")
    expect(page.locator("body")).to_contain_text("Your request included an invalid SAML response")
    expect(page.locator("body")).to_contain_text("recipient")
    decision = saml_idp.exchanges(user="bob", kind="console")[-1]
    assert decision.rule == "recipient" and not decision.accepted
