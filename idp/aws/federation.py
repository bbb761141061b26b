"""SAML federation into AWS: verify a Response for a provider, then assume one of its roles.

Shared by the console (``idp.aws.console``) and the STS API (``idp.aws.sts``), so a browser
sign-in and an API call are judged by the same rules, in the order STS applies them (STS API
Reference, AssumeRoleWithSAML; IAM User Guide, "Troubleshooting SAML 2.0 federation with
AWS")::

    verify(xml, provider)          the SAML verifier with the provider's certificates, this
                                   console's URLs and AWS's sign-in URLs, unsolicited
                                   Responses only at the console → VerifiedResponse
    assume(verified, role_arn, …)  replay (per surface) → role pair in the Role attribute →
                                   the role exists in the provider's account →
                                   RoleSessionName, SourceIdentity, tags → trust policy →
                                   packed size → credentials → claim the assertion
                                   (atomically, last) → RoleSession
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from idp.aws import claims, limits
from idp.aws.authorization import session_policy_for
from idp.aws.credentials import CredentialIssuer, SessionClaims, TemporaryCredentials
from idp.aws.errors import AccessDenied, InvalidIdentityToken
from idp.aws.iam import Iam, SamlProvider
from idp.aws.replay import ReplayMode, Surface, replay_caches
from idp.aws.trust import (
    NOT_AUTHORIZED,
    SessionRequest,
    check_trust,
    name_qualifier,
    saml_trust_request,
    subject_type,
)
from idp.aws.vocabulary import AWS_SIGN_IN_URLS, MAX_ASSERTION_AGE_SECONDS, AwsAttribute
from idp.aws.wire import AssumeRoleWithSamlResult
from idp.clock import Clock
from idp.directory.model import AWS_ENTITY_ID, RoleGrant
from idp.errors import Rule
from idp.saml.validation import ValidationPolicy, VerifiedAssertion, verify_response
from idp.store import StateStore

__all__ = ["AwsFederation", "RoleSession", "VerifiedResponse"]


@dataclass(frozen=True)
class VerifiedResponse:
    """A Response verified against one SAML provider, and the role pairs it offers there."""

    assertion: VerifiedAssertion
    provider: SamlProvider
    grants: tuple[RoleGrant, ...]


@dataclass(frozen=True)
class RoleSession:
    """An assumed role: the credentials and everything STS reports about them."""

    credentials: TemporaryCredentials
    claims: SessionClaims
    result: AssumeRoleWithSamlResult


class AwsFederation:
    """The simulated IAM, the SAML rules of STS and the credential issuer, used together."""

    def __init__(self, *, iam: Iam, credentials: CredentialIssuer, clock: Clock,
                 console_url: str, skew: int = 60, replay: StateStore | None = None,
                 replay_mode: ReplayMode = ReplayMode.AWS) -> None:
        self.iam = iam
        self.credentials = credentials
        """Mints and resolves temporary credentials (``SessionToken``s)."""
        self.clock = clock
        self.skew = skew
        self.accepted_recipients = AWS_SIGN_IN_URLS | {console_url}
        self.accepted_audiences = self.accepted_recipients | {AWS_ENTITY_ID}
        self.replay_mode = replay_mode if replay is not None else ReplayMode.OFF
        self._replay = replay_caches(replay, replay_mode, skew=skew)

    def verify(self, xml: bytes | etree._Element, provider: SamlProvider, *,
               surface: Surface = Surface.STS) -> VerifiedResponse:
        """Verify against one provider; ``SamlValidationError`` names the failing rule.

        AWS sign-in never sends an AuthnRequest (IAM SAML federation is IdP-initiated), so at
        the console a Response (or its bearer SubjectConfirmationData) carrying
        ``InResponseTo`` is refused as ``Rule.IN_RESPONSE_TO`` (SAML Profiles §4.1.5,
        unsolicited Responses). STS tolerates one: ECP clients such as awscli-login build
        their own AuthnRequest and redeem the Response that answers it at
        ``AssumeRoleWithSAML``, which real AWS accepts
        (https://github.com/techservicesillinois/awscli-login/issues/13).
        """
        policy = ValidationPolicy(
            now=self.clock.now(), accepted_recipients=self.accepted_recipients,
            accepted_audiences=self.accepted_audiences, skew=self.skew,
            max_age=MAX_ASSERTION_AGE_SECONDS, unsolicited_only=surface is Surface.CONSOLE,
        )
        assertion = verify_response(xml, trust=provider.trust, policy=policy)
        return VerifiedResponse(assertion=assertion, provider=provider,
                                grants=claims.role_grants(assertion, provider.arn))

    def already_redeemed(self, assertion: VerifiedAssertion, surface: Surface) -> bool:
        """True when ``surface`` may not redeem this assertion again (``idp.aws.replay``)."""
        cache = self._replay.get(surface)
        return cache is not None and cache.used(assertion)

    def api_duration(self, verified: VerifiedResponse, requested: int | None) -> int:
        return limits.api_duration(verified.assertion, requested, self.clock.now())

    def console_duration(self, verified: VerifiedResponse) -> int:
        return limits.console_duration(verified.assertion, self.clock.now())

    def assume(self, verified: VerifiedResponse, role_arn: str, *, duration: int,
               policy: str | None = None, policy_arns: tuple[str, ...] = (),
               surface: Surface = Surface.STS) -> RoleSession:
        """Every check after the signature, then credentials. Redeems the assertion at
        ``surface`` (how often it may: ``idp.aws.replay``)."""
        assertion, provider = verified.assertion, verified.provider
        if self.already_redeemed(assertion, surface):
            raise _replayed(assertion, self.replay_mode)
        if AwsAttribute.ROLE not in assertion.attributes:
            raise AccessDenied(NOT_AUTHORIZED, rule=Rule.ROLE_ATTRIBUTE,
                               detail=f"the Assertion has no {AwsAttribute.ROLE.value} "
                               "attribute", hint="release AWS's Role attribute "
                               "(role-arn,provider-arn values) to urn:amazon:webservices")
        if role_arn not in {g.role_arn for g in verified.grants}:
            raise AccessDenied(NOT_AUTHORIZED, rule=Rule.ROLE_PAIR,
                               detail=f"the Role attribute has no pair ({role_arn}, "
                               f"{provider.arn})",
                               hint="add that role,provider pair to the Role attribute")
        role = self.iam.role(role_arn)
        if role is None or role.account_id != provider.account_id:
            raise AccessDenied(NOT_AUTHORIZED, rule=Rule.ROLE_MISSING,
                               detail=f"role {role_arn} does not exist in account "
                               f"{provider.account_id}")
        session = SessionRequest(session_name=claims.session_name(assertion),
                                 source_identity=claims.source_identity(assertion),
                                 tags=claims.session_tags(assertion))
        check_trust(role, saml_trust_request(provider, assertion, session))
        packed = limits.packed_policy_size(policy, policy_arns, session.tags)
        credentials, session_claims = self.credentials.issue(
            role_arn, session.session_name, duration, source_identity=session.source_identity,
            tags=tuple(session.tags.items()),
            session_policy=session_policy_for(policy, policy_arns), role_id=role.id)
        # Claimed last and atomically: two workers racing with one assertion get one session.
        cache = self._replay.get(surface)
        if cache is not None and not cache.claim(assertion):
            raise _replayed(assertion, self.replay_mode)
        result = AssumeRoleWithSamlResult(
            credentials=credentials, claims=session_claims, audience=assertion.recipient,
            issuer=assertion.issuer, subject=assertion.name_id,
            subject_type=subject_type(assertion.name_id_format),
            name_qualifier=name_qualifier(assertion.issuer, provider.account_id, provider.name),
            source_identity=session.source_identity, packed_policy_size=packed,
        )
        return RoleSession(credentials=credentials, claims=session_claims, result=result)


def _replayed(assertion: VerifiedAssertion, mode: ReplayMode) -> InvalidIdentityToken:
    return InvalidIdentityToken(
        "SAML assertion has already been used", rule=Rule.REPLAY,
        detail=f"assertion {assertion.assertion_id} was already redeemed",
        hint=f"sign in again for a fresh assertion (replay protection: {mode.value})")
