"""IAM OpenID Connect providers through unchanged boto3 and the real AWS CLI over HTTP.

The in-process ``Simulator`` (a real uvicorn server on a loopback port) answers boto3's
``iam`` client and ``aws iam … --endpoint-url``: the seeded provider for the simulator's own
issuer, the whole life cycle, the modelled errors as botocore's exception classes, callers
without IAM rights, and the state STS reads. One test runs ``idp serve --workers 2``: a
provider created through one worker is what every worker answers with.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.config
import botocore.exceptions
import pytest

from idp.simulator import Simulator
from tests.support.aws_cli import aws, aws_json, clean_env
from tests.support.demo import AUDITOR, DEV, DEV_ADMIN, VENDOR
from tests.support.server import running_server
from tests.support.sts import HTTP_TIMEOUT, NO_RETRY

pytestmark = [pytest.mark.live, pytest.mark.usefixtures("no_aws_config")]

PRINT = "9e99a48a9960b14926bb7f3b02e22da2b0ab7280"
#: As another SDK (or boto3 told not to) sends: botocore's minimum-length check is off.
UNCHECKED = botocore.config.Config(retries={"max_attempts": 0}, connect_timeout=HTTP_TIMEOUT,
                                   read_timeout=HTTP_TIMEOUT, parameter_validation=False)


def arn_of(host_path: str, account: str = DEV) -> str:
    return f"arn:aws:iam::{account}:oidc-provider/{host_path}"


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator() as simulator:
        yield simulator


@pytest.fixture
def iam(sim: Simulator) -> Iterator[Any]:
    """corp-dev's admin (``iam:*``); the simulator is reset after the test."""
    yield sim.iam_session("admin", account=DEV).client("iam", config=NO_RETRY)
    sim.reset()


def seeded(sim: Simulator) -> str:
    return arn_of(f"{sim.base_url.removeprefix('http://')}/oidc")


def code_of(exc: pytest.ExceptionInfo[botocore.exceptions.ClientError]) -> tuple[str, str]:
    err = exc.value.response["Error"]
    return err["Code"], err["Message"]


def test_the_seeded_provider_is_the_simulators_own_issuer(sim: Simulator, iam: Any) -> None:
    listed = iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
    assert listed == [{"Arn": seeded(sim)}]
    got = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=seeded(sim))
    assert got["Url"] == f"{sim.base_url.removeprefix('http://')}/oidc"
    assert got["ClientIDList"] == ["sts.amazonaws.com"]


def test_boto3_round_trip(sim: Simulator, iam: Any) -> None:
    created = iam.create_open_id_connect_provider(
        Url="https://token.example.com/org/", ClientIDList=["sts.amazonaws.com"],
        ThumbprintList=[PRINT.upper()], Tags=[{"Key": "team", "Value": "ci"}])
    arn = created["OpenIDConnectProviderArn"]
    assert arn == arn_of("token.example.com/org/")
    assert created["Tags"] == [{"Key": "team", "Value": "ci"}]
    got = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    assert (got["Url"], got["ClientIDList"], got["ThumbprintList"]) == (
        "token.example.com/org/", ["sts.amazonaws.com"], [PRINT])
    assert got["Tags"] == [{"Key": "team", "Value": "ci"}]
    assert {p["Arn"] for p in iam.list_open_id_connect_providers()[
        "OpenIDConnectProviderList"]} == {seeded(sim), arn}

    iam.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=arn,
                                                  ClientID="my-app")
    iam.remove_client_id_from_open_id_connect_provider(OpenIDConnectProviderArn=arn,
                                                       ClientID="sts.amazonaws.com")
    iam.update_open_id_connect_provider_thumbprint(OpenIDConnectProviderArn=arn,
                                                   ThumbprintList=["a" * 40, "b" * 40])
    got = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    assert (got["ClientIDList"], got["ThumbprintList"]) == (["my-app"], ["a" * 40, "b" * 40])

    iam.tag_open_id_connect_provider(OpenIDConnectProviderArn=arn,
                                     Tags=[{"Key": "env", "Value": "prod"}])
    iam.untag_open_id_connect_provider(OpenIDConnectProviderArn=arn, TagKeys=["team"])
    tags = iam.list_open_id_connect_provider_tags(OpenIDConnectProviderArn=arn)
    assert tags["Tags"] == [{"Key": "env", "Value": "prod"}] and tags["IsTruncated"] is False

    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    with pytest.raises(iam.exceptions.NoSuchEntityException) as exc:
        iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    assert code_of(exc) == ("NoSuchEntity", f"OpenIDConnect Provider not found for arn {arn}")
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)


