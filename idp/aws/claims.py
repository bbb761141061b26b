"""The console and STS side of AWS's SAML attributes: reading them from a verified assertion.

Each reader takes a ``VerifiedAssertion`` (claims read only from the signed element) and
returns the value AWS would use or raises the ``InvalidIdentityToken`` AWS would answer. The
rules are those the IdP applies before it sends them (``idp.aws.vocabulary``). Sources: STS
API Reference, AssumeRoleWithSAML ("RoleSessionName", "SourceIdentity", session tags); IAM
User Guide, "Configure SAML assertions for the authentication response" (the IdP may send
each attribute once; ``SessionDuration`` from 900 to 43200 seconds) and "Passing session tags
in AWS STS" (single-valued tags, at most 50, keys unique regardless of case).
"""

from __future__ import annotations

from typing import Final

from idp.aws.errors import InvalidIdentityToken
from idp.aws.vocabulary import (
    MAX_SESSION_SECONDS,
    MAX_SESSION_TAGS,
    MIN_SESSION_SECONDS,
    SESSION_NAME_PATTERN,
    AwsAttribute,
    is_session_name,
    is_source_identity,
    is_tag_key,
    is_tag_value,
    parse_role_value,
    whole_number,
)
from idp.directory.model import RoleGrant
from idp.errors import Rule
from idp.saml.validation import VerifiedAssertion

__all__ = [
    "role_grants",
    "session_duration",
    "session_name",
    "session_tags",
    "source_identity",
]

#: A multi-valued attribute where one value is expected.
_SEVERAL: Final = "\x00"


def _single(assertion: VerifiedAssertion, name: str) -> str | None:
    values = assertion.attributes.get(name, ())
    return values[0] if len(values) == 1 else (None if not values else _SEVERAL)


def role_grants(assertion: VerifiedAssertion, provider_arn: str) -> tuple[RoleGrant, ...]:
    """The Role attribute's ``role,provider`` pairs that name ``provider_arn`` (either order)."""
    grants = (parse_role_value(v) for v in assertion.attributes.get(AwsAttribute.ROLE, ()))
    return tuple(g for g in grants if g is not None and g.provider_arn == provider_arn)


def session_name(assertion: VerifiedAssertion) -> str:
    """``RoleSessionName``: required, single-valued, ``[a-zA-Z_0-9+=,.@-]{2,64}``."""
    value = _single(assertion, AwsAttribute.ROLE_SESSION_NAME)
    if value is None:
        raise InvalidIdentityToken(
            "RoleSessionName is required in AuthnResponse", rule=Rule.ROLE_SESSION_NAME,
            hint="release https://aws.amazon.com/SAML/Attributes/RoleSessionName "
            "(attribute names are case-sensitive)")
    if not is_session_name(value):
        raise InvalidIdentityToken(
            f"RoleSessionName in AuthnResponse must match {SESSION_NAME_PATTERN}",
            rule=Rule.ROLE_SESSION_NAME,
            detail=f"RoleSessionName is {value!r}" if value != _SEVERAL
            else "RoleSessionName has several values")
    return value


def source_identity(assertion: VerifiedAssertion) -> str | None:
    """``SourceIdentity``, when sent: the session-name pattern, not starting ``aws:``."""
    value = _single(assertion, AwsAttribute.SOURCE_IDENTITY)
    if value is not None and not is_source_identity(value):
        raise InvalidIdentityToken(
            f'Source Identity must match {SESSION_NAME_PATTERN} and not begin with "aws:"',
            rule=Rule.SOURCE_IDENTITY, detail=f"got {value!r}")
    return value


def session_tags(assertion: VerifiedAssertion) -> dict[str, str]:
    """``PrincipalTag:KEY`` attributes: single-valued, valid keys and values, at most 50."""
    tags: dict[str, str] = {}
    prefix = AwsAttribute.PRINCIPAL_TAG_PREFIX.value
    for name, values in assertion.attributes.items():
        if not name.startswith(prefix):
            continue
        key = name[len(prefix):]
        if len(values) != 1:
            raise InvalidIdentityToken(
                f"Session tag {key} must have exactly one value (STS does not support "
                "multi-valued session tags)", rule=Rule.TAGS)
        if not is_tag_key(key):
            raise InvalidIdentityToken(
                f"Invalid session tag key {key!r}", rule=Rule.TAGS,
                hint="keys are 1-128 characters of letters, digits, spaces and _.:/=+-@, "
                "not starting with aws:")
        if not is_tag_value(values[0]):
            raise InvalidIdentityToken(f"Invalid value for session tag {key}", rule=Rule.TAGS)
        if key.lower() in {k.lower() for k in tags}:
            raise InvalidIdentityToken(f"Duplicate session tag key {key}", rule=Rule.TAGS)
        tags[key] = values[0]
    if len(tags) > MAX_SESSION_TAGS:
        raise InvalidIdentityToken(
            f"{len(tags)} session tags; the limit is {MAX_SESSION_TAGS}", rule=Rule.TAGS)
    return tags


def session_duration(assertion: VerifiedAssertion) -> int | None:
    """``SessionDuration`` in seconds, when sent: one whole number from 900 to 43200."""
    values = assertion.attributes.get(AwsAttribute.SESSION_DURATION, ())
    if not values:
        return None
    seconds = whole_number(values[0])
    if len(values) != 1 or seconds is None or not (
            MIN_SESSION_SECONDS <= seconds <= MAX_SESSION_SECONDS):
        raise InvalidIdentityToken(
            "SessionDuration in AuthnResponse must be a single whole number of seconds from "
            f"{MIN_SESSION_SECONDS} to {MAX_SESSION_SECONDS}",
            rule=Rule.SESSION_DURATION, detail=f"got {list(values)}")
    return seconds
