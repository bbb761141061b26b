"""What an IAM operation returns, before it is XML: a tree of plain values.

``idp.aws.iam.wire`` writes it into the ``{Op}Result`` element: a ``dict`` is a structure
(members in insertion order), a ``list`` a ``<member>`` list, ``bool`` ``true``/``false``,
``datetime`` ISO 8601 UTC, ``bytes`` a blob (base64), ``None`` an absent member.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TypeAlias

__all__ = ["IamResult", "Struct", "Value"]

Value: TypeAlias = "str | int | bool | dt.datetime | bytes | Struct | list[Value] | None"
Struct: TypeAlias = "dict[str, Value]"


@dataclass(frozen=True)
class IamResult:
    """One operation's answer: ``body`` is the ``{action}Result`` content (``None``: the
    operation has no output shape, so the response carries only ``ResponseMetadata``)."""

    action: str
    body: Struct | None
