"""Property-based fuzzing of the IAM API at the function level.

The invariant: ``IamApi.call`` with any action of the API and any parameters returns a result
that ``idp.aws.iam.wire`` serializes, or raises an ``AwsError`` — never another exception.
Parameters are drawn from the members the operations read, with values that are sometimes
valid names, ARNs, numbers, policy documents and metadata, sometimes arbitrary text.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from idp.aws.errors import AwsError
from idp.aws.iam import Iam, wire
from idp.aws.iam.api import OPERATIONS, IamApi
from idp.aws.mfa import MfaCodes
from idp.aws.principals import Caller, CallerKind
from idp.clock import FixedClock
from idp.directory import Directory
from idp.keys import KeyPair
from tests.support.demo import PROD

ADMIN = Caller(kind=CallerKind.USER, account=PROD, arn=f"arn:aws:iam::{PROD}:user/admin",
               user_id="AIDAEXAMPLE", access_key_id="AKIAPRODADMINEXAMPLE", user_name="admin",
               user_arn=f"arn:aws:iam::{PROD}:user/admin")
ROLE_SESSION = Caller(kind=CallerKind.ROLE_SESSION, account=PROD,
                      arn=f"arn:aws:sts::{PROD}:assumed-role/BreakGlass/s", user_id="AROAX:s",
                      access_key_id="ASIAX", role_arn=f"arn:aws:iam::{PROD}:role/BreakGlass")

MEMBERS = ["UserName", "RoleName", "GroupName", "PolicyName", "PolicyDocument", "Path",
           "PathPrefix", "AssumeRolePolicyDocument", "Description", "MaxSessionDuration",
           "Marker", "MaxItems", "SAMLMetadataDocument", "Name", "SAMLProviderArn",
           "AccessKeyId", "Status", "Password", "PasswordResetRequired", "SerialNumber",
           "AuthenticationCode1", "AuthenticationCode2", "VirtualMFADeviceName",
           "AssignmentStatus", "AccountAlias", "Tags.member.1.Key", "Tags.member.1.Value",
           "Tags.member.2.Key", "TagKeys.member.1", "TagKeys", "PermissionsBoundary",
           "AddPrivateKey", "AssertionEncryptionMode"]

POLICY = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{PROD}:user/admin"},
     "Action": "sts:AssumeRole"}]})

values = st.one_of(
    st.sampled_from(["admin", "ReadOnly", "Admin", "CorpIdP", "x", "/", "/a/", "3600", "0",
                     "-1", "100000", "true", "false", "Active", "Inactive", "Expired",
                     "Assigned", "Any", "123456", "corp-prod", "corp-dev", "AKIAPRODADMINEXAMPLE",
                     f"arn:aws:iam::{PROD}:saml-provider/CorpIdP",
                     f"arn:aws:iam::{PROD}:mfa/admin", f"arn:aws:iam::{PROD}:role/Admin",
                     "bWFya2Vy", POLICY, TRUST, "{", "[]", "null", '{"Statement":[]}',
                     "<x/>" * 300, "\x00", "é" * 70, "a" * 129]),
    st.text(max_size=80),
    st.from_regex(r"[\w+=,.@-]{1,70}", fullmatch=True),
)


@pytest.fixture(scope="module")
def api(directory: Directory, keypair: KeyPair) -> IamApi:
    clock = FixedClock(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    iam = Iam(directory, "http://idp.test/idp/metadata", (keypair,), clock=clock)
    return IamApi(iam, clock, MfaCodes(clock, None))


def _result_or_aws_error(api: IamApi, action: str, params: dict[str, Any],
                         as_role: bool) -> None:
    """The operation answers a result its wire form renders, or a 4xx ``AwsError``."""
    try:
        result = api.call(action, params, ROLE_SESSION if as_role else ADMIN)
    except AwsError as exc:
        assert 400 <= exc.http_status < 500, (exc.code, exc.message)
        wire.error_response(exc, "rid")
        return
    assert result.action == action
    assert wire.response(result, "rid").startswith(b"<")


@given(action=st.sampled_from(sorted(OPERATIONS)),
       params=st.dictionaries(st.sampled_from(MEMBERS), values, max_size=6),
       as_role=st.booleans())
def test_any_parameters_give_a_result_or_an_aws_error(api: IamApi, action: str,
                                                      params: dict[str, Any],
                                                      as_role: bool) -> None:
    _result_or_aws_error(api, action, params, as_role)


@given(action=st.text(max_size=30), params=st.dictionaries(st.text(max_size=20),
                                                            st.text(max_size=20), max_size=5))
def test_unknown_actions_and_members(api: IamApi, action: str, params: dict[str, str]) -> None:
    try:
        api.call(action, params, ADMIN)
    except AwsError as exc:
        assert exc.http_status < 500


# --- OpenID Connect providers (idp.aws.iam.ops_oidc) ---------------------------------------

OIDC_ACTIONS = sorted(a for a in OPERATIONS if "OpenIDConnect" in a)
OIDC_MEMBERS = ["Url", "OpenIDConnectProviderArn", "ClientID", "ClientIDList",
                "ClientIDList.member.1", "ClientIDList.member.2", "ThumbprintList",
                "ThumbprintList.member.1", "ThumbprintList.member.2", "Tags.member.1.Key",
                "Tags.member.1.Value", "TagKeys", "TagKeys.member.1", "Marker", "MaxItems",
                "RemoveContextProvider", "RemoveIdentityCenterInstance",
                "ContextProvider.SubjectSourceKey", "IdentityCenterInstanceArn"]
OIDC_ARN = f"arn:aws:iam::{PROD}:oidc-provider/"

oidc_values = st.one_of(
    st.sampled_from([
        "https://token.example.com", "https://token.example.com/", "HTTPS://Token.example.com",
        "http://127.0.0.1:8000/oidc", "http://localhost", "http://[::1]:1/", "https://[::1",
        "https://h:99999", "https://h:x", "https://a_b.example.com", "http://10.0.0.1",
        "token.example.com", "https://", "https:///x", "https://u:p@h.example.com",
        "https://h.example.com/?q", "https://h.example.com/#f", f"{OIDC_ARN}token.example.com",
        f"{OIDC_ARN}token.example.com/", OIDC_ARN, f"{OIDC_ARN}idp.test/oidc",
        "arn:aws:iam::444455556666:oidc-provider/idp.test/oidc", "a" * 40, "A" * 40, "g" * 40,
        "sts.amazonaws.com", "", "true", "maybe", "1", "x" * 256, "\x00", "é" * 40]),
    st.builds(lambda host, path: f"https://{host}{path}", st.text(max_size=30),
              st.text(max_size=30)),
    st.builds(lambda rest: f"{OIDC_ARN}{rest}", st.text(max_size=40)),
    st.text(alphabet="0123456789abcdefABCDEFxyz", min_size=38, max_size=42),
    st.text(max_size=80),
)


@given(action=st.sampled_from(OIDC_ACTIONS),
       params=st.dictionaries(st.sampled_from(OIDC_MEMBERS), oidc_values, max_size=8),
       as_role=st.booleans())
def test_oidc_operations_give_a_result_or_an_aws_error(api: IamApi, action: str,
                                                       params: dict[str, Any],
                                                       as_role: bool) -> None:
    _result_or_aws_error(api, action, params, as_role)


@given(host=st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?(\.[a-z0-9]{1,10}){0,3}",
                          fullmatch=True),
       path=st.from_regex(r"(/[\x21-\x22\x25-\x3e\x40-\x7a\x7c\x7e]{0,20}){0,3}",
                          fullmatch=True))
def test_a_created_oidc_provider_reads_back_by_its_arn(api: IamApi, host: str,
                                                       path: str) -> None:
    """Any ``https://`` URL with a DNS host and a path (no query, no fragment) is created; its
    ARN finds it and ``Url`` is the URL without the scheme (path and trailing slash kept)."""
    arn = api.call("CreateOpenIDConnectProvider", {"Url": f"https://{host}{path}"}, ADMIN).body
    assert arn is not None
    assert arn["OpenIDConnectProviderArn"] == f"{OIDC_ARN}{host}{path}"
    got = api.call("GetOpenIDConnectProvider",
                   {"OpenIDConnectProviderArn": f"{OIDC_ARN}{host}{path}"}, ADMIN).body
    assert got is not None and got["Url"] == f"{host}{path}"
    api.call("DeleteOpenIDConnectProvider",
             {"OpenIDConnectProviderArn": f"{OIDC_ARN}{host}{path}"}, ADMIN)
