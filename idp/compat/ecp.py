"""SAML ECP over SOAP with HTTP Basic authentication (what awscli-login speaks), framework-free.

An Enhanced Client (SAML 2.0 Profiles §4.2) posts its ``<samlp:AuthnRequest>`` to the IdP in
a SOAP 1.1 envelope (SAML Profiles §4.2.3.4; SAML Bindings §3.2, the SOAP binding) and gets
back, in one SOAP envelope, an ``<ecp:Response>`` header block naming where the Response goes
(Profiles §4.2.4.4) and the signed ``<samlp:Response>`` answering that request in the Body
(Profiles §4.2.3.6). How the client proves who the user is is left to the deployment
(Profiles §4.2.3.5); the ECP tools for AWS use HTTP Basic (RFC 7617), and Duo's
Shibboleth plugin's ``X-Shibboleth-Duo-Passcode`` header for the one-time code.

awscli-login 1.0 (``awscli_login/saml.py``, ``authn_request``/``saml_login``) is the client
this serves unchanged:

* it POSTs ``S:Envelope/S:Body/saml2p:AuthnRequest`` (``ID``, ``IssueInstant``,
  ``AssertionConsumerServiceURL="https://signin.aws.amazon.com/saml"``,
  ``ProtocolBinding`` PAOS, Issuer ``urn:amazon:webservices``) as ``text/xml``, with HTTP
  Basic credentials; ``config.py`` (``get_credentials``) adds ``X-Shibboleth-Duo-Factor``
  and ``X-Shibboleth-Duo-Passcode`` (and their misspelt ``X-Shiboleth-…`` twins);
* it first tries the saved cookie alone (``refresh``) and, on any failure, the credentials;
* it calls ``raise_for_status()``, looks for
  ``S:Body/saml2p:Response/saml2p:Status/saml2p:StatusCode[@Value=…Success]`` and
  re-serialises that Response element (lxml ``tostring``) as the assertion it redeems at
  ``AssumeRoleWithSAML``.

The Response is the IdP's own signed Response for AWS (``VendorSignIn.aws_response``), its
``InResponseTo`` the request's ``ID``. Embedding it is safe for its signatures: the IdP signs
with exclusive canonicalization (W3C Exclusive XML Canonicalization 1.0), which leaves out the
namespace declarations of ancestors the signed element does not use, such as the envelope's,
so the element parsed into the envelope, and re-serialised out of it by the client, verifies.

What a refusal looks like (the route sends it): a SOAP 1.1 Fault (SOAP 1.1 §4.4). SOAP 1.1
§6.2 would send every fault as HTTP 500; a 5xx reads as a crash (and clients retry it), so a
fault caused by the request is 400, as SOAP 1.2 maps ``env:Sender`` (SOAP 1.2 Part 2 §7.5.2),
with the 401/429 of HTTP authentication where those apply.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from lxml import etree

from idp.authn.login import LoggedIn, OtpNeeded, Principal, Refused, Throttled
from idp.compat.signin import VendorSignIn
from idp.directory.model import AWS_ENTITY_ID
from idp.errors import (
    FatalRequestError,
    MalformedRequest,
    UnknownServiceProvider,
    UnregisteredACS,
    XMLError,
)
from idp.exchanges import ExchangeKind, Outcome
from idp.saml import requests as saml_requests
from idp.saml.constants import SAMLP, AuthnContextClass, NameIDFormat
from idp.saml.status import InvalidNameIDPolicy, NoAuthnContext, SamlStatusError
from idp.sso import MAX_REQUEST_AGE, IdentityProvider
from idp.xml import parse, to_bytes

__all__ = [
    "ECP_NS",
    "MAX_AUTHORIZATION_CHARS",
    "MAX_ENVELOPE_BYTES",
    "MAX_PASSCODE_CHARS",
    "PAOS_BINDING",
    "PASSCODE_NEEDED",
    "SOAP_ACTOR_NEXT",
    "SOAP_NS",
    "BasicCredentials",
    "Denied",
    "EcpRequest",
    "FaultCode",
    "SignedIn",
    "SoapFault",
    "answer",
    "authenticate",
    "fault_envelope",
    "parse_basic",
    "read_request",
    "response_envelope",
]

#: SOAP 1.1's envelope namespace (SOAP 1.1 §4.1.2), the one the SAML SOAP binding uses.
SOAP_NS: Final = "http://schemas.xmlsoap.org/soap/envelope/"
#: The ECP profile's header blocks (SAML Profiles §4.2.4).
ECP_NS: Final = "urn:oasis:names:tc:SAML:2.0:profiles:SSO:ecp"
#: The PAOS binding (SAML Bindings §3.3): the ProtocolBinding an ECP asks for.
PAOS_BINDING: Final = "urn:oasis:names:tc:SAML:2.0:bindings:PAOS"
#: SOAP 1.1's "next" actor (SOAP 1.1 §4.2.2): a header block for whoever receives it next.
SOAP_ACTOR_NEXT: Final = "http://schemas.xmlsoap.org/soap/actor/next"
#: Largest envelope read. awscli-login's is about 600 bytes; an AuthnRequest signed by an SP
#: with its certificate inlined is a few KiB.
MAX_ENVELOPE_BYTES: Final = 64 * 1024
#: Longest ``Authorization`` header read (base64 of a 256-character name and a long password).
MAX_AUTHORIZATION_CHARS: Final = 4096
#: Longest one-time passcode header read (a TOTP code is 6 digits).
MAX_PASSCODE_CHARS: Final = 64

_S: Final = "{" + SOAP_NS + "}"
_ECP: Final = "{" + ECP_NS + "}"
#: The request faults' HTTP status (see the module docstring).
_BAD_REQUEST: Final = 400


class FaultCode(StrEnum):
    """SOAP 1.1's fault codes (SOAP 1.1 §4.4.1), written ``S:<code>`` in ``faultcode``."""

    VERSION_MISMATCH = "VersionMismatch"
    """The root is an Envelope in another namespace (SOAP 1.2's, say)."""
    MUST_UNDERSTAND = "MustUnderstand"
    """A header block addressed to this IdP with ``mustUnderstand="1"`` it does not know."""
    CLIENT = "Client"
    """The message itself is wrong (or its sender may not have an answer)."""
    SERVER = "Server"


