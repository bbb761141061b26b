"""What both state backends share: the digest every key is stored as, the namespace and
integer checks, the size limit on documents and the pruning intervals."""

from __future__ import annotations

import hashlib
import re
from typing import Final

__all__ = ["ATTEMPTS_KEPT", "MAX_DOCUMENT_CHARS", "PRUNE_GRACE", "checked", "checked_int64",
           "digest", "document_too_long"]

#: How long failed attempts are kept (longer than any throttle window).
ATTEMPTS_KEPT: Final = 86_400
#: Entries are pruned a day after they expire: a simulated clock moved forward and back again
#: (``Simulator.clock``, the admin API) still finds what expired only in the moved time.
PRUNE_GRACE: Final = 86_400
#: The largest document kept (the IAM twin's quotas keep its state far below this).
MAX_DOCUMENT_CHARS: Final = 512 * 1024 * 1024

_NAMESPACE: Final = re.compile(r"[a-z][a-z0-9-]{0,31}")
_INT64: Final = range(-(2**63), 2**63)


def digest(key: str) -> bytes:
    """The fixed-size form every key is stored and looked up as."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


def checked(namespace: str) -> str:
    """``namespace`` if it is a short identifier; ``ValueError`` otherwise."""
    if not _NAMESPACE.fullmatch(namespace):
        raise ValueError(f"namespace must match {_NAMESPACE.pattern}: {namespace[:40]!r}")
    return namespace


def checked_int64(value: int) -> int:
    """``value`` if it is a 64-bit integer (not a ``bool``); ``ValueError`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or value not in _INT64:
        raise ValueError(f"mark values are 64-bit integers, not {value!r}")
    return value


def document_too_long(name: str, body: str, *, where: str) -> str | None:
    """The ``StoreError`` message for a body over ``MAX_DOCUMENT_CHARS`` (``None``: it fits);
    ``where`` names the store ("state file", "state store")."""
    limit = MAX_DOCUMENT_CHARS  # read at each call, so a test may lower it
    if len(body) <= limit:
        return None
    return (f"the {name} document would be {len(body)} characters; the {where} holds at "
            f"most {limit}")
