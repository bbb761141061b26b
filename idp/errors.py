"""One exception root for the whole package.

::

    IdPError
     ├── ConfigError              the directory/config file is wrong (file, line, what)
     ├── KeyStoreError            the signing keys cannot be read or written
     ├── XMLError                 input is not acceptable XML (DTD, entity, size, syntax)
     ├── AuthnFailed              login refused (wrong password, unknown user, bad TOTP)
     ├── FatalRequestError        show an error page; never POST back to an ACS
     │    ├── UnknownServiceProvider
     │    ├── UnregisteredACS
     │    ├── MalformedRequest     (bad base64, DEFLATE, XML, size, missing fields)
     │    ├── RequestSignatureError
     │    └── NoAwsRole            the user has nothing the SP would accept
     ├── SamlStatusError          answer the SP with a non-Success <samlp:Response>
     │    ├── NoPassive
     │    ├── InvalidNameIDPolicy
     │    ├── NoAuthnContext
     │    └── UnsupportedBinding
     ├── SamlValidationError      the SP side (console, STS) refused a Response; ``rule`` says
     │                            which check, ``hint`` how to fix it
     └── StsError                 an AWS Query API error: ``code``, ``http_status``, ``message``
                                  (codes and statuses from botocore's sts service-2.json)

Each error carries ``http_status`` (for pages) and, for ``SamlStatusError``, the top-level and
second-level SAML status codes (SAML Core §3.2.2.2).
"""

from __future__ import annotations

from idp.saml.constants import StatusCode

__all__ = [
    "AuthnFailed",
    "ConfigError",
    "FatalRequestError",
    "IdPError",
    "InvalidNameIDPolicy",
    "KeyStoreError",
    "MalformedRequest",
    "NoAuthnContext",
    "NoAwsRole",
    "NoPassive",
    "RequestSignatureError",
    "SamlStatusError",
    "SamlValidationError",
    "StsError",
    "UnknownServiceProvider",
    "UnregisteredACS",
    "UnsupportedBinding",
    "XMLError",
]


class IdPError(Exception):
    """Root of every error this package raises on purpose."""

    http_status = 400
    title = "Request refused"


class ConfigError(IdPError):
    """The configuration file is invalid; ``str()`` is ``file:line: what is wrong``."""

    def __init__(self, message: str, *, source: str | None = None, line: int | None = None):
        self.message = message
        self.source = source
        self.line = line
        where = source or "<config>"
        if line is not None:
            where = f"{where}:{line}"
        super().__init__(f"{where}: {message}")


class KeyStoreError(IdPError):
    """The key store under ``certs/`` is unusable."""


class XMLError(IdPError):
    """The input is not XML we are willing to read."""


class AuthnFailed(IdPError):
    """Login refused. The message never says whether the user exists."""

    http_status = 401
    title = "Sign-in failed"


class FatalRequestError(IdPError):
    """The request cannot be answered through the SP's ACS: show a page instead."""


class UnknownServiceProvider(FatalRequestError):
    """The AuthnRequest's Issuer (or ``sp=``) is not a registered service provider."""

    http_status = 403
    title = "Unknown service provider"


class UnregisteredACS(FatalRequestError):
    """The requested AssertionConsumerService is not one registered for that SP."""

    http_status = 403
    title = "Unregistered assertion consumer service"


class MalformedRequest(FatalRequestError):
    """The SAML request could not be decoded or parsed."""

    title = "Malformed SAML request"


class RequestSignatureError(FatalRequestError):
    """The SP requires signed requests and this one is unsigned or its signature is wrong."""

    http_status = 403
    title = "Request signature refused"


class NoAwsRole(FatalRequestError):
    """The user's groups grant no role the SP needs (AWS requires at least one Role value)."""

    http_status = 403
    title = "No AWS role for this user"


class SamlStatusError(IdPError):
    """Answered with a ``<samlp:Response>`` carrying a non-Success status (SAML Core §3.2.2.2)."""

    status = StatusCode.RESPONDER
    sub_status: StatusCode | None = None


class NoPassive(SamlStatusError):
    """``IsPassive="true"`` but the user would have to log in."""

    sub_status = StatusCode.NO_PASSIVE


class InvalidNameIDPolicy(SamlStatusError):
    """The requested NameID format is not one we can issue for that SP."""

    sub_status = StatusCode.INVALID_NAMEID_POLICY


class NoAuthnContext(SamlStatusError):
    """The requested authentication context cannot be satisfied."""

    sub_status = StatusCode.NO_AUTHN_CONTEXT


class UnsupportedBinding(SamlStatusError):
    """The requested ProtocolBinding for the response is not HTTP-POST."""

    status = StatusCode.REQUESTER
    sub_status = StatusCode.UNSUPPORTED_BINDING


class SamlValidationError(IdPError):
    """One SP-side check failed. ``rule`` names the check; ``hint`` says how to fix it.

    The message says what was found; the AWS layers map ``rule`` to AWS's own wording.
    """

    title = "Invalid SAML response"

    def __init__(self, rule: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message
        self.hint = hint


class StsError(IdPError):
    """An AWS STS error as the Query protocol returns it (``ErrorResponse``)."""

    def __init__(self, code: str, message: str, *, http_status: int = 400,
                 sender: bool = True, detail: str | None = None, hint: str | None = None,
                 rule: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status
        self.sender = sender
        self.detail = detail
        """What the simulator found (AWS never says; the console diagnostic page does)."""
        self.hint = hint
        self.rule = rule

    @property
    def fault_type(self) -> str:
        return "Sender" if self.sender else "Receiver"
