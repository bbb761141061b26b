"""Where the IAM twin's document lives: the shared state store, versioned, changed by
compare-and-set, read by every worker.

The directory file is the starting state (``idp.aws.iam.seed``); every change through the IAM
API is a new version of one document in the state store (``StateStore.put_document``). So a
change survives a restart and is seen by every worker process:

* ``state()`` reads the stored version (one indexed read) and rebuilds the typed state only
  when it moved, so a worker sees another worker's change on its next request;
* ``change(edit)`` runs ``edit`` on a copy of the current document, builds the result (an edit
  that leaves an invalid document changes nothing) and stores it only if nobody stored another
  version meanwhile; otherwise it runs ``edit`` again on the newer document. One row is written
  in one statement, so a crash leaves the old document or the new one, never half of it;
* ``seed(...)`` at start: when the store holds no document, or one grown from a different
  starting state (the directory's accounts changed), the directory's document replaces it, and
  the replaced changes are logged as set aside.

Without a state store (unit tests, ``Iam.from_directory``) the document is kept in memory.
"""

from __future__ import annotations

import copy
import json
import logging
import threading
from collections.abc import Callable
from typing import Any, Final, NamedTuple, TypeVar

from idp.aws.errors import LimitExceeded
from idp.aws.iam.model import IamState, build_state
from idp.errors import IdPError
from idp.saml.validation import TrustedIssuer
from idp.store import StateStore

__all__ = ["IamStore"]

log = logging.getLogger("idp.iam")

T = TypeVar("T")
DOCUMENT: Final = "iam"
#: What one account's IAM may hold (JSON characters). IAM's own quotas are per account and
#: larger (100 SAML providers of up to 10,000,000 characters each); the simulator keeps every
#: account in one shared document, so it bounds each account: one account can never fill the
#: store for the others. A change past it is ``LimitExceeded`` and changes nothing.
MAX_ACCOUNT_CHARS: Final = 24 * 1024 * 1024
#: Compare-and-set attempts before a change gives up (only under a storm of writers).
_ATTEMPTS: Final = 20


