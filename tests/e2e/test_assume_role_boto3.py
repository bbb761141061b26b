"""AssumeRole, GetSessionToken and GetCallerIdentity for IAM users through unchanged boto3,
against the real ``idp serve`` (demo directory): trust, MFA, ExternalId, role chaining, expiry,
and botocore's own assume-role credential provider from a shared config file."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import pyotp
import pytest

from tests.support.aws_cli import demo_profiles
from tests.support.demo import AUDITOR, OPS, OPS_MFA, OPS_SEED
from tests.support.server import running_server
from tests.support.sts import NO_RETRY, session_client, sts_client

pytestmark = [pytest.mark.live, pytest.mark.usefixtures("no_aws_config")]

PROD, DEV, VENDOR = "111122223333", "444455556666", "999988887777"
DEV_ADMIN = ("AKIADEVADMINEXAMPLE0", "devAdmin/DemoSecretAccessKey/00000000000")
DEPLOYER = f"arn:aws:iam::{DEV}:role/Deployer"
READ_ONLY = f"arn:aws:iam::{PROD}:role/ReadOnly"
BREAK_GLASS = f"arn:aws:iam::{PROD}:role/BreakGlass"
VENDOR_AUDIT = f"arn:aws:iam::{PROD}:role/VendorAudit"


def user_client(endpoint: str, key: tuple[str, str]) -> Any:
    return sts_client(endpoint, aws_access_key_id=key[0], aws_secret_access_key=key[1])


def error_of(info: Any) -> tuple[str, str, int]:
    error = info.value.response["Error"]
    return error["Code"], error["Message"], info.value.response["ResponseMetadata"][
        "HTTPStatusCode"]


def fresh_code(seed: str = OPS_SEED) -> str:
    """The device's current code, at least 3 s before the step ends (no step race)."""
    if 30 - time.time() % 30 < 3:
        time.sleep(30 - time.time() % 30 + 0.1)
    return str(pyotp.TOTP(seed).now())


@pytest.fixture
def endpoint(live_server: str) -> str:
    return f"{live_server}/aws/sts"


def test_user_identity_and_chain_deployer_to_read_only(endpoint):
    ops = user_client(endpoint, OPS)
    identity = ops.get_caller_identity()
    assert identity["Arn"] == f"arn:aws:iam::{DEV}:user/ops"
    assert identity["UserId"].startswith("AIDA") and identity["Account"] == DEV

    deployer = ops.assume_role(RoleArn=DEPLOYER, RoleSessionName="build-1")
    assert deployer["AssumedRoleUser"]["Arn"] == (
        f"arn:aws:sts::{DEV}:assumed-role/Deployer/build-1")
    assert deployer["AssumedRoleUser"]["AssumedRoleId"].startswith("AROA")
    assert deployer["Credentials"]["AccessKeyId"].startswith("ASIA")
    expires = deployer["Credentials"]["Expiration"]
    assert abs((expires - dt.datetime.now(dt.UTC)).total_seconds() - 3600) < 60
    as_deployer = session_client(endpoint, deployer["Credentials"])
    assert as_deployer.get_caller_identity()["Arn"] == deployer["AssumedRoleUser"]["Arn"]

    with pytest.raises(botocore.exceptions.ClientError) as info:
        as_deployer.assume_role(RoleArn=READ_ONLY, RoleSessionName="chain",
                                DurationSeconds=7200)
    assert error_of(info) == (
        "ValidationError", "The requested DurationSeconds exceeds the 1 hour session limit "
        "for roles assumed by role chaining.", 400)

    read_only = as_deployer.assume_role(RoleArn=READ_ONLY, RoleSessionName="chain")
    identity = session_client(endpoint, read_only["Credentials"]).get_caller_identity()
    assert identity["Arn"] == f"arn:aws:sts::{PROD}:assumed-role/ReadOnly/chain"
    assert identity["Account"] == PROD
    # GetAccessKeyInfo: the ASIA key's account, and a long-term key's.
    assert ops.get_access_key_info(
        AccessKeyId=read_only["Credentials"]["AccessKeyId"])["Account"] == PROD
    assert ops.get_access_key_info(AccessKeyId=AUDITOR[0])["Account"] == VENDOR


