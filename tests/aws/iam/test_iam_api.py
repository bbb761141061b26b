"""The IAM API through botocore's own serializer, signer and parser, in process.

Every operation family: SAML providers (and STS/console trusting them at once), roles,
inline policies, users, login profiles, access keys, groups, virtual MFA, the account alias;
AWS's error codes and messages; authorization; a refused change leaves the state unchanged.
"""

from __future__ import annotations

import json
import logging
import re
import zlib
from typing import Any

import pyotp
import pytest
from botocore.exceptions import ClientError, ParamValidationError

from tests.aws.iam.inproc import ADMINS, IamClient
from tests.support.demo import BOB_ROLE, PROD, PROD_PROVIDER, READ_ONLY, STS_URL

TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Federated": PROD_PROVIDER},
    "Action": "sts:AssumeRoleWithSAML"}]})
ALLOW_ALL = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "*", "Resource": "*"}]})


@pytest.fixture
def iam(client) -> IamClient:
    return IamClient(client, *ADMINS["prod"])


def error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    err = exc.value.response["Error"]
    return err["Code"], err["Message"], exc.value.response["ResponseMetadata"]["HTTPStatusCode"]


def refused(iam: IamClient, operation: str, **params: Any) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as exc:
        iam.call(operation, validate=False, **params)
    return error(exc)


def snapshot(client) -> str:
    """The stored IAM document (to show a refused change wrote nothing)."""
    from idp.web.state import Services
    services: Services = client.app.state.runtime.services
    return json.dumps(services.iam_api.iam.documents._current()[2], sort_keys=True)


# --- roles ------------------------------------------------------------------------------


def test_create_get_list_update_delete_role(iam):
    created = iam.call("CreateRole", RoleName="Builder", Path="/ci/",
                       AssumeRolePolicyDocument=TRUST, Description="CI", MaxSessionDuration=7200,
                       Tags=[{"Key": "team", "Value": "platform"}])["Role"]
    assert created["Arn"] == f"arn:aws:iam::{PROD}:role/ci/Builder"
    assert re.fullmatch(r"AROA[A-Z2-7]{17}", created["RoleId"])
    assert created["AssumeRolePolicyDocument"] == json.loads(TRUST)
    assert created["Tags"] == [{"Key": "team", "Value": "platform"}]
    got = iam.call("GetRole", RoleName="builder")["Role"]  # names fold case
    assert (got["RoleName"], got["Description"], got["MaxSessionDuration"]) == (
        "Builder", "CI", 7200)
    assert got["RoleId"] == created["RoleId"]
    listed = iam.call("ListRoles", PathPrefix="/ci/")
    assert [r["RoleName"] for r in listed["Roles"]] == ["Builder"]
    assert "Tags" not in listed["Roles"][0] and listed["IsTruncated"] is False
    iam.call("UpdateRole", RoleName="Builder", Description="new", MaxSessionDuration=43200)
    got = iam.call("GetRole", RoleName="Builder")["Role"]
    assert (got["Description"], got["MaxSessionDuration"]) == ("new", 43200)
    iam.call("DeleteRole", RoleName="BUILDER")
    assert refused(iam, "GetRole", RoleName="Builder") == (
        "NoSuchEntity", "The role with name Builder cannot be found.", 404)


def test_role_names_are_unique_regardless_of_case(iam):
    assert refused(iam, "CreateRole", RoleName="readonly", AssumeRolePolicyDocument=TRUST) == (
        "EntityAlreadyExists", "Role with name readonly already exists.", 409)


@pytest.mark.parametrize(("document", "message"), [
    ("not json", "This policy contains invalid Json"),
    (json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole",
        "Resource": "*"}]}), "Has prohibited field Resource"),
    (json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{PROD}:user/ghost"},
        "Action": "sts:AssumeRole"}]}),
     f'Invalid principal in policy: "AWS":"arn:aws:iam::{PROD}:user/ghost"'),
    (json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:role/Nope"},
        "Action": "sts:AssumeRole"}]}),
     'Invalid principal in policy: "AWS":"arn:aws:iam::444455556666:role/Nope"'),
    (json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": f"arn:aws:iam::{PROD}:saml-provider/Nope"},
        "Action": "sts:AssumeRoleWithSAML"}]}),
     f'Invalid principal in policy: "Federated":"arn:aws:iam::{PROD}:saml-provider/Nope"'),
    (json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"Federated": f"arn:aws:iam::{PROD}:oidc-provider/oidc.example.com/x"},
        "Action": "sts:AssumeRoleWithWebIdentity"}]}),
     'Invalid principal in policy: '
     f'"Federated":"arn:aws:iam::{PROD}:oidc-provider/oidc.example.com/x"'),
    (json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "12345"}, "Action": "sts:AssumeRole"}]}),
     'Invalid principal in policy: "AWS":"12345"'),
    (json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "AssumeRole"}]}),
     "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."),
    (json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:Assume:Role"}]}),
     "Actions/Condition can contain only one colon."),
], ids=["not-json", "resource", "missing-user", "missing-role", "missing-provider",
        "missing-oidc-provider", "not-an-account", "no-vendor", "two-colons"])
def test_malformed_trust_policies_are_refused_with_aws_messages(iam, client, document,
                                                                message):
    before = snapshot(client)
    assert refused(iam, "CreateRole", RoleName="Bad", AssumeRolePolicyDocument=document) == (
        "MalformedPolicyDocument", message, 400)
    assert refused(iam, "UpdateAssumeRolePolicy", RoleName="ReadOnly",
                   PolicyDocument=document)[:2] == ("MalformedPolicyDocument", message)
    assert snapshot(client) == before


