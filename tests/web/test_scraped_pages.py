"""The IdP's own pages suit the command-line tools that scrape them (``tests.support.scrapers``):
the login and code forms, the signed-in page, the auto-POST answer, the role page and the
console's pages."""

from __future__ import annotations

import pyotp
from starlette.testclient import TestClient

from tests.support.demo import CAROL_SECRET
from tests.support.http import auto_post, login
from tests.support.scrapers import assert_scrapable


def test_login_page(client: TestClient) -> None:
    page = client.get("/idp/init", follow_redirects=True)
    assert page.status_code == 200
    forms = assert_scrapable(page.text)
    assert {"username", "password", "otp", "csrf_token", "pending"} <= {
        i["name"] for form in forms for i in form["inputs"]}


def test_code_page_and_signed_in_page(client: TestClient) -> None:
    page = client.get("/idp/login")
    assert_scrapable(page.text)
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    code_page = client.post("/idp/login", data={"username": "carol",
                                                "password": "carol-password",
                                                "csrf_token": token})
    assert code_page.status_code == 401
    assert_scrapable(code_page.text)
    token = code_page.text.split('name="csrf_token" value="')[1].split('"')[0]
    signed_in = client.post("/idp/login", data={"otp": pyotp.TOTP(CAROL_SECRET).now(),
                                                "csrf_token": token}, follow_redirects=True)
    assert signed_in.status_code == 200
    assert_scrapable(signed_in.text)


def test_answer_and_role_pages(client: TestClient) -> None:
    answer = login(client, "/idp/init", "alice", "alice-password")
    assert_scrapable(answer.text, answer=True)
    posted = auto_post(answer.text)
    roles = client.post("/aws/saml", data={"SAMLResponse": posted.saml_response,
                                           "RelayState": ""})
    assert roles.status_code == 200
    forms = assert_scrapable(roles.text)  # AWS's own layout: RelayState, then SAMLResponse
    assert "SAMLResponse" in [i["name"] for i in forms[0]["inputs"]]


def test_console_iam_user_sign_in_pages(client: TestClient) -> None:
    """The IAM-user sign-in, MFA, switch-role and console pages: every input named, typed
    and valued, no valueless attributes, root-relative actions."""
    page = client.get("/aws/signin?account=corp-dev")
    forms = assert_scrapable(page.text)
    assert {"account", "username", "password", "csrf_token", "next"} <= {
        i["name"] for form in forms for i in form["inputs"]}
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    code_page = client.post("/aws/signin", data={"account": "corp-dev", "username": "ops",
                                                 "password": "ops-password",
                                                 "csrf_token": token})
    assert code_page.status_code == 200
    assert_scrapable(code_page.text)
    token = code_page.text.split('name="csrf_token" value="')[1].split('"')[0]
    console = client.post("/aws/signin", data={
        "mfa_code": pyotp.TOTP("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ").now(),
        "csrf_token": token}, follow_redirects=True)
    assert console.status_code == 200
    assert_scrapable(console.text)
    switch = client.get("/aws/switchrole?account=corp-dev&roleName=Deployer&color=ff9900")
    assert_scrapable(switch.text)
    token = switch.text.split('name="csrf_token" value="')[1].split('"')[0]
    switched = client.post("/aws/switchrole", data={"account": "corp-dev",
                                                    "roleName": "Deployer",
                                                    "displayName": "D", "color": "",
                                                    "csrf_token": token},
                           follow_redirects=True)
    assert switched.status_code == 200
    assert_scrapable(switched.text)  # the history's one-click forms included
