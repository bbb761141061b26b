"""Fixtures: real keys in a temp folder, the demo directory, an app factory, a client.

Time is injected: ``clock`` is a ``FixedClock`` set to the real current time, so independent
validators (which read the system clock) agree with what we sign, and tests can still move it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from idp.clock import FixedClock
from idp.directory import Directory, demo_directory
from idp.keys import KeyPair, KeyStore
from idp.settings import Settings
from idp.store import StateStore
from idp.web.app import create_app

pytest_plugins = ["tests.e2e.sts_fixtures"]

BASE_URL = "http://idp.test"
CAROL_SECRET = "MNQXE33MFVSGK3LPFV2G65DQFVVWK6JB"


@pytest.fixture(scope="session")
def certs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real RSA-2048 key pair for the whole run (generation is the slow part)."""
    path = tmp_path_factory.mktemp("certs")
    KeyStore(path).create(f"{BASE_URL}/idp/metadata")
    return path


@pytest.fixture(scope="session")
def keypair(certs_dir: Path) -> KeyPair:
    return KeyStore(certs_dir).load()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(dt.datetime.now(dt.UTC).replace(microsecond=0))


@pytest.fixture
def settings(certs_dir: Path, tmp_path: Path) -> Settings:
    return Settings(base_url=BASE_URL, certs_dir=certs_dir, data_dir=tmp_path / "data")


@pytest.fixture
def store(tmp_path: Path, clock: FixedClock) -> Iterator[StateStore]:
    """The shared-state file, fresh per test."""
    state = StateStore(tmp_path / "state.sqlite3", clock)
    yield state
    state.close()


@pytest.fixture(scope="session")
def directory() -> Directory:
    return demo_directory(aws_acs=f"{BASE_URL}/aws/saml")


@pytest.fixture
def client_factory(
    settings: Settings, directory: Directory, clock: FixedClock
) -> Iterator[Callable[..., TestClient]]:
    """Build a TestClient; keyword arguments override Settings fields or pass ``directory``."""
    clients: list[TestClient] = []

    def make(*, directory_override: Directory | None = None, **overrides: Any) -> TestClient:
        app = create_app(
            settings.with_overrides(**overrides),
            directory=directory_override or directory,
            clock=clock,
        )
        client = TestClient(app, base_url=BASE_URL)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(client_factory: Callable[..., TestClient]) -> TestClient:
    return client_factory()