def test_trust_naming_existing_principals_is_accepted(iam):
    document = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": [f"arn:aws:iam::{PROD}:user/admin",
                                                 "arn:aws:iam::444455556666:role/Deployer",
                                                 "123456789012"]},
        "Action": "sts:AssumeRole"}]})
    iam.call("CreateRole", RoleName="Shared", AssumeRolePolicyDocument=document)
    iam.call("UpdateAssumeRolePolicy", RoleName="Shared", PolicyDocument=TRUST)
    assert iam.call("GetRole", RoleName="Shared")["Role"]["AssumeRolePolicyDocument"] == \
        json.loads(TRUST)


def test_trust_policy_size_quota(iam):
    big = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "x" * 2100, "Effect": "Allow", "Principal": {"AWS": PROD},
        "Action": "sts:AssumeRole"}]})
    assert refused(iam, "CreateRole", RoleName="Big", AssumeRolePolicyDocument=big) == (
        "LimitExceeded", "Cannot exceed quota for ACLSizePerRole: 2048", 409)


@pytest.mark.parametrize(("params", "message"), [
    ({"RoleName": "a b"}, "1 validation error detected: Value 'a b' at 'roleName' failed to "
     "satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+"),
    ({"RoleName": "r" * 65}, "Member must have length less than or equal to 64"),
    ({"RoleName": "ok", "Path": "nopath"}, "at 'path' failed to satisfy constraint"),
    ({"RoleName": "ok", "MaxSessionDuration": 50000},
     "Value '50000' at 'maxSessionDuration' failed to satisfy constraint: Member must have "
     "value less than or equal to 43200"),
    ({"RoleName": "ok", "Description": "x" * 1001},
     "Member must have length less than or equal to 1000"),
], ids=["pattern", "length", "path", "duration", "description"])
def test_role_parameters_are_validated_server_side(iam, params, message):
    code, text, status = refused(iam, "CreateRole", AssumeRolePolicyDocument=TRUST, **params)
    assert (code, status) == ("ValidationError", 400) and message in text


def test_update_role_session_duration_bounds(iam):
    code, text, _ = refused(iam, "UpdateRole", RoleName="ReadOnly", MaxSessionDuration=3599)
    assert code == "ValidationError" and "greater than or equal to 3600" in text


def test_list_roles_pages_with_marker_and_max_items(iam):
    for name in ("p1", "P2", "p3"):
        iam.call("CreateRole", RoleName=name, Path="/page/", AssumeRolePolicyDocument=TRUST)
    first = iam.call("ListRoles", PathPrefix="/page/", MaxItems=2)
    assert [r["RoleName"] for r in first["Roles"]] == ["p1", "P2"] and first["IsTruncated"]
    rest = iam.call("ListRoles", PathPrefix="/page/", MaxItems=2, Marker=first["Marker"])
    assert [r["RoleName"] for r in rest["Roles"]] == ["p3"] and rest["IsTruncated"] is False
    assert "Marker" not in rest
    assert refused(iam, "ListRoles", Marker="%%%")[0] == "InvalidInput"
    everything = [r["RoleName"] for r in iam.call("ListRoles")["Roles"]]
    assert everything == sorted(everything, key=str.lower)


def test_delete_role_does_not_cascade(iam, client):
    before = snapshot(client)
    assert refused(iam, "DeleteRole", RoleName="ReadOnly") == (
        "DeleteConflict", "Cannot delete entity, must delete policies first.", 409)
    assert snapshot(client) == before
    iam.call("DeleteRolePolicy", RoleName="ReadOnly", PolicyName="ReadOnlyAccess")
    iam.call("DeleteRole", RoleName="ReadOnly")


def test_role_tags(iam):
    iam.call("TagRole", RoleName="Admin", Tags=[{"Key": "a", "Value": "1"},
                                                {"Key": "b", "Value": "2"}])
    iam.call("TagRole", RoleName="Admin", Tags=[{"Key": "A", "Value": "3"}])
    assert iam.call("ListRoleTags", RoleName="Admin")["Tags"] == [
        {"Key": "b", "Value": "2"}, {"Key": "A", "Value": "3"}]
    iam.call("UntagRole", RoleName="Admin", TagKeys=["b"])
    assert iam.call("GetRole", RoleName="Admin")["Role"]["Tags"] == [{"Key": "A", "Value": "3"}]
    assert refused(iam, "TagRole", RoleName="Admin", Tags=[
        {"Key": "x", "Value": "1"}, {"Key": "X", "Value": "2"}])[0] == "InvalidInput"
    many = [{"Key": f"k{i}", "Value": "v"} for i in range(50)]
    assert refused(iam, "TagRole", RoleName="Admin", Tags=many) == (
        "LimitExceeded", "Cannot exceed quota for TagsPerRole: 50", 409)
    page = iam.call("ListRoleTags", RoleName="Admin", MaxItems=1)
    assert page["IsTruncated"] is False


# --- inline policies ----------------------------------------------------------------------


