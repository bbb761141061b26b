"""How long a role session lasts, and how much session policy and tags it may carry.

Durations (STS API Reference, AssumeRoleWithSAML, "DurationSeconds"; IAM User Guide,
"Configure SAML assertions for the authentication response", "SessionDuration"):

* the API: ``min(DurationSeconds or 3600, SessionNotOnOrAfter - now, SessionDuration)``, and
  ``DurationSeconds`` may not exceed the role's ``MaxSessionDuration``;
* the console: ``min(SessionDuration or 3600, SessionNotOnOrAfter - now)``;
* either way a ``SessionNotOnOrAfter`` already past ends the sign-in (``ExpiredTokenException``).

Packed size: STS reports ``PackedPolicySize`` as a percentage of an undocumented limit on the
compressed session policy, managed-policy ARNs and session tags, and refuses with
``PackedPolicyTooLarge`` past 100 %. The simulator approximates it with 2,048 characters of
compact JSON plus ARNs plus tag keys and values.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Final

from idp.aws import claims
from idp.aws.errors import ExpiredTokenException, MalformedPolicyDocument, PackedPolicyTooLarge
from idp.errors import Rule
from idp.saml.validation import VerifiedAssertion

__all__ = ["DEFAULT_SESSION_SECONDS", "api_duration", "console_duration", "packed_policy_size",
           "session_packed_size"]

#: One hour, when neither the caller nor the IdP asks for another duration.
DEFAULT_SESSION_SECONDS: Final = 3600
_PACKED_LIMIT_CHARS: Final = 2048


def _until_session_end(assertion: VerifiedAssertion, now: dt.datetime) -> int | None:
    if assertion.session_not_on_or_after is None:
        return None
    remaining = int((assertion.session_not_on_or_after - now).total_seconds())
    if remaining <= 0:
        raise ExpiredTokenException(
            "SessionNotOnOrAfter has passed", rule=Rule.SESSION_END,
            detail="the IdP session behind this assertion has ended",
            hint="sign in to the IdP again")
    return remaining


def api_duration(assertion: VerifiedAssertion, requested: int | None, now: dt.datetime) -> int:
    """min(DurationSeconds or 3600, SessionNotOnOrAfter, SessionDuration)."""
    candidates = [requested if requested is not None else DEFAULT_SESSION_SECONDS]
    for limit in (_until_session_end(assertion, now), claims.session_duration(assertion)):
        if limit is not None:
            candidates.append(limit)
    return min(candidates)


def console_duration(assertion: VerifiedAssertion, now: dt.datetime) -> int:
    """min(SessionDuration or 3600, SessionNotOnOrAfter)."""
    attribute = claims.session_duration(assertion)
    candidates = [attribute if attribute is not None else DEFAULT_SESSION_SECONDS]
    remaining = _until_session_end(assertion, now)
    if remaining is not None:
        candidates.append(remaining)
    return min(candidates)


def packed_policy_size(policy: str | None, policy_arns: tuple[str, ...],
                       tags: Mapping[str, str]) -> int | None:
    """The percentage of the packed limit used; ``None`` with no session policy or ARNs."""
    if policy is None and not policy_arns:
        return None
    compact = ""
    if policy is not None:
        try:
            compact = json.dumps(json.loads(policy), separators=(",", ":"))
        except (ValueError, RecursionError):  # 2,048 characters can nest ~1,000 deep
            raise MalformedPolicyDocument("The policy is not in the valid JSON format.") from None
    size = len(compact) + sum(len(a) for a in policy_arns) + sum(
        len(k) + len(v) for k, v in tags.items())
    percent = max(1, -(-size * 100 // _PACKED_LIMIT_CHARS))
    if percent > 100:
        raise PackedPolicyTooLarge(
            f"Packed size of the session policy and tags is {percent}% of the limit")
    return percent


def session_packed_size(policy: str | None, policy_arns: tuple[str, ...],
                        tags: tuple[tuple[str, str], ...]) -> int | None:
    """``AssumeRole``'s ``PackedPolicySize``: as ``packed_policy_size``, and also reported
    when only session tags are passed (STS API Reference, AssumeRole, "PackedPolicySize": "the
    percentage of the maximum allowed size" of "the policies and session tags"); ``None``
    without any of them."""
    if policy is None and not policy_arns and not tags:
        return None
    if policy is None and not policy_arns:
        size = sum(len(k) + len(v) for k, v in tags)
        percent = max(1, -(-size * 100 // _PACKED_LIMIT_CHARS))
        if percent > 100:
            raise PackedPolicyTooLarge(
                f"Packed size of the session policy and tags is {percent}% of the limit")
        return percent
    return packed_policy_size(policy, policy_arns, dict(tags))
