"""AWS's SAML vocabulary in one place: attribute names, value rules, limits, sign-in hosts.

Both sides read these: the IdP when it releases attributes (``idp.aws.attributes``) and the
console and STS when they read them back (``idp.aws.claims``), so a value the IdP would send
is exactly a value AWS would take. Sources: IAM User Guide, "Configure SAML assertions for the
authentication response" (attribute names and values); STS API Reference, AssumeRoleWithSAML
(RoleSessionName and SourceIdentity patterns, session-tag limits, the 100,000-character
SAMLAssertion); IAM User Guide, "Passing session tags in AWS STS" (tag key/value characters,
50 tags); AWS General Reference, "AWS Sign-In endpoints" (regional sign-in URLs).
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Final

from idp.directory.model import RoleGrant

__all__ = [
    "AWS_HOST_SUFFIXES",
    "AWS_SIGN_IN_URLS",
    "MAX_ASSERTION_CHARS",
    "MAX_SESSION_TAGS",
    "SESSION_NAME_PATTERN",
    "SIGN_IN_REGIONS",
    "AwsAttribute",
    "is_aws_console_host",
    "is_aws_host",
    "is_session_name",
    "is_sign_in_host",
    "is_source_identity",
    "is_tag_key",
    "is_tag_value",
    "parse_role_value",
    "whole_number",
]


class AwsAttribute(StrEnum):
    """SAML attribute names AWS reads (case-sensitive, ``https``)."""

    ROLE = "https://aws.amazon.com/SAML/Attributes/Role"
    ROLE_SESSION_NAME = "https://aws.amazon.com/SAML/Attributes/RoleSessionName"
    SESSION_DURATION = "https://aws.amazon.com/SAML/Attributes/SessionDuration"
    SOURCE_IDENTITY = "https://aws.amazon.com/SAML/Attributes/SourceIdentity"
    PRINCIPAL_TAG_PREFIX = "https://aws.amazon.com/SAML/Attributes/PrincipalTag:"


# --- values --------------------------------------------------------------------------------

#: RoleSessionName and SourceIdentity share this pattern (STS API Reference).
SESSION_NAME_PATTERN: Final = "[a-zA-Z_0-9+=,.@-]{2,64}"
_SESSION_NAME_RE: Final = re.compile(SESSION_NAME_PATTERN)
#: Unicode separators, AWS's ``\p{Z}``: Python's ``\s`` would also take tab, newline and other
#: control characters, which AWS refuses (and XML cannot always carry).
SEPARATORS: Final = " \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
#: Session tags: keys 1-128, values 0-256 characters of ``[\p{L}\p{Z}\p{N}_.:/=+\-@]``
#: (``Tag`` data type, STS API Reference); ``\w`` is letters, digits and ``_``.
_TAG_KEY_RE: Final = re.compile(f"[\\w{SEPARATORS}.:/=+\\-@]{{1,128}}")
_TAG_VALUE_RE: Final = re.compile(f"[\\w{SEPARATORS}.:/=+\\-@]{{0,256}}")
MAX_SESSION_TAGS: Final = 50
#: The SAMLAssertion parameter's length limit (base64 characters).
MAX_ASSERTION_CHARS: Final = 100_000
#: SessionDuration attribute and DurationSeconds range, in seconds.
MIN_SESSION_SECONDS: Final = 900
MAX_SESSION_SECONDS: Final = 43_200
#: STS refuses an assertion issued longer ago than this (AssumeRoleWithSAML: "Token must be
#: redeemed within 5 minutes of issuance").
MAX_ASSERTION_AGE_SECONDS: Final = 300
#: A whole number as AWS reads one: ASCII digits only (int() would also take "3_600", "+3600",
#: " 3600" or "٣٦٠٠").
_WHOLE_NUMBER_RE: Final = re.compile(r"[0-9]{1,9}")


def whole_number(text: str) -> int | None:
    """``text`` as AWS reads a whole number (``DurationSeconds``, ``SessionDuration``), or None."""
    return int(text) if _WHOLE_NUMBER_RE.fullmatch(text) else None


def is_session_name(value: str) -> bool:
    return _SESSION_NAME_RE.fullmatch(value) is not None


def is_source_identity(value: str) -> bool:
    """The session-name pattern, and no ``aws:`` prefix (reserved)."""
    return is_session_name(value) and not value.startswith("aws:")


def is_tag_key(key: str) -> bool:
    """A session-tag key AWS accepts (``aws:`` keys are reserved, in any case)."""
    return _TAG_KEY_RE.fullmatch(key) is not None and not key.lower().startswith("aws:")


def is_tag_value(value: str) -> bool:
    return _TAG_VALUE_RE.fullmatch(value) is not None


def parse_role_value(value: str) -> RoleGrant | None:
    """One Role attribute value: ``role-arn,provider-arn`` in either order, whitespace trimmed.

    AWS documents ``role-arn,provider-arn``; AD FS's documented claim rules emit the provider
    first, and AWS accepts both orders. ``None`` when the value is not exactly one role ARN and
    one SAML provider ARN.
    """
    parts = [p.strip() for p in value.split(",")]
    if len(parts) != 2:
        return None
    roles = [p for p in parts if ":role/" in p and p.startswith("arn:aws:iam::")]
    providers = [p for p in parts if ":saml-provider/" in p and p.startswith("arn:aws:iam::")]
    if len(roles) != 1 or len(providers) != 1:
        return None
    return RoleGrant(role_arn=roles[0], provider_arn=providers[0])


# --- where AWS sign-in lives -----------------------------------------------------------------

#: Regions with a regional SAML sign-in endpoint ``https://REGION.signin.aws.amazon.com/saml``.
SIGN_IN_REGIONS: Final = (
    "eu-north-1 me-south-1 ap-south-1 eu-west-3 ap-southeast-3 us-east-2 af-south-1 eu-west-1 "
    "eu-central-1 sa-east-1 ap-east-1 ap-northeast-2 ap-northeast-3 eu-west-2 eu-south-1 "
    "ap-northeast-1 us-west-2 us-west-1 ap-southeast-1 ap-southeast-2 ca-central-1 me-central-1 "
    "eu-central-2 eu-south-2 ap-south-2 ap-southeast-4"
).split()
#: Real AWS sign-in endpoints a Recipient, Destination or Audience may name.
AWS_SIGN_IN_URLS: Final = frozenset(
    {"https://signin.aws.amazon.com/saml", "https://signin.aws.amazon.com/static/saml",
     # The GovCloud (US) and China partitions' sign-in endpoints.
     "https://signin.amazonaws-us-gov.com/saml", "https://signin.amazonaws.cn/saml"}
    | {f"https://{region}.signin.aws.amazon.com/saml" for region in SIGN_IN_REGIONS}
)
#: Hosts of AWS sign-in (where IdPs post SAML Responses): ``signin.aws.amazon.com``, the
#: regional ``REGION.signin.aws.amazon.com`` (IAM User Guide, "Configure SAML assertions for
#: the authentication response": regional endpoints), and the GovCloud and China partitions'
#: ``signin.amazonaws-us-gov.com`` and ``signin.amazonaws.cn``.
_SIGN_IN_HOST_RE: Final = re.compile(
    r"(?:[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}\.)?signin\.aws\.amazon\.com"
    r"|signin\.amazonaws-us-gov\.com|signin\.amazonaws\.cn", re.ASCII)


def is_sign_in_host(host: str) -> bool:
    """Whether ``host`` (any case, one trailing dot allowed) is an AWS sign-in host."""
    name = host.lower()
    name = name[:-1] if name.endswith(".") else name
    return _SIGN_IN_HOST_RE.fullmatch(name) is not None


#: ``console.aws.amazon.com``, ``REGION.console.aws.amazon.com`` and the consoles of services
#: with their own host (``s3.console.aws.amazon.com``).
_CONSOLE_HOST_RE: Final = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)?"
                                     r"console\.aws\.amazon\.com", re.ASCII)
#: Hosts of the AWS console and service consoles (an IdP-initiated RelayState may go there):
#: ``*.aws.amazon.com`` and the China and GovCloud consoles. Not ``*.amazonaws.com`` and the
#: like: S3 buckets, API Gateway and load balancers there carry customers' content.
AWS_HOST_SUFFIXES: Final = (".aws.amazon.com", ".console.amazonaws.cn",
                            ".console.amazonaws-us-gov.com")
_AWS_HOSTS: Final = frozenset({"aws.amazon.com", "console.amazonaws.cn",
                               "console.amazonaws-us-gov.com"})


def is_aws_console_host(host: str) -> bool:
    return _CONSOLE_HOST_RE.fullmatch(host) is not None


def is_aws_host(host: str) -> bool:
    """An AWS console host: ``aws.amazon.com`` and hosts under it, or the China and GovCloud
    consoles (never a host a customer controls, such as an S3 bucket's)."""
    host = host.lower()
    return host in _AWS_HOSTS or host.endswith(AWS_HOST_SUFFIXES)
