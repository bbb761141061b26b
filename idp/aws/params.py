"""The STS API's parameter checks: Query-protocol strings in, typed requests out.

Constraints are those of the operation's input shape in botocore's
``botocore/data/sts/2011-06-15/service-2.json`` (``arnType`` 20-2048 characters,
``roleDurationSecondsType`` 900-43200, ``sessionPolicyDocumentType`` 1-2048,
``SAMLAssertionType`` 4-100000) and come back as AWS words them: ``MissingParameter``, or
``ValidationError`` with "1 validation error detected: Value … at '…' failed to satisfy
constraint: …". Each check runs before the assertion is looked at, as AWS's do.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from idp.aws.errors import InvalidIdentityToken, MissingParameter, ValidationError
from idp.aws.vocabulary import (
    MAX_ASSERTION_CHARS,
    MAX_SESSION_SECONDS,
    MIN_SESSION_SECONDS,
    whole_number,
)
from idp.errors import Rule

__all__ = ["AssumeRoleWithSamlParams", "assume_role_with_saml_params", "decode_saml_assertion"]

_MIN_ASSERTION_CHARS: Final = 4
_MAX_POLICY_CHARS: Final = 2048


@dataclass(frozen=True)
class AssumeRoleWithSamlParams:
    """``AssumeRoleWithSAML``'s parameters, checked; the assertion decoded, not yet verified."""

    role_arn: str
    principal_arn: str
    saml_xml: bytes
    duration: int | None = None
    """``DurationSeconds`` as sent (``None``: not sent)."""
    policy: str | None = None
    policy_arns: tuple[str, ...] = ()


def decode_saml_assertion(value: str) -> bytes:
    """Base64 of the whole ``<samlp:Response>``: strict, never inflated.

    Whitespace is dropped first: the AWS CLI's ``file://`` keeps a file's trailing newline.
    """
    compact = "".join(value.split())
    if not _MIN_ASSERTION_CHARS <= len(compact) <= MAX_ASSERTION_CHARS:
        short = len(compact) < _MIN_ASSERTION_CHARS
        raise ValidationError(
            "1 validation error detected: Value at 'sAMLAssertion' failed to satisfy "
            f"constraint: Member must have length {'greater' if short else 'less'} than or "
            f"equal to {_MIN_ASSERTION_CHARS if short else MAX_ASSERTION_CHARS}")
    try:
        raw = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidIdentityToken("Invalid SAML response: not valid base64",
                                   detail="SAMLAssertion is not valid base64",
                                   rule=Rule.BASE64) from None
    if not raw.lstrip().startswith(b"<"):
        raise InvalidIdentityToken(
            "Invalid SAML response: not XML", rule=Rule.BASE64,
            detail="after base64 decoding this is not XML (it must not be deflated)")
    return raw


def duration_seconds(value: str | None) -> int | None:
    """``DurationSeconds``: a plain integer from 900 to 43200."""
    if value is None:
        return None
    seconds = whole_number(value)
    if seconds is None:
        raise ValidationError(f"Value '{value}' at 'durationSeconds' failed to satisfy "
                              "constraint: Member must be an integer")
    if seconds < MIN_SESSION_SECONDS:
        raise ValidationError(f"1 validation error detected: Value '{seconds}' at "
                              "'durationSeconds' failed to satisfy constraint: Member must have "
                              f"value greater than or equal to {MIN_SESSION_SECONDS}")
    if seconds > MAX_SESSION_SECONDS:
        raise ValidationError(f"1 validation error detected: Value '{seconds}' at "
                              "'durationSeconds' failed to satisfy constraint: Member must have "
                              f"value less than or equal to {MAX_SESSION_SECONDS}")
    return seconds


def assume_role_with_saml_params(params: Mapping[str, str]) -> AssumeRoleWithSamlParams:
    """Check ``AssumeRoleWithSAML``'s parameters in AWS's order and decode the assertion."""
    for name in ("RoleArn", "PrincipalArn", "SAMLAssertion"):
        if not params.get(name):
            raise MissingParameter(f"The request must contain the parameter {name}")
    role_arn, principal_arn = params["RoleArn"].strip(), params["PrincipalArn"].strip()
    for name, value in (("roleArn", role_arn), ("principalArn", principal_arn)):
        if not 20 <= len(value) <= 2048:
            raise ValidationError(f"1 validation error detected: Value at '{name}' failed to "
                                  "satisfy constraint: Member must have length between 20 and "
                                  "2048")
    duration = duration_seconds(params.get("DurationSeconds"))
    policy = params.get("Policy")
    if policy is not None and not 1 <= len(policy) <= _MAX_POLICY_CHARS:
        raise ValidationError("1 validation error detected: Value at 'policy' failed to satisfy "
                              "constraint: Member must have length less than or equal to "
                              f"{_MAX_POLICY_CHARS}")
    policy_arns = tuple(v for k, v in sorted(params.items())
                        if k.startswith("PolicyArns.member.") and k.endswith(".arn"))
    return AssumeRoleWithSamlParams(
        role_arn=role_arn, principal_arn=principal_arn,
        saml_xml=decode_saml_assertion(params["SAMLAssertion"]),
        duration=duration, policy=policy, policy_arns=policy_arns,
    )
