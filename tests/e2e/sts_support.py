"""Helpers for the mock-STS end-to-end tests: a live ``idp serve`` and signed Responses for it.

``running_server`` starts the real server process (the same argv as the ``live_server``
fixture) on a free loopback port with a given certs folder and stops it with SIGINT.
``ResponseFactory`` loads that server's signing key from its certs folder and builds Responses
exactly the way the server would (``IdentityProvider.respond``), at any instant, so time-based
cases need no clock control on the server. ``mutate`` edits a Response and re-signs its
Assertion with the real key, so only the rule under test fails.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import boto3
import botocore.config
from lxml import etree

from idp.authn.login import new_principal
from idp.aws.vocabulary import AWS_SIGN_IN_URLS
from idp.clock import FixedClock, format_instant
from idp.directory import Directory, demo_directory
from idp.directory.model import AWS_ENTITY_ID
from idp.errors import SamlValidationError
from idp.keys import KeyPair, KeyStore
from idp.saml.constants import NS
from idp.saml.signing import SigningPolicy, sign_element
from idp.saml.validation import TrustedIssuer, ValidationPolicy, verify_response
from idp.settings import Settings
from idp.sso import IdentityProvider

SAML: Final = f"{{{NS['saml']}}}"
SAMLP: Final = f"{{{NS['samlp']}}}"
DS: Final = f"{{{NS['ds']}}}"
ATTR: Final = "https://aws.amazon.com/SAML/Attributes/"
ROLE_ATTR: Final = ATTR + "Role"
SESSION_NAME_ATTR: Final = ATTR + "RoleSessionName"

PROD: Final = "111122223333"
DEV: Final = "444455556666"
ADMIN: Final = f"arn:aws:iam::{PROD}:role/Admin"
READ_ONLY: Final = f"arn:aws:iam::{PROD}:role/ReadOnly"
DEVELOPER: Final = f"arn:aws:iam::{DEV}:role/Developer"
PROD_PROVIDER: Final = f"arn:aws:iam::{PROD}:saml-provider/CorpIdP"
DEV_PROVIDER: Final = f"arn:aws:iam::{DEV}:saml-provider/CorpIdP"
ALICE: Final = "alice@corp.example"

#: Bounded HTTP timeouts for every client the tests build (seconds).
HTTP_TIMEOUT: Final = 15
#: No retries: a 5xx (or anything botocore would retry) shows up as the first answer.
NO_RETRY: Final = botocore.config.Config(
    retries={"max_attempts": 0}, connect_timeout=HTTP_TIMEOUT, read_timeout=HTTP_TIMEOUT,
)


# --- clients -----------------------------------------------------------------------------------


def sts_client(endpoint: str | None, **kwargs: Any) -> Any:
    """A boto3 STS client for the mock (``endpoint`` None: from AWS_ENDPOINT_URL_STS)."""
    session = boto3.session.Session()
    options: dict[str, Any] = {"region_name": "us-east-1", "config": NO_RETRY}
    if endpoint is not None:
        options["endpoint_url"] = endpoint
    options.update(kwargs)
    return session.client("sts", **options)


def session_client(endpoint: str | None, credentials: dict[str, Any], **kwargs: Any) -> Any:
    """An STS client signing with the temporary credentials of an AssumeRoleWithSAML result."""
    return sts_client(
        endpoint,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        **kwargs,
    )


def clean_aws_environment(monkeypatch: Any, tmp_path: Path) -> None:
    """No real AWS configuration leaks in: empty config files, no AWS_* variables."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    config = tmp_path / "aws-config"
    credentials = tmp_path / "aws-credentials"
    config.write_text("")
    credentials.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


# --- signed Responses --------------------------------------------------------------------------


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def decode(b64: str) -> etree._Element:
    """Parse a base64 Response, keeping comments (an attack may have put one there)."""
    parser = etree.XMLParser(remove_comments=False, resolve_entities=False, no_network=True)
    return etree.fromstring(base64.b64decode(b64), parser=parser)


def encode(root: etree._Element) -> str:
    return base64.b64encode(etree.tostring(root)).decode("ascii")


def assertion_of(root: etree._Element) -> etree._Element:
    found = root.find(f"{SAML}Assertion")
    assert found is not None, "the Response has no Assertion"
    return found


def attribute(root: etree._Element, name: str) -> etree._Element | None:
    return assertion_of(root).find(f"{SAML}AttributeStatement/{SAML}Attribute[@Name='{name}']")


def set_attribute(root: etree._Element, name: str, *values: str) -> etree._Element:
    """Replace (or add) the Assertion's attribute ``name`` with ``values``."""
    statement = assertion_of(root).find(f"{SAML}AttributeStatement")
    assert statement is not None
    old = attribute(root, name)
    if old is not None:
        statement.remove(old)
    el = etree.SubElement(statement, f"{SAML}Attribute", Name=name,
                          NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri")
    for value in values:
        etree.SubElement(el, f"{SAML}AttributeValue").text = value
    return el


def remove_attribute(root: etree._Element, name: str) -> None:
    el = attribute(root, name)
    assert el is not None, f"no attribute {name}"
    el.getparent().remove(el)


def set_instant(el: etree._Element, name: str, when: dt.datetime) -> None:
    el.set(name, format_instant(when))


class ResponseFactory:
    """Signed Responses for one running server, built the way the server itself builds them."""

    def __init__(self, url: str, certs_dir: Path) -> None:
        self.url = url
        self.keys: KeyPair = KeyStore(certs_dir).load()
        self.settings = Settings(base_url=url, certs_dir=certs_dir)
        self.directory: Directory = demo_directory(aws_acs=f"{url}/aws/saml")

    @property
    def issuer(self) -> str:
        return self.settings.entity_id

    def build(self, username: str = "alice", *, at: dt.datetime | None = None) -> str:
        """The base64 Response the IdP would POST for ``username`` at instant ``at``."""
        clock = FixedClock(at or now())
        idp = IdentityProvider(self.settings, self.directory, (self.keys,), clock)
        pending, _sp = idp.idp_initiated(None, None)
        user = self.directory.user(username)
        assert user is not None, username
        form = idp.respond(pending, new_principal(user, mfa=False, clock=clock))
        return form.saml_value

    def mutate(self, b64: str, fn: Callable[[etree._Element], object], *, resign: bool = True,
               keys: KeyPair | None = None, policy: SigningPolicy | None = None) -> str:
        """Decode, let ``fn`` edit the tree, re-sign the Assertion (real key by default)."""
        root = decode(b64)
        fn(root)
        if resign:
            assertion = assertion_of(root)
            for sig in assertion.findall(f"{DS}Signature"):
                assertion.remove(sig)
            signed = sign_element(assertion, keys or self.keys, policy or SigningPolicy())
            root.replace(assertion, signed)
        return encode(root)

    def failing_rule(self, b64: str) -> str | None:
        """Which verifier rule this Response breaks when checked the way the server checks it.

        The STS reports several rules with one message ("Response signature invalid"); tests
        use this to make sure an edit breaks the rule they mean and nothing earlier.
        """
        recipients = AWS_SIGN_IN_URLS | {f"{self.url}/aws/saml"}
        policy = ValidationPolicy(now=dt.datetime.now(dt.UTC), accepted_recipients=recipients,
                                  accepted_audiences=recipients | {AWS_ENTITY_ID})
        trust = TrustedIssuer(entity_id=self.issuer, certificates=(self.keys.cert_pem,))
        try:
            verify_response(base64.b64decode(b64), trust=trust, policy=policy)
        except SamlValidationError as exc:
            return exc.rule
        return None
