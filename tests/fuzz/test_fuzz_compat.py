"""The vendor login surfaces (``--compat``) and the AWS sign-in hosts under random input:
every answer is below 500 and carries no traceback (``tests.fuzz.test_fuzz_http.check``).

These endpoints take credentials without an anti-CSRF token (the tools that use them post
without fetching a page first), so they are fuzzed with the user names, passwords, codes,
tokens and cookies they read, mixed with junk.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from idp.clock import FixedClock
from idp.directory import Directory
from idp.settings import Settings
from idp.web.app import create_app
from tests.fuzz.test_fuzz_http import check, extra_fields, fresh, hosts, http_safe, values
from tests.support.demo import BASE_URL

FEWER = settings(max_examples=max(10, settings.default.max_examples // 4))
ADFS = "/adfs/ls/IdpInitiatedSignOn.aspx"
SHIBBOLETH = "/idp/profile/SAML2/Unsolicited/SSO"
ECP = "/idp/profile/SAML2/SOAP/ECP"
OKTA_JSON = ["/api/v1/authn", "/api/v1/authn/factors/uft0/verify", "/api/v1/sessions",
             "/api/v1/sessions/me/lifecycle/refresh"]
OKTA_GET = ["/api/v1/users/me/appLinks", "/login/sessionCookieRedirect",
            "/home/amazon_aws/0oaidpsimulatoraws01/272", "/.well-known/okta-organization",
            "/api/v1/sessions/me"]

users = st.sampled_from(["bob", "carol", "CORP\\bob", "bob@corp.example", "nobody", "",
                         "\\", "@", "a" * 300]) | values
passwords = st.sampled_from(["bob-password", "carol-password", ""]) | values
codes = st.sampled_from(["123456", "", "12345a", "1234567"]) | values
#: Whatever a cookie or token field may hold: junk, or the shape of a sealed token.
tokens = values | st.builds(lambda a, b: f"{a}.{b}", st.text("abcXYZ09-_", max_size=40),
                            st.text("abcXYZ09-_", max_size=40))
json_values: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | values,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(values, inner, max_size=3),
    max_leaves=8)


@pytest.fixture(scope="module")
def compat_client(fuzz_settings: Settings, fuzz_directory: Directory,
                  fuzz_clock: FixedClock) -> Iterator[TestClient]:
    """The app with every vendor surface on (and its own state file)."""
    settings_ = dataclasses.replace(fuzz_settings, compat="okta,adfs,shibboleth,ecp")
    app = create_app(settings_, directory=fuzz_directory, clock=fuzz_clock)
    with TestClient(app, base_url=BASE_URL, raise_server_exceptions=False) as client:
        yield client


def _cookies(client: TestClient, data: st.DataObject) -> TestClient:
    client = fresh(client)
    for name in data.draw(st.lists(st.sampled_from(["sid", "DT", "MSISAuth", "idp_ecp_session",
                                                    "idp_session"]), max_size=3,
                                   unique=True), label="cookies"):
        value = data.draw(tokens, label=name)
        printable = "".join(c for c in value if "!" <= c <= "~" and c not in ';",\\')
        client.cookies.set(name, printable)
    return client


@FEWER
@given(data=st.data())
def test_okta_json_endpoints_never_5xx(compat_client: TestClient, data: st.DataObject) -> None:
    path = data.draw(st.sampled_from(OKTA_JSON), label="path")
    body: Any = data.draw(st.fixed_dictionaries({}, optional={
        "username": users, "password": passwords, "passCode": codes, "answer": codes,
        "stateToken": tokens, "sessionToken": tokens}) | json_values, label="body")
    client = _cookies(compat_client, data)
    if data.draw(st.integers(0, 5), label="raw?") == 0:
        content = data.draw(st.binary(max_size=300), label="raw")
    else:
        content = http_safe(json.dumps(body)).encode("utf-8")
    kind = data.draw(st.sampled_from(["application/json"] * 4 + ["text/plain", ""]),
                     label="content-type")
    check(client.post(path, content=content, headers={
        "content-type": kind, "accept": "application/json", "host": data.draw(hosts)}))


@FEWER
@given(data=st.data())
def test_okta_pages_never_5xx(compat_client: TestClient, data: st.DataObject) -> None:
    path = data.draw(st.sampled_from(OKTA_GET), label="path")
    params = data.draw(st.fixed_dictionaries({}, optional={
        "token": tokens, "sessionToken": tokens, "redirectUrl": values | st.sampled_from(
            [f"{BASE_URL}/home/amazon_aws/0oaidpsimulatoraws01/272", "//evil.example/",
             "https://evil.example/home/amazon_aws/0oaidpsimulatoraws01/272"])}), label="query")
    client = _cookies(compat_client, data)
    method = data.draw(st.sampled_from(["GET", "GET", "DELETE"]), label="method")
    check(client.request(method, path, params=params, headers={"host": data.draw(hosts)}))


@FEWER
@given(data=st.data())
def test_adfs_never_5xx(compat_client: TestClient, data: st.DataObject) -> None:
    form = data.draw(st.fixed_dictionaries({}, optional={
        "UserName": users, "Password": passwords,
        "AuthMethod": st.sampled_from(["FormsAuthentication", "SecurIDAuthentication"]) | values,
        "Context": tokens, "Passcode": codes,
        "ctl00$ContentPlaceHolder1$UsernameTextBox": users,
        "ctl00$ContentPlaceHolder1$PasswordTextBox": passwords}), label="form")
    form.update(data.draw(extra_fields, label="extra"))
    relying_party = data.draw(st.sampled_from(["urn:amazon:webservices"] * 3) | values,
                              label="loginToRp")
    client = _cookies(compat_client, data)
    if data.draw(st.booleans(), label="GET?"):
        response = client.get(ADFS, params={"loginToRp": http_safe(relying_party)})
    else:
        response = client.post(ADFS, params={"loginToRp": http_safe(relying_party)},
                               data={k: http_safe(v) for k, v in form.items()},
                               headers={"host": data.draw(hosts)})
    check(response)


@FEWER
@given(data=st.data())
def test_shibboleth_never_5xx(compat_client: TestClient, data: st.DataObject) -> None:
    client = _cookies(compat_client, data)
    params = data.draw(st.fixed_dictionaries({}, optional={
        "providerId": st.sampled_from(["urn:amazon:webservices"]) | values,
        "execution": tokens}), label="query")
    if data.draw(st.booleans(), label="GET?"):
        check(client.get(SHIBBOLETH, params=params))
        return
    form = data.draw(st.fixed_dictionaries({}, optional={
        "j_username": users, "j_password": passwords, "j_otp": codes,
        "_eventId_proceed": values}), label="form")
    form.update(data.draw(extra_fields, label="extra"))
    check(client.post(SHIBBOLETH, params=params,
                      data={k: http_safe(v) for k, v in form.items()},
                      headers={"host": data.draw(hosts)}))


@FEWER
@given(data=st.data())
def test_ecp_never_5xx(compat_client: TestClient, data: st.DataObject) -> None:
    client = _cookies(compat_client, data)
    user = data.draw(users, label="user")
    password = data.draw(passwords, label="password")
    basic = base64.b64encode(http_safe(f"{user}:{password}").encode("utf-8")).decode("ascii")
    authorization = data.draw(st.sampled_from([f"Basic {basic}", "", "Basic", "Basic !!",
                                               "Bearer x"]) | values, label="Authorization")
    body = data.draw(st.binary(max_size=400) | st.sampled_from([
        b"<S:Envelope xmlns:S='http://schemas.xmlsoap.org/soap/envelope/'><S:Body/>"
        b"</S:Envelope>", b"<!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>", b""]), label="body")
    headers: dict[str, str | bytes] = {
        "content-type": data.draw(st.sampled_from(
            ["text/xml", "application/vnd.paos+xml", "application/json"]), label="type"),
        "X-Shibboleth-Duo-Passcode": _header(data.draw(codes, label="code")),
        "host": data.draw(hosts)}
    if authorization:
        headers["authorization"] = _header(authorization)
    check(client.post(ECP, content=body, headers=headers))


def _header(value: str) -> bytes:
    """A header value as a client could send it: UTF-8 bytes without line breaks or NUL."""
    return http_safe(value).encode("utf-8").translate(None, b"\r\n\x00")


@FEWER
@given(path=st.sampled_from(["/saml", "/static/saml", "/aws/console", "/healthz", "/idp/init",
                             "/aws/sts"]) | st.text(st.characters(min_codepoint=0x21,
                                                                  max_codepoint=0x7E),
                                                    max_size=20).map(lambda p: "/" + p),
       host=st.sampled_from(["signin.aws.amazon.com", "us-east-1.signin.aws.amazon.com",
                             "SIGNIN.AWS.AMAZON.COM.", "signin.amazonaws.cn:443",
                             "signin.amazonaws-us-gov.com"]),
       form=extra_fields)
def test_sign_in_hosts_never_5xx(compat_client: TestClient, path: str, host: str,
                                 form: dict[str, str]) -> None:
    check(fresh(compat_client).post(path, data={k: http_safe(v) for k, v in form.items()},
                                    headers={"host": host}))
