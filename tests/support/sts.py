"""Talking to the mock STS as AWS clients do, with Responses signed for a live server.

``sts_client`` / ``session_client`` are boto3 STS clients with bounded timeouts and no
retries (a 5xx surfaces as itself); ``clean_aws_environment`` keeps a developer's real AWS
configuration out of boto3 and the AWS CLI; ``assume_role_params`` is the same call for the
in-process ``Sts``. ``ResponseFactory`` loads a running server's
signing key from its certs folder and builds Responses exactly the way the server would, at
any instant, so time-based cases need no clock control on the server; ``mutate`` edits one and
re-signs its Assertion with the real key (``tests.support.saml.resigned``), so only the rule
under test fails.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
from pathlib import Path
from typing import Any, Final

import boto3
import botocore.config

from idp.clock import FixedClock
from idp.directory import Directory, demo_directory
from idp.errors import SamlValidationError
from idp.keys import KeyPair, KeyStore
from idp.saml.validation import verify_response
from idp.settings import Settings
from tests.support.builders import identity_provider, trusted_issuer, validation_policy
from tests.support.demo import PROD_PROVIDER, READ_ONLY
from tests.support.saml import Edit, now, resigned, respond

#: Bounded HTTP timeouts for every client the tests build (seconds).
HTTP_TIMEOUT: Final = 15
#: No retries: a 5xx (or anything botocore would retry) shows up as the first answer.
NO_RETRY: Final = botocore.config.Config(
    retries={"max_attempts": 0}, connect_timeout=HTTP_TIMEOUT, read_timeout=HTTP_TIMEOUT,
)


def assume_role_params(saml: str, role_arn: str = READ_ONLY, principal_arn: str = PROD_PROVIDER,
                       **extra: str) -> dict[str, str]:
    """``AssumeRoleWithSAML``'s Query parameters (bob's role by default), as the in-process
    ``Sts.assume_role_with_saml`` takes them."""
    return {"RoleArn": role_arn, "PrincipalArn": principal_arn, "SAMLAssertion": saml, **extra}


# --- clients -----------------------------------------------------------------------------------


def sts_client(endpoint: str | None, **kwargs: Any) -> Any:
    """A boto3 STS client for the mock (``endpoint`` None: from AWS_ENDPOINT_URL_STS)."""
    session = boto3.session.Session()
    options: dict[str, Any] = {"region_name": "us-east-1", "config": NO_RETRY}
    if endpoint is not None:
        options["endpoint_url"] = endpoint
    options.update(kwargs)
    return session.client("sts", **options)


def session_client(endpoint: str | None, credentials: dict[str, Any], **kwargs: Any) -> Any:
    """An STS client signing with the temporary credentials of an AssumeRoleWithSAML result."""
    return sts_client(
        endpoint,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        **kwargs,
    )


def clean_aws_environment(monkeypatch: Any, tmp_path: Path) -> None:
    """No real AWS configuration leaks in: empty config files, no AWS_* variables."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    config = tmp_path / "aws-config"
    credentials = tmp_path / "aws-credentials"
    config.write_text("")
    credentials.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


# --- signed Responses for a live server -------------------------------------------------


class ResponseFactory:
    """Signed Responses for one running server, built the way the server itself builds them."""

    def __init__(self, url: str, certs_dir: Path) -> None:
        self.url = url
        self.keys: KeyPair = KeyStore(certs_dir).load()
        self.settings = Settings(base_url=url, certs_dir=certs_dir)
        self.directory: Directory = demo_directory(aws_acs=f"{url}/aws/saml")

    @property
    def issuer(self) -> str:
        return self.settings.entity_id

    def build(self, username: str = "alice", *, at: dt.datetime | None = None) -> str:
        """The base64 Response the IdP would POST for ``username`` at instant ``at``."""
        idp = identity_provider(self.settings, self.directory, self.keys, FixedClock(at or now()))
        return respond(idp, username).saml_value

    def mutate(self, b64: str, edit: Edit) -> str:
        """Let ``edit`` change the Response tree, then re-sign its Assertion with the real key."""
        return resigned(b64, self.keys, edit)

    def failing_rule(self, b64: str) -> str | None:
        """Which verifier rule this Response breaks when checked the way the server checks it.

        The STS reports several rules with one message ("Response signature invalid"); tests
        use this to make sure an edit breaks the rule they mean and nothing earlier.
        """
        policy = validation_policy(self.settings, FixedClock(dt.datetime.now(dt.UTC)))
        try:
            verify_response(base64.b64decode(b64), trust=trusted_issuer(self.settings, self.keys),
                            policy=policy)
        except SamlValidationError as exc:
            return exc.rule
        return None


def assert_sts_refusal(response: dict[str, Any], *, status: int, code: str, message: str,
                       exact: bool = True) -> None:
    """A botocore ``ClientError.response`` is the STS refusal expected: a 4xx with that status
    (never retried), AWS's code, ``Sender`` fault and message (``exact``, else contained), and
    no credentials."""
    error, meta = response["Error"], response["ResponseMetadata"]
    assert 400 <= meta["HTTPStatusCode"] < 500, response
    assert meta["HTTPStatusCode"] == status, response
    assert meta.get("RetryAttempts", 0) == 0
    assert error["Code"] == code, error
    assert error["Type"] == "Sender"
    if exact:
        assert error["Message"] == message
    else:
        assert message in error["Message"], error["Message"]
    assert "Credentials" not in response
