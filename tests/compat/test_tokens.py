"""``idp.compat.tokens``: sealed tokens a vendor surface hands out and gets back: bound to
their purpose, expiring on the injected clock, tamper-evident, length-capped, and (with
``redeem``) usable once across processes sharing the state store."""

from __future__ import annotations

import base64
import json

import pytest

from idp.compat.tokens import MAX_TOKEN_CHARS, Sealer
from idp.store import SqliteStore

SECRET = "install-session-secret"


@pytest.fixture
def sealer(clock, store) -> Sealer:
    return Sealer(SECRET, clock, store)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _body(token: str) -> dict:
    text = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))


def _flip(text: str, index: int) -> str:
    """``text`` with one base64url character replaced by another."""
    old = text[index]
    new = "A" if old != "A" else "B"
    return text[:index] + new + text[index + 1:]


# --- open -------------------------------------------------------------------------------------


def test_a_token_opens_to_its_data(sealer):
    data = {"username": "bob", "n": 3, "nested": {"list": [1, "two", None]}, "ok": True}
    token = sealer.seal("login", data, 60)
    assert isinstance(token, str) and token.count(".") == 1
    assert sealer.open("login", token) == data


def test_open_hands_out_a_copy(sealer):
    token = sealer.seal("login", {"a": 1}, 60)
    sealer.open("login", token)["a"] = 2
    assert sealer.open("login", token) == {"a": 1}


def test_two_seals_of_the_same_data_differ(sealer):
    """Each token carries a random nonce (what ``redeem`` claims)."""
    first, second = (sealer.seal("login", {"a": 1}, 60) for _ in range(2))
    assert first != second
    assert _body(first)["n"] != _body(second)["n"]


def test_a_token_for_one_purpose_is_nothing_for_another(sealer):
    token = sealer.seal("mfa-step", {"username": "carol"}, 60)
    assert sealer.open("login", token) is None
    assert sealer.redeem("login", token) is None
    assert sealer.open("mfa-step", token) == {"username": "carol"}


def test_a_forged_purpose_in_the_body_does_not_help(sealer):
    """Rewriting the purpose (and re-encoding the body) breaks the MAC."""
    token = sealer.seal("mfa-step", {"username": "carol"}, 60)
    body = _body(token)
    body["p"] = "login"
    forged = _b64(json.dumps(body, separators=(",", ":"), sort_keys=True).encode()) \
        + "." + token.split(".")[1]
    assert sealer.open("login", forged) is None
    assert sealer.open("mfa-step", forged) is None


def test_another_install_cannot_open_or_forge_tokens(clock, store):
    ours, theirs = Sealer(SECRET, clock, store), Sealer("another-secret", clock, store)
    assert ours.open("login", theirs.seal("login", {"username": "alice"}, 60)) is None
    assert theirs.open("login", ours.seal("login", {"username": "alice"}, 60)) is None


def test_a_secret_as_text_or_bytes_is_the_same_install(clock):
    token = Sealer(SECRET, clock).seal("login", {"a": 1}, 60)
    assert Sealer(SECRET.encode("utf-8"), clock).open("login", token) == {"a": 1}


def test_a_hand_made_token_without_the_key_is_refused(sealer):
    body = _b64(json.dumps({"p": "login", "e": 4_000_000_000, "n": "x", "d": {"username":
                                                                                "alice"}}).encode())
    for mac in ("", _b64(b"\0" * 32), _b64(b"forged")):
        assert sealer.open("login", f"{body}.{mac}") is None


@pytest.mark.parametrize("where", ["body-start", "body-end", "mac-start", "mac-end"])
def test_a_tampered_token_is_refused(sealer, where):
    token = sealer.seal("login", {"username": "bob", "mfa": False}, 60)
    body, mac = token.split(".")
    tampered = {
        "body-start": f"{_flip(body, 0)}.{mac}",
        "body-end": f"{_flip(body, len(body) - 2)}.{mac}",
        "mac-start": f"{body}.{_flip(mac, 0)}",
        "mac-end": f"{body}.{_flip(mac, len(mac) - 2)}",
    }[where]
    assert tampered != token
    assert sealer.open("login", tampered) is None
    assert sealer.redeem("login", tampered) is None


