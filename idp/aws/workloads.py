"""Role credentials of the directory's workloads: EC2 instances and container tasks.

An instance gets the role of its instance profile from the instance metadata twin
(``idp.aws.imds``, served under ``/imds/INSTANCE_ID/``); a task gets its task role from the
container credentials twin (``/ecs/TASK_ID/credentials``). Either way the service, not the
workload, assumes the role, so the role's trust policy must allow the service principal
(``ec2.amazonaws.com``, ``ecs-tasks.amazonaws.com``) ``sts:AssumeRole`` (EC2 User Guide,
"IAM roles for Amazon EC2"; Amazon ECS Developer Guide, "Amazon ECS task IAM role"). The
trust policy is read from the IAM twin's current state on every request, so a change made
through the IAM API (``UpdateAssumeRolePolicy``) applies to the next fetch.

The sessions are ordinary role sessions (``idp.aws.credentials``): ``GetCallerIdentity``
answers ``arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`` with the instance ID as the session
name (``assumed-role/WebServer/i-0123456789abcdef0``, as EC2 names it) and the task ID for
tasks (at most 64 characters, the limit of a role session name). They chain into
``AssumeRole`` like any role session, capped at one hour (IAM User Guide, "Roles terms and
concepts": role chaining).

Lifetime and rotation, on the simulator's clock:

* Credentials last ``LIFETIME`` (6 hours). ECS documents it ("The default expiration time
  for the generated IAM role credentials is 6 hours"); EC2 does not say, and the simulator
  chooses the same.
* The same credentials are served until ``ROTATE_BEFORE`` (1 hour) before they expire, then
  new ones. EC2 promises "We make new credentials available at least five minutes before the
  expiration of the old credentials" (EC2 User Guide, "Retrieve security credentials from
  instance metadata"). botocore refreshes 15 (advisory) and 10 (mandatory) minutes before
  expiry, and *extends* instance credentials it receives with less than about 25 minutes
  left (botocore ``utils.py``, ``InstanceMetadataFetcher._evaluate_expiration``): rotating an
  hour early means it never receives such short-lived ones.
* Credentials are cached per process, keyed by the workload, the role (ARN and unique ID) and
  the trust policy's text: a changed trust policy or a re-created role gets new credentials.
  Each ``idp serve`` worker has its own cache (both sets verify everywhere), and a runtime
  directory edit starts a new one.
* Credentials are never served before they were issued: if the clock is moved back before
  the cached credentials' issue time, new ones are issued at the new time.

A refusal (no such role in the IAM state, or a trust policy that does not allow the service)
issues nothing and logs one line on ``idp.workloads`` with the workload, the service, the role
and the policy decision's reason. The twins answer it as AWS does: the metadata service with
HTTP 200 and ``{"Code": "AssumeRoleUnauthorizedAccess", ...}`` (``idp.aws.imds``), the
container endpoint with an agent-style 400 (``container_credentials`` below).

Trust context: a task's request carries ``aws:SourceAccount`` and ``aws:SourceArn``
(``arn:aws:ecs:REGION:ACCOUNT:task/TASK_ID``), the keys the ECS guide recommends for the
confused-deputy condition of task roles; an instance's carries neither (EC2 does not document
them for instance profiles), so a trust condition on them refuses EC2, failing closed. Both
carry ``aws:CurrentTime`` and ``aws:EpochTime``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import re
import threading
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from idp.aws.credentials import CredentialIssuer, TemporaryCredentials
from idp.aws.iam import Iam
from idp.aws.policy import TrustRequest, evaluate_trust_policy
from idp.clock import Clock
from idp.directory.model import ContainerTask, Directory, Instance
from idp.errors import Rule

__all__ = [
    "EC2_SERVICE",
    "ECS_TASKS_SERVICE",
    "LIFETIME",
    "ROTATE_BEFORE",
    "ContainerAnswer",
    "Issued",
    "Refused",
    "WorkloadKind",
    "Workloads",
    "aws_time",
]

log = logging.getLogger("idp.workloads")

EC2_SERVICE: Final = "ec2.amazonaws.com"
ECS_TASKS_SERVICE: Final = "ecs-tasks.amazonaws.com"
ASSUME_ROLE: Final = "sts:AssumeRole"
#: How long workload credentials last (Amazon ECS Developer Guide, "Amazon ECS task IAM role").
LIFETIME: Final = dt.timedelta(hours=6)
#: New credentials are served from this long before the old ones expire.
ROTATE_BEFORE: Final = dt.timedelta(hours=1)
#: The longest role session name STS accepts (``roleSessionNameType``: 2-64 characters).
MAX_SESSION_NAME: Final = 64
#: An ``Authorization`` header longer than this is refused unread (the directory's tokens
#: are at most 4,096 characters).
MAX_AUTHORIZATION_BYTES: Final = 8192
_ROLE_NAME_RE: Final = re.compile(r"arn:[^:]+:iam::\d{12}:role/(?:.*/)?([^/]+)")


def aws_time(when: dt.datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ``, the form botocore's instance credential fetcher parses."""
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def role_name(role_arn: str) -> str:
    """The role's name: the last segment of its ARN (after any path)."""
    match = _ROLE_NAME_RE.fullmatch(role_arn)
    return match.group(1) if match else role_arn.rsplit("/", 1)[-1]


