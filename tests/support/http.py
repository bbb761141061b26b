"""Talking to the IdP over HTTP as a browser would: log in, read the auto-POST form.

``login`` drives the login page (with its anti-CSRF token) from an SSO or ``/idp/init`` URL;
``auto_post`` pulls the SAMLResponse form out of the auto-POST page (exactly as saml2aws's
regex does); ``authn_request`` and ``redirect_value`` build an AuthnRequest and encode it for
the HTTP-Redirect binding.
"""

from __future__ import annotations

import base64
import html as htmllib
import re
import zlib
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from lxml import etree

from idp.clock import format_instant
from idp.saml.constants import NS

FORM_RE = re.compile(
    r'<form method="POST" action="(?P<action>[^"]*)">'
    r'<input type="hidden" name="SAMLResponse" value="(?P<value>[^"]*)"/>'
    r'<input type="hidden" name="RelayState" value="(?P<relay>[^"]*)"/>'
)


@dataclass(frozen=True)
class PostedResponse:
    """The form an auto-POST page submits: where to, the SAMLResponse and the RelayState."""

    action: str
    saml_response: str
    relay_state: str

    @property
    def xml(self) -> bytes:
        return base64.b64decode(self.saml_response)

    @property
    def tree(self) -> etree._Element:
        return etree.fromstring(self.xml)

    def attribute(self, name: str) -> list[str]:
        return [
            "".join(v.itertext())
            for v in self.tree.iterfind(
                f".//saml:Attribute[@Name='{name}']/saml:AttributeValue", NS
            )
        ]


def auto_post(html: str) -> PostedResponse:
    """The first form of an auto-POST page, matched exactly the way saml2aws's regex needs."""
    match = FORM_RE.search(html)
    assert match, f"no auto-POST form in page:\n{html[:2000]}"
    return PostedResponse(
        action=htmllib.unescape(match["action"]),
        saml_response=match["value"],
        relay_state=htmllib.unescape(match["relay"]),
    )


CSRF_RE = re.compile(r'name="csrf_token" value="([^"]*)"')


def pending_id(url: str) -> str:
    """The ``pending`` login step named in the login page's URL."""
    return parse_qs(urlsplit(str(url)).query)["pending"][0]


def csrf(html: str) -> str:
    """The anti-CSRF token of a login page (a real browser posts it back with the form)."""
    match = CSRF_RE.search(html)
    assert match, f"no csrf_token on the page:\n{html[:1500]}"
    return match[1]


def login(client, start_url: str, username: str, password: str, otp: str | None = None):
    """GET start_url (SSO or /idp/init), log in on the page it redirects to, follow through."""
    first = client.get(start_url, follow_redirects=True)
    assert "/idp/login" in str(first.url), first.text[:500]
    data = {"username": username, "password": password, "pending": pending_id(first.url),
            "csrf_token": csrf(first.text)}
    if otp is not None:
        data["otp"] = otp
    return client.post("/idp/login", data=data, follow_redirects=True)


def sso_assertion(client, user: str) -> str:
    """``user``'s SAMLResponse from ``/idp/init``: the login page's steps if the client has no
    IdP session yet (password ``USER-password``), else straight from the session."""
    page = client.get("/idp/init", follow_redirects=True)
    if "/idp/login" in str(page.url):
        page = login(client, "/idp/init", user, f"{user}-password")
    assert page.status_code == 200, page.text[:800]
    return auto_post(page.text).saml_response


def authn_request(clock, **overrides) -> bytes:
    """A minimal AuthnRequest from the AWS SP (the registry always has it)."""
    attrs = {
        "ID": "_req1", "Version": "2.0", "IssueInstant": format_instant(clock.now()),
        "Destination": "http://idp.test/idp/sso",
    }
    issuer = overrides.pop("issuer", "urn:amazon:webservices")
    attrs.update({k: v for k, v in overrides.items() if v is not None})
    for k in [k for k, v in overrides.items() if v is None]:
        attrs.pop(k, None)
    root = etree.Element(f"{{{NS['samlp']}}}AuthnRequest", nsmap={"samlp": NS["samlp"],
                         "saml": NS["saml"]}, attrib=attrs)
    if issuer is not None:
        etree.SubElement(root, f"{{{NS['saml']}}}Issuer").text = issuer
    return etree.tostring(root)


def redirect_value(xml: bytes) -> str:
    """``xml`` raw-DEFLATEd and base64-encoded, as the HTTP-Redirect binding carries it."""
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
    return base64.b64encode(deflater.compress(xml) + deflater.flush()).decode()
