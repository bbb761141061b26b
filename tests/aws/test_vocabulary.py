"""AWS's value rules, shared by the IdP (release) and the console and STS (claims)."""

from __future__ import annotations

import pytest

from idp.aws.vocabulary import (
    is_aws_console_host,
    is_aws_host,
    is_session_name,
    is_source_identity,
    is_tag_key,
    is_tag_value,
    parse_role_value,
)

ROLE = "arn:aws:iam::111122223333:role/Admin"
PROVIDER = "arn:aws:iam::111122223333:saml-provider/CorpIdP"


@pytest.mark.parametrize(("value", "ok"), [
    ("alice@corp.example", True), ("a=b,c.d+e-f_g", True), ("x" * 64, True),
    ("a", False), ("x" * 65, False), ("has space", False), ("bob\n", False),
    ("éclair", False), ("", False),
])
def test_session_names(value, ok):
    """[a-zA-Z_0-9+=,.@-]{2,64}, all of the value (a trailing newline is not ignored)."""
    assert is_session_name(value) is ok


def test_source_identity_may_not_start_with_aws():
    assert is_source_identity("alice")
    assert not is_source_identity("aws:alice")


@pytest.mark.parametrize(("key", "ok"), [
    ("Team", True), ("cost-center/2024", True), ("Équipe", True), ("with space", True),
    ("nbsp\u00a0key", True), ("x" * 128, True),
    ("", False), ("x" * 129, False), ("aws:x", False), ("AWS:x", False), ("tab\tkey", False),
    ("vt\x0bkey", False), ("new\nline", False), ("semi;colon", False), ("Team\n", False),
])
def test_tag_keys(key, ok):
    """Letters, digits, Unicode separators and _.:/=+-@; never control characters or aws:."""
    assert is_tag_key(key) is ok


@pytest.mark.parametrize(("value", "ok"), [
    ("", True), ("platform", True), ("a b", True), ("x" * 256, True),
    ("x" * 257, False), ("a\tb", False), ("a\x1cb", False), ("a\u0085b", False),
])
def test_tag_values(value, ok):
    assert is_tag_value(value) is ok


@pytest.mark.parametrize("value", [f"{ROLE},{PROVIDER}", f"{PROVIDER},{ROLE}",
                                   f" {ROLE} , {PROVIDER} "])
def test_role_values_in_either_order(value):
    grant = parse_role_value(value)
    assert grant is not None and (grant.role_arn, grant.provider_arn) == (ROLE, PROVIDER)


@pytest.mark.parametrize("value", [ROLE, f"{ROLE},{ROLE}", f"{ROLE},{PROVIDER},{ROLE}", "", ","])
def test_role_values_that_are_not_one_pair(value):
    assert parse_role_value(value) is None


@pytest.mark.parametrize(("host", "ok"), [
    ("console.aws.amazon.com", True), ("us-east-1.console.aws.amazon.com", True),
    ("us-gov-west-1.console.aws.amazon.com", True), ("evil.example", False),
    ("console.aws.amazon.com.evil.example", False), ("console.aws.amazon.com\n", False),
])
def test_console_hosts(host, ok):
    assert is_aws_console_host(host) is ok


@pytest.mark.parametrize(("host", "allowed"), [
    ("console.aws.amazon.com", True),
    ("eu-west-1.console.aws.amazon.com", True),
    ("appstream2.eu-west-1.aws.amazon.com", True),
    ("aws.amazon.com", True),
    ("console.amazonaws.cn", True),
    ("console.amazonaws-us-gov.com", True),
    ("evil.s3.amazonaws.com", False),
    ("abc123.execute-api.us-east-1.amazonaws.com", False),
    ("my-lb-1.eu-west-1.elb.amazonaws.com", False),
    ("bucket.s3.cn-north-1.amazonaws.com.cn", False),
    ("aws.amazon.com.evil.example", False),
    ("evilaws.amazon.com", False),
])
def test_aws_hosts_are_aws_operated_consoles_only(host, allowed):
    """IdP-initiated RelayState may go to AWS's consoles, never to hosts customers control."""
    assert is_aws_host(host) is allowed