class WorkloadKind(StrEnum):
    INSTANCE = "instance"
    TASK = "task"


@dataclass(frozen=True)
class Issued:
    """Credentials a service assumed for a workload."""

    credentials: TemporaryCredentials
    role_arn: str
    account_id: str
    issued_at: dt.datetime
    """When they were issued (the metadata service's ``LastUpdated``)."""

    @property
    def expiration(self) -> dt.datetime:
        return self.credentials.expiration

    @property
    def role_name(self) -> str:
        return role_name(self.role_arn)


@dataclass(frozen=True)
class Refused:
    """The service could not assume the workload's role: nothing was issued."""

    role_arn: str
    service: str
    reason: str
    """The trust policy decision's reason (or that the role does not exist)."""
    at: dt.datetime
    rule: Rule = Rule.SERVICE_PRINCIPAL

    @property
    def role_name(self) -> str:
        return role_name(self.role_arn)


@dataclass(frozen=True)
class ContainerAnswer:
    """What the container credentials endpoint answers: a status and a JSON object."""

    status: int
    body: dict[str, object]


@dataclass(frozen=True)
class _Cached:
    version: tuple[str, str, str]
    """The role's ARN, unique ID and SHA-256 of its trust policy text."""
    issued: Issued


def _agent_error(code: str, message: str) -> ContainerAnswer:
    """An error as the Amazon ECS container agent writes it (its ``ErrorMessage`` struct,
    marshalled with the status in ``HTTPErrorCode``). Every refusal here is a 400, the
    status the agent gives for an unknown credentials ID and the EKS Pod Identity Agent for
    a missing or invalid token; botocore raises on any non-200 answer."""
    return ContainerAnswer(400, {"code": code, "message": message, "HTTPErrorCode": 400})


