"""SAML 2.0 identifiers as enums whose values are the spec URIs."""

from __future__ import annotations

from enum import StrEnum
from typing import Final

__all__ = [
    "DS",
    "MD",
    "NS",
    "SAML",
    "SAMLP",
    "XSI",
    "AuthnContextClass",
    "Binding",
    "ConfirmationMethod",
    "NameIDFormat",
    "StatusCode",
]

NS: Final = {
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
    "md": "urn:oasis:names:tc:SAML:2.0:metadata",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
    "xs": "http://www.w3.org/2001/XMLSchema",
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
}
#: Clark-notation prefixes for lxml tag names: ``f"{SAML}Issuer"``, ``root.find(f"{DS}Signature")``.
SAML: Final = "{" + NS["saml"] + "}"
SAMLP: Final = "{" + NS["samlp"] + "}"
MD: Final = "{" + NS["md"] + "}"
DS: Final = "{" + NS["ds"] + "}"
XSI: Final = "{" + NS["xsi"] + "}"


class Binding(StrEnum):
    """SAML Bindings §3."""

    REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
    POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"


class NameIDFormat(StrEnum):
    """SAML Core §8.3; the eight formats AWS's SP metadata lists."""

    PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
    TRANSIENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
    EMAIL = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
    UNSPECIFIED = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
    X509_SUBJECT = "urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName"
    WINDOWS = "urn:oasis:names:tc:SAML:1.1:nameid-format:WindowsDomainQualifiedName"
    KERBEROS = "urn:oasis:names:tc:SAML:2.0:nameid-format:kerberos"
    ENTITY = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity"

    @classmethod
    def from_name(cls, value: str) -> NameIDFormat:
        """Accept the URI or a short name (``persistent``, ``email``...)."""
        short = {
            "persistent": cls.PERSISTENT,
            "transient": cls.TRANSIENT,
            "email": cls.EMAIL,
            "emailaddress": cls.EMAIL,
            "unspecified": cls.UNSPECIFIED,
        }
        if value.lower() in short:
            return short[value.lower()]
        return cls(value)


#: Formats the IdP can actually produce a value for.
ISSUABLE_NAMEID_FORMATS: Final = (
    NameIDFormat.PERSISTENT,
    NameIDFormat.TRANSIENT,
    NameIDFormat.EMAIL,
    NameIDFormat.UNSPECIFIED,
)


class StatusCode(StrEnum):
    """SAML Core §3.2.2.2."""

    SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
    REQUESTER = "urn:oasis:names:tc:SAML:2.0:status:Requester"
    RESPONDER = "urn:oasis:names:tc:SAML:2.0:status:Responder"
    VERSION_MISMATCH = "urn:oasis:names:tc:SAML:2.0:status:VersionMismatch"
    AUTHN_FAILED = "urn:oasis:names:tc:SAML:2.0:status:AuthnFailed"
    INVALID_NAMEID_POLICY = "urn:oasis:names:tc:SAML:2.0:status:InvalidNameIDPolicy"
    NO_AUTHN_CONTEXT = "urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext"
    NO_PASSIVE = "urn:oasis:names:tc:SAML:2.0:status:NoPassive"
    REQUEST_DENIED = "urn:oasis:names:tc:SAML:2.0:status:RequestDenied"
    UNSUPPORTED_BINDING = "urn:oasis:names:tc:SAML:2.0:status:UnsupportedBinding"


class AuthnContextClass(StrEnum):
    """How the user authenticated (SAML AuthnContext §3.4).

    SAML has no class for "password plus TOTP"; REFEDS MFA is the widely used URI for it.
    """

    PASSWORD = "urn:oasis:names:tc:SAML:2.0:ac:classes:Password"  # noqa: S105 (a URI)
    PASSWORD_PROTECTED_TRANSPORT = (
        "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"  # noqa: S105
    )
    MFA = "https://refeds.org/profile/mfa"
    UNSPECIFIED = "urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified"


class ConfirmationMethod(StrEnum):
    """SAML Profiles §3."""

    BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