def test_role_inline_policies_round_trip_as_submitted(iam, client):
    text = '{ "Version": "2012-10-17",\n  "Statement": [{"Effect": "Allow", "Action": ' \
           '"s3:GetObject", "Resource": "arn:aws:s3:::b/a b%20c"}]}'
    iam.call("PutRolePolicy", RoleName="Admin", PolicyName="Read", PolicyDocument=text)
    got = iam.call("GetRolePolicy", RoleName="admin", PolicyName="read")
    assert (got["RoleName"], got["PolicyName"]) == ("Admin", "Read")
    assert got["PolicyDocument"] == json.loads(text)
    raw = iam.last.text
    assert "%0A%20%20%22Statement%22" in raw  # URL-encoded, whitespace as submitted
    assert iam.call("ListRolePolicies", RoleName="Admin")["PolicyNames"] == ["Read"]
    assert refused(iam, "GetRolePolicy", RoleName="Admin", PolicyName="Nope") == (
        "NoSuchEntity", "The role policy with name Nope cannot be found.", 404)
    before = snapshot(client)
    assert refused(iam, "PutRolePolicy", RoleName="Admin", PolicyName="P",
                   PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{
                       "Effect": "Allow", "Principal": "*", "Action": "*",
                       "Resource": "*"}]}))[:2] == (
        "MalformedPolicyDocument", "Policy document should not specify a principal.")
    assert refused(iam, "PutRolePolicy", RoleName="Ghost", PolicyName="P",
                   PolicyDocument=ALLOW_ALL)[:2] == (
        "NoSuchEntity", "The role with name Ghost cannot be found.")
    assert snapshot(client) == before
    iam.call("DeleteRolePolicy", RoleName="Admin", PolicyName="READ")
    assert iam.call("ListRolePolicies", RoleName="Admin")["PolicyNames"] == []


@pytest.mark.parametrize(("owner", "name", "limit"), [
    ("Role", "Admin", 10240), ("User", "admin", 2048)])
def test_inline_policy_aggregate_size_quota(iam, client, owner, name, limit):
    statement = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::" +
                 "x" * (limit // 2)}
    document = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    member = f"{owner}Name"
    iam.call(f"Put{owner}Policy", **{member: name}, PolicyName="One", PolicyDocument=document)
    before = snapshot(client)
    assert refused(iam, f"Put{owner}Policy", **{member: name}, PolicyName="Two",
                   PolicyDocument=document) == (
        "LimitExceeded",
        f"Maximum policy size of {limit} bytes exceeded for {owner.lower()} {name}", 409)
    assert snapshot(client) == before


def test_group_policies_and_membership(iam):
    group = iam.call("CreateGroup", GroupName="Ops", Path="/teams/")["Group"]
    assert group["Arn"] == f"arn:aws:iam::{PROD}:group/teams/Ops"
    assert group["GroupId"].startswith("AGPA")
    assert refused(iam, "CreateGroup", GroupName="OPS")[:2] == (
        "EntityAlreadyExists", "Group with name OPS already exists.")
    iam.call("CreateUser", UserName="carl")
    iam.call("AddUserToGroup", GroupName="ops", UserName="carl")
    got = iam.call("GetGroup", GroupName="Ops")
    assert [u["UserName"] for u in got["Users"]] == ["carl"]
    assert [g["GroupName"] for g in iam.call("ListGroupsForUser", UserName="carl")["Groups"]] \
        == ["Ops"]
    iam.call("PutGroupPolicy", GroupName="Ops", PolicyName="All", PolicyDocument=ALLOW_ALL)
    assert iam.call("GetGroupPolicy", GroupName="Ops", PolicyName="All")["PolicyDocument"] \
        == json.loads(ALLOW_ALL)
    assert iam.call("ListGroupPolicies", GroupName="Ops")["PolicyNames"] == ["All"]
    assert refused(iam, "DeleteGroup", GroupName="Ops")[:2] == (
        "DeleteConflict", "Cannot delete entity, must remove users from group first.")
    assert refused(iam, "DeleteUser", UserName="carl")[0] == "DeleteConflict"
    iam.call("RemoveUserFromGroup", GroupName="Ops", UserName="carl")
    assert refused(iam, "RemoveUserFromGroup", GroupName="Ops", UserName="carl")[0] == \
        "NoSuchEntity"
    assert refused(iam, "DeleteGroup", GroupName="Ops")[:2] == (
        "DeleteConflict", "Cannot delete entity, must delete policies first.")
    iam.call("DeleteGroupPolicy", GroupName="Ops", PolicyName="All")
    iam.call("DeleteGroup", GroupName="Ops")
    assert [g["GroupName"] for g in iam.call("ListGroups")["Groups"]] == []


def test_group_policy_grants_its_members(client, iam):
    """A group's inline policy is one of its members' identity policies."""
    iam.call("CreateUser", UserName="reader")
    key = iam.call("CreateAccessKey", UserName="reader")["AccessKey"]
    reader = IamClient(client, key["AccessKeyId"], key["SecretAccessKey"])
    assert refused(reader, "ListUsers")[0] == "AccessDenied"
    iam.call("CreateGroup", GroupName="Readers")
    iam.call("PutGroupPolicy", GroupName="Readers", PolicyName="List",
             PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
                 {"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*"}]}))
    iam.call("AddUserToGroup", GroupName="Readers", UserName="reader")
    assert "reader" in [u["UserName"] for u in reader.call("ListUsers")["Users"]]


# --- users, login profiles, access keys ---------------------------------------------------


