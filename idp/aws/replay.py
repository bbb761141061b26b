"""One-time use of SAML assertions at the console and STS, shared by every worker.

SAML Profiles §4.1.4.5: an SP must not accept a bearer assertion twice within its validity. AWS
does not document whether its sign-in or STS enforce this; the simulator does unless
``replay_protection`` is off. Redeemed assertion IDs are claimed in the ``StateStore`` (one
SQLite file for all workers, surviving restarts), keyed by issuer and assertion ID, and kept
only while the assertion could still pass the freshness checks.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

from idp.aws.vocabulary import MAX_ASSERTION_AGE_SECONDS
from idp.saml.validation import VerifiedAssertion
from idp.store import StateStore

__all__ = ["ReplayCache"]

_NAMESPACE: Final = "assertion"


class ReplayCache:
    """Assertion IDs already redeemed."""

    def __init__(self, store: StateStore, *, skew: int) -> None:
        self._store = store
        self._skew = skew

    @staticmethod
    def _key(assertion: VerifiedAssertion) -> str:
        return f"{assertion.issuer}\n{assertion.assertion_id}"

    def used(self, assertion: VerifiedAssertion) -> bool:
        return self._store.claimed(_NAMESPACE, self._key(assertion))

    def claim(self, assertion: VerifiedAssertion) -> bool:
        """Mark it redeemed; False if another request (in any worker) claimed it first.

        The entry lives while the assertion could still be accepted, and never past what
        ``datetime`` can hold (a far-future ``NotOnOrAfter`` must not overflow).
        """
        skew = dt.timedelta(seconds=self._skew)
        # Past MAX_ASSERTION_AGE_SECONDS (plus skew) the verifier refuses it as stale anyway.
        until = min(assertion.not_on_or_after, assertion.issue_instant
                    + dt.timedelta(seconds=MAX_ASSERTION_AGE_SECONDS) + 2 * skew)
        return self._store.claim(_NAMESPACE, self._key(assertion), until + skew)