def test_break_glass_needs_mfa_and_each_code_works_once(endpoint):
    ops = user_client(endpoint, OPS)
    with pytest.raises(botocore.exceptions.ClientError) as info:
        ops.assume_role(RoleArn=BREAK_GLASS, RoleSessionName="oops")
    assert error_of(info) == (
        "AccessDenied", f"User: arn:aws:iam::{DEV}:user/ops is not authorized to perform: "
        f"sts:AssumeRole on resource: {BREAK_GLASS}", 403)

    code = fresh_code()
    result = ops.assume_role(RoleArn=BREAK_GLASS, RoleSessionName="incident",
                             SerialNumber=OPS_MFA, TokenCode=code)
    assert result["AssumedRoleUser"]["Arn"] == (
        f"arn:aws:sts::{PROD}:assumed-role/BreakGlass/incident")

    with pytest.raises(botocore.exceptions.ClientError) as info:
        ops.assume_role(RoleArn=BREAK_GLASS, RoleSessionName="again", SerialNumber=OPS_MFA,
                        TokenCode=code)
    assert error_of(info) == (
        "AccessDenied", "MultiFactorAuthentication failed with invalid MFA one time pass code.",
        403)

    with pytest.raises(botocore.exceptions.ClientError) as info:
        ops.assume_role(RoleArn=BREAK_GLASS, RoleSessionName="half", SerialNumber=OPS_MFA)
    assert error_of(info)[1] == ("MultiFactorAuthentication failed, must provide both MFA "
                                 "serial number and one time pass code.")


def test_vendor_external_id(endpoint):
    auditor = user_client(endpoint, AUDITOR)
    denied = (f"User: arn:aws:iam::{VENDOR}:user/auditor is not authorized to perform: "
              f"sts:AssumeRole on resource: {VENDOR_AUDIT}")
    for extra in ({}, {"ExternalId": "vendor-0000"}):
        with pytest.raises(botocore.exceptions.ClientError) as info:
            auditor.assume_role(RoleArn=VENDOR_AUDIT, RoleSessionName="audit", **extra)
        assert error_of(info) == ("AccessDenied", denied, 403)
    result = auditor.assume_role(RoleArn=VENDOR_AUDIT, RoleSessionName="audit",
                                 ExternalId="vendor-7f3a")
    assert result["AssumedRoleUser"]["Arn"].endswith(":assumed-role/VendorAudit/audit")


def test_dev_admin_has_no_grant_on_prod_break_glass(endpoint):
    admin = user_client(endpoint, DEV_ADMIN)
    with pytest.raises(botocore.exceptions.ClientError) as info:
        admin.assume_role(RoleArn=BREAK_GLASS, RoleSessionName="admin")
    assert error_of(info)[:1] == ("AccessDenied",)
    # ...while its own account's Deployer works (sts:* on corp-dev's resources).
    assert admin.assume_role(RoleArn=DEPLOYER, RoleSessionName="admin")["AssumedRoleUser"]


def test_missing_role_and_bad_parameters(endpoint):
    ops = user_client(endpoint, OPS)
    with pytest.raises(botocore.exceptions.ClientError) as info:
        ops.assume_role(RoleArn=f"arn:aws:iam::{PROD}:role/NoSuchRole", RoleSessionName="x1")
    assert error_of(info)[0] == "AccessDenied"
    with pytest.raises(botocore.exceptions.ClientError) as info:
        ops.assume_role(RoleArn=DEPLOYER, RoleSessionName="bad/name")
    assert error_of(info) == (
        "ValidationError", "1 validation error detected: Value 'bad/name' at 'roleSessionName' "
        "failed to satisfy constraint: Member must satisfy regular expression pattern: "
        r"[\w+=,.@-]*", 400)