def test_user_lifecycle_and_no_cascading_delete(iam, client):
    user = iam.call("CreateUser", UserName="dana", Path="/staff/",
                    Tags=[{"Key": "dept", "Value": "eng"}])["User"]
    assert user["Arn"] == f"arn:aws:iam::{PROD}:user/staff/dana"
    assert user["UserId"].startswith("AIDA") and user["Tags"] == [
        {"Key": "dept", "Value": "eng"}]
    assert refused(iam, "CreateUser", UserName="DANA")[:2] == (
        "EntityAlreadyExists", "User with name DANA already exists.")
    assert iam.call("GetUser", UserName="dana")["User"]["Path"] == "/staff/"
    assert [u["UserName"] for u in iam.call("ListUsers", PathPrefix="/staff/")["Users"]] == [
        "dana"]
    profile = iam.call("CreateLoginProfile", UserName="dana", Password="Secret-pass-1",
                       PasswordResetRequired=True)["LoginProfile"]
    assert profile["UserName"] == "dana" and profile["PasswordResetRequired"] is True
    assert refused(iam, "CreateLoginProfile", UserName="dana", Password="Other-pass-2")[:2] == (
        "EntityAlreadyExists", "Login Profile for user dana already exists.")
    assert iam.call("GetLoginProfile", UserName="dana")["LoginProfile"]["UserName"] == "dana"
    key = iam.call("CreateAccessKey", UserName="dana")["AccessKey"]
    iam.call("PutUserPolicy", UserName="dana", PolicyName="All", PolicyDocument=ALLOW_ALL)
    serial = iam.call("CreateVirtualMFADevice", VirtualMFADeviceName="dana")[
        "VirtualMFADevice"]
    totp = pyotp.TOTP(serial["Base32StringSeed"].decode("ascii"))
    now = client.app.state.runtime.services.clock.now().timestamp()
    iam.call("EnableMFADevice", UserName="dana", SerialNumber=serial["SerialNumber"],
             AuthenticationCode1=totp.at(now - 30), AuthenticationCode2=totp.at(now))
    steps = [
        ("Cannot delete entity, must delete login profile first.",
         lambda: iam.call("DeleteLoginProfile", UserName="dana")),
        ("Cannot delete entity, must delete access keys first.",
         lambda: iam.call("DeleteAccessKey", UserName="dana", AccessKeyId=key["AccessKeyId"])),
        ("Cannot delete entity, must delete MFA device first.",
         lambda: iam.call("DeactivateMFADevice", UserName="dana",
                          SerialNumber=serial["SerialNumber"])),
        ("Cannot delete entity, must delete policies first.",
         lambda: iam.call("DeleteUserPolicy", UserName="dana", PolicyName="All")),
    ]
    for message, remove in steps:
        before = snapshot(client)
        assert refused(iam, "DeleteUser", UserName="dana") == ("DeleteConflict", message, 409)
        assert snapshot(client) == before
        remove()
    iam.call("DeleteUser", UserName="dana")
    assert refused(iam, "GetUser", UserName="dana") == (
        "NoSuchEntity", "The user with name dana cannot be found.", 404)
    iam.call("CreateUser", UserName="nolp")
    assert refused(iam, "GetLoginProfile", UserName="nolp") == (
        "NoSuchEntity", "Login Profile for User nolp cannot be found.", 404)
    assert refused(iam, "DeleteLoginProfile", UserName="nolp")[0] == "NoSuchEntity"


def test_get_user_without_name_is_the_caller(iam):
    assert iam.call("GetUser")["User"]["Arn"] == f"arn:aws:iam::{PROD}:user/admin"
    assert refused(iam, "GetLoginProfile", UserName="ghost")[:2] == (
        "NoSuchEntity", "The user with name ghost cannot be found.")


def test_get_user_with_role_credentials_needs_a_name(client, iam):
    from idp.aws.principals import Caller, CallerKind
    caller = Caller(kind=CallerKind.ROLE_SESSION, account=PROD,
                    arn=f"arn:aws:sts::{PROD}:assumed-role/Admin/x", user_id="AROAX:x",
                    access_key_id="ASIAX", role_arn=f"arn:aws:iam::{PROD}:role/Admin")
    api = client.app.state.runtime.services.iam_api
    from idp.aws.errors import ValidationError
    with pytest.raises(ValidationError, match="Must specify userName when calling with "
                                              "non-User credentials"):
        api.call("GetUser", {}, caller)


def test_access_keys_quota_counts_inactive_keys_and_secret_is_returned_once(iam, client):
    iam.call("CreateUser", UserName="kim")
    first = iam.call("CreateAccessKey", UserName="kim")["AccessKey"]
    assert re.fullmatch(r"AKIA[A-Z2-7]{16}", first["AccessKeyId"])
    assert len(first["SecretAccessKey"]) == 40 and first["Status"] == "Active"
    iam.call("UpdateAccessKey", UserName="kim", AccessKeyId=first["AccessKeyId"],
             Status="Inactive")
    iam.call("CreateAccessKey", UserName="kim")
    before = snapshot(client)
    assert refused(iam, "CreateAccessKey", UserName="kim") == (
        "LimitExceeded", "Cannot exceed quota for AccessKeysPerUser: 2", 409)
    assert snapshot(client) == before
    listed = iam.call("ListAccessKeys", UserName="kim")["AccessKeyMetadata"]
    assert {k["Status"] for k in listed} == {"Active", "Inactive"}
    assert all("SecretAccessKey" not in k for k in listed)
    assert "SecretAccessKey" not in iam.last.text
    assert refused(iam, "UpdateAccessKey", UserName="kim", AccessKeyId="AKIA0000000000000000",
                   Status="Active") == (
        "NoSuchEntity", "The Access Key with id AKIA0000000000000000 cannot be found.", 404)
    assert refused(iam, "UpdateAccessKey", UserName="kim", AccessKeyId=first["AccessKeyId"],
                   Status="Bogus")[0] == "ValidationError"
    # someone else's key is not found under this user
    assert refused(iam, "DeleteAccessKey", UserName="kim",
                   AccessKeyId="AKIAPRODADMINEXAMPLE")[0] == "NoSuchEntity"


