"""The simulated AWS STS: ``AssumeRoleWithSAML`` with every check AWS makes, in AWS's order.

Framework-free: ``AwsFederation`` takes decoded parameters and returns values or raises
``StsError`` with AWS's code, HTTP status and message (botocore's sts ``service-2.json`` and
the IAM troubleshooting page). The console endpoint shares ``sign_in`` and ``assume`` so a
browser sign-in and an API call are judged by the same rules.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from lxml import etree

from idp.aws.attributes import SESSION_NAME_RE, AwsAttribute, parse_role_value
from idp.aws.credentials import CredentialIssuer, SessionClaims, TemporaryCredentials
from idp.aws.iam import SamlProvider, SamlProviders
from idp.aws.policy import TrustRequest, evaluate_trust_policy
from idp.aws.wire import AssumeRoleWithSamlResult, name_qualifier, subject_type
from idp.clock import Clock
from idp.directory.model import AWS_ENTITY_ID, RoleGrant
from idp.errors import SamlValidationError, StsError
from idp.saml.validation import Rule, ValidationPolicy, VerifiedAssertion, verify_response
from idp.store import StateStore

__all__ = ["AWS_SIGN_IN_URLS", "AwsFederation", "ReplayCache", "SignIn"]

#: Real AWS sign-in endpoints a Recipient/Destination/Audience may name (aws-saml.md §1, §9).
_REGIONS: Final = (
    "eu-north-1 me-south-1 ap-south-1 eu-west-3 ap-southeast-3 us-east-2 af-south-1 eu-west-1 "
    "eu-central-1 sa-east-1 ap-east-1 ap-northeast-2 ap-northeast-3 eu-west-2 eu-south-1 "
    "ap-northeast-1 us-west-2 us-west-1 ap-southeast-1 ap-southeast-2 ca-central-1 me-central-1 "
    "eu-central-2 eu-south-2 ap-south-2 ap-southeast-4"
).split()
AWS_SIGN_IN_URLS: Final = frozenset(
    {"https://signin.aws.amazon.com/saml", "https://signin.aws.amazon.com/static/saml"}
    | {f"https://{region}.signin.aws.amazon.com/saml" for region in _REGIONS}
)
MAX_ASSERTION_CHARS: Final = 100_000
NOT_AUTHORIZED: Final = "Not authorized to perform sts:AssumeRoleWithSAML"
#: A Query-protocol integer: ASCII digits only (int() would also take "3_600", "+3600", "٣٦٠٠").
_PLAIN_INT_RE: Final = re.compile(r"^[0-9]{1,9}$")
_TAG_KEY_RE: Final = re.compile(r"^[\w\s.:/=+\-@]{1,128}$")
_TAG_VALUE_RE: Final = re.compile(r"^[\w\s.:/=+\-@]{0,256}$")

#: AWS's attribute → condition-key mapping for trust policies (aws-saml.md §3.7; subset).
_CONTEXT_KEYS: Final = {
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.1": "saml:edupersonaffiliation",
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.2": "saml:edupersonnickname",
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.3": "saml:edupersonorgdn",
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.4": "saml:edupersonorgunitdn",
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.5": "saml:edupersonprimaryaffiliation",
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.6": "saml:edupersonprincipalname",
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.7": "saml:edupersonentitlement",
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.8": "saml:edupersonprimaryorgunitdn",
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.9": "saml:edupersonscopedaffiliation",
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.10": "saml:edupersontargetedid",
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.11": "saml:edupersonassurance",
    "urn:oid:2.5.4.3": "saml:cn",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name": "saml:name",
    "http://schemas.xmlsoap.org/claims/CommonName": "saml:commonname",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname": "saml:givenname",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname": "saml:surname",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress": "saml:mail",
}

#: How each verifier rule surfaces at STS: (code, HTTP status, AWS's message or None to use
#: the simulator's description). Documented texts: IAM User Guide, "Troubleshooting SAML 2.0".
_RULE_ERRORS: Final[dict[str, tuple[str, int, str | None]]] = {
    Rule.SIGNATURE_MISSING: ("InvalidIdentityToken", 400, "Response signature invalid"),
    Rule.SIGNATURE_SHAPE: ("InvalidIdentityToken", 400, "Response signature invalid"),
    Rule.SIGNATURE_ALGORITHM: ("InvalidIdentityToken", 400, "Response signature invalid"),
    Rule.SIGNATURE_INVALID: ("InvalidIdentityToken", 400, "Response signature invalid"),
    Rule.ISSUER: ("InvalidIdentityToken", 400, "Issuer not present in specified provider"),
    Rule.AUDIENCE: ("InvalidIdentityToken", 400,
                    "Response does not contain the required audience."),
    Rule.STALE: ("ExpiredTokenException", 400,
                 "Token must be redeemed within 5 minutes of issuance"),
    Rule.EXPIRED: ("ExpiredTokenException", 400, None),
    Rule.SUBJECT: ("AccessDenied", 403, NOT_AUTHORIZED),
}


def _sts_error(exc: SamlValidationError) -> StsError:
    code, status, message = _RULE_ERRORS.get(exc.rule, ("InvalidIdentityToken", 400, None))
    return StsError(code, message or exc.message, http_status=status, detail=exc.message,
                    hint=exc.hint, rule=exc.rule)


class ReplayCache:
    """Assertion IDs already redeemed, shared by every worker (the ``StateStore``).

    SAML Profiles §4.1.4.5: a bearer assertion must not be accepted twice; entries live until
    the assertion could no longer be accepted anyway. AWS does not document whether STS
    enforces this; the simulator does unless ``replay_protection`` is off.
    """

    def __init__(self, store: StateStore) -> None:
        self._store = store

    @staticmethod
    def _key(key: tuple[str, str]) -> str:
        return f"{key[0]}\n{key[1]}"

    def used(self, key: tuple[str, str], now: dt.datetime) -> bool:
        return self._store.claimed("assertion", self._key(key))

    def remember(self, key: tuple[str, str], until: dt.datetime, now: dt.datetime) -> bool:
        """Claim the ID; False if another request (in any worker) claimed it first."""
        return self._store.claim("assertion", self._key(key), until)


@dataclass(frozen=True)
class SignIn:
    """A verified Response and the role pairs it offers that name *this* provider."""

    assertion: VerifiedAssertion
    provider: SamlProvider
    grants: tuple[RoleGrant, ...]


@dataclass(frozen=True)
class Session:
    """The outcome of an assume-role: credentials plus everything STS reports about them."""

    credentials: TemporaryCredentials
    claims: SessionClaims
    result: AssumeRoleWithSamlResult


def decode_assertion(value: str) -> bytes:
    """Base64 of the whole ``<samlp:Response>``: strict, no DEFLATE (B0 rule 1)."""
    compact = "".join(value.split())  # the CLI's file:// keeps a trailing newline
    if not 4 <= len(compact) <= MAX_ASSERTION_CHARS:
        raise StsError("ValidationError",
                       f"1 validation error detected: Value at 'sAMLAssertion' failed to "
                       f"satisfy constraint: Member must have length "
                       f"{'greater' if len(compact) < 4 else 'less'} than or equal to "
                       f"{4 if len(compact) < 4 else MAX_ASSERTION_CHARS}")
    try:
        raw = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise StsError("InvalidIdentityToken", "Invalid SAML response: not valid base64",
                       detail="SAMLAssertion is not valid base64", rule="base64") from None
    if not raw.lstrip().startswith(b"<"):
        raise StsError("InvalidIdentityToken", "Invalid SAML response: not XML",
                       detail="after base64 decoding this is not XML (it must not be deflated)",
                       rule="base64")
    return raw


class AwsFederation:
    """IAM providers + STS rules + credential issuing, shared by the console and the API."""

    def __init__(self, *, providers: SamlProviders, issuer: CredentialIssuer, clock: Clock,
                 console_url: str, skew: int = 60, replay: StateStore | None = None) -> None:
        self.providers = providers
        self.issuer = issuer
        self.clock = clock
        self.skew = skew
        self.accepted_recipients = AWS_SIGN_IN_URLS | {console_url}
        self.accepted_audiences = self.accepted_recipients | {AWS_ENTITY_ID}
        self.replay = ReplayCache(replay) if replay is not None else None

    # --- verification ------------------------------------------------------------------

    def verify(self, xml: bytes | etree._Element, provider: SamlProvider) -> SignIn:
        """Verify against one provider; ``SamlValidationError`` names the failing rule."""
        policy = ValidationPolicy(
            now=self.clock.now(), accepted_recipients=self.accepted_recipients,
            accepted_audiences=self.accepted_audiences, skew=self.skew,
        )
        assertion = verify_response(xml, trust=provider.trust, policy=policy)
        grants = []
        for value in assertion.attributes.get(AwsAttribute.ROLE, ()):
            grant = parse_role_value(value)
            if grant is not None and grant.provider_arn == provider.arn:
                grants.append(grant)
        return SignIn(assertion=assertion, provider=provider, grants=tuple(grants))

    def _used(self, assertion: VerifiedAssertion) -> bool:
        return self.replay is not None and self.replay.used(
            (assertion.issuer, assertion.assertion_id), self.clock.now())

    # --- assuming a role ---------------------------------------------------------------

    def assume(self, sign_in: SignIn, role_arn: str, *, duration: int, policy: str | None = None,
               policy_arns: tuple[str, ...] = ()) -> Session:
        """Every post-verification check, then credentials. Marks the assertion as used."""
        assertion, provider = sign_in.assertion, sign_in.provider
        if self._used(assertion):
            raise self._replayed(assertion)
        if role_arn not in {g.role_arn for g in sign_in.grants}:
            raise StsError("AccessDenied", NOT_AUTHORIZED, http_status=403, rule="role-pair",
                           detail=f"the Role attribute has no pair ({role_arn}, {provider.arn})",
                           hint="add that role,provider pair to the Role attribute")
        found = self.providers.role(role_arn)
        if found is None or found[0].id != provider.account.id:
            raise StsError("AccessDenied", NOT_AUTHORIZED, http_status=403, rule="role-missing",
                           detail=f"role {role_arn} does not exist in account "
                           f"{provider.account.id}")
        account, role = found
        session_name = self._session_name(assertion)
        source_identity = self._source_identity(assertion)
        tags = self._tags(assertion)
        self._check_trust(role.trust_policy, provider, assertion, session_name,
                          source_identity, tags)
        packed = self._packed_policy_size(policy, policy_arns, tags)
        credentials, claims = self.issuer.issue(role_arn, session_name, duration,
                                                source_identity=source_identity)
        # Claimed last and atomically: two workers racing with one assertion get one session.
        # Kept only while the assertion could still pass the freshness check (and never past
        # what datetime can hold: a far-future NotOnOrAfter must not overflow).
        until = min(assertion.not_on_or_after,
                    assertion.issue_instant + dt.timedelta(seconds=300 + 2 * self.skew))
        if self.replay is not None and not self.replay.remember(
            (assertion.issuer, assertion.assertion_id),
            until + dt.timedelta(seconds=self.skew), self.clock.now(),
        ):
            raise self._replayed(assertion)
        result = AssumeRoleWithSamlResult(
            credentials=credentials, claims=claims, audience=assertion.recipient,
            issuer=assertion.issuer, subject=assertion.name_id,
            subject_type=subject_type(assertion.name_id_format),
            name_qualifier=name_qualifier(assertion.issuer, account.id, provider.name),
            source_identity=source_identity, packed_policy_size=packed,
        )
        return Session(credentials=credentials, claims=claims, result=result)

    @staticmethod
    def _replayed(assertion: VerifiedAssertion) -> StsError:
        return StsError("InvalidIdentityToken", "SAML assertion has already been used",
                        detail=f"assertion {assertion.assertion_id} was already redeemed",
                        hint="sign in again for a fresh assertion (replay protection is on)",
                        rule="replay")

    @staticmethod
    def _single(assertion: VerifiedAssertion, name: str) -> str | None:
        values = assertion.attributes.get(name, ())
        return values[0] if len(values) == 1 else (None if not values else "\x00")

    def _session_name(self, assertion: VerifiedAssertion) -> str:
        value = self._single(assertion, AwsAttribute.ROLE_SESSION_NAME)
        if value is None:
            raise StsError("InvalidIdentityToken", "RoleSessionName is required in AuthnResponse",
                           rule="role-session-name",
                           hint="release https://aws.amazon.com/SAML/Attributes/RoleSessionName "
                           "(attribute names are case-sensitive)")
        if not SESSION_NAME_RE.match(value):
            raise StsError("InvalidIdentityToken",
                           "RoleSessionName in AuthnResponse must match [a-zA-Z_0-9+=,.@-]{2,64}",
                           rule="role-session-name",
                           detail=f"RoleSessionName is {value!r}" if value != "\x00"
                           else "RoleSessionName has several values")
        return value

    def _source_identity(self, assertion: VerifiedAssertion) -> str | None:
        value = self._single(assertion, AwsAttribute.SOURCE_IDENTITY)
        if value is not None and (not SESSION_NAME_RE.match(value) or value.startswith("aws:")):
            raise StsError("InvalidIdentityToken",
                           'Source Identity must match [a-zA-Z_0-9+=,.@-]{2,64} and not begin '
                           'with "aws:"', rule="source-identity", detail=f"got {value!r}")
        return value

    def _tags(self, assertion: VerifiedAssertion) -> dict[str, str]:
        tags: dict[str, str] = {}
        prefix = AwsAttribute.PRINCIPAL_TAG_PREFIX.value
        for name, values in assertion.attributes.items():
            if not name.startswith(prefix):
                continue
            key = name[len(prefix):]
            if len(values) != 1:
                raise StsError("InvalidIdentityToken", f"Session tag {key} must have exactly one "
                               "value (STS does not support multi-valued session tags)",
                               rule="tags")
            if not _TAG_KEY_RE.match(key) or key.lower().startswith("aws:"):
                raise StsError("InvalidIdentityToken", f"Invalid session tag key {key!r}",
                               rule="tags", hint="keys are 1-128 characters of letters, digits, "
                               "spaces and _.:/=+-@, not starting with aws:")
            if not _TAG_VALUE_RE.match(values[0]):
                raise StsError("InvalidIdentityToken", f"Invalid value for session tag {key}",
                               rule="tags")
            if key.lower() in {k.lower() for k in tags}:
                raise StsError("InvalidIdentityToken", f"Duplicate session tag key {key}",
                               rule="tags")
            tags[key] = values[0]
        if len(tags) > 50:
            raise StsError("InvalidIdentityToken", f"{len(tags)} session tags; the limit is 50",
                           rule="tags")
        return tags

    def _check_trust(self, trust_policy: Mapping[str, object], provider: SamlProvider,
                     assertion: VerifiedAssertion, session_name: str,
                     source_identity: str | None, tags: Mapping[str, str]) -> None:
        actions = ["sts:AssumeRoleWithSAML"]
        if tags:
            actions.append("sts:TagSession")
        if source_identity is not None:
            actions.append("sts:SetSourceIdentity")
        account = provider.account
        context: dict[str, tuple[str, ...]] = {
            "saml:aud": (assertion.recipient,),
            "saml:iss": (assertion.issuer,),
            "saml:sub": (assertion.name_id,),
            "saml:sub_type": (subject_type(assertion.name_id_format),),
            "saml:namequalifier": (name_qualifier(assertion.issuer, account.id, provider.name),),
            "saml:doc": (f"{account.id}/{provider.name}",),
            "sts:rolesessionname": (session_name,),
        }
        for name, key in _CONTEXT_KEYS.items():
            if name in assertion.attributes:
                context[key] = assertion.attributes[name]
        if source_identity is not None:
            context["sts:sourceidentity"] = (source_identity,)
        for key, value in tags.items():
            context[f"aws:requesttag/{key}"] = (value,)
        if tags:
            context["aws:tagkeys"] = tuple(tags)
        decision = evaluate_trust_policy(trust_policy, TrustRequest(
            principal_federated=provider.arn, actions=tuple(actions), context=context))
        if not decision.allowed:
            raise StsError("AccessDenied", NOT_AUTHORIZED, http_status=403, rule="trust-policy",
                           detail=f"the role's trust policy denies it: {decision.reason}",
                           hint="allow " + ", ".join(actions) + f" for {provider.arn}")

    @staticmethod
    def _packed_policy_size(policy: str | None, policy_arns: tuple[str, ...],
                            tags: Mapping[str, str]) -> int | None:
        """A percentage of AWS's packed limit (approximation: 2,048 compact characters)."""
        if policy is None and not policy_arns:
            return None
        compact = ""
        if policy is not None:
            try:
                compact = json.dumps(json.loads(policy), separators=(",", ":"))
            except (ValueError, RecursionError):  # 2,048 characters can nest ~1,000 deep
                raise StsError("MalformedPolicyDocument",
                               "The policy is not in the valid JSON format.") from None
        size = len(compact) + sum(len(a) for a in policy_arns) + sum(
            len(k) + len(v) for k, v in tags.items())
        percent = max(1, -(-size * 100 // 2048))
        if percent > 100:
            raise StsError("PackedPolicyTooLarge", "Packed size of the session policy and "
                           f"tags is {percent}% of the limit")
        return percent

    # --- the API operation -------------------------------------------------------------

    def assume_role_with_saml(self, params: Mapping[str, str]) -> AssumeRoleWithSamlResult:
        """``AssumeRoleWithSAML`` (STS API reference), parameters as the Query protocol sends."""
        for name in ("RoleArn", "PrincipalArn", "SAMLAssertion"):
            if not params.get(name):
                raise StsError("MissingParameter",
                               f"The request must contain the parameter {name}")
        role_arn, principal_arn = params["RoleArn"].strip(), params["PrincipalArn"].strip()
        for name, value in (("roleArn", role_arn), ("principalArn", principal_arn)):
            if not 20 <= len(value) <= 2048:
                raise StsError("ValidationError", f"1 validation error detected: Value at "
                               f"'{name}' failed to satisfy constraint: Member must have length "
                               "between 20 and 2048")
        duration = self._duration_param(params.get("DurationSeconds"))
        policy = params.get("Policy")
        if policy is not None and not 1 <= len(policy) <= 2048:
            raise StsError("ValidationError", "1 validation error detected: Value at 'policy' "
                           "failed to satisfy constraint: Member must have length less than or "
                           "equal to 2048")
        policy_arns = tuple(v for k, v in sorted(params.items())
                            if k.startswith("PolicyArns.member.") and k.endswith(".arn"))
        xml = decode_assertion(params["SAMLAssertion"])
        provider = self.providers.get(principal_arn)
        if provider is None:
            raise StsError("InvalidIdentityToken", "Specified provider doesn't exist.",
                           rule="provider", detail=f"no SAML provider {principal_arn}")
        try:
            sign_in = self.verify(xml, provider)
        except SamlValidationError as exc:
            raise _sts_error(exc) from None
        found = self.providers.role(role_arn)
        requested = duration if duration is not None else 3600
        if found is not None and requested > found[1].max_session_duration:
            raise StsError("ValidationError", "The requested DurationSeconds exceeds the "
                           "MaxSessionDuration set for this role.")
        return self.assume(sign_in, role_arn, duration=self.api_duration(sign_in, duration),
                           policy=policy, policy_arns=policy_arns).result

    @staticmethod
    def _duration_param(value: str | None) -> int | None:
        if value is None:
            return None
        try:
            if not _PLAIN_INT_RE.match(value):
                raise ValueError(value)
            seconds = int(value)
        except ValueError:
            raise StsError("ValidationError", f"Value '{value}' at 'durationSeconds' failed to "
                           "satisfy constraint: Member must be an integer") from None
        if seconds < 900:
            raise StsError("ValidationError", f"1 validation error detected: Value '{seconds}' "
                           "at 'durationSeconds' failed to satisfy constraint: Member must have "
                           "value greater than or equal to 900")
        if seconds > 43200:
            raise StsError("ValidationError", f"1 validation error detected: Value '{seconds}' "
                           "at 'durationSeconds' failed to satisfy constraint: Member must have "
                           "value less than or equal to 43200")
        return seconds

    def _session_duration_attribute(self, assertion: VerifiedAssertion) -> int | None:
        values = assertion.attributes.get(AwsAttribute.SESSION_DURATION, ())
        if not values:
            return None
        seconds = int(values[0]) if _PLAIN_INT_RE.match(values[0]) else -1
        if len(values) != 1 or not 900 <= seconds <= 43200:
            raise StsError("InvalidIdentityToken", "SessionDuration in AuthnResponse must be a "
                           "single whole number of seconds from 900 to 43200",
                           rule="session-duration", detail=f"got {list(values)}")
        return seconds

    def _until_session_end(self, assertion: VerifiedAssertion) -> int | None:
        if assertion.session_not_on_or_after is None:
            return None
        remaining = int((assertion.session_not_on_or_after - self.clock.now()).total_seconds())
        if remaining <= 0:
            raise StsError("ExpiredTokenException", "SessionNotOnOrAfter has passed",
                           rule="session-end", detail="the IdP session behind this assertion "
                           "has ended", hint="sign in to the IdP again")
        return remaining

    def api_duration(self, sign_in: SignIn, requested: int | None) -> int:
        """min(DurationSeconds or 3600, SessionNotOnOrAfter, SessionDuration) (STS API ref.)."""
        candidates = [requested if requested is not None else 3600]
        for limit in (self._until_session_end(sign_in.assertion),
                      self._session_duration_attribute(sign_in.assertion)):
            if limit is not None:
                candidates.append(limit)
        return min(candidates)

    def console_duration(self, sign_in: SignIn) -> int:
        """min(SessionDuration or 3600, SessionNotOnOrAfter) (IAM UG, console sessions)."""
        attribute = self._session_duration_attribute(sign_in.assertion)
        candidates = [attribute if attribute is not None else 3600]
        remaining = self._until_session_end(sign_in.assertion)
        if remaining is not None:
            candidates.append(remaining)
        return min(candidates)