def test_boto3_errors(sim: Simulator, iam: Any) -> None:
    iam.create_open_id_connect_provider(Url="https://dup.example.com")
    with pytest.raises(iam.exceptions.EntityAlreadyExistsException) as exc:
        iam.create_open_id_connect_provider(Url="https://dup.example.com")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert code_of(exc)[1] == "Provider with url https://dup.example.com already exists."
    for url in ("http://token.example.com", "https://token.example.com?tenant=1",
                "https://bad_host.example.com"):
        with pytest.raises(iam.exceptions.InvalidInputException) as exc:
            iam.create_open_id_connect_provider(Url=url)
        assert code_of(exc)[1] == "Invalid Open ID Connect Provider URL.", url
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        iam.create_open_id_connect_provider(Url="token.example.com")
    assert code_of(exc)[0] == "ValidationError"
    with pytest.raises(iam.exceptions.InvalidInputException) as exc:
        iam.create_open_id_connect_provider(Url="https://t.example.com",
                                            ThumbprintList=["z" * 40])
    assert code_of(exc)[1] == "Thumbprint must be 40 hexadecimal characters."
    with pytest.raises(iam.exceptions.InvalidInputException) as exc:
        iam.create_open_id_connect_provider(Url="https://t.example.com",
                                            ThumbprintList=[c * 40 for c in "abcdef"])
    assert code_of(exc)[1] == "Thumbprint list must contain fewer than 5 entries."
    with pytest.raises(botocore.exceptions.ParamValidationError):  # botocore checks min 40
        iam.create_open_id_connect_provider(Url="https://t.example.com",
                                            ThumbprintList=["a" * 39])
    unchecked = sim.iam_session("admin", account=DEV).client("iam", config=UNCHECKED)
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        unchecked.create_open_id_connect_provider(Url="https://t.example.com",
                                                  ThumbprintList=["a" * 39])
    assert code_of(exc)[0] == "ValidationError"
    assert "greater than or equal to 40" in code_of(exc)[1]
    with pytest.raises(iam.exceptions.LimitExceededException) as exc:
        iam.create_open_id_connect_provider(Url="https://t.example.com",
                                            ClientIDList=[f"c{i}" for i in range(101)])
    assert code_of(exc)[1] == "Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: 100"
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn_of("nobody.example.com"))
    with pytest.raises(iam.exceptions.InvalidInputException):
        iam.get_open_id_connect_provider(
            OpenIDConnectProviderArn=f"arn:aws:iam::{DEV}:saml-provider/CorpIdP")
    names = {p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]}
    assert names == {seeded(sim), arn_of("dup.example.com")}


def test_callers_without_iam_rights_are_denied(sim: Simulator, iam: Any) -> None:
    auditor = sim.iam_session("auditor", account=VENDOR).client("iam", config=NO_RETRY)
    ops = sim.iam_session("ops", account=DEV).client("iam", config=NO_RETRY)
    for client, user in ((auditor, f"arn:aws:iam::{VENDOR}:user/auditor"),
                         (ops, f"arn:aws:iam::{DEV}:user/ops")):
        with pytest.raises(botocore.exceptions.ClientError) as exc:
            client.create_open_id_connect_provider(Url="https://denied.example.com")
        code, message = code_of(exc)
        assert code == "AccessDenied"
        assert message.startswith(f"User: {user} is not authorized to perform: "
                                  "iam:CreateOpenIDConnectProvider on resource: arn:aws:iam::")
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        with pytest.raises(botocore.exceptions.ClientError) as exc:
            client.list_open_id_connect_providers()
        assert code_of(exc)[0] == "AccessDenied"
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        ops.delete_open_id_connect_provider(OpenIDConnectProviderArn=seeded(sim))
    assert code_of(exc)[0] == "AccessDenied"
    assert iam.get_open_id_connect_provider(OpenIDConnectProviderArn=seeded(sim))[
        "ClientIDList"] == ["sts.amazonaws.com"]