def test_a_new_key_signs_requests_until_deactivated(iam, client):
    iam.call("CreateUser", UserName="eve")
    iam.call("PutUserPolicy", UserName="eve", PolicyName="Self", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "iam:GetUser",
             "Resource": "arn:aws:iam::*:user/${aws:username}"}]}))
    key = iam.call("CreateAccessKey", UserName="eve")["AccessKey"]
    eve = IamClient(client, key["AccessKeyId"], key["SecretAccessKey"])
    assert eve.call("GetUser")["User"]["UserName"] == "eve"
    assert refused(eve, "GetUser", UserName="admin")[0] == "AccessDenied"
    iam.call("UpdateAccessKey", UserName="eve", AccessKeyId=key["AccessKeyId"],
             Status="Inactive")
    assert refused(eve, "GetUser")[0] == "InvalidClientTokenId"


def test_login_profile_password_is_not_echoed(iam):
    code, message, _ = refused(iam, "CreateLoginProfile", UserName="admin",
                               Password="p" * 129)
    assert code == "ValidationError" and "ppp" not in message and "'password'" in message


# --- virtual MFA ----------------------------------------------------------------------------


def _codes(client, seed: str) -> tuple[str, str]:
    now = client.app.state.runtime.services.clock.now().timestamp()
    totp = pyotp.TOTP(seed)
    return totp.at(now - 30), totp.at(now)