@dataclass(frozen=True)
class SoapFault:
    """A refusal, as a value: the fault the route sends and the HTTP status it sends it with."""

    code: FaultCode
    message: str
    http_status: int = _BAD_REQUEST


# --- the request ------------------------------------------------------------------------------


@dataclass(frozen=True)
class EcpRequest:
    """What the IdP acts on in an accepted ECP AuthnRequest."""

    id: str
    """Becomes the Response's ``InResponseTo``."""
    acs_url: str
    """Where the Response is addressed (its ``Destination``; ``ecp:Response``'s ACS URL)."""
    force_authn: bool = False
    """The session cookie alone does not answer it: credentials are needed (Core §3.4.1)."""
    wants_mfa: bool = False
    """RequestedAuthnContext names the MFA class: a password-only login cannot answer (as at
    the SSO endpoint, ``IdentityProvider._spec``)."""


def _fault(message: str, code: FaultCode = FaultCode.CLIENT) -> SoapFault:
    return SoapFault(code=code, message=message)


def _envelope_body(root: etree._Element) -> etree._Element | SoapFault:
    """The AuthnRequest element of a SOAP 1.1 envelope, or the fault that refuses it."""
    name = etree.QName(root)
    if name.localname != "Envelope" or name.namespace is None:
        return _fault(f"expected a SOAP 1.1 S:Envelope ({SOAP_NS}), got {name.localname}")
    if name.namespace != SOAP_NS:  # SOAP 1.1 §4.4.1: another envelope version
        return _fault(f"the Envelope namespace {name.namespace} is not SOAP 1.1's "
                      f"({SOAP_NS})", FaultCode.VERSION_MISMATCH)
    children = [c for c in root if isinstance(c.tag, str)]
    if [c.tag for c in children if c.tag == f"{_S}Body"] != [f"{_S}Body"]:
        return _fault("the Envelope must have exactly one S:Body")
    for header in (c for c in children if c.tag == f"{_S}Header"):
        for block in header:
            if not isinstance(block.tag, str):
                continue
            actor = block.get(f"{_S}actor")
            if block.get(f"{_S}mustUnderstand") == "1" and actor in (None, SOAP_ACTOR_NEXT):
                return _fault(f"header block {etree.QName(block).localname} must be "
                              "understood, and this IdP does not know it (SOAP 1.1 §4.2.3)",
                              FaultCode.MUST_UNDERSTAND)
    body = next(c for c in children if c.tag == f"{_S}Body")
    if (body.text or "").strip() or any((c.tail or "").strip() for c in body):
        return _fault("the S:Body holds text; it must hold one samlp:AuthnRequest")
    entries = [c for c in body if isinstance(c.tag, str)]
    if len(entries) != 1 or entries[0].tag != f"{SAMLP}AuthnRequest":
        found = ", ".join(etree.QName(c).localname for c in entries) or "nothing"
        return _fault(f"the S:Body must hold one samlp:AuthnRequest; it holds {found}")
    return entries[0]


