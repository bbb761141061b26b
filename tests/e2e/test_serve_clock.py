"""``idp serve --frozen-clock`` / ``--clock-offset``: the real process, a browserless sign-in and
real boto3. Both sides follow the simulated clock; SigV4's request-time check does not (boto3
signs with the real time)."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path

import botocore.exceptions
import httpx2
import pytest
from lxml import etree

from tests.support.demo import PROD_PROVIDER, READ_ONLY
from tests.support.http import auto_post, login
from tests.support.server import idp_command, running_server
from tests.support.sts import HTTP_TIMEOUT, session_client, sts_client

pytestmark = [pytest.mark.live, pytest.mark.usefixtures("no_aws_config")]


def bob_credentials(url: str) -> tuple[str, dict[str, object]]:
    with httpx2.Client(base_url=url, timeout=HTTP_TIMEOUT) as client:
        page = login(client, "/idp/init", "bob", "bob-password")
    saml = auto_post(page.text).saml_response
    result = sts_client(f"{url}/aws/sts").assume_role_with_saml(
        RoleArn=READ_ONLY, PrincipalArn=PROD_PROVIDER, SAMLAssertion=saml)
    return saml, result["Credentials"]


def test_a_frozen_clock_runs_both_sides_in_2030(tmp_path: Path) -> None:
    with running_server(tmp_path, extra_args=["--frozen-clock", "2030-01-01T00:00:00Z"]) as srv:
        saml, credentials = bob_credentials(srv.url)
        issued = etree.fromstring(base64.b64decode(saml)).get("IssueInstant")
        assert issued == "2030-01-01T00:00:00.000Z"
        assert credentials["Expiration"] == dt.datetime(2030, 1, 1, 1, tzinfo=dt.UTC)
        identity = session_client(f"{srv.url}/aws/sts", credentials).get_caller_identity()
        assert identity["Arn"].endswith("assumed-role/ReadOnly/bob@corp.example")


def test_a_clock_behind_issues_credentials_that_have_already_expired(tmp_path: Path) -> None:
    with running_server(tmp_path, extra_args=["--clock-offset", "-7200"]) as srv:
        _, credentials = bob_credentials(srv.url)
        expiration = credentials["Expiration"]
        assert isinstance(expiration, dt.datetime)
        behind = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
        assert abs((expiration - behind).total_seconds()) < 60
        # Judged by the same simulated clock they are still valid...
        session_client(f"{srv.url}/aws/sts", credentials).get_caller_identity()
    # ...and a server on the real clock (same keys) says they expired an hour ago.
    with running_server(tmp_path) as real:
        with pytest.raises(botocore.exceptions.ClientError, match="ExpiredToken"):
            session_client(f"{real.url}/aws/sts", credentials).get_caller_identity()


def test_a_malformed_frozen_clock_is_one_line(tmp_path: Path) -> None:
    import subprocess

    result = subprocess.run(
        idp_command("serve", "--frozen-clock", "2030-01-01", "--certs-dir", str(tmp_path)),
        capture_output=True, text=True, timeout=30, cwd=tmp_path, check=False)
    assert result.returncode == 2
    assert result.stderr.strip() == ("idp: error: settings: frozen clock '2030-01-01' needs a "
                                      "time zone (Z or +HH:MM)")