def test_get_session_token_with_mfa_then_break_glass_without_code(endpoint):
    ops = user_client(endpoint, OPS)
    with pytest.raises(botocore.exceptions.ClientError) as info:
        ops.get_session_token(SerialNumber=OPS_MFA, TokenCode="000000"
                              if fresh_code() != "000000" else "111111")
    assert error_of(info) == (
        "AccessDenied", "MultiFactorAuthentication failed, unable to validate MFA code.  "
        "Please verify your MFA serial number is valid and associated with this user.", 403)

    token = ops.get_session_token(SerialNumber=OPS_MFA, TokenCode=fresh_code(),
                                  DurationSeconds=3600)
    session = session_client(endpoint, token["Credentials"])
    assert session.get_caller_identity()["Arn"] == f"arn:aws:iam::{DEV}:user/ops"
    with pytest.raises(botocore.exceptions.ClientError) as info:
        session.get_session_token()
    assert error_of(info) == (
        "AccessDenied", "Cannot call GetSessionToken with session credentials", 403)
    result = session.assume_role(RoleArn=BREAK_GLASS, RoleSessionName="mfa-session")
    assert result["AssumedRoleUser"]["Arn"].endswith("assumed-role/BreakGlass/mfa-session")
    # GetSessionToken credentials count as role chaining.
    with pytest.raises(botocore.exceptions.ClientError) as info:
        session.assume_role(RoleArn=DEPLOYER, RoleSessionName="long", DurationSeconds=7200)
    assert "1 hour session limit" in error_of(info)[1]


def test_expired_credentials_are_expired_token_403(tmp_path: Path):
    """Credentials issued by a server two hours behind have expired for one on the real clock
    (same keys): ExpiredToken, HTTP 403, on every API."""
    with running_server(tmp_path, extra_args=["--clock-offset", "-7200"]) as behind:
        ops = user_client(f"{behind.url}/aws/sts", OPS)
        user_session = ops.get_session_token(DurationSeconds=900)["Credentials"]
        role_session = ops.assume_role(RoleArn=DEPLOYER, RoleSessionName="old")["Credentials"]
    with running_server(tmp_path) as real:
        for credentials in (user_session, role_session):
            client = session_client(f"{real.url}/aws/sts", credentials)
            for call in (client.get_caller_identity,
                         lambda c=client: c.assume_role(RoleArn=READ_ONLY,
                                                        RoleSessionName="late")):
                with pytest.raises(botocore.exceptions.ClientError) as info:
                    call()
                assert error_of(info) == (
                    "ExpiredToken", "The security token included in the request is expired",
                    403)


def _write_profiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, endpoint: str) -> None:
    for name, value in demo_profiles(tmp_path).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", endpoint)


def test_botocore_assume_role_provider_with_mfa_and_external_id(tmp_path, monkeypatch,
                                                                endpoint):
    _write_profiles(tmp_path, monkeypatch, endpoint)
    session = boto3.session.Session(profile_name="breakglass")
    provider = session._session.get_component("credential_provider").get_provider(
        "assume-role")
    prompts: list[str] = []

    def prompter(text: str) -> str:
        prompts.append(text)
        return fresh_code()

    provider._prompter = prompter
    identity = session.client("sts", config=NO_RETRY).get_caller_identity()
    assert identity["Arn"].startswith(f"arn:aws:sts::{PROD}:assumed-role/BreakGlass/")
    assert prompts and OPS_MFA in prompts[0]

    vendor = boto3.session.Session(profile_name="vendor").client("sts", config=NO_RETRY)
    assert ":assumed-role/VendorAudit/" in vendor.get_caller_identity()["Arn"]
    wrong = boto3.session.Session(profile_name="vendor-wrong").client("sts", config=NO_RETRY)
    with pytest.raises(botocore.exceptions.ClientError) as info:
        wrong.get_caller_identity()
    assert error_of(info)[0] == "AccessDenied"
