"""RFC 6238 TOTP (6 digits, 30 s, SHA-1) with one-time use: a code is accepted once.

Each accepted (user, time step) is claimed in the shared ``StateStore``, so a code works once
across every worker process and survives a restart; the step before it is claimed too, so an
older code cannot follow a newer one. ±1 step of drift is accepted (RFC 6238 §5.2).
"""

from __future__ import annotations

import datetime as dt
import hmac

import pyotp

from idp.clock import Clock
from idp.store import StateStore

__all__ = ["TotpGuard"]

_STEP = 30
_DRIFT_STEPS = 1


class TotpGuard:
    """Checks codes and refuses reuse, across threads and processes."""

    def __init__(self, clock: Clock, store: StateStore) -> None:
        self._clock = clock
        self._store = store

    def current_code(self, secret: str) -> str:
        """The code an authenticator shows right now (for tests and the demo page)."""
        return str(pyotp.TOTP(secret).at(self._clock.now()))

    def check(self, username: str, secret: str, code: str) -> str | None:
        """``None`` when accepted; otherwise why not (``"invalid"`` or ``"reused"``)."""
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
        until = dt.datetime.fromtimestamp((matched + 2 + _DRIFT_STEPS) * _STEP, dt.UTC)
        if not self._store.claim("totp", f"{username}:{matched}", until):
            return "reused"
        self._store.claim("totp", f"{username}:{matched - 1}", until)
        return None
