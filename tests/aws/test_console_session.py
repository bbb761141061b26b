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


# --- IAM users, switched roles and the history ------------------------------------------------

USER = "arn:aws:iam::444455556666:user/ops"
USER_ID = "AIDAEXAMPLEEXAMPLE000"
DEPLOYER = "arn:aws:iam::444455556666:role/Deployer"


def _role(credentials, name: str, display: str, color: str | None = "ff9900"):
    from idp.aws.console_session import RoleLink, SwitchedRole

    creds, claims = credentials.issue(f"arn:aws:iam::444455556666:role/{name}", "ops", 3600)
    return SwitchedRole(access_key_id=creds.access_key_id, session_token=creds.session_token,
                        expires=claims.expiration,
                        link=RoleLink(account="444455556666", role_name=name,
                                      display_name=display, color=color))


def test_an_iam_user_session_carries_mfa(sessions, clock):
    session = sessions.sign_in_user(user_arn=USER, user_id=USER_ID, account_alias="corp-dev",
                                    mfa_at=clock.now(), duration=43_200)
    assert session.iam_user and session.user_name == "ops" and session.mfa
    claims = sessions.claims(session)
    assert claims is not None and claims.assumed_role_arn == USER
    assert claims.mfa_at is not None
    cookie, max_age = sessions.seal(session)
    assert max_age == 43_200
    assert sessions.open(cookie) == session
    plain = sessions.sign_in_user(user_arn=USER, user_id=USER_ID, account_alias=None,
                                  mfa_at=None, duration=43_200)
    assert not plain.mfa and sessions.claims(plain).mfa_at is None


def test_a_switch_acts_with_the_role_and_back_restores_the_user(sessions, credentials, clock):
    session = sessions.sign_in_user(user_arn=USER, user_id=USER_ID, account_alias="corp-dev",
                                    mfa_at=None, duration=43_200)
    role = _role(credentials, "Deployer", "Deploy")
    switched = session.switched(role)
    assert switched.current_credentials == (role.access_key_id, role.session_token)
    assert sessions.role_claims(switched).assumed_role_arn.endswith("Deployer/ops")
    assert sessions.secret_access_key(switched) == credentials.secret_for(role.access_key_id)
    assert sessions.open(sessions.seal(switched)[0]) == switched
    back = switched.back()
    assert back.role is None and back.history == switched.history
    assert back.current_credentials == (session.access_key_id, session.session_token)
    # the form token stays bound to the sign-in across switches
    assert sessions.check_csrf(switched, sessions.csrf_token(session))


def test_the_history_is_five_most_recent_distinct_roles(sessions, credentials):
    session = sessions.sign_in_user(user_arn=USER, user_id=USER_ID, account_alias=None,
                                    mfa_at=None, duration=43_200)
    for i in range(7):
        session = session.switched(_role(credentials, f"Role{i}", f"R{i}"))
    assert [h.display_name for h in session.history] == ["R6", "R5", "R4", "R3", "R2"]
    session = session.switched(_role(credentials, "role4", "again"))  # names fold case
    assert [h.display_name for h in session.history] == ["again", "R6", "R5", "R3", "R2"]


def test_sign_out_ends_the_role_too(sessions, credentials, store):
    session = sessions.sign_in_user(user_arn=USER, user_id=USER_ID, account_alias=None,
                                    mfa_at=None, duration=43_200)
    switched = session.switched(_role(credentials, "Deployer", "D"))
    cookie, _ = sessions.seal(switched)
    sessions.end(switched)
    assert sessions.open(cookie) is None
    assert store.claimed("console-logout", switched.role.access_key_id)


def test_a_full_session_always_fits_the_cookie(sessions, credentials):
    """Five 64-character display names, a long role and long SAML facts still fit; the
    seal drops the oldest history first, never the credentials."""
    from idp.aws.console_session import MAX_COOKIE_BYTES

    creds, claims = credentials.issue(ROLE, "x" * 64, 3600)
    session = ConsoleSession(access_key_id=creds.access_key_id,
                             session_token=creds.session_token, expires=claims.expiration,
                             name_id="n" * 5000, issuer="i" * 5000,
                             deep_link="/aws/console/" + "d" * 1000)
    for i in range(5):
        session = session.switched(_role(credentials, f"{i}" + "r" * 63, "\u00e9" * 64,
                                         "abcdef"))
    cookie, _ = sessions.seal(session)
    assert len(cookie) <= MAX_COOKIE_BYTES
    opened = sessions.open(cookie)
    assert opened is not None and opened.role == session.role
    assert opened.access_key_id == session.access_key_id


@pytest.mark.parametrize("edit", [
    {"role": "x"}, {"role": {"k": "a"}}, {"history": "x"}, {"history": [["a", "b"]]},
    {"history": [[1, 2, 3, 4]]}, {"mfa": "yes"}, {"user_arn": 5},
    {"role": {"k": "a", "t": "b", "e": "2030-01-01T00:00:00", "l": ["a", "b", "c", None]}},
])
def test_cookie_contents_we_did_not_write_are_no_session(session, edit):
    data = {**session.to_json(), **edit}
    assert ConsoleSession.from_json(data) is None
