"""The IdP side of AWS's SAML attributes: what a directory user is sent as.

``release(user, directory, sp)`` turns a directory user into the attributes AWS reads (IAM
User Guide, "Configure SAML assertions for the authentication response"): ``Role`` (one
``role-arn,provider-arn`` value per role), ``RoleSessionName``, and, when configured,
``SessionDuration``, ``PrincipalTag:*`` and ``SourceIdentity``. Values are checked with the
same rules the console and STS apply when they read them back (``idp.aws.vocabulary``): the
IdP refuses with a page rather than send AWS something it would refuse.
"""

from __future__ import annotations

from idp.aws.vocabulary import (
    MAX_SESSION_TAGS,
    SESSION_NAME_PATTERN,
    AwsAttribute,
    is_session_name,
    is_source_identity,
    is_tag_key,
    is_tag_value,
)
from idp.directory.model import Directory, User
from idp.errors import AttributeReleaseError, NoAwsRole
from idp.saml.assertions import Attribute
from idp.saml.providers import ServiceProvider

__all__ = ["release"]


def _session_name(user: User, sp: ServiceProvider) -> str:
    value = user.field_value(sp.role_session_name)
    if value is None:
        raise AttributeReleaseError(
            f"RoleSessionName comes from the user field {sp.role_session_name!r}, "
            f"which {user.username} does not have."
        )
    if not is_session_name(value):
        raise AttributeReleaseError(
            f"RoleSessionName {value!r} (from {sp.role_session_name}) must match "
            f"{SESSION_NAME_PATTERN}; AWS would refuse it."
        )
    return value


def _session_duration(user: User, directory: Directory, sp: ServiceProvider) -> int | None:
    durations = [g.session_duration for g in directory.groups_of(user) if g.session_duration]
    return max(durations) if durations else sp.session_duration


def _principal_tags(user: User, directory: Directory) -> dict[str, str]:
    """Group tags, then the user's: a later tag replaces an earlier one whose key differs only
    in case (AWS tag keys ignore case, and a Response may not carry both)."""
    folded: dict[str, tuple[str, str]] = {}
    for source in [*(g.principal_tags for g in directory.groups_of(user)), user.principal_tags]:
        for key, value in source.items():
            folded.pop(key.lower(), None)  # the replacing key keeps its own spelling and place
            folded[key.lower()] = (key, value)
    tags = dict(folded.values())
    if len(tags) > MAX_SESSION_TAGS:
        raise AttributeReleaseError(
            f"{user.username} would carry {len(tags)} session tags; AWS allows {MAX_SESSION_TAGS}."
        )
    for key, value in tags.items():
        if not is_tag_key(key) or not is_tag_value(value):
            raise AttributeReleaseError(
                f"session tag {key}={value!r} of {user.username}: AWS takes keys of 1-128 and "
                "values of 0-256 letters, digits, spaces and _.:/=+-@ (no aws: keys)."
            )
    return tags


def _source_identity(user: User, sp: ServiceProvider) -> str | None:
    value = user.source_identity
    if value is None and sp.source_identity is not None:
        value = user.field_value(sp.source_identity)
    if value is not None and not is_source_identity(value):
        raise AttributeReleaseError(
            f"SourceIdentity {value!r} must match {SESSION_NAME_PATTERN} and not begin "
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
        Attribute(AwsAttribute.ROLE, tuple(sp.role_value_order.value_of(g.role_arn, g.provider_arn)
                                           for g in grants), "Role"),
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

