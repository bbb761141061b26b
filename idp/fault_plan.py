"""Which faults the IdP injects into the Responses it sends, and what it sent last.

A fault (``idp.faults.Fault``) is asked for in one of three ways:

* per call: ``Simulator.mint(..., fault=...)``, ``idp mint --fault`` (not kept here);
* per service provider: every Response to that SP carries it until cleared;
* for the next N Responses (to one SP, or to any).

Next-N plans are used before per-SP ones, oldest first. A fault only AWS can have
(``missing-role``, ``bad-role-session-name``) waits for the next Response to AWS. ``replay``
needs the previous Response sent to the same SP for the same user, so the plan also remembers
the last Response sent to each SP for each user.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from idp.directory.model import AWS_ENTITY_ID
from idp.faults import AWS_ONLY, Fault

__all__ = ["FaultPlan", "PlannedFault"]


@dataclass
class PlannedFault:
    """One plan: ``fault`` for ``sp`` (``None``: any SP), ``remaining`` times (``None``: until
    cleared)."""

    fault: Fault
    sp: str | None
    remaining: int | None

    def to_json(self) -> dict[str, Any]:
        return {"fault": self.fault.value, "sp": self.sp, "remaining": self.remaining}


class FaultPlan:
    """The faults waiting to be injected (thread-safe; per process)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._plans: list[PlannedFault] = []
        self._last: dict[tuple[str, str], bytes] = {}

    def add(self, fault: Fault, *, sp: str | None = None, count: int | None = None
            ) -> PlannedFault:
        """Inject ``fault`` into the next ``count`` Responses (to ``sp``, or to any SP), or,
        with no count, into every Response to ``sp`` until cleared (that needs an ``sp``;
        it replaces that SP's previous standing fault)."""
        if count is not None and (isinstance(count, bool) or not isinstance(count, int)
                                  or not 1 <= count <= 1_000_000):
            raise ValueError(f"count must be a whole number between 1 and 1000000, not "
                             f"{count!r}")
        if fault in AWS_ONLY and sp is not None and sp != AWS_ENTITY_ID:
            raise ValueError(f"the {fault.value} fault applies only to AWS "
                             f"({AWS_ENTITY_ID}), not to {sp}")
        if count is None and sp is None:
            raise ValueError("a standing fault needs an SP; pass a count to break the next "
                             "Responses to any SP")
        plan = PlannedFault(fault, sp, count)
        with self._lock:
            if count is None:
                self._plans = [p for p in self._plans
                               if not (p.remaining is None and p.sp == sp)]
            self._plans.append(plan)
        return plan

    def take(self, sp: str) -> Fault | None:
        """The fault to inject into the Response being sent to ``sp`` now (and count it)."""
        with self._lock:
            for plan in sorted(self._plans, key=lambda p: p.remaining is None):
                if plan.sp is not None and plan.sp != sp:
                    continue
                if plan.fault in AWS_ONLY and sp != AWS_ENTITY_ID:
                    continue  # kept for the next Response to AWS
                if plan.remaining is not None:
                    plan.remaining -= 1
                    if plan.remaining == 0:
                        self._plans.remove(plan)
                return plan.fault
        return None

    def planned(self) -> list[PlannedFault]:
        with self._lock:
            return [PlannedFault(p.fault, p.sp, p.remaining) for p in self._plans]

    def clear(self, sp: str | None = None) -> None:
        """Forget the plans for ``sp`` (``None``: all of them and the remembered Responses)."""
        with self._lock:
            if sp is None:
                self._plans.clear()
                self._last.clear()
            else:
                self._plans = [p for p in self._plans if p.sp != sp]

    def remember(self, sp: str, user: str, response: bytes) -> None:
        with self._lock:
            self._last[(sp, user)] = response

    def last(self, sp: str, user: str) -> bytes | None:
        """The last Response sent to ``sp`` for ``user`` (for ``replay``: never another
        user's, which would sign the replaying user in as someone else)."""
        with self._lock:
            return self._last.get((sp, user))
