"""Independent SAML service providers as test oracles: python3-saml (strict) and pysaml2.

Each is configured as an SP that trusts only what the IdP's *published metadata* says (its
entityID and signing certificate) and answers with a ``Verdict``: accepted or not, the
library's own error text, and the NameID and attributes it parsed. Both are imported inside
the calls: they are slow to import and only oracles here.

* ``python3_saml``: python3-saml 1.16 in strict mode with ``wantAssertionsSigned`` and
  ``rejectDeprecatedAlgorithm``; ``request_id`` is the AuthnRequest ID the SP is waiting for
  (``None``: it accepts unsolicited Responses).
* ``pysaml2``: pysaml2 7.5 with ``want_assertions_signed`` and xmlsec1; ``outstanding`` maps
  the AuthnRequest IDs it is waiting for to where the user came from, and
  ``allow_unsolicited`` (on by default, as for IdP-initiated logins) says whether a Response
  that answers none of them is accepted.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

from lxml import etree

from tests.support.demo import AWS_ACS, AWS_ENTITY_ID

POST_BINDING: Final = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
REDIRECT_BINDING: Final = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
_MD: Final = "urn:oasis:names:tc:SAML:2.0:metadata"
_DS: Final = "http://www.w3.org/2000/09/xmldsig#"


class _Errors(logging.Handler):
    """Collects the error lines pysaml2 logs (it refuses some Responses only by logging)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@dataclass(frozen=True)
class Verdict:
    """What an oracle SP made of a Response."""

    accepted: bool
    error: str | None = None
    """The library's own words when it refused (python3-saml's error, pysaml2's exception)."""
    name_id: str | None = None
    attributes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class IdpMetadata:
    """What an SP imports from the IdP's metadata: its entityID, SSO URL and certificate."""

    entity_id: str
    sso_url: str
    cert_b64: str
    """The first signing certificate, base64 DER without whitespace."""
    xml: bytes


def read_metadata(metadata: bytes) -> IdpMetadata:
    """Parse the IdP's ``EntityDescriptor`` (``IdentityProvider.metadata()``)."""
    root = etree.fromstring(metadata)
    ns = {"md": _MD, "ds": _DS}
    certs = root.xpath("md:IDPSSODescriptor/md:KeyDescriptor[@use='signing']/ds:KeyInfo/"
                       "ds:X509Data/ds:X509Certificate/text()", namespaces=ns)
    sso = root.xpath("md:IDPSSODescriptor/md:SingleSignOnService/@Location", namespaces=ns)
    assert isinstance(certs, list) and certs, "metadata publishes no signing certificate"
    assert isinstance(sso, list) and sso, "metadata publishes no SingleSignOnService"
    return IdpMetadata(entity_id=str(root.get("entityID")), sso_url=str(sso[0]),
                       cert_b64="".join(str(certs[0]).split()), xml=metadata)


def python3_saml(saml_b64: str, idp: IdpMetadata, *, acs: str = AWS_ACS,
                 sp_entity_id: str = AWS_ENTITY_ID, request_id: str | None = None) -> Verdict:
    """python3-saml (strict) as the SP ``sp_entity_id`` receiving the POST at ``acs``."""
    from onelogin.saml2.response import OneLogin_Saml2_Response
    from onelogin.saml2.settings import OneLogin_Saml2_Settings

    settings = OneLogin_Saml2_Settings({
        "strict": True, "debug": False,
        "sp": {"entityId": sp_entity_id,
               "assertionConsumerService": {"url": acs, "binding": POST_BINDING},
               "NameIDFormat": "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"},
        "idp": {"entityId": idp.entity_id,
                "singleSignOnService": {"url": idp.sso_url, "binding": REDIRECT_BINDING},
                "x509cert": idp.cert_b64},
        "security": {"wantAssertionsSigned": True, "wantMessagesSigned": False,
                     "rejectDeprecatedAlgorithm": True},
    }, sp_validation_only=True)
    parts = urlsplit(acs)
    https = parts.scheme == "https"
    request: dict[str, Any] = {
        "https": "on" if https else "off", "http_host": parts.hostname,
        "server_port": parts.port or (443 if https else 80), "script_name": parts.path,
        "get_data": {}, "post_data": {}}
    response = OneLogin_Saml2_Response(settings, saml_b64)
    if not response.is_valid(request, request_id=request_id, raise_exceptions=False):
        return Verdict(False, str(response.get_error()))
    attributes = {name: tuple(values) for name, values in response.get_attributes().items()}
    return Verdict(True, name_id=response.get_nameid(), attributes=attributes)


def pysaml2(saml_b64: str, idp: IdpMetadata, *, acs: str = AWS_ACS,
            sp_entity_id: str = AWS_ENTITY_ID, outstanding: Mapping[str, str] | None = None,
            allow_unsolicited: bool = True) -> Verdict:
    """pysaml2 as the SP ``sp_entity_id`` receiving the POST at ``acs``."""
    from saml2 import BINDING_HTTP_POST
    from saml2.client import Saml2Client
    from saml2.config import SPConfig

    config = SPConfig()
    config.load({
        "entityid": sp_entity_id,
        "service": {"sp": {
            "endpoints": {"assertion_consumer_service": [(acs, BINDING_HTTP_POST)]},
            "want_assertions_signed": True, "want_response_signed": False,
            "allow_unsolicited": allow_unsolicited}},
        "metadata": {"inline": [idp.xml.decode("utf-8")]},
        "xmlsec_binary": shutil.which("xmlsec1"),
    })
    client = Saml2Client(config=config)
    logged = _Errors()
    logger = logging.getLogger("saml2")
    logger.addHandler(logged)
    try:
        response = client.parse_authn_request_response(
            saml_b64, BINDING_HTTP_POST, outstanding=dict(outstanding or {}),
            conv_info={"entity_id": sp_entity_id})
    except Exception as exc:  # pysaml2 refuses by raising, with many unrelated classes
        return Verdict(False, f"{type(exc).__name__}: {exc}")
    finally:
        logger.removeHandler(logged)
    if response is None or response.assertion is None:
        # Some refusals (a wrong Destination) only log an error and return no assertion.
        return Verdict(False, logged.messages[-1] if logged.messages
                       else "pysaml2 returned no assertion")
    attributes: dict[str, tuple[str, ...]] = {}
    for statement in response.assertion.attribute_statement:
        for attribute in statement.attribute:
            values = tuple(v.text or "" for v in attribute.attribute_value)
            attributes[attribute.name] = attributes.get(attribute.name, ()) + values
    return Verdict(True, name_id=response.name_id.text, attributes=attributes)
