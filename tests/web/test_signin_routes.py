"""The console twin's IAM-user sign-in (``/aws/signin``) and switch role
(``/aws/switchrole``), over HTTP with the demo's IAM users.

corp-dev's ``ops`` has an MFA device and may switch to corp-prod's ``BreakGlass`` (only after
MFA) and corp-dev's ``Deployer``; corp-dev's ``admin`` has no MFA device.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

import lxml.html
import pyotp
import pytest

from tests.support.demo import ADMIN, DEV, DEVELOPER, OPS_MFA, OPS_SEED, PROD, edited_demo
from tests.support.http import auto_post, login

BREAK_GLASS = f"arn:aws:iam::{PROD}:role/BreakGlass"
DEPLOYER = f"arn:aws:iam::{DEV}:role/Deployer"
BAD = "Your authentication information is incorrect. Please try again."


def text_of(html: str) -> str:
    return " ".join(lxml.html.fromstring(html).text_content().split())


def csrf(html: str) -> str:
    return lxml.html.fromstring(html).xpath("string(//input[@name='csrf_token']/@value)")


def code(clock, offset: int = 0) -> str:
    return pyotp.TOTP(OPS_SEED).at(clock.now().timestamp() + offset)


def sign_in(client, account: str, user: str, password: str, **extra: str):
    page = client.get("/aws/signin")
    data = {"account": account, "username": user, "password": password,
            "csrf_token": csrf(page.text), **extra}
    return client.post("/aws/signin", data=data, follow_redirects=False)


def mfa(client, page_html: str, value: str, **extra: str):
    data = {"mfa_code": value, "csrf_token": csrf(page_html), **extra}
    return client.post("/aws/signin", data=data, follow_redirects=False)


def sign_in_ops_with_mfa(client, clock):
    first = sign_in(client, "corp-dev", "ops", "ops-password")
    assert first.status_code == 200, first.text
    done = mfa(client, first.text, code(clock))
    assert done.status_code == 303, done.text
    return done


def mfa_present(client) -> str:
    page = client.get("/aws/console")
    return lxml.html.fromstring(page.text).xpath("string(//*[@id='mfa-present'])").strip()


def console_text(client) -> str:
    page = client.get("/aws/console")
    assert page.status_code == 200, page.text
    return text_of(page.text)


def switch(client, account: str, role: str, display: str = "", color: str = "", **extra):
    query = urlencode({"account": account, "roleName": role, "displayName": display,
                       "color": color})
    confirm = client.get(f"/aws/switchrole?{query}")
    assert confirm.status_code == 200, confirm.text
    data = {"account": account, "roleName": role, "displayName": display, "color": color,
            "csrf_token": csrf(confirm.text), **extra}
    return client.post("/aws/switchrole", data=data, follow_redirects=False)


# --- sign-in ---------------------------------------------------------------------------------


def test_the_sign_in_page_has_the_fields_and_prefills_the_account(client):
    page = client.get("/aws/signin?account=corp-dev")
    assert page.status_code == 200
    doc = lxml.html.fromstring(page.text)
    assert doc.xpath("string(//input[@name='account']/@value)") == "corp-dev"
    names = set(doc.xpath("//form[@id='signin-form']//input/@name"))
    assert {"account", "username", "password", "csrf_token"} <= names
    assert doc.xpath("string(//input[@name='password']/@value)") == ""


@pytest.mark.parametrize("account", ["corp-dev", DEV, "4444-5555-6666", "CORP-DEV"])
def test_an_iam_user_without_mfa_lands_in_the_console(client, account):
    response = sign_in(client, account, "admin", "admin-password")
    assert response.status_code == 303
    assert response.headers["location"] == "/aws/console"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("aws_console=") and "HttpOnly" in cookie and "Path=/aws" in cookie
    text = console_text(client)
    assert f"arn:aws:iam::{DEV}:user/admin" in text
    assert f"corp-dev ({DEV})" in text
    assert mfa_present(client) == "false"
    assert "IAM user password" in text and "MFA code" not in text
    assert "720 minutes left" in text  # IAM user sessions: 12 hours
    who = lxml.html.fromstring(client.get("/aws/console").text).xpath("string(//*[@class='who'])")
    assert who == "admin @ corp-dev"  # as AWS's navigation bar shows an IAM user


def test_the_console_credentials_are_a_user_session(client):
    sign_in(client, "corp-dev", "admin", "admin-password")
    page = client.get("/aws/console").text
    akid = re.search(r"AWS_ACCESS_KEY_ID=(\S+)", page)[1]
    token = re.search(r"AWS_SESSION_TOKEN=(\S+)", page)[1]
    assert akid.startswith("ASIA")
    caller = client.app.state.runtime.services.callers.resolve_temporary(akid, token)
    assert caller.arn == f"arn:aws:iam::{DEV}:user/admin"
    assert caller.kind.value == "user-session"
    assert caller.mfa_authenticated_at is None


@pytest.mark.parametrize(("account", "user", "password"), [
    ("corp-dev", "admin", "wrong-password"),
    ("corp-dev", "nobody", "admin-password"),
    ("corp-prod", "ops", "ops-password"),  # ops is in corp-dev
    ("no-such-alias", "admin", "admin-password"),
    ("000000000000", "admin", "admin-password"),
])
def test_every_wrong_credential_gets_the_same_answer(client, account, user, password):
    response = sign_in(client, account, user, password)
    assert response.status_code == 401
    assert BAD in text_of(response.text)
    assert "aws_console=" not in response.headers.get("set-cookie", "")
    assert client.get("/aws/console", follow_redirects=False).status_code == 303


def test_a_missing_user_still_costs_a_password_derivation(client, monkeypatch):
    import idp.aws.signin as signin

    calls: list[str | None] = []
    real = signin.verify_password

    def counting(password: str, stored: str | None) -> bool:
        calls.append(stored)
        return real(password, stored)

    monkeypatch.setattr(signin, "verify_password", counting)
    sign_in(client, "corp-dev", "nobody", "x")
    sign_in(client, "no-such-alias", "nobody", "x")
    assert calls == [None, None]


def test_mfa_user_is_asked_for_the_code_then_lands_with_mfa(client, clock):
    first = sign_in(client, "corp-dev", "ops", "ops-password")
    assert first.status_code == 200
    assert "aws_console=" not in first.headers.get("set-cookie", "")
    doc = lxml.html.fromstring(first.text)
    assert doc.xpath("string(//input[@name='device']/@value)") == OPS_MFA
    assert doc.xpath("//input[@name='mfa_code']")
    assert client.get("/aws/console", follow_redirects=False).status_code == 303
    done = mfa(client, first.text, code(clock))
    assert done.status_code == 303 and done.headers["location"] == "/aws/console"
    text = console_text(client)
    assert f"arn:aws:iam::{DEV}:user/ops" in text
    assert mfa_present(client) == "true"
    assert "IAM user password and MFA code" in text


def test_a_wrong_code_is_refused_and_the_step_stays_open(client, clock):
    first = sign_in(client, "corp-dev", "ops", "ops-password")
    wrong = mfa(client, first.text, "000000" if code(clock) != "000000" else "111111")
    assert wrong.status_code == 401
    assert BAD in text_of(wrong.text)
    assert lxml.html.fromstring(wrong.text).xpath("//input[@name='mfa_code']")
    assert mfa(client, wrong.text, code(clock)).status_code == 303


@pytest.mark.parametrize("value", ["", "12345", "abcdef", "1234567", "١٢٣٤٥٦"])
def test_malformed_codes_are_refused(client, value):
    first = sign_in(client, "corp-dev", "ops", "ops-password")
    response = mfa(client, first.text, value)
    assert response.status_code == 401
    assert "6-digit code" in text_of(response.text)


def test_each_code_works_once(client_factory, clock):
    """A code accepted for one sign-in is refused for the next (same device)."""
    one, two = client_factory(), client_factory()
    value = code(clock)
    first = sign_in(one, "corp-dev", "ops", "ops-password")
    assert mfa(one, first.text, value).status_code == 303
    second = sign_in(two, "corp-dev", "ops", "ops-password")
    again = mfa(two, second.text, value)
    assert again.status_code == 401
    assert "already used" in text_of(again.text)


def test_the_mfa_step_is_single_use_even_for_a_copied_cookie(client, clock):
    first = sign_in(client, "corp-dev", "ops", "ops-password")
    session_cookie = client.cookies.get("idp_session")
    assert mfa(client, first.text, code(clock)).status_code == 303
    client.cookies.set("idp_session", session_cookie, domain="idp.test", path="/")
    clock.advance(30)
    replay = mfa(client, first.text, code(clock))
    assert replay.status_code in (400, 401)
    assert "expired or was already completed" in text_of(replay.text)


def test_the_mfa_step_expires(client, clock):
    first = sign_in(client, "corp-dev", "ops", "ops-password")
    clock.advance(301)
    late = mfa(client, first.text, code(clock))
    assert late.status_code == 400
    assert "expired" in text_of(late.text)


def test_code_without_a_password_step_is_refused(client, clock):
    page = client.get("/aws/signin")
    response = mfa(client, page.text, code(clock))
    assert response.status_code == 400
    assert "aws_console=" not in response.headers.get("set-cookie", "")


def test_a_new_sign_in_replaces_the_old_console_session_everywhere(client):
    sign_in(client, "corp-dev", "admin", "admin-password")
    old = client.cookies.get("aws_console")
    sign_in(client, "corp-prod", "admin", "admin-password")
    assert f"arn:aws:iam::{PROD}:user/admin" in console_text(client)
    assert client.cookies.get("aws_console") != old
    client.cookies.set("aws_console", old, domain="idp.test", path="/aws")
    assert client.get("/aws/console", follow_redirects=False).status_code == 303


def test_sign_in_rotates_the_form_token(client):
    page = client.get("/aws/signin")
    before = csrf(page.text)
    sign_in(client, "corp-dev", "admin", "admin-password")
    assert csrf(client.get("/aws/signin").text) != before


def test_an_expired_user_session_goes_back_to_the_sign_in_page(client, clock):
    sign_in(client, "corp-dev", "admin", "admin-password")
    clock.advance(43_200)
    response = client.get("/aws/console", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/aws/signin?account=corp-dev"


def test_sign_out_ends_a_user_session(client):
    sign_in(client, "corp-dev", "admin", "admin-password")
    stolen = client.cookies.get("aws_console")
    page = client.get("/aws/console")
    out = client.post("/aws/logout", data={"csrf_token": csrf(page.text)})
    assert out.status_code == 200
    doc = lxml.html.fromstring(out.text)
    assert doc.xpath("string(//a[@id='sign-in-again']/@href)") == "/aws/signin?account=corp-dev"
    client.cookies.set("aws_console", stolen, domain="idp.test", path="/aws")
    assert client.get("/aws/console", follow_redirects=False).status_code == 303


def test_after_sign_in_a_switch_role_link_is_followed(client):
    target = "/aws/switchrole?" + urlencode({"account": "corp-dev", "roleName": "Deployer",
                                             "displayName": "Dep"})
    first = client.get(target, follow_redirects=False)
    assert first.status_code == 303
    assert first.headers["location"].startswith("/aws/signin?")
    page = client.get(first.headers["location"])
    doc = lxml.html.fromstring(page.text)
    assert doc.xpath("string(//input[@name='account']/@value)") == "corp-dev"
    done = sign_in(client, "corp-dev", "admin", "admin-password",
                   next=doc.xpath("string(//input[@name='next']/@value)"))
    assert done.headers["location"] == ("/aws/switchrole?account=corp-dev&roleName=Deployer"
                                        "&displayName=Dep")


# --- switch role -----------------------------------------------------------------------------


def test_the_switch_page_confirms_before_switching(client, clock):
    sign_in_ops_with_mfa(client, clock)
    query = urlencode({"account": "corp-dev", "roleName": "Deployer",
                       "displayName": "Dev deploys", "color": "FF9900"})
    page = client.get(f"/aws/switchrole?{query}")
    assert page.status_code == 200
    text = text_of(page.text)
    assert f"corp-dev ({DEV})" in text and "Deployer" in text and "Dev deploys" in text
    assert "#ff9900" in text
    assert f"arn:aws:iam::{DEV}:user/ops" in console_text(client), "a GET switches nothing"


def test_ops_with_mfa_switches_to_break_glass(client, clock):
    sign_in_ops_with_mfa(client, clock)
    response = switch(client, "corp-prod", "BreakGlass", "Break glass", "b91c1c")
    assert response.status_code == 303 and response.headers["location"] == "/aws/console"
    page = client.get("/aws/console")
    text = text_of(page.text)
    assert f"arn:aws:sts::{PROD}:assumed-role/BreakGlass/ops" in text
    assert "Back to ops" in text
    assert mfa_present(client) == "true"
    doc = lxml.html.fromstring(page.text)
    assert doc.xpath("string(//*[@id='role-badge'])") == "Break glass"
    assert "#b91c1c" in doc.xpath("string(//*[@id='role-badge']/@style)")
    akid = re.search(r"AWS_ACCESS_KEY_ID=(\S+)", page.text)[1]
    token = re.search(r"AWS_SESSION_TOKEN=(\S+)", page.text)[1]
    caller = client.app.state.runtime.services.callers.resolve_temporary(akid, token)
    assert caller.arn == f"arn:aws:sts::{PROD}:assumed-role/BreakGlass/ops"
    assert caller.role_arn == BREAK_GLASS


def _ops_without_mfa(data) -> None:
    data["accounts"]["444455556666"]["iam_users"]["ops"].pop("mfa_seed")


def test_ops_without_mfa_is_refused_break_glass_with_the_reason(client_factory):
    """ops signed in with a password only: BreakGlass's trust needs MFA; the page says
    AWS's sentence, STS's message, and what the simulator found."""
    client = client_factory(directory_override=edited_demo(_ops_without_mfa))
    assert sign_in(client, "corp-dev", "ops", "ops-password").status_code == 303
    assert mfa_present(client) == "false"
    response = switch(client, "corp-prod", "BreakGlass", "BG")
    assert response.status_code == 403
    text = text_of(response.text)
    assert "Invalid information in one or more fields" in text
    assert (f"User: arn:aws:iam::{DEV}:user/ops is not authorized to perform: "
            f"sts:AssumeRole on resource: {BREAK_GLASS}") in text
    found = lxml.html.fromstring(response.text).xpath("string(//*[@id='found'])")
    assert "MultiFactorAuthPresent" in found, found
    note = lxml.html.fromstring(response.text).xpath("string(//*[@id='console-note'])")
    assert "signed in without MFA" in note
    assert f"arn:aws:iam::{DEV}:user/ops" in console_text(client), "still ops"
    # Deployer needs no MFA: the same session switches there.
    assert switch(client, "corp-dev", "Deployer").status_code == 303


def test_a_user_without_mfa_device_is_refused_a_role_needing_mfa(client_factory):
    """corp-dev's admin has no MFA: BreakGlass's trust needs aws:MultiFactorAuthPresent."""
    client = client_factory()
    sign_in(client, "corp-dev", "admin", "admin-password")
    response = switch(client, "corp-prod", "BreakGlass")
    assert response.status_code == 403
    text = text_of(response.text)
    assert "Invalid information in one or more fields" in text
    assert (f"User: arn:aws:iam::{DEV}:user/admin is not authorized to perform: "
            f"sts:AssumeRole on resource: {BREAK_GLASS}") in text
    assert "What AWS does not tell you" in text
    assert "signed in without MFA" in text
    assert f"arn:aws:iam::{DEV}:user/admin" in console_text(client), "still the user"


def test_a_role_needing_an_external_id_cannot_be_switched_to(client):
    sign_in(client, "vendor", "auditor", "auditor-password")
    response = switch(client, "corp-prod", "VendorAudit")
    assert response.status_code == 403
    text = text_of(response.text)
    assert "not authorized to perform: sts:AssumeRole" in text
    assert "ExternalId" in text
    assert "signed in without MFA" not in text


def test_a_missing_role_and_an_unknown_account_are_refused_readably(client, clock):
    sign_in_ops_with_mfa(client, clock)
    missing = switch(client, "corp-dev", "NoSuchRole")
    assert missing.status_code == 403
    assert "NoSuchRole" in text_of(missing.text)
    unknown = switch(client, "no-such-account", "Deployer")
    assert unknown.status_code == 400
    assert "no account has the ID or alias" in text_of(unknown.text)


def test_history_back_and_one_click_switching(client, clock):
    sign_in_ops_with_mfa(client, clock)
    assert switch(client, "corp-dev", "Deployer", "Deploy", "1d4ed8").status_code == 303
    page = client.get("/aws/console")
    assert f"arn:aws:sts::{DEV}:assumed-role/Deployer/ops" in text_of(page.text)
    # A switch from Deployer to BreakGlass is authorised with ops's own sign-in (Deployer
    # itself may not assume BreakGlass): no role chaining.
    assert switch(client, "corp-prod", "BreakGlass", "BG", "b91c1c").status_code == 303
    page = client.get("/aws/console")
    doc = lxml.html.fromstring(page.text)
    assert doc.xpath("//ul[@id='history']//span[@class='history-label']/text()") == [
        "BG", "Deploy"]
    # Back to ops.
    back = client.post("/aws/switchrole/back", data={"csrf_token": csrf(page.text)},
                       follow_redirects=False)
    assert back.status_code == 303
    text = console_text(client)
    assert f"arn:aws:iam::{DEV}:user/ops" in text and "Back to ops" not in text
    # One click on the history entry switches again.
    page = client.get("/aws/console")
    doc = lxml.html.fromstring(page.text)
    form = doc.xpath("//ul[@id='history']//form")[1]
    data = {i.get("name"): i.get("value") for i in form.xpath(".//input")}
    again = client.post(form.get("action"), data=data, follow_redirects=False)
    assert again.status_code == 303
    assert f"arn:aws:sts::{DEV}:assumed-role/Deployer/ops" in console_text(client)


def test_the_history_keeps_five_roles(client, clock):
    sign_in_ops_with_mfa(client, clock)
    for i in range(7):
        assert switch(client, "corp-dev", "Deployer", f"D{i}").status_code == 303
        # the same role with a new display name replaces its entry
    page = client.get("/aws/console")
    labels = lxml.html.fromstring(page.text).xpath(
        "//ul[@id='history']//span[@class='history-label']/text()")
    assert labels == ["D6"]
    for name in ("Deployer", "deployer", "DEPLOYER"):
        switch(client, "corp-dev", name, name)
    for role in ("BreakGlass", "breakglass"):
        switch(client, "corp-prod", role, role)
    labels = lxml.html.fromstring(client.get("/aws/console").text).xpath(
        "//ul[@id='history']//span[@class='history-label']/text()")
    assert len(labels) <= 5


def test_sign_out_ends_the_user_and_the_role(client, clock):
    sign_in_ops_with_mfa(client, clock)
    switch(client, "corp-dev", "Deployer")
    stolen = client.cookies.get("aws_console")
    page = client.get("/aws/console")
    assert client.post("/aws/logout", data={"csrf_token": csrf(page.text)}).status_code == 200
    client.cookies.set("aws_console", stolen, domain="idp.test", path="/aws")
    assert client.get("/aws/console", follow_redirects=False).status_code == 303


def test_the_role_session_lasts_at_most_the_role_maximum(client, clock):
    """Deployer's maximum is 1 hour: past it the console is back to ops, with a notice."""
    sign_in_ops_with_mfa(client, clock)
    switch(client, "corp-dev", "Deployer", "Deploy")
    assert "60 minutes left" in console_text(client)
    clock.advance(3600)
    text = console_text(client)
    assert f"arn:aws:iam::{DEV}:user/ops" in text
    assert "Your session as Deploy has ended" in text