def test_changed_data_with_the_old_mac_is_refused(sealer):
    token = sealer.seal("login", {"username": "bob", "mfa": False}, 60)
    body = _body(token)
    body["d"]["username"] = "alice"
    forged = _b64(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
    assert sealer.open("login", f"{forged}.{token.split('.')[1]}") is None


@pytest.mark.parametrize("token", [
    None, 42, 4.2, b"bytes.token", ["a.b"], {"token": "a.b"}, True,
    "", ".", "..", "a.b.c", "no-dot-at-all", "a.", ".b",
    "!!!.###", "é.é", "a" * 5 + "." + "b" * 5, "ab=c.de==",
])
def test_anything_that_is_not_a_genuine_token_is_refused(sealer, token):
    assert sealer.open("login", token) is None
    assert sealer.redeem("login", token) is None
    assert sealer.used("login", token) is False


def test_a_token_with_a_dot_added_is_refused(sealer):
    token = sealer.seal("login", {"a": 1}, 60)
    assert sealer.open("login", token + ".") is None
    assert sealer.open("login", "." + token) is None


# --- expiry ----------------------------------------------------------------------------------


def test_a_token_lasts_its_ttl_on_the_injected_clock(sealer, clock):
    token = sealer.seal("login", {"a": 1}, 300)
    clock.advance(299)
    assert sealer.open("login", token) == {"a": 1}
    clock.advance(1)
    assert sealer.open("login", token) is None
    assert sealer.redeem("login", token) is None
    clock.advance(10_000)
    assert sealer.open("login", token) is None


def test_expiry_counts_from_the_instant_the_clock_read_when_sealing(clock, store):
    """Expiry is the sealing clock's: a token sealed when the clock read later stays valid
    until that later instant plus the ttl, not for ``ttl`` of wall time."""
    sealer = Sealer(SECRET, clock, store)
    clock.advance(3600)
    token = sealer.seal("login", {"a": 1}, 60)
    clock.advance(-3600)
    assert sealer.open("login", token) == {"a": 1}
    clock.advance(3600 + 60)
    assert sealer.open("login", token) is None


def test_a_zero_ttl_token_is_born_expired(sealer):
    assert sealer.open("login", sealer.seal("login", {"a": 1}, 0)) is None


# --- length cap --------------------------------------------------------------------------------


def _sealed_of_length(sealer: Sealer, length: int) -> str:
    """A genuine token exactly ``length`` characters long (padding grown one by one)."""
    for pad in range(length):
        token = sealer.seal("login", {"pad": "x" * pad}, 60)
        if len(token) == length:
            return token
        if len(token) > length:
            break
    pytest.fail(f"no token of exactly {length} characters")  # pragma: no cover


def test_a_token_up_to_the_cap_opens_and_one_longer_is_refused_unread(sealer):
    at_cap = _sealed_of_length(sealer, MAX_TOKEN_CHARS)
    assert sealer.open("login", at_cap) is not None
    over = sealer.seal("login", {"pad": "x" * 4000}, 60)
    assert len(over) > MAX_TOKEN_CHARS
    assert sealer.open("login", over) is None
    assert sealer.redeem("login", over) is None
    assert sealer.open("login", "A" * 10 * MAX_TOKEN_CHARS + ".A") is None


# --- redeem, used ----------------------------------------------------------------------------


def test_redeem_works_once(sealer):
    token = sealer.seal("session-token", {"username": "bob"}, 300)
    assert sealer.used("session-token", token) is False
    assert sealer.redeem("session-token", token) == {"username": "bob"}
    assert sealer.used("session-token", token) is True
    assert sealer.redeem("session-token", token) is None
    assert sealer.redeem("session-token", token) is None


def test_redeeming_one_token_leaves_the_others(sealer):
    first = sealer.seal("session-token", {"i": 1}, 300)
    second = sealer.seal("session-token", {"i": 1}, 300)
    assert sealer.redeem("session-token", first) == {"i": 1}
    assert sealer.used("session-token", second) is False
    assert sealer.redeem("session-token", second) == {"i": 1}


def test_a_redeemed_token_still_opens(sealer):
    """``open`` reads; only ``redeem`` is one-time (a login cookie is opened many times)."""
    token = sealer.seal("session-token", {"a": 1}, 300)
    sealer.redeem("session-token", token)
    assert sealer.open("session-token", token) == {"a": 1}


def test_redeeming_under_another_purpose_does_not_use_it_up(clock, store):
    sealer = Sealer(SECRET, clock, store)
    token = sealer.seal("flow", {"a": 1}, 300)
    assert sealer.redeem("other", token) is None
    assert sealer.used("flow", token) is False
    assert sealer.redeem("flow", token) == {"a": 1}


def test_redeem_is_once_across_processes_sharing_the_state_file(tmp_path, clock):
    """Two workers (two sealers, two connections to one SQLite file): one wins."""
    path = tmp_path / "shared.sqlite3"
    first_store, second_store = SqliteStore(path, clock), SqliteStore(path, clock)
    try:
        worker_a = Sealer(SECRET, clock, first_store)
        worker_b = Sealer(SECRET, clock, second_store)
        token = worker_a.seal("session-token", {"username": "bob"}, 300)
        results = [worker_b.redeem("session-token", token),
                   worker_a.redeem("session-token", token)]
        assert results == [{"username": "bob"}, None]
        assert worker_a.used("session-token", token) and worker_b.used("session-token", token)
    finally:
        first_store.close()
        second_store.close()


def test_redeem_is_once_across_a_restart(tmp_path, clock):
    path = tmp_path / "state.sqlite3"
    before = SqliteStore(path, clock)
    token = Sealer(SECRET, clock, before).seal("session-token", {"a": 1}, 300)
    assert Sealer(SECRET, clock, before).redeem("session-token", token) == {"a": 1}
    before.close()
    after = SqliteStore(path, clock)
    try:
        assert Sealer(SECRET, clock, after).redeem("session-token", token) is None
    finally:
        after.close()


def test_without_a_store_every_genuine_token_redeems_and_none_is_used(clock):
    sealer = Sealer(SECRET, clock)
    token = sealer.seal("session-token", {"a": 1}, 300)
    assert sealer.redeem("session-token", token) == {"a": 1}
    assert sealer.redeem("session-token", token) == {"a": 1}
    assert sealer.used("session-token", token) is False


def test_used_is_false_for_a_token_that_expired(sealer, clock):
    token = sealer.seal("session-token", {"a": 1}, 60)
    sealer.redeem("session-token", token)
    clock.advance(60)
    assert sealer.used("session-token", token) is False  # unreadable now, like any stranger
