"""Temporary credentials: formats, a stateless round trip, and the errors AWS gives for bad ones."""

from __future__ import annotations

import base64
import datetime as dt
import re

import pytest

from idp.aws.credentials import (
    MAX_SESSION_TOKEN_BYTES,
    CredentialIssuer,
    SessionClaims,
    role_unique_id,
)
from idp.aws.errors import AwsError
from idp.clock import FixedClock

SECRET = bytes(range(32))
ROLE = "arn:aws:iam::123456789012:role/path/to/Admin"


@pytest.fixture
def issuer(clock):
    return CredentialIssuer(SECRET, clock)


def test_round_trip_resolves_the_same_claims(issuer):
    """A token issued by one issuer resolves to exactly the claims it was issued with."""
    creds, claims = issuer.issue(ROLE, "alice@example.com", 3600, source_identity="alice")
    assert issuer.resolve(creds.access_key_id, creds.session_token) == claims
    assert claims.assumed_role_arn == (
        "arn:aws:sts::123456789012:assumed-role/Admin/alice@example.com")
    assert claims.assumed_role_id == f"{role_unique_id(ROLE)}:alice@example.com"
    assert claims.account == "123456789012"
    assert claims.source_identity == "alice"
    assert creds.expiration == claims.expiration


def test_another_worker_with_the_same_secret_resolves(issuer, clock):
    """A fresh issuer (another process, after a restart) given the same secret verifies the keys."""
    creds, claims = issuer.issue(ROLE, "bob", 900)
    other = CredentialIssuer(bytes(SECRET), clock)
    assert other.resolve(creds.access_key_id, creds.session_token) == claims
    assert other.secret_for(creds.access_key_id) == creds.secret_access_key


def test_another_secret_refuses(issuer, clock):
    """An issuer with a different install secret sees the token as forged."""
    creds, _ = issuer.issue(ROLE, "bob", 900)
    with pytest.raises(AwsError) as info:
        CredentialIssuer(b"x" * 32, clock).resolve(creds.access_key_id, creds.session_token)
    assert (info.value.code, info.value.http_status) == ("InvalidClientTokenId", 403)


def test_formats_match_aws(issuer):
    """ASIA + 16 base32 characters, a 40-character base64 secret, a base64 token under 4 KiB."""
    creds, _ = issuer.issue(ROLE, "a" * 64, 43200, source_identity="s" * 64)
    assert re.fullmatch(r"ASIA[A-Z2-7]{16}", creds.access_key_id)
    assert re.fullmatch(r"[A-Za-z0-9+/]{40}", creds.secret_access_key)
    assert len(creds.session_token.encode()) < MAX_SESSION_TOKEN_BYTES
    base64.b64decode(creds.session_token, validate=True)
    assert creds.secret_access_key not in repr(creds)
    assert creds.session_token not in repr(creds)


def test_longest_role_arn_still_fits(issuer):
    """Even a 2048-character role ARN (the model's maximum) gives a token under 4,096 bytes."""
    role = "arn:aws:iam::123456789012:role/" + "p/" * 1000 + "R" * 17
    assert len(role) == 2048
    creds, _ = issuer.issue(role, "a" * 64, 3600, source_identity="s" * 64)
    assert len(creds.session_token) < MAX_SESSION_TOKEN_BYTES


def test_access_keys_are_unique(issuer):
    """Two issues give two different access key IDs and secrets."""
    first, _ = issuer.issue(ROLE, "bob", 900)
    second, _ = issuer.issue(ROLE, "bob", 900)
    assert first.access_key_id != second.access_key_id
    assert first.secret_access_key != second.secret_access_key


def test_role_unique_id_is_stable_per_role():
    """The AROA id depends only on the role ARN: same role same id, other role other id."""
    value = role_unique_id(ROLE)
    assert re.fullmatch(r"AROA[A-Z2-7]{17}", value)
    assert role_unique_id(ROLE) == value
    assert role_unique_id(ROLE.replace("Admin", "ReadOnly")) != value


def test_expiration_is_clock_plus_duration_in_whole_seconds():
    """Expiration is the injected clock's time plus the duration, truncated to the second."""
    clock = FixedClock(dt.datetime(2026, 1, 15, 12, 0, 0, 750000, tzinfo=dt.UTC))
    creds, _ = CredentialIssuer(SECRET, clock).issue(ROLE, "bob", 900)
    assert creds.expiration == dt.datetime(2026, 1, 15, 12, 15, tzinfo=dt.UTC)


def flip(token: str, index: int) -> str:
    raw = bytearray(base64.b64decode(token))
    raw[index] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


@pytest.mark.parametrize("mutate", [
    pytest.param(lambda t: flip(t, 10), id="claims-byte"),
    pytest.param(lambda t: flip(t, -1), id="tag-byte"),
    pytest.param(lambda t: flip(t, 0), id="version-byte"),
    pytest.param(lambda t: t[:-8], id="truncated"),
    pytest.param(lambda t: "not base64!", id="garbage"),
    pytest.param(lambda t: "", id="empty"),
    pytest.param(lambda t: "QUFBQQ==", id="too-short"),
    pytest.param(lambda t: "é" + t, id="non-ascii"),
])
def test_tampered_token_is_invalid(issuer, mutate):
    """Any change to the token gives InvalidClientTokenId 403 with AWS's message."""
    creds, _ = issuer.issue(ROLE, "bob", 900)
    with pytest.raises(AwsError) as info:
        issuer.resolve(creds.access_key_id, mutate(creds.session_token))
    assert info.value.code == "InvalidClientTokenId"
    assert info.value.http_status == 403
    assert info.value.message == "The security token included in the request is invalid."


def test_token_of_another_key_is_invalid(issuer):
    """A genuine token presented with a different access key ID is refused."""
    first, _ = issuer.issue(ROLE, "bob", 900)
    second, _ = issuer.issue(ROLE, "bob", 900)
    with pytest.raises(AwsError) as info:
        issuer.resolve(second.access_key_id, first.session_token)
    assert (info.value.code, info.value.http_status) == ("InvalidClientTokenId", 403)


def test_expired_token(issuer, clock):
    """At the expiration instant the token is ExpiredToken 403; a second earlier it works."""
    creds, _ = issuer.issue(ROLE, "bob", 900)
    clock.advance(899)
    issuer.resolve(creds.access_key_id, creds.session_token)
    clock.advance(1)
    with pytest.raises(AwsError) as info:
        issuer.resolve(creds.access_key_id, creds.session_token)
    assert (info.value.code, info.value.http_status) == ("ExpiredToken", 403)
    assert info.value.message == "The security token included in the request is expired"


def test_partition_is_kept():
    """A role in another partition gets an assumed-role ARN in that partition."""
    claims = SessionClaims.for_role(
        access_key_id="ASIAAAAAAAAAAAAAAAAA", role_arn="arn:aws-cn:iam::123456789012:role/R",
        session_name="s1", expiration=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    assert claims.assumed_role_arn == "arn:aws-cn:sts::123456789012:assumed-role/R/s1"


@pytest.mark.parametrize("role", ["arn:aws:iam::123456789012:user/bob", "Admin",
                                  "arn:aws:iam::1234:role/R"])
def test_non_role_arn_is_refused(issuer, role):
    """Issuing for something that is not an IAM role ARN is a programming error."""
    with pytest.raises(ValueError, match="role ARN"):
        issuer.issue(role, "bob", 900)


def test_short_secret_is_refused(clock):
    """The install secret must be at least 32 bytes."""
    with pytest.raises(ValueError, match="32 bytes"):
        CredentialIssuer(b"short", clock)
