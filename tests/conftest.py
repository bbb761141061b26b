"""Fixtures: real keys in a temp folder, the demo directory, an app factory, a client.

Time is injected: ``clock`` is a ``FixedClock`` set to the real current time, so independent
validators (which read the system clock) agree with what we sign, and tests can still move it.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from idp.clock import FixedClock
from idp.directory import Directory, demo_directory
from idp.keys import KeyPair, KeyStore
from idp.settings import Settings
from idp.store import SqliteStore, StateStore
from idp.web.app import create_app
from tests.support import builders
from tests.support.demo import AWS_ACS, BASE_URL
from tests.support.redis_server import DATABASES, RedisServer
from tests.support.saml import respond
from tests.vectors.attacks import Keys, make_keys

pytest_plugins = ["tests.support.fixtures"]


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
    state = SqliteStore(tmp_path / "state.sqlite3", clock)
    yield state
    state.close()


@pytest.fixture(scope="session")
def directory() -> Directory:
    return demo_directory(aws_acs=AWS_ACS)


@pytest.fixture
def bob_saml(settings: Settings, directory: Directory, keypair: KeyPair,
             clock: FixedClock) -> str:
    """bob's genuine signed Response (base64), as the IdP posts it at ``clock``'s instant.

    bob has one role (ReadOnly in 111122223333), so the STS and the console accept it as is.
    """
    return respond(builders.identity_provider(settings, directory, keypair, clock),
                   "bob").saml_value


@pytest.fixture(scope="session")
def attack_keys(keypair: KeyPair) -> Keys:
    """The IdP's key pair plus the attacker's (``tests.vectors.attacks.make_keys``)."""
    return make_keys(keypair)


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


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One real redis-server (append-only file, fsync always) for the session; the tests
    fail, never skip, when Debian's redis-server is not installed."""
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


_redis_databases = itertools.count()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """A URL of the session's server, on a database of its own, emptied first."""
    import redis

    db = next(_redis_databases) % DATABASES
    url = redis_server.url(db)
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()
    return url
