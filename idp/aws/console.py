"""The AWS console sign-in (``https://signin.aws.amazon.com/saml``), framework-free.

IAM User Guide, "Enable SAML 2.0 federated principals to access the AWS Management Console",
and aws-saml.md §8: the browser POSTs ``SAMLResponse`` (and ``RelayState``); AWS reads the
``Role`` attribute, verifies the Response against each SAML provider it names, and either
signs the user straight in (one role) or shows "Select a role" (several), after which the same
``SAMLResponse`` comes back with ``roleIndex=<role ARN>``::

    sign_in(federation, b64)      decode → read Role values (untrusted, only to find providers)
                                  → verify against each named provider → ConsoleSignIn
    role_choices(sign_in, dir)    the "Select a role" page model, grouped by account
    open_session(fed, si, arn)    AssumeRoleWithSAML rules + console duration → Session
    console_target(relay_state)   where to send the browser afterwards (no open redirect)
    summarize(b64)                what the Response *claims* (untrusted), for error pages

AWS answers every failure with one sentence ("Your request included an invalid SAML
response"); the errors raised here also say which check failed and how to fix it.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final
from urllib.parse import unquote, urlsplit

from lxml import etree

from idp.aws.attributes import AwsAttribute, parse_role_value
from idp.aws.sts import AwsFederation, Session, SignIn, decode_assertion
from idp.directory.model import ROLE_ARN_RE, Directory, RoleGrant
from idp.errors import SamlValidationError, StsError, XMLError
from idp.saml.validation import parse_response
from idp.xml import parse, text_of

__all__ = [
    "CONSOLE_HOME",
    "AccountChoice",
    "ConsoleRule",
    "ConsoleSignIn",
    "ResponseSummary",
    "RoleChoice",
    "console_target",
    "open_session",
    "role_choices",
    "sign_in",
    "summarize",
]

#: The simulator's console home (the twin of ``https://console.aws.amazon.com/``).
CONSOLE_HOME: Final = "/aws/console"
_ROLE: Final = AwsAttribute.ROLE.value
_CONSOLE_HOST_RE: Final = re.compile(r"^(?:[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d+\.)?"
                                     r"console\.aws\.amazon\.com$")
#: RFC 3986 path / query characters; anything else (spaces, quotes, backslashes) is refused.
_SAFE_PATH_RE: Final = re.compile(r"^[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*$")
_SAFE_QUERY_RE: Final = re.compile(r"^[A-Za-z0-9\-._~!$&'()*+,;=:@/%?]*$")
#: Caps for the untrusted summary shown on error pages.
_MAX_SHOWN_ATTRIBUTES: Final = 40
_MAX_SHOWN_VALUES: Final = 20
_MAX_SHOWN_CHARS: Final = 300


class ConsoleRule(StrEnum):
    """Console-side checks (the verifier's own rules are ``idp.saml.validation.Rule``)."""

    ROLE_ATTRIBUTE = "role-attribute"
    ROLE_VALUE = "role-value"
    PROVIDER = "provider"
    ROLE_CHOICE = "role-choice"
    REPLAY = "replay"


def _fail(rule: ConsoleRule, message: str, hint: str | None = None) -> SamlValidationError:
    return SamlValidationError(rule.value, message, hint=hint)


@dataclass(frozen=True)
class ConsoleSignIn:
    """A Response verified against every provider its Role attribute names (at least one)."""

    sign_ins: tuple[SignIn, ...]
    grants: tuple[RoleGrant, ...]
    """Verified role pairs, in the order of the signed Role attribute, one per role ARN."""

    @property
    def name_id(self) -> str:
        return self.sign_ins[0].assertion.name_id

    @property
    def issuer(self) -> str:
        return self.sign_ins[0].assertion.issuer

    def sign_in_for(self, role_arn: str) -> SignIn | None:
        """The provider verification whose grants include ``role_arn``."""
        for item in self.sign_ins:
            if any(g.role_arn == role_arn for g in item.grants):
                return item
        return None


@dataclass(frozen=True)
class RoleChoice:
    arn: str
    name: str


@dataclass(frozen=True)
class AccountChoice:
    """One account block of "Select a role": ``Account: alias (id)`` or ``Account: id``."""

    account_id: str
    alias: str | None
    roles: tuple[RoleChoice, ...]

    @property
    def label(self) -> str:
        return f"{self.alias} ({self.account_id})" if self.alias else self.account_id


# --- reading the Role attribute before verification (only to pick providers) --------------


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def _attributes(root: etree._Element) -> list[etree._Element]:
    return [el for el in root.iter() if _local(el) == "Attribute"]


def _values(attribute: etree._Element) -> list[str]:
    return [text_of(v).strip() for v in attribute if _local(v) == "AttributeValue"]


def _missing_role(root: etree._Element) -> SamlValidationError:
    """Say *why* there is no usable Role attribute; this is what AWS never tells you."""
    attributes = _attributes(root)
    names = [a.get("Name") or "" for a in attributes]
    near = [n for n in names if n.lower() == _ROLE.lower()]
    if near:
        return _fail(ConsoleRule.ROLE_ATTRIBUTE, f"the Response has no {_ROLE} attribute",
                     f"attribute names are case-sensitive: found {near[0]}; rename it to "
                     f"exactly {_ROLE}")
    similar = [n for n in names if n.rstrip("/").lower().endswith("/role") or n.lower() == "role"]
    friendly = [a.get("Name") or "" for a in attributes
                if (a.get("FriendlyName") or "").lower() == "role"]
    if similar or friendly:
        found = (similar or friendly)[0]
        return _fail(ConsoleRule.ROLE_ATTRIBUTE, f"the Response has no {_ROLE} attribute",
                     f"found an attribute named {found!r}; AWS matches the Name exactly "
                     f"(https, not http; FriendlyName is ignored): use {_ROLE}")
    if any(_local(el) == "EncryptedAssertion" for el in root.iter()):
        return _fail(ConsoleRule.ROLE_ATTRIBUTE, "the Assertion is encrypted, so its Role "
                     "attribute cannot be read", "turn off assertion encryption for AWS in "
                     "the IdP (this simulator does not decrypt)")
    listed = ", ".join(sorted(set(names))[:10]) or "none"
    return _fail(ConsoleRule.ROLE_ATTRIBUTE, f"the Response has no {_ROLE} attribute "
                 f"(attributes found: {listed})",
                 f"release {_ROLE} with one value per role: "
                 "arn:aws:iam::ACCOUNT:role/NAME,arn:aws:iam::ACCOUNT:saml-provider/NAME")


def _bad_role_value(value: str) -> str:
    parts = [p.strip() for p in value.split(",")]
    if len(parts) != 2:
        return (f"Role value {value!r} has {len(parts)} comma-separated part(s); it must be "
                "role-arn,provider-arn")
    if not any(":saml-provider/" in p for p in parts):
        return f"Role value {value!r} names no SAML provider ARN (arn:aws:iam::ID:saml-provider/N)"
    if not any(":role/" in p for p in parts):
        return f"Role value {value!r} names no role ARN (arn:aws:iam::ID:role/NAME)"
    return f"Role value {value!r} isn't role-arn,provider-arn (both must start arn:aws:iam::)"


def _provider_arns(root: etree._Element, federation: AwsFederation) -> list[str]:
    """Distinct provider ARNs named by Role values, that exist; diagnose when there are none."""
    role_attributes = [a for a in _attributes(root) if a.get("Name") == _ROLE]
    values = [v for a in role_attributes for v in _values(a)]
    if not values:
        raise _missing_role(root) if not role_attributes else _fail(
            ConsoleRule.ROLE_ATTRIBUTE, f"the {_ROLE} attribute has no values",
            "add one value per role: role-arn,provider-arn")
    grants = [g for g in (parse_role_value(v) for v in values) if g is not None]
    if not grants:
        raise _fail(ConsoleRule.ROLE_VALUE, _bad_role_value(values[0]),
                    "each value must be exactly two ARNs separated by a comma: "
                    "arn:aws:iam::ACCOUNT:role/NAME,arn:aws:iam::ACCOUNT:saml-provider/NAME")
    named = list(dict.fromkeys(g.provider_arn for g in grants))
    existing = [arn for arn in named if federation.providers.get(arn) is not None]
    if not existing:
        raise _fail(ConsoleRule.PROVIDER, f"Specified provider doesn't exist: {named[0]}",
                    "the provider ARN in the Role value must name a SAML provider in the "
                    "simulated IAM (see the directory's accounts); check the account ID and "
                    "the provider name, which is case-sensitive")
    return existing


# --- the three steps ----------------------------------------------------------------------


def sign_in(federation: AwsFederation, saml_b64: str) -> ConsoleSignIn:
    """Decode, find the named providers without trusting the document, verify with each.

    Raises ``StsError`` (base64) or ``SamlValidationError``: the first verifier error if no
    named provider accepts the Response, or a ``ConsoleRule`` error when the Role attribute
    cannot lead to any provider.
    """
    root = parse_response(decode_assertion(saml_b64))  # parsed once, for every provider
    verified: list[SignIn] = []
    first_error: SamlValidationError | None = None
    for arn in _provider_arns(root, federation):
        provider = federation.providers.get(arn)
        if provider is None:  # pragma: no cover - filtered by _provider_arns
            continue
        try:
            result = federation.verify(root, provider)
        except SamlValidationError as exc:
            first_error = first_error or exc
            continue
        if result.grants:
            verified.append(result)
    if not verified:
        if first_error is not None:
            raise first_error
        raise _fail(ConsoleRule.ROLE_ATTRIBUTE, "the signed Assertion's Role attribute names "
                    "no provider it was verified with", "the unsigned part of the document "
                    "differs from the signed Assertion; send the IdP's Response unmodified")
    assertion = verified[0].assertion
    if federation.replay is not None and federation.replay.used(
            (assertion.issuer, assertion.assertion_id), federation.clock.now()):
        raise _fail(ConsoleRule.REPLAY, f"assertion {assertion.assertion_id} was already "
                    "used to sign in", "sign in again at the IdP for a fresh assertion "
                    "(replay protection is on)")
    order = [g for g in (parse_role_value(v) for v in assertion.attributes.get(_ROLE, ()))
             if g is not None]
    accepted = {(g.role_arn, g.provider_arn) for s in verified for g in s.grants}
    grants: dict[str, RoleGrant] = {}
    for grant in order:
        if (grant.role_arn, grant.provider_arn) in accepted:
            grants.setdefault(grant.role_arn, grant)
    return ConsoleSignIn(sign_ins=tuple(verified), grants=tuple(grants.values()))


def role_choices(console_sign_in: ConsoleSignIn, directory: Directory
                 ) -> tuple[AccountChoice, ...]:
    """Roles grouped by account, accounts and roles in Role-attribute order (aws-saml.md §8.1)."""
    aliases = {a.id: a.alias for a in directory.accounts.values()}
    grouped: dict[str, list[RoleChoice]] = {}
    for grant in console_sign_in.grants:
        match = ROLE_ARN_RE.match(grant.role_arn)
        account = match.group(1) if match else grant.role_arn.split(":")[4]
        name = match.group(3) if match else grant.role_arn.rsplit("/", 1)[-1]
        grouped.setdefault(account, []).append(RoleChoice(arn=grant.role_arn, name=name))
    return tuple(AccountChoice(account_id=account, alias=aliases.get(account),
                               roles=tuple(roles)) for account, roles in grouped.items())


def open_session(federation: AwsFederation, console_sign_in: ConsoleSignIn,
                 role_arn: str) -> Session:
    """AssumeRoleWithSAML for the chosen role, for the console's duration (aws-saml.md §8.4).

    Consumes the assertion (replay cache). Raises ``SamlValidationError`` when ``role_arn``
    is not a verified choice, ``StsError`` when STS would refuse (trust policy, duration...).
    """
    chosen = console_sign_in.sign_in_for(role_arn)
    if chosen is None:
        offered = ", ".join(g.role_arn for g in console_sign_in.grants)
        raise _fail(ConsoleRule.ROLE_CHOICE, f"roleIndex {role_arn!r} is not one of the roles "
                    "in this SAML response", f"choose one of: {offered}")
    try:
        return federation.assume(chosen, role_arn,
                                 duration=federation.console_duration(chosen))
    except StsError as exc:
        raise _with_near_miss(exc, chosen) from None


def _with_near_miss(exc: StsError, chosen: SignIn) -> StsError:
    """Name a RoleSessionName that is only spelled in the wrong case (a common IdP slip)."""
    wanted = AwsAttribute.ROLE_SESSION_NAME.value
    near = [n for n in chosen.assertion.attributes if n.lower() == wanted.lower() and n != wanted]
    if exc.rule != "role-session-name" or not near:
        return exc
    return StsError(exc.code, exc.message, http_status=exc.http_status, sender=exc.sender,
                    detail=f"the signed Assertion has {near[0]} but no {wanted}",
                    hint=f"attribute names are case-sensitive: found {near[0]}; rename it "
                    f"to exactly {wanted}", rule=exc.rule)


def console_target(relay_state: str | None) -> str:
    """Where to go after sign-in: a console deep link from RelayState, else the console home.

    Accepted: ``/aws/console…`` paths, and ``https://console.aws.amazon.com/<path>`` or
    ``https://<region>.console.aws.amazon.com/<path>`` (mapped to ``/aws/console/<path>``).
    Anything else is ignored, so RelayState can never redirect off this site.
    """
    value = (relay_state or "").strip()
    if not value:
        return CONSOLE_HOME
    if value.startswith("/"):
        parts = urlsplit(value)
        if parts.scheme or parts.netloc or not (
                parts.path == CONSOLE_HOME or parts.path.startswith(CONSOLE_HOME + "/")):
            return CONSOLE_HOME
        path, query = parts.path[len(CONSOLE_HOME):], parts.query
    else:
        try:
            parts = urlsplit(value)
            port = parts.port
        except ValueError:
            return CONSOLE_HOME
        host = parts.hostname or ""
        if (parts.scheme != "https" or port is not None or "@" in parts.netloc
                or not _CONSOLE_HOST_RE.match(host)):
            return CONSOLE_HOME
        path, query = parts.path, parts.query
    segments = unquote(path).replace("\\", "/").split("/")
    if (".." in segments or "." in segments or not _SAFE_PATH_RE.match(path)
            or not _SAFE_QUERY_RE.match(query) or path.startswith("//")):
        return CONSOLE_HOME
    path = path.lstrip("/")
    target = f"{CONSOLE_HOME}/{path}" if path else CONSOLE_HOME
    return f"{target}?{query}" if query else target


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
    attributes = tuple(
        (_clip(a.get("Name") or "(no Name)"),
         tuple(_clip(v) for v in _values(a)[:_MAX_SHOWN_VALUES]))
        for a in _attributes(root)[:_MAX_SHOWN_ATTRIBUTES]
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
        attributes=attributes,
        signatures=signed,
    )

