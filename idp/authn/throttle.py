"""Login throttling: failed sign-ins counted per username and per client address.

Counts live in the shared ``StateStore`` so every worker sees them. Usernames come straight
from the login form, of any length; the store keeps only a fixed-size digest of each key, so a
long username costs no more state than a short one. A username is counted
whether or not the user exists, so throttling reveals nothing about who exists (OWASP
Authentication Cheat Sheet, "Login Throttling"). A successful login clears the user's count,
not the address's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from idp.store import StateStore

__all__ = ["LoginThrottle", "ThrottlePolicy"]

_BY_USER: Final = "login-user"
_BY_ADDRESS: Final = "login-address"


@dataclass(frozen=True)
class ThrottlePolicy:
    """How many failures are allowed per window before sign-in waits."""

    window: int = 300
    """Seconds a failure counts for."""
    per_user: int = 10
    per_address: int = 50


class LoginThrottle:
    """Failed sign-ins per username and per address, across workers."""

    def __init__(self, store: StateStore, policy: ThrottlePolicy | None = None) -> None:
        self._store = store
        self.policy = policy or ThrottlePolicy()

    def wait(self, user_key: str, address: str) -> int | None:
        """Seconds to wait when this user or address failed too often lately, else None."""
        policy = self.policy
        for namespace, key, limit in ((_BY_USER, user_key, policy.per_user),
                                      (_BY_ADDRESS, address, policy.per_address)):
            count, retry = self._store.attempts(namespace, key, policy.window)
            if count >= limit:
                return max(1, int(retry) + 1)
        return None

    def failed(self, user_key: str, address: str) -> None:
        self._store.record_attempt(_BY_USER, user_key)
        self._store.record_attempt(_BY_ADDRESS, address)

    def succeeded(self, user_key: str) -> None:
        self._store.clear_attempts(_BY_USER, user_key)