def _qr_modules(png: bytes, scale: int = 4, border: int = 4) -> list[list[bool]]:
    """The dark modules of a 1-bit greyscale PNG QR code (segno's ``kind="png"``)."""
    width = int.from_bytes(png[16:20], "big")
    assert png[24:26] == b"\x01\x00"  # bit depth 1, greyscale
    data, at = b"", 8
    while at < len(png):
        length = int.from_bytes(png[at:at + 4], "big")
        kind = png[at + 4:at + 8]
        if kind == b"IDAT":
            data += png[at + 8:at + 8 + length]
        at += 12 + length
    raw = zlib.decompress(data)
    stride = 1 + (width + 7) // 8
    rows = [raw[i * stride + 1:(i + 1) * stride] for i in range(width)]
    side = width // scale - 2 * border
    return [[not rows[(border + y) * scale][((border + x) * scale) // 8]
             >> (7 - ((border + x) * scale) % 8) & 1 for x in range(side)]
            for y in range(side)]


def _expected_modules(uri: str) -> list[list[bool]]:
    import segno

    return [[bool(v) for v in row] for row in segno.make(uri, error="m", micro=False).matrix]


def test_virtual_mfa_device_lifecycle(iam, client):
    device = iam.call("CreateVirtualMFADevice", VirtualMFADeviceName="phone", Path="/d/")[
        "VirtualMFADevice"]
    serial = device["SerialNumber"]
    assert serial == f"arn:aws:iam::{PROD}:mfa/d/phone"
    seed = device["Base32StringSeed"].decode("ascii")
    assert re.fullmatch(r"[A-Z2-7]{64}", seed)
    png = device["QRCodePNG"]
    uri = f"otpauth://totp/phone@admin?secret={seed}"
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and png.endswith(b"IEND\xaeB`\x82")
    assert uri.encode() in png  # the tEXt chunk, for readers that cannot scan
    assert _qr_modules(png) == _expected_modules(uri)
    assert refused(iam, "CreateVirtualMFADevice", VirtualMFADeviceName="PHONE", Path="/d/")[
        :2] == ("EntityAlreadyExists", "MFADevice entity at the same path and name already "
                                       "exists.")
    unassigned = iam.call("ListVirtualMFADevices", AssignmentStatus="Unassigned")
    assert serial in [d["SerialNumber"] for d in unassigned["VirtualMFADevices"]]
    first, second = _codes(client, seed)
    before = snapshot(client)
    assert refused(iam, "EnableMFADevice", UserName="admin", SerialNumber=serial,
                   AuthenticationCode1=second, AuthenticationCode2=first) == (
        "InvalidAuthenticationCode", "Authentication code for device is not valid.", 403)
    assert refused(iam, "EnableMFADevice", UserName="admin", SerialNumber=serial,
                   AuthenticationCode1="12345a", AuthenticationCode2=first)[0] == \
        "ValidationError"
    assert snapshot(client) == before
    iam.call("EnableMFADevice", UserName="admin", SerialNumber=serial,
             AuthenticationCode1=first, AuthenticationCode2=second)
    devices = iam.call("ListMFADevices")["MFADevices"]
    assert [(d["UserName"], d["SerialNumber"]) for d in devices] == [("admin", serial)]
    assigned = iam.call("ListVirtualMFADevices", AssignmentStatus="Assigned")
    (entry,) = [d for d in assigned["VirtualMFADevices"] if d["SerialNumber"] == serial]
    assert entry["User"]["UserName"] == "admin" and "EnableDate" in entry
    assert refused(iam, "EnableMFADevice", UserName="admin", SerialNumber=serial,
                   AuthenticationCode1=first, AuthenticationCode2=second)[0] == \
        "EntityAlreadyExists"
    assert refused(iam, "DeleteVirtualMFADevice", SerialNumber=serial)[0] == "DeleteConflict"
    iam.call("DeactivateMFADevice", UserName="admin", SerialNumber=serial)
    assert iam.call("ListMFADevices", UserName="admin")["MFADevices"] == []
    iam.call("DeleteVirtualMFADevice", SerialNumber=serial)
    assert refused(iam, "DeleteVirtualMFADevice", SerialNumber=serial)[0] == "NoSuchEntity"


# --- account alias ---------------------------------------------------------------------------


def test_account_alias(iam, client):
    assert iam.call("ListAccountAliases")["AccountAliases"] == ["corp-prod"]
    assert refused(iam, "CreateAccountAlias", AccountAlias="other-name")[0] == "LimitExceeded"
    assert refused(iam, "DeleteAccountAlias", AccountAlias="nope-alias")[0] == "NoSuchEntity"
    iam.call("DeleteAccountAlias", AccountAlias="corp-prod")
    assert iam.call("ListAccountAliases")["AccountAliases"] == []
    assert refused(iam, "CreateAccountAlias", AccountAlias="corp-dev")[:2] == (
        "EntityAlreadyExists", "The account alias corp-dev already exists.")
    for bad in ("Upper", "a--b", "-ab", "ab-", "ab"):
        assert refused(iam, "CreateAccountAlias", AccountAlias=bad)[0] == "ValidationError"
    assert refused(iam, "CreateAccountAlias", AccountAlias="123456789012")[0] == "InvalidInput"
    iam.call("CreateAccountAlias", AccountAlias="prod-new")
    state = client.app.state.runtime.services.iam_api.iam.state()
    assert state.account_by_alias("prod-new").id == PROD
    assert state.account_by_alias("corp-prod") is None


# --- SAML providers ----------------------------------------------------------------------------


def test_saml_provider_lifecycle(iam, client):
    metadata = client.get("/idp/metadata").text
    arn = iam.call("CreateSAMLProvider", Name="Second", SAMLMetadataDocument=metadata,
                   Tags=[{"Key": "k", "Value": "v"}])["SAMLProviderArn"]
    assert arn == f"arn:aws:iam::{PROD}:saml-provider/Second"
    got = iam.call("GetSAMLProvider", SAMLProviderArn=arn)
    assert got["SAMLMetadataDocument"] == metadata and got["Tags"] == [{"Key": "k", "Value": "v"}]
    assert got["ValidUntil"] > got["CreateDate"]  # the metadata's validUntil
    undated = re.sub(r' validUntil="[^"]*"', "", metadata)
    assert undated != metadata
    third = iam.call("CreateSAMLProvider", Name="Third", SAMLMetadataDocument=undated)[
        "SAMLProviderArn"]
    got = iam.call("GetSAMLProvider", SAMLProviderArn=third)
    assert got["ValidUntil"].year == got["CreateDate"].year + 100
    iam.call("DeleteSAMLProvider", SAMLProviderArn=third)
    arns = [p["Arn"] for p in iam.call("ListSAMLProviders")["SAMLProviderList"]]
    assert arns == [PROD_PROVIDER, arn]
    assert refused(iam, "CreateSAMLProvider", Name="second", SAMLMetadataDocument=metadata)[
        0] == "EntityAlreadyExists"
    iam.call("UpdateSAMLProvider", SAMLProviderArn=arn, SAMLMetadataDocument=metadata)
    iam.call("TagSAMLProvider", SAMLProviderArn=arn, Tags=[{"Key": "x", "Value": "y"}])
    assert len(iam.call("ListSAMLProviderTags", SAMLProviderArn=arn)["Tags"]) == 2
    iam.call("DeleteSAMLProvider", SAMLProviderArn=arn)
    assert refused(iam, "GetSAMLProvider", SAMLProviderArn=arn) == (
        "NoSuchEntity", f"Manifest not found for arn {arn}", 404)
    assert refused(iam, "DeleteSAMLProvider", SAMLProviderArn=arn)[0] == "NoSuchEntity"


def _metadata_with(body: str) -> str:
    return ('<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" '
            'entityID="https://other.example/idp">' + body + "</EntityDescriptor>"
            + "<!--" + "x" * 1000 + "-->")


@pytest.mark.parametrize("document", [
    "x" * 1200,
    _metadata_with('<SPSSODescriptor protocolSupportEnumeration="x"/>'),
    _metadata_with('<IDPSSODescriptor protocolSupportEnumeration="x"/>'),
    '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY e "x">]>' + _metadata_with(""),
], ids=["not-xml", "sp-metadata", "no-certificate", "doctype"])
def test_unusable_metadata_is_invalid_input_and_changes_nothing(iam, client, document):
    before = snapshot(client)
    assert refused(iam, "CreateSAMLProvider", Name="Bad", SAMLMetadataDocument=document) == (
        "InvalidInput", "Could not parse metadata", 400)
    assert refused(iam, "UpdateSAMLProvider", SAMLProviderArn=PROD_PROVIDER,
                   SAMLMetadataDocument=document)[0] == "InvalidInput"
    assert snapshot(client) == before


def test_provider_name_and_document_constraints(iam, client):
    metadata = client.get("/idp/metadata").text
    assert refused(iam, "CreateSAMLProvider", Name="bad name",
                   SAMLMetadataDocument=metadata)[0] == "ValidationError"
    with pytest.raises(ParamValidationError):  # boto3 checks the minimum itself
        iam.call("CreateSAMLProvider", Name="short", SAMLMetadataDocument="<x/>")
    short = iam.raw("Action=CreateSAMLProvider&Version=2010-05-08&Name=s&"
                    "SAMLMetadataDocument=%3Cx%2F%3E")
    assert short.status_code == 400 and "<Code>ValidationError</Code>" in short.text
    assert "greater than or equal to 1000" in short.text
    for bad in ("arn:aws:iam::111122223333:role/Admin", "not-an-arn-at-all-really",
                "arn:aws:iam::1111:saml-provider/X"):
        assert refused(iam, "GetSAMLProvider", SAMLProviderArn=bad)[0] == "InvalidInput"
    assert refused(iam, "CreateSAMLProvider", Name="Enc", SAMLMetadataDocument=metadata,
                   AddPrivateKey="x" * 40)[0] == "InvalidInput"


def test_provider_quota(iam, client, monkeypatch):
    from idp.aws.iam import ops_providers
    monkeypatch.setattr(ops_providers, "PROVIDERS_PER_ACCOUNT", 2)
    metadata = client.get("/idp/metadata").text
    iam.call("CreateSAMLProvider", Name="Two", SAMLMetadataDocument=metadata)
    assert refused(iam, "CreateSAMLProvider", Name="Three", SAMLMetadataDocument=metadata) == (
        "LimitExceeded", "Cannot exceed quota for SAMLProvidersPerAccount: 2", 409)


def test_another_account_provider_is_not_reachable(iam):
    other = "arn:aws:iam::444455556666:saml-provider/CorpIdP"
    assert refused(iam, "DeleteSAMLProvider", SAMLProviderArn=other)[0] == "AccessDenied"


def _assume(client, saml: str) -> Any:
    return client.post(STS_URL, data={
        "Action": "AssumeRoleWithSAML", "Version": "2011-06-15", "RoleArn": READ_ONLY,
        "PrincipalArn": PROD_PROVIDER, "SAMLAssertion": saml})


def test_sts_trusts_what_the_iam_api_sets_from_the_next_request(iam, client, settings,
                                                                 directory, keypair, clock,
                                                                 attack_keys):
    from tests.support import builders
    from tests.support.saml import respond

    def fresh() -> str:
        return respond(builders.identity_provider(settings, directory, keypair, clock),
                       "bob").saml_value

    assert BOB_ROLE.startswith(READ_ONLY)
    assert _assume(client, fresh()).status_code == 200
    iam.call("DeleteSAMLProvider", SAMLProviderArn=PROD_PROVIDER)
    gone = _assume(client, fresh())
    assert gone.status_code in (400, 403) and "<Code>" in gone.text
    metadata = client.get("/idp/metadata").text
    iam.call("CreateSAMLProvider", Name="CorpIdP", SAMLMetadataDocument=metadata)
    assert _assume(client, fresh()).status_code == 200
    foreign = metadata.replace(keypair.cert_b64.replace("\n", ""),
                               attack_keys.attacker.cert_b64.replace("\n", ""))
    if foreign == metadata:  # the certificate is wrapped in the document
        foreign = re.sub(r"(<ds:X509Certificate>)[^<]+", lambda m: m.group(1)
                         + attack_keys.attacker.cert_b64.replace("\n", ""), metadata)
    assert foreign != metadata
    iam.call("UpdateSAMLProvider", SAMLProviderArn=PROD_PROVIDER,
             SAMLMetadataDocument=foreign)
    refused_now = _assume(client, fresh())
    assert refused_now.status_code in (400, 403), refused_now.text


# --- authorization ----------------------------------------------------------------------------


OPS_CALLS: list[tuple[str, dict[str, Any]]] = [
    ("ListRoles", {}), ("GetRole", {"RoleName": "Deployer"}), ("ListUsers", {}),
    ("GetUser", {}), ("CreateUser", {"UserName": "x"}), ("ListSAMLProviders", {}),
    ("CreateAccessKey", {}), ("ListAccessKeys", {}), ("ListMFADevices", {}),
    ("ListAccountAliases", {}), ("CreateVirtualMFADevice", {"VirtualMFADeviceName": "x"}),
    ("DeleteRole", {"RoleName": "Deployer"}), ("ListGroups", {}),
]


@pytest.mark.parametrize(("operation", "params"), OPS_CALLS, ids=[o for o, _ in OPS_CALLS])
def test_a_user_without_iam_rights_is_denied_everything(client, operation, params, caplog):
    ops = IamClient(client, *ADMINS["ops"])
    with caplog.at_level(logging.INFO, logger="idp.iam"):
        code, message, status = refused(ops, operation, **params)
    assert (code, status) == ("AccessDenied", 403)
    assert message.startswith("User: arn:aws:iam::444455556666:user/ops is not authorized to "
                              f"perform: iam:{operation} on resource: ")
    assert any("refused: AccessDenied" in r.getMessage() for r in caplog.records)


def test_read_only_policy_allows_get_and_list_only(client, iam):
    """The vendor auditor's account admin-less user is denied; prod's admin is allowed."""
    auditor = IamClient(client, *ADMINS["auditor"])
    assert refused(auditor, "ListRoles")[0] == "AccessDenied"


def test_operations_act_on_the_callers_account(client):
    dev = IamClient(client, *ADMINS["dev"])
    names = [r["RoleName"] for r in dev.call("ListRoles")["Roles"]]
    assert "Developer" in names and "ReadOnly" not in names
    assert refused(dev, "GetRole", RoleName="ReadOnly")[0] == "NoSuchEntity"


def test_unknown_action_and_unsupported_permissions_boundary(iam):
    response = iam.raw("Action=CreatePolicy&Version=2010-05-08")
    assert response.status_code == 400 and "<Code>InvalidAction</Code>" in response.text
    assert refused(iam, "CreateUser", UserName="b",
                   PermissionsBoundary="arn:aws:iam::aws:policy/Admin")[0] == "NoSuchEntity"


@pytest.mark.parametrize("password", ["Short-1", "alllowercase", "lower-and-symbols",
                                      "UPPER1234567"])
def test_console_passwords_follow_the_default_password_policy(iam, client, password):
    """No custom password policy: AWS's default (8-128, three of four character kinds)."""
    iam.call("CreateUser", UserName="weak")
    before = snapshot(client)
    assert refused(iam, "CreateLoginProfile", UserName="weak", Password=password)[:2] == (
        "PasswordPolicyViolation", "Password does not conform to the account password policy.")
    assert snapshot(client) == before
    iam.call("CreateLoginProfile", UserName="weak", Password="Three-kinds1")


# --- found by review -------------------------------------------------------------------------


@pytest.mark.parametrize("until", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00",
                                   "not-a-date"])
