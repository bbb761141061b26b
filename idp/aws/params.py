"""The STS API's parameter checks: Query-protocol strings in, typed requests out.

Constraints are those of the operation's input shape in botocore's
``botocore/data/sts/2011-06-15/service-2.json`` (``arnType`` 20-2048 characters,
``roleDurationSecondsType`` 900-43200, ``sessionPolicyDocumentType`` 1-2048,
``SAMLAssertionType`` 4-100000, ``clientTokenType`` 4-20000) and come back as AWS words
them: ``MissingParameter``, or
``ValidationError`` with "1 validation error detected: Value … at '…' failed to satisfy
constraint: …". Each check runs before the assertion is looked at, as AWS's do.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from idp.aws.assume_role import AssumeRoleRequest
from idp.aws.errors import (
    InvalidIdentityToken,
    MalformedPolicyDocument,
    MissingParameter,
    ValidationError,
)
from idp.aws.vocabulary import (
    MAX_ASSERTION_CHARS,
    MAX_SESSION_SECONDS,
    MAX_SESSION_TAGS,
    MIN_SESSION_SECONDS,
    is_tag_key,
    is_tag_value,
    whole_number,
)
from idp.directory.policy import PolicyKind, parse_policy_text
from idp.errors import MalformedPolicyError, Rule

__all__ = [
    "AssumeRoleWithSamlParams",
    "AssumeRoleWithWebIdentityParams",
    "SessionTokenParams",
    "assume_role_params",
    "assume_role_with_saml_params",
    "assume_role_with_web_identity_params",
    "check_session_policy",
    "decode_saml_assertion",
    "get_access_key_info_params",
    "get_session_token_params",
]

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


def _integer(value: str) -> int | None:
    """A whole number as AWS reads one, or a negative one (then below any minimum)."""
    if value.startswith("-"):
        magnitude = whole_number(value[1:])
        return None if magnitude is None else -magnitude
    return whole_number(value)


def duration_seconds(value: str | None) -> int | None:
    """``DurationSeconds``: a plain integer from 900 to 43200."""
    if value is None:
        return None
    seconds = _integer(value)
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


# --------------------------------------------------------------------------- signed operations
#
# botocore's ``sts/2011-06-15/service-2.json`` input shapes; botocore itself checks only
# ``required`` and ``min``, so every maximum and pattern comes from here, in AWS's words. All
# violations of one request are reported together, joined with ``; `` ("2 validation errors
# detected: …"), the pattern before the length for one member (miquella/vaulted#138).

#: ``roleSessionNameType``, ``sourceIdentityType``: ``[\w+=,.@-]*`` (Java's ``\w`` is ASCII).
_NAME_PATTERN: Final = r"[\w+=,.@-]*"
_EXTERNAL_ID_PATTERN: Final = r"[\w+=,.@:\/-]*"
_SERIAL_PATTERN: Final = r"[\w+=/:,.@-]*"
_CODE_PATTERN: Final = r"[\d]*"
_ACCESS_KEY_PATTERN: Final = r"[\w]*"
_POLICY_PATTERN: Final = r"[\u0009\u000A\u000D\u0020-\u00FF]+"
_PATTERNS: Final = {
    _NAME_PATTERN: re.compile(r"[A-Za-z0-9_+=,.@-]*"),
    _EXTERNAL_ID_PATTERN: re.compile(r"[A-Za-z0-9_+=,.@:/-]*"),
    _SERIAL_PATTERN: re.compile(r"[A-Za-z0-9_+=/:,.@-]*"),
    _CODE_PATTERN: re.compile(r"[0-9]*"),
    _ACCESS_KEY_PATTERN: re.compile(r"[A-Za-z0-9_]*"),
    _POLICY_PATTERN: re.compile("[\t\n\r\u0020-\u00ff]+"),
}
#: ``GetSessionToken``'s ``durationSecondsType``: 900-129600 (IAM users; default 43200).
MAX_USER_SESSION_SECONDS: Final = 129_600
MAX_POLICY_ARNS: Final = 10
#: A role ARN (IAM User Guide, "IAM ARNs"): ``arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME``.
_ROLE_ARN: Final = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\x21-\x7e]+", re.ASCII)
MAX_TRANSITIVE_TAG_KEYS: Final = 50
_MEMBER: Final = re.compile(r"(?P<list>[A-Za-z]+)\.member\.(?P<n>[1-9][0-9]{0,3})(?:\.(?P<f>\w+))?")


class _Violations:
    """Collects constraint violations; ``raise_any`` raises them as one ``ValidationError``."""

    def __init__(self) -> None:
        self.found: list[str] = []

    def add(self, value: str | None, member: str, constraint: str) -> None:
        shown = "" if value is None else f" '{value}'"
        self.found.append(f"Value{shown} at '{member}' failed to satisfy constraint: "
                          f"Member must {constraint}")

    def text(self, value: str | None, member: str, *, low: int, high: int,
             pattern: str | None = None, echo: bool = True) -> None:
        if value is None:
            return
        shown = value if echo else None
        if pattern is not None and not _PATTERNS[pattern].fullmatch(value):
            self.add(shown, member, f"satisfy regular expression pattern: {pattern}")
        if len(value) < low:
            self.add(shown, member, f"have length greater than or equal to {low}")
        elif len(value) > high:
            self.add(shown, member, f"have length less than or equal to {high}")

    def number(self, value: str | None, member: str, *, low: int, high: int) -> int | None:
        if value is None:
            return None
        seconds = _integer(value)
        if seconds is None:
            self.add(value, member, "be an integer")
            return None
        if seconds < low:
            self.add(str(seconds), member, f"have value greater than or equal to {low}")
        elif seconds > high:
            self.add(str(seconds), member, f"have value less than or equal to {high}")
        return seconds

    def raise_any(self) -> None:
        if self.found:
            count = len(self.found)
            raise ValidationError(
                f"{count} validation error{'s' if count > 1 else ''} detected: "
                + "; ".join(self.found))


def _required(params: Mapping[str, str], *names: str) -> None:
    for name in names:
        if name not in params:
            raise MissingParameter(f"The request must contain the parameter {name}")


def _members(params: Mapping[str, str], name: str) -> dict[int, dict[str, str]]:
    """``Name.member.N[.Field]`` entries by N (an empty list arrives as ``Name=``)."""
    found: dict[int, dict[str, str]] = {}
    for key, value in params.items():
        match = _MEMBER.fullmatch(key)
        if match is not None and match["list"] == name:
            found.setdefault(int(match["n"]), {})[match["f"] or ""] = value
        elif key.startswith(f"{name}.member."):
            # Never silently drop what the caller sent (an index 0, 10000, or no number).
            raise ValidationError(f"1 validation error detected: Value at '{name}' has the "
                                  f"entry '{key[:80]}', not {name}.member.N with N from 1 to "
                                  "9999")
    return dict(sorted(found.items()))


@dataclass(frozen=True)
class MfaParams:
    serial_number: str | None
    token_code: str | None


def _mfa(params: Mapping[str, str], problems: _Violations) -> MfaParams:
    serial, code = params.get("SerialNumber"), params.get("TokenCode")
    problems.text(serial, "serialNumber", low=9, high=256, pattern=_SERIAL_PATTERN)
    problems.text(code, "tokenCode", low=6, high=6, pattern=_CODE_PATTERN)
    return MfaParams(serial_number=serial, token_code=code)


def _session_policy(policy: str | None, problems: _Violations) -> None:
    if policy is None:
        return
    if not policy or not _PATTERNS[_POLICY_PATTERN].fullmatch(policy):
        problems.add(None, "policy",
                     f"satisfy regular expression pattern: {_POLICY_PATTERN}")
    if len(policy) > _MAX_POLICY_CHARS:
        problems.add(None, "policy",
                     f"have length less than or equal to {_MAX_POLICY_CHARS}")


def _policy_arns(params: Mapping[str, str], problems: _Violations) -> tuple[str, ...]:
    """``PolicyArns.member.N.arn``: at most 10 managed-policy ARNs of 20-2048 characters."""
    arns = _members(params, "PolicyArns")
    if len(arns) > MAX_POLICY_ARNS:
        problems.add(None, "policyArns", f"have length less than or equal to {MAX_POLICY_ARNS}")
    policy_arns = tuple(member.get("arn", "") for member in arns.values())
    for index, arn in enumerate(policy_arns, 1):
        problems.text(arn, f"policyArns.{index}.member.arn", low=20, high=2048)
    return policy_arns


def check_session_policy(policy: str | None) -> None:
    """A session policy must be a valid identity policy (``MalformedPolicyDocument``, with
    IAM's message for what is wrong)."""
    if policy is None:
        return
    try:
        parse_policy_text(policy, kind=PolicyKind.IDENTITY, max_chars=_MAX_POLICY_CHARS)
    except MalformedPolicyError as exc:
        raise MalformedPolicyDocument(exc.aws_message, detail=exc.message,
                                      rule=Rule.IDENTITY_POLICY) from None


def assume_role_params(params: Mapping[str, str]) -> AssumeRoleRequest:
    """``AssumeRole``'s parameters checked as STS does (``MissingParameter``,
    ``ValidationError`` with every violation, ``MalformedPolicyDocument`` for a session policy
    that is not a valid identity policy)."""
    _required(params, "RoleArn", "RoleSessionName")
    problems = _Violations()
    role_arn, session_name = params["RoleArn"], params["RoleSessionName"]
    problems.text(role_arn, "roleArn", low=20, high=2048)
    problems.text(session_name, "roleSessionName", low=2, high=64, pattern=_NAME_PATTERN)
    duration = problems.number(params.get("DurationSeconds"), "durationSeconds",
                               low=MIN_SESSION_SECONDS, high=MAX_SESSION_SECONDS)
    policy = params.get("Policy")
    _session_policy(policy, problems)
    policy_arns = _policy_arns(params, problems)
    tags = _tags(params, problems)
    keys = tuple(m.get("", "") for m in _members(params, "TransitiveTagKeys").values())
    if len(keys) > MAX_TRANSITIVE_TAG_KEYS:
        problems.add(None, "transitiveTagKeys",
                     f"have length less than or equal to {MAX_TRANSITIVE_TAG_KEYS}")
    external_id = params.get("ExternalId")
    problems.text(external_id, "externalId", low=2, high=1224, pattern=_EXTERNAL_ID_PATTERN)
    mfa = _mfa(params, problems)
    source_identity = params.get("SourceIdentity")
    problems.text(source_identity, "sourceIdentity", low=2, high=64, pattern=_NAME_PATTERN)
    problems.raise_any()
    tag_keys = {key.lower() for key, _ in tags}
    for key in keys:
        if key.lower() not in tag_keys:
            raise ValidationError(f"The transitive tag key {key} is not a session tag key of "
                                  "this request.", rule=Rule.TAGS)
    check_session_policy(policy)
    return AssumeRoleRequest(
        role_arn=role_arn, session_name=session_name, duration=duration,
        external_id=external_id, serial_number=mfa.serial_number, token_code=mfa.token_code,
        policy=policy, policy_arns=policy_arns, tags=tags, transitive_tag_keys=keys,
        source_identity=source_identity)


def _tags(params: Mapping[str, str], problems: _Violations) -> tuple[tuple[str, str], ...]:
    """``Tags.member.N.Key``/``.Value``: at most 50, keys unique ignoring case (STS API
    Reference, "Tag"; IAM User Guide, "Passing session tags in AWS STS")."""
    members = _members(params, "Tags")
    if len(members) > MAX_SESSION_TAGS:
        problems.add(None, "tags", f"have length less than or equal to {MAX_SESSION_TAGS}")
        return ()
    tags: list[tuple[str, str]] = []
    for index, member in enumerate(members.values(), 1):
        key, value = member.get("Key"), member.get("Value")
        if key is None or value is None:
            # AWS words a missing one "Value null at 'tags.1.member.value' …"
            for field, given in (("key", key), ("value", value)):
                if given is None:
                    problems.found.append(f"Value null at 'tags.{index}.member.{field}' failed "
                                          "to satisfy constraint: Member must not be null")
            continue
        problems.text(key, f"tags.{index}.member.key", low=1, high=128)
        problems.text(value, f"tags.{index}.member.value", low=0, high=256)
        if key and not is_tag_key(key) and len(key) <= 128:
            problems.add(key, f"tags.{index}.member.key",
                         r"satisfy regular expression pattern: [\p{L}\p{Z}\p{N}_.:/=+\-@]+")
        if not is_tag_value(value) and len(value) <= 256:
            problems.add(value, f"tags.{index}.member.value",
                         r"satisfy regular expression pattern: [\p{L}\p{Z}\p{N}_.:/=+\-@]*")
        tags.append((key, value))
    if len({key.lower() for key, _ in tags}) != len(tags):
        problems.found.append("Duplicate tag keys found. Please note that Tag keys are case "
                              "insensitive.")
    return tuple(tags)


@dataclass(frozen=True)
class SessionTokenParams:
    duration: int | None
    serial_number: str | None
    token_code: str | None


def get_session_token_params(params: Mapping[str, str]) -> SessionTokenParams:
    """``GetSessionToken``: ``DurationSeconds`` 900-129600, ``SerialNumber``, ``TokenCode``."""
    problems = _Violations()
    duration = problems.number(params.get("DurationSeconds"), "durationSeconds",
                               low=MIN_SESSION_SECONDS, high=MAX_USER_SESSION_SECONDS)
    mfa = _mfa(params, problems)
    problems.raise_any()
    return SessionTokenParams(duration=duration, serial_number=mfa.serial_number,
                              token_code=mfa.token_code)


def get_access_key_info_params(params: Mapping[str, str]) -> str:
    """``GetAccessKeyInfo``'s ``AccessKeyId``: 16-128 characters of ``[\\w]*``."""
    _required(params, "AccessKeyId")
    problems = _Violations()
    problems.text(params["AccessKeyId"], "accessKeyId", low=16, high=128,
                  pattern=_ACCESS_KEY_PATTERN)
    problems.raise_any()
    return params["AccessKeyId"]


# --------------------------------------------------------------------------- web identity

#: ``clientTokenType``: the ``WebIdentityToken`` parameter's length limits.
MIN_WEB_IDENTITY_TOKEN_CHARS: Final = 4
MAX_WEB_IDENTITY_TOKEN_CHARS: Final = 20_000
#: ``minimumSessionTokenSizeType`` (botocore 1.44.8's model): accepted, checked, not used.
MAX_MINIMUM_SESSION_TOKEN_SIZE: Final = 4096
#: ASCII whitespace, as the AWS CLI's ``file://`` leaves it around a token (a final newline).
_ASCII_WHITESPACE: Final = " \t\n\r\x0b\x0c"


@dataclass(frozen=True)
class AssumeRoleWithWebIdentityParams:
    """``AssumeRoleWithWebIdentity``'s parameters, checked; the token not yet read."""

    role_arn: str
    session_name: str
    token: str
    """``WebIdentityToken`` without surrounding ASCII whitespace."""
    provider_id: str | None = None
    duration: int | None = None
    """``DurationSeconds`` as sent (``None``: not sent, STS's default of 3600 applies)."""
    policy: str | None = None
    policy_arns: tuple[str, ...] = ()


def assume_role_with_web_identity_params(
        params: Mapping[str, str]) -> AssumeRoleWithWebIdentityParams:
    """``AssumeRoleWithWebIdentity``'s parameters checked as STS does, before the token is read.

    The input shape ``AssumeRoleWithWebIdentityRequest``: ``RoleArn`` (20-2048),
    ``RoleSessionName`` (2-64, ``[\\w+=,.@-]*``), ``WebIdentityToken`` (4-20000), ``ProviderId``
    (4-2048), ``PolicyArns`` (at most 10), ``Policy`` (1-2048), ``DurationSeconds``
    (900-43200) and ``MinimumSessionTokenSize`` (0-4096, accepted and not used). Every
    violation is reported at once (``ValidationError``), in the shape's member order; the
    token is never echoed (the model marks it ``sensitive``). Its length is the parameter's
    own, measured before anything reads it: an oversized token is a ``ValidationError``
    whatever it holds.

    Surrounding ASCII whitespace is then dropped from the token: the AWS CLI's
    ``file://token`` keeps the file's final newline, and a JWS in compact form cannot contain
    whitespace, so a newline can only be such an artefact (AWS does not document what it
    does with one; the simulator tolerates it). A session policy that is not a valid identity
    policy is ``MalformedPolicyDocument``.
    """
    _required(params, "RoleArn", "RoleSessionName", "WebIdentityToken")
    problems = _Violations()
    role_arn, session_name = params["RoleArn"], params["RoleSessionName"]
    token = params["WebIdentityToken"]
    problems.text(role_arn, "roleArn", low=20, high=2048)
    problems.text(session_name, "roleSessionName", low=2, high=64, pattern=_NAME_PATTERN)
    problems.text(token, "webIdentityToken", low=MIN_WEB_IDENTITY_TOKEN_CHARS,
                  high=MAX_WEB_IDENTITY_TOKEN_CHARS, echo=False)
    provider_id = params.get("ProviderId")
    problems.text(provider_id, "providerId", low=4, high=2048)
    policy_arns = _policy_arns(params, problems)
    policy = params.get("Policy")
    _session_policy(policy, problems)
    duration = problems.number(params.get("DurationSeconds"), "durationSeconds",
                               low=MIN_SESSION_SECONDS, high=MAX_SESSION_SECONDS)
    problems.number(params.get("MinimumSessionTokenSize"), "minimumSessionTokenSize",
                    low=0, high=MAX_MINIMUM_SESSION_TOKEN_SIZE)
    problems.raise_any()
    if _ROLE_ARN.fullmatch(role_arn) is None:
        # What STS answers for a RoleArn of the right length that is no role ARN (seen for
        # AssumeRoleWithSAML, e.g. physera/onelogin-aws-cli#12).
        raise ValidationError("Request ARN is invalid", rule=Rule.ROLE_MISSING,
                              detail=f"RoleArn {role_arn[:200]!r} is not "
                              "arn:aws:iam::ACCOUNT:role/NAME")
    check_session_policy(policy)
    return AssumeRoleWithWebIdentityParams(
        role_arn=role_arn, session_name=session_name, token=token.strip(_ASCII_WHITESPACE),
        provider_id=provider_id, duration=duration, policy=policy, policy_arns=policy_arns)
