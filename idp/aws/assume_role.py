"""STS ``AssumeRole`` and ``GetSessionToken``, and the console's switch role.

``AssumeRole`` (STS API Reference, AssumeRole; IAM User Guide, "Methods to assume a role",
"How IAM roles differ from resource-based policies", "Passing session tags in AWS STS",
"Monitor and control actions taken with assumed roles", "Configure MFA-protected API access")
runs its checks in this order:

1. ``SerialNumber`` and ``TokenCode`` come together or not at all (``AccessDenied``
   "MultiFactorAuthentication failed, must provide both MFA serial number and one time pass
   code.").
2. The role must exist; a missing one is ``AccessDenied`` "User: CALLER is not authorized to
   perform: sts:AssumeRole on resource: ROLE", as for a refused trust (AWS does not say which).
3. The MFA code, when given: a code of the caller's own enabled device with that serial, each
   code once (``idp.aws.mfa``); otherwise ``AccessDenied`` "MultiFactorAuthentication failed
   with invalid MFA one time pass code.". A good code makes ``aws:MultiFactorAuthPresent``
   true for this call and the new session MFA-authenticated.
4. ``SourceIdentity`` cannot be changed once set: a different value than the caller's
   ``AccessDenied`` (sts:SetSourceIdentity). Inherited transitive tags cannot be passed again.
5. The role's trust policy must allow ``sts:AssumeRole`` for the caller's principal names,
   then ``sts:TagSession`` when session tags are passed or inherited, then
   ``sts:SetSourceIdentity`` when a source identity is set or inherited; the denial names the
   first action refused. Context: ``sts:ExternalId``, ``sts:RoleSessionName``,
   ``sts:SourceIdentity``, ``aws:RequestTag/*``, ``aws:TagKeys``, ``sts:TransitiveTagKeys``
   and the caller's global keys (``Caller.context``).
6. The caller's identity policies must allow the same actions on the role ARN — unless the role
   is in the caller's account and its trust policy names the caller's user or role ARN itself
   ("When a resource-based policy grants access to a principal in the same account, no
   additional identity-based policy is required").
7. ``DurationSeconds`` (default 3600): with credentials that are themselves temporary (role
   sessions and ``GetSessionToken`` sessions: role chaining) at most 3600 ("The requested
   DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."),
   then at most the role's ``MaxSessionDuration`` ("The requested DurationSeconds exceeds the
   MaxSessionDuration set for this role."), both ``ValidationError``.

Where AWS is silent the simulator chooses: MFA carries from a ``GetSessionToken`` session with
MFA into the role sessions it assumes (it satisfies the trust condition without a new code);
a role session's own MFA does not carry into a chained role's trust context ("The temporary
credentials returned by AssumeRole do not include MFA information in the context") unless that
call passes a code. Managed ``PolicyArns`` are accepted and counted in ``PackedPolicySize``;
the twin has no managed policies, so they grant nothing: with ``Policy`` the session may do what
that inline policy and the role both allow, with ``PolicyArns`` alone nothing
(``idp.aws.authorization.session_policy_for``: failing closed).

``GetSessionToken`` (STS API Reference, GetSessionToken): IAM users' long-term keys only
("Cannot call GetSessionToken with session credentials"), 900-129600 seconds (default 43200),
an optional MFA code of the user's own device ("MultiFactorAuthentication failed, unable to
validate MFA code.  Please verify your MFA serial number is valid and associated with this
user.").

The console's switch role (IAM User Guide, "Switch from a user to an IAM role (console)") is
``assume_role(console=True)``: no ``ExternalId`` (a role whose trust requires one cannot be
switched to), the session named after the user, lasting ``min(MaxSessionDuration, the sign-in
session's remaining time)`` for an IAM user ("IAM users who switch roles in the console are
granted the role maximum session duration, or the remaining time in the user's session,
whichever is less"); a federated console session (a SAML role session) switching is role
chaining, so its new session lasts at most one hour (the console's default: "By default, when
you switch roles, your AWS Management Console session lasts for 1 hour").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from idp.aws import limits
from idp.aws.authorization import decide, not_authorized, session_policy_for
from idp.aws.callers import caller_of
from idp.aws.credentials import CredentialIssuer, TemporaryCredentials
from idp.aws.errors import AccessDenied, ExpiredToken, ValidationError
from idp.aws.iam import Iam
from idp.aws.iam.model import IamRole, IamState, MfaDevice
from idp.aws.mfa import MfaCodes
from idp.aws.policy import TrustRequest, evaluate_trust_policy
from idp.aws.principals import Caller, CallerKind
from idp.clock import Clock
from idp.errors import Rule

__all__ = [
    "ASSUME_ROLE",
    "CHAINING_MESSAGE",
    "DEFAULT_USER_SESSION_SECONDS",
    "MAX_DURATION_MESSAGE",
    "MFA_BOTH_MESSAGE",
    "MFA_INVALID_MESSAGE",
    "SESSION_TOKEN_MFA_MESSAGE",
    "AssumeRoleRequest",
    "AssumedRole",
    "RoleAssumption",
]

ASSUME_ROLE: Final = "sts:AssumeRole"
TAG_SESSION: Final = "sts:TagSession"
SET_SOURCE_IDENTITY: Final = "sts:SetSourceIdentity"
CHAINING_LIMIT_SECONDS: Final = 3600
DEFAULT_USER_SESSION_SECONDS: Final = 43_200
CHAINING_MESSAGE: Final = ("The requested DurationSeconds exceeds the 1 hour session limit for "
                           "roles assumed by role chaining.")
MAX_DURATION_MESSAGE: Final = ("The requested DurationSeconds exceeds the MaxSessionDuration "
                               "set for this role.")
MFA_BOTH_MESSAGE: Final = ("MultiFactorAuthentication failed, must provide both MFA serial "
                           "number and one time pass code.")
MFA_INVALID_MESSAGE: Final = ("MultiFactorAuthentication failed with invalid MFA one time pass "
                              "code.")
SESSION_TOKEN_MFA_MESSAGE: Final = (
    "MultiFactorAuthentication failed, unable to validate MFA code.  Please verify your MFA "  # noqa: S105
    "serial number is valid and associated with this user.")
SESSION_CREDENTIALS_MESSAGE: Final = "Cannot call GetSessionToken with session credentials"


@dataclass(frozen=True)
class AssumeRoleRequest:
    role_arn: str
    session_name: str
    duration: int | None = None
    external_id: str | None = None
    serial_number: str | None = None
    token_code: str | None = None
    policy: str | None = None
    policy_arns: tuple[str, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()
    transitive_tag_keys: tuple[str, ...] = ()
    source_identity: str | None = None


@dataclass(frozen=True)
class AssumedRole:
    """New temporary credentials and the caller they stand for."""

    credentials: TemporaryCredentials
    caller: Caller
    packed_policy_size: int | None = None

    @property
    def source_identity(self) -> str | None:
        return self.caller.source_identity


def _inherited_tags(caller: Caller) -> tuple[tuple[str, str], ...]:
    """The caller's transitive session tags, with their values (IAM User Guide, "Chaining
    roles with session tags")."""
    values = {key.lower(): (key, value) for key, value in caller.principal_tags}
    return tuple(values[k.lower()] for k in caller.transitive_tag_keys if k.lower() in values)


