"""Build the framework-free core as ``idp.web.app.load_services`` does, for in-process tests."""

from __future__ import annotations

from idp.aws.credentials import CredentialIssuer
from idp.aws.federation import AwsFederation
from idp.aws.iam import Iam
from idp.aws.sts import Sts
from idp.clock import Clock
from idp.directory import Directory
from idp.keys import KeyPair
from idp.settings import Settings
from idp.store import StateStore

#: A fixed credential secret: tests that mint and resolve credentials agree on it.
CREDENTIAL_SECRET = b"k" * 32


def federation(settings: Settings, directory: Directory, keypair: KeyPair, clock: Clock, *,
               replay: StateStore | None = None) -> AwsFederation:
    """The AWS side trusting ``keypair`` (this IdP's own metadata in every account)."""
    return AwsFederation(
        iam=Iam(directory, settings.entity_id, (keypair,)),
        credentials=CredentialIssuer(CREDENTIAL_SECRET, clock), clock=clock,
        console_url=settings.console_acs_url, skew=settings.clock_skew, replay=replay,
    )


def sts(settings: Settings, directory: Directory, keypair: KeyPair, clock: Clock, *,
        replay: StateStore | None = None) -> Sts:
    return Sts(federation(settings, directory, keypair, clock, replay=replay))
