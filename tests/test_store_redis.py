"""What only the Redis state backend has: ``--state`` URLs, keys and TTLs in the keyspace,
failing fast (and recovering by itself) when the server is down, persistence warnings.

The behaviour both backends share is tested in ``test_store.py`` and ``test_store_clear.py``
against a real redis-server (``tests/support/redis_server.py``); so are these.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from idp.clock import FixedClock
from idp.errors import StoreError
from idp.store import SqliteStore, check_location, open_store
from idp.store.redis import PREFIX, RedisStore
from tests.support.redis_server import VOLATILE, RedisServer
from tests.support.server import free_port

DAY = 86_400
EXPECTED = ("; expected sqlite or redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] "
            "(rediss:// for TLS)")


def later(clock: FixedClock, seconds: int = 60) -> dt.datetime:
    return clock.now() + dt.timedelta(seconds=seconds)


@pytest.fixture
def store(redis_url: str, clock: FixedClock) -> Iterator[RedisStore]:
    state = RedisStore(redis_url, clock)
    yield state
    state.close()


@pytest.fixture
def raw(redis_url: str) -> Iterator[redis.Redis]:
    """A plain client on the store's database, to look at the keyspace."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


# --- --state values -------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "normal"), [
    ("", "sqlite"),
    ("sqlite", "sqlite"),
    (" SQLite ", "sqlite"),
    ("redis://localhost", "redis://localhost:6379/0"),
    ("redis://127.0.0.1:6390", "redis://127.0.0.1:6390/0"),
    ("redis://127.0.0.1:6390/", "redis://127.0.0.1:6390/0"),
    ("REDIS://Cache.Example.COM/3", "redis://cache.example.com:6379/3"),
    ("rediss://redis-1.internal:6380/15", "rediss://redis-1.internal:6380/15"),
    ("redis://:s3cret@h", "redis://:s3cret@h:6379/0"),
    ("redis://idp:p%40ss@h:1/2", "redis://idp:p%40ss@h:1/2"),
    ("redis://[::1]:6379/1", "redis://[::1]:6379/1"),
    ("redis://h/007", "redis://h:6379/7"),
])
def test_check_location_accepts_and_normalises(text: str, normal: str) -> None:
    assert check_location(text) == normal
    assert check_location(normal) == normal, "the normal form is a fixed point"


@pytest.mark.parametrize(("text", "problem"), [
    ("postgres", "'postgres' is neither sqlite nor a URL"),
    ("http://h:6379/0", "unsupported scheme 'http'"),
    ("unix:///tmp/redis.sock", "unsupported scheme 'unix'"),
    ("redis://", "the host is missing"),
    ("redis://:6379/0", "the host is missing"),
    ("redis://h:port/0", "the port is not a number from 1 to 65535"),
    ("redis://h:0/0", "the port is not a number from 1 to 65535"),
    ("redis://h:65536/0", "the port is not a number from 1 to 65535"),
    ("redis://h/db1", "the database (after the host) is not /N with N a non-negative integer"),
    ("redis://h/-1", "the database (after the host) is not /N with N a non-negative integer"),
    ("redis://h/0/1", "the database (after the host) is not /N with N a non-negative integer"),
    ("redis://h/0?ssl_cert_reqs=none", "query parameters are not supported"),
    ("redis://h/?db=2", "query parameters are not supported"),
    ("redis://h/0#x", "a fragment (#...) is not supported"),
    ("redis://h o/0", "the URL contains spaces or control characters"),
    ("redis://h!/0", "the host 'h!' is not a host name or address"),
    ("redis://[zz]/0", "the host in [...] is not an IPv6 address"),
    ("redis://idp@h/0", "credentials need a password (USER:PASSWORD@ or :PASSWORD@)"),
    ("redis://idp:@h/0", "the password is empty"),
])
def test_check_location_refuses_with_one_line_naming_the_problem(text: str,
                                                                problem: str) -> None:
    with pytest.raises(ValueError) as raised:
        check_location(text)
    assert str(raised.value) == f"invalid state store location: {problem}{EXPECTED}"


def test_check_location_never_echoes_a_password() -> None:
    for text in ("redis://:hunter2@h:99999/0", "redis://u:hunter2@h/x", "redis://u:hunter2@/0",
                 "redis://:hunter2@h/0?x=1"):
        with pytest.raises(ValueError) as raised:
            check_location(text)
        assert "hunter2" not in str(raised.value), text


def test_importing_the_store_does_not_import_redis() -> None:
    code = "import sys, idp.store; assert 'redis' not in sys.modules, 'redis imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_open_store_picks_the_backend(tmp_path: Path, clock: FixedClock, redis_url: str) -> None:
    sqlite = open_store("", tmp_path, clock)
    try:
        assert isinstance(sqlite, SqliteStore)
        assert sqlite.location == str(tmp_path / "state.sqlite3")
    finally:
        sqlite.close()
    shared = open_store(redis_url, tmp_path / "unused", clock)
    try:
        assert isinstance(shared, RedisStore) and shared.location == redis_url
        assert shared.claim("assertion", "id-1", later(clock))
    finally:
        shared.close()
    assert not (tmp_path / "unused").exists()
    with pytest.raises(ValueError, match="unsupported scheme 'memcached'"):
        open_store("memcached://h", tmp_path, clock)


