"""Attacks on the console twin's IAM-user sign-in and switch role (in-process TestClient).

Forged or missing form tokens, password guessing, script in a crafted switch-role link,
redirects off the site through parameters, and oversized or malformed input: every one gets
a readable 4xx page (or the harmless page it asked for), never a 5xx, and never a session or
a switch it should not.
"""

from __future__ import annotations

from urllib.parse import urlencode

import lxml.html
import pytest

from tests.support.demo import DEV, PROD

COOKIE = "aws_console"
XSS = '"><script>alert(1)</script><img src=x onerror=alert(2)>'


def csrf(html: str) -> str:
    return lxml.html.fromstring(html).xpath("string(//input[@name='csrf_token']/@value)")


ADMIN_PASSWORD = "admin-password"


def sign_in(client, account: str = "corp-dev", user: str = "admin",
            password: str = ADMIN_PASSWORD, **extra: str):
    page = client.get("/aws/signin")
    data = {"account": account, "username": user, "password": password,
            "csrf_token": csrf(page.text), **extra}
    return client.post("/aws/signin", data=data, follow_redirects=False)


def console_identity(client) -> str:
    page = client.get("/aws/console", follow_redirects=False)
    if page.status_code != 200:
        return ""
    return lxml.html.fromstring(page.text).xpath("string(//*[@id='identity'])").strip()


def no_session_cookie(response) -> bool:
    return f"{COOKIE}=" not in response.headers.get("set-cookie", "") or (
        f'{COOKIE}=""' in response.headers.get("set-cookie", ""))


# --- CSRF ------------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "", "forged", "x" * 5000, "\u00e9\u0000"])
def test_sign_in_without_the_pages_token_is_refused(client, token):
    client.get("/aws/signin")
    data = {"account": "corp-dev", "username": "admin", "password": "admin-password"}
    if token is not None:
        data["csrf_token"] = token
    response = client.post("/aws/signin", data=data, follow_redirects=False)
    assert response.status_code == 400
    assert "did not come from this site" in response.text
    assert no_session_cookie(response)
    assert console_identity(client) == ""


def test_switch_role_needs_the_sessions_own_token(client_factory):
    victim, attacker = client_factory(), client_factory()
    sign_in(victim)
    sign_in(attacker, "corp-prod")
    stolen = csrf(attacker.get("/aws/console").text)  # valid, but for another session
    for token in (None, "", "forged", stolen):
        data = {"account": "corp-dev", "roleName": "Deployer"}
        if token is not None:
            data["csrf_token"] = token
        response = victim.post("/aws/switchrole", data=data, follow_redirects=False)
        assert response.status_code == 400, token
        assert "did not come from your console session" in response.text
    assert console_identity(victim) == f"arn:aws:iam::{DEV}:user/admin"


def test_back_needs_the_token(client):
    sign_in(client)
    response = client.post("/aws/switchrole/back", data={"csrf_token": "forged"},
                           follow_redirects=False)
    assert response.status_code == 400
    assert client.post("/aws/switchrole/back", follow_redirects=False).status_code == 400


def test_a_get_never_switches(client):
    """Opening a crafted link only shows the confirmation page."""
    sign_in(client)
    query = urlencode({"account": "corp-dev", "roleName": "Deployer", "csrf_token": "x"})
    assert client.get(f"/aws/switchrole?{query}").status_code == 200
    assert console_identity(client) == f"arn:aws:iam::{DEV}:user/admin"


# --- throttling ------------------------------------------------------------------------------


def test_password_guessing_is_throttled_even_with_the_right_password_after(client):
    for i in range(10):
        assert sign_in(client, password=f"guess-{i}").status_code == 401
    response = sign_in(client)
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) > 0
    assert "Too many failed sign-in attempts" in response.text
    assert no_session_cookie(response)
    # another user of the same account is not locked out by admin's failures
    assert sign_in(client, "corp-prod").status_code == 303


