"""Every corpus vector through the console twin's ``POST /aws/saml`` (in-process TestClient).

A refusal must be a 4xx page carrying AWS's one sentence ("Your request included an invalid
SAML response"), name the failing rule in ``#rule``, and set no ``aws_console`` session cookie.
The accepted vectors (comment injection) must open a session whose identity is the *full*
signed value. Each test gets a fresh app, so a fresh replay cache.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import lxml.html
import pytest
from lxml import etree
from starlette.testclient import TestClient

import idp.saml.validation
from idp.keys import KeyPair
from tests.support.demo import BASE_URL, PROD_PROVIDER, READ_ONLY
from tests.support.sts import ResponseFactory
from tests.vectors.attacks import (
    BASE_USER,
    VECTORS,
    Attack,
    ConsoleAccept,
    Keys,
    make_keys,
)

AWS_TEXT = "Your request included an invalid SAML response."
COOKIE = "aws_console"
STS_NS = {"s": "https://sts.amazonaws.com/doc/2011-06-15/"}


@pytest.fixture(scope="module")
def factory(certs_dir: Any) -> ResponseFactory:
    """Responses signed with the same key the TestClient app loads (the session certs dir)."""
    return ResponseFactory(BASE_URL, certs_dir)


@pytest.fixture(scope="module")
def keys(keypair: KeyPair) -> Keys:
    return make_keys(keypair)


@pytest.fixture
def console(client_factory: Callable[..., TestClient]) -> TestClient:
    return client_factory()


def post(client: TestClient, attack: Attack) -> Any:
    data = {"SAMLResponse": attack.saml, "RelayState": ""}
    if attack.role_index is not None:
        data["roleIndex"] = attack.role_index
    return client.post("/aws/saml", data=data, follow_redirects=False)


def text(el: etree._Element) -> str:
    return "".join(str(t) for t in el.itertext())


def shown_rule(html: str) -> str:
    return str(lxml.html.fromstring(html).xpath("string(//code[@id='rule'])"))


def assert_no_session(client: TestClient, response: Any) -> None:
    assert all(not c.startswith(f"{COOKIE}=") for c in response.headers.get_list("set-cookie"))
    assert COOKIE not in client.cookies


def assert_signed_in_as(client: TestClient, response: Any, expected: ConsoleAccept) -> None:
    assert response.status_code == 303, response.text[:2000]
    assert response.headers["location"] == "/aws/console"
    assert any(c.startswith(f"{COOKIE}=") for c in response.headers.get_list("set-cookie"))
    html = lxml.html.document_fromstring(client.get("/aws/console").text)
    page = " ".join(str(html.xpath("string()")).split())
    arn = re.search(r"arn:aws:sts::\d{12}:assumed-role/[\w+=,.@-]+/([\w+=,.@-]+)", page)
    assert arn is not None, page[:2000]
    assert arn.group(1) == expected.session_name
    if expected.name_id is not None:
        assert expected.name_id in page


@pytest.mark.parametrize("name", list(VECTORS))
def test_console_refuses(name: str, console: TestClient, factory: ResponseFactory,
                         keys: Keys) -> None:
    """The vector gets AWS's sentence, its rule and a 4xx with no session, or the full identity."""
    vector = VECTORS[name]
    attack = vector.mutator(factory.build(BASE_USER), keys)
    if attack.replay:
        first = post(console, attack)
        assert first.status_code == 303, first.text[:2000]
        console.cookies.clear()
    response = post(console, attack)
    if isinstance(vector.console, ConsoleAccept):
        assert_signed_in_as(console, response, vector.console)
        return
    assert 400 <= response.status_code < 500
    assert response.status_code == vector.console.status, shown_rule(response.text)
    assert AWS_TEXT in response.text
    assert shown_rule(response.text) == vector.console.rule
    assert_no_session(console, response)


class _NoVerifier:
    """Stands in for signxml's XMLVerifier: any call means a transform could have run."""

    calls = 0

    def verify(self, *args: Any, **kwargs: Any) -> Any:
        type(self).calls += 1
        raise AssertionError("signxml was reached: the algorithm check came too late")


@pytest.mark.parametrize("name", ["xslt_transform", "xslt_transform_injected", "xpath_transform",
                                  "md5_digest", "sha1_downgrade", "hmac_with_certificate",
                                  "c14n_with_comments"])
def test_algorithms_refused_before_any_transform(name: str, console: TestClient,
                                                 factory: ResponseFactory, keys: Keys,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Transform and algorithm allow-lists fail the Response before signxml (or libxmlsec) runs."""
    monkeypatch.setattr(idp.saml.validation, "XMLVerifier", _NoVerifier)
    _NoVerifier.calls = 0
    attack = VECTORS[name].mutator(factory.build(BASE_USER), keys)
    response = post(console, attack)
    assert response.status_code == 400
    assert shown_rule(response.text) == "signature-algorithm"
    assert _NoVerifier.calls == 0


def test_stub_verifier_is_really_in_the_path(console: TestClient, factory: ResponseFactory,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Control for the test above: a genuine Response does reach the (stubbed) verifier."""
    monkeypatch.setattr(idp.saml.validation, "XMLVerifier", _NoVerifier)
    _NoVerifier.calls = 0
    with pytest.raises(AssertionError, match="signxml was reached"):
        post(console, Attack(factory.build(BASE_USER)))
    assert _NoVerifier.calls == 1


def test_console_sign_in_does_not_consume_the_assertion_for_sts(console: TestClient,
                                                               factory: ResponseFactory) -> None:
    """AWS's default (``idp.aws.replay``): aws-adfs posts the assertion to the sign-in page and
    then redeems it at STS; the console took it once, STS takes it still."""
    saml = factory.build(BASE_USER)
    assert post(console, Attack(saml)).status_code == 303
    body = urlencode({"Action": "AssumeRoleWithSAML", "Version": "2011-06-15",
                      "RoleArn": READ_ONLY, "PrincipalArn": PROD_PROVIDER, "SAMLAssertion": saml})
    raw = console.post("/aws/sts", content=body,
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert raw.status_code == 200, raw.text
    root = etree.fromstring(raw.content)
    assert root.findtext(".//s:Credentials/s:AccessKeyId", namespaces=STS_NS).startswith("ASIA")
    console.cookies.clear()
    again = post(console, Attack(saml))  # but the console itself takes it once
    assert again.status_code == 400 and shown_rule(again.text) == "replay"


def test_comment_injection_payload_really_has_the_comment(factory: ResponseFactory,
                                                          keys: Keys) -> None:
    """The injected comments sit inside signed text, so a naive ``.text`` reader is fooled."""
    xml = base64.b64decode(
        VECTORS["comment_in_role_session_name"].mutator(factory.build(BASE_USER), keys).saml)
    assert b">admin<!---->.evil.test<" in xml
    tree = etree.fromstring(xml)
    values = [v for v in tree.iter("{*}AttributeValue") if "evil" in text(v)]
    assert [v.text for v in values] == ["admin"]  # what a truncating SP would use
    assert [text(v) for v in values] == ["admin.evil.test"]