def _acs_url(request: saml_requests.AuthnRequest, idp: IdentityProvider) -> str:
    """Where the Response goes: the requested URL if the AWS SP may receive it there (its
    registered ACS URLs or an AWS sign-in URL), an ACS index, else the SP's default."""
    sp = saml_requests.resolve_sp(AWS_ENTITY_ID, idp.directory.service_providers)
    if request.acs_url is None:
        return saml_requests.resolve_acs(request, sp)
    if request.acs_index is not None:
        saml_requests.resolve_acs(request, sp)  # refuses URL and index together
    if not idp.acs_allowed(sp, request.acs_url):
        raise UnregisteredACS(
            f"AssertionConsumerServiceURL {request.acs_url!r} is not an assertion consumer "
            f"service of {sp.entity_id}: use https://signin.aws.amazon.com/saml or one of "
            + ", ".join(sp.acs_urls))
    return request.acs_url


def _check(request: saml_requests.AuthnRequest, root: etree._Element, idp: IdentityProvider,
           endpoints: frozenset[str]) -> EcpRequest:
    """The IdP's SSO checks that apply to an ECP request (``IdentityProvider._pending``,
    ``precheck``), raising their errors."""
    sp = saml_requests.resolve_sp(request.issuer, idp.directory.service_providers)
    if sp.entity_id != AWS_ENTITY_ID:
        raise UnknownServiceProvider(
            f"this ECP endpoint answers {AWS_ENTITY_ID} only, not {request.issuer}; other "
            "service providers sign in through /idp/sso")
    if sp.want_authn_requests_signed:
        saml_requests.check_post_signature(root, sp)
    if request.protocol_binding not in (None, PAOS_BINDING):
        raise MalformedRequest(
            f"ProtocolBinding {request.protocol_binding} is not PAOS: the ECP profile answers "
            f"through the client ({PAOS_BINDING}, SAML Profiles §4.2.3.6)")
    if request.destination is not None and request.destination not in endpoints:
        raise MalformedRequest(f"AuthnRequest Destination {request.destination} is not this "
                               "ECP endpoint (" + ", ".join(sorted(endpoints)) + ")")
    now = idp.clock.now()
    if request.issue_instant > now + dt.timedelta(seconds=idp.settings.clock_skew):
        raise MalformedRequest("AuthnRequest IssueInstant is in the future; check the clocks")
    if request.issue_instant < now - MAX_REQUEST_AGE:
        raise MalformedRequest("AuthnRequest is more than an hour old; send a new one")
    # What the answer cannot honour is refused, as the SSO endpoint refuses it (SAML Core
    # §3.4.1.1 InvalidNameIDPolicy, §3.3.2.2.1 NoAuthnContext): the Response carries the AWS
    # SP's NameID format and the login's own authentication context.
    if request.name_id_format not in (None, NameIDFormat.UNSPECIFIED.value,
                                      sp.name_id_format.value):
        raise InvalidNameIDPolicy(
            f"this endpoint issues {sp.name_id_format.value} NameIDs for {sp.entity_id}, not "
            f"{request.name_id_format}")
    supported = {c.value for c in AuthnContextClass}
    asked = set(request.requested_contexts)
    if asked and not asked & supported:
        raise NoAuthnContext("none of the requested authentication contexts can be satisfied")
    return EcpRequest(id=request.id, acs_url=_acs_url(request, idp),
                      force_authn=request.force_authn,
                      wants_mfa=AuthnContextClass.MFA.value in asked)


