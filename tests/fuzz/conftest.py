"""Hypothesis profiles and module-scoped fixtures for the fuzz suite.

Profiles (``IDP_FUZZ_PROFILE`` picks one; the test suite runs ``ci``):

* ``ci``   bounded example counts so ``tests/fuzz`` runs in about 30-60 s on a laptop;
* ``long`` many more examples, for ``scripts/fuzz`` and for hunting before a release.

Every fixture here is module- or session-scoped: Hypothesis runs a test body many times per
fixture instance, so a function-scoped fixture would be shared across examples anyway (and
Hypothesis refuses them). Time stands still (``FixedClock``), so a genuine Response built once
stays valid for the whole run.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Verbosity, settings
from starlette.testclient import TestClient

from idp.aws.credentials import TemporaryCredentials
from idp.aws.federation import AwsFederation
from idp.aws.sts import Sts
from idp.clock import FixedClock
from idp.directory import Directory
from idp.keys import KeyPair
from idp.saml.providers import ServiceProvider
from idp.settings import Settings
from idp.sso import IdentityProvider
from idp.web.app import create_app
from tests.support import builders
from tests.support.demo import AWS_ACS, BASE_URL, READ_ONLY
from tests.support.saml import respond

_SLOW_IS_FINE = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]

settings.register_profile(
    "ci",
    max_examples=300,
    deadline=dt.timedelta(seconds=5),
    derandomize=False,
    print_blob=True,
    suppress_health_check=_SLOW_IS_FINE,
)
settings.register_profile(
    "long",
    max_examples=3000,
    deadline=dt.timedelta(seconds=10),
    derandomize=False,
    print_blob=True,
    suppress_health_check=_SLOW_IS_FINE,
    verbosity=Verbosity.normal,
)
PROFILE = os.environ.get("IDP_FUZZ_PROFILE", "ci")
settings.load_profile(PROFILE)

#: An extra SP that insists on signed AuthnRequests, signed with the test key pair.
SIGNED_SP = "https://signed-sp.example/metadata"
SIGNED_SP_ACS = "https://signed-sp.example/acs"
CONSOLE_ACS = AWS_ACS


@pytest.fixture(scope="module")
def fuzz_clock() -> FixedClock:
    """One instant for the whole module, so genuine messages never expire mid-run."""
    return FixedClock(dt.datetime.now(dt.UTC).replace(microsecond=0))


@pytest.fixture(scope="module")
def fuzz_settings(certs_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(base_url=BASE_URL, certs_dir=certs_dir,
                    data_dir=tmp_path_factory.mktemp("fuzz-state"))


@pytest.fixture(scope="module")
def fuzz_directory(directory: Directory, keypair: KeyPair) -> Directory:
    """The demo directory plus an SP that requires signed requests (so checks are reached)."""
    signed = ServiceProvider(entity_id=SIGNED_SP, acs_urls=(SIGNED_SP_ACS,),
                             want_authn_requests_signed=True, certificates=(keypair.cert_pem,))
    return dataclasses.replace(
        directory, service_providers={**directory.service_providers, SIGNED_SP: signed})


@pytest.fixture(scope="module")
def idp(fuzz_settings: Settings, fuzz_directory: Directory, keypair: KeyPair,
        fuzz_clock: FixedClock) -> IdentityProvider:
    return builders.identity_provider(fuzz_settings, fuzz_directory, keypair, fuzz_clock)


@pytest.fixture(scope="module")
def federation(fuzz_settings: Settings, fuzz_directory: Directory, keypair: KeyPair,
               fuzz_clock: FixedClock) -> AwsFederation:
    """The STS/console core; no replay store, so a genuine Response verifies every time."""
    return builders.federation(fuzz_settings, fuzz_directory, keypair, fuzz_clock)


@pytest.fixture(scope="module")
def sts(federation: AwsFederation) -> Sts:
    """The STS API over ``federation``."""
    return Sts(federation)


class Genuine(bytes):
    """Response bytes with a short repr, so a failing example's report stays readable."""

    def __repr__(self) -> str:
        return f"<genuine signed Response, {len(self)} bytes>"


def genuine_response(idp: IdentityProvider, username: str) -> bytes:
    """A signed AWS Response for ``username``, exactly as the IdP posts it (decoded XML)."""
    return Genuine(base64.b64decode(respond(idp, username).saml_value))


@pytest.fixture(scope="module")
def bob_response(idp: IdentityProvider) -> bytes:
    """bob has one role (ReadOnly in 111122223333): the STS can accept this Response."""
    return genuine_response(idp, "bob")


@pytest.fixture(scope="module")
def alice_response(idp: IdentityProvider) -> bytes:
    """alice has three roles in two accounts: the console would show "Select a role"."""
    return genuine_response(idp, "alice")


@pytest.fixture(scope="module")
def sts_credentials(federation: AwsFederation) -> TemporaryCredentials:
    """Genuine temporary credentials for SigV4 fuzzing."""
    creds, _ = federation.credentials.issue(READ_ONLY, "bob", 3600)
    return creds


@pytest.fixture(scope="module")
def fuzz_client(fuzz_settings: Settings, fuzz_directory: Directory,
                fuzz_clock: FixedClock) -> Iterator[TestClient]:
    """One app for the module; each example clears cookies so examples stay independent."""
    app = create_app(fuzz_settings, directory=fuzz_directory, clock=fuzz_clock)
    # raise_server_exceptions=False: a crash must show up as the 500 a browser would get.
    with TestClient(app, base_url=BASE_URL, raise_server_exceptions=False) as client:
        yield client