# --- reaching the server ---------------------------------------------------------------------


def test_a_closed_port_fails_at_start_fast_naming_the_url_without_its_password(
        clock: FixedClock) -> None:
    port = free_port()
    started = time.monotonic()
    with pytest.raises(StoreError) as raised:
        RedisStore(f"redis://idp:hunter2@127.0.0.1:{port}/4", clock)
    assert time.monotonic() - started < 2.5
    message = str(raised.value)
    assert message == (f"cannot reach the state store redis://idp:***@127.0.0.1:{port}/4: "
                       f"Connection refused")
    assert "\n" not in message and "hunter2" not in message


@pytest.fixture(scope="module")
def password_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis-auth"),
                         persistence=(*VOLATILE, "--requirepass", "hunter2"))
    yield server.start()
    server.stop()


def test_a_password_is_used_and_never_shown(password_server: RedisServer,
                                            clock: FixedClock) -> None:
    url = f"redis://:hunter2@127.0.0.1:{password_server.port}/0"
    store = RedisStore(url, clock)
    try:
        assert store.location == f"redis://:***@127.0.0.1:{password_server.port}/0"
        assert store.claim("assertion", "id-1", later(clock))
    finally:
        store.close()
    for wrong in (f"redis://:hunter3@127.0.0.1:{password_server.port}/0",
                  f"redis://127.0.0.1:{password_server.port}/0"):
        with pytest.raises(StoreError) as raised:
            RedisStore(wrong, clock)
        assert "hunter" not in str(raised.value).replace("***", "")
        assert f"127.0.0.1:{password_server.port}/0" in str(raised.value)


def test_a_restart_fails_fast_then_recovers_by_itself_and_forgets_nothing(
        tmp_path: Path, clock: FixedClock) -> None:
    """Stopped: every operation raises StoreError within seconds (no hang). Started again
    (same port, same append-only file): the same object works, and a claim made before the
    restart is still refused."""
    server = RedisServer(tmp_path / "redis").start()
    store = RedisStore(server.url(), clock)
    try:
        assert store.claim("assertion", "redeemed", later(clock, 600))
        assert store.advance("totp-step", "carol", 7, later(clock))
        store.record_attempt("login-user", "bob")
        assert store.put_document("iam", seed="s", body="{}", expected=None) == 1

        server.stop()
        operations: list[Callable[[], object]] = [
            lambda: store.claim("assertion", "other", later(clock)),
            lambda: store.claimed("assertion", "redeemed"),
            lambda: store.advance("totp-step", "carol", 8, later(clock)),
            lambda: store.record_attempt("login-user", "bob"),
            lambda: store.attempts("login-user", "bob", 60),
            lambda: store.clear_attempts("login-user", "bob"),
            lambda: store.document_version("iam"),
            lambda: store.document("iam"),
            lambda: store.put_document("iam", seed="s", body="[]", expected=1),
            store.clear,
            store.persistence_warning,
        ]
        for operation in operations:
            started = time.monotonic()
            with pytest.raises(StoreError, match=r"^cannot reach the state store redis://"):
                operation()
            assert time.monotonic() - started < 5

        server.start()
        assert store.claimed("assertion", "redeemed")
        assert not store.claim("assertion", "redeemed", later(clock, 600))
        assert not store.advance("totp-step", "carol", 7, later(clock))
        assert store.attempts("login-user", "bob", 60)[0] == 1
        assert store.document("iam") == (1, "s", "{}")
        assert store.claim("assertion", "new", later(clock))
    finally:
        store.close()
        server.stop()


# --- the keyspace -----------------------------------------------------------------------------

_ENTRY = re.compile(r"idp:(claim|mark|attempts):[a-z][a-z0-9-]*:[0-9a-f]{64}|idp:doc:[a-z0-9-]+")


def test_keys_are_digests_under_the_prefix(store: RedisStore, raw: redis.Redis,
                                           clock: FixedClock) -> None:
    secret = "secret-looking-assertion-id"
    long = "m" * 250_000
    assert store.claim("assertion", secret, later(clock))
    assert store.advance("totp-step", "carol", 1, later(clock))
    store.record_attempt("login-user", "mallory")
    store.record_attempt("login-user", long)
    store.put_document("iam", seed="s", body="{}", expected=None)
    names = sorted(raw.scan_iter(match="*"))
    assert len(names) == 5
    for name in names:
        assert name.startswith(PREFIX) and _ENTRY.fullmatch(name), name
        for word in (secret, "carol", "mallory", "mmmm"):
            assert word not in name
    dump = repr([raw.dump(name) for name in names])
    for word in (secret, "carol", "mallory", "mmmm"):
        assert word not in dump


