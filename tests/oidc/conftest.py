"""The OpenID Connect core on real keys, the demo directory, a fixed clock and a real store."""

from __future__ import annotations

from pathlib import Path

import pytest

from idp.clock import FixedClock
from idp.directory import Directory
from idp.keys import KeyPair, KeyStore
from idp.oidc.issuer import OidcIssuer
from idp.oidc.signing import KEY_COMMON_NAME, KEY_PREFIX
from idp.settings import Settings
from idp.store import StateStore

SECRET = b"install-secret-for-tests"


@pytest.fixture(scope="session")
def oidc_certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One OIDC key pair for the run (``certs/oidc-signing.key``), made as the runtime does."""
    path = tmp_path_factory.mktemp("oidc-certs")
    KeyStore(path, prefix=KEY_PREFIX).create(KEY_COMMON_NAME)
    return path


@pytest.fixture(scope="session")
def oidc_keys(oidc_certs: Path) -> dict[str, KeyPair]:
    return KeyStore(oidc_certs, prefix=KEY_PREFIX).snapshot()


@pytest.fixture
def issuer(settings: Settings, directory: Directory, oidc_keys: dict[str, KeyPair],
           clock: FixedClock, store: StateStore) -> OidcIssuer:
    return OidcIssuer(settings, directory, oidc_keys, clock, store, SECRET)
