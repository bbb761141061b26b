"""Who signed an AWS request: an IAM user, a user's session, or a role session.

What a signed request's credentials stand for, as STS, the IAM API and the console need it:
the ARN ``GetCallerIdentity`` reports, the names a trust policy's ``Principal`` can use for
it, and the global condition keys of the request context (IAM User Guide, "AWS global
condition context keys"; "IAM JSON policy elements: Principal")::

    IAM user, long-term key     arn:aws:iam::ACCOUNT:user/[PATH/]NAME       UserId AIDA…
    IAM user, GetSessionToken   the same ARN and ID, temporary credentials
    role session                arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION
                                                                             UserId AROA…:SESSION
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Caller", "CallerKind"]


class CallerKind(StrEnum):
    USER = "user"
    """An IAM user signing with a long-term access key (``AKIA…``)."""
    USER_SESSION = "user-session"
    """An IAM user's ``GetSessionToken`` credentials (``ASIA…``)."""
    ROLE_SESSION = "role-session"
    """A role session: ``AssumeRole``, ``AssumeRoleWithSAML``, the console's switch role."""


def _epoch(when: dt.datetime) -> str:
    return str(int(when.timestamp()))


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Caller:
    """The identity behind a signed request (``idp.aws.callers`` resolves it)."""

    kind: CallerKind
    account: str
    arn: str
    """``GetCallerIdentity``'s ``Arn``."""
    user_id: str
    """``GetCallerIdentity``'s ``UserId``: ``AIDA…`` or ``AROA…:SESSION``."""
    access_key_id: str
    user_name: str | None = None
    """The IAM user's name (users and their sessions)."""
    user_arn: str | None = None
    """The IAM user's ARN (users and their sessions)."""
    role_arn: str | None = None
    """The role's ARN, path included (role sessions)."""
    role_id: str | None = None
    """The unique ID of the role the session was issued for: a role deleted and created again
    under the same name is another role, whose policies the old session does not get."""
    session_name: str | None = None
    issued_at: dt.datetime | None = None
    """When temporary credentials were issued (``aws:TokenIssueTime``)."""
    expiration: dt.datetime | None = None
    mfa_authenticated_at: dt.datetime | None = None
    """When MFA was verified for these temporary credentials (``None``: it was not)."""
    source_identity: str | None = None
    principal_tags: tuple[tuple[str, str], ...] = ()
    """The user's or role's tags, with a session's tags over them."""
    transitive_tag_keys: tuple[str, ...] = ()
    """Session tag keys that carry into a chained role session."""
    chained_limit: bool = False
    """Role sessions assumed with these credentials are capped at one hour (role sessions
    and ``GetSessionToken`` credentials; IAM User Guide, "Roles terms and concepts")."""
    session_policy: str | None = None
    """The session policy these temporary credentials carry (it narrows what the role's
    policies allow: IAM User Guide, "Session policies")."""

    @property
    def temporary(self) -> bool:
        return self.kind is not CallerKind.USER

    @property
    def principal_arn(self) -> str:
        """``aws:PrincipalArn``: the user's ARN, or for a role session the role's."""
        if self.kind is CallerKind.ROLE_SESSION and self.role_arn is not None:
            return self.role_arn
        return self.user_arn or self.arn

    @property
    def principal_names(self) -> tuple[str, ...]:
        """Every value a trust policy's ``{"AWS": …}`` may name this caller by, from the
        account to the most specific ARN (the last)."""
        names = [self.account, f"arn:aws:iam::{self.account}:root"]
        if self.kind is CallerKind.ROLE_SESSION:
            if self.role_arn is not None:
                names.append(self.role_arn)
            names.append(self.arn)
        else:
            names.append(self.principal_arn)
        return tuple(dict.fromkeys(names))

    def context(self, now: dt.datetime) -> dict[str, tuple[str, ...]]:
        """The global condition keys this caller brings to any request (lower-case keys).

        ``aws:MultiFactorAuthPresent`` exists only for temporary credentials ("The key is not
        present when … long-term credentials"); ``aws:MultiFactorAuthAge`` only after MFA.
        """
        context: dict[str, tuple[str, ...]] = {
            "aws:principalarn": (self.principal_arn,),
            "aws:principalaccount": (self.account,),
            "aws:principaltype": (
                "AssumedRole" if self.kind is CallerKind.ROLE_SESSION else "User",),
            "aws:userid": (self.user_id,),
            "aws:currenttime": (_iso(now),),
            "aws:epochtime": (_epoch(now),),
        }
        if self.user_name is not None:
            context["aws:username"] = (self.user_name,)
        if self.temporary:
            context["aws:multifactorauthpresent"] = (
                "true" if self.mfa_authenticated_at is not None else "false",)
            if self.issued_at is not None:
                context["aws:tokenissuetime"] = (_iso(self.issued_at),)
        if self.mfa_authenticated_at is not None:
            age = max(0, int((now - self.mfa_authenticated_at).total_seconds()))
            context["aws:multifactorauthage"] = (str(age),)
        if self.source_identity is not None:
            context["aws:sourceidentity"] = (self.source_identity,)
        for key, value in self.principal_tags:
            context[f"aws:principaltag/{key.lower()}"] = (value,)
        return context
