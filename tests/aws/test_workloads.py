"""``idp.aws.workloads``: the credentials EC2 and ECS assume for the directory's instances and
tasks, in process on a fixed clock: trust, session names, lifetime, rotation, the clock moved
back, IAM changes, chaining, and the container endpoint's answers."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
from typing import Any

import pytest

from idp.aws.assume_role import CHAINING_MESSAGE, AssumeRoleRequest, RoleAssumption
from idp.aws.callers import caller_of
from idp.aws.credentials import CredentialIssuer
from idp.aws.errors import ValidationError
from idp.aws.iam import Iam
from idp.aws.mfa import MfaCodes
from idp.aws.workloads import (
    EC2_SERVICE,
    ECS_TASKS_SERVICE,
    LIFETIME,
    ROTATE_BEFORE,
    Issued,
    Refused,
    Workloads,
)
from idp.clock import FixedClock
from idp.directory import Directory
from idp.errors import Rule
from idp.keys import KeyPair
from idp.settings import Settings
from idp.store import StateStore
from tests.support.builders import CREDENTIAL_SECRET
from tests.support.demo import DEV, PROD, READ_ONLY, edited_demo

INSTANCE = "i-0123456789abcdef0"
TASK = "billing-task"
WEB_SERVER = f"arn:aws:iam::{PROD}:role/WebServer"
BILLING = f"arn:aws:iam::{DEV}:role/Billing"


def trust(principal: dict[str, Any], condition: dict[str, Any] | None = None) -> str:
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": principal,
                                 "Action": "sts:AssumeRole"}
    if condition is not None:
        statement["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


@pytest.fixture
def iam(directory: Directory, settings: Settings, keypair: KeyPair, store: StateStore,
        clock: FixedClock) -> Iam:
    return Iam(directory, settings.entity_id, (keypair,), store=store, clock=clock)


@pytest.fixture
def issuer(clock: FixedClock) -> CredentialIssuer:
    return CredentialIssuer(CREDENTIAL_SECRET, clock)


@pytest.fixture
def workloads(directory: Directory, iam: Iam, issuer: CredentialIssuer,
              clock: FixedClock) -> Workloads:
    return Workloads(directory, iam, issuer, clock, b"s" * 32)


def set_trust(iam: Iam, account: str, role: str, text: str) -> None:
    """Change a trust policy the way ``UpdateAssumeRolePolicy`` does (the stored document)."""
    def edit(document: dict[str, Any], state: object) -> None:
        document["accounts"][account]["roles"][role]["trust_policy"] = text

    iam.change(edit)


def instance_creds(workloads: Workloads, instance_id: str = INSTANCE) -> Issued:
    instance = workloads.instance(instance_id)
    assert instance is not None
    outcome = workloads.instance_credentials(instance)
    assert isinstance(outcome, Issued), outcome
    return outcome


def task_creds(workloads: Workloads) -> Issued:
    task = workloads.task(TASK)
    assert task is not None
    outcome = workloads.task_credentials(task)
    assert isinstance(outcome, Issued), outcome
    return outcome


# --- sessions ---------------------------------------------------------------------------


def test_an_instance_gets_its_profile_role_named_after_the_instance(workloads, issuer, iam,
                                                                    clock):
    issued = instance_creds(workloads)
    claims = issuer.resolve(issued.credentials.access_key_id,
                            issued.credentials.session_token)
    assert claims.assumed_role_arn == \
        f"arn:aws:sts::{PROD}:assumed-role/WebServer/{INSTANCE}"
    role = iam.state().role(WEB_SERVER)
    assert role is not None
    assert claims.assumed_role_id == f"{role.id}:{INSTANCE}"
    assert (issued.role_arn, issued.role_name, issued.account_id) == (
        WEB_SERVER, "WebServer", PROD)
    assert issued.issued_at == clock.now().replace(microsecond=0)
    assert issued.expiration - issued.issued_at == LIFETIME == dt.timedelta(hours=6)
    assert claims.chained  # AssumeRole with them is role chaining
    assert issued.credentials.access_key_id.startswith("ASIA")


def test_a_task_gets_its_task_role_named_after_the_task(workloads, issuer):
    issued = task_creds(workloads)
    claims = issuer.resolve(issued.credentials.access_key_id,
                            issued.credentials.session_token)
    assert claims.assumed_role_arn == f"arn:aws:sts::{DEV}:assumed-role/Billing/{TASK}"
    assert issued.expiration - issued.issued_at == dt.timedelta(hours=6)


def test_a_long_task_id_is_cut_to_the_64_characters_of_a_session_name(
        iam, issuer, clock, settings, keypair, store):
    long_id = "t" * 100
    directory = edited_demo(lambda d: d["tasks"].update(
        {long_id: {"account": DEV, "role": "Billing"}}))
    workloads = Workloads(directory, Iam(directory, settings.entity_id, (keypair,),
                                         store=store, clock=clock), issuer, clock, b"s" * 32)
    task = workloads.task(long_id)
    assert task is not None
    issued = workloads.task_credentials(task)
    assert isinstance(issued, Issued)
    claims = issuer.resolve(issued.credentials.access_key_id,
                            issued.credentials.session_token)
    assert claims.session_name == "t" * 64


def test_an_instance_without_a_role_has_no_credentials(settings, keypair, store, clock,
                                                       issuer):
    directory = edited_demo(lambda d: d["instances"].update(
        {"i-0abc1234": {"account": PROD}}))
    workloads = Workloads(directory, Iam(directory, settings.entity_id, (keypair,),
                                         store=store, clock=clock), issuer, clock, b"s" * 32)
    instance = workloads.instance("i-0abc1234")
    assert instance is not None
    with pytest.raises(ValueError, match="no instance profile role"):
        workloads.instance_credentials(instance)
    assert workloads.instance("i-ffffffff") is None and workloads.task("nope") is None


# --- lifetime and rotation --------------------------------------------------------------


def test_the_same_credentials_until_an_hour_before_expiry_then_new_ones(workloads, clock):
    first = instance_creds(workloads)
    clock.advance((LIFETIME - ROTATE_BEFORE).total_seconds() - 1)
    assert instance_creds(workloads) == first
    clock.advance(1)
    second = instance_creds(workloads)
    assert second.credentials.access_key_id != first.credentials.access_key_id
    assert second.issued_at == first.issued_at + LIFETIME - ROTATE_BEFORE
    # botocore extends credentials it gets with under ~25 minutes left: it never gets them.
    assert second.expiration - clock.now() >= ROTATE_BEFORE
    assert instance_creds(workloads) == second


def test_rotation_leaves_more_than_five_minutes_and_botocores_extension_window(workloads,
                                                                              clock):
    """At every instant the served credentials have more than 25 minutes left."""
    for _ in range(30):
        issued = instance_creds(workloads)
        assert issued.expiration - clock.now() > dt.timedelta(minutes=25)
        clock.advance(17 * 60)


def test_instances_and_tasks_have_their_own_credentials(workloads):
    assert instance_creds(workloads).credentials != task_creds(workloads).credentials


def test_credentials_are_never_served_before_they_were_issued(workloads, clock):
    first = instance_creds(workloads)
    clock.advance(-60)
    earlier = instance_creds(workloads)
    assert earlier.credentials.access_key_id != first.credentials.access_key_id
    assert earlier.issued_at == first.issued_at - dt.timedelta(seconds=60)
    assert instance_creds(workloads) == earlier  # and those are kept


def test_each_workloads_object_has_its_own_cache(directory, iam, issuer, clock, workloads):
    other = Workloads(directory, iam, issuer, clock, b"s" * 32)
    assert instance_creds(other) != instance_creds(workloads)


# --- trust ------------------------------------------------------------------------------


def test_a_role_whose_trust_refuses_the_service_gets_nothing_and_the_reason_is_logged(
        workloads, iam, clock, caplog):
    set_trust(iam, PROD, "WebServer", trust({"Service": "lambda.amazonaws.com"}))
    instance = workloads.instance(INSTANCE)
    assert instance is not None
    with caplog.at_level(logging.INFO, logger="idp.workloads"):
        outcome = workloads.instance_credentials(instance)
    assert isinstance(outcome, Refused)
    assert (outcome.role_arn, outcome.role_name, outcome.service, outcome.rule) == (
        WEB_SERVER, "WebServer", EC2_SERVICE, Rule.SERVICE_PRINCIPAL)
    assert outcome.at == clock.now()
    assert "Principal does not name ec2.amazonaws.com" in outcome.reason
    lines = [r.getMessage() for r in caplog.records if r.name == "idp.workloads"]
    assert len(lines) == 1
    assert WEB_SERVER in lines[0] and EC2_SERVICE in lines[0]
    assert outcome.reason in lines[0] and INSTANCE in lines[0]
    assert caplog.records[-1].levelno == logging.WARNING


def test_a_trust_policy_change_takes_effect_at_the_next_fetch(workloads, iam):
    first = instance_creds(workloads)
    set_trust(iam, PROD, "WebServer", trust({"Service": "ecs-tasks.amazonaws.com"}))
    instance = workloads.instance(INSTANCE)
    assert instance is not None
    assert isinstance(workloads.instance_credentials(instance), Refused)
    # Allowed again (another text): a new trust version, new credentials.
    set_trust(iam, PROD, "WebServer", trust({"Service": ["ec2.amazonaws.com"]}))
    again = instance_creds(workloads)
    assert again.credentials.access_key_id != first.credentials.access_key_id
    assert instance_creds(workloads) == again


def test_an_explicit_deny_refuses(workloads, iam):
    text = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": EC2_SERVICE}, "Action": "sts:AssumeRole"},
        {"Effect": "Deny", "Principal": {"Service": EC2_SERVICE}, "Action": "sts:*"}]})
    set_trust(iam, PROD, "WebServer", text)
    instance = workloads.instance(INSTANCE)
    assert instance is not None
    outcome = workloads.instance_credentials(instance)
    assert isinstance(outcome, Refused) and "explicit Deny" in outcome.reason


def test_a_deleted_role_is_refused(workloads, iam, caplog):
    def delete(document: dict[str, Any], state: object) -> None:
        del document["accounts"][PROD]["roles"]["WebServer"]

    instance_creds(workloads)
    iam.change(delete)
    instance = workloads.instance(INSTANCE)
    assert instance is not None
    with caplog.at_level(logging.WARNING, logger="idp.workloads"):
        outcome = workloads.instance_credentials(instance)
    assert isinstance(outcome, Refused)
    assert outcome.reason == f"no role {WEB_SERVER} exists"
    assert outcome.reason in caplog.text


@pytest.mark.parametrize(("condition", "allowed"), [
    ({"StringEquals": {"aws:SourceAccount": DEV}}, True),
    ({"ArnLike": {"aws:SourceArn": f"arn:aws:ecs:us-east-1:{DEV}:*"}}, True),
    ({"StringEquals": {"aws:SourceAccount": PROD}}, False),
    ({"ArnLike": {"aws:SourceArn": f"arn:aws:ecs:eu-west-1:{DEV}:*"}}, False),
])
def test_a_tasks_trust_may_check_the_source_account_and_arn(workloads, iam, condition,
                                                            allowed):
    set_trust(iam, DEV, "Billing", trust({"Service": ECS_TASKS_SERVICE}, condition))
    task = workloads.task(TASK)
    assert task is not None
    assert isinstance(workloads.task_credentials(task), Issued) is allowed


def test_ec2_brings_no_source_keys_so_conditions_on_them_fail_closed(workloads, iam):
    set_trust(iam, PROD, "WebServer", trust({"Service": EC2_SERVICE},
                                           {"StringEquals": {"aws:SourceAccount": PROD}}))
    instance = workloads.instance(INSTANCE)
    assert instance is not None
    assert isinstance(workloads.instance_credentials(instance), Refused)


def test_the_service_is_checked_not_only_the_account(workloads, iam):
    """A trust naming the account root does not let a service in."""
    set_trust(iam, DEV, "Billing", trust({"AWS": f"arn:aws:iam::{DEV}:root"}))
    task = workloads.task(TASK)
    assert task is not None
    outcome = workloads.task_credentials(task)
    assert isinstance(outcome, Refused) and outcome.service == ECS_TASKS_SERVICE


# --- chaining ---------------------------------------------------------------------------


def test_instance_credentials_chain_into_assume_role_capped_at_an_hour(
        workloads, iam, issuer, clock, store):
    issued = instance_creds(workloads)
    claims = issuer.resolve(issued.credentials.access_key_id,
                            issued.credentials.session_token)
    caller = caller_of(claims, iam.state())
    roles = RoleAssumption(iam, issuer, MfaCodes(clock, store), clock)
    assumed = roles.assume_role(caller, AssumeRoleRequest(role_arn=READ_ONLY,
                                                          session_name="chained"))
    assert assumed.caller.arn == f"arn:aws:sts::{PROD}:assumed-role/ReadOnly/chained"
    assert assumed.credentials.expiration - clock.now() <= dt.timedelta(hours=1)
    with pytest.raises(ValidationError) as refused:
        roles.assume_role(caller, AssumeRoleRequest(role_arn=READ_ONLY, session_name="x",
                                                    duration=7200))
    assert refused.value.message == CHAINING_MESSAGE


# --- the container endpoint -------------------------------------------------------------


def test_container_answer_with_the_right_token(workloads, issuer, clock):
    answer = workloads.container_credentials(TASK, "billing-task-token")
    assert answer.status == 200
    body = answer.body
    assert list(body) == ["RoleArn", "AccessKeyId", "SecretAccessKey", "Token", "AccountId",
                          "Expiration"]
    assert (body["RoleArn"], body["AccountId"]) == (BILLING, DEV)
    expires = clock.now().replace(microsecond=0) + LIFETIME
    assert body["Expiration"] == expires.strftime("%Y-%m-%dT%H:%M:%SZ")
    claims = issuer.resolve(str(body["AccessKeyId"]), str(body["Token"]))
    assert claims.session_name == TASK
    assert issuer.secret_for(claims.access_key_id) == body["SecretAccessKey"]
    assert workloads.container_credentials(TASK, "billing-task-token").body == body


@pytest.mark.parametrize(("task_id", "authorization", "code"), [
    ("nope", "billing-task-token", "InvalidIdInRequest"),
    ("", None, "InvalidIdInRequest"),
    (TASK, None, "InvalidRequestException"),
    (TASK, "", "InvalidRequestException"),
    (TASK, "billing-task-tokeN", "InvalidTokenException"),
    (TASK, "billing-task-token ", "InvalidTokenException"),
    (TASK, "billing-task-toke", "InvalidTokenException"),
    (TASK, "b" * 10_000, "InvalidTokenException"),
    (TASK, "billing-task-t\u00f6ken", "InvalidTokenException"),
    (TASK, "\udcff", "InvalidTokenException"),
])
def test_container_refusals_are_the_agents_400s(workloads, task_id, authorization, code):
    answer = workloads.container_credentials(task_id, authorization)
    assert answer.status == 400
    assert answer.body["code"] == code and answer.body["HTTPErrorCode"] == 400
    assert set(answer.body) == {"code", "message", "HTTPErrorCode"}


def test_container_token_outside_latin_1_and_a_task_without_token(
        settings, keypair, store, clock, issuer):
    def edit(data: dict[str, Any]) -> None:
        data["tasks"]["euro"] = {"account": DEV, "role": "Billing",
                                 "authorization_token": "t\u00f6ken-\u20ac"}
        data["tasks"]["open"] = {"account": DEV, "role": "Billing"}

    directory = edited_demo(edit)
    workloads = Workloads(directory, Iam(directory, settings.entity_id, (keypair,),
                                         store=store, clock=clock), issuer, clock, b"s" * 32)
    # As received: the header's bytes read as Latin-1 (here the token's UTF-8 bytes).
    wire = "t\u00f6ken-\u20ac".encode().decode("latin-1")
    assert workloads.container_credentials("euro", wire).status == 200
    assert workloads.container_credentials("euro", "t\u00f6ken-").status == 400
    assert workloads.container_credentials("euro", wire[:-1]).status == 400
    assert workloads.container_credentials("open", None).status == 200
    assert workloads.container_credentials("open", "anything").status == 200


def test_container_refused_role_is_no_credentials_associated(workloads, iam, caplog):
    set_trust(iam, DEV, "Billing", trust({"Service": EC2_SERVICE}))
    with caplog.at_level(logging.WARNING, logger="idp.workloads"):
        answer = workloads.container_credentials(TASK, "billing-task-token")
    assert answer.status == 400
    assert answer.body["code"] == "NoCredentialsAssociated"
    assert f"ECS was unable to assume the role '{BILLING}'" in str(answer.body["message"])
    assert ECS_TASKS_SERVICE in caplog.text and BILLING in caplog.text


def test_the_secret_derives_separate_keys(workloads, directory, iam, issuer, clock):
    assert workloads.key("imds-token") != workloads.key("other")
    again = Workloads(directory, iam, issuer, clock, b"s" * 32)
    assert again.key("imds-token") == workloads.key("imds-token")
    other = Workloads(directory, iam, issuer, clock, b"t" * 32)
    assert other.key("imds-token") != workloads.key("imds-token")


def test_issued_is_a_frozen_value(workloads):
    issued = instance_creds(workloads)
    with pytest.raises(dataclasses.FrozenInstanceError):
        issued.role_arn = "x"  # type: ignore[misc]
    assert "SecretAccessKey" not in repr(issued) and \
        issued.credentials.secret_access_key not in repr(issued)