def test_a_valid_until_utc_cannot_hold_is_invalid_input(iam, client, until):
    metadata = re.sub(r'validUntil="[^"]*"', f'validUntil="{until}"',
                      client.get("/idp/metadata").text)
    before = snapshot(client)
    assert refused(iam, "CreateSAMLProvider", Name="Dated", SAMLMetadataDocument=metadata)[
        :2] == ("InvalidInput", "Could not parse metadata")
    assert snapshot(client) == before


def test_metadata_is_counted_in_characters_not_bytes(iam, client):
    """IAM's limit is 10,000,000 characters: multi-byte characters must not turn a document
    IAM accepts into one the stored state cannot rebuild."""
    metadata = client.get("/idp/metadata").text.replace(
        "</md:EntityDescriptor>", "<!--" + "\u00e9" * 60_000 + "--></md:EntityDescriptor>")
    assert len(metadata.encode()) > 2 * len(metadata) - 20_000
    arn = iam.call("CreateSAMLProvider", Name="Wide", SAMLMetadataDocument=metadata)[
        "SAMLProviderArn"]
    assert iam.call("GetSAMLProvider", SAMLProviderArn=arn)["SAMLMetadataDocument"] == metadata


def test_an_account_cannot_grow_past_its_budget(iam, client, monkeypatch):
    """Every account lives in one shared document: one account's growth is bounded, so it
    can never fill the store for the others (LimitExceeded, nothing written)."""
    import idp.aws.iam.store as store

    document = json.loads(snapshot(client))
    prod = len(json.dumps(document["accounts"][PROD], separators=(",", ":"),
                          ensure_ascii=False))
    monkeypatch.setattr(store, "MAX_ACCOUNT_CHARS", prod + 10)
    before = snapshot(client)
    assert refused(iam, "CreateUser", UserName="x" * 64)[0] == "LimitExceeded"
    assert snapshot(client) == before
    other = IamClient(client, *ADMINS["dev"])
    monkeypatch.setattr(store, "MAX_ACCOUNT_CHARS", 10 * len(snapshot(client)))
    other.call("CreateUser", UserName="still-fine")


