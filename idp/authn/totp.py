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

from idp.clock import Clock
from idp.store import StateStore

__all__ = ["TotpGuard", "matching_step", "normalized_code"]

_STEP: Final = 30
_DRIFT_STEPS: Final = 1
_NAMESPACE: Final = "totp-step"


def normalized_code(code: str) -> str | None:
    """The six digits of ``code`` (spaces dropped), or ``None`` when it is not six digits."""
    code = code.strip().replace(" ", "")
    if len(code) != 6 or not (code.isascii() and code.isdigit()):
        return None
    return code


def matching_step(secret: str, code: str, now: dt.datetime,
                  drift: int = _DRIFT_STEPS) -> int | None:
    """The time step (``now`` ±``drift`` steps) whose code of ``secret`` is ``code``."""
    digits = normalized_code(code)
    if digits is None:
        return None
    import pyotp  # here: importing it is start-up time that only a TOTP check needs

    totp = pyotp.TOTP(secret)
    now_step = int(now.timestamp()) // _STEP
    for step in range(now_step - drift, now_step + drift + 1):
        if hmac.compare_digest(totp.generate_otp(step), digits):
            return step
    return None


def step_expiry(step: int) -> dt.datetime:
    """How long a high-water mark at ``step`` must be kept: until no drift window holds it
    (steps up to ``step`` match until now_step > step + drift; one more step of margin)."""
    return dt.datetime.fromtimestamp((step + 2 + _DRIFT_STEPS) * _STEP, dt.UTC)


class TotpGuard:
    """Checks codes and refuses reuse, across threads and processes.

    ``namespace`` keeps the high-water marks of different kinds of authenticators apart in
    the shared store (the IdP's users here, AWS's virtual MFA devices in ``idp.aws.mfa``).
    """

    def __init__(self, clock: Clock, store: StateStore, *, namespace: str = _NAMESPACE) -> None:
        self._clock = clock
        self._store = store
        self._namespace = namespace

    def current_code(self, secret: str) -> str:
        """The code an authenticator shows right now (for tests and the demo page)."""
        import pyotp

        return str(pyotp.TOTP(secret).at(self._clock.now()))

    def check(self, username: str, secret: str, code: str) -> str | None:
        """``None`` when accepted; otherwise why not (``"invalid"`` or ``"reused"``).

        ``"reused"``: the code is right for its time step, but a code of that step or a later
        one was already accepted for ``username``.
        """
        matched = matching_step(secret, code, self._clock.now())
        if matched is None:
            return "invalid"
        if not self._store.advance(self._namespace, username, matched, step_expiry(matched)):
            return "reused"
        return None
