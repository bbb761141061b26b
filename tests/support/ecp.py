"""An ECP AuthnRequest as awscli-login sends it (``awscli_login/saml.py``
``authn_request``), for the ECP surface's tests."""

from __future__ import annotations

import uuid
from typing import Any

from lxml import etree

__all__ = ["ECP", "NS", "SIGN_IN", "SOAP", "authn_request"]

ECP = "/idp/profile/SAML2/SOAP/ECP"
SIGN_IN = "https://signin.aws.amazon.com/saml"
#: awscli-login's prefixes (``awscli_login/saml.py``, ``ns``).
NS = {
    "S": "http://schemas.xmlsoap.org/soap/envelope/",
    "saml2": "urn:oasis:names:tc:SAML:2.0:assertion",
    "saml2p": "urn:oasis:names:tc:SAML:2.0:protocol",
}
SOAP = "{" + NS["S"] + "}"


def authn_request(clock: Any, *, request_id: str | None = None, **attrs: str | None) -> bytes:
    """``awscli_login.saml.authn_request()`` at ``clock``'s time; ``attrs`` override (``None``
    drops an attribute; ``issuer=`` replaces the Issuer)."""
    now = clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    request_id = request_id or "_" + str.upper(str(uuid.uuid4())).replace("-", "")
    issuer = attrs.pop("issuer", "urn:amazon:webservices")
    envelope = etree.Element(SOAP + "Envelope", nsmap=NS)
    body = etree.SubElement(envelope, SOAP + "Body")
    attr: dict[str, str | None] = {
        "AssertionConsumerServiceURL": SIGN_IN,
        "ID": request_id,
        "IssueInstant": now,
        "ProtocolBinding": "urn:oasis:names:tc:SAML:2.0:bindings:PAOS",
        "Version": "2.0",
        **attrs,
    }
    request = etree.SubElement(body, "{" + NS["saml2p"] + "}AuthnRequest",
                               {k: v for k, v in attr.items() if v is not None})
    etree.SubElement(request, "{" + NS["saml2"] + "}Issuer").text = issuer
    return etree.tostring(envelope)