def test_an_mfa_device_stays_addressable(iam):
    """Its serial number must fit ``serialNumberType`` (256), or it could never be deleted."""
    code, message, _ = refused(iam, "CreateVirtualMFADevice", VirtualMFADeviceName="d" * 300)
    assert code == "ValidationError" and "virtualMFADeviceName" in message
    serial = iam.call("CreateVirtualMFADevice", VirtualMFADeviceName="d" * 200)[
        "VirtualMFADevice"]["SerialNumber"]
    assert len(serial) <= 256
    iam.call("DeleteVirtualMFADevice", SerialNumber=serial)


def test_a_user_created_again_is_another_user(iam):
    """IAM gives a re-created name a new unique ID (its old keys and sessions do not carry)."""
    first = iam.call("CreateUser", UserName="again")["User"]["UserId"]
    iam.call("DeleteUser", UserName="again")
    second = iam.call("CreateUser", UserName="again")["User"]["UserId"]
    assert first != second and first.startswith("AIDA") and len(second) == 21


@pytest.mark.parametrize("key", ["aws:x", "AWS:cost"])
def test_tag_keys_in_aws_reserved_space_are_refused(iam, client, key):
    before = snapshot(client)
    assert refused(iam, "TagRole", RoleName="ReadOnly", Tags=[{"Key": key, "Value": "v"}])[
        0] == "InvalidInput"
    assert refused(iam, "CreateUser", UserName="tagged", Tags=[{"Key": key, "Value": "v"}])[
        0] == "InvalidInput"
    assert snapshot(client) == before