def test_the_role_session_never_outlives_the_sign_in(client, clock):
    sign_in_ops_with_mfa(client, clock)
    clock.advance(43_200 - 600)
    switch(client, "corp-dev", "Deployer")
    assert "10 minutes left" in console_text(client)


# --- SAML-federated consoles ------------------------------------------------------------------


def _saml_console(client, username: str, role: str):
    posted = auto_post(login(client, "/idp/init", username, f"{username}-password").text)
    response = client.post("/aws/saml", data={"SAMLResponse": posted.saml_response,
                                              "RelayState": "", "roleIndex": role},
                           follow_redirects=False)
    assert response.status_code == 303, response.text


def _developer_may_switch(data) -> None:
    dev = data["accounts"]["444455556666"]["roles"]
    dev["Developer"]["policies"] = {"SwitchToDeployer": {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": DEPLOYER}]}}
    dev["Deployer"]["max_session_duration"] = 43200


def test_a_saml_console_switches_as_its_role_session(client_factory):
    """alice's SAML session in Developer switches to Deployer: the principal is the role
    session and the session name hers."""
    client = client_factory(directory_override=edited_demo(_developer_may_switch))
    _saml_console(client, "alice", DEVELOPER)
    response = switch(client, DEV, "Deployer", "Deploy")
    assert response.status_code == 303, response.text
    text = console_text(client)
    assert f"arn:aws:sts::{DEV}:assumed-role/Deployer/alice@corp.example" in text
    assert "Back to alice@corp.example" in text
    assert mfa_present(client) == "false"


def test_a_saml_console_switch_is_role_chaining_capped_at_one_hour(client_factory):
    """Federated sign-in (12 hours), role allowing 12 hours: the switched session still lasts
    one hour, as role chaining does; an IAM user's switch gets the role's maximum."""
    def edit(data) -> None:
        _developer_may_switch(data)
        prod = data["accounts"]["111122223333"]["roles"]
        prod["Admin"]["policies"] = {"SwitchToDeployer": {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                           "Resource": DEPLOYER}]}}
        data["accounts"]["444455556666"]["roles"]["Deployer"]["trust_policy"] = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"AWS": ADMIN},
                           "Action": "sts:AssumeRole"}]}
        data["service_providers"] = [{"entity_id": "urn:amazon:webservices",
                                      "acs_urls": ["http://idp.test/aws/saml"],
                                      "session_duration": 43200}]

    client = client_factory(directory_override=edited_demo(edit))
    _saml_console(client, "alice", ADMIN)
    assert switch(client, DEV, "Deployer").status_code == 303
    minutes = int(re.search(r"\((\d+) minutes left\)", console_text(client))[1])
    assert minutes == 60


def test_a_saml_console_cannot_switch_without_permission(client):
    _saml_console(client, "alice", DEVELOPER)
    response = switch(client, DEV, "Deployer")
    assert response.status_code == 403
    assert "assumed-role/Developer/alice@corp.example is not authorized to perform: " \
        "sts:AssumeRole" in text_of(response.text)
