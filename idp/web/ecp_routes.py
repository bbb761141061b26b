"""The SAML ECP endpoint (``--compat ecp``): ``POST /idp/profile/SAML2/SOAP/ECP``.

Shibboleth IdP's path for the ECP profile (SAML 2.0 Profiles §4.2) over SOAP 1.1 with HTTP
Basic authentication, as awscli-login (``awscli_login/saml.py``) posts to it. The core
(``idp.compat.ecp``) reads the envelope, signs the user in and builds the answer; this module
reads the bounded body and the headers and turns the core's values into HTTP:

* 200 ``text/xml``: the envelope with ``ecp:Response`` and the signed ``samlp:Response``, and
  a sealed session cookie (``Path`` this endpoint, ``HttpOnly``, ``Secure`` with an https
  base URL) that answers a later cookie-only POST (awscli-login's ``refresh``) without credentials;
* 401 with ``WWW-Authenticate: Basic`` (RFC 7235 §3.1, RFC 7617): no, malformed or wrong
  credentials, a missing or wrong passcode, a dead cookie; 429 with ``Retry-After`` (RFC 6585
  §4) when login throttling holds the user or address back;
* 400 (405 for GET, 408 for a body that stalls): a SOAP 1.1 Fault for a request that cannot
  be answered; 403 (409) when the user cannot be sent to AWS (no role; an attribute AWS would
  refuse). Never a 5xx, never an HTML page: the client is a SOAP client.

Plain HTTP and HTTPS both answer; the cookie is ``Secure`` when the base URL is https (so
with ``--tls`` a cookie-only refresh must use the https URL).
"""

from __future__ import annotations

from typing import Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from idp.compat import ecp
from idp.errors import SurfaceDisabled
from idp.vendors import Vendor
from idp.web import body
from idp.web.links import link
from idp.web.state import Services, enabled

__all__ = ["COOKIE", "ECP_PATH", "routes"]

#: Shibboleth IdP's ECP endpoint (its ``SAML2/SOAP/ECP`` profile path).
ECP_PATH: Final = "/idp/profile/SAML2/SOAP/ECP"
#: The sealed login a successful answer leaves (``VendorSignIn.seal_login``).
COOKIE: Final = "idp_ecp_session"
#: RFC 7617 §2 and §2.1: the realm, and that user names and passwords are UTF-8.
CHALLENGE: Final = 'Basic realm="ECP", charset="UTF-8"'
#: The one-time code: Duo's Shibboleth plugin's header, and awscli-login's misspelt twin of it
#: (``awscli_login/config.py``, ``get_credentials``, sends both).
PASSCODE_HEADERS: Final = ("x-shibboleth-duo-passcode", "x-shiboleth-duo-passcode")
#: What the envelope may be posted as: SOAP 1.1's ``text/xml`` and PAOS's media type.
MEDIA_TYPES: Final = frozenset({"text/xml", "application/vnd.paos+xml"})
_XML: Final = "text/xml; charset=utf-8"


def _soap(content: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(content, status_code=status, media_type=_XML, headers=headers)


def _fault(fault: ecp.SoapFault, headers: dict[str, str] | None = None) -> Response:
    return _soap(ecp.fault_envelope(fault), fault.http_status, headers)


def _client_fault(message: str, status: int = 400,
                  headers: dict[str, str] | None = None) -> Response:
    return _fault(ecp.SoapFault(ecp.FaultCode.CLIENT, message, http_status=status), headers)


def _endpoints(services: Services) -> frozenset[str]:
    settings = services.settings
    return frozenset({settings.url + ECP_PATH, settings.plain_url + ECP_PATH})


def _passcode(request: Request) -> str | None:
    for name in PASSCODE_HEADERS:
        value = request.headers.get(name)
        if value is not None:
            return value
    return None


async def ecp_sso(request: Request) -> Response:
    """One AuthnRequest in, one Response (or a fault) out; see the module docstring."""
    try:
        services = enabled(request, Vendor.ECP)
    except SurfaceDisabled as exc:  # an ECP client reads SOAP, never an HTML page
        return _client_fault(str(exc), exc.http_status)
    if request.method != "POST":
        return _client_fault("POST a SOAP envelope holding a samlp:AuthnRequest here.", 405,
                             {"Allow": "POST"})
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type not in MEDIA_TYPES:
        return _client_fault(f"Send the SOAP envelope as text/xml, not {media_type or 'nothing'}.")
    try:
        content = await body.read_body(request, max_bytes=ecp.MAX_ENVELOPE_BYTES)
    except body.BodyTooLarge:
        return _client_fault(f"The envelope is larger than {ecp.MAX_ENVELOPE_BYTES} bytes.")
    except body.BodyTimeout as exc:
        return _client_fault(str(exc), exc.http_status, {"Connection": "close"})
    parsed = ecp.read_request(content, services.identity_provider,
                              endpoints=_endpoints(services))
    if isinstance(parsed, ecp.SoapFault):
        return _fault(parsed)
    outcome = ecp.authenticate(
        services.vendor_sign_in, authorization=request.headers.get("authorization"),
        cookie=request.cookies.get(COOKIE), passcode=_passcode(request),
        address=request.client.host if request.client else "unknown",
        force_authn=parsed.force_authn)
    path = link(request, "ecp_sso")
    if isinstance(outcome, ecp.Denied):
        headers = ({"Retry-After": str(outcome.retry_after)} if outcome.retry_after is not None
                   else {"WWW-Authenticate": CHALLENGE})
        response = _client_fault(outcome.message, outcome.http_status, headers)
        if outcome.forget_cookie:
            response.delete_cookie(COOKIE, path=path,
                                   secure=services.settings.secure_cookies,
                                   httponly=True, samesite="strict")
        return response
    answered = ecp.answer(services.vendor_sign_in, parsed, outcome.principal)
    if isinstance(answered, ecp.SoapFault):
        return _fault(answered)
    response = _soap(answered)
    if outcome.cookie is not None:
        response.set_cookie(COOKIE, outcome.cookie,
                            max_age=services.vendor_sign_in.session_lifetime, path=path,
                            secure=services.settings.secure_cookies, httponly=True,
                            samesite="strict")
    return response


def routes() -> list[BaseRoute]:
    return [Route(ECP_PATH, ecp_sso, methods=["GET", "POST"], name="ecp_sso")]
