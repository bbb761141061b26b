"""The directory's workloads and OIDC entries: ``instances:``, ``tasks:``, ``oidc_clients:``,
per-account ``oidc_providers:`` and the ``${idp:oidc}`` placeholder (issue 13)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from idp.directory.loader import check_oidc_url
from idp.directory.passwords import verify_password
from idp.errors import ConfigError
from tests.support.demo import DEV, PROD, edited_demo

Edit = Callable[[dict[str, Any]], None]


def _refused(edit: Edit) -> str:
    with pytest.raises(ConfigError) as caught:
        edited_demo(edit)
    return str(caught.value)


def test_the_placeholder_is_the_issuer_of_the_base_url_the_directory_is_read_with():
    directory = edited_demo(lambda d: None, aws_acs="http://127.0.0.1:9999/base/aws/saml")
    assert directory.oidc_issuer == "http://127.0.0.1:9999/base/oidc"
    _, role = directory.role(f"arn:aws:iam::{DEV}:role/CiDeploy")
    text = str(role.trust_policy.source)
    assert "${idp:oidc}" not in text
    assert "oidc-provider/127.0.0.1:9999/base/oidc" in text
    assert "127.0.0.1:9999/base/oidc:sub" in text


def test_an_instance_without_role_and_with_its_own_settings():
    def edit(data: dict[str, Any]) -> None:
        data["instances"]["i-0abc1234"] = {
            "account": PROD, "http_tokens": "optional", "hop_limit": 1, "hops": 2,
            "region": "eu-west-1", "availability_zone": "eu-west-1c"}

    instance = edited_demo(edit).instances["i-0abc1234"]
    assert instance.role_arn is None and instance.profile_name is None
    assert (instance.http_tokens, instance.hop_limit, instance.hops) == ("optional", 1, 2)
    assert (instance.region, instance.zone) == ("eu-west-1", "eu-west-1c")


def test_a_role_named_by_name_is_the_accounts_role():
    def edit(data: dict[str, Any]) -> None:
        data["tasks"]["other"] = {"account": DEV, "role": "Billing"}

    task = edited_demo(edit).tasks["other"]
    assert task.role_arn == f"arn:aws:iam::{DEV}:role/Billing"
    assert task.authorization_token is None


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d["instances"].update({"i-XYZ": {"account": PROD}}), "must be i- and 8 or 17"),
    (lambda d: d["instances"].update({"i-0abc1234": {}}), "needs account"),
    (lambda d: d["instances"].update({"i-0abc1234": {"account": "123456789012"}}),
     "needs account"),
    (lambda d: d["instances"].update({"i-0abc1234": {"account": PROD, "role": "Billing"}}),
     "is not a role of 111122223333"),
    (lambda d: d["instances"].update({"i-0abc1234": {"account": PROD, "http_tokens": "v1"}}),
     "http_tokens must be required or optional"),
    (lambda d: d["instances"].update({"i-0abc1234": {"account": PROD, "hop_limit": 0}}),
     "hop_limit"),
    (lambda d: d["instances"].update({"i-0abc1234": {"account": PROD, "region": "moon"}}),
     "is not a region name"),
    (lambda d: d["instances"].update({"i-0abc1234": {"account": PROD, "colour": "red"}}),
     "unknown key 'colour'"),
    (lambda d: d["tasks"].update({"t": {"account": DEV}}), "needs role"),
    (lambda d: d["tasks"].update({"bad/id": {"account": DEV, "role": "Billing"}}),
     "task id 'bad/id'"),
    (lambda d: d["tasks"].update({"t": {"account": DEV, "role": "Billing",
                                        "authorization_token": "a\nb"}}), "no line breaks"),
    (lambda d: d["oidc_clients"].update({"c": {}}), "needs redirect_uris"),
    (lambda d: d["oidc_clients"].update({"c": {"redirect_uris": ["javascript:alert(1)"]}}),
     "absolute http(s) URL"),
    (lambda d: d["oidc_clients"].update({"c": {"redirect_uris": ["https://a.example/#x"]}}),
     "without a fragment"),
    (lambda d: d["oidc_clients"].update({"c": {"redirect_uris": ["https://a.example/cb#"]}}),
     "without a fragment"),
    (lambda d: d["oidc_clients"].update({"c": {"redirect_uris": ["https://a.example/"],
                                               "secret": "s", "secret_hash": "x"}}),
     "not both"),
    (lambda d: d["oidc_clients"].update({"c d": {"redirect_uris": ["https://a.example/"]}}),
     "no spaces"),
    (lambda d: d["accounts"][DEV]["oidc_providers"].append(
        {"url": "http://token.example.com"}), "http:// only on a loopback host"),
    (lambda d: d["accounts"][DEV]["oidc_providers"].append(
        {"url": "https://token.example.com/?x=1"}), "query"),
    (lambda d: d["accounts"][DEV]["oidc_providers"].append(
        {"url": "https://t.example", "thumbprints": ["abc"]}), "40 hex digits"),
    (lambda d: d["accounts"][DEV]["oidc_providers"].append({}), "listed twice"),
])
def test_bad_entries_are_refused_with_the_line_and_the_reason(edit: Edit, message: str):
    assert message in _refused(edit)


def test_a_confidential_clients_secret_is_kept_only_as_a_hash():
    def edit(data: dict[str, Any]) -> None:
        data["oidc_clients"]["ci"] = {"redirect_uris": ["https://ci.example/cb"],
                                      "secret": "s3cret-value"}

    client = edited_demo(edit).oidc_clients["ci"]
    assert not client.public and client.secret_hash is not None
    assert "s3cret-value" not in client.secret_hash and "s3cret" not in repr(client)
    assert verify_password("s3cret-value", client.secret_hash)
    assert not verify_password("s3cret-valuf", client.secret_hash)


@pytest.mark.parametrize(("url", "ok"), [
    ("https://token.actions.githubusercontent.com", True),
    ("https://oidc.eks.us-east-1.amazonaws.com/id/ABC/", True),
    ("http://127.0.0.1:8000/oidc", True),
    ("http://localhost:9000", True),
    ("http://[::1]:8000/oidc", True),
    ("http://10.0.0.1/oidc", False),
    ("ftp://127.0.0.1/", False),
    ("https://", False),
    ("https://user:pw@host.example/", False),
    ("https://" + "a" * 250 + ".example", False),
])
def test_provider_urls_follow_iam_with_loopback_http_allowed(url: str, ok: bool):
    assert (check_oidc_url(url) is None) is ok
