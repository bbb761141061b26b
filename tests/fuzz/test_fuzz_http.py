"""The same fuzzing through HTTP: every endpoint answers random input with a status below 500.

A 500 here is a crash the browser (or botocore, which retries 5xx) would see; the app's catch-all
handler turns it into a page, so the property is "status < 500 and no traceback in the body".
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import event, given, reject, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from idp.keys import KeyPair
from tests.fuzz.test_fuzz_parsers import (
    FEWER,
    _known,
    maybe,
    post_values,
    redirect_values,
    saml_assertions,
)
from tests.support.demo import PROD_PROVIDER, READ_ONLY

#: Host headers a raw HTTP client may send (httpx would never build these URLs itself).
hosts = st.sampled_from(["idp.test", "idp.test", "idp.test", "[", "]", "idp.test:99999",
                         "idp.test:x", "a b", "[::1", "@", ""])
#: Field values that survive form encoding (no lone surrogates: HTTP bodies are bytes).
values = st.text(max_size=80) | st.sampled_from(["", " ", "\x00", "%", "&", "=", "+"])
names = st.sampled_from(["SAMLRequest", "SAMLResponse", "RelayState", "roleIndex", "Action",
                         "Version", "username", "password", "otp", "pending", "resume", "sp",
                         "SigAlg", "Signature"]) | st.text(max_size=12)
extra_fields = st.dictionaries(names, values, max_size=4)


def http_safe(value: str) -> str:
    """Lone surrogates cannot travel in a form body; replace them as a browser would."""
    return value.encode("utf-8", "replace").decode("utf-8")


class _LastCrash(logging.Handler):
    """Keeps the exception the app's 500 handler logged, to tell known crashes from new ones."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.exc: BaseException | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            self.exc = record.exc_info[1]


_CRASHES = _LastCrash()


@pytest.fixture(scope="module", autouse=True)
def _capture_crashes() -> Iterator[None]:
    logger = logging.getLogger("idp")
    logger.addHandler(_CRASHES)
    yield
    logger.removeHandler(_CRASHES)


def check(response: Any) -> None:
    """The HTTP form of the invariant (a known, pinned crash is skipped, not failed)."""
    if response.status_code >= 500 and _CRASHES.exc is not None:
        known = _known(_CRASHES.exc)
        _CRASHES.exc = None
        if known is not None:
            event(f"known crash: {known}")
            reject()
    assert response.status_code < 500, (response.status_code, response.text[:800])
    assert "Traceback" not in response.text
    event(f"status {response.status_code}")


def fresh(client: TestClient) -> TestClient:
    client.cookies.clear()  # each example starts without a session
    return client


@FEWER
@given(data=st.data())
def test_sts_endpoint_never_5xx(fuzz_client: TestClient, keypair: KeyPair, bob_response: bytes,
                                data: st.DataObject) -> None:
    """POST /aws/sts with random Action, AssumeRoleWithSAML fields and junk: always < 500."""
    now = fuzz_client.app.state.runtime.services.clock.now()  # type: ignore[attr-defined]
    form: dict[str, str] = {
        "Action": data.draw(st.sampled_from(["AssumeRoleWithSAML"] * 3 + ["GetCallerIdentity"])
                            | values, label="Action"),
        "Version": data.draw(st.sampled_from(["2011-06-15"] * 3) | values, label="Version"),
        "RoleArn": data.draw(st.just(READ_ONLY) | values, label="RoleArn"),
        "PrincipalArn": data.draw(st.just(PROD_PROVIDER) | values, label="PrincipalArn"),
        "SAMLAssertion": data.draw(saml_assertions(bob_response, keypair, now).map(http_safe),
                                   label="SAMLAssertion"),
    }
    if data.draw(st.booleans(), label="DurationSeconds?"):
        form["DurationSeconds"] = data.draw(st.integers(-1, 50_000).map(str) | values)
    form.update(data.draw(extra_fields, label="extra"))
    host = data.draw(hosts, label="Host")
    path = data.draw(st.sampled_from(["/aws/sts", "/aws/sts/"]), label="path")
    if data.draw(st.integers(0, 4), label="raw?") == 0:
        body = data.draw(st.binary(max_size=200), label="raw body")
        response = fresh(fuzz_client).post(path, content=body, headers={
            "host": host, "content-type": "application/x-www-form-urlencoded"})
    else:
        response = fresh(fuzz_client).post(path, data=form, headers={"host": host})
    check(response)


