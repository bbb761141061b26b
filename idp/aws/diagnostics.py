"""What AWS never tells you: why a Response has no usable Role, and what it claims to say.

AWS's sign-in answers every refusal with one sentence ("Your request included an invalid SAML
response"). The console twin adds a diagnosis read from the *unverified* document: only to
explain, never to decide. Everything here is clipped for display and never raises on hostile
input (the document has passed the hardened parser, ``idp.xml.parse``, or ``problem`` says why
not).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Final

from lxml import etree

from idp.aws.vocabulary import AwsAttribute
from idp.errors import Rule, SamlValidationError, XMLError
from idp.xml import parse, text_of

__all__ = [
    "ResponseSummary",
    "attribute_values",
    "attributes",
    "bad_role_value",
    "missing_role",
    "summarize",
]

_ROLE: Final = AwsAttribute.ROLE.value
#: Caps for the untrusted summary shown on error pages.
_MAX_SHOWN_ATTRIBUTES: Final = 40
_MAX_SHOWN_VALUES: Final = 20
_MAX_SHOWN_CHARS: Final = 300


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def attributes(root: etree._Element) -> list[etree._Element]:
    """Every element named ``Attribute``, in any namespace and place (untrusted)."""
    return [el for el in root.iter() if _local(el) == "Attribute"]


def attribute_values(attribute: etree._Element) -> list[str]:
    return [text_of(v).strip() for v in attribute if _local(v) == "AttributeValue"]


def missing_role(root: etree._Element) -> SamlValidationError:
    """Say *why* there is no usable Role attribute: near-miss names, encryption, or none."""
    found = attributes(root)
    names = [a.get("Name") or "" for a in found]
    near = [n for n in names if n.lower() == _ROLE.lower()]
    if near:
        return SamlValidationError(
            Rule.ROLE_ATTRIBUTE, f"the Response has no {_ROLE} attribute",
            hint=f"attribute names are case-sensitive: found {near[0]}; rename it to "
            f"exactly {_ROLE}")
    similar = [n for n in names if n.rstrip("/").lower().endswith("/role") or n.lower() == "role"]
    friendly = [a.get("Name") or "" for a in found
                if (a.get("FriendlyName") or "").lower() == "role"]
    if similar or friendly:
        name = (similar or friendly)[0]
        return SamlValidationError(
            Rule.ROLE_ATTRIBUTE, f"the Response has no {_ROLE} attribute",
            hint=f"found an attribute named {name!r}; AWS matches the Name exactly "
            f"(https, not http; FriendlyName is ignored): use {_ROLE}")
    if any(_local(el) == "EncryptedAssertion" for el in root.iter()):
        return SamlValidationError(
            Rule.ROLE_ATTRIBUTE, "the Assertion is encrypted, so its Role attribute cannot be "
            "read", hint="turn off assertion encryption for AWS in the IdP (this simulator "
            "does not decrypt)")
    listed = ", ".join(sorted(set(names))[:10]) or "none"
    return SamlValidationError(
        Rule.ROLE_ATTRIBUTE, f"the Response has no {_ROLE} attribute (attributes found: "
        f"{listed})", hint=f"release {_ROLE} with one value per role: "
        "arn:aws:iam::ACCOUNT:role/NAME,arn:aws:iam::ACCOUNT:saml-provider/NAME")


def bad_role_value(value: str) -> str:
    """What is wrong with a Role value that is not ``role-arn,provider-arn``."""
    parts = [p.strip() for p in value.split(",")]
    if len(parts) != 2:
        return (f"Role value {value!r} has {len(parts)} comma-separated part(s); it must be "
                "role-arn,provider-arn")
    if not any(":saml-provider/" in p for p in parts):
        return f"Role value {value!r} names no SAML provider ARN (arn:aws:iam::ID:saml-provider/N)"
    if not any(":role/" in p for p in parts):
        return f"Role value {value!r} names no role ARN (arn:aws:iam::ID:role/NAME)"
    return f"Role value {value!r} isn't role-arn,provider-arn (both must start arn:aws:iam::)"


# --- what the Response claims, for error pages (never trusted, never raises) ---------------


@dataclass(frozen=True)
class ResponseSummary:
    """Fields read from the *unverified* document, clipped for display."""

    problem: str | None = None
    """Why nothing (or not everything) could be read, if so."""
    issuer: str | None = None
    destination: str | None = None
    status: str | None = None
    name_id: str | None = None
    recipient: str | None = None
    audiences: tuple[str, ...] = ()
    attributes: tuple[tuple[str, tuple[str, ...]], ...] = ()
    signatures: tuple[str, ...] = ()
    """Which elements carry a ``ds:Signature`` (``Response``, ``Assertion``)."""


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_SHOWN_CHARS else text[:_MAX_SHOWN_CHARS] + "…"


def _first(root: etree._Element, name: str) -> etree._Element | None:
    return next((el for el in root.iter() if _local(el) == name), None)


def _first_text(root: etree._Element, name: str) -> str | None:
    el = _first(root, name)
    return None if el is None else _clip(text_of(el).strip())


def summarize(saml_b64: str | None) -> ResponseSummary:
    """What an untrusted SAMLResponse says about itself; garbage gives ``problem`` instead."""
    if not saml_b64:
        return ResponseSummary(problem="no SAMLResponse was posted")
    try:
        xml = base64.b64decode("".join(saml_b64.split()), validate=True)
        root = parse(xml)  # screens the bytes before libxml2 sees them
    except (binascii.Error, ValueError):
        return ResponseSummary(problem="SAMLResponse is not valid base64")
    except XMLError as exc:
        return ResponseSummary(problem=f"SAMLResponse is not acceptable XML: {exc}")
    issuer = next((el for el in root if _local(el) == "Issuer"), None)
    if issuer is None:
        issuer = _first(root, "Issuer")
    status = _first(root, "StatusCode")
    confirmation = _first(root, "SubjectConfirmationData")
    shown = tuple(
        (_clip(a.get("Name") or "(no Name)"),
         tuple(_clip(v) for v in attribute_values(a)[:_MAX_SHOWN_VALUES]))
        for a in attributes(root)[:_MAX_SHOWN_ATTRIBUTES]
    )
    signed = tuple(_local(parent) for el in root.iter() if _local(el) == "Signature"
                   and (parent := el.getparent()) is not None)
    return ResponseSummary(
        problem=None if _local(root) == "Response" else f"the document is a {_local(root)}, "
        "not a samlp:Response",
        issuer=None if issuer is None else _clip(text_of(issuer).strip()),
        destination=_clip(root.get("Destination") or "") or None,
        status=None if status is None else _clip(status.get("Value") or ""),
        name_id=_first_text(root, "NameID"),
        recipient=None if confirmation is None else _clip(confirmation.get("Recipient") or ""),
        audiences=tuple(_clip(text_of(el).strip()) for el in root.iter()
                        if _local(el) == "Audience")[:_MAX_SHOWN_VALUES],
        attributes=shown,
        signatures=signed,
    )
