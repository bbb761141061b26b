"""RFC 6238 TOTP (6 digits, 30 s, SHA-1) with one-time use: each code is accepted once.

±1 step of drift is accepted (RFC 6238 §5.2), so up to three codes are valid at a time. To
keep them single-use and in order, the last time step accepted for each user is a high-water
mark in the shared ``StateStore`` (``advance``): a code is accepted only if its step is later
than the user's mark, and accepting it raises the mark in the same atomic statement. So a code
works once across every worker process and survives a restart (RFC 6238 §5.2: "The verifier
MUST NOT accept the second attempt of the OTP after the successful validation has been issued
for the first OTP"), and beyond that, once step N is used no code of step N or earlier is
accepted for that user (an older code cannot follow a newer one), while a later code still is.
The mark outlives the drift window, after which every step it covers is too old to match.
"""

from __future__ import annotations

import datetime as dt
import hmac
from typing import Final

import pyotp

from idp.clock import Clock
from idp.store import StateStore

__all__ = ["TotpGuard"]

_STEP: Final = 30
_DRIFT_STEPS: Final = 1
_NAMESPACE: Final = "totp-step"


class TotpGuard:
    """Checks codes and refuses reuse, across threads and processes."""

    def __init__(self, clock: Clock, store: StateStore) -> None:
        self._clock = clock
        self._store = store

    def current_code(self, secret: str) -> str:
        """The code an authenticator shows right now (for tests and the demo page)."""
        return str(pyotp.TOTP(secret).at(self._clock.now()))

    def check(self, username: str, secret: str, code: str) -> str | None:
        """``None`` when accepted; otherwise why not (``"invalid"`` or ``"reused"``).

        ``"reused"``: the code is right for its time step, but a code of that step or a later
        one was already accepted for ``username``.
        """
        code = code.strip().replace(" ", "")
        if len(code) != 6 or not (code.isascii() and code.isdigit()):
            return "invalid"
        totp = pyotp.TOTP(secret)
        now_step = int(self._clock.now().timestamp()) // _STEP
        matched = None
        for step in range(now_step - _DRIFT_STEPS, now_step + _DRIFT_STEPS + 1):
            if hmac.compare_digest(totp.generate_otp(step), code):
                matched = step
                break
        if matched is None:
            return "invalid"
        # Steps up to ``matched`` match until now_step > matched + _DRIFT_STEPS; one more
        # step of margin.
        until = dt.datetime.fromtimestamp((matched + 2 + _DRIFT_STEPS) * _STEP, dt.UTC)
        if not self._store.advance(_NAMESPACE, username, matched, until):
            return "reused"
        return None