@given(data=st.data())
def test_sso_get_never_5xx(fuzz_client: TestClient, data: st.DataObject) -> None:
    """GET /idp/sso (Redirect binding) and /idp/init with random parameters: always < 500."""
    now = fuzz_client.app.state.runtime.services.clock.now()  # type: ignore[attr-defined]
    params = {"SAMLRequest": data.draw(redirect_values(now), label="SAMLRequest")}
    relay = data.draw(maybe(values | st.sampled_from(["http://[x", "//evil", "/aws/console/s3"])),
                      label="RelayState")
    if relay is not None:
        params["RelayState"] = relay
    params.update(data.draw(extra_fields, label="extra"))
    path = data.draw(st.sampled_from(["/idp/sso"] * 3 + ["/idp/init", "/idp/login"]),
                     label="path")
    host = data.draw(hosts, label="Host")
    check(fresh(fuzz_client).get(path, params=params, headers={"host": host}))


@given(data=st.data())
def test_sso_post_never_5xx(fuzz_client: TestClient, keypair: KeyPair,
                            data: st.DataObject) -> None:
    """POST /idp/sso (POST binding) with random SAMLRequest and fields: always < 500."""
    now = fuzz_client.app.state.runtime.services.clock.now()  # type: ignore[attr-defined]
    form = {"SAMLRequest": data.draw(post_values(now, keypair).map(http_safe), label="SAMLRequest")}
    form.update(data.draw(extra_fields, label="extra"))
    host = data.draw(hosts, label="Host")
    check(fresh(fuzz_client).post("/idp/sso", data=form, headers={"host": host}))


@settings(max_examples=max(10, settings.default.max_examples // 6))
@given(form=st.fixed_dictionaries({}, optional={
    "username": st.sampled_from(["alice", "carol", "nobody", " alice "]) | values,
    "password": st.sampled_from(["alice-password", "carol-password", ""]) | values,
    "otp": st.sampled_from(["123456", "", "12345a", "1234567"]) | values,
    "pending": values,
}), extra=extra_fields, host=hosts)
def test_login_post_never_5xx(fuzz_client: TestClient, form: dict[str, str],
                              extra: dict[str, str], host: str) -> None:
    """POST /idp/login with random username, password, otp and pending: always < 500."""
    check(fresh(fuzz_client).post("/idp/login", data={**form, **extra}, headers={"host": host}))


@FEWER
@given(data=st.data())
def test_console_acs_never_5xx(fuzz_client: TestClient, keypair: KeyPair, alice_response: bytes,
                               data: st.DataObject) -> None:
    """POST /aws/saml with mutated genuine Responses, roleIndex and RelayState: always < 500."""
    now = fuzz_client.app.state.runtime.services.clock.now()  # type: ignore[attr-defined]
    form = {"SAMLResponse": data.draw(saml_assertions(alice_response, keypair, now).map(
        http_safe), label="SAMLResponse")}
    role = data.draw(maybe(st.just(READ_ONLY) | values), label="roleIndex")
    if role is not None:
        form["roleIndex"] = role
    relay = data.draw(maybe(values | st.sampled_from(
        ["https://console.aws.amazon.com/s3", "/aws/console/x?y", "//evil", "http://["])),
        label="RelayState")
    if relay is not None:
        form["RelayState"] = relay
    form.update(data.draw(extra_fields, label="extra"))
    host = data.draw(hosts, label="Host")
    check(fresh(fuzz_client).post("/aws/saml", data=form, headers={"host": host}))


@given(path=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=20),
       host=hosts, cookie=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E),
                                  max_size=200))
def test_console_pages_never_5xx(fuzz_client: TestClient, path: str, host: str,
                                 cookie: str) -> None:
    """GET /aws/console/<anything> with a garbage session cookie: always < 500."""
    client = fresh(fuzz_client)
    client.cookies.set("aws_console", cookie.replace("\n", "").replace(";", ""))
    check(client.get(f"/aws/console/{path.lstrip('/')}", headers={"host": host}))
