"""The IAM API's OpenID Connect provider operations through botocore's own serializer, signer
and parser, in process (``idp.aws.iam.ops_oidc``).

The seeded provider (the simulator's own issuer, in corp-dev), the full life cycle, AWS's
error codes and messages for bad URLs, thumbprints, client IDs, ARNs and quotas, tags,
authorization, a refused change leaving the state as it was, and STS's view of the same state.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.aws.iam.inproc import ADMINS, IamClient
from tests.support.demo import BASE_URL, DEV, PROD

SEEDED = f"arn:aws:iam::{DEV}:oidc-provider/idp.test/oidc"
PRINT_A = "9e99a48a9960b14926bb7f3b02e22da2b0ab7280"
PRINT_B = "6938FD4D98BAB03FAADB97B34396831E3780AEA1"


def arn_of(host_path: str, account: str = DEV) -> str:
    return f"arn:aws:iam::{account}:oidc-provider/{host_path}"


@pytest.fixture
def iam(client) -> IamClient:
    return IamClient(client, *ADMINS["dev"])


def refused(iam: IamClient, operation: str, **params: Any) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as exc:
        iam.call(operation, validate=False, **params)
    err = exc.value.response["Error"]
    return err["Code"], err["Message"], exc.value.response["ResponseMetadata"]["HTTPStatusCode"]


def snapshot(client) -> str:
    services = client.app.state.runtime.services
    return json.dumps(services.iam_api.iam.documents._current()[2], sort_keys=True)


def create(iam: IamClient, url: str, **params: Any) -> str:
    arn: str = iam.call("CreateOpenIDConnectProvider", Url=url, **params)[
        "OpenIDConnectProviderArn"]
    return arn


# --- the seeded provider ----------------------------------------------------------------


def test_the_seeded_provider_is_listed_and_readable(iam):
    assert BASE_URL == "http://idp.test"
    listed = iam.call("ListOpenIDConnectProviders")["OpenIDConnectProviderList"]
    assert listed == [{"Arn": SEEDED}]
    got = iam.call("GetOpenIDConnectProvider", OpenIDConnectProviderArn=SEEDED)
    assert got["Url"] == "idp.test/oidc"
    assert got["ClientIDList"] == ["sts.amazonaws.com"]
    assert got["ThumbprintList"] == []
    assert "Tags" not in got and got["CreateDate"].tzinfo is not None
    prod = IamClient(iam.client, *ADMINS["prod"])
    assert prod.call("ListOpenIDConnectProviders")["OpenIDConnectProviderList"] == []


# --- life cycle ----------------------------------------------------------------------------


def test_create_get_list_update_tag_delete(iam, client):
    arn = iam.call("CreateOpenIDConnectProvider", Url="https://login.example.com/tenant/",
                   ClientIDList=["app-1", "app-2", "app-1"], ThumbprintList=[PRINT_B],
                   Tags=[{"Key": "team", "Value": "platform"}])
    assert arn["OpenIDConnectProviderArn"] == arn_of("login.example.com/tenant/")
    assert arn["Tags"] == [{"Key": "team", "Value": "platform"}]
    arn = arn["OpenIDConnectProviderArn"]
    got = iam.call("GetOpenIDConnectProvider", OpenIDConnectProviderArn=arn)
    assert got["Url"] == "login.example.com/tenant/"
    assert got["ClientIDList"] == ["app-1", "app-2"]  # each once
    assert got["ThumbprintList"] == [PRINT_B.lower()]
    assert got["Tags"] == [{"Key": "team", "Value": "platform"}]
    listed = [p["Arn"] for p in iam.call("ListOpenIDConnectProviders")[
        "OpenIDConnectProviderList"]]
    assert listed == sorted([SEEDED, arn])

    iam.call("AddClientIDToOpenIDConnectProvider", OpenIDConnectProviderArn=arn,
             ClientID="sts.amazonaws.com")
    iam.call("AddClientIDToOpenIDConnectProvider", OpenIDConnectProviderArn=arn,
             ClientID="app-1")  # idempotent
    iam.call("RemoveClientIDFromOpenIDConnectProvider", OpenIDConnectProviderArn=arn,
             ClientID="app-2")
    iam.call("RemoveClientIDFromOpenIDConnectProvider", OpenIDConnectProviderArn=arn,
             ClientID="never-there")  # idempotent
    iam.call("RemoveClientIDFromOpenIDConnectProvider", OpenIDConnectProviderArn=arn,
             ClientID="APP-1")  # client IDs are compared exactly
    got = iam.call("GetOpenIDConnectProvider", OpenIDConnectProviderArn=arn)
    assert got["ClientIDList"] == ["app-1", "sts.amazonaws.com"]

    iam.call("UpdateOpenIDConnectProviderThumbprint", OpenIDConnectProviderArn=arn,
             ThumbprintList=[PRINT_A, PRINT_B, PRINT_A.upper()])
    got = iam.call("GetOpenIDConnectProvider", OpenIDConnectProviderArn=arn)
    assert got["ThumbprintList"] == [PRINT_A, PRINT_B.lower()]
    iam.call("UpdateOpenIDConnectProviderThumbprint", OpenIDConnectProviderArn=arn,
             ThumbprintList=[])
    got = iam.call("GetOpenIDConnectProvider", OpenIDConnectProviderArn=arn)
    assert got["ThumbprintList"] == []

    iam.call("TagOpenIDConnectProvider", OpenIDConnectProviderArn=arn,
             Tags=[{"Key": "TEAM", "Value": "security"}, {"Key": "env", "Value": "ci"}])
    tags = iam.call("ListOpenIDConnectProviderTags", OpenIDConnectProviderArn=arn)
    assert tags["Tags"] == [{"Key": "TEAM", "Value": "security"}, {"Key": "env", "Value": "ci"}]
    assert tags["IsTruncated"] is False
    page = iam.call("ListOpenIDConnectProviderTags", OpenIDConnectProviderArn=arn, MaxItems=1)
    assert page["IsTruncated"] is True and page["Tags"] == [{"Key": "TEAM", "Value": "security"}]
    rest = iam.call("ListOpenIDConnectProviderTags", OpenIDConnectProviderArn=arn,
                    Marker=page["Marker"])
    assert rest["Tags"] == [{"Key": "env", "Value": "ci"}]
    iam.call("UntagOpenIDConnectProvider", OpenIDConnectProviderArn=arn,
             TagKeys=["team", "missing"])
    assert iam.call("ListOpenIDConnectProviderTags", OpenIDConnectProviderArn=arn)["Tags"] == [
        {"Key": "env", "Value": "ci"}]

    iam.call("DeleteOpenIDConnectProvider", OpenIDConnectProviderArn=arn)
    missing = f"OpenIDConnect Provider not found for arn {arn}"
    assert refused(iam, "GetOpenIDConnectProvider", OpenIDConnectProviderArn=arn) == (
        "NoSuchEntity", missing, 404)
    before = snapshot(client)
    for operation, params in [
        ("DeleteOpenIDConnectProvider", {}),
        ("AddClientIDToOpenIDConnectProvider", {"ClientID": "x"}),
        ("RemoveClientIDFromOpenIDConnectProvider", {"ClientID": "x"}),
        ("UpdateOpenIDConnectProviderThumbprint", {"ThumbprintList": [PRINT_A]}),
        ("UpdateOpenIDConnectProvider", {}),
        ("TagOpenIDConnectProvider", {"Tags": [{"Key": "k", "Value": "v"}]}),
        ("UntagOpenIDConnectProvider", {"TagKeys": ["k"]}),
        ("ListOpenIDConnectProviderTags", {}),
    ]:
        assert refused(iam, operation, OpenIDConnectProviderArn=arn, **params) == (
            "NoSuchEntity", missing, 404), operation
    assert snapshot(client) == before
    assert [p["Arn"] for p in iam.call("ListOpenIDConnectProviders")[
        "OpenIDConnectProviderList"]] == [SEEDED]


def test_thumbprints_and_client_ids_are_optional(iam):
    arn = create(iam, "https://bare.example.com")
    got = iam.call("GetOpenIDConnectProvider", OpenIDConnectProviderArn=arn)
    assert (got["Url"], got["ClientIDList"], got["ThumbprintList"]) == (
        "bare.example.com", [], [])
    raw = iam.raw("Action=CreateOpenIDConnectProvider&Version=2010-05-08&"
                  "Url=https%3A%2F%2Fempty.example.com&ClientIDList=&ThumbprintList=")
    assert raw.status_code == 200, raw.text


def test_duplicates_are_refused_but_url_spelling_matters(iam, client):
    create(iam, "https://token.example.com")
    before = snapshot(client)
    assert refused(iam, "CreateOpenIDConnectProvider", Url="https://token.example.com",
                   ClientIDList=["other"]) == (
        "EntityAlreadyExists", "Provider with url https://token.example.com already exists.",
        409)
    assert refused(iam, "CreateOpenIDConnectProvider", Url="HTTPS://token.example.com")[
        :2] == ("EntityAlreadyExists",
                "Provider with url https://token.example.com already exists.")
    assert snapshot(client) == before
    # A trailing slash, a path or another case is another URL, hence another provider.
    assert create(iam, "https://token.example.com/") == arn_of("token.example.com/")
    assert create(iam, "https://Token.example.com") == arn_of("Token.example.com")
    assert create(iam, "https://token.example.com/x") == arn_of("token.example.com/x")
    assert refused(iam, "GetOpenIDConnectProvider",
                   OpenIDConnectProviderArn=arn_of("TOKEN.example.com"))[0] == "NoSuchEntity"


def test_loopback_http_issuers_are_accepted(iam):
    assert create(iam, "http://127.0.0.1:8000/oidc") == arn_of("127.0.0.1:8000/oidc")
    assert create(iam, "http://localhost/issuer") == arn_of("localhost/issuer")
    assert create(iam, "http://[::1]:9000") == arn_of("[::1]:9000")
    got = iam.call("GetOpenIDConnectProvider",
                   OpenIDConnectProviderArn=arn_of("127.0.0.1:8000/oidc"))
    assert got["Url"] == "127.0.0.1:8000/oidc"


@pytest.mark.parametrize(("url", "code"), [
    ("http://token.example.com", "InvalidInput"),
    ("http://10.0.0.1/oidc", "InvalidInput"),
    ("ftp://token.example.com", "InvalidInput"),
    ("https://token.example.com?x=1", "InvalidInput"),
    ("https://token.example.com/#frag", "InvalidInput"),
    ("https://user:pass@token.example.com", "InvalidInput"),
    ("https://exa_mple.com", "InvalidInput"),
    ("https://token.example.com/a b", "InvalidInput"),
    ("https://token.example.com/\u00e9", "InvalidInput"),
    ("https://token.example.com/\n", "InvalidInput"),
    ("https://token.example.com:port", "InvalidInput"),
    ("https://token.example.com:99999", "InvalidInput"),
    ("https://[::1", "InvalidInput"),
    ("https://a.example/${idp:oidc}", "InvalidInput"),
    ("token.example.com", "ValidationError"),
    ("https://", "ValidationError"),
    ("https:///path", "ValidationError"),
], ids=["http", "http-private-ip", "ftp", "query", "fragment", "userinfo", "underscore",
        "space", "non-ascii", "newline", "port-name", "port-range", "ipv6-open", "placeholder",
        "no-scheme",
        "no-host", "empty-host"])
def test_bad_urls_are_refused_and_change_nothing(iam, client, url, code):
    before = snapshot(client)
    found, message, status = refused(iam, "CreateOpenIDConnectProvider", Url=url)
    assert (found, status) == (code, 400)
    assert message.startswith("Invalid Open ID Connect Provider URL")
    assert snapshot(client) == before


def test_url_length_is_checked_server_side(iam):
    long = "https://" + "a" * 243 + ".com"
    assert len(long) == 255
    assert create(iam, long) == arn_of(long[len("https://"):])
    code, message, status = refused(iam, "CreateOpenIDConnectProvider", Url=long + "x")
    assert (code, status) == ("ValidationError", 400)
    assert message.endswith("at 'url' failed to satisfy constraint: Member must have length "
                            "less than or equal to 255")
    assert refused(iam, "CreateOpenIDConnectProvider")[:2] == (
        "ValidationError", "1 validation error detected: Value null at 'url' failed to satisfy "
                           "constraint: Member must not be null")


def test_thumbprint_rules(iam, client):
    before = snapshot(client)
    code, message, _ = refused(iam, "CreateOpenIDConnectProvider",
                               Url="https://t.example.com", ThumbprintList=["a" * 39])
    assert code == "ValidationError" and "'thumbprintList.1.member'" in message
    assert "greater than or equal to 40" in message
    assert refused(iam, "CreateOpenIDConnectProvider", Url="https://t.example.com",
                   ThumbprintList=["g" * 40]) == (
        "InvalidInput", "Thumbprint must be 40 hexadecimal characters.", 400)
    six = [f"{i}" * 40 for i in range(1, 7)]
    assert refused(iam, "CreateOpenIDConnectProvider", Url="https://t.example.com",
                   ThumbprintList=six) == (
        "InvalidInput", "Thumbprint list must contain fewer than 5 entries.", 400)
    assert snapshot(client) == before
    arn = create(iam, "https://t.example.com", ThumbprintList=six[:5])
    assert len(iam.call("GetOpenIDConnectProvider", OpenIDConnectProviderArn=arn)[
        "ThumbprintList"]) == 5
    assert refused(iam, "UpdateOpenIDConnectProviderThumbprint", OpenIDConnectProviderArn=arn,
                   ThumbprintList=six)[0] == "InvalidInput"
    assert refused(iam, "UpdateOpenIDConnectProviderThumbprint",
                   OpenIDConnectProviderArn=arn)[:2] == (
        "ValidationError", "1 validation error detected: Value null at 'thumbprintList' failed "
                           "to satisfy constraint: Member must not be null")


def test_client_id_rules(iam, client):
    before = snapshot(client)
    too_many = [f"app-{i}" for i in range(101)]
    assert refused(iam, "CreateOpenIDConnectProvider", Url="https://c.example.com",
                   ClientIDList=too_many) == (
        "LimitExceeded", "Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: 100", 409)
    code, message, _ = refused(iam, "CreateOpenIDConnectProvider", Url="https://c.example.com",
                               ClientIDList=["x" * 256])
    assert code == "ValidationError" and "'clientIDList.1.member'" in message
    assert "less than or equal to 255" in message
    code, message, _ = refused(iam, "CreateOpenIDConnectProvider", Url="https://c.example.com",
                               ClientIDList=[""])
    assert code == "ValidationError" and "greater than or equal to 1" in message
    assert snapshot(client) == before
    arn = create(iam, "https://c.example.com", ClientIDList=too_many[:100] + too_many[:3])
    assert refused(iam, "AddClientIDToOpenIDConnectProvider", OpenIDConnectProviderArn=arn,
                   ClientID="one-more")[:2] == (
        "LimitExceeded", "Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: 100")
    iam.call("AddClientIDToOpenIDConnectProvider", OpenIDConnectProviderArn=arn,
             ClientID="app-0")  # already there: no error, no growth
    assert refused(iam, "AddClientIDToOpenIDConnectProvider", OpenIDConnectProviderArn=arn,
                   ClientID="x" * 256)[0] == "ValidationError"


def test_lists_are_read_up_to_a_limit(iam):
    members = "&".join(f"ClientIDList.member.{i}=c{i}" for i in range(1, 1003))
    response = iam.raw("Action=CreateOpenIDConnectProvider&Version=2010-05-08&"
                       f"Url=https%3A%2F%2Fmany.example.com&{members}")
    assert response.status_code == 400 and "<Code>ValidationError</Code>" in response.text
    assert "less than or equal to 1000" in response.text


def test_provider_quota(iam, client, monkeypatch):
    from idp.aws.iam import ops_oidc
    monkeypatch.setattr(ops_oidc, "PROVIDERS_PER_ACCOUNT", 2)
    create(iam, "https://second.example.com")  # the seeded provider is the first
    before = snapshot(client)
    assert refused(iam, "CreateOpenIDConnectProvider", Url="https://third.example.com") == (
        "LimitExceeded", "Cannot exceed quota for OpenIdConnectProvidersPerAccount: 2", 409)
    assert snapshot(client) == before


@pytest.mark.parametrize("arn", [
    "arn:aws:iam::444455556666:saml-provider/CorpIdP",
    "arn:aws:iam::444455556666:oidc-provider/",
    "arn:aws:iam::4444:oidc-provider/idp.test/oidc",
    "arn:aws:sts::444455556666:oidc-provider/idp.test/oidc",
    "arn:aws:iam:us-east-1:444455556666:oidc-provider/idp.test/oidc",
    "not-an-arn-at-all-really",
    "arn:aws:iam::\u0664\u0664\u0664\u0664\u0665\u0665\u0665\u0665\u0666\u0666\u0666\u0666:"
    "oidc-provider/x",
], ids=["saml", "empty", "short-account", "sts", "region", "garbage", "unicode-digits"])
def test_invalid_arns_are_invalid_input(iam, arn):
    assert refused(iam, "GetOpenIDConnectProvider", OpenIDConnectProviderArn=arn) == (
        "InvalidInput", f"ARN {arn} is not valid.", 400)
    assert refused(iam, "DeleteOpenIDConnectProvider", OpenIDConnectProviderArn=arn)[0] == (
        "InvalidInput")


def test_arn_length_is_checked_server_side(iam):
    code, message, _ = refused(iam, "GetOpenIDConnectProvider",
                               OpenIDConnectProviderArn="arn:aws:iam::1")
    assert code == "ValidationError" and "'openIDConnectProviderArn'" in message


def test_another_accounts_provider_is_not_reachable(iam):
    other = arn_of("idp.test/oidc", PROD)
    code, message, status = refused(iam, "DeleteOpenIDConnectProvider",
                                    OpenIDConnectProviderArn=other)
    assert (code, status) == ("AccessDenied", 403)
    assert message == (f"User: arn:aws:iam::{DEV}:user/admin is not authorized to perform: "
                       f"iam:DeleteOpenIDConnectProvider on resource: {other}")


def test_tags_follow_the_iam_tag_rules(iam, client):
    arn = create(iam, "https://tags.example.com")
    before = snapshot(client)
    assert refused(iam, "TagOpenIDConnectProvider", OpenIDConnectProviderArn=arn,
                   Tags=[{"Key": "aws:owner", "Value": "x"}])[0] == "InvalidInput"
    assert refused(iam, "CreateOpenIDConnectProvider", Url="https://tags2.example.com",
                   Tags=[{"Key": "a", "Value": "1"}, {"Key": "A", "Value": "2"}])[:2] == (
        "InvalidInput", "Duplicate tag keys found. Please note that Tag keys are case "
                        "insensitive.")
    for start in (0, 25):
        if start:
            before = snapshot(client)
        tags = [{"Key": f"k{i}", "Value": "v"} for i in range(start, start + 25)]
        iam.call("TagOpenIDConnectProvider", OpenIDConnectProviderArn=arn, Tags=tags)
    assert refused(iam, "TagOpenIDConnectProvider", OpenIDConnectProviderArn=arn,
                   Tags=[{"Key": "one-too-many", "Value": "v"}]) == (
        "LimitExceeded", "Cannot exceed quota for TagsPerOpenIDConnectProvider: 50", 409)
    assert snapshot(client) != before  # the 50 were stored; the 51st was not
    assert len(iam.call("ListOpenIDConnectProviderTags", OpenIDConnectProviderArn=arn)[
        "Tags"]) == 50


def test_identity_center_settings_are_refused(iam):
    assert refused(iam, "CreateOpenIDConnectProvider", Url="https://ic.example.com",
                   IdentityCenterInstanceArn="arn:aws:sso:::instance/ssoins-1")[:2] == (
        "InvalidInput", "IdentityCenterInstanceArn is not supported by this simulator.")
    assert refused(iam, "CreateOpenIDConnectProvider", Url="https://ic.example.com",
                   ContextProvider={"SubjectSourceKey": "sub"})[0] == "InvalidInput"
    iam.call("UpdateOpenIDConnectProvider", OpenIDConnectProviderArn=SEEDED,
             RemoveContextProvider=True)
    assert refused(iam, "UpdateOpenIDConnectProvider", OpenIDConnectProviderArn=SEEDED,
                   ContextProvider={"SubjectSourceKey": "sub"})[0] == "InvalidInput"
    response = iam.raw("Action=UpdateOpenIDConnectProvider&Version=2010-05-08&"
                       f"OpenIDConnectProviderArn={SEEDED}&RemoveContextProvider=maybe")
    assert response.status_code == 400 and "<Code>ValidationError</Code>" in response.text


# --- authorization -----------------------------------------------------------------------


OIDC_CALLS: list[tuple[str, dict[str, Any]]] = [
    ("CreateOpenIDConnectProvider", {"Url": "https://denied.example.com"}),
    ("GetOpenIDConnectProvider", {"OpenIDConnectProviderArn": SEEDED}),
    ("ListOpenIDConnectProviders", {}),
    ("DeleteOpenIDConnectProvider", {"OpenIDConnectProviderArn": SEEDED}),
    ("AddClientIDToOpenIDConnectProvider", {"OpenIDConnectProviderArn": SEEDED,
                                            "ClientID": "x"}),
    ("RemoveClientIDFromOpenIDConnectProvider", {"OpenIDConnectProviderArn": SEEDED,
                                                 "ClientID": "sts.amazonaws.com"}),
    ("UpdateOpenIDConnectProviderThumbprint", {"OpenIDConnectProviderArn": SEEDED,
                                               "ThumbprintList": [PRINT_A]}),
    ("TagOpenIDConnectProvider", {"OpenIDConnectProviderArn": SEEDED,
                                  "Tags": [{"Key": "k", "Value": "v"}]}),
    ("UntagOpenIDConnectProvider", {"OpenIDConnectProviderArn": SEEDED, "TagKeys": ["k"]}),
    ("ListOpenIDConnectProviderTags", {"OpenIDConnectProviderArn": SEEDED}),
]


@pytest.mark.parametrize(("operation", "params"), OIDC_CALLS, ids=[o for o, _ in OIDC_CALLS])
def test_a_user_without_iam_rights_is_denied(client, operation, params, caplog):
    ops = IamClient(client, *ADMINS["ops"])
    before = snapshot(client)
    with caplog.at_level(logging.INFO, logger="idp.iam"):
        code, message, status = refused(ops, operation, **params)
    assert (code, status) == ("AccessDenied", 403)
    resource = ("*" if operation == "ListOpenIDConnectProviders"
                else arn_of("denied.example.com") if operation.startswith("Create")
                else SEEDED)
    assert message == (f"User: arn:aws:iam::{DEV}:user/ops is not authorized to perform: "
                       f"iam:{operation} on resource: {resource}")
    assert any("refused: AccessDenied" in r.getMessage() for r in caplog.records)
    assert snapshot(client) == before


def test_another_accounts_user_without_iam_rights_is_denied(client):
    auditor = IamClient(client, *ADMINS["auditor"])
    assert refused(auditor, "ListOpenIDConnectProviders")[0] == "AccessDenied"
    assert refused(auditor, "CreateOpenIDConnectProvider",
                   Url="https://vendor.example.com")[0] == "AccessDenied"


# --- the state STS reads -----------------------------------------------------------------


def test_sts_reads_what_the_iam_api_changes_from_the_next_request(iam, client):
    services = client.app.state.runtime.services
    assert services.web_identity.iam is services.iam_api.iam
    arn = create(iam, "https://ci.example.com/org", ClientIDList=["sts.amazonaws.com"])
    provider = services.web_identity.iam.state().oidc_provider(arn)
    assert provider is not None
    assert (provider.url, provider.client_ids) == ("https://ci.example.com/org",
                                                  ("sts.amazonaws.com",))
    iam.call("AddClientIDToOpenIDConnectProvider", OpenIDConnectProviderArn=arn,
             ClientID="other")
    changed = services.web_identity.iam.state().oidc_provider(arn)
    assert changed is not None and changed.client_ids == ("sts.amazonaws.com", "other")
    iam.call("DeleteOpenIDConnectProvider", OpenIDConnectProviderArn=SEEDED)
    assert services.web_identity.iam.state().oidc_provider(SEEDED) is None


def test_deleting_a_provider_leaves_the_roles_naming_it(iam):
    before = iam.call("GetRole", RoleName="CiDeploy")["Role"]["AssumeRolePolicyDocument"]
    assert SEEDED in json.dumps(before)
    iam.call("DeleteOpenIDConnectProvider", OpenIDConnectProviderArn=SEEDED)
    after = iam.call("GetRole", RoleName="CiDeploy")["Role"]["AssumeRolePolicyDocument"]
    assert after == before
