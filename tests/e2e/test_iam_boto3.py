"""The IAM twin through unchanged boto3 against ``idp serve --workers 2``.

A user made through the IAM API signs in to STS with its new key; a SAML provider deleted,
re-created from ``GET /idp/metadata`` and updated with another IdP's metadata changes what
``AssumeRoleWithSAML`` accepts from the next request on; changes survive a restart.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import httpx2
import pytest

from tests.support.demo import DEV, DEV_PROVIDER, DEVELOPER
from tests.support.server import LiveServer, running_server
from tests.support.sts import HTTP_TIMEOUT, NO_RETRY, ResponseFactory, sts_client
from tests.vectors.attacks import make_keys

pytestmark = [pytest.mark.live, pytest.mark.usefixtures("no_aws_config")]

DEV_ADMIN = ("AKIADEVADMINEXAMPLE0", "devAdmin/DemoSecretAccessKey/00000000000")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("iam-boto3")


@pytest.fixture(scope="module")
def server(workdir: Path) -> Iterator[LiveServer]:
    with running_server(workdir, extra_args=("--workers", "2")) as live:
        yield live


def iam_client(server: LiveServer, key: str = DEV_ADMIN[0], secret: str = DEV_ADMIN[1]) -> Any:
    return boto3.session.Session().client(
        "iam", endpoint_url=f"{server.url}/aws/iam", region_name="us-east-1",
        aws_access_key_id=key, aws_secret_access_key=secret, config=NO_RETRY)


def assume(server: LiveServer) -> dict[str, Any]:
    assertion = ResponseFactory(server.url, server.certs_dir).build()
    result: dict[str, Any] = sts_client(f"{server.url}/aws/sts").assume_role_with_saml(
        RoleArn=DEVELOPER, PrincipalArn=DEV_PROVIDER, SAMLAssertion=assertion)
    return result


def test_new_user_key_signs_sts_get_caller_identity(server: LiveServer) -> None:
    iam = iam_client(server)
    user = iam.create_user(UserName="builder", Path="/ci/")["User"]
    assert user["Arn"] == f"arn:aws:iam::{DEV}:user/ci/builder"
    profile = iam.create_login_profile(UserName="builder", Password="Builder-pass-1")
    assert profile["LoginProfile"]["UserName"] == "builder"
    key = iam.create_access_key(UserName="builder")["AccessKey"]
    assert re.fullmatch(r"AKIA[A-Z2-7]{16}", key["AccessKeyId"])
    sts = sts_client(f"{server.url}/aws/sts", aws_access_key_id=key["AccessKeyId"],
                     aws_secret_access_key=key["SecretAccessKey"])
    identity = sts.get_caller_identity()
    assert identity["Arn"] == f"arn:aws:iam::{DEV}:user/ci/builder"
    assert (identity["Account"], identity["UserId"]) == (DEV, user["UserId"])
    # every worker sees the user at once (several calls land on both processes)
    for _ in range(6):
        assert iam.get_user(UserName="builder")["User"]["UserId"] == user["UserId"]


def test_boto3_errors_and_paginators(server: LiveServer) -> None:
    iam = iam_client(server)
    with pytest.raises(iam.exceptions.NoSuchEntityException) as exc:
        iam.get_role(RoleName="Nope")
    assert exc.value.response["Error"]["Message"] == "The role with name Nope cannot be found."
    with pytest.raises(iam.exceptions.EntityAlreadyExistsException):
        iam.create_role(RoleName="developer", AssumeRolePolicyDocument='{"Version":"2012-10-17",'
                        '"Statement":[{"Effect":"Allow","Principal":{"AWS":"444455556666"},'
                        '"Action":"sts:AssumeRole"}]}')
    with pytest.raises(iam.exceptions.MalformedPolicyDocumentException):
        iam.put_role_policy(RoleName="Developer", PolicyName="x", PolicyDocument="{")
    names = [r["RoleName"] for page in iam.get_paginator("list_roles").paginate(
        PaginationConfig={"PageSize": 1}) for r in page["Roles"]]
    assert names == ["Billing", "CiDeploy", "Deployer", "Developer"]
    ops = iam_client(server, "AKIAOPSUSEREXAMPLE00", "opsUser/DemoSecretAccessKey/000000000000")
    with pytest.raises(botocore.exceptions.ClientError) as denied:
        ops.list_users()
    assert denied.value.response["Error"]["Code"] == "AccessDenied"


def test_provider_changes_what_sts_trusts(server: LiveServer) -> None:
    iam = iam_client(server)
    assert assume(server)["AssumedRoleUser"]["Arn"].startswith(
        f"arn:aws:sts::{DEV}:assumed-role/Developer/")
    iam.delete_saml_provider(SAMLProviderArn=DEV_PROVIDER)
    with pytest.raises(botocore.exceptions.ClientError):
        assume(server)
    with httpx2.Client(timeout=HTTP_TIMEOUT) as http:
        metadata = http.get(f"{server.url}/idp/metadata").text
    arn = iam.create_saml_provider(SAMLMetadataDocument=metadata, Name="CorpIdP")[
        "SAMLProviderArn"]
    assert arn == DEV_PROVIDER
    assert assume(server)["Audience"]
    assert iam.get_saml_provider(SAMLProviderArn=arn)["SAMLMetadataDocument"] == metadata
    keys = make_keys(ResponseFactory(server.url, server.certs_dir).keys)
    ours = keys.real.cert_b64.replace("\n", "")
    assert ours in metadata.replace("\n", "")
    foreign = re.sub(r"(X509Certificate>)[^<]+", lambda m: m.group(1)
                     + keys.attacker.cert_b64.replace("\n", ""), metadata)
    iam.update_saml_provider(SAMLProviderArn=arn, SAMLMetadataDocument=foreign)
    with pytest.raises(botocore.exceptions.ClientError):
        assume(server)
    iam.update_saml_provider(SAMLProviderArn=arn, SAMLMetadataDocument=metadata)
    assert assume(server)["Audience"]


def test_changes_survive_a_restart(tmp_path: Path) -> None:
    """Stop the server, start a new one on the same data folder: the change is there."""
    trust = ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":'
             '{"AWS":"444455556666"},"Action":"sts:AssumeRole"}]}')
    with running_server(tmp_path) as first:
        iam_client(first).create_role(RoleName="Survivor", AssumeRolePolicyDocument=trust)
        certs = first.certs_dir
    with running_server(tmp_path, certs) as again:
        role = iam_client(again).get_role(RoleName="Survivor")["Role"]
        assert role["Arn"] == f"arn:aws:iam::{DEV}:role/Survivor"
