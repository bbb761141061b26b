"""Fuzz the signed STS operations' parameters: any mapping of Query parameters gives a result
or an ``AwsError``, never another exception (AssumeRole, GetSessionToken, GetAccessKeyInfo
parameter checks, and AssumeRole's rules with whatever passes them)."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from idp.aws.assume_role import RoleAssumption
from idp.aws.callers import Callers
from idp.aws.credentials import CredentialIssuer
from idp.aws.errors import AwsError
from idp.aws.iam import Iam
from idp.aws.mfa import MfaCodes
from idp.aws.params import (
    assume_role_params,
    get_access_key_info_params,
    get_session_token_params,
)
from idp.clock import FixedClock
from idp.directory import Directory
from idp.keys import KeyPair
from idp.settings import Settings
from idp.store import SqliteStore
from tests.support.builders import CREDENTIAL_SECRET

NAMES = ["RoleArn", "RoleSessionName", "DurationSeconds", "ExternalId", "SerialNumber",
         "TokenCode", "Policy", "SourceIdentity", "AccessKeyId", "Tags",
         "Tags.member.1.Key", "Tags.member.1.Value", "Tags.member.2.Key",
         "TransitiveTagKeys.member.1", "PolicyArns.member.1.arn", "PolicyArns"]
VALUES = [
    "arn:aws:iam::444455556666:role/Deployer", "arn:aws:iam::111122223333:role/ReadOnly",
    "arn:aws:iam::111122223333:role/BreakGlass", "arn:aws:iam::111122223333:role/VendorAudit",
    "arn:aws:iam::444455556666:mfa/ops", "vendor-7f3a", "3600", "900", "43201", "0", "-1",
    "123456", "Team", "", "aws:x", '{"Version":"2012-10-17","Statement":[]}',
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}',
    "AKIAOPSUSEREXAMPLE00", "ASIAAAAAAAAAAAAAAAAA", "[1,2", "null",
]
values = st.sampled_from(VALUES) | st.text(max_size=80) | st.text(
    alphabet="abc:/-_.=@0123456789", max_size=30)
params = st.dictionaries(st.sampled_from(NAMES) | st.text(max_size=20), values, max_size=10)


@pytest.fixture(scope="module")
def roles(keypair: KeyPair, directory: Directory) -> Any:
    folder = Path(tempfile.mkdtemp())
    clock = FixedClock(dt.datetime(2026, 1, 15, 12, tzinfo=dt.UTC))
    settings = Settings(base_url="http://idp.test", certs_dir=folder, data_dir=folder)
    store = SqliteStore(folder / "state.sqlite3", clock)
    iam = Iam(directory, settings.entity_id, (keypair,), store=store, clock=clock)
    issuer = CredentialIssuer(CREDENTIAL_SECRET, clock)
    callers = Callers(iam, issuer, clock)
    ops = callers._long_term("AKIAOPSUSEREXAMPLE00")[1]
    yield RoleAssumption(iam, issuer, MfaCodes(clock, store), clock), ops
    store.close()


def _outcome(call: Any) -> None:
    try:
        call()
    except AwsError as exc:
        event(f"refused: {exc.code}")
        assert 400 <= exc.http_status < 500
    else:
        event("accepted")


@given(query=params)
def test_assume_role_any_parameters(roles: Any, query: dict[str, str]) -> None:
    assumption, ops = roles

    def call() -> None:
        assumption.assume_role(ops, assume_role_params(query))
    _outcome(call)


@given(query=params)
def test_get_session_token_any_parameters(roles: Any, query: dict[str, str]) -> None:
    assumption, ops = roles

    def call() -> None:
        checked = get_session_token_params(query)
        assumption.session_token(ops, duration=checked.duration,
                                 serial_number=checked.serial_number,
                                 token_code=checked.token_code)
    _outcome(call)


@given(query=params)
def test_get_access_key_info_any_parameters(query: dict[str, str]) -> None:
    _outcome(lambda: get_access_key_info_params(query))


WEB_IDENTITY_NAMES = ["RoleArn", "RoleSessionName", "WebIdentityToken", "ProviderId", "Policy",
                      "PolicyArns.member.1.arn", "PolicyArns.member.11.arn", "PolicyArns",
                      "DurationSeconds", "MinimumSessionTokenSize"]
web_identity_params = st.dictionaries(
    st.sampled_from(WEB_IDENTITY_NAMES) | st.text(max_size=20),
    values | st.builds(lambda n, pad: "eyJ." * n + pad, st.integers(4_990, 5_010),
                       st.sampled_from(["", " ", "\n", "abc"])), max_size=10)


@given(query=web_identity_params)
def test_assume_role_with_web_identity_any_parameters(query: dict[str, str]) -> None:
    """The parameter checks alone: a checked request (token at most 20,000 characters before
    its whitespace is dropped) or an ``AwsError``."""
    from idp.aws.params import assume_role_with_web_identity_params

    def call() -> None:
        checked = assume_role_with_web_identity_params(query)
        assert len(checked.token) <= len(query["WebIdentityToken"]) <= 20_000
        assert 2 <= len(checked.session_name) <= 64
    _outcome(call)