def read_request(body: bytes, idp: IdentityProvider, *, endpoints: frozenset[str]
                 ) -> EcpRequest | SoapFault:
    """The ECP AuthnRequest in a SOAP envelope, checked; or the fault that refuses it.

    ``endpoints`` are this endpoint's absolute URLs (an AuthnRequest ``Destination`` must be
    one). Every AuthnRequest reaches the exchange log, received or refused and why.
    """
    message: bytes | None = None
    issuer: str | None = None
    try:
        root = parse(body, max_bytes=MAX_ENVELOPE_BYTES)
        found = _envelope_body(root)
        if isinstance(found, SoapFault):
            _record(idp, body, None, found.message)
            return found
        message = to_bytes(found)
        request, request_root = saml_requests.parse_authn_request(message)
        issuer = request.issuer
        accepted = _check(request, request_root, idp, endpoints)
    except XMLError as exc:
        _record(idp, body, None, str(exc))
        return _fault(f"the body is not acceptable XML: {exc}")
    except (FatalRequestError, SamlStatusError) as exc:
        _record(idp, message or body, issuer, str(exc))
        return _fault(str(exc))
    _record(idp, message, issuer, None)
    return accepted


def _record(idp: IdentityProvider, message: bytes, sp: str | None, error: str | None) -> None:
    if idp.exchanges is not None:
        idp.exchanges.record(ExchangeKind.AUTHN_REQUEST,
                             Outcome.REFUSED if error is not None else Outcome.RECEIVED,
                             message=message, sp=sp, detail=error)


# --- who is asking ----------------------------------------------------------------------------


@dataclass(frozen=True)
class BasicCredentials:
    """An ``Authorization: Basic`` header, decoded (RFC 7617 §2)."""

    username: str
    password: str


def parse_basic(header: str) -> BasicCredentials | None:
    """``Basic base64(user:password)``, UTF-8 (RFC 7617 §2.1); ``None`` when malformed.

    The scheme is case-insensitive (RFC 7235 §2.1); the user name ends at the first colon
    and the password may hold more (RFC 7617 §2).
    """
    if len(header) > MAX_AUTHORIZATION_CHARS:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "basic" or not token or " " in token:
        return None
    try:
        decoded = base64.b64decode(token, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
        return None
    username, colon, password = decoded.partition(":")
    if not colon or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in decoded):
        return None  # RFC 7617 §2: no colon in the user-id, no control characters at all
    return BasicCredentials(username=username, password=password)


@dataclass(frozen=True)
class SignedIn:
    """Who the Response is for; ``cookie`` is a new sealed login to set (after credentials)."""

    principal: Principal
    cookie: str | None = None


@dataclass(frozen=True)
class Denied:
    """No Response: why, and how HTTP says it (401 asks for credentials again, 429 waits)."""

    message: str
    http_status: int = 401
    retry_after: int | None = None
    forget_cookie: bool = False
    """The session cookie sent is dead: clear it."""


#: What a password-only answer for an MFA user says (awscli-login's ``factor = passcode``).
PASSCODE_NEEDED: Final = (
    "A one-time passcode is required: send the 6-digit code from the authenticator app in "
    "the X-Shibboleth-Duo-Passcode header (awscli-login: factor = passcode). Push, SMS and "
    "phone factors are not offered.")