def test_guessing_across_users_is_throttled_per_address(client):
    for i in range(50):
        sign_in(client, user=f"user{i}", password="x")
    assert sign_in(client, "corp-prod").status_code == 429


def test_code_guessing_is_throttled(client):
    first = sign_in(client, user="ops", password="ops-password")
    assert first.status_code == 200
    statuses = []
    for i in range(11):
        page = client.post("/aws/signin", data={"mfa_code": f"{i:06d}",
                                                "csrf_token": csrf(first.text)})
        statuses.append(page.status_code)
    assert statuses[-1] == 429, statuses


# --- script injection ------------------------------------------------------------------------


def test_a_crafted_display_name_is_shown_as_text(client):
    sign_in(client, "corp-dev", "ops", "ops-password")  # MFA page; not signed in
    sign_in(client)
    query = urlencode({"account": "corp-dev", "roleName": "Deployer", "displayName": XSS[:64],
                       "color": "ff9900"})
    page = client.get(f"/aws/switchrole?{query}")
    assert page.status_code == 200
    assert "<script>" not in page.text and "<img src=x" not in page.text
    doc = lxml.html.fromstring(page.text)
    assert doc.xpath("string(//*[@id='confirm-display'])") == XSS[:64].strip()
    assert not doc.xpath("//script") and not doc.xpath("//img")
    assert "script-src 'nonce-" in page.headers["content-security-policy"]


@pytest.mark.parametrize("field", ["roleName", "account", "color", "displayName"])
def test_script_in_any_parameter_is_refused_and_escaped(client, field):
    sign_in(client)
    params = {"account": "corp-dev", "roleName": "Deployer", "displayName": "D",
              "color": "ff9900", field: XSS + "x" * 40}
    page = client.get(f"/aws/switchrole?{urlencode(params)}")
    assert page.status_code == 400
    assert "<script>" not in page.text and "<img src=x" not in page.text
    doc = lxml.html.fromstring(page.text)
    assert not doc.xpath("//script") and not doc.xpath("//img")
    assert doc.xpath("//*[@id='error']")


def test_after_a_switch_the_console_escapes_the_display_name(client, clock):
    import pyotp

    first = sign_in(client, user="ops", password="ops-password")
    client.post("/aws/signin", data={
        "mfa_code": pyotp.TOTP("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ").at(clock.now()),
        "csrf_token": csrf(first.text)})
    page = client.get("/aws/console")
    response = client.post("/aws/switchrole", data={
        "account": "corp-dev", "roleName": "Deployer", "displayName": XSS[:64],
        "color": "ff9900", "csrf_token": csrf(page.text)}, follow_redirects=False)
    assert response.status_code == 303
    console = client.get("/aws/console")
    assert "<script>" not in console.text and "<img src=x" not in console.text
    doc = lxml.html.fromstring(console.text)
    assert doc.xpath("string(//*[@id='role-badge'])") == XSS[:64].strip()
    assert not doc.xpath("//img")


def test_a_colour_cannot_break_out_of_its_style(client):
    sign_in(client)
    for color in ("ff9900;background:url(//evil)", "ff9900\"", "expression(alert(1))"):
        page = client.get("/aws/switchrole?" + urlencode(
            {"account": "corp-dev", "roleName": "Deployer", "color": color}))
        assert page.status_code == 400
        styles = lxml.html.fromstring(page.text).xpath("//@style")
        assert not any("evil" in s or "expression" in s for s in styles)


# --- redirects -------------------------------------------------------------------------------


@pytest.mark.parametrize("target", [
    "https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)",
    "/aws/switchrole?account=corp-dev&roleName=Deployer&next=https://evil.example",
    "/aws/switchrolex", "/idp/logout", "http://idp.test.evil.example/aws/console",
])
def test_next_never_leaves_the_console(client, target):
    page = client.get("/aws/signin?" + urlencode({"next": target}))
    kept = lxml.html.fromstring(page.text).xpath("string(//input[@name='next']/@value)")
    assert kept.startswith("/aws/console") or kept.startswith("/aws/switchrole")
    response = sign_in(client, next=target)
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith("/aws/console") or location.startswith("/aws/switchrole")
    assert "evil" not in location and "//" not in location


