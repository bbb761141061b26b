"""The console's choices, as pure functions: where RelayState may send a new session, and how
an account is labelled on "Select a role" (routes: ``tests/web/test_console_routes.py``)."""

from __future__ import annotations

import pytest

from idp.aws.console import AccountChoice, console_target
from tests.support.demo import PROD


@pytest.mark.parametrize(("relay_state", "target"), [
    (None, "/aws/console"),
    ("", "/aws/console"),
    ("/aws/console", "/aws/console"),
    ("/aws/console/ec2/home?region=eu-west-1", "/aws/console/ec2/home?region=eu-west-1"),
    ("https://console.aws.amazon.com/", "/aws/console"),
    ("https://console.aws.amazon.com/s3/home", "/aws/console/s3/home"),
    ("https://eu-west-1.console.aws.amazon.com/ec2/home?region=eu-west-1",
     "/aws/console/ec2/home?region=eu-west-1"),
    ("https://us-gov-west-1.console.aws.amazon.com/iam", "/aws/console/iam"),
    ("https://evil.example/", "/aws/console"),
    ("http://console.aws.amazon.com/s3", "/aws/console"),
    ("https://console.aws.amazon.com.evil.example/s3", "/aws/console"),
    ("https://evil.example/?x=https://console.aws.amazon.com/", "/aws/console"),
    ("https://user@console.aws.amazon.com/s3", "/aws/console"),
    ("https://console.aws.amazon.com:8443/s3", "/aws/console"),
    ("//evil.example/aws/console", "/aws/console"),
    ("/aws/consolexyz", "/aws/console"),
    ("/aws/console/../../idp/logout", "/aws/console"),
    ("/aws/console/%2e%2e/idp", "/aws/console"),
    ("/aws/console/a\\b", "/aws/console"),
    ("/idp/logout", "/aws/console"),
    ("javascript:alert(1)", "/aws/console"),
    ("https://console.aws.amazon.com:0443/s3", "/aws/console/s3"),
    ("https://console.aws.amazon.com\\@evil.example/s3", "/aws/console"),
    (" https://console.aws.amazon.com/s3", "/aws/console/s3"),
    ("https://console.aws.amazon.com/s3/" + "x" * 1000, "/aws/console"),
    ("https://s3.console.aws.amazon.com/s3/buckets/logs?region=eu-west-1",
     "/aws/console/s3/buckets/logs?region=eu-west-1"),
    ("https://console.aws.amazon.com/iam/home#/roles/Admin", "/aws/console/iam/home#/roles/Admin"),
    ("/aws/console/iam/home?region=us-east-1#/users",
     "/aws/console/iam/home?region=us-east-1#/users"),
    ("https://console.aws.amazon.com/iam/home#<script>", "/aws/console"),
    ("https://evil-.console.aws.amazon.com/s3", "/aws/console"),
])
def test_console_target(relay_state, target):
    """Only console paths and AWS console URLs become targets; everything else is home."""
    assert console_target(relay_state) == target


def test_account_label_without_alias():
    """An account without alias is shown as its ID alone (as saml2aws's captured AWS page,
    testdata/saml.html, shows "Account: 000000000002")."""
    assert AccountChoice(account_id=PROD, alias=None, roles=()).label == PROD
    assert AccountChoice(account_id=PROD, alias="corp-prod", roles=()).label == (
        f"corp-prod ({PROD})")
