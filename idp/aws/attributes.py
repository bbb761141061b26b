"""AWS SAML attributes (IAM User Guide: "Configure SAML assertions for the auth response").

``release(user, directory, sp)`` turns a directory user into the attributes AWS reads:
``Role`` (one ``role-arn,provider-arn`` value per role), ``RoleSessionName``, and, when
configured, ``SessionDuration``, ``PrincipalTag:*`` and ``SourceIdentity``.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Final

from idp.directory.model import Directory, RoleGrant, User
from idp.errors import FatalRequestError, NoAwsRole
from idp.saml.assertions import Attribute
from idp.saml.providers import ServiceProvider

__all__ = ["AttributeReleaseError", "AwsAttribute", "release"]

#: RoleSessionName and SourceIdentity share this pattern (AWS docs; STS API reference).
SESSION_NAME_RE: Final = re.compile(r"^[a-zA-Z_0-9+=,.@-]{2,64}$")
MAX_SESSION_TAGS: Final = 50


class AwsAttribute(StrEnum):
    ROLE = "https://aws.amazon.com/SAML/Attributes/Role"
    ROLE_SESSION_NAME = "https://aws.amazon.com/SAML/Attributes/RoleSessionName"
    SESSION_DURATION = "https://aws.amazon.com/SAML/Attributes/SessionDuration"
    SOURCE_IDENTITY = "https://aws.amazon.com/SAML/Attributes/SourceIdentity"
    PRINCIPAL_TAG_PREFIX = "https://aws.amazon.com/SAML/Attributes/PrincipalTag:"


class AttributeReleaseError(FatalRequestError):
    """The directory cannot produce a value AWS would accept (shown as a page, not sent)."""

    http_status = 409
    title = "This user cannot be sent to AWS"


def _session_name(user: User, sp: ServiceProvider) -> str:
    value = user.field_value(sp.role_session_name)
    if value is None:
        raise AttributeReleaseError(
            f"RoleSessionName comes from the user field {sp.role_session_name!r}, "
            f"which {user.username} does not have."
        )
    if not SESSION_NAME_RE.match(value):
        raise AttributeReleaseError(
            f"RoleSessionName {value!r} (from {sp.role_session_name}) must match "
            "[a-zA-Z_0-9+=,.@-]{2,64}; AWS would refuse it."
        )
    return value


def _session_duration(user: User, directory: Directory, sp: ServiceProvider) -> int | None:
    durations = [g.session_duration for g in directory.groups_of(user) if g.session_duration]
    return max(durations) if durations else sp.session_duration


def _principal_tags(user: User, directory: Directory) -> dict[str, str]:
    tags: dict[str, str] = {}
    for group in directory.groups_of(user):
        tags.update(group.principal_tags)
    tags.update(user.principal_tags)
    if len(tags) > MAX_SESSION_TAGS:
        raise AttributeReleaseError(
            f"{user.username} would carry {len(tags)} session tags; AWS allows {MAX_SESSION_TAGS}."
        )
    return tags


def _source_identity(user: User, sp: ServiceProvider) -> str | None:
    value = user.source_identity
    if value is None and sp.source_identity is not None:
        value = user.field_value(sp.source_identity)
    if value is not None and (not SESSION_NAME_RE.match(value) or value.startswith("aws:")):
        raise AttributeReleaseError(
            f"SourceIdentity {value!r} must match [a-zA-Z_0-9+=,.@-]{{2,64}} and not begin "
            "with 'aws:'; AWS would refuse it."
        )
    return value


def release(user: User, directory: Directory, sp: ServiceProvider) -> tuple[Attribute, ...]:
    """The AWS attributes for ``user``; ``NoAwsRole`` when the groups grant no role."""
    grants = directory.roles_for(user)
    if not grants:
        raise NoAwsRole(
            f"{user.display_name} ({user.username}) is not in any group that grants an AWS "
            "role, so AWS would refuse the sign-in. Add the user to a group with roles."
        )
    attributes = [
        Attribute(AwsAttribute.ROLE, tuple(g.attribute_value for g in grants), "Role"),
        Attribute(AwsAttribute.ROLE_SESSION_NAME, (_session_name(user, sp),), "RoleSessionName"),
    ]
    duration = _session_duration(user, directory, sp)
    if duration is not None:
        attributes.append(
            Attribute(AwsAttribute.SESSION_DURATION, (str(duration),), "SessionDuration")
        )
    for key, value in _principal_tags(user, directory).items():
        attributes.append(Attribute(f"{AwsAttribute.PRINCIPAL_TAG_PREFIX}{key}", (value,)))
    source_identity = _source_identity(user, sp)
    if source_identity is not None:
        attributes.append(
            Attribute(AwsAttribute.SOURCE_IDENTITY, (source_identity,), "SourceIdentity")
        )
    return tuple(attributes)


def parse_role_value(value: str) -> RoleGrant | None:
    """One Role attribute value: ``role-arn,provider-arn`` in either order, whitespace trimmed.

    AWS documents role,provider; ADFS emits provider,role and AWS accepts both (aws-saml.md
    §3.1). ``None`` when the value is not exactly one role ARN and one provider ARN.
    """
    parts = [p.strip() for p in value.split(",")]
    if len(parts) != 2:
        return None
    roles = [p for p in parts if ":role/" in p and p.startswith("arn:aws:iam::")]
    providers = [p for p in parts if ":saml-provider/" in p and p.startswith("arn:aws:iam::")]
    if len(roles) != 1 or len(providers) != 1:
        return None
    return RoleGrant(role_arn=roles[0], provider_arn=providers[0])