def test_a_switch_link_without_a_session_goes_to_our_sign_in_only(client):
    response = client.get("/aws/switchrole?" + urlencode(
        {"account": "https://evil.example", "roleName": "x"}), follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/aws/signin?")
    assert "evil" not in response.headers["location"]


# --- oversized and malformed input -----------------------------------------------------------


@pytest.mark.parametrize("fields", [
    {"account": "1" * 100_000}, {"username": "u" * 100_000}, {"password": "p" * 10_000},
    {"account": "\x00\x01"}, {"account": "corp-dev\r\nSet-Cookie: x=y"},
])
def test_oversized_or_odd_sign_in_fields_get_readable_4xx(client, fields):
    page = client.get("/aws/signin")
    data = {"account": "corp-dev", "username": "admin", "password": "admin-password",
            "csrf_token": csrf(page.text), **fields}
    response = client.post("/aws/signin", data=data, follow_redirects=False)
    assert 400 <= response.status_code < 500, response.status_code
    assert "text/html" in response.headers["content-type"]
    assert "Traceback" not in response.text
    assert no_session_cookie(response)


@pytest.mark.parametrize("raw", [b"username=%ED%A0%80", b"password=%ED%A0%80",
                                 b"password=%FF%FE", b"account=%C0%AF"])
def test_undecodable_bytes_are_no_crash(client, raw):
    token = csrf(client.get("/aws/signin").text)
    body = b"account=corp-dev&username=admin&password=x&" + raw + b"&csrf_token=" + \
        token.encode()
    response = client.post("/aws/signin", content=body, follow_redirects=False,
                           headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 401
    assert no_session_cookie(response)


def test_a_huge_form_is_refused_readably(client):
    response = client.post("/aws/signin", content=b"a=" + b"x" * 200_000,
                           headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 400
    assert "larger than" in response.text


@pytest.mark.parametrize("query", [
    {"account": "1" * 5_000}, {"roleName": "r" * 5_000}, {"displayName": "d" * 5_000},
    {"color": "f" * 5_000}, {"account": "\x00"}, {"displayName": "\x1b[31m"},
])
def test_oversized_switch_parameters_get_readable_4xx(client, query):
    sign_in(client)
    params = {"account": "corp-dev", "roleName": "Deployer", **query}
    page = client.get("/aws/switchrole?" + urlencode(params))
    assert page.status_code == 400
    assert "Traceback" not in page.text
    assert len(page.text) < 40_000, "values are not echoed in full"
    token = csrf(client.get("/aws/console").text)
    response = client.post("/aws/switchrole", data={**params, "csrf_token": token},
                           follow_redirects=False)
    assert 400 <= response.status_code < 500
    assert console_identity(client) == f"arn:aws:iam::{DEV}:user/admin"


def test_a_multipart_file_is_not_a_field(client):
    page = client.get("/aws/signin")
    response = client.post("/aws/signin", data={"csrf_token": csrf(page.text)},
                           files={"password": ("p.txt", b"admin-password")})
    assert 400 <= response.status_code < 500


@pytest.mark.parametrize(("method", "path"), [
    ("PUT", "/aws/signin"), ("DELETE", "/aws/switchrole"), ("GET", "/aws/switchrole/back"),
])
def test_other_methods_are_405(client, method, path):
    assert client.request(method, path).status_code == 405


def test_tampered_console_cookie_is_no_session_on_every_page(client):
    client.cookies.set(COOKIE, "e30.forged.sig", domain="idp.test", path="/aws")
    assert client.get("/aws/switchrole", follow_redirects=False).status_code == 303
    assert client.post("/aws/switchrole", data={}, follow_redirects=False).status_code == 303
    assert client.post("/aws/switchrole/back", data={},
                       follow_redirects=False).status_code == 303
    assert PROD  # the accounts are the demo's
