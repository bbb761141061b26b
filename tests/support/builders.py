"""Build the framework-free core as ``idp.web.app.load_services`` does, for in-process tests.

One way to build each: ``identity_provider`` (the IdP), ``federation`` (the AWS side trusting
that IdP's key) and ``sts`` (the STS API over it); ``trusted_issuer`` and
``validation_policy`` are the verifier's two inputs as ``AwsFederation.verify`` sets them, for
tests of ``idp.saml.validation.verify_response`` itself.
"""

from __future__ import annotations

from idp.aws.credentials import CredentialIssuer
from idp.aws.federation import AwsFederation
from idp.aws.iam import Iam
from idp.aws.replay import ReplayMode
from idp.aws.sts import Sts
from idp.aws.vocabulary import AWS_SIGN_IN_URLS
from idp.clock import Clock
from idp.directory import Directory
from idp.directory.model import AWS_ENTITY_ID
from idp.keys import KeyPair
from idp.saml.validation import TrustedIssuer, ValidationPolicy
from idp.settings import Settings
from idp.sso import IdentityProvider
from idp.store import StateStore

#: A fixed credential secret: tests that mint and resolve credentials agree on it.
CREDENTIAL_SECRET = b"k" * 32


def identity_provider(settings: Settings, directory: Directory,
                      keys: KeyPair | tuple[KeyPair, ...], clock: Clock) -> IdentityProvider:
    """The IdP signing with ``keys`` (one pair, or the published ones, current first)."""
    return IdentityProvider(settings, directory, keys if isinstance(keys, tuple) else (keys,),
                            clock)


def federation(settings: Settings, directory: Directory, keypair: KeyPair, clock: Clock, *,
               replay: StateStore | None = None,
               replay_mode: ReplayMode = ReplayMode.AWS) -> AwsFederation:
    """The AWS side trusting ``keypair`` (this IdP's own metadata in every account)."""
    return AwsFederation(
        iam=Iam(directory, settings.entity_id, (keypair,)),
        credentials=CredentialIssuer(CREDENTIAL_SECRET, clock), clock=clock,
        console_url=settings.console_acs_url, skew=settings.clock_skew, replay=replay,
        replay_mode=replay_mode,
    )


def sts(settings: Settings, directory: Directory, keypair: KeyPair, clock: Clock, *,
        replay: StateStore | None = None, replay_mode: ReplayMode = ReplayMode.AWS) -> Sts:
    """The STS API over ``federation`` (replay protection only when given a state store)."""
    return Sts(federation(settings, directory, keypair, clock, replay=replay,
                          replay_mode=replay_mode))


def trusted_issuer(settings: Settings, keypair: KeyPair) -> TrustedIssuer:
    """What an account's SAML provider trusts by default: this IdP's entityID and certificate."""
    return TrustedIssuer(entity_id=settings.entity_id, certificates=(keypair.cert_pem,))


def validation_policy(settings: Settings, clock: Clock) -> ValidationPolicy:
    """The verifier's policy as ``AwsFederation.verify`` sets it: now, this console's ACS or
    AWS's sign-in URLs as Recipient/Destination, those or ``urn:amazon:webservices`` as
    Audience, the configured skew, unsolicited Responses only (no InResponseTo)."""
    recipients = AWS_SIGN_IN_URLS | {settings.console_acs_url}
    return ValidationPolicy(now=clock.now(), accepted_recipients=recipients,
                            accepted_audiences=recipients | {AWS_ENTITY_ID},
                            skew=settings.clock_skew, unsolicited_only=True)
