"""Virtual MFA codes: RFC 6238 TOTP, each code accepted once per device.

IAM User Guide, "Assigning a virtual MFA device": a virtual device is a Base32 seed shared
with an authenticator app (6 digits, 30-second steps, HMAC-SHA1). Codes are accepted within
±1 step of now (RFC 6238 §5.2), and once per device: STS refuses a code already used
("MultiFactorAuthentication failed with invalid MFA one time pass code." even for the right
code a second time, as aws/aws-cli#2279 reports). The last accepted step of each device (key:
its serial number) is a high-water mark in the shared ``StateStore`` (namespace ``mfa-step``),
so the rule holds across worker processes and restarts; without a store (unit tests, the
in-process API) the marks live in this object.

``EnableMFADevice`` (IAM API Reference) takes "two consecutive authentication codes":
``consecutive`` accepts codes of steps N and N+1 where N+1 is within one step of now (the user
read the second code just now). Those codes are not marked as used: they only prove the
device was set up.
"""

from __future__ import annotations

import binascii
import hmac
import threading
from typing import Final

from idp.authn.totp import matching_step, normalized_code, step_expiry
from idp.aws.iam.model import MfaDevice
from idp.clock import Clock
from idp.store import StateStore

__all__ = ["MFA_NAMESPACE", "MfaCodes"]

MFA_NAMESPACE: Final = "mfa-step"
_STEP: Final = 30


class MfaCodes:
    """Checks a device's codes; a code accepted once is refused after, on every worker."""

    def __init__(self, clock: Clock, store: StateStore | None) -> None:
        self._clock = clock
        self._store = store
        self._marks: dict[str, int] = {}
        self._lock = threading.Lock()

    def check(self, device: MfaDevice, code: str) -> str | None:
        """``None`` when accepted; else ``"invalid"`` (not the device's code near now, or the
        device is not enabled) or ``"reused"`` (this step or a later one was accepted)."""
        if device.enabled is None:
            return "invalid"
        try:
            step = matching_step(device.seed, code, self._clock.now())
        except (ValueError, TypeError, binascii.Error):  # a seed pyotp cannot read
            return "invalid"
        if step is None:
            return "invalid"
        return None if self._advance(device.serial, step) else "reused"

    def _advance(self, serial: str, step: int) -> bool:
        if self._store is not None:
            return self._store.advance(MFA_NAMESPACE, serial, step, step_expiry(step))
        with self._lock:
            if self._marks.get(serial, -1) >= step:
                return False
            self._marks[serial] = step
            return True

    def consecutive(self, seed: str, first: str, second: str) -> bool:
        """``EnableMFADevice``: ``first`` and ``second`` are the codes of two consecutive
        steps of ``seed``, the second within one step of now."""
        if normalized_code(first) is None or normalized_code(second) is None:
            return False
        now_step = int(self._clock.now().timestamp()) // _STEP
        import pyotp  # here: only enabling a device needs it

        try:
            totp = pyotp.TOTP(seed)
            return any(
                hmac.compare_digest(totp.generate_otp(step), str(normalized_code(second)))
                and hmac.compare_digest(totp.generate_otp(step - 1), str(normalized_code(first)))
                for step in range(now_step - 1, now_step + 2))
        except (ValueError, TypeError, binascii.Error):  # a seed pyotp cannot read
            return False