def test_sts_state_follows_the_api(sim: Simulator, iam: Any) -> None:
    """STS reads providers from the same state: what boto3 just changed is there."""
    state = sim.runtime.services.web_identity.iam
    assert state is sim.runtime.services.iam_api.iam
    arn = iam.create_open_id_connect_provider(
        Url="https://gha.example.com", ClientIDList=["sts.amazonaws.com"])[
        "OpenIDConnectProviderArn"]
    provider = state.state().oidc_provider(arn)
    assert provider is not None and provider.url == "https://gha.example.com"
    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    assert state.state().oidc_provider(arn) is None


def test_aws_cli(sim: Simulator, iam: Any, tmp_path: Path) -> None:
    env = dict(clean_env(tmp_path), AWS_ACCESS_KEY_ID=DEV_ADMIN[0],
               AWS_SECRET_ACCESS_KEY=DEV_ADMIN[1], AWS_DEFAULT_REGION="us-east-1")
    endpoint = ["--endpoint-url", sim.iam_endpoint]
    created = aws_json(["iam", "create-open-id-connect-provider", "--url",
                        "https://cli.example.com/issuer", "--client-id-list",
                        "sts.amazonaws.com", "app", "--thumbprint-list", PRINT, *endpoint],
                       env, tmp_path)
    arn = created["OpenIDConnectProviderArn"]
    assert arn == arn_of("cli.example.com/issuer")
    got = aws_json(["iam", "get-open-id-connect-provider", "--open-id-connect-provider-arn",
                    str(arn), *endpoint], env, tmp_path)
    assert got["Url"] == "cli.example.com/issuer"
    assert got["ClientIDList"] == ["sts.amazonaws.com", "app"]
    assert got["ThumbprintList"] == [PRINT]
    listed = aws_json(["iam", "list-open-id-connect-providers", *endpoint], env, tmp_path)
    assert {p["Arn"] for p in listed["OpenIDConnectProviderList"]} == {  # type: ignore[attr-defined]
        seeded(sim), arn}
    again = aws(["iam", "create-open-id-connect-provider", "--url",
                 "https://cli.example.com/issuer", *endpoint], env, tmp_path)
    assert again.returncode != 0
    assert "EntityAlreadyExists" in again.stderr
    assert "Provider with url https://cli.example.com/issuer already exists." in again.stderr


def test_every_idp_serve_worker_answers_with_the_new_provider(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    import boto3

    workdir = tmp_path_factory.mktemp("iam-oidc")
    with running_server(workdir, extra_args=("--workers", "2")) as live:
        client = boto3.session.Session().client(
            "iam", endpoint_url=f"{live.url}/aws/iam", region_name="us-east-1",
            aws_access_key_id=DEV_ADMIN[0], aws_secret_access_key=DEV_ADMIN[1],
            config=NO_RETRY)
        arn = client.create_open_id_connect_provider(
            Url="https://workers.example.com", ClientIDList=["sts.amazonaws.com"])[
            "OpenIDConnectProviderArn"]
        for _ in range(6):  # several connections land on both processes
            got = client.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
            assert got["Url"] == "workers.example.com"
        listed = {p["Arn"] for p in client.list_open_id_connect_providers()[
            "OpenIDConnectProviderList"]}
        assert listed == {arn, arn_of(f"127.0.0.1:{live.port}/oidc")}
        auditor = boto3.session.Session().client(
            "iam", endpoint_url=f"{live.url}/aws/iam", region_name="us-east-1",
            aws_access_key_id=AUDITOR[0], aws_secret_access_key=AUDITOR[1], config=NO_RETRY)
        with pytest.raises(botocore.exceptions.ClientError) as exc:
            auditor.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)
        assert code_of(exc)[0] == "AccessDenied"