def _dump(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


_COLLECTIONS: Final = ("providers", "roles", "users", "groups", "mfa", "oidc")


def _merged(current: dict[str, Any], seed: dict[str, Any]) -> dict[str, Any]:
    """``current`` plus the accounts and entities of ``seed`` it lacks (names compared
    regardless of case, as IAM compares them); nothing of ``current`` is changed."""
    accounts: dict[str, Any] = current.setdefault("accounts", {})
    for account_id, body in seed.get("accounts", {}).items():
        mine = accounts.setdefault(account_id, body)
        if mine is body:
            continue
        for collection in _COLLECTIONS:
            have = {name.lower() for name in mine.get(collection) or {}}
            for name, entity in (body.get(collection) or {}).items():
                if name.lower() not in have:
                    mine.setdefault(collection, {})[name] = entity
    return current


def _check_budget(before: dict[str, Any], after: dict[str, Any]) -> None:
    """``LimitExceeded`` when a changed account would hold more than ``MAX_ACCOUNT_CHARS``."""
    old = before.get("accounts", {})
    for account_id, body in after.get("accounts", {}).items():
        if old.get(account_id) == body:
            continue
        size = len(_dump(body))
        if size > MAX_ACCOUNT_CHARS:
            raise LimitExceeded(
                f"Cannot exceed quota for the IAM state of account {account_id}: "
                f"{MAX_ACCOUNT_CHARS} characters (a limit of this simulator)",
                detail=f"the change would make account {account_id} hold {size} characters")


class ConcurrentChange(IdPError):
    """Other writers kept changing the document; IAM answers ``ConcurrentModification``."""


class _Current(NamedTuple):
    """A stored version as this process last read it."""

    version: int
    state: IamState
    data: dict[str, Any]
    fingerprint: str


class IamStore:
    """The current IAM document and its typed state, shared through ``store`` if given."""

    def __init__(self, store: StateStore | None, own: TrustedIssuer,
                 own_oidc: str = "") -> None:
        self._store = store
        self._own = own
        self._own_oidc = own_oidc
        self._lock = threading.Lock()
        self._memory: tuple[int, str, str] | None = None
        self._cached: _Current | None = None
        self._seed: tuple[str, Callable[[], dict[str, Any]]] | None = None

    # --- raw document ------------------------------------------------------------------

    def _version(self) -> int | None:
        if self._store is None:
            return None if self._memory is None else self._memory[0]
        return self._store.document_version(DOCUMENT)

    def _read(self) -> tuple[int, str, str] | None:
        if self._store is None:
            return self._memory
        return self._store.document(DOCUMENT)

    def _put(self, seed: str, body: str, expected: int | None) -> int | None:
        if self._store is not None:
            return self._store.put_document(DOCUMENT, seed=seed, body=body, expected=expected)
        with self._lock:
            current = None if self._memory is None else self._memory[0]
            if current != expected:
                return None
            version = 1 if expected is None else expected + 1
            self._memory = (version, seed, body)
            return version

    # --- seeding ------------------------------------------------------------------------

    def remember(self, fingerprint: str, make: Callable[[], dict[str, Any]]) -> None:
        """Seed on the first read rather than now (the store is about to be cleared)."""
        self._seed = (fingerprint, make)

    def seed(self, fingerprint: str, make: Callable[[], dict[str, Any]], *,
             merge: bool = False) -> None:
        """Start from the directory unless the store already holds a document grown from the
        same starting state (``fingerprint``). Remembered: a store cleared later (a
        simulator's ``reset``) is seeded again on the next read.

        ``merge`` (a directory edited while serving: ``Simulator.add_role``, the admin API):
        keep the stored document and add what the directory has that it lacks (an account, a
        role, a user...), so such an edit never sets aside changes made through the IAM API.
        """
        self._seed = (fingerprint, make)
        for _ in range(_ATTEMPTS):
            found = self._read()
            if found is not None and found[1] == fingerprint:
                return
            data = make()
            if found is not None and merge:
                data = _merged(json.loads(found[2]), data)
            # a directory the loader accepted always builds
            build_state(data, self._own, self._own_oidc)
            if found is not None and not merge:
                log.warning("the directory's accounts changed since the IAM state was saved: "
                            "starting IAM over from the directory (changes made through the "
                            "IAM API are set aside)")
            if self._put(fingerprint, _dump(data), None if found is None else found[0]):
                self._cached = None
                return
        raise ConcurrentChange("could not seed the IAM state")

    # --- reading ------------------------------------------------------------------------

    def _current(self) -> _Current:
        version = self._version()
        cached = self._cached
        if cached is not None and cached.version == version:
            return cached
        found = self._read()
        if found is None and self._seed is not None:
            self.seed(*self._seed)
            found = self._read()
        if found is None:
            raise LookupError("the IAM state has not been seeded")
        data = json.loads(found[2])
        current = _Current(found[0], build_state(data, self._own, self._own_oidc), data,
                           found[1])
        self._cached = current
        return current

    def state(self) -> IamState:
        """The current typed state (rebuilt only when another version was stored)."""
        return self._current().state

    # --- changing -----------------------------------------------------------------------

    def change(self, edit: Callable[[dict[str, Any], IamState], T]) -> T:
        """Apply ``edit(document_copy, current_state)``: it changes the copy and returns a
        result, or raises to change nothing. Stored only if the document did not move
        meanwhile (else ``edit`` runs again on the newer one)."""
        for _ in range(_ATTEMPTS):
            version, state, data, fingerprint = self._current()
            working = copy.deepcopy(data)
            result = edit(working, state)
            _check_budget(data, working)
            built = build_state(working, self._own, self._own_oidc)
            body = _dump(working)
            stored = self._put(fingerprint, body, version)
            if stored is not None:
                self._cached = _Current(stored, built, working, fingerprint)
                return result
        raise ConcurrentChange("the IAM state kept changing under this request")
