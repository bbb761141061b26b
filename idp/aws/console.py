"""The AWS console's SAML sign-in (``https://signin.aws.amazon.com/saml``), framework-free.

IAM User Guide, "Enable SAML 2.0 federated principals to access the AWS Management Console":
the browser POSTs ``SAMLResponse`` (and ``RelayState``); AWS reads the ``Role`` attribute,
verifies the Response against each SAML provider it names, and either signs the user straight
in (one role) or shows "Select a role" (several), after which the same ``SAMLResponse`` comes
back with ``roleIndex=<role ARN>``::

    select_roles(federation, b64)       decode → read Role values (untrusted, only to find
                                        providers) → verify against each named provider
                                        → RoleSelection
    role_choices(selection, iam)        the "Select a role" page model, grouped by account
    open_session(federation, sel, arn)  AssumeRoleWithSAML's rules + the console's duration
                                        → RoleSession
    console_target(relay_state)         where to send the browser afterwards (no open redirect)

AWS answers every failure with one sentence ("Your request included an invalid SAML
response"); the errors raised here also say which check failed and how to fix it
(``idp.aws.diagnostics``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final
from urllib.parse import unquote

from lxml import etree

from idp import redirects
from idp.aws import diagnostics
from idp.aws.errors import AwsError
from idp.aws.federation import AwsFederation, RoleSession, VerifiedResponse
from idp.aws.iam import Iam
from idp.aws.params import decode_saml_assertion
from idp.aws.replay import Surface
from idp.aws.vocabulary import AwsAttribute, is_aws_console_host, parse_role_value
from idp.directory.model import ROLE_ARN_RE, RoleGrant
from idp.errors import Rule, SamlValidationError
from idp.saml.validation import check_status, parse_response

__all__ = [
    "CONSOLE_HOME",
    "AccountChoice",
    "RoleChoice",
    "RoleSelection",
    "console_target",
    "open_session",
    "role_choices",
    "select_roles",
]

#: The simulator's console home (the twin of ``https://console.aws.amazon.com/``).
CONSOLE_HOME: Final = "/aws/console"
#: Longest RelayState deep link followed (it rides in the console cookie, which browsers cap
#: at 4 KiB; AWS console deep links are a few hundred characters at most).
MAX_DEEP_LINK: Final = 1024
_ROLE: Final = AwsAttribute.ROLE.value
#: RFC 3986 path / query characters; anything else (spaces, quotes, backslashes) is refused.
_SAFE_PATH_RE: Final = re.compile(r"^[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*$")
_SAFE_QUERY_RE: Final = re.compile(r"^[A-Za-z0-9\-._~!$&'()*+,;=:@/%?]*$")


@dataclass(frozen=True)
class RoleSelection:
    """A Response verified against every provider its Role attribute names (at least one)."""

    verified: tuple[VerifiedResponse, ...]
    grants: tuple[RoleGrant, ...]
    """Verified role pairs, in the order of the signed Role attribute, one per role ARN."""

    @property
    def name_id(self) -> str:
        return self.verified[0].assertion.name_id

    @property
    def issuer(self) -> str:
        return self.verified[0].assertion.issuer

    def verified_for(self, role_arn: str) -> VerifiedResponse | None:
        """The provider verification whose grants include ``role_arn``."""
        for item in self.verified:
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


def _provider_arns(root: etree._Element, iam: Iam) -> list[str]:
    """Distinct provider ARNs named by Role values, that exist; diagnose when there are none.

    Read from the unverified document only to know which providers to verify with.
    """
    role_attributes = [a for a in diagnostics.attributes(root) if a.get("Name") == _ROLE]
    values = [v for a in role_attributes for v in diagnostics.attribute_values(a)]
    if not values:
        raise diagnostics.missing_role(root) if not role_attributes else SamlValidationError(
            Rule.ROLE_ATTRIBUTE, f"the {_ROLE} attribute has no values",
            hint="add one value per role: role-arn,provider-arn")
    grants = [g for g in (parse_role_value(v) for v in values) if g is not None]
    if not grants:
        raise SamlValidationError(
            Rule.ROLE_VALUE, diagnostics.bad_role_value(values[0]),
            hint="each value must be exactly two ARNs separated by a comma: "
            "arn:aws:iam::ACCOUNT:role/NAME,arn:aws:iam::ACCOUNT:saml-provider/NAME")
    named = list(dict.fromkeys(g.provider_arn for g in grants))
    existing = [arn for arn in named if iam.saml_provider(arn) is not None]
    if not existing:
        raise SamlValidationError(
            Rule.PROVIDER, f"Specified provider doesn't exist: {named[0]}",
            hint="the provider ARN in the Role value must name a SAML provider in the "
            "simulated IAM (see the directory's accounts); check the account ID and the "
            "provider name, which is case-sensitive")
    return existing


def select_roles(federation: AwsFederation, saml_b64: str) -> RoleSelection:
    """Decode, find the named providers without trusting the document, verify with each.

    Raises ``AwsError`` (base64) or ``SamlValidationError``: the first verifier error if no
    named provider accepts the Response, or a Role-attribute error when the Role attribute
    cannot lead to any provider.
    """
    root = parse_response(decode_saml_assertion(saml_b64))  # parsed once, for every provider
    check_status(root)  # a non-Success Response (NoPassive...) says so before any Role lookup
    verified: list[VerifiedResponse] = []
    first_error: SamlValidationError | None = None
    for arn in _provider_arns(root, federation.iam):
        provider = federation.iam.saml_provider(arn)
        if provider is None:  # pragma: no cover - filtered by _provider_arns
            continue
        try:
            result = federation.verify(root, provider, surface=Surface.CONSOLE)
        except SamlValidationError as exc:
            first_error = first_error or exc
            continue
        if result.grants:
            verified.append(result)
    if not verified:
        if first_error is not None:
            raise first_error
        raise SamlValidationError(
            Rule.ROLE_ATTRIBUTE, "the signed Assertion's Role attribute names no provider it "
            "was verified with", hint="the unsigned part of the document differs from the "
            "signed Assertion; send the IdP's Response unmodified")
    assertion = verified[0].assertion
    if federation.already_redeemed(assertion, Surface.CONSOLE):
        raise SamlValidationError(
            Rule.REPLAY, f"assertion {assertion.assertion_id} was already used to sign in",
            hint="sign in again at the IdP for a fresh assertion (replay protection: "
            f"{federation.replay_mode.value})")
    order = [g for g in (parse_role_value(v) for v in assertion.attributes.get(_ROLE, ()))
             if g is not None]
    accepted = {(g.role_arn, g.provider_arn) for s in verified for g in s.grants}
    grants: dict[str, RoleGrant] = {}
    for grant in order:
        if (grant.role_arn, grant.provider_arn) in accepted:
            grants.setdefault(grant.role_arn, grant)
    return RoleSelection(verified=tuple(verified), grants=tuple(grants.values()))


def role_choices(selection: RoleSelection, iam: Iam) -> tuple[AccountChoice, ...]:
    """Roles grouped by account; accounts and roles in the order of the Role attribute, as
    AWS's "Select a role" page lists them."""
    grouped: dict[str, list[RoleChoice]] = {}
    for grant in selection.grants:
        match = ROLE_ARN_RE.fullmatch(grant.role_arn)
        account = match.group(1) if match else grant.role_arn.split(":")[4]
        name = match.group(3) if match else grant.role_arn.rsplit("/", 1)[-1]
        grouped.setdefault(account, []).append(RoleChoice(arn=grant.role_arn, name=name))
    return tuple(AccountChoice(account_id=account, alias=iam.account_alias(account),
                               roles=tuple(roles)) for account, roles in grouped.items())