def authenticate(sign_in: VendorSignIn, *, authorization: str | None, cookie: str | None,
                 passcode: str | None, address: str, force_authn: bool = False
                 ) -> SignedIn | Denied:
    """Credentials first (the directory's login policy: password, one-time code, throttling),
    else the sealed login of an earlier answer (awscli-login's ``refresh``), else a challenge.

    Explicit credentials win over a cookie: a wrong password is refused even with a valid
    cookie (it says the user wants to sign in again, perhaps as someone else).
    """
    if authorization is not None:
        credentials = parse_basic(authorization)
        if credentials is None:
            return Denied("The Authorization header is not HTTP Basic credentials "
                          "(base64 of user:password, UTF-8).")
        if passcode is not None and len(passcode) > MAX_PASSCODE_CHARS:
            passcode = "invalid"  # refused by the code check, and counted as a failure
        outcome = sign_in.submit(credentials.username, credentials.password, passcode, address)
        if isinstance(outcome, LoggedIn):
            return SignedIn(outcome.principal, cookie=sign_in.seal_login(outcome.principal))
        if isinstance(outcome, Throttled):
            return Denied(f"Too many failed sign-in attempts. Try again in "
                          f"{outcome.retry_after} seconds.", http_status=429,
                          retry_after=outcome.retry_after)
        if isinstance(outcome, OtpNeeded):
            return Denied(PASSCODE_NEEDED)
        assert isinstance(outcome, Refused)
        return Denied(outcome.message)
    if cookie is not None:
        principal = sign_in.open_login(cookie)
        if principal is None:
            return Denied("The session has expired or ended; send the username and password.",
                          forget_cookie=True)
        if force_authn:
            return Denied("The AuthnRequest has ForceAuthn: send the username and password.")
        return SignedIn(principal)
    return Denied("Send the username and password with HTTP Basic authentication.")


# --- the answer -------------------------------------------------------------------------------


def answer(sign_in: VendorSignIn, request: EcpRequest, principal: Principal
           ) -> bytes | SoapFault:
    """The SOAP envelope with the signed Response for AWS answering ``request``; or a fault
    when the user cannot be sent to AWS (no role, an attribute AWS would refuse: the
    error's own status, 403 or 409)."""
    try:
        if request.wants_mfa and not principal.mfa:
            raise NoAuthnContext("the service provider asked for MFA; this user has none")
        form = sign_in.aws_response(principal, acs_url=request.acs_url,
                                    in_response_to=request.id)
    except (FatalRequestError, SamlStatusError) as exc:
        status = exc.http_status if 400 <= exc.http_status < 500 else _BAD_REQUEST
        return SoapFault(FaultCode.CLIENT, str(exc), http_status=status)
    response = base64.b64decode(form.saml_value)
    return response_envelope(response, form.action)


def response_envelope(response: bytes, acs_url: str) -> bytes:
    """``S:Envelope`` with ``ecp:Response`` in the Header (SAML Profiles §4.2.4.4:
    ``S:mustUnderstand="1"``, ``S:actor`` next, the ACS URL) and ``response`` (the signed
    ``samlp:Response``, inserted as parsed: its signed bytes are not rebuilt) in the Body."""
    envelope = etree.Element(f"{_S}Envelope", nsmap={"S": SOAP_NS})
    header = etree.SubElement(envelope, f"{_S}Header")
    etree.SubElement(header, f"{_ECP}Response", nsmap={"ecp": ECP_NS}, attrib={
        f"{_S}mustUnderstand": "1",
        f"{_S}actor": SOAP_ACTOR_NEXT,
        "AssertionConsumerServiceURL": acs_url,
    })
    body = etree.SubElement(envelope, f"{_S}Body")
    body.append(parse(response))
    return _serialize(envelope)


def fault_envelope(fault: SoapFault) -> bytes:
    """``S:Envelope/S:Body/S:Fault`` with ``faultcode`` and ``faultstring`` (SOAP 1.1 §4.4)."""
    envelope = etree.Element(f"{_S}Envelope", nsmap={"S": SOAP_NS})
    body = etree.SubElement(envelope, f"{_S}Body")
    element = etree.SubElement(body, f"{_S}Fault")
    etree.SubElement(element, "faultcode").text = f"S:{fault.code.value}"
    etree.SubElement(element, "faultstring").text = _xml_safe(fault.message)
    return _serialize(envelope)


def _xml_safe(text: str) -> str:
    """``text`` without the characters XML 1.0 cannot carry (a message may quote input)."""
    return "".join(ch if ch in "\t\n\r" or " " <= ch <= "\ud7ff" or "\ue000" <= ch <= "\ufffd"
                   or ch >= "\U00010000" else "\ufffd" for ch in text)


def _serialize(envelope: etree._Element) -> bytes:
    return etree.tostring(envelope, encoding="UTF-8", xml_declaration=True)