def _user_device(state: IamState, caller: Caller, serial: str) -> MfaDevice | None:
    """The caller's own enabled MFA device with this serial (users and their sessions)."""
    if caller.kind is CallerKind.ROLE_SESSION or caller.user_name is None:
        return None
    account = state.account(caller.account)
    device = account.mfa_devices.get(serial) if account is not None else None
    if (device is None or device.enabled is None or device.user_name is None
            or device.user_name.lower() != caller.user_name.lower()):
        return None
    return device


class RoleAssumption:
    def __init__(self, iam: Iam, credentials: CredentialIssuer, mfa: MfaCodes,
                 clock: Clock) -> None:
        self.iam = iam
        self.credentials = credentials
        self.mfa = mfa
        self.clock = clock

    # ------------------------------------------------------------------------- AssumeRole

    def assume_role(self, caller: Caller, request: AssumeRoleRequest, *,
                    console: bool = False) -> AssumedRole:
        """``AssumeRole`` for ``caller`` (parameters already checked: ``idp.aws.params``)."""
        now = self.clock.now()
        state = self.iam.state()
        if (request.serial_number is None) != (request.token_code is None):
            raise AccessDenied(MFA_BOTH_MESSAGE, rule=Rule.MFA,
                               detail="SerialNumber and TokenCode come together")
        role = state.role(request.role_arn)
        if role is None:
            raise AccessDenied(not_authorized(caller, ASSUME_ROLE, request.role_arn),
                               rule=Rule.ROLE_MISSING,
                               detail=f"no role {request.role_arn} exists")
        mfa_now = self._check_mfa(state, caller, request)
        session_name = request.session_name
        if console:
            session_name = caller.user_name or caller.session_name or session_name
        source_identity = self._source_identity(caller, request, role)
        inherited = _inherited_tags(caller)
        self._check_tags(caller, request, inherited, role)
        tags = inherited + request.tags
        transitive = tuple(dict.fromkeys(
            [k for k, _ in inherited] + list(request.transitive_tag_keys)))
        actions = [ASSUME_ROLE]
        if tags:
            actions.append(TAG_SESSION)
        if source_identity is not None:
            actions.append(SET_SOURCE_IDENTITY)
        context = self._context(caller, now, mfa_now, session_name, tags, transitive,
                                request.external_id if not console else None,
                                request.source_identity)
        self._check_trust(caller, role, actions, context, console=console)
        self._check_identity(state, caller, role, actions, context, now)
        duration = self._duration(caller, role, request.duration, now, console=console)
        packed = limits.session_packed_size(request.policy, request.policy_arns,
                                            request.tags)
        mfa_at = now if mfa_now else (
            caller.mfa_authenticated_at if caller.kind is CallerKind.USER_SESSION else None)
        credentials, claims = self.credentials.issue(
            role.arn, session_name, duration, source_identity=source_identity,
            mfa_at=mfa_at, tags=tags, transitive_tag_keys=transitive,
            session_policy=session_policy_for(request.policy, request.policy_arns),
            role_id=role.id)
        return AssumedRole(credentials=credentials, caller=caller_of(claims, state),
                           packed_policy_size=packed)

    def _check_mfa(self, state: IamState, caller: Caller, request: AssumeRoleRequest) -> bool:
        if request.serial_number is None or request.token_code is None:
            return False
        device = _user_device(state, caller, request.serial_number)
        if device is None:
            raise AccessDenied(MFA_INVALID_MESSAGE, rule=Rule.MFA,
                               detail=f"{request.serial_number} is no enabled MFA device of "
                               f"{caller.arn}")
        verdict = self.mfa.check(device, request.token_code)
        if verdict is not None:
            raise AccessDenied(MFA_INVALID_MESSAGE, rule=Rule.MFA,
                               detail=f"the code is {verdict} for {device.serial}",
                               hint="wait for the next code" if verdict == "reused" else
                               "use the device's current code")
        return True

    @staticmethod
    def _source_identity(caller: Caller, request: AssumeRoleRequest,
                         role: IamRole) -> str | None:
        inherited = caller.source_identity
        if (inherited is not None and request.source_identity is not None
                and request.source_identity != inherited):
            raise AccessDenied(not_authorized(caller, SET_SOURCE_IDENTITY, role.arn),
                               rule=Rule.SOURCE_IDENTITY,
                               detail=f"the session's SourceIdentity {inherited!r} cannot be "
                               f"changed to {request.source_identity!r}")
        return request.source_identity if request.source_identity is not None else inherited

    @staticmethod
    def _check_tags(caller: Caller, request: AssumeRoleRequest,
                    inherited: tuple[tuple[str, str], ...], role: IamRole) -> None:
        keys = {key.lower() for key, _ in inherited}
        for key, _ in request.tags:
            if key.lower() in keys:
                raise AccessDenied(not_authorized(caller, TAG_SESSION, role.arn),
                                   rule=Rule.TAGS,
                                   detail=f"the session tag {key} is a transitive tag of the "
                                   "calling session and cannot be set again")

    @staticmethod
    def _context(caller: Caller, now: dt.datetime, mfa_now: bool, session_name: str,
                 tags: tuple[tuple[str, str], ...], transitive: tuple[str, ...],
                 external_id: str | None,
                 source_identity: str | None) -> dict[str, tuple[str, ...]]:
        context = dict(caller.context(now))
        if mfa_now:
            context["aws:multifactorauthpresent"] = ("true",)
            context["aws:multifactorauthage"] = ("0",)
        elif caller.kind is CallerKind.ROLE_SESSION:
            # A role session's MFA does not reach a chained role's context.
            context["aws:multifactorauthpresent"] = ("false",)
            context.pop("aws:multifactorauthage", None)
        context["sts:rolesessionname"] = (session_name,)
        if external_id is not None:
            context["sts:externalid"] = (external_id,)
        if source_identity is not None:
            context["sts:sourceidentity"] = (source_identity,)
        if tags:
            for key, value in tags:
                context[f"aws:requesttag/{key.lower()}"] = (value,)
            context["aws:tagkeys"] = tuple(key for key, _ in tags)
        if transitive:
            context["sts:transitivetagkeys"] = transitive
        return context

    @staticmethod
    def _check_trust(caller: Caller, role: IamRole, actions: list[str],
                     context: Mapping[str, tuple[str, ...]], *, console: bool) -> None:
        for action in actions:
            decision = evaluate_trust_policy(role.trust_policy, TrustRequest(
                principal_aws=caller.principal_names, actions=(action,), context=context))
            if decision.allowed:
                continue
            hint = f"allow {action} for {caller.principal_arn} in the trust policy of {role.arn}"
            if "sts:externalid" in role.trust_text.lower():
                hint = ("the console cannot pass an ExternalId: switch with the API"
                        if console else "pass the ExternalId the role's owner gave you")
            raise AccessDenied(not_authorized(caller, action, role.arn),
                               rule=Rule.TRUST_POLICY, detail=decision.reason, hint=hint)

    @staticmethod
    def _named_in_trust(caller: Caller, role: IamRole, actions: list[str],
                        context: Mapping[str, tuple[str, ...]]) -> bool:
        """The trust policy allows the caller by its own ARN (not only by its account)."""
        own = tuple(name for name in caller.principal_names
                    if name not in (caller.account, f"arn:aws:iam::{caller.account}:root"))
        if not own:
            return False
        return evaluate_trust_policy(role.trust_policy, TrustRequest(
            principal_aws=own, actions=tuple(actions), context=context)).allowed

    def _check_identity(self, state: IamState, caller: Caller, role: IamRole,
                        actions: list[str], context: Mapping[str, tuple[str, ...]],
                        now: dt.datetime) -> None:
        # A same-account trust policy naming the caller itself stands in for a missing Allow,
        # never for a Deny: "an explicit deny in any of these policies overrides the allow"
        # (IAM User Guide, "Policy evaluation logic").
        named = role.account_id == caller.account and self._named_in_trust(
            caller, role, actions, context)
        for action in actions:
            decision = decide(state, caller, action, role.arn, now=now, context=context,
                              resource_grant=named)
            if not decision.allowed:
                raise AccessDenied(not_authorized(caller, action, role.arn),
                                   rule=Rule.IDENTITY_POLICY, detail=decision.reason,
                                   hint=f"allow {action} on {role.arn} in a policy of "
                                   f"{caller.arn}")

    @staticmethod
    def _duration(caller: Caller, role: IamRole, requested: int | None, now: dt.datetime, *,
                  console: bool) -> int:
        if console:
            limit = role.max_session_duration
            if caller.kind is CallerKind.ROLE_SESSION:
                # A federated (role-session) console switching is role chaining: one hour.
                limit = min(limit, CHAINING_LIMIT_SECONDS)
            if caller.expiration is not None:
                remaining = int((caller.expiration - now).total_seconds())
                if remaining <= 0:
                    raise ExpiredToken()
                limit = min(limit, remaining)
            return min(requested, limit) if requested is not None else limit
        seconds = requested if requested is not None else limits.DEFAULT_SESSION_SECONDS
        if caller.chained_limit and caller.temporary and seconds > CHAINING_LIMIT_SECONDS:
            raise ValidationError(CHAINING_MESSAGE, rule=Rule.ROLE_CHAINING,
                                  detail=f"DurationSeconds {seconds} with temporary "
                                  f"credentials of {caller.arn}")
        if seconds > role.max_session_duration:
            raise ValidationError(MAX_DURATION_MESSAGE, rule=Rule.SESSION_DURATION,
                                  detail=f"DurationSeconds {seconds} > MaxSessionDuration "
                                  f"{role.max_session_duration} of {role.arn}")
        return seconds

    # ------------------------------------------------------------------------- GetSessionToken

    def session_token(self, caller: Caller, *, duration: int | None,
                      serial_number: str | None, token_code: str | None) -> AssumedRole:
        """``GetSessionToken`` for an IAM user signing with a long-term key."""
        if caller.temporary:
            raise AccessDenied(SESSION_CREDENTIALS_MESSAGE, rule=Rule.CREDENTIALS,
                               detail=f"{caller.arn} signed with temporary credentials")
        if caller.user_arn is None:  # root: not modelled
            raise AccessDenied(SESSION_CREDENTIALS_MESSAGE, rule=Rule.CREDENTIALS)
        if (serial_number is None) != (token_code is None):
            raise AccessDenied(MFA_BOTH_MESSAGE, rule=Rule.MFA)
        state = self.iam.state()
        now = self.clock.now()
        mfa_at: dt.datetime | None = None
        if serial_number is not None and token_code is not None:
            device = _user_device(state, caller, serial_number)
            verdict = "unknown device" if device is None else self.mfa.check(device, token_code)
            if verdict is not None:
                raise AccessDenied(SESSION_TOKEN_MFA_MESSAGE, rule=Rule.MFA,
                                   detail=f"{serial_number}: {verdict} for {caller.arn}")
            mfa_at = now
        seconds = duration if duration is not None else DEFAULT_USER_SESSION_SECONDS
        credentials, claims = self.credentials.issue_user_session(
            caller.user_arn, caller.user_id, seconds, mfa_at=mfa_at)
        return AssumedRole(credentials=credentials, caller=caller_of(claims, state))