def open_session(federation: AwsFederation, selection: RoleSelection,
                 role_arn: str) -> RoleSession:
    """AssumeRoleWithSAML for the chosen role, for the console's duration.

    Redeems the assertion. Raises ``SamlValidationError`` when ``role_arn`` is not a verified
    choice, ``AwsError`` when STS would refuse (trust policy, duration...).
    """
    chosen = selection.verified_for(role_arn)
    if chosen is None:
        offered = ", ".join(g.role_arn for g in selection.grants)
        raise SamlValidationError(
            Rule.ROLE_CHOICE, f"roleIndex {role_arn!r} is not one of the roles in this SAML "
            "response", hint=f"choose one of: {offered}")
    try:
        return federation.assume(chosen, role_arn, duration=federation.console_duration(chosen),
                                 surface=Surface.CONSOLE)
    except AwsError as exc:
        raise _with_near_miss(exc, chosen) from None


def _with_near_miss(exc: AwsError, chosen: VerifiedResponse) -> AwsError:
    """Name a RoleSessionName that is only spelled in the wrong case (a common IdP slip)."""
    wanted = AwsAttribute.ROLE_SESSION_NAME.value
    near = [n for n in chosen.assertion.attributes if n.lower() == wanted.lower() and n != wanted]
    if exc.rule is not Rule.ROLE_SESSION_NAME or not near:
        return exc
    return exc.diagnosed(detail=f"the signed Assertion has {near[0]} but no {wanted}",
                         hint=f"attribute names are case-sensitive: found {near[0]}; rename "
                         f"it to exactly {wanted}")


def console_target(relay_state: str | None) -> str:
    """Where to go after sign-in: a console deep link from RelayState, else the console home.

    Accepted: ``/aws/console…`` paths, and ``https://console.aws.amazon.com/<path>`` or
    ``https://<region>.console.aws.amazon.com/<path>`` (mapped to ``/aws/console/<path>``), read
    as a browser reads them (``idp.redirects``); at most ``MAX_DEEP_LINK`` characters.
    Anything else is ignored, so RelayState can never redirect off this site.
    """
    value = (relay_state or "").strip()
    if len(value) > MAX_DEEP_LINK:
        return CONSOLE_HOME
    target = redirects.parse_target(value)
    if isinstance(target, redirects.Relative):
        if not (target.path == CONSOLE_HOME or target.path.startswith(CONSOLE_HOME + "/")):
            return CONSOLE_HOME
        path = target.path[len(CONSOLE_HOME):]
    elif (isinstance(target, redirects.Target) and target.scheme == "https"
          and target.port == 443 and is_aws_console_host(target.host)):
        path = target.path
    else:
        return CONSOLE_HOME
    query, fragment = target.query, target.fragment
    segments = unquote(path).replace("\\", "/").split("/")  # %2F.. and %5C.. still caught
    if (".." in segments or "." in segments or not _SAFE_PATH_RE.fullmatch(path)
            or not _SAFE_QUERY_RE.fullmatch(query) or not _SAFE_QUERY_RE.fullmatch(fragment)
            or path.startswith("//")):
        return CONSOLE_HOME
    path = path.lstrip("/")
    result = f"{CONSOLE_HOME}/{path}" if path else CONSOLE_HOME
    result += f"?{query}" if query else ""
    # Single-page consoles keep their place in the fragment (``iam/home#/roles/Admin``).
    return result + (f"#{fragment}" if fragment else "")