class Workloads:
    """The workloads of one directory and the credentials their services assume for them.

    ``secret`` keys what the twins seal (the metadata service's session tokens); it never
    leaves the process.
    """

    def __init__(self, directory: Directory, iam: Iam, credentials: CredentialIssuer,
                 clock: Clock, secret: bytes) -> None:
        self.directory = directory
        self.iam = iam
        self.credentials = credentials
        self.clock = clock
        self._secret = bytes(secret)
        #: When this simulator started serving the directory (instances' ``pendingTime``).
        self.started = clock.now().astimezone(dt.UTC).replace(microsecond=0)
        self._cache: dict[tuple[WorkloadKind, str], _Cached] = {}
        self._lock = threading.Lock()

    # --- looking up ---------------------------------------------------------------------

    def instance(self, instance_id: str) -> Instance | None:
        return self.directory.instances.get(instance_id)

    def task(self, task_id: str) -> ContainerTask | None:
        return self.directory.tasks.get(task_id)

    def key(self, label: str) -> bytes:
        """A key for ``label``'s own use, derived from the secret (HMAC-SHA256)."""
        return hmac.new(self._secret, b"idp-workloads|" + label.encode("ascii"),
                        hashlib.sha256).digest()

    # --- credentials --------------------------------------------------------------------

    def instance_credentials(self, instance: Instance) -> Issued | Refused:
        """What EC2 gets for the instance's profile role (``ValueError``: it has none)."""
        if instance.role_arn is None:
            raise ValueError(f"instance {instance.id} has no instance profile role")
        return self._credentials(WorkloadKind.INSTANCE, instance.id, instance.role_arn,
                                 EC2_SERVICE, {})

    def task_credentials(self, task: ContainerTask) -> Issued | Refused:
        """What ECS gets for the task's role."""
        source = f"arn:aws:ecs:{task.region}:{task.account_id}:task/{task.id}"
        return self._credentials(WorkloadKind.TASK, task.id, task.role_arn, ECS_TASKS_SERVICE,
                                 {"aws:sourceaccount": (task.account_id,),
                                  "aws:sourcearn": (source,)})

    def _credentials(self, kind: WorkloadKind, workload_id: str, role_arn: str, service: str,
                     context: dict[str, tuple[str, ...]]) -> Issued | Refused:
        now = self.clock.now()
        role = self.iam.state().role(role_arn)
        if role is None:
            return self._refuse(kind, workload_id, role_arn, service, now,
                                f"no role {role_arn} exists")
        decision = evaluate_trust_policy(role.trust_policy, TrustRequest(
            principal_service=service, actions=(ASSUME_ROLE,),
            context={**context, "aws:currenttime": (aws_time(now),),
                     "aws:epochtime": (str(int(now.timestamp())),)}))
        if not decision.allowed:
            return self._refuse(kind, workload_id, role.arn, service, now, decision.reason)
        version = (role.arn, role.id,
                   hashlib.sha256(role.trust_text.encode("utf-8", "surrogatepass")).hexdigest())
        with self._lock:
            cached = self._cache.get((kind, workload_id))
            if (cached is not None and cached.version == version
                    and cached.issued.issued_at <= now
                    < cached.issued.expiration - ROTATE_BEFORE):
                return cached.issued
            credentials, claims = self.credentials.issue(
                role.arn, workload_id[:MAX_SESSION_NAME], int(LIFETIME.total_seconds()),
                role_id=role.id, chained=True)
            issued = Issued(credentials=credentials, role_arn=role.arn,
                            account_id=claims.account,
                            issued_at=claims.issued_at or now.replace(microsecond=0))
            self._cache[(kind, workload_id)] = _Cached(version, issued)
        log.info("%s %s: %s assumed %s, new credentials %s until %s", kind.value, workload_id,
                 service, role.arn, credentials.access_key_id, aws_time(issued.expiration))
        return issued

    @staticmethod
    def _refuse(kind: WorkloadKind, workload_id: str, role_arn: str, service: str,
                now: dt.datetime, reason: str) -> Refused:
        log.warning("%s %s: %s cannot assume %s (%s): %s", kind.value, workload_id, service,
                    role_arn, Rule.SERVICE_PRINCIPAL.value, reason)
        return Refused(role_arn=role_arn, service=service, reason=reason, at=now)

    # --- the container credentials endpoint ---------------------------------------------

    def container_credentials(self, task_id: str, authorization: str | None) -> ContainerAnswer:
        """``GET /ecs/TASK_ID/credentials`` with the request's ``Authorization`` header.

        As the Amazon ECS container agent and the EKS Pod Identity Agent answer (their
        credentials handlers): an unknown task is ``InvalidIdInRequest`` "ID not found"; a
        task with an ``authorization_token`` needs that exact value (compared in constant
        time), a missing one and a wrong one are refused; a role the service may not assume
        is ``NoCredentialsAssociated`` with ECS's "unable to assume the role" text. Each is a
        400 (``_agent_error``). Success is the agent's document: ``RoleArn``, ``AccessKeyId``,
        ``SecretAccessKey``, ``Token``, ``Expiration`` (``YYYY-MM-DDTHH:MM:SSZ``), plus the
        ``AccountId`` the EKS Pod Identity Agent adds (botocore reads it when present).
        """
        task = self.task(task_id)
        if task is None:
            return _agent_error("InvalidIdInRequest", "CredentialsV2Request: ID not found")
        if task.authorization_token is not None:
            if not authorization:
                return _agent_error("InvalidRequestException",
                                    "Authorization token cannot be empty")
            if not _same_token(authorization, task.authorization_token):
                return _agent_error("InvalidTokenException",
                                    "The specified authorization token is invalid.")
        outcome = self.task_credentials(task)
        if isinstance(outcome, Refused):
            return _agent_error(
                "NoCredentialsAssociated",
                f"CredentialsV2Request: ECS was unable to assume the role '{outcome.role_arn}' "
                "that was provided for this task. Please verify that the role being passed "
                "has the proper trust relationship and permissions and that your IAM user has "
                "permissions to pass this role.")
        credentials = outcome.credentials
        return ContainerAnswer(200, {
            "RoleArn": outcome.role_arn,
            "AccessKeyId": credentials.access_key_id,
            "SecretAccessKey": credentials.secret_access_key,
            "Token": credentials.session_token,
            "AccountId": outcome.account_id,
            "Expiration": aws_time(credentials.expiration),
        })


def _same_token(presented: str, expected: str) -> bool:
    """Constant-time comparison of the header (as received: Latin-1) with the token.

    HTTP clients send header text as Latin-1 (botocore through ``http.client``); a token
    outside Latin-1 is compared as its UTF-8 bytes, which is what a client sending raw bytes
    would put on the wire. Every candidate is compared; none is skipped early.
    """
    try:
        raw = presented.encode("latin-1")
    except UnicodeEncodeError:
        raw = presented.encode("utf-8", "surrogatepass")
    if len(raw) > MAX_AUTHORIZATION_BYTES:
        return False
    candidates = [expected.encode("utf-8")]
    try:
        candidates.append(expected.encode("latin-1"))
    except UnicodeEncodeError:
        pass
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(raw, candidate)
    return matched
