"""RFC 6238 TOTP (6 digits, 30 s, SHA-1) with one-time use: a code is accepted once.

The guard remembers, per user, the last time step that was used; a code for that step or an
earlier one is refused as reused. ±1 step of drift is accepted (RFC 6238 §5.2).
"""

from __future__ import annotations

import hmac
import threading

import pyotp

from idp.clock import Clock

__all__ = ["TotpGuard"]

_STEP = 30
_DRIFT_STEPS = 1


class TotpGuard:
    """Checks codes and refuses reuse. Thread-safe; state is per process for now."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._last_step: dict[str, int] = {}
        self._lock = threading.Lock()

    def current_code(self, secret: str) -> str:
        """The code an authenticator shows right now (for tests and the demo page)."""
        return str(pyotp.TOTP(secret).at(self._clock.now()))

    def check(self, username: str, secret: str, code: str) -> str | None:
        """``None`` when accepted; otherwise why not (``"invalid"`` or ``"reused"``)."""
        code = code.strip().replace(" ", "")
        if len(code) != 6 or not code.isdigit():
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
        with self._lock:
            if matched <= self._last_step.get(username, -1):
                return "reused"
            self._last_step[username] = matched
        return None
