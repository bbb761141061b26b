"""The console session cookie: sealed by us, ends with its credentials or at sign-out."""

from __future__ import annotations

import pytest

from idp.aws.console_session import ConsoleSession, ConsoleSessions
from idp.aws.credentials import CredentialIssuer

ROLE = "arn:aws:iam::111122223333:role/ReadOnly"
SECRET = "s" * 48


@pytest.fixture
def credentials(clock) -> CredentialIssuer:
    return CredentialIssuer(b"c" * 32, clock)


@pytest.fixture
def sessions(store, credentials, clock) -> ConsoleSessions:
    return ConsoleSessions(SECRET, store=store, credentials=credentials, clock=clock)


@pytest.fixture
def session(credentials) -> ConsoleSession:
    creds, claims = credentials.issue(ROLE, "bob@corp.example", 3600)
    return ConsoleSession(access_key_id=creds.access_key_id, session_token=creds.session_token,
                          expires=claims.expiration, name_id="bob-id", issuer="http://idp.test",
                          account_alias="corp-prod", deep_link="/aws/console/s3")


def test_seal_and_open_round_trip(sessions, session):
    cookie, max_age = sessions.seal(session)
    assert max_age == 3600
    assert sessions.open(cookie) == session
    claims = sessions.claims(session)
    assert claims is not None and claims.session_name == "bob@corp.example"


@pytest.mark.parametrize("cookie", [None, "", "garbage", "e30.aaaa.bbbb"])
def test_anything_else_is_no_session(sessions, cookie):
    assert sessions.open(cookie) is None


def test_another_install_cannot_read_or_forge_it(store, credentials, clock, sessions, session):
    cookie, _ = sessions.seal(session)
    other = ConsoleSessions("o" * 48, store=store, credentials=credentials, clock=clock)
    assert other.open(cookie) is None
    assert sessions.open(other.seal(session)[0]) is None


def test_a_tampered_cookie_is_refused(sessions, session):
    cookie, _ = sessions.seal(session)
    assert sessions.open(cookie[:-2] + ("AA" if cookie[-2:] != "AA" else "BB")) is None


def test_sign_out_ends_every_copy(sessions, session):
    cookie, _ = sessions.seal(session)
    sessions.end(session)
    assert sessions.open(cookie) is None


def test_the_session_ends_with_its_credentials(sessions, session, clock):
    cookie, _ = sessions.seal(session)
    clock.advance(3600)
    opened = sessions.open(cookie)
    assert opened is not None and sessions.claims(opened) is None


def test_the_sign_out_token_is_bound_to_the_session(sessions, session, credentials):
    token = sessions.csrf_token(session)
    assert sessions.check_csrf(session, token)
    creds, claims = credentials.issue(ROLE, "alice@corp.example", 3600)
    other = ConsoleSession(access_key_id=creds.access_key_id, session_token=creds.session_token,
                           expires=claims.expiration)
    assert not sessions.check_csrf(other, token)
    assert not sessions.check_csrf(session, None)
    assert not sessions.check_csrf(session, "not-a-token")


def test_the_cookie_fits_a_browser_whatever_the_assertion_held(sessions, session):
    """A NameID and issuer of 50,000 characters (a real IdP may send them) and the longest
    deep link still give a cookie under 4 KiB: names are shortened for display, and a deep
    link that does not fit is dropped rather than the cookie."""
    from dataclasses import replace

    from idp.aws.console import MAX_DEEP_LINK
    from idp.aws.console_session import MAX_COOKIE_BYTES, MAX_SHOWN_CHARS

    huge = replace(session, name_id="n" * 50_000, issuer="https://idp.example/" + "i" * 50_000,
                   deep_link="/aws/console/" + "d" * (MAX_DEEP_LINK - 13))
    cookie, _ = sessions.seal(huge)
    assert len(cookie) <= MAX_COOKIE_BYTES
    opened = sessions.open(cookie)
    assert opened is not None and opened.access_key_id == session.access_key_id
    assert len(opened.name_id) == MAX_SHOWN_CHARS and opened.name_id.endswith("\u2026")
    assert opened.issuer.startswith("https://idp.example/")