def test_claims_marks_and_attempts_expire_in_redis_but_documents_do_not(
        store: RedisStore, raw: redis.Redis, clock: FixedClock) -> None:
    assert store.claim("assertion", "id-1", later(clock, 600))
    assert store.claim("assertion", "past", clock.now() - dt.timedelta(hours=30))
    assert store.advance("totp-step", "carol", 1, later(clock, 90))
    store.record_attempt("login-user", "bob")
    store.put_document("iam", seed="s", body="{}", expected=None)
    ttl: dict[str, list[int]] = {}
    for name in raw.scan_iter(match="*"):
        ttl.setdefault(name.split(":")[1], []).append(raw.ttl(name))
    past, live = sorted(ttl["claim"])
    assert 0 < past <= 5, "an entry already past its grace still gets a few seconds"
    assert DAY + 590 <= live <= DAY + 600, "until - now + a day of grace"
    assert [DAY + 80 <= t <= DAY + 90 for t in ttl["mark"]] == [True]
    assert [2 * DAY - 10 <= t <= 2 * DAY for t in ttl["attempts"]] == [True]
    assert ttl["doc"] == [-1], "documents never expire"


def test_the_clock_not_redis_decides_what_expired(store: RedisStore,
                                                  clock: FixedClock) -> None:
    """The simulator moves its clock: a claim ends at the clock's ``until``, not Redis's."""
    assert store.claim("assertion", "id-1", later(clock, 60))
    clock.advance(3600)
    assert not store.claimed("assertion", "id-1")
    assert store.claim("assertion", "id-1", later(clock, 60))
    clock.advance(-3600)
    assert store.claimed("assertion", "id-1"), "claimed again until an hour later"


def test_clear_leaves_keys_outside_the_prefix_alone(store: RedisStore, raw: redis.Redis,
                                                    clock: FixedClock) -> None:
    raw.set("app:session", "1")
    raw.set("idpx", "1")
    raw.set("IDP:upper", "1")
    for n in range(1200):  # more than one SCAN batch
        store.claim("assertion", f"id-{n}", later(clock))
    store.put_document("iam", seed="s", body="{}", expected=None)
    store.clear()
    assert sorted(raw.scan_iter(match="*")) == ["IDP:upper", "app:session", "idpx"]
    assert store.claim("assertion", "id-1", later(clock))


def test_a_wrong_type_under_a_key_is_a_store_error(store: RedisStore, raw: redis.Redis,
                                                   clock: FixedClock) -> None:
    """Whatever the server answers, callers see StoreError (a 503), never a redis-py error."""
    store.put_document("iam", seed="s", body="{}", expected=None)
    raw.delete("idp:doc:iam")
    raw.set("idp:doc:iam", "not a hash")
    with pytest.raises(StoreError, match=r"^the state store redis://\S+ refused the operation: "
                                         r"WRONGTYPE"):
        store.document("iam")


# --- durability -------------------------------------------------------------------------------


def test_no_warning_for_a_server_with_an_append_only_file(store: RedisStore) -> None:
    assert store.persistence_warning() is None


FORGETS = ("the state store {url} keeps neither an append-only file nor snapshots: "
           "redemptions, one-time codes and IAM changes would be forgotten if it restarts; "
           "run it with --appendonly yes")
EVICTS = ("the state store {url} evicts keys when full (maxmemory-policy volatile-lru): a "
          "redeemed assertion or a used one-time code could be accepted again; run it with "
          "--maxmemory-policy noeviction")
DURABLE_AOF = ("--save", "", "--appendonly", "yes")


@pytest.mark.parametrize(("arguments", "warning"), [
    (VOLATILE, FORGETS),
    (("--save", "900 1", "--appendonly", "no"), None),
    ((*VOLATILE, "--rename-command", "CONFIG", ""), None),
    ((*DURABLE_AOF, "--maxmemory", "64mb", "--maxmemory-policy", "volatile-lru"), EVICTS),
    ((*DURABLE_AOF, "--maxmemory", "64mb", "--maxmemory-policy", "noeviction"), None),
    ((*DURABLE_AOF, "--maxmemory-policy", "allkeys-lru"), None),  # no maxmemory: no eviction
], ids=["volatile", "snapshots", "no-config", "evicts", "noeviction", "no-maxmemory"])
def test_a_warning_when_the_server_could_lose_state(
        tmp_path: Path, clock: FixedClock, arguments: tuple[str, ...],
        warning: str | None) -> None:
    with RedisServer(tmp_path / "redis", persistence=arguments) as server:
        store = RedisStore(server.url(), clock)
        try:
            said = store.persistence_warning()
        finally:
            store.close()
    assert said == (None if warning is None else warning.format(url=server.url()))
