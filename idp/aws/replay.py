"""One-time use of SAML assertions at the console and STS, shared by every worker.

SAML Profiles §4.1.4.5 says an SP must not accept a bearer assertion twice within its validity.
AWS documents no such rule for its sign-in page or for ``AssumeRoleWithSAML``, and the
command-line tools people use against real AWS every day redeem one assertion more than once:
aws-adfs posts it to ``https://signin.aws.amazon.com/saml`` (for account names) and then to STS
(``aws_adfs/account_aliases_fetcher.py``); gimme-aws-creds with ``aws_rolename = all``,
okta-awscli ``--lookup`` and samlkeygen call ``AssumeRoleWithSAML`` once per role with the same
assertion. So the modes (``Settings.replay_protection``):

``aws`` (default)
    What those tools show AWS does: a console sign-in redeems the assertion once *for the
    console* and never consumes it for STS; STS accepts it again while it is valid (its
    ``NotOnOrAfter`` and the 5-minute redemption window still apply).
``strict``
    The SAML profile's rule: one redemption in all, console and STS alike.
``off``
    No tracking at all.

Redeemed assertion IDs are claimed in the ``StateStore`` (one SQLite file for all workers,
surviving restarts), keyed by issuer and assertion ID, and kept only while the assertion could
still pass the freshness checks.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Final

from idp.aws.vocabulary import MAX_ASSERTION_AGE_SECONDS
from idp.saml.validation import VerifiedAssertion
from idp.store import StateStore

__all__ = ["ReplayCache", "ReplayMode", "Surface", "replay_caches"]


class ReplayMode(StrEnum):
    """How often one assertion may be redeemed (module docstring)."""

    AWS = "aws"
    STRICT = "strict"
    OFF = "off"


class Surface(StrEnum):
    """Where an assertion is redeemed."""

    CONSOLE = "console"
    STS = "sts"


#: Namespaces in the state store: ``strict`` shares one between both surfaces; ``aws`` keeps
#: the console's own (the name is new, so a ``strict`` claim never blocks an ``aws`` console).
_SHARED: Final = "assertion"
_CONSOLE_ONLY: Final = "assertion-console"


class ReplayCache:
    """Assertion IDs already redeemed, in one namespace of the store."""

    def __init__(self, store: StateStore, *, skew: int, namespace: str = _SHARED) -> None:
        self._store = store
        self._skew = skew
        self._namespace = namespace

    @staticmethod
    def _key(assertion: VerifiedAssertion) -> str:
        return f"{assertion.issuer}\n{assertion.assertion_id}"

    def used(self, assertion: VerifiedAssertion) -> bool:
        return self._store.claimed(self._namespace, self._key(assertion))

    def claim(self, assertion: VerifiedAssertion) -> bool:
        """Mark it redeemed; False if another request (in any worker) claimed it first.

        The entry lives while the assertion could still be accepted, and never past what
        ``datetime`` can hold (a far-future ``NotOnOrAfter`` must not overflow).
        """
        skew = dt.timedelta(seconds=self._skew)
        # Past MAX_ASSERTION_AGE_SECONDS (plus skew) the verifier refuses it as stale anyway.
        until = min(assertion.not_on_or_after, assertion.issue_instant
                    + dt.timedelta(seconds=MAX_ASSERTION_AGE_SECONDS) + 2 * skew)
        return self._store.claim(self._namespace, self._key(assertion), until + skew)


def replay_caches(store: StateStore | None, mode: ReplayMode, *,
                  skew: int) -> dict[Surface, ReplayCache]:
    """The cache each surface checks and claims in (a surface with none redeems freely)."""
    if store is None or mode is ReplayMode.OFF:
        return {}
    if mode is ReplayMode.STRICT:
        shared = ReplayCache(store, skew=skew, namespace=_SHARED)
        return {Surface.CONSOLE: shared, Surface.STS: shared}
    return {Surface.CONSOLE: ReplayCache(store, skew=skew, namespace=_CONSOLE_ONLY)}
